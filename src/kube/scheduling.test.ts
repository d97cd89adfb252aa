import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { NodeSelectorTerm, Taint, Toleration } from './types.ts';
import {
  findUntoleratedTaint,
  nodeMatchesTerm,
  nodeReadyStatus,
  podMatchesNodeAffinity,
  toleratesTaint,
  type NodeFacts,
  type PodPlacement,
} from './scheduling.ts';

describe('tolerations', () => {
  const taint: Taint = { key: 'k', value: 'v', effect: 'NoSchedule' };
  for (const tc of [
    {
      name: 'Equal with the same value tolerates',
      t: { key: 'k', operator: 'Equal', value: 'v', effect: 'NoSchedule' } as Toleration,
      want: true,
    },
    {
      name: 'Equal with another value does not',
      t: { key: 'k', operator: 'Equal', value: 'w', effect: 'NoSchedule' } as Toleration,
      want: false,
    },
    { name: 'an empty operator means Equal', t: { key: 'k', value: 'v' } as Toleration, want: true },
    { name: 'Exists ignores the value', t: { key: 'k', operator: 'Exists' } as Toleration, want: true },
    {
      name: 'an empty key with Exists tolerates everything',
      t: { operator: 'Exists' } as Toleration,
      want: true,
    },
    {
      name: 'another effect does not tolerate',
      t: { key: 'k', operator: 'Exists', effect: 'NoExecute' } as Toleration,
      want: false,
    },
  ]) {
    test(tc.name, () => assert.equal(toleratesTaint(tc.t, taint), tc.want));
  }
});

describe('node affinity', () => {
  const n: NodeFacts = { metadata: { name: 'worker-1', labels: { zone: 'a', rack: '7' } } };
  const requiring = (...nodeSelectorTerms: NodeSelectorTerm[]): PodPlacement => ({
    spec: {
      affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms } } },
    },
  });
  const cases: { name: string; pod: PodPlacement; want: boolean }[] = [
    { name: 'nodeSelector matching', pod: { spec: { nodeSelector: { zone: 'a' } } }, want: true },
    { name: 'nodeSelector not matching', pod: { spec: { nodeSelector: { zone: 'b' } } }, want: false },
    {
      name: 'matchFields metadata.name In [node] (DaemonSet pods)',
      pod: requiring({ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['worker-1'] }] }),
      want: true,
    },
    {
      name: 'matchFields naming another node',
      pod: requiring({ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['worker-2'] }] }),
      want: false,
    },
    {
      name: 'terms are ORed',
      pod: requiring(
        { matchExpressions: [{ key: 'zone', operator: 'In', values: ['b'] }] },
        { matchExpressions: [{ key: 'rack', operator: 'Gt', values: ['5'] }] },
      ),
      want: true,
    },
    {
      name: 'NotIn on a missing key matches',
      pod: requiring({ matchExpressions: [{ key: 'gpu', operator: 'NotIn', values: ['yes'] }] }),
      want: true,
    },
    {
      name: 'DoesNotExist on a present key fails',
      pod: requiring({ matchExpressions: [{ key: 'zone', operator: 'DoesNotExist' }] }),
      want: false,
    },
  ];
  for (const tc of cases) {
    test(tc.name, () => assert.equal(podMatchesNodeAffinity(tc.pod, n), tc.want));
  }
  test('an empty term matches nothing', () => assert.equal(nodeMatchesTerm(n, {}), false));
});

describe('untolerated taints', () => {
  const taints: Taint[] = [
    { key: 'soft', effect: 'PreferNoSchedule' },
    { key: 'a', effect: 'NoSchedule' },
    { key: 'b', value: 'x', effect: 'NoExecute' },
  ];
  const hard = (t: Taint): boolean => t.effect === 'NoSchedule' || t.effect === 'NoExecute';
  test('the first hard taint in node order that no toleration matches', () =>
    assert.equal(findUntoleratedTaint(taints, [], hard)?.key, 'a'));
  test('tolerated ones are skipped', () =>
    assert.equal(findUntoleratedTaint(taints, [{ key: 'a', operator: 'Exists' }], hard)?.key, 'b'));
  test('none when every hard taint is tolerated', () =>
    assert.equal(findUntoleratedTaint(taints, [{ operator: 'Exists' }], hard), undefined));
});

describe('node readiness', () => {
  const node = (conditions: { type: string; status: string }[]): NodeFacts => ({
    metadata: { name: 'n' },
    status: { conditions },
  });
  test('Ready True', () => assert.equal(nodeReadyStatus(node([{ type: 'Ready', status: 'True' }])), 'True'));
  test('Ready False', () =>
    assert.equal(nodeReadyStatus(node([{ type: 'Ready', status: 'False' }])), 'False'));
  test('no Ready condition is Unknown', () => assert.equal(nodeReadyStatus(node([])), 'Unknown'));
});
