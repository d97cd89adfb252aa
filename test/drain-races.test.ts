// bosun drain when the cluster does not hold still: pods bound to the node while the cordon is on
// its way, the node uncordoned by someone else mid-drain, an API server that goes silent, and a
// budget held down by an eviction that never deleted its pod. One sandbox for the file; worker-2
// and worker-3 carry a PreferNoSchedule taint, so new pods go to worker-1 while it is schedulable
// and elsewhere once it is cordoned.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { bosunOn, getNode, pods } from './support/drain.ts';
import { eventually, startTestSandbox, type TestSandbox } from './support/sandbox.ts';
import type { Pod } from '../src/kube/types.ts';

function deployment(
  name: string,
  replicas: number,
  o: { stopSeconds?: string; grace?: number } = {},
): string {
  return JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace: 'default' },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: {
          labels: { app: name },
          ...(o.stopSeconds ? { annotations: { 'sandbox.bosun.dev/stop-seconds': o.stopSeconds } } : {}),
        },
        spec: {
          terminationGracePeriodSeconds: o.grace ?? 5,
          containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }],
        },
      },
    },
  });
}

function live(list: Pod[], app: string): Pod[] {
  return list.filter(
    (p) =>
      p.metadata.labels?.['app'] === app &&
      !p.metadata.deletionTimestamp &&
      p.status?.phase !== 'Succeeded' &&
      p.status?.phase !== 'Failed',
  );
}

const bosunAnnotations = (n: { metadata: { annotations?: Record<string, string> } }): string[] =>
  Object.keys(n.metadata.annotations ?? {}).filter((k) => k.startsWith('bosun.dev/'));

describe('bosun drain while the cluster moves', () => {
  let t: TestSandbox;
  const ok = async (args: string[], input?: string): Promise<void> => {
    const r = await t.kubectl(args, input !== undefined ? { input } : {});
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
  };
  const running = async (app: string, node: string, n: number): Promise<void> => {
    await eventually(
      `${n} ${app} pods running on ${node}`,
      async () => live(await pods(t, node), app).filter((p) => p.status?.phase === 'Running').length === n,
      60_000,
    );
  };
  /** Runs n pods of a Deployment on worker-1 (the other workers cordoned meanwhile), then lets the others take pods again. */
  const onWorker1 = async (app: string, n: number, manifest: string | undefined): Promise<void> => {
    for (const w of ['worker-2', 'worker-3']) await ok(['cordon', w]);
    try {
      if (manifest !== undefined) await ok(['create', '--validate=false', '-f', '-'], manifest);
      else {
        // Its pods went elsewhere: start them over, on worker-1.
        await ok(['scale', 'deployment', app, '--replicas', '0']);
        await ok(['scale', 'deployment', app, '--replicas', String(n)]);
      }
      await running(app, 'worker-1', n);
    } finally {
      for (const w of ['worker-2', 'worker-3']) await ok(['uncordon', w]);
    }
  };

  before(async () => {
    t = await startTestSandbox({
      controlPlanes: 1,
      workers: 3,
      workload: 'none',
      timing: { nodeMonitorGraceMs: 15_000 },
    });
    for (const w of ['worker-2', 'worker-3']) await ok(['taint', 'nodes', w, 'spare=yes:PreferNoSchedule']);
  });
  after(async () => {
    await t?.stop();
  });
  beforeEach(async () => {
    t.sb.clearFaults();
    await t.kubectl(['uncordon', 'worker-1']);
  });

  test('pods bound to the node while the cordon is held back are evicted too; "drained" means none is left', async () => {
    await ok(['create', '--validate=false', '-f', '-'], deployment('race', 2, { grace: 1 }));
    await running('race', 'worker-1', 2);
    const slow = t.sb.addFault({
      match: { verb: 'patch', resource: 'nodes', name: 'worker-1' },
      delayMs: 4000,
      times: 1,
    });
    const draining = bosunOn(t, ['drain', 'worker-1', '--pod-selector', 'app=race']);
    await eventually(
      'the cordon to be held back',
      () => t.sb.listFaults().find((f) => f.id === slow)?.fired === 1,
    );
    // A rollout scales the Deployment up meanwhile: the scheduler still puts the pods on worker-1.
    await ok(['scale', 'deployment', 'race', '--replicas', '20']);
    await eventually(
      'new pods bound to worker-1 before the cordon',
      async () => live(await pods(t, 'worker-1'), 'race').length > 2,
      4000,
    );
    const r = await draining;
    assert.equal(r.code, 0, r.err.join('\n'));
    assert.equal(r.out.at(-1), 'node/worker-1 drained');
    assert.ok(r.out.filter((l) => /^pod\/race-\S+ evicted$/.test(l)).length > 2, r.out.join('\n'));
    assert.deepEqual(
      live(await pods(t, 'worker-1'), 'race').map((p) => p.metadata.name),
      [],
    );
    await ok(['delete', 'deployment', 'race']);
  });

  test('the node uncordoned by someone else mid-drain: bosun stops, says so, and leaves no annotation of its own; --recordon cordons it again and finishes', async () => {
    await onWorker1('slow', 3, deployment('slow', 3, { stopSeconds: '3', grace: 10 }));
    const draining = bosunOn(t, ['drain', 'worker-1', '--pod-selector', 'app=slow']);
    await eventually('the pods terminating', async () =>
      (await pods(t, 'worker-1')).some(
        (p) => p.metadata.labels?.['app'] === 'slow' && p.metadata.deletionTimestamp,
      ),
    );
    await ok(['uncordon', 'worker-1']);
    const r = await draining;
    assert.equal(r.code, 1);
    assert.match(
      r.err.find((l) => l.startsWith('error: ')) ?? '',
      /^error: node "worker-1" was uncordoned .* while it was being drained; stopped with \d pod\(s\) left$/,
    );
    const n = await getNode(t, 'worker-1');
    assert.equal(n.spec?.unschedulable, undefined);
    assert.deepEqual(bosunAnnotations(n), []);

    await ok(['uncordon', 'worker-1']);
    await onWorker1('slow', 3, undefined);
    const again = bosunOn(t, ['drain', 'worker-1', '--pod-selector', 'app=slow', '--recordon']);
    await eventually('the pods terminating', async () =>
      (await pods(t, 'worker-1')).some(
        (p) => p.metadata.labels?.['app'] === 'slow' && p.metadata.deletionTimestamp,
      ),
    );
    await ok(['uncordon', 'worker-1']);
    const r2 = await again;
    assert.equal(r2.code, 0, r2.err.join('\n'));
    assert.ok(
      r2.err.some((l) =>
        /^Warning: node\/worker-1 was uncordoned .* during the drain; cordoning it again \(--recordon\)$/.test(
          l,
        ),
      ),
      r2.err.join('\n'),
    );
    assert.equal(r2.out.at(-1), 'node/worker-1 drained');
    assert.equal((await getNode(t, 'worker-1')).spec?.unschedulable, true);
    assert.deepEqual(live(await pods(t, 'worker-1'), 'slow'), []);
    await ok(['delete', 'deployment', 'slow']);
  });

  test('an API server that goes silent mid-drain: the timeout names the API server, not the budget, and the drain annotation counts what is left', async () => {
    await onWorker1('guarded', 1, deployment('guarded', 1));
    await onWorker1('free', 2, deployment('free', 2, { grace: 1 }));
    await ok(
      ['create', '--validate=false', '-f', '-'],
      JSON.stringify({
        apiVersion: 'policy/v1',
        kind: 'PodDisruptionBudget',
        metadata: { name: 'guarded', namespace: 'default' },
        spec: { maxUnavailable: 0, selector: { matchLabels: { app: 'guarded' } } },
      }),
    );
    let blocked!: () => void;
    const isBlocked = new Promise<void>((resolve) => (blocked = resolve));
    const draining = bosunOn(
      t,
      [
        'drain',
        'worker-1',
        '--pod-selector',
        'app in (guarded,free)',
        '--ignore-preflight-errors=pdb-never-allows',
        '--timeout',
        '12s',
      ],
      { onErr: (l) => l.startsWith('blocked: default/guarded-') && blocked() },
    );
    await isBlocked;
    await eventually('the free pods gone', async () => live(await pods(t, 'worker-1'), 'free').length === 0);
    // The annotation is rewritten as pods go (at most every second).
    await eventually('the drain annotation to count one pod left', async () => {
      const s = (await getNode(t, 'worker-1')).metadata.annotations?.['bosun.dev/drain'];
      return s !== undefined && (JSON.parse(s) as { pending?: number }).pending === 1;
    });
    // Now the API server goes silent: every request waits, and no answer comes.
    t.sb.addFault({ match: {}, delayMs: 600_000 });
    const r = await draining;
    t.sb.clearFaults();
    assert.equal(r.code, 1);
    const error = r.err.find((l) => l.startsWith('error: ')) ?? '';
    assert.match(
      error,
      /^error: drain of node "worker-1" timed out after 12s: the API server has not answered for \d+s \(\d+ requests? unanswered\); 1 pod\(s\) left: default\/guarded-\S+ \(eviction unanswered for \d+s\)$/,
    );
    assert.doesNotMatch(error, /PodDisruptionBudget/);
    const n = await getNode(t, 'worker-1');
    assert.equal(n.spec?.unschedulable, true);
    const state = JSON.parse(n.metadata.annotations?.['bosun.dev/drain'] ?? '{}') as {
      phase?: string;
      pending?: number;
    };
    assert.deepEqual([state.phase, state.pending], ['draining', 1]);
    await ok(['delete', 'pdb', 'guarded']);
    await ok(['delete', 'deployment', 'guarded', 'free']);
  });

  test('a budget held down by an eviction that never deleted its pod: bosun says so and completes that eviction, instead of waiting two minutes', async () => {
    await onWorker1('held', 2, deployment('held', 2, { grace: 1 }));
    await ok(
      ['create', '--validate=false', '-f', '-'],
      JSON.stringify({
        apiVersion: 'policy/v1',
        kind: 'PodDisruptionBudget',
        metadata: { name: 'held', namespace: 'default' },
        spec: { maxUnavailable: 1, selector: { matchLabels: { app: 'held' } } },
      }),
    );
    const budget = async (): Promise<{
      disruptionsAllowed?: number;
      disruptedPods?: Record<string, string>;
    }> =>
      (
        await t.kubectlJson<{
          status?: { disruptionsAllowed?: number; disruptedPods?: Record<string, string> };
        }>(['get', 'pdb', 'held', '-n', 'default'])
      ).status ?? {};
    await eventually('the budget allows one', async () => (await budget()).disruptionsAllowed === 1);
    // What a client that went away between the budget's update and the pod's deletion leaves.
    const victim = live(await pods(t, 'worker-1'), 'held')[0]?.metadata.name ?? '';
    const since = new Date(Date.now() - 10_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const pdbs = (await import('../src/sandbox/apiserver/resources.ts')).resource('poddisruptionbudgets');
    const cur = await t.sb.internalApi.get(pdbs, 'default', 'held');
    await t.sb.internalApi.update(
      pdbs,
      'default',
      'held',
      {
        ...cur,
        status: {
          ...(cur as { status?: object }).status,
          disruptionsAllowed: 0,
          disruptedPods: { [victim]: since },
        },
      },
      { subresource: 'status' },
    );
    await eventually('the budget held down', async () => {
      const b = await budget();
      return b.disruptionsAllowed === 0 && b.disruptedPods?.[victim] !== undefined;
    });
    const r = await bosunOn(t, ['drain', 'worker-1', '--pod-selector', 'app=held', '--timeout', '60s']);
    assert.equal(r.code, 0, r.err.join('\n'));
    assert.ok(
      r.err.includes(
        `pod default/${victim}: its eviction was approved at ${since} (PodDisruptionBudget default/held counts it in status.disruptedPods) but the pod was never deleted; deleting it to complete the eviction`,
      ),
      r.err.join('\n'),
    );
    assert.equal(r.out.at(-1), 'node/worker-1 drained');
    assert.deepEqual(live(await pods(t, 'worker-1'), 'held'), []);
    await ok(['delete', 'pdb', 'held']);
    await ok(['delete', 'deployment', 'held']);
  });
});
