// The garbage collector, pod GC and namespace controller with the workload controllers, the
// scheduler and a stand-in kubelet: cascading deletion as kube-apiserver's clients observe it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startApiHarness, type ApiHarness } from '../../../test/support/api-harness.ts';
import { resource } from '../apiserver/resources.ts';
import type { Deployment, KubeObject, Pod, ReplicaSet } from '../apiserver/types.ts';
import { DeploymentController } from './deployment.ts';
import { GarbageCollector } from './garbage-collector.ts';
import { NamespaceController } from './namespace.ts';
import { PodGCController } from './pod-gc.ts';
import { ReplicaSetController } from './replicaset.ts';
import { Scheduler } from './scheduler.ts';
import { createNode, TinyKubelet, waitFor } from './testing/sim.ts';

const pods = resource('pods');
const nodes = resource('nodes');
const configmaps = resource('configmaps');
const deployments = resource('deployments');
const replicasets = resource('replicasets');
const namespaces = resource('namespaces');

function rs(name: string, replicas: number): ReplicaSet {
  return {
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'c', image: 'nginx' }] },
      },
    },
  };
}

describe('garbage collection', () => {
  let h: ApiHarness;
  let kubelet: TinyKubelet;
  const controllers: { stop(): void }[] = [];
  const podsOf = (app: string, ns = 'default'): Pod[] =>
    h.informers.pods.list(ns).filter((p) => p.metadata.labels?.['app'] === app);
  const gone = async (r: typeof pods, ns: string | undefined, name: string): Promise<boolean> =>
    (await h.api.tryGet(r, ns, name)) === undefined;
  const readyPods = (app: string, n: number): Promise<unknown> =>
    waitFor(
      () =>
        podsOf(app).filter((p) =>
          p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
        ).length === n,
      `${n} ready ${app} pods`,
    );

  before(async () => {
    h = await startApiHarness();
    await createNode(h.api, 'worker-1');
    const cs = [
      new Scheduler(h.ctx),
      new ReplicaSetController(h.ctx),
      new DeploymentController(h.ctx),
      new GarbageCollector(h.ctx),
      new PodGCController(h.ctx),
      new NamespaceController(h.ctx),
    ];
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

  test('background: deleting a Deployment removes its ReplicaSet, then the pods', async () => {
    const d: Deployment = {
      metadata: { name: 'web' },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'c', image: 'nginx' }] },
        },
      },
    };
    await h.api.create(deployments, 'default', d);
    await readyPods('web', 2);
    const r = await h.api.delete(deployments, 'default', 'web', {});
    assert.equal(r.deleted, true, 'background propagation: the owner goes at once');
    await waitFor(
      () => h.informers.replicasets.list('default').every((x) => x.metadata.labels?.['app'] !== 'web'),
      'the ReplicaSet to go',
    );
    await waitFor(() => podsOf('web').length === 0, 'the pods to go');
  });

  test('orphan: the pods stay, without their owner reference, and the ReplicaSet goes', async () => {
    await h.api.create(replicasets, 'default', rs('keep', 2));
    await readyPods('keep', 2);
    await h.api.delete(replicasets, 'default', 'keep', { propagationPolicy: 'Orphan' });
    await waitFor(() => gone(replicasets, 'default', 'keep'), 'the ReplicaSet to go');
    const left = podsOf('keep');
    assert.equal(left.length, 2);
    for (const p of left) assert.equal(p.metadata.ownerReferences, undefined);
  });

  test('foreground: the ReplicaSet waits, with its finalizer, until its pods are gone', async () => {
    await h.api.create(replicasets, 'default', rs('fg', 2));
    await readyPods('fg', 2);
    kubelet.opts.finishDeletes = false;
    await h.api.delete(replicasets, 'default', 'fg', { propagationPolicy: 'Foreground' });
    await waitFor(
      () => podsOf('fg').length === 2 && podsOf('fg').every((p) => p.metadata.deletionTimestamp),
      'the pods to be terminating',
    );
    const owner = await h.api.get(replicasets, 'default', 'fg');
    assert.deepEqual(owner.metadata.finalizers, ['foregroundDeletion']);
    assert.ok(owner.metadata.deletionTimestamp);
    kubelet.opts.finishDeletes = true;
    kubelet.poke();
    await waitFor(() => gone(replicasets, 'default', 'fg'), 'the ReplicaSet to go after its pods');
    assert.equal(podsOf('fg').length, 0);
  });

  test('a dependent whose only owner is gone is deleted; a dangling reference beside a live owner is removed', async () => {
    await h.api.create(configmaps, 'default', {
      metadata: {
        name: 'orphaned',
        ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: 'ghost', uid: 'no-such-uid' }],
      },
    });
    await waitFor(() => gone(configmaps, 'default', 'orphaned'), 'the dangling dependent to go');
    const owner = await h.api.create(configmaps, 'default', { metadata: { name: 'owner' } });
    const ownerRef = { apiVersion: 'v1', kind: 'ConfigMap', name: 'owner', uid: owner.metadata.uid ?? '' };
    await h.api.create(configmaps, 'default', {
      metadata: {
        name: 'two-owners',
        ownerReferences: [
          ownerRef,
          { apiVersion: 'v1', kind: 'ConfigMap', name: 'ghost', uid: 'no-such-uid' },
        ],
      },
    });
    const kept = await waitFor(async () => {
      const o = (await h.api.get(configmaps, 'default', 'two-owners')) as KubeObject;
      return o.metadata.ownerReferences?.length === 1 ? o : undefined;
    }, 'the dangling reference to be removed');
    assert.deepEqual(kept.metadata.ownerReferences, [ownerRef]);
  });

  test('mirror pods owned by a Node go when the Node goes (pod GC finishes them)', async () => {
    const node = await createNode(h.api, 'cp-9', { controlPlane: true });
    await h.api.create(pods, 'kube-system', {
      metadata: {
        name: 'etcd-cp-9',
        annotations: { 'kubernetes.io/config.mirror': 'abc', 'kubernetes.io/config.source': 'file' },
        ownerReferences: [
          { apiVersion: 'v1', kind: 'Node', name: 'cp-9', uid: node.metadata.uid ?? '', controller: true },
        ],
      },
      spec: { nodeName: 'cp-9', containers: [{ name: 'etcd', image: 'registry.k8s.io/etcd:3.5.16-0' }] },
    } satisfies Pod);
    kubelet.opts.nodes = (n) => n !== 'cp-9';
    await h.api.delete(nodes, undefined, 'cp-9', {});
    await waitFor(() => gone(pods, 'kube-system', 'etcd-cp-9'), 'the mirror pod to go');
    kubelet.opts.nodes = undefined;
  });

  test('a terminating namespace is emptied of every namespaced object', async () => {
    await h.api.create(namespaces, undefined, { metadata: { name: 'doomed' } });
    // The serviceaccount controller's part (it does not run here): pods need the default account.
    await h.api.create(resource('serviceaccounts'), 'doomed', { metadata: { name: 'default' } });
    await h.api.create(configmaps, 'doomed', { metadata: { name: 'cm' } });
    await h.api.create(replicasets, 'doomed', rs('svc', 2));
    await waitFor(() => podsOf('svc', 'doomed').length === 2, 'pods in doomed');
    await h.api.delete(namespaces, undefined, 'doomed', {});
    await waitFor(async () => {
      for (const r of [configmaps, replicasets, pods])
        if ((await h.api.list(r, 'doomed')).items.length > 0) return false;
      return true;
    }, 'doomed to be empty');
  });

  test('an emptied namespace is finalized and goes', async () => {
    await waitFor(() => gone(namespaces, undefined, 'doomed'), 'the namespace to go');
  });
});
