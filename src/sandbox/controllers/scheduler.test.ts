// The scheduler against a real etcd and ApiCore: binding, kube's FailedScheduling message,
// retries when nodes or pods change, spreading, requests and pod counts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startApiHarness, type ApiHarness } from '../../../test/support/api-harness.ts';
import { resource } from '../apiserver/resources.ts';
import type { KubeEvent, Node, Pod } from '../apiserver/types.ts';
import { Scheduler } from './scheduler.ts';
import { createNode, waitFor } from './testing/sim.ts';

const pods = resource('pods');
const nodes = resource('nodes');
const events = resource('events');

function pod(
  name: string,
  o: {
    cpu?: string;
    nodeSelector?: Record<string, string>;
    owner?: string;
    spec?: Partial<Pod['spec']>;
  } = {},
): Pod {
  return {
    metadata: {
      name,
      ...(o.owner
        ? {
            ownerReferences: [
              { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: o.owner, controller: true },
            ],
          }
        : {}),
    },
    spec: {
      containers: [
        { name: 'c', image: 'nginx:1.27', ...(o.cpu ? { resources: { requests: { cpu: o.cpu } } } : {}) },
      ],
      ...(o.nodeSelector ? { nodeSelector: o.nodeSelector } : {}),
      ...(o.spec ?? {}),
    },
  };
}

describe('scheduler', () => {
  let h: ApiHarness;
  let sched: Scheduler;
  const get = async (name: string): Promise<Pod> => (await h.api.get(pods, 'default', name)) as Pod;
  const boundNode = (name: string): Promise<string> =>
    waitFor(async () => (await get(name)).spec.nodeName, `${name} to be bound`);

  before(async () => {
    h = await startApiHarness();
    for (const n of ['cp-1', 'cp-2', 'cp-3']) await createNode(h.api, n, { controlPlane: true });
    for (const n of ['worker-1', 'worker-2', 'worker-3', 'worker-4', 'worker-5'])
      await createNode(h.api, n, { unschedulable: true });
    sched = new Scheduler(h.ctx);
    sched.start();
    await h.startInformers();
  });
  after(async () => {
    sched.stop();
    await h.stop();
  });

  test("a pod that fits nowhere gets PodScheduled=False/Unschedulable with kube's message and a FailedScheduling event", async () => {
    await h.api.create(pods, 'default', pod('waiting'));
    const want =
      '0/8 nodes are available: 3 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 5 node(s) were unschedulable. preemption: 0/8 nodes are available: 8 Preemption is not helpful for scheduling.';
    const cond = await waitFor(
      async () => (await get('waiting')).status?.conditions?.find((c) => c.type === 'PodScheduled'),
      'PodScheduled condition',
    );
    assert.deepEqual(
      { status: cond.status, reason: cond.reason, message: cond.message },
      { status: 'False', reason: 'Unschedulable', message: want },
    );
    const ev = await waitFor(
      async () =>
        ((await h.api.list(events, 'default')).items as KubeEvent[]).find(
          (e) => e.reason === 'FailedScheduling' && e.involvedObject.name === 'waiting',
        ),
      'FailedScheduling event',
    );
    assert.equal(ev.type, 'Warning');
    assert.equal(ev.message, want);
    assert.equal(ev.source?.component, 'default-scheduler');
  });

  test('a DaemonSet-style pod (matchFields metadata.name, tolerating unschedulable) lands on its cordoned node', async () => {
    await h.api.create(
      pods,
      'default',
      pod('ds-pod', {
        spec: {
          tolerations: [
            { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' },
          ],
          affinity: {
            nodeAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: {
                nodeSelectorTerms: [
                  { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['worker-3'] }] },
                ],
              },
            },
          },
        },
      }),
    );
    assert.equal(await boundNode('ds-pod'), 'worker-3');
  });

  test('uncordoning nodes retries the unschedulable pod, which is bound with a Scheduled event', async () => {
    for (const n of ['worker-1', 'worker-2'])
      await h.api.patch(nodes, undefined, n, 'merge', { spec: { unschedulable: null } });
    const node = await boundNode('waiting');
    assert.ok(['worker-1', 'worker-2'].includes(node), node);
    const got = await get('waiting');
    assert.equal(got.status?.conditions?.find((c) => c.type === 'PodScheduled')?.status, 'True');
    await waitFor(
      async () =>
        ((await h.api.list(events, 'default')).items as KubeEvent[]).some(
          (e) => e.reason === 'Scheduled' && e.message === `Successfully assigned default/waiting to ${node}`,
        ),
      'Scheduled event',
    );
  });

  test('pods of one controller spread over the schedulable nodes', async () => {
    for (let i = 0; i < 4; i++)
      await h.api.create(pods, 'default', pod(`spread-${i}`, { owner: 'rs-spread' }));
    const placed = await Promise.all([0, 1, 2, 3].map((i) => boundNode(`spread-${i}`)));
    const count = (n: string): number => placed.filter((p) => p === n).length;
    assert.deepEqual([count('worker-1'), count('worker-2')], [2, 2]);
  });

  test('cpu requests: a terminating pod still holds its cpu; once it is gone the next pod fits', async () => {
    await createNode(h.api, 'small', { cpu: '1', labels: { size: 'small' } });
    await h.api.create(pods, 'default', pod('big-1', { cpu: '600m', nodeSelector: { size: 'small' } }));
    assert.equal(await boundNode('big-1'), 'small');
    await h.api.create(pods, 'default', pod('big-2', { cpu: '600m', nodeSelector: { size: 'small' } }));
    const msg = await waitFor(
      async () =>
        (await get('big-2')).status?.conditions?.find(
          (c) => c.type === 'PodScheduled' && c.status === 'False',
        )?.message,
      'big-2 unschedulable',
    );
    // Filters stop at the first failure per node: taints and cordons are reported before the selector.
    assert.equal(
      msg,
      "0/9 nodes are available: 1 Insufficient cpu, 2 node(s) didn't match Pod's node affinity/selector, 3 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 3 node(s) were unschedulable. preemption: 0/9 nodes are available: 1 No preemption victims found for incoming pod, 8 Preemption is not helpful for scheduling.",
    );
    const r = await h.api.delete(pods, 'default', 'big-1', {});
    assert.equal(r.deleted, false, 'a bound pod is deleted gracefully');
    await sched.idle();
    assert.equal((await get('big-2')).spec.nodeName, undefined);
    await h.api.delete(pods, 'default', 'big-1', { gracePeriodSeconds: 0 });
    assert.equal(await boundNode('big-2'), 'small');
  });

  test('allocatable pods caps the pod count', async () => {
    await createNode(h.api, 'tiny', { pods: '1', labels: { size: 'tiny' } });
    await h.api.create(pods, 'default', pod('t-1', { nodeSelector: { size: 'tiny' } }));
    assert.equal(await boundNode('t-1'), 'tiny');
    await h.api.create(pods, 'default', pod('t-2', { nodeSelector: { size: 'tiny' } }));
    const msg = await waitFor(
      async () =>
        (await get('t-2')).status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'False')
          ?.message,
      't-2 unschedulable',
    );
    assert.match(msg, /1 Too many pods/);
  });

  test('a pod for another scheduler is left alone', async () => {
    await h.api.create(pods, 'default', pod('other', { spec: { schedulerName: 'my-scheduler' } }));
    await sched.idle();
    const got = await get('other');
    assert.equal(got.spec.nodeName, undefined);
    assert.equal(got.status?.conditions, undefined);
    const n = (await h.api.get(nodes, undefined, 'worker-1')) as Node;
    assert.ok(n);
  });
});
