// The DaemonSet controller with the scheduler and a stand-in kubelet.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startApiHarness, type ApiHarness } from '../../../test/support/api-harness.ts';
import { resource } from '../apiserver/resources.ts';
import type { DaemonSet, KubeObject, Pod } from '../apiserver/types.ts';
import { daemonTolerations, DaemonSetController, nodeNameAffinity } from './daemonset.ts';
import { isPodActive, isPodReady } from './pod-util.ts';
import { Scheduler } from './scheduler.ts';
import { createNode, TinyKubelet, waitFor } from './testing/sim.ts';

const daemonsets = resource('daemonsets');
const nodes = resource('nodes');
const pods = resource('pods');

function ds(name: string, spec: Partial<DaemonSet['spec']['template']['spec']> = {}): DaemonSet {
  return {
    metadata: { name },
    spec: {
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'c', image: 'agent:1' }], ...spec },
      },
    },
  };
}

describe('daemonset helpers', () => {
  test('daemon tolerations are appended, and an equal toleration is replaced rather than duplicated', () => {
    const tols = daemonTolerations({
      tolerations: [{ key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }],
    });
    assert.deepEqual(
      tols.map((t) => `${t.key}:${t.effect}`),
      [
        'node.kubernetes.io/unschedulable:NoSchedule',
        'node.kubernetes.io/not-ready:NoExecute',
        'node.kubernetes.io/unreachable:NoExecute',
        'node.kubernetes.io/disk-pressure:NoSchedule',
        'node.kubernetes.io/memory-pressure:NoSchedule',
        'node.kubernetes.io/pid-pressure:NoSchedule',
      ],
    );
    assert.ok(
      daemonTolerations({ hostNetwork: true }).some(
        (t) => t.key === 'node.kubernetes.io/network-unavailable',
      ),
    );
  });
  test('the node affinity names exactly the node', () => {
    assert.deepEqual(
      nodeNameAffinity(
        {
          nodeAffinity: {
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [{ matchExpressions: [{ key: 'a', operator: 'Exists' }] }],
            },
          },
        },
        'w1',
      ),
      {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['w1'] }] }],
          },
        },
      },
    );
  });
});

describe('daemonset controller', () => {
  let h: ApiHarness;
  let kubelet: TinyKubelet;
  const controllers: { stop(): void }[] = [];
  const podsOf = (name: string): Pod[] =>
    h.informers.pods.list('default').filter((p) => p.metadata.labels?.['app'] === name);
  const nodesOf = (name: string): string[] =>
    podsOf(name)
      .filter(isPodActive)
      .map((p) => p.spec.nodeName ?? '?')
      .sort();
  const status = async (name: string): Promise<DaemonSet['status']> =>
    ((await h.api.get(daemonsets, 'default', name)) as DaemonSet).status;

  before(async () => {
    h = await startApiHarness();
    await createNode(h.api, 'cp-1', { controlPlane: true });
    await createNode(h.api, 'worker-1');
    await createNode(h.api, 'worker-2');
    await createNode(h.api, 'worker-3', {
      unschedulable: true,
      taints: [{ key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' }],
    });
    const cs = [new Scheduler(h.ctx), new DaemonSetController(h.ctx)];
    controllers.push(...cs);
    for (const c of cs) c.start();
    kubelet = new TinyKubelet(h.api, h.informers);
    await h.startInformers();
  });
  after(async () => {
    for (const c of controllers) c.stop();
    kubelet.stop();
    await h.stop();
  });

  test('one pod per eligible node, cordoned ones included, not on the tainted control plane; bound by the scheduler', async () => {
    await h.api.create(daemonsets, 'default', ds('agent'));
    const st = await waitFor(async () => {
      const s = await status('agent');
      return s?.numberAvailable === 3 ? s : undefined;
    }, 'agent available on 3 nodes');
    assert.deepEqual(st, {
      currentNumberScheduled: 3,
      numberMisscheduled: 0,
      desiredNumberScheduled: 3,
      numberReady: 3,
      observedGeneration: 1,
      updatedNumberScheduled: 3,
      numberAvailable: 3,
    });
    assert.deepEqual(nodesOf('agent'), ['worker-1', 'worker-2', 'worker-3']);
    const p = podsOf('agent').find((x) => x.spec.nodeName === 'worker-3') as Pod;
    assert.match(p.metadata.name ?? '', /^agent-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
    assert.deepEqual(
      p.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms,
      [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['worker-3'] }] }],
    );
    assert.ok(
      p.spec.tolerations?.some(
        (t) => t.key === 'node.kubernetes.io/unschedulable' && t.effect === 'NoSchedule',
      ),
    );
    assert.equal(p.metadata.labels?.['pod-template-generation'], '1');
    const hash = p.metadata.labels?.['controller-revision-hash'] ?? '';
    const revs = (await h.api.list(resource('controllerrevisions'), 'default')).items as (KubeObject & {
      revision?: number;
    })[];
    assert.deepEqual(
      revs.map((r) => [r.metadata.name, r.revision]),
      [[`agent-${hash}`, 1]],
    );
  });

  test('a DaemonSet tolerating the control-plane taint runs there too', async () => {
    await h.api.create(
      daemonsets,
      'default',
      ds('everywhere', {
        tolerations: [
          { key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' },
        ],
      }),
    );
    await waitFor(
      () => nodesOf('everywhere').join() === 'cp-1,worker-1,worker-2,worker-3',
      'pods on all 4 nodes',
    );
  });

  test('node selector: a pod comes with the label and goes without it', async () => {
    await h.api.create(daemonsets, 'default', ds('picky', { nodeSelector: { disk: 'ssd' } }));
    await h.api.patch(nodes, undefined, 'worker-1', 'merge', { metadata: { labels: { disk: 'ssd' } } });
    await waitFor(() => nodesOf('picky').join() === 'worker-1', 'a pod on worker-1');
    await h.api.patch(nodes, undefined, 'worker-1', 'merge', { metadata: { labels: { disk: null } } });
    await waitFor(() => podsOf('picky').length === 0, 'the pod to go');
    // While the pod terminates it still counts as misscheduled; once it is gone, nothing is.
    await waitFor(async () => {
      const x = await status('picky');
      return x?.desiredNumberScheduled === 0 && x.currentNumberScheduled === 0 && x.numberMisscheduled === 0;
    }, 'picky status all zero');
  });

  test('a failed daemon pod is replaced', async () => {
    const victim = podsOf('agent').find((p) => p.spec.nodeName === 'worker-2') as Pod;
    await h.api.update(
      pods,
      'default',
      victim.metadata.name ?? '',
      { ...victim, status: { ...victim.status, phase: 'Failed' } },
      { subresource: 'status' },
    );
    await waitFor(() => {
      const on2 = podsOf('agent').filter((p) => p.spec.nodeName === 'worker-2');
      return on2.length === 1 && on2[0]?.metadata.uid !== victim.metadata.uid && isPodReady(on2[0] as Pod);
    }, 'a new ready pod on worker-2');
  });

  test('a template change rolls through the nodes one at a time (maxUnavailable 1)', async () => {
    let worst = 0;
    let watching = true;
    h.informers.pods.on(() => {
      if (!watching) return;
      const ready = new Set(
        podsOf('agent')
          .filter((p) => isPodActive(p) && isPodReady(p))
          .map((p) => p.spec.nodeName),
      );
      worst = Math.max(worst, 3 - ready.size);
    });
    await h.api.patch(daemonsets, 'default', 'agent', 'merge', {
      spec: { template: { spec: { containers: [{ name: 'c', image: 'agent:2' }] } } },
    });
    await waitFor(async () => {
      const s = await status('agent');
      return (
        s?.observedGeneration === 2 &&
        s.updatedNumberScheduled === 3 &&
        s.numberAvailable === 3 &&
        podsOf('agent').length === 3
      );
    }, 'agent:2 everywhere');
    watching = false;
    assert.ok(worst <= 1, `at most one node without a ready agent at a time, saw ${worst}`);
    for (const p of podsOf('agent')) assert.equal(p.spec.containers[0]?.image, 'agent:2');
    const revs = (await h.api.list(resource('controllerrevisions'), 'default')).items.filter((r) =>
      r.metadata.name?.startsWith('agent-'),
    );
    assert.equal(revs.length, 2);
  });

  test('the pod of a deleted node is deleted', async () => {
    await h.api.delete(nodes, undefined, 'worker-2', {});
    await waitFor(() => nodesOf('agent').join() === 'worker-1,worker-3', 'agent gone from worker-2');
    const s = await waitFor(async () => {
      const x = await status('agent');
      return x?.desiredNumberScheduled === 2 ? x : undefined;
    }, 'desired 2');
    assert.equal(s.currentNumberScheduled, 2);
  });
});
