import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Node, Pod } from '../apiserver/types.ts';
import type { Taint, Toleration } from '../../kube/types.ts';
import {
  emptyUsage,
  filterNode,
  fitErrorMessage,
  milliCpu,
  podRequests,
  quantityValue,
  scoreNodes,
  type FilterVerdict,
  type NodeUsage,
} from './scheduling.ts';

function node(
  name: string,
  o: {
    labels?: Record<string, string>;
    taints?: Taint[];
    unschedulable?: boolean;
    cpu?: string;
    memory?: string;
    pods?: string;
  } = {},
): Node {
  return {
    metadata: { name, labels: { 'kubernetes.io/hostname': name, ...(o.labels ?? {}) } },
    spec: { ...(o.taints ? { taints: o.taints } : {}), ...(o.unschedulable ? { unschedulable: true } : {}) },
    status: {
      allocatable: { cpu: o.cpu ?? '4', memory: o.memory ?? '8Gi', pods: o.pods ?? '110' },
      conditions: [{ type: 'Ready', status: 'True' }],
    },
  };
}

function pod(
  o: {
    cpu?: string;
    memory?: string;
    init?: { cpu?: string; memory?: string };
    tolerations?: Toleration[];
    nodeSelector?: Record<string, string>;
    affinity?: Pod['spec']['affinity'];
  } = {},
): Pod {
  const req = (r: { cpu?: string; memory?: string }): Record<string, string> => ({
    ...(r.cpu ? { cpu: r.cpu } : {}),
    ...(r.memory ? { memory: r.memory } : {}),
  });
  return {
    metadata: { name: 'p', namespace: 'default' },
    spec: {
      containers: [{ name: 'c', resources: { requests: req(o) } }],
      ...(o.init ? { initContainers: [{ name: 'i', resources: { requests: req(o.init) } }] } : {}),
      ...(o.tolerations ? { tolerations: o.tolerations } : {}),
      ...(o.nodeSelector ? { nodeSelector: o.nodeSelector } : {}),
      ...(o.affinity ? { affinity: o.affinity } : {}),
    },
  };
}

const usage = (o: Partial<NodeUsage> = {}): NodeUsage => ({ ...emptyUsage(), ...o });
const CP_TAINT: Taint = { key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' };

describe('quantities', () => {
  for (const tc of [
    { q: '100m', cpu: 100, value: 1 },
    { q: '2', cpu: 2000, value: 2 },
    { q: '0.5', cpu: 500, value: 1 },
    { q: '128Mi', cpu: 134217728000, value: 134217728 },
    { q: '1G', cpu: 1e12, value: 1e9 },
    { q: '1e3', cpu: 1e6, value: 1000 },
    { q: 'bogus', cpu: 0, value: 0 },
  ]) {
    test(`${tc.q} is ${tc.cpu} millicores and ${tc.value} units`, () => {
      assert.equal(milliCpu(tc.q), tc.cpu);
      assert.equal(quantityValue(tc.q), tc.value);
    });
  }
});

describe('podRequests', () => {
  for (const tc of [
    {
      name: 'sums app containers',
      pod: pod({ cpu: '250m', memory: '64Mi' }),
      want: { milliCpu: 250, memory: 64 * 2 ** 20 },
    },
    {
      name: 'an init container larger than the app containers wins',
      pod: pod({ cpu: '100m', init: { cpu: '1', memory: '1Gi' } }),
      want: { milliCpu: 1000, memory: 2 ** 30 },
    },
    { name: 'no requests is zero', pod: pod(), want: { milliCpu: 0, memory: 0 } },
  ]) {
    test(tc.name, () => assert.deepEqual(podRequests(tc.pod), tc.want));
  }
  test('nonZero counts a container without requests as 100m and 200Mi', () =>
    assert.deepEqual(podRequests(pod(), true), { milliCpu: 100, memory: 200 * 2 ** 20 }));
});

describe('filterNode runs the plugins in order and stops at the first failure', () => {
  const cases: { name: string; pod: Pod; node: Node; usage?: NodeUsage; want: FilterVerdict }[] = [
    { name: 'a plain pod fits an empty node', pod: pod({ cpu: '1' }), node: node('w'), want: { fits: true } },
    {
      name: 'a cordoned node is unschedulable even when also tainted',
      pod: pod(),
      node: node('w', {
        unschedulable: true,
        taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }],
      }),
      want: {
        fits: false,
        plugin: 'NodeUnschedulable',
        reasons: ['node(s) were unschedulable'],
        unresolvable: true,
      },
    },
    {
      name: 'a pod tolerating unschedulable:NoSchedule passes a cordoned node',
      pod: pod({
        tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }],
      }),
      node: node('w', {
        unschedulable: true,
        taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }],
      }),
      want: { fits: true },
    },
    {
      name: 'the control-plane taint is untolerated',
      pod: pod(),
      node: node('cp', { taints: [CP_TAINT] }),
      want: {
        fits: false,
        plugin: 'TaintToleration',
        reasons: ['node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }'],
        unresolvable: true,
      },
    },
    {
      name: 'a NoExecute taint with a value is untolerated',
      pod: pod(),
      node: node('w', { taints: [{ key: 'dedicated', value: 'db', effect: 'NoExecute' }] }),
      want: {
        fits: false,
        plugin: 'TaintToleration',
        reasons: ['node(s) had untolerated taint {dedicated: db}'],
        unresolvable: true,
      },
    },
    {
      name: 'a PreferNoSchedule taint does not filter',
      pod: pod(),
      node: node('w', { taints: [{ key: 'soft', effect: 'PreferNoSchedule' }] }),
      want: { fits: true },
    },
    {
      name: 'node selector mismatch',
      pod: pod({ nodeSelector: { disk: 'ssd' } }),
      node: node('w'),
      want: {
        fits: false,
        plugin: 'NodeAffinity',
        reasons: ["node(s) didn't match Pod's node affinity/selector"],
        unresolvable: true,
      },
    },
    {
      name: 'cpu and memory both short',
      pod: pod({ cpu: '2', memory: '4Gi' }),
      node: node('w'),
      usage: usage({ milliCpu: 3000, memory: 6 * 2 ** 30, pods: 3 }),
      want: {
        fits: false,
        plugin: 'NodeResourcesFit',
        reasons: ['Insufficient cpu', 'Insufficient memory'],
        unresolvable: false,
      },
    },
    {
      name: 'pod count at allocatable pods is too many, even for a pod without requests',
      pod: pod(),
      node: node('w', { pods: '3' }),
      usage: usage({ pods: 3 }),
      want: { fits: false, plugin: 'NodeResourcesFit', reasons: ['Too many pods'], unresolvable: false },
    },
    {
      name: 'exactly the remaining cpu fits',
      pod: pod({ cpu: '1' }),
      node: node('w'),
      usage: usage({ milliCpu: 3000, pods: 1 }),
      want: { fits: true },
    },
  ];
  for (const tc of cases)
    test(tc.name, () => assert.deepEqual(filterNode(tc.pod, tc.node, tc.usage ?? usage()), tc.want));
});

describe('fitErrorMessage', () => {
  const taint: FilterVerdict = {
    fits: false,
    plugin: 'TaintToleration',
    reasons: ['node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }'],
    unresolvable: true,
  };
  const cordoned: FilterVerdict = {
    fits: false,
    plugin: 'NodeUnschedulable',
    reasons: ['node(s) were unschedulable'],
    unresolvable: true,
  };
  const cpu: FilterVerdict = {
    fits: false,
    plugin: 'NodeResourcesFit',
    reasons: ['Insufficient cpu'],
    unresolvable: false,
  };
  test('3 control planes and 5 cordoned workers', () =>
    assert.equal(
      fitErrorMessage([taint, taint, taint, cordoned, cordoned, cordoned, cordoned, cordoned]),
      '0/8 nodes are available: 3 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 5 node(s) were unschedulable. preemption: 0/8 nodes are available: 8 Preemption is not helpful for scheduling.',
    ));
  test('resource failures say no preemption victims were found; counts sort as strings', () =>
    assert.equal(
      fitErrorMessage([taint, ...Array.from({ length: 10 }, () => cpu)]),
      '0/11 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 10 Insufficient cpu. preemption: 0/11 nodes are available: 1 Preemption is not helpful for scheduling, 10 No preemption victims found for incoming pod.',
    ));
  test('no nodes at all', () => assert.equal(fitErrorMessage([]), 'no nodes available to schedule pods'));
});

describe('scoreNodes', () => {
  test('prefers the emptier node', () => {
    const [a, b] = scoreNodes(pod({ cpu: '100m' }), [
      {
        node: node('a'),
        usage: usage({ nonZeroMilliCpu: 3000, nonZeroMemory: 4 * 2 ** 30 }),
        sameOwnerPods: 0,
      },
      { node: node('b'), usage: usage(), sameOwnerPods: 0 },
    ]);
    assert.ok((b ?? 0) > (a ?? 0));
  });
  test('spreads pods of one controller away from nodes that already run them', () => {
    const [a, b] = scoreNodes(pod(), [
      { node: node('a'), usage: usage(), sameOwnerPods: 2 },
      {
        node: node('b'),
        usage: usage({ nonZeroMilliCpu: 200, nonZeroMemory: 400 * 2 ** 20 }),
        sameOwnerPods: 0,
      },
    ]);
    assert.ok((b ?? 0) > (a ?? 0));
  });
});
