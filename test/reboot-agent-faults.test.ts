// The reboot agent when things go wrong (issue 17), on one sandbox of three workers shared by the
// file: a cordon someone else made (left alone), a blocking pod and a firing alert (no lock taken
// while blocked), the window closing mid-rollout (the node under way finishes, no new one starts),
// the lock holder's agent killed with SIGKILL mid-drain (taken over after its entry expires, its
// node left cordoned with an Event saying why, never two holders) and mid-reboot (it finishes when
// it comes back), a node that never comes back (the lock stays held, no other node is taken, the
// failure is notified once), and an API server restart mid-rollout.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FakeClock } from '../src/common/fake-clock.ts';
import { LocalExecutor } from '../src/host/index.ts';
import { REBOOT_STATE } from '../src/kube/annotations.ts';
import { createKubeClients } from '../src/kube/client.ts';
import { createEvents } from '../src/kube/events.ts';
import { createLeases } from '../src/kube/leases.ts';
import { createNodePods } from '../src/kube/node-pods.ts';
import { createNodeWatch } from '../src/kube/node-watch.ts';
import { nodeSentinelFiles } from '../src/reboot/adapters.ts';
import { RebootAgent, type AgentKube } from '../src/reboot/agent.ts';
import { resolveAgentConfig } from '../src/reboot/config.ts';
import { fetchHttp } from '../src/reboot/http.ts';
import { AgentMetrics } from '../src/reboot/metrics.ts';
import { parseRecord } from '../src/reboot/states.ts';
import { startHttpStub, type HttpStub } from './support/http-stub.ts';
import { AgentFleet, type FlagValue } from './support/reboot-agents.ts';
import {
  allRebooted,
  flag,
  rebooting,
  sentinelOf,
  startRebootSandbox,
  stateOf,
} from './support/reboot-sandbox.ts';
import { RolloutWatcher } from './support/rollout-watcher.ts';
import { eventually, type TestSandbox } from './support/sandbox.ts';

const WORKERS = ['worker-1', 'worker-2', 'worker-3'];
const FLAGS: Record<string, FlagValue> = {
  period: '2s',
  lockTtl: '10s',
  rebootTimeout: '8s',
  healthTimeout: '8s',
  healthSettle: '0s',
  retryDelay: '2s',
  concurrency: 1,
};

describe('the reboot agent when things go wrong', { timeout: 600_000 }, () => {
  let t: TestSandbox;
  let w: RolloutWatcher;
  let stub: HttpStub;
  let fleet: AgentFleet | undefined;
  before(async () => {
    t = await startRebootSandbox({ workers: 3, apps: [{ name: 'web', replicas: 3, maxUnavailable: 1 }] });
    w = new RolloutWatcher(t.kubeconfig);
    await w.start();
    stub = await startHttpStub();
  });
  afterEach(async (ctx) => {
    const dump = process.env['BOSUN_TEST_LOGS'];
    if (dump)
      writeFileSync(
        `${dump}-${ctx.name.slice(0, 20).replace(/\W+/g, '_')}.log`,
        [...(fleet?.logs ?? [])].map(([n, l]) => `== ${n}\n${l.join('\n')}`).join('\n'),
      );
    await fleet?.stopAll();
    fleet = undefined;
    // Whatever a failed test left behind must not fail the next one.
    for (const n of WORKERS) {
      t.sb.setNeverReturn(n, false);
      rmSync(sentinelOf(t, n), { force: true });
      await t.kubectl(['uncordon', n]);
      await t.kubectl([
        'annotate',
        'node',
        n,
        'bosun.dev/reboot-',
        'bosun.dev/maintenance-',
        'bosun.dev/reboot-stuck-',
        'bosun.dev/cordoned-by-',
        'bosun.dev/cordon-reason-',
        'bosun.dev/cordoned-at-',
        'bosun.dev/drain-',
      ]);
    }
    await t.kubectl(['delete', 'lease', 'bosun-lock', '-n', 'bosun-system', '--ignore-not-found']);
    await t.kubectl(['delete', 'pod', '-n', 'default', '-l', 'hold=reboot', '--ignore-not-found']);
    await w.until(
      'every worker Ready',
      () => WORKERS.every((n) => w.latest().get(n)?.ready === true),
      60_000,
    );
    stub.alerts = [];
    stub.received.length = 0;
  });
  after(async () => {
    await stub?.close();
    await w?.stop();
    await t?.stop();
  });

  const bootsNow = (): Map<string, string> => new Map([...w.latest()].map(([n, s]) => [n, s.bootId]));
  const record = (n: string): ReturnType<typeof parseRecord> =>
    parseRecord(w.latest().get(n)?.annotations[REBOOT_STATE]);
  const blockedBy = (n: string): string[] => (record(n)?.blockers ?? []).map((b) => b.kind).sort();
  const noticesOf = (kind: string): { node: string; message: string }[] =>
    (stub.received as { event: string; node: string; message: string }[]).filter((b) => b.event === kind);

  test("someone else's cordon, a blocking pod and a firing alert hold nodes back without taking the lock", async () => {
    fleet = new AgentFleet({
      t,
      watcher: w,
      flags: {
        ...FLAGS,
        blockingPodSelector: 'hold=reboot',
        prometheusUrl: stub.url,
        notifyUrl: `${stub.url}/hook`,
      },
    });
    assert.equal((await t.kubectl(['cordon', 'worker-1'])).code, 0);
    const pod = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'nightly-backup', namespace: 'default', labels: { hold: 'reboot' } },
      spec: { nodeName: 'worker-2', containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] },
    };
    assert.equal(
      (await t.kubectl(['create', '--validate=false', '-f', '-'], { input: JSON.stringify(pod) })).code,
      0,
    );
    stub.alerts = [{ labels: { alertname: 'DiskFull' }, state: 'firing' }];
    for (const n of WORKERS) fleet.start(n);
    const boots = bootsNow();
    w.reset();
    flag(t, WORKERS);
    await w.until(
      'all three blocked',
      () =>
        blockedBy('worker-1').includes('cordon') &&
        blockedBy('worker-2').join() === 'alerts,pods' &&
        blockedBy('worker-3').join() === 'alerts',
      30_000,
    );
    assert.match(record('worker-3')?.reason ?? '', /an alert firing in Prometheus: DiskFull/);
    await stub.waitFor('a blocked notice', (b) => (b as { event?: string }).event === 'blocked', 10_000);

    stub.alerts = [];
    await allRebooted(w, boots, ['worker-3'], 60_000);
    assert.deepEqual(blockedBy('worker-2'), ['pods']);
    assert.equal(
      w.latest().get('worker-2')?.bootId,
      boots.get('worker-2'),
      'the blocked node did not reboot',
    );

    assert.equal((await t.kubectl(['delete', 'pod', 'nightly-backup', '--wait=false'])).code, 0);
    await allRebooted(w, boots, ['worker-2'], 60_000);
    const w1 = w.latest().get('worker-1');
    assert.equal(w1?.unschedulable, true, "someone else's cordon stays");
    assert.equal(w1?.bootId, boots.get('worker-1'), 'and that node was not rebooted');
    assert.equal(stateOf(w1), 'blocked');
    // Nothing was taken while everything was blocked: the lock's first holder came after the alert.
    assert.ok(w.maxLockHolders().count <= 1);
    assert.ok(w.maxOutOfService(['worker-2', 'worker-3'], rebooting).count <= 1);

    assert.equal((await t.kubectl(['uncordon', 'worker-1'])).code, 0);
    await allRebooted(w, boots, ['worker-1'], 60_000);
  });

  test('when the window closes mid-rollout, the node under way finishes and no new node starts', async () => {
    const now = new Date();
    const hhmmss = (d: Date): string => d.toISOString().slice(11, 19);
    fleet = new AgentFleet({
      t,
      watcher: w,
      flags: {
        ...FLAGS,
        startTime: hhmmss(new Date(now.getTime() - 60_000)),
        endTime: hhmmss(new Date(now.getTime() + 5_000)),
        timeZone: 'UTC',
      },
    });
    for (const n of WORKERS) fleet.start(n);
    const boots = bootsNow();
    w.reset();
    flag(t, WORKERS);
    await w.until(
      'every node either done or waiting for the window',
      () => {
        const done = WORKERS.filter(
          (n) => record(n)?.state === 'idle' && w.latest().get(n)?.bootId !== boots.get(n),
        );
        const waiting = WORKERS.filter((n) => record(n)?.state === 'waiting-window');
        return done.length >= 1 && waiting.length >= 1 && done.length + waiting.length === WORKERS.length;
      },
      60_000,
    );
    for (const n of WORKERS.filter((x) => record(x)?.state === 'waiting-window')) {
      assert.equal(w.latest().get(n)?.bootId, boots.get(n), `${n} did not reboot`);
      assert.ok(!w.nodes.some((s) => s.node === n && s.unschedulable), `${n} was never cordoned`);
      assert.match(record(n)?.reason ?? '', /^outside the maintenance window \(opens /);
    }
    for (const n of WORKERS) assert.equal(w.latest().get(n)?.unschedulable, false);
  });

  test('the holder killed with SIGKILL mid-drain: its slot is taken over once its entry expires, never two holders', async () => {
    fleet = new AgentFleet({
      t,
      watcher: w,
      // --force: the slow pod below is a bare one, which a drain removes only when told to.
      flags: { ...FLAGS, force: true },
      mode: (n) => (n === 'worker-1' ? 'process' : 'in-process'),
    });
    // A pod that takes its time to stop keeps worker-1's drain going long enough to kill it there.
    const slow = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'slow-stopper',
        namespace: 'default',
        annotations: { 'sandbox.bosun.dev/stop-seconds': '6' },
        ownerReferences: [],
      },
      spec: {
        nodeName: 'worker-1',
        terminationGracePeriodSeconds: 30,
        containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }],
      },
    };
    assert.equal(
      (await t.kubectl(['create', '--validate=false', '-f', '-'], { input: JSON.stringify(slow) })).code,
      0,
    );
    const boots = bootsNow();
    w.reset();
    fleet.start('worker-1');
    flag(t, ['worker-1']);
    await w.until(
      'worker-1 draining',
      () => record('worker-1')?.state === 'draining' && w.latest().get('worker-1')?.unschedulable === true,
      60_000,
    );
    await fleet.kill('worker-1', 'SIGKILL');
    fleet.start('worker-2');
    fleet.start('worker-3');
    flag(t, ['worker-2', 'worker-3']);
    await w.until(
      'another node took the slot over',
      () => w.lock.some((l) => l.holders.length > 0 && !l.holders.includes('worker-1')),
      60_000,
    );
    assert.equal(
      w.latest().get('worker-1')?.unschedulable,
      true,
      'worker-1 is left cordoned while its agent is gone',
    );
    const events = await t.kubectlJson<{
      items: { reason: string; message: string; involvedObject: { name: string } }[];
    }>(['get', 'events', '-n', 'default', '--field-selector', 'involvedObject.name=worker-1']);
    const taken = events.items.find((e) => e.reason === 'RebootLockTakenOver');
    assert.ok(taken, 'an Event on worker-1 says its slot was taken over');
    assert.match(taken.message, /its agent stopped renewing the lock while draining/);
    // Its agent comes back: the slot is gone, so it gives the node back and waits its turn.
    fleet.start('worker-1');
    await allRebooted(w, boots, WORKERS, 120_000);
    assert.ok(w.maxLockHolders().count <= 1, `two holders at once: ${w.maxLockHolders().holders.join(', ')}`);
  });

  test('the holder killed with SIGKILL mid-reboot finishes when it comes back; nobody takes its slot meanwhile', async () => {
    fleet = new AgentFleet({
      t,
      watcher: w,
      flags: FLAGS,
      mode: (n) => (n === 'worker-2' ? 'process' : 'in-process'),
    });
    const boots = bootsNow();
    w.reset();
    let killed = false;
    const off = w.onNodeSample((s) => {
      const r = parseRecord(s.annotations[REBOOT_STATE]);
      if (s.node === 'worker-2' && r?.state === 'rebooting' && r.rebootIssuedAt !== undefined && !killed) {
        killed = true;
        void fleet?.kill('worker-2', 'SIGKILL');
      }
    });
    try {
      fleet.start('worker-2');
      flag(t, ['worker-2']);
      await w.until('worker-2 rebooting and its agent killed', () => killed, 60_000);
      for (const n of ['worker-1', 'worker-3']) fleet.start(n);
      flag(t, ['worker-1', 'worker-3']);
      await w.until(
        'worker-2 back with a new boot',
        () => {
          const s = w.latest().get('worker-2');
          return s !== undefined && s.bootId !== boots.get('worker-2') && s.ready;
        },
        60_000,
      );
      fleet.start('worker-2', 'process');
      await allRebooted(w, boots, WORKERS, 120_000);
    } finally {
      off();
    }
    assert.ok(w.maxOutOfService(WORKERS, rebooting).count <= 1, 'one node out of service at a time');
    assert.ok(w.maxLockHolders().count <= 1);
    const ids = w.bootIds().get('worker-2') ?? [];
    assert.equal(ids.filter((x) => x !== boots.get('worker-2')).length, 1, 'worker-2 rebooted once');
  });

  test('a node that never comes back keeps the lock: no other node is taken, and the failure is notified once', async () => {
    fleet = new AgentFleet({ t, watcher: w, flags: { ...FLAGS, notifyUrl: `${stub.url}/hook` } });
    const boots = bootsNow();
    w.reset();
    t.sb.setNeverReturn('worker-3', true);
    try {
      fleet.start('worker-3');
      flag(t, ['worker-3']);
      await w.until('worker-3 rebooting', () => stateOf(w.latest().get('worker-3')) === 'rebooting', 60_000);
      for (const n of ['worker-1', 'worker-2']) fleet.start(n);
      flag(t, ['worker-1', 'worker-2']);
      const stuck = (await stub.waitFor(
        'the stuck notice',
        (b) => /worker-3 did not come back healthy/.test((b as { message?: string }).message ?? ''),
        90_000,
      )) as { event: string; message: string };
      assert.equal(stuck.event, 'failed');
      assert.match(stuck.message, /the lock stays held/);
      for (const n of ['worker-1', 'worker-2']) {
        assert.ok(!w.nodes.some((s) => s.node === n && s.unschedulable), `${n} was not taken`);
        assert.equal(record(n)?.state, 'waiting-lock');
      }
      assert.deepEqual(w.lock.at(-1)?.holders, ['worker-3']);
    } finally {
      t.sb.setNeverReturn('worker-3', false);
    }
    await allRebooted(w, boots, WORKERS, 120_000);
    assert.equal(
      noticesOf('failed').filter((n) => /worker-3 did not come back/.test(n.message)).length,
      1,
      'one notice, not one per waiting agent',
    );
  });

  test('an idle agent makes no API request beyond the watch of its node, however long it idles', async () => {
    const clock = new FakeClock(Date.now());
    const ctl = new AbortController();
    const clients = createKubeClients({ kubeconfig: t.kubeconfig, home: t.dir, clock, signal: ctl.signal });
    const real: AgentKube = {
      ...createNodePods(clients),
      ...createNodeWatch(clients),
      ...createLeases(clients),
      ...createEvents(clients),
    };
    const calls: string[] = [];
    const kube = new Proxy(real, {
      get(target, prop, receiver) {
        const v: unknown = Reflect.get(target, prop, receiver);
        if (typeof v !== 'function') return v;
        return (...args: unknown[]) => {
          calls.push(String(prop));
          return (v as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
    const cfg = resolveAgentConfig({
      flags: {
        nodeName: 'worker-1',
        hostRoot: join(t.dir, 'nodes', 'worker-1', 'host'),
        hostExec: 'local',
        period: '2s',
      },
      env: {},
    });
    let started: () => void = () => undefined;
    const up = new Promise<void>((r) => (started = r));
    const quiet = (): void => undefined;
    const agent = new RebootAgent(cfg, {
      kube,
      clock,
      executor: new LocalExecutor({ env: process.env }),
      files: nodeSentinelFiles,
      http: fetchHttp,
      metrics: new AgentMetrics({ node: 'worker-1' }, { clock }),
      log: { debug: quiet, warn: quiet, error: quiet, info: (m) => m === 'agent started' && started() },
    });
    const running = agent.run(ctl.signal);
    try {
      await up;
      const atStart = [...calls];
      assert.deepEqual(atStart, ['nodeList', 'watchNodes'], 'a list and a watch of its own node');
      for (let i = 0; i < 30; i++) await clock.advance(2_000); // an idle minute: thirty periods
      assert.deepEqual(calls.slice(atStart.length), [], 'nothing more while idle');
    } finally {
      ctl.abort();
      await running;
    }
  });

  test('an API server restart mid-rollout: the agents carry on when it is back', async () => {
    fleet = new AgentFleet({ t, watcher: w, flags: FLAGS });
    for (const n of WORKERS) fleet.start(n);
    const boots = bootsNow();
    w.reset();
    flag(t, WORKERS);
    await w.until(
      'a node draining or rebooting',
      () => WORKERS.some((n) => ['drained', 'rebooting'].includes(stateOf(w.latest().get(n)))),
      60_000,
    );
    const manifests = join(t.dir, 'nodes', 'cp-1', 'host', 'etc', 'kubernetes', 'manifests');
    const parked = join(t.dir, 'nodes', 'cp-1', 'host', 'etc', 'kubernetes', 'kube-apiserver.yaml');
    renameSync(join(manifests, 'kube-apiserver.yaml'), parked);
    try {
      await eventually(
        'the API server is down',
        async () => (await t.kubectl(['get', '--raw', '/readyz'], { timeoutMs: 5_000 })).code !== 0,
        30_000,
      );
    } finally {
      renameSync(parked, join(manifests, 'kube-apiserver.yaml'));
    }
    await allRebooted(w, boots, WORKERS, 180_000);
    assert.ok(w.maxOutOfService(WORKERS, rebooting).count <= 1);
    assert.ok(w.maxLockHolders().count <= 1);
    assert.deepEqual(
      fleet.exits.filter((e) => e.how !== 'ok'),
      [],
    );
  });
});
