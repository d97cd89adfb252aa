import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Pod, PodDisruptionBudget } from '../apiserver/types.ts';
import type { OwnerReference } from '../../kube/types.ts';
import {
  countHealthyPods,
  expectedPodCount,
  failSafeStatus,
  goLabelSelectorString,
  liveDisruptedPods,
  nextPdbStatus,
  type ScaleFinder,
} from './disruption-math.ts';

const NOW = new Date('2025-01-01T12:00:00Z');
const ago = (s: number): string => new Date(NOW.getTime() - s * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');

function pod(
  name: string,
  o: { ready?: boolean; owner?: Partial<OwnerReference>; deleting?: boolean } = {},
): Pod {
  return {
    metadata: {
      name,
      namespace: 'web',
      ...(o.owner
        ? {
            ownerReferences: [
              {
                apiVersion: 'apps/v1',
                kind: 'ReplicaSet',
                name: 'rs',
                uid: 'rs-uid',
                controller: true,
                ...o.owner,
              },
            ],
          }
        : {}),
      ...(o.deleting ? { deletionTimestamp: ago(0) } : {}),
    },
    spec: { containers: [{ name: 'c' }] },
    status: {
      phase: 'Running',
      conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }],
    },
  };
}

function pdb(spec: PodDisruptionBudget['spec'], status?: PodDisruptionBudget['status']): PodDisruptionBudget {
  return {
    metadata: { name: 'guard', namespace: 'web', generation: 1 },
    spec: { selector: { matchLabels: { app: 'web' } }, ...spec },
    ...(status ? { status } : {}),
  };
}

const rsOf3: ScaleFinder = (ref) =>
  ref.kind === 'ReplicaSet' && ref.uid === 'rs-uid' ? { uid: 'deploy-uid', scale: 3 } : null;
const owned = (n: number): Pod[] => Array.from({ length: n }, (_, i) => pod(`p${i}`, { owner: {} }));

describe('expectedPodCount', () => {
  for (const tc of [
    {
      name: 'minAvailable int: expected = matching pods, desired = the int',
      spec: { minAvailable: 2 },
      pods: owned(3),
      want: { expectedCount: 3, desiredHealthy: 2 },
    },
    {
      name: 'minAvailable int counts pods even without controllers',
      spec: { minAvailable: 1 },
      pods: [pod('bare')],
      want: { expectedCount: 1, desiredHealthy: 1 },
    },
    {
      name: 'minAvailable percent rounds up against the controller scale',
      spec: { minAvailable: '50%' },
      pods: owned(2),
      want: { expectedCount: 3, desiredHealthy: 2 },
    },
    {
      name: 'maxUnavailable int: desired = scale - maxUnavailable',
      spec: { maxUnavailable: 1 },
      pods: owned(3),
      want: { expectedCount: 3, desiredHealthy: 2 },
    },
    {
      name: 'maxUnavailable percent rounds up',
      spec: { maxUnavailable: '10%' },
      pods: owned(3),
      want: { expectedCount: 3, desiredHealthy: 2 },
    },
    {
      name: 'maxUnavailable 0 allows no disruption',
      spec: { maxUnavailable: 0 },
      pods: owned(3),
      want: { expectedCount: 3, desiredHealthy: 3 },
    },
    {
      name: 'desired never goes below 0',
      spec: { maxUnavailable: 5 },
      pods: owned(3),
      want: { expectedCount: 3, desiredHealthy: 0 },
    },
  ]) {
    test(tc.name, () => {
      const r = expectedPodCount(pdb(tc.spec), tc.pods, rsOf3);
      assert.ok(r.ok);
      assert.deepEqual({ expectedCount: r.expectedCount, desiredHealthy: r.desiredHealthy }, tc.want);
    });
  }
  test('maxUnavailable with bare pods: they are unmanaged and count for nothing', () => {
    const r = expectedPodCount(pdb({ maxUnavailable: 1 }), [pod('bare')], rsOf3);
    assert.deepEqual(r, { ok: true, expectedCount: 0, desiredHealthy: 0, unmanagedPods: ['bare'] });
  });
  test('a controllerRef to a missing controller is an error (the fail-safe follows)', () => {
    const r = expectedPodCount(
      pdb({ maxUnavailable: 1 }),
      [pod('orphan', { owner: { uid: 'gone' } })],
      rsOf3,
    );
    assert.deepEqual(r, { ok: false, error: 'found no controllers for pod "orphan"' });
  });
  test('a finder error is passed through', () => {
    const r = expectedPodCount(
      pdb({ minAvailable: '50%' }),
      [pod('ds', { owner: { kind: 'DaemonSet' } })],
      () => ({ error: 'daemonsets.apps does not implement the scale subresource' }),
    );
    assert.deepEqual(r, { ok: false, error: 'daemonsets.apps does not implement the scale subresource' });
  });
});

describe('healthy pods and disruptedPods', () => {
  test('deleting, not-ready and recently disrupted pods are not healthy', () => {
    const pods = [pod('a'), pod('b', { ready: false }), pod('c', { deleting: true }), pod('d')];
    assert.equal(countHealthyPods(pods, { d: ago(10) }, NOW), 1);
  });
  test('entries older than the 2 minute deletion timeout expire, deleting and vanished pods drop out', () => {
    const pods = [pod('young'), pod('old'), pod('deleting', { deleting: true })];
    const r = liveDisruptedPods(
      pods,
      { young: ago(30), old: ago(121), deleting: ago(5), vanished: ago(5) },
      NOW,
    );
    assert.deepEqual(r.disruptedPods, { young: ago(30) });
    assert.deepEqual(r.expired, ['old']);
    assert.equal(r.recheckAt, Date.parse(ago(30)) + 120_000);
  });
});

describe('nextPdbStatus', () => {
  const now = ago(0);
  test('disruptionsAllowed = currentHealthy - desiredHealthy with SufficientPods', () => {
    const st = nextPdbStatus(
      pdb({ minAvailable: 2 }),
      { currentHealthy: 3, desiredHealthy: 2, expectedCount: 3, disruptedPods: {} },
      now,
    );
    assert.equal(st?.disruptionsAllowed, 1);
    assert.equal(st?.observedGeneration, 1);
    assert.deepEqual(
      st?.conditions?.map((c) => [c.type, c.status, c.reason]),
      [['DisruptionAllowed', 'True', 'SufficientPods']],
    );
  });
  test('never negative, and 0 while no pods are expected', () => {
    assert.equal(
      nextPdbStatus(
        pdb({ minAvailable: 3 }),
        { currentHealthy: 1, desiredHealthy: 3, expectedCount: 3, disruptedPods: {} },
        now,
      )?.disruptionsAllowed,
      0,
    );
    assert.equal(
      nextPdbStatus(
        pdb({ maxUnavailable: 1 }),
        { currentHealthy: 2, desiredHealthy: 0, expectedCount: 0, disruptedPods: {} },
        now,
      )?.disruptionsAllowed,
      0,
    );
  });
  test('an up-to-date status is not rewritten', () => {
    const p = pdb({ minAvailable: 2 });
    const st = nextPdbStatus(
      p,
      { currentHealthy: 3, desiredHealthy: 2, expectedCount: 3, disruptedPods: {} },
      now,
    );
    assert.ok(st);
    assert.equal(
      nextPdbStatus(
        { ...p, status: st },
        { currentHealthy: 3, desiredHealthy: 2, expectedCount: 3, disruptedPods: {} },
        now,
      ),
      undefined,
    );
  });
  test('failSafe zeroes disruptionsAllowed and says SyncFailed with the error', () => {
    const st = failSafeStatus(
      pdb(
        { maxUnavailable: 1 },
        { disruptionsAllowed: 2, currentHealthy: 3, desiredHealthy: 1, expectedPods: 3 },
      ),
      'found no controllers for pod "x"',
      now,
    );
    assert.equal(st.disruptionsAllowed, 0);
    assert.equal(st.currentHealthy, 3);
    assert.deepEqual(
      st.conditions?.map((c) => [c.status, c.reason, c.message]),
      [['False', 'SyncFailed', 'found no controllers for pod "x"']],
    );
  });
});

test('a label selector prints as Go prints a *metav1.LabelSelector', () => {
  assert.equal(
    goLabelSelectorString({ matchLabels: { app: 'web' } }),
    '&LabelSelector{MatchLabels:map[string]string{app: web,},MatchExpressions:[]LabelSelectorRequirement{},}',
  );
});
