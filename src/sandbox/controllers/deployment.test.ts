// The Deployment controller with the ReplicaSet controller, the scheduler and a stand-in kubelet.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startApiHarness, type ApiHarness } from '../../../test/support/api-harness.ts';
import { resource } from '../apiserver/resources.ts';
import type { Deployment, KubeEvent, Pod, ReplicaSet } from '../apiserver/types.ts';
import { DeploymentController } from './deployment.ts';
import { isPodActive, isPodReady } from './pod-util.ts';
import { ReplicaSetController } from './replicaset.ts';
import { Scheduler } from './scheduler.ts';
import { createNode, TinyKubelet, waitFor, waitForEvents } from './testing/sim.ts';

const deployments = resource('deployments');

function deployment(
  name: string,
  o: {
    replicas?: number;
    image?: string;
    strategy?: Deployment['spec']['strategy'];
    revisionHistoryLimit?: number;
  } = {},
): Deployment {
  return {
    metadata: { name },
    spec: {
      replicas: o.replicas ?? 3,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'c', image: o.image ?? 'nginx:1.27' }] },
      },
      ...(o.strategy ? { strategy: o.strategy } : {}),
      ...(o.revisionHistoryLimit !== undefined ? { revisionHistoryLimit: o.revisionHistoryLimit } : {}),
    },
  };
}

describe('deployment controller', () => {
  let h: ApiHarness;
  let kubelet: TinyKubelet;
  const controllers: { stop(): void }[] = [];
  const rsOf = (name: string): ReplicaSet[] =>
    h.informers.replicasets.list('default').filter((rs) => rs.metadata.ownerReferences?.[0]?.name === name);
  const podsOf = (name: string): Pod[] =>
    h.informers.pods.list('default').filter((p) => p.metadata.labels?.['app'] === name);
  const get = async (name: string): Promise<Deployment> =>
    (await h.api.get(deployments, 'default', name)) as Deployment;
  const rolledOut = (name: string, generation: number): Promise<Deployment> =>
    waitFor(async () => {
      const d = await get(name);
      const p = d.status?.conditions?.find((c) => c.type === 'Progressing');
      return d.status?.observedGeneration === generation &&
        p?.reason === 'NewReplicaSetAvailable' &&
        d.status.updatedReplicas === d.spec.replicas &&
        d.status.replicas === d.spec.replicas
        ? d
        : undefined;
    }, `${name} generation ${generation} rolled out`);

  before(async () => {
    h = await startApiHarness();
    await createNode(h.api, 'worker-1');
    await createNode(h.api, 'worker-2');
    const cs = [new Scheduler(h.ctx), new ReplicaSetController(h.ctx), new DeploymentController(h.ctx)];
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

  test("a Deployment gets a ReplicaSet named by its pod-template-hash, revision 1, and kube's status and conditions", async () => {
    await h.api.create(deployments, 'default', deployment('web'));
    const d = await rolledOut('web', 1);
    const [rs] = rsOf('web');
    assert.ok(rs);
    const hash = rs.metadata.labels?.['pod-template-hash'] ?? '';
    assert.match(hash, /^[bcdfghjklmnpqrstvwxz2456789]{1,10}$/);
    assert.equal(rs.metadata.name, `web-${hash}`);
    assert.deepEqual(rs.spec.selector, { matchLabels: { app: 'web', 'pod-template-hash': hash } });
    assert.deepEqual(rs.spec.template.metadata?.labels, { app: 'web', 'pod-template-hash': hash });
    assert.deepEqual(rs.metadata.annotations, {
      'deployment.kubernetes.io/revision': '1',
      'deployment.kubernetes.io/desired-replicas': '3',
      'deployment.kubernetes.io/max-replicas': '4',
    });
    assert.equal(d.metadata.annotations?.['deployment.kubernetes.io/revision'], '1');
    const { conditions, ...counts } = d.status ?? {};
    assert.deepEqual(counts, {
      observedGeneration: 1,
      replicas: 3,
      updatedReplicas: 3,
      readyReplicas: 3,
      availableReplicas: 3,
    });
    assert.deepEqual(
      conditions?.map((c) => [c.type, c.status, c.reason, c.message]),
      [
        ['Available', 'True', 'MinimumReplicasAvailable', 'Deployment has minimum availability.'],
        [
          'Progressing',
          'True',
          'NewReplicaSetAvailable',
          `ReplicaSet "web-${hash}" has successfully progressed.`,
        ],
      ],
    );
    const isScaled = (e: KubeEvent): boolean =>
      e.reason === 'ScalingReplicaSet' && e.involvedObject.name === 'web';
    const scaled = (
      await waitForEvents(h.api, 'default', (evs) => evs.some(isScaled), 'ScalingReplicaSet')
    ).find(isScaled);
    assert.equal(scaled?.message, `Scaled up replica set web-${hash} from 0 to 3`);
    assert.equal(scaled?.source?.component, 'deployment-controller');
  });

  test('a template change rolls out within maxSurge 1 / maxUnavailable 0 and keeps revisionHistoryLimit', async () => {
    await h.api.create(deployments, 'default', deployment('roll', { revisionHistoryLimit: 1 }));
    await rolledOut('roll', 1);
    let maxActive = 0;
    let minReady = Infinity;
    let watching = true;
    h.informers.pods.on(() => {
      if (!watching) return;
      const ps = podsOf('roll');
      maxActive = Math.max(maxActive, ps.filter(isPodActive).length);
      minReady = Math.min(minReady, ps.filter((p) => isPodActive(p) && isPodReady(p)).length);
    });
    await h.api.patch(deployments, 'default', 'roll', 'merge', {
      spec: { template: { spec: { containers: [{ name: 'c', image: 'nginx:1.28' }] } } },
    });
    const d = await rolledOut('roll', 2);
    await waitFor(() => podsOf('roll').length === 3, 'the old pods to go');
    watching = false;
    assert.ok(maxActive <= 4, `at most replicas + maxSurge active pods, saw ${maxActive}`);
    assert.ok(minReady >= 3, `never below replicas - maxUnavailable ready pods, saw ${minReady}`);
    assert.equal(d.metadata.annotations?.['deployment.kubernetes.io/revision'], '2');
    const rss = rsOf('roll');
    const newRS = rss.find((rs) => rs.spec.template.spec.containers[0]?.image === 'nginx:1.28');
    const oldRS = rss.find((rs) => rs.spec.template.spec.containers[0]?.image === 'nginx:1.27');
    assert.equal(newRS?.metadata.annotations?.['deployment.kubernetes.io/revision'], '2');
    assert.equal(oldRS?.spec.replicas, 0);
    for (const p of podsOf('roll')) assert.equal(p.spec.containers[0]?.image, 'nginx:1.28');
    // A third template: the revision-1 ReplicaSet is beyond revisionHistoryLimit 1 and goes.
    await h.api.patch(deployments, 'default', 'roll', 'merge', {
      spec: { template: { spec: { containers: [{ name: 'c', image: 'nginx:1.29' }] } } },
    });
    await rolledOut('roll', 3);
    await waitFor(() => rsOf('roll').length === 2, 'two ReplicaSets left');
    assert.deepEqual(
      rsOf('roll')
        .map((rs) => rs.spec.template.spec.containers[0]?.image)
        .sort(),
      ['nginx:1.28', 'nginx:1.29'],
    );
  });

  test('Recreate scales the old ReplicaSet to 0 and creates the new one only when its pods are gone', async () => {
    await h.api.create(
      deployments,
      'default',
      deployment('rec', { replicas: 2, strategy: { type: 'Recreate' } }),
    );
    await rolledOut('rec', 1);
    let oldPodsWhenNewRS = -1;
    h.informers.replicasets.on((type, rs) => {
      if (
        type === 'ADDED' &&
        rs.metadata.ownerReferences?.[0]?.name === 'rec' &&
        rs.spec.template.spec.containers[0]?.image === 'nginx:1.28'
      ) {
        oldPodsWhenNewRS = podsOf('rec').filter((p) => p.spec.containers[0]?.image === 'nginx:1.27').length;
      }
    });
    await h.api.patch(deployments, 'default', 'rec', 'merge', {
      spec: { template: { spec: { containers: [{ name: 'c', image: 'nginx:1.28' }] } } },
    });
    await rolledOut('rec', 2);
    assert.equal(oldPodsWhenNewRS, 0);
  });

  test('scaling a Deployment scales its ReplicaSet', async () => {
    await h.api.patch(deployments, 'default', 'web', 'merge', { spec: { replicas: 1 } });
    const d = await rolledOut('web', 2);
    assert.equal(d.status?.availableReplicas, 1);
    await waitFor(() => podsOf('web').length === 1, 'one pod');
    assert.equal(rsOf('web')[0]?.metadata.annotations?.['deployment.kubernetes.io/desired-replicas'], '1');
  });
});
