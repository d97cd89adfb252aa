// The disruption controller with the workload controllers, the scheduler and a stand-in kubelet:
// PDB status as kube computes it, through evictions and controller lookups.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startApiHarness, type ApiHarness } from '../../../test/support/api-harness.ts';
import { resource } from '../apiserver/resources.ts';
import { ApiError } from '../apiserver/status.ts';
import type { Deployment, KubeEvent, Pod, PodDisruptionBudget, ReplicaSet } from '../apiserver/types.ts';
import { DeploymentController } from './deployment.ts';
import { DisruptionController } from './disruption.ts';
import { isPodActive } from './pod-util.ts';
import { ReplicaSetController } from './replicaset.ts';
import { Scheduler } from './scheduler.ts';
import { createNode, TinyKubelet, waitFor } from './testing/sim.ts';

const pods = resource('pods');
const pdbs = resource('poddisruptionbudgets');
const deployments = resource('deployments');
const replicasets = resource('replicasets');
const events = resource('events');

type Counts = Pick<
  NonNullable<PodDisruptionBudget['status']>,
  'expectedPods' | 'desiredHealthy' | 'currentHealthy' | 'disruptionsAllowed'
>;

function deployment(name: string, replicas: number): Deployment {
  return {
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: 'c', image: 'nginx:1.27' }] },
      },
    },
  };
}

function pdb(
  name: string,
  app: string,
  spec: Omit<PodDisruptionBudget['spec'], 'selector'>,
): PodDisruptionBudget {
  return { metadata: { name }, spec: { ...spec, selector: { matchLabels: { app } } } };
}

function runningPod(
  name: string,
  app: string,
  owner?: { kind: string; apiVersion: string; uid: string; name: string },
): Pod {
  return {
    metadata: {
      name,
      labels: { app },
      ...(owner ? { ownerReferences: [{ ...owner, controller: true }] } : {}),
    },
    spec: { containers: [{ name: 'c', image: 'nginx' }], nodeName: 'worker-1', schedulerName: 'none' },
  };
}

describe('disruption controller', () => {
  let h: ApiHarness;
  let kubelet: TinyKubelet;
  const controllers: { stop(): void }[] = [];
  const status = async (name: string): Promise<NonNullable<PodDisruptionBudget['status']>> => {
    const p = (await h.api.get(pdbs, 'default', name)) as PodDisruptionBudget;
    return p.status ?? { disruptionsAllowed: -1, currentHealthy: -1, desiredHealthy: -1, expectedPods: -1 };
  };
  const counts = (s: Counts): Counts => ({
    expectedPods: s.expectedPods,
    desiredHealthy: s.desiredHealthy,
    currentHealthy: s.currentHealthy,
    disruptionsAllowed: s.disruptionsAllowed,
  });
  const settlesAt = (name: string, want: Counts): Promise<NonNullable<PodDisruptionBudget['status']>> =>
    waitFor(
      async () => {
        const s = await status(name);
        return JSON.stringify(counts(s)) === JSON.stringify(want) ? s : undefined;
      },
      `${name} status ${JSON.stringify(want)}`,
    );
  const eventsFor = async (name: string, reason: string): Promise<KubeEvent[]> =>
    ((await h.api.list(events, 'default')).items as KubeEvent[]).filter(
      (e) => e.involvedObject.name === name && e.reason === reason,
    );

  before(async () => {
    h = await startApiHarness();
    await createNode(h.api, 'worker-1');
    await createNode(h.api, 'worker-2');
    const cs = [
      new Scheduler(h.ctx),
      new ReplicaSetController(h.ctx),
      new DeploymentController(h.ctx),
      new DisruptionController(h.ctx),
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

  test('minAvailable 2 over a 3-replica Deployment allows one disruption, with the DisruptionAllowed condition', async () => {
    await h.api.create(deployments, 'default', deployment('web', 3));
    await h.api.create(pdbs, 'default', pdb('web-pdb', 'web', { minAvailable: 2 }));
    const s = await settlesAt('web-pdb', {
      expectedPods: 3,
      desiredHealthy: 2,
      currentHealthy: 3,
      disruptionsAllowed: 1,
    });
    assert.equal(s.observedGeneration, 1);
    assert.deepEqual(
      s.conditions?.map((c) => [c.type, c.status, c.reason, c.observedGeneration]),
      [['DisruptionAllowed', 'True', 'SufficientPods', 1]],
    );
  });

  test('evicting a pod: the replacement is created at once and the PDB counts the terminating pod out of currentHealthy', async () => {
    kubelet.opts.finishDeletes = false;
    const victim =
      h.informers.pods.list('default').find((p) => p.metadata.labels?.['app'] === 'web' && isPodActive(p))
        ?.metadata.name ?? '';
    await h.api.evict('default', victim, { metadata: { name: victim } });
    // The terminating pod still matches the selector, so an integer minAvailable expects 4 pods.
    const s = await settlesAt('web-pdb', {
      expectedPods: 4,
      desiredHealthy: 2,
      currentHealthy: 3,
      disruptionsAllowed: 1,
    });
    assert.equal(s.disruptedPods, undefined, 'the entry goes once the pod is seen terminating');
    kubelet.opts.finishDeletes = true;
    kubelet.poke();
    await settlesAt('web-pdb', {
      expectedPods: 3,
      desiredHealthy: 2,
      currentHealthy: 3,
      disruptionsAllowed: 1,
    });
  });

  test('an eviction whose client went away before the delete: the entry holds the running pod out of currentHealthy until DeletionTimeout, then goes with a NotDeleted event', async () => {
    await h.api.create(deployments, 'default', deployment('held', 3));
    await h.api.create(pdbs, 'default', pdb('held-pdb', 'held', { maxUnavailable: 1 }));
    await settlesAt('held-pdb', {
      expectedPods: 3,
      desiredHealthy: 2,
      currentHealthy: 3,
      disruptionsAllowed: 1,
    });
    const victim =
      h.informers.pods.list('default').find((p) => p.metadata.labels?.['app'] === 'held' && isPodActive(p))
        ?.metadata.name ?? '';
    const gone = new AbortController();
    const update = h.store.update.bind(h.store);
    h.store.update = async (...a: Parameters<typeof update>) => {
      const r = await update(...a);
      if (a[0].includes('/poddisruptionbudgets/')) gone.abort();
      return r;
    };
    try {
      await h.api
        .evict('default', victim, { metadata: { name: victim } }, { signal: gone.signal })
        .catch(() => undefined);
    } finally {
      h.store.update = update;
    }
    // The controller keeps the entry: the pod runs, not deleted, and counts for nothing.
    const held = await settlesAt('held-pdb', {
      expectedPods: 3,
      desiredHealthy: 2,
      currentHealthy: 2,
      disruptionsAllowed: 0,
    });
    assert.deepEqual(Object.keys(held.disruptedPods ?? {}), [victim]);
    assert.ok(!((await h.api.get(pods, 'default', victim)) as Pod).metadata.deletionTimestamp);
    // Two minutes later (the entry is made older here rather than waited for), it is dropped.
    const cur = (await h.api.get(pdbs, 'default', 'held-pdb')) as PodDisruptionBudget;
    await h.api.update(
      pdbs,
      'default',
      'held-pdb',
      {
        ...cur,
        status: {
          ...(cur.status ?? held),
          disruptedPods: { [victim]: new Date(Date.now() - 121_000).toISOString().replace(/\.\d{3}Z$/, 'Z') },
        },
      },
      { subresource: 'status' },
    );
    const after = await settlesAt('held-pdb', {
      expectedPods: 3,
      desiredHealthy: 2,
      currentHealthy: 3,
      disruptionsAllowed: 1,
    });
    assert.equal(after.disruptedPods, undefined);
    await waitFor(
      async () => (await eventsFor(victim, 'NotDeleted')).length > 0 || undefined,
      'a NotDeleted event',
    );
    assert.equal(
      (await eventsFor(victim, 'NotDeleted'))[0]?.message,
      "Pod was expected by PDB default/default to be deleted but it wasn't",
    );
  });

  test('a PDB with no disruption allowed blocks the eviction with 429', async () => {
    await h.api.create(deployments, 'default', deployment('db', 2));
    await h.api.create(pdbs, 'default', pdb('db-pdb', 'db', { maxUnavailable: 0 }));
    await settlesAt('db-pdb', {
      expectedPods: 2,
      desiredHealthy: 2,
      currentHealthy: 2,
      disruptionsAllowed: 0,
    });
    const victim =
      h.informers.pods.list('default').find((p) => p.metadata.labels?.['app'] === 'db')?.metadata.name ?? '';
    const err = await h.api.evict('default', victim, { metadata: { name: victim } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(err instanceof ApiError && err.code === 429, String(err));
    const s = await status('db-pdb');
    assert.deepEqual(
      s.conditions?.map((c) => [c.status, c.reason]),
      [['False', 'InsufficientPods']],
    );
  });

  test('maxUnavailable and a percentage use the controller scale (Deployment through its ReplicaSet, a bare ReplicaSet)', async () => {
    await h.api.create(pdbs, 'default', pdb('web-max', 'web', { maxUnavailable: 1 }));
    await settlesAt('web-max', {
      expectedPods: 3,
      desiredHealthy: 2,
      currentHealthy: 3,
      disruptionsAllowed: 1,
    });
    await h.api.create(replicasets, 'default', {
      metadata: { name: 'bare' },
      spec: {
        replicas: 4,
        selector: { matchLabels: { app: 'bare' } },
        template: {
          metadata: { labels: { app: 'bare' } },
          spec: { containers: [{ name: 'c', image: 'x' }] },
        },
      },
    } satisfies ReplicaSet);
    await h.api.create(pdbs, 'default', pdb('bare-pct', 'bare', { minAvailable: '50%' }));
    await settlesAt('bare-pct', {
      expectedPods: 4,
      desiredHealthy: 2,
      currentHealthy: 4,
      disruptionsAllowed: 2,
    });
  });

  test('unmanaged pods under maxUnavailable count for nothing and are reported', async () => {
    await h.api.create(pods, 'default', runningPod('lonely', 'lonely'));
    await h.api.create(pdbs, 'default', pdb('lonely-pdb', 'lonely', { maxUnavailable: 1 }));
    await settlesAt('lonely-pdb', {
      expectedPods: 0,
      desiredHealthy: 0,
      currentHealthy: 1,
      disruptionsAllowed: 0,
    });
    const ev = await waitFor(
      async () => (await eventsFor('lonely-pdb', 'UnmanagedPods'))[0],
      'UnmanagedPods event',
    );
    assert.equal(ev.type, 'Warning');
    assert.match(
      ev.message ?? '',
      /^Pods selected by this PodDisruptionBudget \(selector: &LabelSelector\{MatchLabels:map\[string\]string\{app: lonely,\},/,
    );
  });

  test('a controller that cannot be found or has no scale: the fail-safe with SyncFailed', async () => {
    await h.api.create(
      pods,
      'default',
      runningPod('ds-pod', 'agent', {
        kind: 'DaemonSet',
        apiVersion: 'apps/v1',
        uid: 'ds-uid',
        name: 'agent',
      }),
    );
    await h.api.create(pdbs, 'default', pdb('agent-pdb', 'agent', { maxUnavailable: 1 }));
    const s = await waitFor(async () => {
      const st = await status('agent-pdb');
      return st.conditions?.some((c) => c.reason === 'SyncFailed') ? st : undefined;
    }, 'SyncFailed');
    assert.equal(s.disruptionsAllowed, 0);
    assert.deepEqual(
      s.conditions?.map((c) => [c.type, c.status, c.reason, c.message]),
      [
        [
          'DisruptionAllowed',
          'False',
          'SyncFailed',
          'daemonsets.apps does not implement the scale subresource',
        ],
      ],
    );
    const ev = await waitFor(
      async () => (await eventsFor('agent-pdb', 'CalculateExpectedPodCountFailed'))[0],
      'CalculateExpectedPodCountFailed event',
    );
    assert.equal(
      ev.message,
      'Failed to calculate the number of expected pods: daemonsets.apps does not implement the scale subresource',
    );

    await h.api.create(
      pods,
      'default',
      runningPod('orphan', 'orphan', {
        kind: 'ReplicaSet',
        apiVersion: 'apps/v1',
        uid: 'gone-uid',
        name: 'gone',
      }),
    );
    await h.api.create(pdbs, 'default', pdb('orphan-pdb', 'orphan', { minAvailable: '50%' }));
    const s2 = await waitFor(async () => {
      const st = await status('orphan-pdb');
      return st.conditions?.find((c) => c.reason === 'SyncFailed');
    }, 'SyncFailed for the orphan');
    assert.equal(s2.message, 'found no controllers for pod "orphan"');
  });

  test('a PDB matching no pods says so', async () => {
    await h.api.create(pdbs, 'default', pdb('empty', 'nothing-here', { minAvailable: 1 }));
    await settlesAt('empty', {
      expectedPods: 0,
      desiredHealthy: 1,
      currentHealthy: 0,
      disruptionsAllowed: 0,
    });
    const ev = await waitFor(async () => (await eventsFor('empty', 'NoPods'))[0], 'NoPods event');
    assert.equal(ev.message, 'No matching pods found');
  });
});
