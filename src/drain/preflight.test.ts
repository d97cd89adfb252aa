import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  budgetNumbers,
  preflight,
  predictPlacement,
  type PreflightCheck,
  type PreflightInput,
} from './preflight.ts';
import { decidePods, type FilterOptions } from './filters.ts';
import { PodScanner, usageOf } from './scan.ts';
import { node, pdb, pod } from './testing/fixtures.ts';
import type { Node, Pod, PodDisruptionBudget } from '../kube/types.ts';

const opts: FilterOptions = {
  force: true,
  ignoreDaemonSets: true,
  deleteEmptyDirData: true,
  skipWaitForDeleteTimeoutSeconds: 0,
};

function run(
  pods: Pod[],
  more: {
    nodes?: Node[];
    pdbs?: PodDisruptionBudget[];
    disableEviction?: boolean;
    ignore?: PreflightCheck[] | 'all';
    draining?: string[];
  } = {},
): ReturnType<typeof preflight> {
  const nodes = more.nodes ?? [node('worker-1'), node('worker-2'), node('worker-3')];
  const onNode = pods.filter((p) => p.spec?.nodeName === 'worker-1');
  const verdicts = decidePods(onNode, {
    options: opts,
    now: new Date('2025-01-01T00:00:00Z'),
    daemonSet: () => ({ found: true }),
  });
  const input: PreflightInput = {
    node: 'worker-1',
    nodes,
    draining: more.draining ?? ['worker-1'],
    pods,
    verdicts,
    pdbs: more.pdbs ?? [],
    options: {
      disableEviction: more.disableEviction ?? false,
      gracePeriodSeconds: -1,
      ignore: more.ignore === 'all' ? 'all' : new Set(more.ignore ?? []),
    },
  };
  return preflight(input);
}

const checks = (r: ReturnType<typeof preflight>): string[] =>
  r.blockers.map((b) => `${b.pod.name}:${b.blocker.check}`);

const web = (n: number, nodeName = 'worker-1', o: Parameters<typeof pod>[1] = {}): Pod =>
  pod(`web-${n}`, { node: nodeName, labels: { app: 'web' }, ...o });

for (const tc of [
  {
    name: 'a plain ReplicaSet pod with room elsewhere is not blocked',
    pods: [web(1), web(2, 'worker-2')],
    more: {},
    want: [] as string[],
  },
  {
    name: 'maxUnavailable: 0 can never allow an eviction',
    pods: [web(1), web(2, 'worker-2')],
    more: {
      pdbs: [
        pdb('web', 'web', {
          maxUnavailable: 0,
          currentHealthy: 2,
          desiredHealthy: 2,
          expectedPods: 2,
          disruptionsAllowed: 0,
        }),
      ],
    },
    want: ['web-1:pdb-never-allows'],
  },
  {
    name: 'minAvailable equal to the replicas can never allow an eviction',
    pods: [web(1), web(2, 'worker-2'), web(3, 'worker-3')],
    more: {
      pdbs: [
        pdb('web', 'web', {
          minAvailable: 3,
          currentHealthy: 3,
          desiredHealthy: 3,
          expectedPods: 3,
          disruptionsAllowed: 0,
        }),
      ],
    },
    want: ['web-1:pdb-never-allows'],
  },
  {
    name: 'a budget at 0 now but not forever only waits',
    pods: [web(1), web(2, 'worker-2'), web(3, 'worker-3', { ready: false })],
    more: {
      pdbs: [
        pdb('web', 'web', {
          minAvailable: 2,
          currentHealthy: 2,
          desiredHealthy: 2,
          expectedPods: 3,
          disruptionsAllowed: 0,
        }),
      ],
    },
    want: [],
  },
  {
    name: 'an unready pod under AlwaysAllow is not blocked by a zero budget',
    pods: [web(1, 'worker-1', { ready: false }), web(2, 'worker-2')],
    more: {
      pdbs: [
        pdb('web', 'web', {
          maxUnavailable: 0,
          policy: 'AlwaysAllow',
          currentHealthy: 1,
          desiredHealthy: 2,
          expectedPods: 2,
          disruptionsAllowed: 0,
        }),
      ],
    },
    want: [],
  },
  {
    name: 'an unready pod under IfHealthyBudget with an unhealthy budget is blocked',
    pods: [web(1, 'worker-1', { ready: false }), web(2, 'worker-2')],
    more: {
      pdbs: [
        pdb('web', 'web', {
          maxUnavailable: 0,
          currentHealthy: 1,
          desiredHealthy: 2,
          expectedPods: 2,
          disruptionsAllowed: 0,
        }),
      ],
    },
    want: ['web-1:pdb-never-allows'],
  },
  {
    name: 'a pending pod ignores its budget, as kube-apiserver does',
    pods: [web(1, 'worker-1', { phase: 'Pending' })],
    more: { pdbs: [pdb('web', 'web', { maxUnavailable: 0, disruptionsAllowed: 0 })] },
    want: [],
  },
  {
    name: 'two budgets on one pod are predicted (the eviction API answers 500)',
    pods: [web(1)],
    more: { pdbs: [pdb('a', 'web'), pdb('b', 'web')] },
    want: ['web-1:multiple-pdbs'],
  },
  {
    name: '--disable-eviction consults no budget',
    pods: [web(1)],
    more: {
      disableEviction: true,
      pdbs: [pdb('a', 'web', { maxUnavailable: 0, disruptionsAllowed: 0 }), pdb('b', 'web')],
    },
    want: [],
  },
  {
    name: 'a replacement too big for any remaining node is unschedulable',
    pods: [
      web(1, 'worker-1', { requests: { cpu: '3' } }),
      pod('hog-1', { node: 'worker-2', requests: { cpu: '2' } }),
      pod('hog-2', { node: 'worker-3', requests: { cpu: '2' } }),
    ],
    more: {},
    want: ['web-1:unschedulable'],
  },
  {
    name: 'replacements compete for the same room: the second one does not fit',
    pods: [
      web(1, 'worker-1', { requests: { memory: '6Gi' } }),
      web(2, 'worker-1', { requests: { memory: '6Gi' } }),
    ],
    more: { nodes: [node('worker-1'), node('worker-2')] },
    want: ['web-2:unschedulable'],
  },
  {
    name: 'a tainted node takes only pods that tolerate it',
    pods: [web(1)],
    more: {
      nodes: [
        node('worker-1'),
        node('worker-2', { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] }),
      ],
    },
    want: ['web-1:unschedulable'],
  },
  {
    name: 'a tolerated taint is fine',
    pods: [
      web(1, 'worker-1', {
        tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'gpu', effect: 'NoSchedule' }],
      }),
    ],
    more: {
      nodes: [
        node('worker-1'),
        node('worker-2', { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] }),
      ],
    },
    want: [],
  },
  {
    name: 'a nodeSelector no remaining node satisfies is unschedulable',
    pods: [web(1, 'worker-1', { nodeSelector: { disk: 'ssd' } })],
    more: { nodes: [node('worker-1', { labels: { disk: 'ssd' } }), node('worker-2')] },
    want: ['web-1:unschedulable'],
  },
  {
    name: 'required node affinity is honoured',
    pods: [web(1, 'worker-1', { requiredNodeAffinity: [{ key: 'zone', operator: 'In', values: ['b'] }] })],
    more: {
      nodes: [
        node('worker-1'),
        node('worker-2', { labels: { zone: 'a' } }),
        node('worker-3', { labels: { zone: 'b' } }),
      ],
    },
    want: [],
  },
  {
    name: 'cordoned and NotReady nodes take nothing',
    pods: [web(1)],
    more: {
      nodes: [
        node('worker-1'),
        node('worker-2', { unschedulable: true }),
        node('worker-3', { ready: false }),
      ],
    },
    want: ['web-1:unschedulable'],
  },
  {
    name: 'nodes drained in the same run take nothing',
    pods: [web(1)],
    more: { nodes: [node('worker-1'), node('worker-2')], draining: ['worker-1', 'worker-2'] },
    want: ['web-1:unschedulable'],
  },
  {
    name: 'one replica per node (required anti-affinity) with no free node is unschedulable',
    pods: [
      web(1, 'worker-1', {
        antiAffinity: [{ matchLabels: { app: 'web' }, topologyKey: 'kubernetes.io/hostname' }],
      }),
      web(2, 'worker-2', {
        antiAffinity: [{ matchLabels: { app: 'web' }, topologyKey: 'kubernetes.io/hostname' }],
      }),
    ],
    more: { nodes: [node('worker-1'), node('worker-2')] },
    want: ['web-1:unschedulable'],
  },
  {
    name: 'a bare pod is not recreated, so it needs no room',
    pods: [pod('bare', { owner: 'none', requests: { cpu: '64' } })],
    more: {},
    want: [],
  },
  {
    name: 'the cluster-autoscaler opt-out annotation blocks',
    pods: [
      web(1, 'worker-1', { annotations: { 'cluster-autoscaler.kubernetes.io/safe-to-evict': 'false' } }),
    ],
    more: {},
    want: ['web-1:opt-out'],
  },
  {
    name: "bosun's own opt-out annotation blocks",
    pods: [web(1, 'worker-1', { annotations: { 'bosun.dev/safe-to-evict': 'false' } })],
    more: {},
    want: ['web-1:opt-out'],
  },
  {
    name: 'karpenter do-not-disrupt blocks',
    pods: [web(1, 'worker-1', { annotations: { 'karpenter.sh/do-not-disrupt': 'true' } })],
    more: {},
    want: ['web-1:opt-out'],
  },
  {
    name: 'an ignored check does not block but is reported as ignored',
    pods: [web(1, 'worker-1', { annotations: { 'bosun.dev/safe-to-evict': 'false' } })],
    more: { ignore: ['opt-out'] as PreflightCheck[] },
    want: [],
  },
]) {
  test(tc.name, () => assert.deepEqual(checks(run(tc.pods, tc.more)), tc.want));
}

test('--ignore-preflight-errors=all keeps every blocker visible as ignored', () => {
  const r = run([web(1, 'worker-1', { annotations: { 'bosun.dev/safe-to-evict': 'false' } })], {
    ignore: 'all',
  });
  assert.equal(r.blockers.length, 0);
  assert.deepEqual(
    r.ignored.map((b) => b.blocker.check),
    ['opt-out'],
  );
});

test('the never-allows message carries the budget numbers', () => {
  const r = run([web(1), web(2, 'worker-2')], {
    pdbs: [
      pdb('web', 'web', {
        maxUnavailable: 0,
        currentHealthy: 2,
        desiredHealthy: 2,
        expectedPods: 2,
        disruptionsAllowed: 0,
      }),
    ],
  });
  assert.equal(
    r.blockers[0]?.blocker.message,
    'PodDisruptionBudget demo/web (maxUnavailable: 0): 2 of 2 pods healthy, needs 2, allows 0 disruptions now: it can never allow this eviction, even with every pod healthy',
  );
});

test('unschedulable reads like the scheduler', () => {
  const r = run([web(1)], {
    nodes: [
      node('worker-1'),
      node('worker-2', { unschedulable: true }),
      node('worker-3', { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] }),
    ],
  });
  assert.match(
    r.blockers[0]?.blocker.message ?? '',
    /0\/3 nodes are available: 1 node\(s\) had untolerated taint \{dedicated: gpu\}, 2 node\(s\) were unschedulable$/,
  );
});

test('a placed replacement says where it fits', () => {
  const p = predictPlacement([web(1, 'worker-1', { requests: { cpu: '1' } })], {
    nodes: [node('worker-1'), node('worker-2'), node('worker-3')],
    draining: ['worker-1'],
    pods: [pod('busy', { node: 'worker-2', requests: { cpu: '3' } })],
  });
  assert.deepEqual([...p.values()], [{ node: 'worker-3' }]);
});

test('budget numbers are computed from the spec when the controller has not observed it', () => {
  const b = pdb('web', 'web', { minAvailable: '50%' });
  delete b.status;
  const n = budgetNumbers(b, [web(1), web(2), web(3), web(4, 'worker-1', { ready: false })]);
  assert.deepEqual(
    {
      expected: n.expectedPods,
      healthy: n.currentHealthy,
      desired: n.desiredHealthy,
      allowed: n.disruptionsAllowed,
      max: n.maxAllowed,
    },
    { expected: 4, healthy: 3, desired: 2, allowed: 1, max: 2 },
  );
});

test('the longest grace period is a lower bound for the drain', () => {
  const r = run([
    web(1, 'worker-1', { terminationGracePeriodSeconds: 90 }),
    web(2, 'worker-1', { terminationGracePeriodSeconds: 5 }),
  ]);
  assert.equal(r.longestGraceSeconds, 90);
});

test("the pre-flight names a budget's stale disruptedPods entries, from the cluster's pods or a scan's aggregates", () => {
  const b = pdb('web', 'web', {
    maxUnavailable: 1,
    currentHealthy: 1,
    desiredHealthy: 2,
    expectedPods: 3,
    disruptionsAllowed: 0,
  });
  b.status = { ...b.status, disruptedPods: { 'web-3': '2024-12-31T23:59:30Z' } };
  const pods = [web(1), web(2, 'worker-2'), web(3, 'worker-3')];
  for (const withScan of [false, true]) {
    const onNode = pods.filter((p) => p.spec?.nodeName === 'worker-1');
    const verdicts = decidePods(onNode, {
      options: opts,
      now: new Date('2025-01-01T00:00:00Z'),
      daemonSet: () => ({ found: true }),
    });
    const r = preflight({
      node: 'worker-1',
      nodes: [node('worker-1'), node('worker-2'), node('worker-3')],
      draining: ['worker-1'],
      pods: withScan ? onNode : pods,
      ...(withScan ? { usage: usageOf(pods, [b]), antiAffinity: new Map() } : {}),
      verdicts,
      pdbs: [b],
      now: new Date('2025-01-01T00:00:00Z'),
      options: { disableEviction: false, gracePeriodSeconds: -1, ignore: new Set() },
    });
    const w = r.predictions[0]?.waits.join('; ') ?? '';
    assert.match(w, /its status.disruptedPods holds 1 running pod \(demo\/web-3\) out of currentHealthy/, w);
    assert.match(w, /until 2025-01-01T00:01:30Z/);
    assert.deepEqual(r.predictions[0]?.placement, { node: 'worker-2' });
  }
});

test('a scan keeps the drained nodes whole and the rest in aggregate: requests per node, budget coverage, held entries', () => {
  const b = pdb('web', 'web', { maxUnavailable: 1 });
  b.status = {
    ...b.status,
    disruptedPods: { 'web-2': '2025-01-01T00:00:00Z', 'web-9': '2025-01-01T00:00:00Z' },
  };
  const s = new PodScanner(new Set(['worker-1']), [b]);
  s.add([web(1, 'worker-1', { requests: { cpu: '1' } }), web(2, 'worker-2', { requests: { cpu: '500m' } })]);
  s.add([
    web(3, 'worker-2', { requests: { cpu: '250m' }, ready: false }),
    web(4, 'worker-2', { phase: 'Succeeded', requests: { cpu: '2' } }),
    pod('other', { node: 'worker-3', labels: { app: 'other' } }),
  ]);
  const r = s.result();
  assert.deepEqual(
    [...r.onNodes.entries()].map(([n, ps]) => [n, ps.map((p) => p.metadata.name)]),
    [['worker-1', ['web-1']]],
  );
  assert.deepEqual(r.requested.get('worker-2'), { cpu: 0.75, pods: 2 });
  assert.deepEqual(r.covered.get('demo/web'), { pods: 3, ready: 2 });
  assert.deepEqual(r.held.get('demo/web'), [{ pod: 'demo/web-2', since: '2025-01-01T00:00:00Z' }]);
  assert.equal(r.seen, 5);
});
