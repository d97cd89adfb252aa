// The StatefulSet controller with the scheduler and a stand-in kubelet.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startApiHarness, type ApiHarness } from '../../../test/support/api-harness.ts';
import { resource } from '../apiserver/resources.ts';
import type { Pod, StatefulSet } from '../apiserver/types.ts';
import { SIM_ANNOTATIONS } from '../timing.ts';
import { isPodReady } from './pod-util.ts';
import { Scheduler } from './scheduler.ts';
import { ordinalOf, StatefulSetController } from './statefulset.ts';
import { createNode, TinyKubelet, waitFor } from './testing/sim.ts';

const statefulsets = resource('statefulsets');

function sts(
  name: string,
  o: { replicas?: number; policy?: 'OrderedReady' | 'Parallel'; neverReady?: boolean } = {},
): StatefulSet {
  return {
    metadata: { name },
    spec: {
      replicas: o.replicas ?? 3,
      serviceName: name,
      ...(o.policy ? { podManagementPolicy: o.policy } : {}),
      selector: { matchLabels: { app: name } },
      template: {
        metadata: {
          labels: { app: name },
          ...(o.neverReady ? { annotations: { [SIM_ANNOTATIONS.ready]: 'false' } } : {}),
        },
        spec: { containers: [{ name: 'c', image: 'db:1' }] },
      },
    },
  };
}

test('ordinals are parsed only from <set>-<n>', () => {
  assert.equal(ordinalOf('web', 'web-0'), 0);
  assert.equal(ordinalOf('web', 'web-12'), 12);
  assert.equal(ordinalOf('web', 'web-01'), undefined);
  assert.equal(ordinalOf('web', 'webx-1'), undefined);
  assert.equal(ordinalOf('web', 'web-1-2'), undefined);
});

describe('statefulset controller', () => {
  let h: ApiHarness;
  let kubelet: TinyKubelet;
  let sc: StatefulSetController;
  const controllers: { stop(): void }[] = [];
  const pod = (name: string): Pod | undefined => h.informers.pods.get(`default/${name}`);
  const podsOf = (name: string): Pod[] =>
    h.informers.pods.list('default').filter((p) => p.metadata.labels?.['app'] === name);
  const status = async (name: string): Promise<StatefulSet['status']> =>
    ((await h.api.get(statefulsets, 'default', name)) as StatefulSet).status;

  before(async () => {
    h = await startApiHarness();
    await createNode(h.api, 'worker-1');
    await createNode(h.api, 'worker-2');
    sc = new StatefulSetController(h.ctx);
    const cs = [new Scheduler(h.ctx), sc];
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

  test('OrderedReady creates web-i only once web-0..i-1 are Running and Ready; identity labels and status', async () => {
    const violations: string[] = [];
    h.informers.pods.on((type, p) => {
      if (type !== 'ADDED' || p.metadata.labels?.['app'] !== 'web') return;
      const ord = ordinalOf('web', p.metadata.name ?? '') ?? 0;
      for (let i = 0; i < ord; i++) {
        const prev = pod(`web-${i}`);
        if (!prev || !isPodReady(prev) || prev.status?.phase !== 'Running')
          violations.push(`web-${ord} before web-${i} was ready`);
      }
    });
    await h.api.create(statefulsets, 'default', sts('web'));
    const st = await waitFor(async () => {
      const s = await status('web');
      return s?.readyReplicas === 3 && s.availableReplicas === 3 ? s : undefined;
    }, 'web to have 3 ready replicas');
    assert.deepEqual(violations, []);
    const rev = st['updateRevision'] as string;
    assert.match(rev, /^web-[bcdfghjklmnpqrstvwxz2456789]+$/);
    assert.deepEqual(st, {
      observedGeneration: 1,
      replicas: 3,
      readyReplicas: 3,
      currentReplicas: 3,
      updatedReplicas: 3,
      currentRevision: rev,
      updateRevision: rev,
      collisionCount: 0,
      availableReplicas: 3,
    });
    const p1 = pod('web-1') as Pod;
    assert.deepEqual(p1.metadata.labels, {
      app: 'web',
      'controller-revision-hash': rev,
      'statefulset.kubernetes.io/pod-name': 'web-1',
      'apps.kubernetes.io/pod-index': '1',
    });
    assert.equal(p1.spec['hostname'], 'web-1');
    assert.equal(p1.spec['subdomain'], 'web');
  });

  test('an evicted web-1 is recreated under the same name only after the old one is gone', async () => {
    kubelet.opts.finishDeletes = false;
    const old = pod('web-1') as Pod;
    await h.api.evict('default', 'web-1', { metadata: { name: 'web-1' } });
    await waitFor(() => pod('web-1')?.metadata.deletionTimestamp, 'web-1 terminating');
    let gone = false;
    let recreatedEarly = false;
    h.informers.pods.on((type, p) => {
      if (type === 'DELETED' && p.metadata.uid === old.metadata.uid) gone = true;
      if (type === 'ADDED' && p.metadata.name === 'web-1' && p.metadata.uid !== old.metadata.uid && !gone)
        recreatedEarly = true;
    });
    await sc.idle();
    assert.equal(pod('web-1')?.metadata.uid, old.metadata.uid, 'still the old, terminating web-1');
    kubelet.opts.finishDeletes = true;
    kubelet.poke();
    const fresh = await waitFor(() => {
      const p = pod('web-1');
      return p && p.metadata.uid !== old.metadata.uid && isPodReady(p) ? p : undefined;
    }, 'a new web-1');
    assert.equal(recreatedEarly, false);
    assert.ok(gone);
    assert.equal(fresh.metadata.labels?.['statefulset.kubernetes.io/pod-name'], 'web-1');
  });

  test('scaling down removes the highest ordinal first, one at a time', async () => {
    const order: string[] = [];
    h.informers.pods.on((type, p) => {
      if (
        type === 'MODIFIED' &&
        p.metadata.labels?.['app'] === 'web' &&
        p.metadata.deletionTimestamp &&
        !order.includes(p.metadata.name ?? '')
      )
        order.push(p.metadata.name ?? '');
    });
    await h.api.patch(statefulsets, 'default', 'web', 'merge', { spec: { replicas: 1 } });
    await waitFor(() => podsOf('web').length === 1, 'one pod left');
    assert.deepEqual(order, ['web-2', 'web-1']);
    assert.ok(pod('web-0'));
  });

  test('Parallel creates every pod at once, ready or not', async () => {
    await h.api.create(statefulsets, 'default', sts('par', { policy: 'Parallel', neverReady: true }));
    await waitFor(() => podsOf('par').length === 3, 'three pods');
    assert.ok(podsOf('par').every((p) => !isPodReady(p)));
    const ordered = sts('ord', { neverReady: true });
    await h.api.create(statefulsets, 'default', ordered);
    await waitFor(() => pod('ord-0')?.status?.phase === 'Running', 'ord-0 running (not ready)');
    await sc.idle();
    assert.equal(podsOf('ord').length, 1, 'OrderedReady waits for ord-0 to be ready');
  });

  test('RollingUpdate replaces pods from the highest ordinal down and then makes the update revision current', async () => {
    await h.api.create(statefulsets, 'default', sts('ru'));
    const first = await waitFor(async () => {
      const s = await status('ru');
      return s?.readyReplicas === 3 ? s : undefined;
    }, 'ru ready');
    const order: string[] = [];
    h.informers.pods.on((type, p) => {
      if (type === 'DELETED' && p.metadata.labels?.['app'] === 'ru') order.push(p.metadata.name ?? '');
    });
    await h.api.patch(statefulsets, 'default', 'ru', 'merge', {
      spec: { template: { spec: { containers: [{ name: 'c', image: 'db:2' }] } } },
    });
    const done = await waitFor(async () => {
      const s = await status('ru');
      return s?.['currentRevision'] === s?.['updateRevision'] &&
        s?.['updateRevision'] !== first['updateRevision'] &&
        s?.readyReplicas === 3
        ? s
        : undefined;
    }, 'ru rolled out');
    assert.deepEqual(order, ['ru-2', 'ru-1', 'ru-0']);
    assert.equal(done.updatedReplicas, 3);
    for (const p of podsOf('ru')) assert.equal(p.spec.containers[0]?.image, 'db:2');
  });
});
