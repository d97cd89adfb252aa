import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock, flushAsync } from '../common/fake-clock.ts';
import { FakeCluster, rbacForbidden } from '../kube/testing/fake-cluster.ts';
import { fromStatus } from '../kube/errors.ts';
import { UsageError } from '../common/errors.ts';
import { CORDONED_BY, CORDON_REASON, DRAIN_STATE } from '../kube/annotations.ts';
import { DEFAULT_DRAIN_OPTIONS, type DrainEvent, type DrainOptions } from './drain-contract.ts';
import { drainNode, drainNodes, startPlanReads } from './drainer.ts';
import { parseEscalationRule, type EscalationPolicy } from './escalation.ts';
import { node, pdb, pod } from './testing/fixtures.ts';
import type { Pod } from '../kube/types.ts';

const T0 = Date.UTC(2025, 0, 1);

function setup(): { clock: FakeClock; kube: FakeCluster; events: DrainEvent[] } {
  const clock = new FakeClock(T0);
  const kube = new FakeCluster(clock);
  for (const n of ['worker-1', 'worker-2', 'worker-3']) kube.addNode(node(n));
  return { clock, kube, events: [] };
}

function opts(o: Partial<DrainOptions> = {}): DrainOptions {
  return { ...DEFAULT_DRAIN_OPTIONS, owner: { who: 'alice@laptop (bosun drain)', why: 'drain' }, ...o };
}

function policy(...texts: string[]): EscalationPolicy {
  return {
    rules: texts.map((t) => {
      const r = parseEscalationRule(t);
      if (!r.ok) throw new Error(r.error);
      return r.rule;
    }),
  };
}

const web = (n: number, nodeName = 'worker-1', o: Parameters<typeof pod>[1] = {}): Pod =>
  pod(`web-${n}`, { node: nodeName, labels: { app: 'web' }, terminationGracePeriodSeconds: 5, ...o });
const dsPod = (nodeName = 'worker-1'): Pod =>
  pod(`kube-proxy-${nodeName}`, {
    namespace: 'kube-system',
    node: nodeName,
    owner: { kind: 'DaemonSet', name: 'kube-proxy' },
  });

function run(
  s: ReturnType<typeof setup>,
  o: Partial<DrainOptions>,
  name = 'worker-1',
  signal?: AbortSignal,
): Promise<Awaited<ReturnType<typeof drainNode>>> {
  return s.clock.runUntilSettled(
    drainNode(name, opts(o), {
      kube: s.kube,
      clock: s.clock,
      observer: (e) => s.events.push(e),
      ...(signal ? { signal } : {}),
    }),
  );
}

test('a drain cordons with ownership, evicts every managed pod, skips DaemonSet and mirror pods, and returns when the last pod is gone', async () => {
  const s = setup();
  s.kube.addDaemonSet({ metadata: { name: 'kube-proxy', namespace: 'kube-system' } });
  for (const p of [
    web(1),
    web(2),
    web(3, 'worker-2'),
    dsPod(),
    pod('etcd-worker-1', {
      namespace: 'kube-system',
      owner: { kind: 'Node', name: 'worker-1' },
      mirror: true,
    }),
  ])
    s.kube.addPod(p);
  const r = await run(s, { ignoreDaemonSets: true });
  assert.equal(r.outcome, 'drained', r.message);
  assert.deepEqual(r.pods.map((p) => `${p.name}:${p.outcome}`).sort(), [
    'etcd-worker-1:skipped',
    'kube-proxy-worker-1:skipped',
    'web-1:evicted',
    'web-2:evicted',
  ]);
  const n = s.kube.nodes.get('worker-1');
  assert.equal(n?.spec?.unschedulable, true);
  assert.equal(n?.metadata.annotations?.[CORDONED_BY], 'alice@laptop (bosun drain)');
  assert.equal(n?.metadata.annotations?.[CORDON_REASON], 'drain');
  assert.equal(JSON.parse(n?.metadata.annotations?.[DRAIN_STATE] ?? '{}').phase, 'drained');
  assert.deepEqual([...s.kube.pods.keys()].sort(), [
    'demo/web-3',
    'kube-system/etcd-worker-1',
    'kube-system/kube-proxy-worker-1',
  ]);
  // Waiting is by watch: the drain ends when the last pod's grace period (5s) ends, not on a poll tick.
  assert.equal(s.clock.now().getTime() - T0, 5000);
  assert.equal(s.kube.calls('get', 'pods').length, 0, 'no polling GETs');
  assert.ok(s.events.some((e) => e.type === 'warnings'));
});

test('a refusal stops the drain before the node is cordoned (kubectl would have cordoned it)', async () => {
  const s = setup();
  s.kube.addDaemonSet({ metadata: { name: 'kube-proxy', namespace: 'kube-system' } });
  for (const p of [web(1), dsPod(), pod('bare', { owner: 'none' }), pod('cache-1', { emptyDir: true })])
    s.kube.addPod(p);
  const r = await run(s, {});
  assert.equal(r.outcome, 'refused');
  assert.equal(r.refusals.length, 3);
  assert.equal(s.kube.calls('patch', 'nodes').length, 0);
  assert.equal(s.kube.calls('evict').length, 0);
  assert.equal(s.kube.nodes.get('worker-1')?.spec?.unschedulable, undefined);
  assert.match(r.message ?? '', /3 pod\(s\) refused.*not cordoned/);
  assert.match(r.hint ?? '', /--ignore-daemonsets \/ --force \/ --delete-emptydir-data/);
});

test('a budget that can never allow stops the drain before the cordon', async () => {
  const s = setup();
  s.kube.addPod(web(1));
  s.kube.addPod(web(2, 'worker-2'));
  s.kube.addPdb(
    pdb('web', 'web', {
      maxUnavailable: 0,
      currentHealthy: 2,
      desiredHealthy: 2,
      expectedPods: 2,
      disruptionsAllowed: 0,
    }),
  );
  const r = await run(s, {});
  assert.equal(r.outcome, 'preflight-blocked');
  assert.equal(s.kube.calls('patch', 'nodes').length, 0);
  assert.match(r.hint ?? '', /--ignore-preflight-errors=pdb-never-allows/);
  assert.deepEqual(
    r.pods.map((p) => [p.name, p.outcome, p.category]),
    [['web-1', 'blocked', 'pdb-never-allows']],
  );
});

test('insisting past the pre-flight retries the 429 with backoff until --timeout, and leaves the node cordoned', async () => {
  const s = setup();
  s.kube.addPod(web(1));
  s.kube.addPod(web(2, 'worker-2'));
  s.kube.addPdb(
    pdb('web', 'web', {
      maxUnavailable: 0,
      currentHealthy: 2,
      desiredHealthy: 2,
      expectedPods: 2,
      disruptionsAllowed: 0,
    }),
  );
  const r = await run(s, { ignorePreflight: 'all', timeoutMs: 30_000 });
  assert.equal(r.outcome, 'timeout');
  assert.match(
    r.message ?? '',
    /timed out after 30s with 1 pod\(s\) left: demo\/web-1 \(PodDisruptionBudget demo\/web/,
  );
  assert.match(r.hint ?? '', /bosun uncordon worker-1/);
  assert.equal(s.kube.nodes.get('worker-1')?.spec?.unschedulable, true);
  // 1s, 2s, 4s, then every 5s: attempts at 0,1,3,7,12,17,22,27 → 8 within 30s.
  assert.deepEqual(
    s.kube.calls('evict').map((a) => (a.at - T0) / 1000),
    [0, 1, 3, 7, 12, 17, 22, 27],
  );
  const blocked = s.events.filter((e) => e.type === 'blocked');
  assert.equal(blocked.length, 1, 'the same refusal is reported once, not on every retry');
  assert.equal(blocked[0]?.type === 'blocked' && blocked[0].blocked.kind, 'budget-exhausted');
  assert.equal(r.pods[0]?.outcome, 'blocked');
});

test('a budget that opens later lets the eviction through', async () => {
  const s = setup();
  s.kube.addPod(web(1));
  s.kube.addPdb(
    pdb('web', 'web', {
      minAvailable: 2,
      currentHealthy: 2,
      desiredHealthy: 2,
      expectedPods: 3,
      disruptionsAllowed: 0,
    }),
  );
  void s.clock.sleep(10_000).then(() => {
    const b = s.kube.pdbs[0];
    if (b?.status) b.status.disruptionsAllowed = 1;
  });
  const r = await run(s, {});
  assert.equal(r.outcome, 'drained', r.message);
  assert.equal(r.pods[0]?.outcome, 'evicted');
});

test('evictions run in parallel, but never more requests in flight than the concurrency', async () => {
  const s = setup();
  for (let i = 0; i < 20; i++) s.kube.addPod(web(i));
  let inflight = 0;
  let peak = 0;
  const real = s.kube.evictPod.bind(s.kube);
  s.kube.evictPod = async (ns, name, o) => {
    inflight++;
    peak = Math.max(peak, inflight);
    await s.clock.sleep(100);
    inflight--;
    return real(ns, name, o);
  };
  const r = await run(s, { concurrency: 4 });
  assert.equal(r.outcome, 'drained');
  assert.equal(peak, 4);
  // 20 requests of 100ms, 4 at a time, then the 5s grace period of the last.
  assert.equal(s.clock.now().getTime() - T0, 500 + 5000);
});

test('evictions of pods under one PodDisruptionBudget go one at a time (parallel ones only race for its status), others in parallel', async () => {
  // kube-apiserver writes the budget's status for every eviction it allows; parallel evictions under
  // one budget conflict there and sleep 500 ms per lost race (EvictionsRetry), so sent one after
  // another they finish sooner.
  const s = setup();
  for (let i = 0; i < 6; i++) s.kube.addPod(web(i));
  for (let i = 0; i < 4; i++)
    s.kube.addPod(pod(`cache-${i}`, { node: 'worker-1', labels: { app: 'cache' } }));
  s.kube.addPdb(
    pdb('web', 'web', {
      maxUnavailable: 10,
      disruptionsAllowed: 10,
      expectedPods: 6,
      currentHealthy: 6,
      desiredHealthy: 0,
    }),
  );
  const inflight = new Map<string, number>();
  const peak = new Map<string, number>();
  const real = s.kube.evictPod.bind(s.kube);
  s.kube.evictPod = async (ns, name, o) => {
    const app = name.split('-')[0] ?? '';
    inflight.set(app, (inflight.get(app) ?? 0) + 1);
    peak.set(app, Math.max(peak.get(app) ?? 0, inflight.get(app) ?? 0));
    await s.clock.sleep(100);
    inflight.set(app, (inflight.get(app) ?? 0) - 1);
    return real(ns, name, o);
  };
  const r = await run(s, { concurrency: 8 });
  assert.equal(r.outcome, 'drained');
  assert.deepEqual(Object.fromEntries(peak), { web: 1, cache: 4 });
});

test('the first eviction waits only for one batch of reads, the DaemonSet lookups and the cordon', async () => {
  const s = setup();
  s.kube.addDaemonSet({ metadata: { name: 'kube-proxy', namespace: 'kube-system' } });
  s.kube.addPod(dsPod());
  for (let i = 0; i < 3; i++) s.kube.addPod(web(i));
  // Every request takes 100 ms; the watch only starts (it streams).
  for (const m of ['getNode', 'listNodes', 'listPods', 'listPdbs', 'getDaemonSet', 'patchNode'] as const) {
    const real = (s.kube[m] as (...a: unknown[]) => Promise<unknown>).bind(s.kube);
    (s.kube as unknown as Record<string, unknown>)[m] = async (...a: unknown[]): Promise<unknown> => {
      await s.clock.sleep(100);
      return real(...a);
    };
  }
  const r = await run(s, { ignoreDaemonSets: true });
  assert.equal(r.outcome, 'drained');
  const firstEviction = s.kube.calls('evict', 'pods')[0];
  // The node, nodes, pods and budgets read together (100), the DaemonSet (100), the cordon (100).
  // The drain state is written alongside the evictions; the watch starts from the pre-flight's list.
  assert.equal((firstEviction?.at ?? 0) - T0, 300);
  const lists = s.kube.calls('list', 'pods');
  assert.equal(lists.filter((a) => a.fieldSelector === undefined).length, 1, 'the pods are listed once');
  // ... and the node's once more after the last deletion, to confirm it has none left.
  assert.deepEqual(
    lists.filter((a) => a.fieldSelector !== undefined).map((a) => a.fieldSelector),
    ['spec.nodeName=worker-1'],
  );
  assert.equal(
    s.kube.nodes.get('worker-1')?.metadata.annotations?.[DRAIN_STATE]?.includes('"drained"'),
    true,
  );
});

test('a node drained after an earlier one took long lists its pods again instead of watching from an old version', async () => {
  const s = setup();
  s.kube.termination = 'manual';
  s.kube.addPod(web(1));
  s.kube.addPod(web(2, 'worker-2'));
  void s.clock.sleep(40_000).then(() => s.kube.finishTermination('demo', 'web-1'));
  void s.clock.sleep(41_000).then(() => s.kube.finishTermination('demo', 'web-2'));
  const rs = await s.clock.runUntilSettled(
    drainNodes(
      [s.kube.nodes.get('worker-1'), s.kube.nodes.get('worker-2')].filter((n) => n !== undefined),
      opts(),
      {
        kube: s.kube,
        clock: s.clock,
      },
    ),
  );
  assert.deepEqual(
    rs.map((r) => r.outcome),
    ['drained', 'drained'],
  );
  const lists = s.kube.calls('list', 'pods').map((a) => a.fieldSelector ?? 'all');
  // The pre-flight's list, then worker-2's own; and each node's confirming read after its last deletion.
  assert.equal(lists.filter((l) => l === 'all').length, 1);
  assert.equal(lists.filter((l) => l === 'spec.nodeName=worker-2').length, 2);
  assert.equal(lists.filter((l) => l === 'spec.nodeName=worker-1').length, 1);
});

test('--disable-eviction deletes with a UID precondition and ignores budgets; --grace-period is passed on', async () => {
  const s = setup();
  s.kube.addPod(web(1));
  s.kube.addPdb(pdb('web', 'web', { maxUnavailable: 0, disruptionsAllowed: 0 }));
  const r = await run(s, { disableEviction: true, gracePeriodSeconds: 2 });
  assert.equal(r.outcome, 'drained');
  assert.equal(s.kube.calls('evict').length, 0);
  assert.deepEqual(
    s.kube.calls('delete').map((a) => [a.name, a.gracePeriodSeconds]),
    [['web-1', 2]],
  );
  assert.equal(r.pods[0]?.outcome, 'deleted');
  assert.equal(s.clock.now().getTime() - T0, 2000);
});

test('--dry-run=client writes nothing', async () => {
  const s = setup();
  s.kube.addPod(web(1));
  const r = await run(s, { dryRun: 'client' });
  assert.equal(r.outcome, 'drained');
  assert.deepEqual(
    s.kube.actions.filter((a) => ['patch', 'evict', 'delete'].includes(a.verb)),
    [],
  );
  assert.equal(r.pods[0]?.outcome, 'would-evict');
  assert.ok(s.events.some((e) => e.type === 'evicting' && e.dryRun === 'client'));
});

test('--dry-run=server sends every write with dryRun and changes nothing', async () => {
  const s = setup();
  s.kube.addPod(web(1));
  s.kube.addPod(web(2));
  const r = await run(s, { dryRun: 'server' });
  assert.equal(r.outcome, 'drained', r.message);
  const writes = s.kube.actions.filter((a) => ['patch', 'evict', 'delete'].includes(a.verb));
  assert.ok(writes.length === 3 && writes.every((a) => a.dryRun === true), JSON.stringify(writes));
  assert.equal(s.kube.nodes.get('worker-1')?.spec?.unschedulable, undefined);
  assert.equal(s.kube.pods.size, 2);
  assert.deepEqual(
    r.pods.map((p) => p.outcome),
    ['would-evict', 'would-evict'],
  );
});

test('--dry-run=server reports a refused eviction instead of retrying it', async () => {
  const s = setup();
  s.kube.addPod(web(1));
  s.kube.addPdb(
    pdb('web', 'web', {
      minAvailable: 2,
      currentHealthy: 2,
      desiredHealthy: 2,
      expectedPods: 3,
      disruptionsAllowed: 0,
    }),
  );
  const r = await run(s, { dryRun: 'server' });
  assert.equal(r.outcome, 'failed');
  assert.equal(s.kube.calls('evict').length, 1);
});

test('--skip-wait-for-delete-timeout stops waiting for a pod stuck terminating', async () => {
  const s = setup();
  s.kube.termination = 'manual';
  s.kube.addPod(web(1));
  const r = await run(s, { skipWaitForDeleteTimeoutSeconds: 20 });
  assert.equal(r.outcome, 'drained');
  assert.equal(r.pods[0]?.outcome, 'terminating');
  assert.ok(s.events.some((e) => e.type === 'skipped-wait'));
  assert.equal(s.clock.now().getTime() - T0, 21_000);
});

test('--skip-wait-for-delete-timeout: the deadline counts even when the eviction answers before the watch shows the deletion', async () => {
  const s = setup();
  s.kube.termination = 'manual';
  s.kube.watchLagMs = 500;
  s.kube.addPod(web(1));
  const r = await run(s, { skipWaitForDeleteTimeoutSeconds: 20 });
  assert.equal(r.outcome, 'drained');
  assert.equal(r.pods[0]?.outcome, 'terminating');
  assert.equal(s.clock.now().getTime() - T0, 21_000);
});

test('a pod replaced by a new one with the same name counts as gone (and the new one, on the node, is drained too)', async () => {
  const s = setup();
  s.kube.termination = 'manual';
  s.kube.addPod(pod('db-0', { node: 'worker-1', owner: { kind: 'StatefulSet', name: 'db' } }));
  const events: DrainEvent[] = [];
  const p = s.clock.runUntilSettled(
    drainNode('worker-1', opts({ timeoutMs: 60_000 }), {
      kube: s.kube,
      clock: s.clock,
      observer: (e) => events.push(e),
    }),
  );
  const first = s.kube.pods.get('demo/db-0')?.metadata.uid;
  void s.clock.sleep(3000).then(() => {
    // The kubelet finished it without a DELETED reaching us, and the StatefulSet made a new db-0 here.
    s.kube.pods.delete('demo/db-0');
    s.kube.addPod(pod('db-0', { node: 'worker-1', owner: { kind: 'StatefulSet', name: 'db' } }));
  });
  void s.clock.sleep(4000).then(() => s.kube.finishTermination('demo', 'db-0'));
  const r = await p;
  assert.equal(r.outcome, 'drained');
  const removed = events.filter((e) => e.type === 'removed').map((e) => e.type === 'removed' && e.pod.uid);
  assert.equal(removed[0], first, 'the first db-0 counted as gone when its successor appeared');
  assert.equal(s.kube.calls('evict').length, 2, 'the successor, bound to the cordoned node, was evicted too');
  assert.equal(s.clock.now().getTime() - T0, 4000);
});

test('a watch that expires (410) is re-listed and the drain goes on', async () => {
  const s = setup();
  s.kube.termination = 'manual';
  s.kube.addPod(web(1));
  s.kube.addPod(web(2));
  const p = s.clock.runUntilSettled(drainNode('worker-1', opts(), { kube: s.kube, clock: s.clock }));
  let listsBefore = 0;
  void s.clock.sleep(1000).then(() => {
    listsBefore = s.kube.calls('list', 'pods').length;
    s.kube.compact();
    s.kube.endWatches();
    s.kube.finishTermination('demo', 'web-1');
    s.kube.compact();
  });
  void s.clock.sleep(2000).then(() => s.kube.finishTermination('demo', 'web-2'));
  const r = await p;
  assert.equal(r.outcome, 'drained');
  assert.ok(s.kube.calls('list', 'pods').length > listsBefore, 'listed again after 410');
  assert.equal(s.kube.openWatches, 0, 'no watch left open');
});

test('an interrupted drain leaves the node cordoned; running it again resumes and finishes', async () => {
  const s = setup();
  s.kube.termination = 'manual';
  s.kube.addPod(web(1));
  s.kube.addPod(web(2));
  const ac = new AbortController();
  void s.clock.sleep(1000).then(() => {
    s.kube.finishTermination('demo', 'web-1');
    ac.abort(new Error('interrupted (SIGINT)'));
  });
  const first = await run(s, {}, 'worker-1', ac.signal);
  assert.equal(first.outcome, 'interrupted');
  assert.match(
    first.hint ?? '',
    /Run the same command again to continue, or give up with: bosun uncordon worker-1/,
  );
  assert.equal(s.kube.nodes.get('worker-1')?.spec?.unschedulable, true);
  assert.equal(
    JSON.parse(s.kube.nodes.get('worker-1')?.metadata.annotations?.[DRAIN_STATE] ?? '{}').phase,
    'draining',
  );
  s.kube.termination = 'auto';
  s.events.length = 0;
  // web-2 was already terminating: its kubelet finishes it a little later.
  void s.clock.sleep(2000).then(() => s.kube.finishTermination('demo', 'web-2'));
  const second = await run(s, {});
  assert.equal(second.outcome, 'drained');
  assert.equal(second.resumed, true);
  assert.ok(s.events.some((e) => e.type === 'cordon' && e.action === 'already-cordoned' && e.resumed));
});

test('an escalation rule deletes a pod blocked too long, only where it names', async () => {
  const s = setup();
  s.kube.addPod(
    pod('etl-1', {
      namespace: 'batch',
      node: 'worker-1',
      labels: { app: 'etl' },
      terminationGracePeriodSeconds: 1,
    }),
  );
  s.kube.addPdb(
    pdb('etl', 'etl', {
      namespace: 'batch',
      minAvailable: 1,
      currentHealthy: 1,
      desiredHealthy: 1,
      expectedPods: 2,
      disruptionsAllowed: 0,
    }),
  );
  const r = await run(s, { escalation: policy('after=5m,action=delete,namespace=batch') });
  assert.equal(r.outcome, 'drained', r.message);
  assert.equal(r.pods[0]?.outcome, 'deleted');
  assert.deepEqual(
    s.kube.calls('delete').map((a) => (a.at - T0) / 1000),
    [300],
  );
  assert.ok(s.events.some((e) => e.type === 'escalated' && e.action === 'delete'));
});

test('give-up uncordons a node bosun cordoned and reports which pod and rule', async () => {
  const s = setup();
  s.kube.addPod(web(1));
  s.kube.addPdb(
    pdb('web', 'web', {
      minAvailable: 2,
      currentHealthy: 2,
      desiredHealthy: 2,
      expectedPods: 3,
      disruptionsAllowed: 0,
    }),
  );
  const r = await run(s, { escalation: policy('after=10m,action=give-up') });
  assert.equal(r.outcome, 'gave-up');
  assert.match(
    r.message ?? '',
    /gave up draining node "worker-1": demo\/web-1 blocked for 600s \(rule "after=10m,action=give-up"\)/,
  );
  assert.equal(s.kube.nodes.get('worker-1')?.spec?.unschedulable, undefined);
  assert.equal(s.kube.nodes.get('worker-1')?.metadata.annotations?.[CORDONED_BY], undefined);
  assert.equal(r.cordoned, false);
});

test('give-up leaves alone a node someone else cordoned', async () => {
  const s = setup();
  s.kube.updateNode('worker-1', (n) => (n.spec = { unschedulable: true }));
  s.kube.addPod(web(1));
  s.kube.addPdb(
    pdb('web', 'web', {
      minAvailable: 2,
      currentHealthy: 2,
      desiredHealthy: 2,
      expectedPods: 3,
      disruptionsAllowed: 0,
    }),
  );
  const r = await run(s, { escalation: policy('after=1m,action=give-up') });
  assert.equal(r.outcome, 'gave-up');
  assert.equal(s.kube.nodes.get('worker-1')?.spec?.unschedulable, true);
  assert.equal(r.cordonOwnedByBosun, false);
  assert.match(r.hint ?? '', /cordoned outside bosun/);
});

test('an eviction an admission webhook denies fails that pod (as kubectl does) while the others drain', async () => {
  const s = setup();
  s.kube.addPod(web(1));
  s.kube.addPod(web(2));
  s.kube.failNext(
    'evict',
    'pods',
    () =>
      fromStatus(400, {
        kind: 'Status',
        code: 400,
        reason: 'BadRequest',
        message: 'admission webhook "freeze.example.com" denied the request: change freeze',
      }),
    { name: 'web-2' },
  );
  const r = await run(s, {});
  assert.equal(r.outcome, 'failed');
  assert.match(
    r.message ?? '',
    /demo\/web-2: eviction denied by admission webhook "freeze.example.com": change freeze/,
  );
  assert.deepEqual(
    r.pods.map((p) => p.outcome),
    ['evicted', 'failed'],
  );
});

test('API errors during eviction (503) are retried', async () => {
  const s = setup();
  s.kube.addPod(web(1));
  s.kube.failNext('evict', 'pods', () => fromStatus(503, undefined, { resource: 'pods' }), { times: 2 });
  const r = await run(s, {});
  assert.equal(r.outcome, 'drained');
  assert.equal(s.kube.calls('evict').length, 3);
});

test('an eviction answered 409 Conflict (parallel drains changing the same pods and budget) is retried, not a failure', async () => {
  const s = setup();
  s.kube.addPod(web(1));
  s.kube.addPod(web(2));
  const conflict = (): ReturnType<typeof fromStatus> =>
    fromStatus(
      409,
      {
        kind: 'Status',
        status: 'Failure',
        reason: 'Conflict',
        code: 409,
        message:
          'Operation cannot be fulfilled on pods "web-1": the object has been modified; please apply your changes to the latest version and try again',
      },
      { resource: 'pods', name: 'web-1', namespace: 'demo' },
    );
  s.kube.failNext('evict', 'pods', conflict, { name: 'web-1', times: 2 });
  const r = await run(s, {});
  assert.equal(r.outcome, 'drained');
  assert.equal(s.kube.calls('evict').filter((c) => c.name === 'web-1').length, 3);
});

test("nodes drained together are all cordoned before any eviction, and none takes the others' pods", async () => {
  const s = setup();
  s.kube.addPod(web(1, 'worker-1', { requests: { cpu: '3' } }));
  s.kube.addPod(web(2, 'worker-2'));
  s.kube.addPod(pod('hog', { node: 'worker-3', requests: { cpu: '2' } }));
  const nodes = await Promise.all(['worker-1', 'worker-2'].map((n) => s.kube.getNode(n)));
  const results = await s.clock.runUntilSettled(
    drainNodes(nodes, opts({ ignorePreflight: new Set(['unschedulable'] as const) }), {
      kube: s.kube,
      clock: s.clock,
    }),
  );
  assert.deepEqual(
    results.map((r) => r.outcome),
    ['drained', 'drained'],
  );
  const writes = s.kube.actions
    .filter((a) => a.verb === 'patch' || a.verb === 'evict')
    .map((a) => `${a.verb}:${a.name}`);
  assert.deepEqual(writes.slice(0, 2), ['patch:worker-1', 'patch:worker-2']);
  // worker-3 has 2 cpu left: the 3-cpu replacement was predicted unschedulable (ignored here).
  assert.deepEqual(
    results[0]?.preflight?.ignored.map((b) => b.blocker.check),
    ['unschedulable'],
  );
});

test('a node someone else cordoned is drained, but bosun does not claim the cordon', async () => {
  const s = setup();
  s.kube.updateNode('worker-1', (n) => (n.spec = { unschedulable: true }));
  s.kube.addPod(web(1));
  const r = await run(s, {});
  assert.equal(r.outcome, 'drained');
  assert.equal(r.cordonOwnedByBosun, false);
  assert.equal(s.kube.nodes.get('worker-1')?.metadata.annotations?.[CORDONED_BY], undefined);
  assert.ok(s.events.some((e) => e.type === 'cordon' && e.action === 'already-cordoned' && !e.ownedByBosun));
});

test('--pod-selector limits the drain to matching pods', async () => {
  const s = setup();
  s.kube.addPod(web(1));
  s.kube.addPod(
    pod('db-0', { node: 'worker-1', labels: { app: 'db' }, owner: { kind: 'StatefulSet', name: 'db' } }),
  );
  const r = await run(s, { podSelector: 'app=web' });
  assert.equal(r.outcome, 'drained');
  assert.deepEqual(
    r.pods.map((p) => p.name),
    ['web-1'],
  );
  assert.ok(s.kube.pods.has('demo/db-0'));
});

test('a node with nothing to evict drains at once', async () => {
  const s = setup();
  const r = await run(s, {});
  assert.equal(r.outcome, 'drained');
  assert.equal(s.clock.now().getTime(), T0);
});

test('an invalid --pod-selector from a library caller is a usage error, not a bug', async () => {
  const s = setup();
  await assert.rejects(run(s, { podSelector: 'app in (web' }), (e: unknown) => {
    assert.ok(e instanceof UsageError, `not a UsageError: ${String(e)}`);
    assert.equal(e.exitCode, 2);
    assert.match(e.message, /^--pod-selector=<pod_selector> must be a valid label selector: /);
    return true;
  });
  assert.equal(s.kube.calls('patch', 'nodes').length, 0, 'nothing was touched');
});

const onWorker1 = (s: ReturnType<typeof setup>): string[] =>
  [...s.kube.pods.values()]
    .filter((p) => p.spec?.nodeName === 'worker-1' && !p.metadata.deletionTimestamp)
    .map((p) => p.metadata.name ?? '')
    .sort();

test('pods bound to the node after the pre-flight read it (the cordon held back) are evicted too', async () => {
  const s = setup();
  s.kube.addPod(web(1));
  const patch = s.kube.patchNode.bind(s.kube);
  let held = false;
  s.kube.patchNode = async (name, p, o) => {
    if (!held && p.spec?.unschedulable === true) {
      // The cordon is slow to arrive; meanwhile a rollout puts three more pods on the node.
      held = true;
      await s.clock.sleep(2000);
      for (const n of [2, 3, 4]) s.kube.addPod(web(n));
    }
    return patch(name, p, o);
  };
  const r = await run(s, {});
  assert.equal(r.outcome, 'drained', r.message);
  assert.deepEqual(onWorker1(s), []);
  assert.deepEqual(r.pods.map((p) => `${p.name}:${p.outcome}`).sort(), [
    'web-1:evicted',
    'web-2:evicted',
    'web-3:evicted',
    'web-4:evicted',
  ]);
});

test('"drained" only after a fresh read of the node finds nothing the filters would evict, even a pod the watch never showed', async () => {
  const s = setup();
  s.kube.addPod(web(1));
  void s.clock.sleep(1000).then(() => {
    // A pod the watch misses (it reaches the node's list only).
    const p = web(9);
    s.kube.pods.set('demo/web-9', { ...p, metadata: { ...p.metadata, resourceVersion: '99999' } });
  });
  const r = await run(s, {});
  assert.equal(r.outcome, 'drained', r.message);
  assert.deepEqual(onWorker1(s), []);
  assert.ok(r.pods.some((p) => p.name === 'web-9' && p.outcome === 'evicted'));
  assert.ok(
    s.kube.calls('list', 'pods').some((a) => a.fieldSelector === 'spec.nodeName=worker-1'),
    'the node was read again after the last deletion',
  );
});

test("a pod that appears on the node during the drain and that kubectl's rules refuse fails the drain, naming it", async () => {
  const s = setup();
  s.kube.addPod(web(1));
  void s.clock.sleep(1000).then(() => s.kube.addPod(pod('bare', { owner: 'none' })));
  const r = await run(s, {});
  assert.equal(r.outcome, 'failed');
  assert.match(
    r.message ?? '',
    /^unable to drain node "worker-1": demo\/bare: cannot delete Pods that declare no controller \(use --force to override\)$/,
  );
  assert.ok(s.kube.pods.has('demo/bare'), 'never evicted');
  assert.equal(s.kube.nodes.get('worker-1')?.spec?.unschedulable, true);
});

test('the node uncordoned by someone else during a drain: the drain stops, says who, and takes its annotations off', async () => {
  const s = setup();
  s.kube.termination = 'manual';
  s.kube.addPod(web(1));
  s.kube.addPod(web(2));
  void s.clock.sleep(1000).then(() =>
    s.kube.updateNode('worker-1', (n) => {
      delete n.spec?.unschedulable;
      n.metadata.managedFields = [{ manager: 'kubectl', operation: 'Update', time: '2025-01-01T00:00:01Z' }];
    }),
  );
  const r = await run(s, {});
  assert.equal(r.outcome, 'uncordoned');
  assert.match(
    r.message ?? '',
    /^node "worker-1" was uncordoned by "kubectl" \(the Node's managedFields\) while it was being drained; stopped with 2 pod\(s\) left$/,
  );
  assert.match(r.hint ?? '', /--recordon/);
  assert.equal(r.cordoned, false);
  const n = s.kube.nodes.get('worker-1');
  assert.equal(n?.spec?.unschedulable, undefined);
  assert.deepEqual(
    Object.keys(n?.metadata.annotations ?? {}).filter((k) => k.startsWith('bosun.dev/')),
    [],
  );
  assert.ok(s.events.some((e) => e.type === 'uncordoned' && e.action === 'stopped'));
  assert.equal(s.clock.now().getTime() - T0, 1000, 'it stopped at once');
});

test('--recordon: the node uncordoned by someone else is cordoned again and the drain goes on', async () => {
  const s = setup();
  s.kube.addPod(web(1));
  void s.clock.sleep(1000).then(() => s.kube.updateNode('worker-1', (n) => delete n.spec?.unschedulable));
  const r = await run(s, { recordon: true });
  assert.equal(r.outcome, 'drained', r.message);
  assert.equal(s.kube.nodes.get('worker-1')?.spec?.unschedulable, true);
  assert.ok(s.events.some((e) => e.type === 'uncordoned' && e.action === 'recordoned'));
});

test('without permission to watch pods or nodes, the drain polls them as kubectl does', async () => {
  const s = setup();
  s.kube.addPod(web(1));
  s.kube.failNext('watch', 'pods', () => rbacForbidden({ verb: 'watch', resource: 'pods' }), {
    times: Infinity,
  });
  s.kube.failNext('watch', 'nodes', () => rbacForbidden({ verb: 'watch', resource: 'nodes' }), {
    times: Infinity,
  });
  const r = await run(s, {});
  assert.equal(r.outcome, 'drained', r.message);
  assert.deepEqual(
    s.events.filter((e) => e.type === 'polling').map((e) => e.type === 'polling' && e.what),
    ['pods', 'node'],
  );
  assert.ok(
    s.kube.calls('list', 'pods').filter((a) => a.fieldSelector === 'spec.nodeName=worker-1').length >= 3,
  );
});

test('a user whom SelfSubjectAccessReview denies watch is not made to try: the drain polls from the start', async () => {
  const s = setup();
  s.kube.addPod(web(1));
  s.kube.forbidden.add('watch pods');
  s.kube.forbidden.add('watch nodes');
  const r = await run(s, {});
  assert.equal(r.outcome, 'drained', r.message);
  assert.equal(s.kube.calls('watch').length, 0);
  assert.equal(s.events.filter((e) => e.type === 'polling').length, 2);
});

test('without permission to list PodDisruptionBudgets, the budget checks are skipped, naming the permission', async () => {
  const s = setup();
  s.kube.addPod(web(1));
  s.kube.failNext('list', 'poddisruptionbudgets', () =>
    rbacForbidden({ verb: 'list', resource: 'poddisruptionbudgets', group: 'policy' }),
  );
  const r = await run(s, {});
  assert.equal(r.outcome, 'drained', r.message);
  assert.deepEqual(r.preflight?.skipped, [
    {
      checks: ['pdb-never-allows', 'multiple-pdbs'],
      reason:
        'your user may not list poddisruptionbudgets (it needs list on poddisruptionbudgets.policy at the cluster scope)',
    },
  ]);
});

test('a user who may not create evictions is stopped before the cordon, not after it', async () => {
  const s = setup();
  s.kube.addPod(web(1));
  s.kube.forbidden.add('create pods/eviction');
  const r = await run(s, {});
  assert.equal(r.outcome, 'preflight-blocked');
  assert.equal(s.kube.calls('patch', 'nodes').length, 0);
  assert.deepEqual(
    r.pods.map((p) => [p.name, p.outcome, p.category, p.message]),
    [
      [
        'web-1',
        'blocked',
        'forbidden',
        'your user may not create pods/eviction (it needs create on pods/eviction in namespace demo)',
      ],
    ],
  );
});

test('when the API server goes silent mid-drain, the timeout names the API server, not the budget, and holds to its deadline', async () => {
  const s = setup();
  s.kube.addPod(web(1));
  s.kube.addPod(web(2, 'worker-1', { labels: { app: 'free' } }));
  s.kube.addPdb(
    pdb('web', 'web', {
      maxUnavailable: 0,
      currentHealthy: 2,
      desiredHealthy: 2,
      expectedPods: 2,
      disruptionsAllowed: 0,
    }),
  );
  s.kube.silentFrom = T0 + 10_000;
  const r = await run(s, { ignorePreflight: 'all', timeoutMs: 30_000 });
  assert.equal(r.outcome, 'timeout');
  assert.match(
    r.message ?? '',
    /^drain of node "worker-1" timed out after 30s: the API server has not answered for 2\ds \(\d+ requests? unanswered\); 1 pod\(s\) left: demo\/web-1/,
  );
  assert.doesNotMatch(r.message ?? '', /PodDisruptionBudget/);
  assert.match(r.hint ?? '', /API server/);
  assert.ok(s.clock.now().getTime() - T0 < 31_000, `returned at ${s.clock.now().getTime() - T0} ms`);
  assert.equal(s.kube.unanswered, 0, 'no request is left waiting');
});

test('the drain annotation counts the pods still to go, as they go and after a timeout', async () => {
  const s = setup();
  s.kube.addPod(web(1));
  for (const n of [2, 3]) s.kube.addPod(web(n, 'worker-1', { labels: { app: 'free' } }));
  s.kube.addPdb(
    pdb('web', 'web', {
      maxUnavailable: 0,
      currentHealthy: 2,
      desiredHealthy: 2,
      expectedPods: 2,
      disruptionsAllowed: 0,
    }),
  );
  const pending = (): unknown =>
    JSON.parse(s.kube.nodes.get('worker-1')?.metadata.annotations?.[DRAIN_STATE] ?? '{}').pending;
  let mid: unknown;
  void s.clock.sleep(10_000).then(() => (mid = pending()));
  const r = await run(s, { ignorePreflight: 'all', timeoutMs: 30_000 });
  assert.equal(r.outcome, 'timeout');
  assert.equal(mid, 1, 'two of three went by 5 s');
  assert.equal(pending(), 1);
  assert.equal(
    JSON.parse(s.kube.nodes.get('worker-1')?.metadata.annotations?.[DRAIN_STATE] ?? '{}').phase,
    'draining',
  );
});

test('a drain that stops on a failure waits for its evictions in flight before it returns', async () => {
  const s = setup();
  for (const n of [1, 2, 3]) s.kube.addPod(web(n));
  let inflight = 0;
  const evict = s.kube.evictPod.bind(s.kube);
  s.kube.evictPod = async (ns, name, o) => {
    inflight++;
    try {
      await s.clock.sleep(2000);
      return await evict(ns, name, o);
    } finally {
      inflight--;
    }
  };
  s.kube.failNext('watch', 'pods', () =>
    fromStatus(400, { kind: 'Status', code: 400, reason: 'BadRequest', message: 'bad watch' }),
  );
  const r = await run(s, {});
  assert.equal(r.outcome, 'failed');
  assert.match(r.message ?? '', /bad watch/);
  assert.equal(inflight, 0, 'an eviction still in flight when the drain returned');
});

test('the plan reads never hold more than one chunk of pods, however late the nodes are named', async () => {
  const s = setup();
  for (let i = 0; i < 10; i++) s.kube.addPod(web(i, i % 2 === 0 ? 'worker-1' : 'worker-2'));
  let name: (n: string[]) => void = () => undefined;
  const names = new Promise<string[]>((resolve) => (name = resolve));
  const reads = startPlanReads(s.kube, { disableEviction: false, chunkSize: 2 }, names);
  await flushAsync(20);
  assert.equal(s.kube.calls('list', 'pods').length, 1, 'the next chunk waits for the names');
  name(['worker-1']);
  const r = await reads;
  assert.ok(r.ok);
  assert.equal(s.kube.calls('list', 'pods').length, 5);
  assert.deepEqual(
    r.scan.onNodes.get('worker-1')?.map((p) => p.metadata.name),
    ['web-0', 'web-2', 'web-4', 'web-6', 'web-8'],
  );
  assert.equal(r.scan.seen, 10);
});

test("an eviction the API server approved but never carried out (the pod in its budget's disruptedPods) is completed by deleting the pod", async () => {
  const s = setup();
  s.kube.addPod(web(1));
  s.kube.addPod(web(2, 'worker-2'));
  const b = pdb('web', 'web', {
    maxUnavailable: 1,
    currentHealthy: 1,
    desiredHealthy: 1,
    expectedPods: 2,
    disruptionsAllowed: 0,
  });
  // An earlier drain, killed between the budget's update and the delete, left web-1 recorded.
  b.status = { ...b.status, disruptedPods: { 'web-1': '2024-12-31T23:59:30Z' } };
  s.kube.addPdb(b);
  const r = await run(s, { timeoutMs: 60_000 });
  assert.equal(r.outcome, 'drained', r.message);
  assert.deepEqual(
    s.kube.calls('delete').map((a) => a.name),
    ['web-1'],
  );
  assert.ok(
    s.events.some((e) => e.type === 'completing' && e.pod.name === 'web-1' && e.budget === 'demo/web'),
    'says so',
  );
  assert.equal(r.pods[0]?.outcome, 'evicted');
});

test('without permission to delete pods, an approved eviction left undone is waited for instead', async () => {
  const s = setup();
  s.kube.addPod(web(1));
  s.kube.addPod(web(2, 'worker-2'));
  const b = pdb('web', 'web', {
    maxUnavailable: 1,
    currentHealthy: 1,
    desiredHealthy: 1,
    expectedPods: 2,
    disruptionsAllowed: 0,
  });
  b.status = { ...b.status, disruptedPods: { 'web-1': '2024-12-31T23:59:30Z' } };
  s.kube.addPdb(b);
  s.kube.failNext(
    'delete',
    'pods',
    () => rbacForbidden({ verb: 'delete', resource: 'pods', namespace: 'demo', name: 'web-1' }),
    { times: Infinity },
  );
  const r = await run(s, { timeoutMs: 20_000 });
  assert.equal(r.outcome, 'timeout');
  assert.equal(s.kube.calls('delete').length, 1, 'tried once');
  assert.match(r.message ?? '', /its status.disruptedPods holds 1 running pod \(demo\/web-1\)/);
});
