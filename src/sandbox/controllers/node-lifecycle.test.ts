// The node lifecycle and taint eviction controllers against a real etcd, with hand-driven
// heartbeats (Lease renewals) standing in for kubelets.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startApiHarness, type ApiHarness } from '../../../test/support/api-harness.ts';
import { timestamp } from '../apiserver/meta.ts';
import { resource } from '../apiserver/resources.ts';
import type { Node, Pod } from '../apiserver/types.ts';
import type { Taint } from '../../kube/types.ts';
import { desiredTaints, NodeLifecycleController } from './node-lifecycle.ts';
import { evictionDelay, TaintEvictionController } from './taint-eviction.ts';
import { createNode, renewLease, waitFor, waitForEvents } from './testing/sim.ts';

const nodes = resource('nodes');
const pods = resource('pods');

describe('desiredTaints', () => {
  const node = (ready: 'True' | 'False' | 'Unknown', taints: Taint[] = [], unschedulable = false): Node => ({
    metadata: { name: 'n' },
    spec: { taints, ...(unschedulable ? { unschedulable: true } : {}) },
    status: { conditions: [{ type: 'Ready', status: ready }] },
  });
  const NOW = '2025-01-01T00:00:00Z';
  for (const tc of [
    {
      name: 'Ready=False: not-ready NoSchedule and NoExecute',
      node: node('False'),
      want: ['node.kubernetes.io/not-ready:NoSchedule', 'node.kubernetes.io/not-ready:NoExecute'],
    },
    {
      name: 'Ready=Unknown: unreachable NoSchedule and NoExecute',
      node: node('Unknown'),
      want: ['node.kubernetes.io/unreachable:NoSchedule', 'node.kubernetes.io/unreachable:NoExecute'],
    },
    {
      name: 'Ready=True removes them and keeps foreign taints',
      node: node('True', [
        { key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' },
        { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' },
      ]),
      want: ['node-role.kubernetes.io/control-plane:NoSchedule'],
    },
    {
      name: 'cordoned: the unschedulable taint',
      node: node('True', [], true),
      want: ['node.kubernetes.io/unschedulable:NoSchedule'],
    },
    {
      name: 'uncordoned: it goes',
      node: node('True', [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule', timeAdded: NOW }]),
      want: [],
    },
  ]) {
    test(tc.name, () =>
      assert.deepEqual(
        desiredTaints(tc.node, NOW).map((t) => `${t.key}:${t.effect}`),
        tc.want,
      ),
    );
  }
  test('a taint that stays keeps its timeAdded; a new one gets now', () => {
    const kept = desiredTaints(
      node('False', [
        { key: 'node.kubernetes.io/not-ready', effect: 'NoSchedule', timeAdded: '2020-01-01T00:00:00Z' },
      ]),
      NOW,
    );
    assert.deepEqual(
      kept.map((t) => t.timeAdded),
      ['2020-01-01T00:00:00Z', NOW],
    );
  });
});

describe('evictionDelay', () => {
  const unreachable: Taint = { key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' };
  for (const tc of [
    { name: 'no taints: never', taints: [], tols: [], want: 'never' },
    { name: 'an untolerated taint: now', taints: [unreachable], tols: [], want: 'now' },
    {
      name: 'the default 300 s toleration',
      taints: [unreachable],
      tols: [
        {
          key: 'node.kubernetes.io/unreachable',
          operator: 'Exists',
          effect: 'NoExecute',
          tolerationSeconds: 300,
        },
      ],
      want: 300,
    },
    {
      name: 'a DaemonSet pod tolerates forever',
      taints: [unreachable],
      tols: [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute' }],
      want: 'never',
    },
    {
      name: 'the first matching toleration counts',
      taints: [unreachable],
      tols: [
        { operator: 'Exists' },
        { key: 'node.kubernetes.io/unreachable', operator: 'Exists', tolerationSeconds: 5 },
      ],
      want: 'never',
    },
  ] as { name: string; taints: Taint[]; tols: Pod['spec']['tolerations']; want: unknown }[]) {
    test(tc.name, () => assert.equal(evictionDelay(tc.taints, tc.tols), tc.want));
  }
});

describe('node lifecycle controller', () => {
  let h: ApiHarness;
  let nlc: NodeLifecycleController;
  let tec: TaintEvictionController;
  let beat: NodeJS.Timeout | undefined;
  const alive = new Set(['healthy', 'flaky', 'tainted']);
  const node = async (name: string): Promise<Node> => (await h.api.get(nodes, undefined, name)) as Node;
  const taintsOf = async (name: string): Promise<string[]> =>
    ((await node(name)).spec?.taints ?? []).map((t) => `${t.key}:${t.effect}`);
  const ready = async (name: string): Promise<string | undefined> =>
    (await node(name)).status?.conditions?.find((c) => c.type === 'Ready')?.status;
  const podOn = (name: string, nodeName: string, tolerations?: Pod['spec']['tolerations']): Pod => ({
    metadata: { name },
    spec: { nodeName, containers: [{ name: 'c', image: 'nginx' }], ...(tolerations ? { tolerations } : {}) },
  });
  const postReady = async (name: string, status: 'True' | 'False'): Promise<void> => {
    const now = timestamp(new Date());
    await h.api.guaranteedUpdate(
      nodes,
      undefined,
      name,
      (cur) => {
        const n = cur as Node;
        n.status = {
          ...(n.status ?? {}),
          conditions: (n.status?.conditions ?? []).map((c) =>
            c.type === 'Ready'
              ? {
                  ...c,
                  status,
                  reason: status === 'True' ? 'KubeletReady' : 'KubeletNotReady',
                  lastHeartbeatTime: now,
                  lastTransitionTime: c.status === status ? c.lastTransitionTime : now,
                }
              : { ...c, status: 'False', lastHeartbeatTime: now },
          ),
        };
        return n;
      },
      { subresource: 'status' },
    );
  };

  before(async () => {
    h = await startApiHarness();
    for (const n of ['healthy', 'flaky', 'silent', 'tainted']) await createNode(h.api, n);
    nlc = new NodeLifecycleController(h.ctx);
    tec = new TaintEvictionController(h.ctx);
    nlc.start();
    tec.start();
    await h.startInformers();
    beat = setInterval(() => {
      for (const n of alive) void renewLease(h.api, n).catch(() => undefined);
    }, h.ctx.timing.heartbeatMs);
  });
  after(async () => {
    if (beat) clearInterval(beat);
    nlc.stop();
    tec.stop();
    await h.stop();
  });

  test('a node whose kubelet stops renewing its Lease goes Unknown, gets the unreachable taints, and its pods go not ready', async () => {
    // The API server gives every pod 300 s of unreachable tolerance (DefaultTolerationSeconds); this one asks for 0.
    const created = await h.api.create(
      pods,
      'default',
      podOn('on-silent', 'silent', [
        {
          key: 'node.kubernetes.io/unreachable',
          operator: 'Exists',
          effect: 'NoExecute',
          tolerationSeconds: 0,
        },
      ]),
    );
    await h.api.update(
      pods,
      'default',
      'on-silent',
      { ...created, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } },
      { subresource: 'status' },
    );
    await waitFor(async () => (await ready('silent')) === 'Unknown', 'silent to go Unknown');
    const n = await node('silent');
    for (const c of n.status?.conditions ?? []) {
      assert.deepEqual(
        [c.type, c.status, c.reason, c.message],
        [c.type, 'Unknown', 'NodeStatusUnknown', 'Kubelet stopped posting node status.'],
      );
    }
    await waitFor(
      async () =>
        (await taintsOf('silent')).join() ===
        'node.kubernetes.io/unreachable:NoSchedule,node.kubernetes.io/unreachable:NoExecute',
      'unreachable taints',
    );
    assert.ok(
      (await node('silent')).spec?.taints?.every((t) => t.timeAdded),
      'timeAdded on each taint',
    );
    await waitFor(
      async () =>
        ((await h.api.get(pods, 'default', 'on-silent')) as Pod).status?.conditions?.find(
          (c) => c.type === 'Ready',
        )?.status === 'False',
      'the pod to be marked not ready',
    );
    await waitForEvents(
      h.api,
      'default',
      (evs) =>
        evs.some(
          (e) =>
            e.reason === 'NodeNotReady' &&
            e.involvedObject.name === 'silent' &&
            e.message === 'Node silent status is now: NodeNotReady' &&
            e.source?.component === 'node-controller',
        ) &&
        evs.some(
          (e) =>
            e.reason === 'NodeNotReady' &&
            e.involvedObject.name === 'on-silent' &&
            e.message === 'Node is not ready',
        ),
      'NodeNotReady events for the node and its pod',
    );
    // tolerationSeconds 0: the taint manager deletes it at once.
    const got = await waitFor(async () => {
      const p = (await h.api.get(pods, 'default', 'on-silent')) as Pod;
      return p.metadata.deletionTimestamp ? p : undefined;
    }, 'the taint manager to delete the pod');
    assert.deepEqual(
      got.status?.conditions
        ?.filter((c) => c.type === 'DisruptionTarget')
        .map((c) => [c.status, c.reason, c.message]),
      [['True', 'DeletionByTaintManager', 'Taint manager: deleting due to NoExecute taint']],
    );
    assert.equal(await ready('healthy'), 'True', 'a node that keeps renewing stays Ready');
  });

  test('Ready=False from the kubelet: not-ready taints; Ready=True again: they go', async () => {
    await postReady('flaky', 'False');
    await waitFor(
      async () =>
        (await taintsOf('flaky')).join() ===
        'node.kubernetes.io/not-ready:NoSchedule,node.kubernetes.io/not-ready:NoExecute',
      'not-ready taints',
    );
    await postReady('flaky', 'True');
    await waitFor(async () => (await taintsOf('flaky')).length === 0, 'the taints to go');
  });

  test('cordon and uncordon add and remove node.kubernetes.io/unschedulable:NoSchedule', async () => {
    await h.api.patch(nodes, undefined, 'healthy', 'strategic', { spec: { unschedulable: true } });
    await waitFor(
      async () => (await taintsOf('healthy')).join() === 'node.kubernetes.io/unschedulable:NoSchedule',
      'the unschedulable taint',
    );
    await h.api.patch(nodes, undefined, 'healthy', 'merge', { spec: { unschedulable: null } });
    await waitFor(async () => (await taintsOf('healthy')).length === 0, 'the taint to go');
  });

  test('the taint manager: untolerating pods go at once, tolerationSeconds pods after that long, unlimited tolerations stay', async () => {
    await h.api.create(pods, 'default', podOn('plain', 'tainted'));
    await h.api.create(
      pods,
      'default',
      podOn('patient', 'tainted', [
        { key: 'dedicated', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 1 },
      ]),
    );
    await h.api.create(
      pods,
      'default',
      podOn('forever', 'tainted', [{ key: 'dedicated', operator: 'Exists', effect: 'NoExecute' }]),
    );
    await tec.idle();
    await h.api.patch(nodes, undefined, 'tainted', 'merge', {
      spec: { taints: [{ key: 'dedicated', value: 'db', effect: 'NoExecute' }] },
    });
    const deleting = async (name: string): Promise<boolean> =>
      Boolean((await h.api.get(pods, 'default', name)).metadata.deletionTimestamp);
    await waitFor(() => deleting('plain'), 'plain to be deleted');
    assert.equal(await deleting('patient'), false, 'the 1 s toleration is not over yet');
    await waitFor(() => deleting('patient'), 'patient to be deleted after its tolerationSeconds');
    assert.equal(await deleting('forever'), false);
    await waitForEvents(
      h.api,
      'default',
      (evs) =>
        evs.some(
          (e) =>
            e.reason === 'TaintManagerEviction' &&
            e.message === 'Marking for deletion Pod default/plain' &&
            e.source?.component === 'taint-eviction-controller',
        ),
      'TaintManagerEviction',
    );
  });
});
