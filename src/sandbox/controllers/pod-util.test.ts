import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod } from '../apiserver/types.ts';
import { compareForDeletion, isPodActive, podAvailability, withPodCondition } from './pod-util.ts';

const T0 = '2025-01-01T00:00:00Z';

function pod(
  name: string,
  o: {
    node?: string;
    phase?: NonNullable<Pod['status']>['phase'];
    ready?: boolean;
    readySince?: string;
    created?: string;
    deleting?: boolean;
  } = {},
): Pod {
  return {
    metadata: { name, creationTimestamp: o.created ?? T0, ...(o.deleting ? { deletionTimestamp: T0 } : {}) },
    spec: { containers: [{ name: 'c' }], ...(o.node ? { nodeName: o.node } : {}) },
    status: {
      phase: o.phase ?? 'Running',
      conditions: [
        { type: 'Ready', status: o.ready ? 'True' : 'False', lastTransitionTime: o.readySince ?? T0 },
      ],
    },
  };
}

describe('isPodActive', () => {
  for (const tc of [
    { name: 'a running pod is active', pod: pod('a'), want: true },
    { name: 'a terminating (evicted) pod is not', pod: pod('a', { deleting: true }), want: false },
    { name: 'a failed pod is not', pod: pod('a', { phase: 'Failed' }), want: false },
    { name: 'a succeeded pod is not', pod: pod('a', { phase: 'Succeeded' }), want: false },
  ]) {
    test(tc.name, () => assert.equal(isPodActive(tc.pod), tc.want));
  }
});

describe('scale-down order (ActivePodsWithRanks)', () => {
  for (const tc of [
    {
      name: 'unscheduled before scheduled',
      pods: [pod('sched', { node: 'n' }), pod('unsched')],
      first: 'unsched',
    },
    {
      name: 'pending before running',
      pods: [pod('run', { node: 'n' }), pod('pend', { node: 'n', phase: 'Pending' })],
      first: 'pend',
    },
    {
      name: 'not ready before ready',
      pods: [pod('ready', { node: 'n', ready: true }), pod('notready', { node: 'n' })],
      first: 'notready',
    },
    {
      name: 'ready for a shorter time first',
      pods: [
        pod('long', { node: 'n', ready: true, readySince: '2025-01-01T00:00:00Z' }),
        pod('short', { node: 'n', ready: true, readySince: '2025-01-01T00:05:00Z' }),
      ],
      first: 'short',
    },
    {
      name: 'newest first when otherwise equal',
      pods: [
        pod('old', { node: 'n', created: '2025-01-01T00:00:00Z' }),
        pod('new', { node: 'n', created: '2025-01-01T00:01:00Z' }),
      ],
      first: 'new',
    },
  ]) {
    test(tc.name, () =>
      assert.equal([...tc.pods].sort((a, b) => compareForDeletion(a, b))[0]?.metadata.name, tc.first),
    );
  }
});

test('availability waits minReadySeconds after the Ready transition', () => {
  const p = pod('a', { ready: true, readySince: '2025-01-01T00:00:00Z' });
  assert.deepEqual(podAvailability(p, 10, new Date('2025-01-01T00:00:04Z')), {
    available: false,
    waitMs: 6000,
  });
  assert.deepEqual(podAvailability(p, 10, new Date('2025-01-01T00:00:10Z')), { available: true });
  assert.deepEqual(podAvailability(p, 0, new Date(T0)), { available: true });
});

test('withPodCondition keeps lastTransitionTime when the status holds and reports no change for an equal condition', () => {
  const first = withPodCondition(
    [],
    { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: 'm1' },
    '2025-01-01T00:00:00Z',
  );
  assert.equal(first.changed, true);
  const second = withPodCondition(
    first.conditions,
    { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: 'm2' },
    '2025-01-01T00:01:00Z',
  );
  assert.equal(second.changed, true);
  assert.equal(second.conditions[0]?.lastTransitionTime, '2025-01-01T00:00:00Z');
  const same = withPodCondition(
    second.conditions,
    { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: 'm2' },
    '2025-01-01T00:02:00Z',
  );
  assert.equal(same.changed, false);
});
