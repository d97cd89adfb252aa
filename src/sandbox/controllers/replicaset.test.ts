// The ReplicaSet controller with the scheduler and a stand-in kubelet on a real etcd.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startApiHarness, type ApiHarness } from '../../../test/support/api-harness.ts';
import { resource } from '../apiserver/resources.ts';
import type { KubeEvent, Pod, ReplicaSet } from '../apiserver/types.ts';
import { isPodActive } from './pod-util.ts';
import { ReplicaSetController } from './replicaset.ts';
import { Scheduler } from './scheduler.ts';
import { createNode, setPodReady, TinyKubelet, waitFor, waitForEvents } from './testing/sim.ts';

const pods = resource('pods');
const replicasets = resource('replicasets');

function rs(name: string, replicas: number): ReplicaSet {
  return {
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name, tier: 'web' } },
        spec: { containers: [{ name: 'c', image: 'nginx:1.27' }] },
      },
    },
  };
}

describe('replicaset controller', () => {
  let h: ApiHarness;
  let kubelet: TinyKubelet;
  const controllers: { stop(): void }[] = [];
  const podsOf = (name: string): Pod[] =>
    h.informers.pods.list('default').filter((p) => p.metadata.labels?.['app'] === name);
  const status = async (name: string): Promise<ReplicaSet['status']> =>
    ((await h.api.get(replicasets, 'default', name)) as ReplicaSet).status;

  before(async () => {
    h = await startApiHarness();
    await createNode(h.api, 'worker-1');
    await createNode(h.api, 'worker-2');
    const s = new Scheduler(h.ctx);
    const r = new ReplicaSetController(h.ctx);
    controllers.push(s, r);
    s.start();
    r.start();
    kubelet = new TinyKubelet(h.api, h.informers);
    await h.startInformers();
  });
  after(async () => {
    for (const c of controllers) c.stop();
    kubelet.stop();
    await h.stop();
  });

  test('creates spec.replicas pods named <rs>-<5 chars> from the template, controlled by the RS, and reports status', async () => {
    await h.api.create(replicasets, 'default', rs('web', 3));
    const st = await waitFor(async () => {
      const s = await status('web');
      return s?.availableReplicas === 3 ? s : undefined;
    }, 'web to have 3 available replicas');
    assert.deepEqual(st, {
      replicas: 3,
      fullyLabeledReplicas: 3,
      readyReplicas: 3,
      availableReplicas: 3,
      observedGeneration: 1,
    });
    const ps = podsOf('web');
    assert.equal(ps.length, 3);
    const owner = (await h.api.get(replicasets, 'default', 'web')).metadata.uid;
    for (const p of ps) {
      assert.match(p.metadata.name ?? '', /^web-[bcdfghjklmnpqrstvwxz2456789]{5}$/);
      assert.deepEqual(p.metadata.labels, { app: 'web', tier: 'web' });
      assert.deepEqual(p.metadata.ownerReferences, [
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          name: 'web',
          uid: owner,
          controller: true,
          blockOwnerDeletion: true,
        },
      ]);
    }
    const isCreate = (e: KubeEvent): boolean =>
      e.reason === 'SuccessfulCreate' && e.involvedObject.name === 'web';
    const created = (
      await waitForEvents(
        h.api,
        'default',
        (evs) => evs.filter(isCreate).length >= 3,
        '3 SuccessfulCreate events',
      )
    ).filter(isCreate);
    assert.equal(created.length, 3);
    assert.match(created[0]?.message ?? '', /^Created pod: web-/);
  });

  test('an evicted pod that is still terminating is replaced at once', async () => {
    kubelet.opts.finishDeletes = false;
    const victim = podsOf('web')[0]?.metadata.name ?? '';
    await h.api.evict('default', victim, { metadata: { name: victim } });
    const all = await waitFor(() => {
      const ps = podsOf('web');
      return ps.length === 4 && ps.filter(isPodActive).length === 3 ? ps : undefined;
    }, 'a replacement beside the terminating pod');
    assert.ok(all.find((p) => p.metadata.name === victim)?.metadata.deletionTimestamp);
    kubelet.opts.finishDeletes = true;
    kubelet.poke();
    await waitFor(
      () => podsOf('web').length === 3 && !podsOf('web').some((p) => p.metadata.name === victim),
      'the evicted pod to go',
    );
    await waitFor(async () => (await status('web'))?.readyReplicas === 3, '3 ready again');
  });

  test('scaling down deletes not-ready pods first, with SuccessfulDelete events', async () => {
    const notReady = podsOf('web')[1]?.metadata.name ?? '';
    await setPodReady(h.api, 'default', notReady, false);
    await waitFor(async () => (await status('web'))?.readyReplicas === 2, 'readyReplicas 2');
    await h.api.patch(replicasets, 'default', 'web', 'merge', { spec: { replicas: 2 } });
    await waitFor(() => podsOf('web').length === 2, '2 pods');
    assert.ok(!podsOf('web').some((p) => p.metadata.name === notReady), 'the not-ready pod went first');
    const st = await waitFor(async () => {
      const s = await status('web');
      return s?.observedGeneration === 2 && s.replicas === 2 ? s : undefined;
    }, 'status for generation 2');
    assert.equal(st.readyReplicas, 2);
    const deleted = (
      await waitForEvents(
        h.api,
        'default',
        (evs) => evs.some((e) => e.reason === 'SuccessfulDelete'),
        'SuccessfulDelete',
      )
    ).find((e) => e.reason === 'SuccessfulDelete');
    assert.equal(deleted?.message, `Deleted pod: ${notReady}`);
  });

  test('a pod relabelled out of the selector is released and replaced; a matching orphan is adopted', async () => {
    const released = podsOf('web')[0]?.metadata.name ?? '';
    await h.api.patch(pods, 'default', released, 'merge', { metadata: { labels: { app: 'other' } } });
    await waitFor(
      async () => (await h.api.get(pods, 'default', released)).metadata.ownerReferences === undefined,
      'release',
    );
    await waitFor(() => podsOf('web').filter(isPodActive).length === 2, 'a replacement');
    // The adopted stray may be the very pod the RS then deletes (it is the newest), so watch for the adoption.
    let adopted = false;
    h.informers.pods.on((_t, p) => {
      if (p.metadata.name === 'stray' && p.metadata.ownerReferences?.[0]?.name === 'web') adopted = true;
    });
    await h.api.create(pods, 'default', {
      metadata: { name: 'stray', labels: { app: 'web' } },
      spec: { containers: [{ name: 'c', image: 'nginx' }] },
    });
    await waitFor(() => adopted, 'adoption');
    // Now one too many: the RS scales itself back to 2.
    await waitFor(() => podsOf('web').filter(isPodActive).length === 2, 'back to 2 active pods');
  });
});
