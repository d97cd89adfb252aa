import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkNodeHealth, diagnose, type HealthInput } from './health.ts';
import { node, pod } from './testing/fixtures.ts';
import type { Lease } from '../kube/types.ts';

const NOW = new Date('2025-01-01T00:10:00Z');
const lease = (renew: string | undefined): Lease => ({
  metadata: { name: 'worker-2', namespace: 'kube-node-lease' },
  spec: { leaseDurationSeconds: 40, ...(renew ? { renewTime: renew } : {}) },
});
const ds = pod('kube-proxy-x', {
  namespace: 'kube-system',
  node: 'worker-2',
  owner: { kind: 'DaemonSet', name: 'kube-proxy' },
});

/** worker-2, Ready, its Ready condition last posted at `at`. */
function readyBeat(at: string): ReturnType<typeof node> {
  const n = node('worker-2');
  for (const c of n.status?.conditions ?? []) if (c.type === 'Ready') c.lastHeartbeatTime = at;
  return n;
}

function input(o: Partial<HealthInput> = {}): HealthInput {
  return {
    node: node('worker-2'),
    lease: lease('2025-01-01T00:09:55Z'),
    pods: [ds],
    now: NOW,
    expectReboot: false,
    daemonSets: ['kube-system/kube-proxy'],
    ...o,
  };
}

for (const tc of [
  {
    name: 'a Ready node with a fresh heartbeat and its DaemonSet pod is healthy',
    in: input(),
    want: [] as string[],
  },
  {
    name: 'NotReady is unhealthy',
    in: input({ node: node('worker-2', { ready: false }) }),
    want: ['Ready is False'],
  },
  {
    name: 'no Lease is unhealthy',
    in: input({ lease: undefined }),
    want: ['no heartbeat Lease kube-node-lease/worker-2'],
  },
  {
    name: 'a stale heartbeat is unhealthy',
    in: input({ lease: lease('2025-01-01T00:08:00Z') }),
    want: ['last heartbeat 120s ago (lease duration 40s)'],
  },
  {
    name: 'a heartbeat from before the work finished does not count',
    in: input({ since: new Date('2025-01-01T00:09:58Z') }),
    want: ['no heartbeat since the work finished'],
  },
  {
    // The kubelet posts its node status (Ready with a new lastHeartbeatTime) as soon as it starts:
    // that is a heartbeat after the work too, without waiting for the Lease's next renewal.
    name: "a node status heartbeat after the work finished counts, before the Lease's next renewal",
    in: input({ since: new Date('2025-01-01T00:09:58Z'), node: readyBeat('2025-01-01T00:09:59Z') }),
    want: [],
  },
  {
    name: 'a node status heartbeat from before the work finished does not count either',
    in: input({ since: new Date('2025-01-01T00:09:58Z'), node: readyBeat('2025-01-01T00:09:57Z') }),
    want: ['no heartbeat since the work finished'],
  },
  {
    name: 'a not-ready taint is unhealthy',
    in: input({
      node: node('worker-2', { taints: [{ key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule' }] }),
    }),
    want: ['tainted node.kubernetes.io/not-ready:NoSchedule'],
  },
  {
    name: 'an expected reboot that has not happened is unhealthy',
    in: input({ expectReboot: true, bootIdBefore: 'boot-1' }),
    want: ['not rebooted yet (boot ID boot-1 unchanged)'],
  },
  {
    name: 'a new boot ID satisfies an expected reboot',
    in: input({ expectReboot: true, bootIdBefore: 'boot-0' }),
    want: [],
  },
  {
    name: 'a DaemonSet without a Ready pod is unhealthy',
    in: input({
      pods: [
        pod('kube-proxy-x', {
          namespace: 'kube-system',
          node: 'worker-2',
          owner: { kind: 'DaemonSet', name: 'kube-proxy' },
          ready: false,
        }),
      ],
    }),
    want: ['DaemonSet kube-system/kube-proxy has no Running, Ready pod on the node'],
  },
]) {
  test(tc.name, () => assert.deepEqual(checkNodeHealth(tc.in).problems, tc.want));
}

test('the diagnosis lists problems, conditions, taints and the most recent events first', () => {
  const n = node('worker-2', {
    ready: false,
    taints: [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }],
  });
  const lines = diagnose(n, checkNodeHealth(input({ node: n })), [
    {
      metadata: { name: 'a' },
      reason: 'Old',
      message: 'old',
      type: 'Normal',
      lastTimestamp: '2025-01-01T00:01:00Z',
    },
    {
      metadata: { name: 'b' },
      reason: 'NodeNotReady',
      message: 'Node worker-2 status is now: NodeNotReady',
      type: 'Normal',
      lastTimestamp: '2025-01-01T00:09:00Z',
    },
  ]);
  assert.deepEqual(lines, [
    'node/worker-2 is not healthy:',
    '  - Ready is False',
    '  - tainted node.kubernetes.io/unreachable:NoExecute',
    'Conditions:',
    '  Ready=False (heartbeat 2025-01-01T00:00:00Z)',
    'Taints: node.kubernetes.io/unreachable:NoExecute',
    'Recent events:',
    '  2025-01-01T00:09:00Z  Normal  NodeNotReady  Node worker-2 status is now: NodeNotReady',
    '  2025-01-01T00:01:00Z  Normal  Old  old',
  ]);
});
