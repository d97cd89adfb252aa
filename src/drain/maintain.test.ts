import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../common/fake-clock.ts';
import type { Exec, ExecOptions, ExecResult } from '../common/ports.ts';
import { KubeApiError, TransportReason } from '../kube/errors.ts';
import { FakeCluster, rbacForbidden } from '../kube/testing/fake-cluster.ts';
import { MAINTENANCE_STATE, CORDONED_BY } from '../kube/annotations.ts';
import { ExecPortExecutor } from '../host/testing/exec-port.ts';
import { DEFAULT_DRAIN_OPTIONS } from './drain-contract.ts';
import { currentStep, maintenanceState } from './maintenance-state.ts';
import { looksLikeReboot, type NodeWork, type WorkResult } from './node-work.ts';
import { maintainNode, substituteNode, type MaintainOptions } from './maintain.ts';
import {
  runMaintenance,
  type MaintainEvent,
  type MaintainResult,
  type MaintenanceOptions,
} from './maintenance.ts';
import { node, pod } from './testing/fixtures.ts';
import type { Pod } from '../kube/types.ts';

const T0 = Date.UTC(2025, 0, 1);
const iso = (ms: number): string => new Date(ms).toISOString();

/** The executor the tests hand maintain: the fake Exec below, with PATH=/usr/bin. */
const via = (exec: Exec): ExecPortExecutor => new ExecPortExecutor(exec, { PATH: '/usr/bin' });

/** A fake Exec: records calls and plays the command against the fake cluster. */
class FakeExec implements Exec {
  calls: { cmd: string; args: readonly string[]; env: Record<string, string | undefined> | undefined }[] = [];
  constructor(
    private readonly play: (cmd: string, args: readonly string[]) => ExecResult | Promise<ExecResult>,
  ) {}
  async run(cmd: string, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    this.calls.push({ cmd, args, env: opts.env });
    return this.play(cmd, args);
  }
}

const ok: ExecResult = { exitCode: 0, stdout: 'done\n', stderr: '', timedOut: false };

interface World {
  clock: FakeClock;
  kube: FakeCluster;
  /** worker-2 kubelet heartbeats stop while this is false. */
  alive: { value: boolean };
  events: MaintainEvent[];
}

/** worker-1..3, a 2-replica ReplicaSet with one pod on worker-2, a DaemonSet pod on each node, heartbeats every 10s. */
function world(): World {
  const clock = new FakeClock(T0);
  const kube = new FakeCluster(clock);
  const alive = { value: true };
  for (const n of ['worker-1', 'worker-2', 'worker-3']) {
    kube.addNode(node(n));
    kube.addPod(
      pod(`kube-proxy-${n}`, {
        namespace: 'kube-system',
        node: n,
        owner: { kind: 'DaemonSet', name: 'kube-proxy', uid: 'ds-uid' },
      }),
    );
  }
  kube.addDaemonSet({ metadata: { name: 'kube-proxy', namespace: 'kube-system' } });
  const rs = { kind: 'ReplicaSet', name: 'web-rs', uid: 'rs-uid' };
  kube.addPod(pod('web-a', { node: 'worker-2', owner: rs, terminationGracePeriodSeconds: 2 }));
  kube.addPod(pod('web-b', { node: 'worker-1', owner: rs, terminationGracePeriodSeconds: 2 }));
  let seq = 0;
  // The ReplicaSet: a removed web pod is replaced on worker-3, Ready 3s later.
  kube.onPodRemoved = (p, k) => {
    if (p.metadata.ownerReferences?.[0]?.uid !== 'rs-uid') return;
    const name = `web-r${++seq}`;
    k.addPod(pod(name, { node: 'worker-3', owner: rs, ready: false }));
    void clock
      .sleep(3000)
      .then(() =>
        k.updatePod(
          'demo',
          name,
          (x: Pod) => (x.status = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] }),
        ),
      );
  };
  const beat = async (): Promise<void> => {
    for (;;) {
      for (const n of ['worker-1', 'worker-2', 'worker-3']) {
        if (n === 'worker-2' && !alive.value) continue;
        kube.setLease({
          metadata: { name: n, namespace: 'kube-node-lease' },
          spec: { holderIdentity: n, leaseDurationSeconds: 40, renewTime: iso(clock.now().getTime()) },
        });
      }
      await clock.sleep(10_000);
    }
  };
  void beat();
  return { clock, kube, alive, events: [] };
}

function opts(o: Partial<MaintainOptions> = {}): MaintainOptions {
  return {
    drain: {
      ...DEFAULT_DRAIN_OPTIONS,
      ignoreDaemonSets: true,
      owner: { who: 'alice@laptop (bosun maintain)', why: 'maintain' },
    },
    command: ['ssh', '{node}', 'sudo', 'apt-get', 'upgrade', '-y'],
    healthTimeoutMs: 120_000,
    healthSettleMs: 10_000,
    restoreTimeoutMs: 60_000,
    pollMs: 1000,
    expectReboot: false,
    ...o,
  };
}

/** A reboot of worker-2: NotReady with a taint at once, back 30s later with a new boot ID and its DaemonSet pod restarted. */
function reboot(w: World, comesBack = true): () => ExecResult {
  return () => {
    w.alive.value = false;
    w.kube.updateNode('worker-2', (n) => {
      n.status!.conditions = [
        {
          type: 'Ready',
          status: 'Unknown',
          reason: 'NodeStatusUnknown',
          message: 'Kubelet stopped posting node status.',
        },
      ];
      n.spec = { ...n.spec, taints: [{ key: 'node.kubernetes.io/unreachable', effect: 'NoExecute' }] };
    });
    w.kube.updatePod(
      'kube-system',
      'kube-proxy-worker-2',
      (p) => (p.status = { phase: 'Running', conditions: [{ type: 'Ready', status: 'False' }] }),
    );
    w.kube.events.push({
      metadata: { name: 'e1', namespace: 'default' },
      involvedObject: { kind: 'Node', name: 'worker-2' },
      reason: 'Rebooted',
      message: 'Node worker-2 has been rebooted',
      type: 'Warning',
      lastTimestamp: iso(w.clock.now().getTime()),
    });
    if (comesBack) {
      void w.clock.sleep(30_000).then(() => {
        w.alive.value = true;
        w.kube.updateNode('worker-2', (n) => {
          n.status!.conditions = [{ type: 'Ready', status: 'True' }];
          n.status!.nodeInfo = { ...n.status!.nodeInfo, bootID: 'boot-2' };
          n.spec = { unschedulable: n.spec?.unschedulable };
          if (n.spec.unschedulable === undefined) delete n.spec.unschedulable;
        });
        w.kube.updatePod(
          'kube-system',
          'kube-proxy-worker-2',
          (p) => (p.status = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] }),
        );
      });
    }
    return { exitCode: 0, stdout: '', stderr: '', timedOut: false };
  };
}

test('maintain: drain, run the command with {node}, wait healthy, uncordon, wait until the workload is Ready again', async () => {
  const w = world();
  const exec = new FakeExec(() => ok);
  const r = await w.clock.runUntilSettled(
    maintainNode('worker-2', opts(), {
      kube: w.kube,
      clock: w.clock,
      executor: via(exec),
      observer: (e) => w.events.push(e),
    }),
  );
  assert.equal(r.outcome, 'done', r.message);
  assert.deepEqual(
    exec.calls.map((c) => [c.cmd, ...c.args]),
    [['ssh', 'worker-2', 'sudo', 'apt-get', 'upgrade', '-y']],
  );
  assert.equal(exec.calls[0]?.env?.['PATH'], '/usr/bin');
  const n = w.kube.nodes.get('worker-2');
  assert.equal(n?.spec?.unschedulable, undefined);
  assert.equal(n?.metadata.annotations?.[MAINTENANCE_STATE], undefined);
  assert.equal(n?.metadata.annotations?.[CORDONED_BY], undefined);
  assert.deepEqual(
    w.events.filter((e) => e.type === 'phase').map((e) => e.type === 'phase' && e.phase),
    ['drain', 'command', 'health', 'uncordon', 'restore', 'done'],
  );
});

test('maintain --on-node reboot: waits for the node to come back with a new boot ID before uncordoning', async () => {
  const w = world();
  const exec = new FakeExec(reboot(w));
  let uncordonAt = -1;
  let commandAt = -1;
  const r = await w.clock.runUntilSettled(
    maintainNode('worker-2', opts({ command: ['reboot'], expectReboot: true }), {
      kube: w.kube,
      clock: w.clock,
      executor: via(exec),
      observer: (e) => {
        w.events.push(e);
        if (e.type === 'phase' && e.phase === 'uncordon') uncordonAt = w.clock.now().getTime();
        if (e.type === 'phase' && e.phase === 'command') commandAt = w.clock.now().getTime();
      },
    }),
  );
  assert.equal(r.outcome, 'done', r.message);
  assert.ok(
    uncordonAt - commandAt >= 30_000 + 10_000,
    `uncordoned ${uncordonAt - commandAt}ms after the reboot: before it came back and settled`,
  );
  assert.ok(
    w.events.some(
      (e) =>
        e.type === 'health' &&
        e.verdict.problems.some((p) => /tainted node.kubernetes.io\/unreachable/.test(p)),
    ),
  );
});

test('a node that never comes back stays cordoned, with a diagnosis, and a non-done outcome', async () => {
  const w = world();
  const exec = new FakeExec(reboot(w, false));
  const r = await w.clock.runUntilSettled(
    maintainNode('worker-2', opts({ command: ['reboot'], expectReboot: true, healthTimeoutMs: 60_000 }), {
      kube: w.kube,
      clock: w.clock,
      executor: via(exec),
    }),
  );
  assert.equal(r.outcome, 'unhealthy');
  assert.match(
    r.message ?? '',
    /node\/worker-2 is not healthy after 60s: Ready is Unknown \(NodeStatusUnknown: Kubelet stopped posting node status.\); last heartbeat \d+s ago/,
  );
  assert.equal(w.kube.nodes.get('worker-2')?.spec?.unschedulable, true);
  const d = (r.diagnosis ?? []).join('\n');
  assert.match(d, /Ready=Unknown NodeStatusUnknown/);
  assert.match(d, /Taints: node.kubernetes.io\/unreachable:NoExecute/);
  assert.match(d, /Rebooted\s+Node worker-2 has been rebooted/);
  assert.match(d, /DaemonSet kube-system\/kube-proxy has no Running, Ready pod/);
  assert.equal(maintenanceState(w.kube.nodes.get('worker-2')!)?.phase, 'worked');
});

test('a failing command leaves the node cordoned; running maintain again runs it again and finishes', async () => {
  const w = world();
  let attempts = 0;
  const exec = new FakeExec(() =>
    ++attempts === 1 ? { exitCode: 3, stdout: '', stderr: 'E: Could not get lock\n', timedOut: false } : ok,
  );
  const first = await w.clock.runUntilSettled(
    maintainNode('worker-2', opts(), {
      kube: w.kube,
      clock: w.clock,
      executor: via(exec),
      observer: (e) => w.events.push(e),
    }),
  );
  assert.equal(first.outcome, 'command-failed');
  assert.equal(first.message, 'ssh worker-2 sudo apt-get upgrade -y exited with 3');
  assert.ok(w.events.some((e) => e.type === 'command-output' && e.text === 'E: Could not get lock'));
  assert.equal(w.kube.nodes.get('worker-2')?.spec?.unschedulable, true);
  const second = await w.clock.runUntilSettled(
    maintainNode('worker-2', opts(), { kube: w.kube, clock: w.clock, executor: via(exec) }),
  );
  assert.equal(second.outcome, 'done', second.message);
  assert.equal(second.resumed, true);
  assert.equal(exec.calls.length, 2);
});

test('an interrupted wait resumes without running the command again', async () => {
  const w = world();
  const exec = new FakeExec(reboot(w));
  const ac = new AbortController();
  void w.clock.sleep(10_000).then(() => ac.abort(new Error('interrupted (SIGINT)')));
  const first = await w.clock.runUntilSettled(
    maintainNode('worker-2', opts({ command: ['reboot'], expectReboot: true }), {
      kube: w.kube,
      clock: w.clock,
      executor: via(exec),
      signal: ac.signal,
    }),
  );
  assert.equal(first.outcome, 'interrupted');
  assert.match(first.hint ?? '', /Run the same command again/);
  assert.equal(w.kube.nodes.get('worker-2')?.spec?.unschedulable, true);
  const second = await w.clock.runUntilSettled(
    maintainNode('worker-2', opts({ command: ['reboot'], expectReboot: true }), {
      kube: w.kube,
      clock: w.clock,
      executor: via(exec),
    }),
  );
  assert.equal(second.outcome, 'done', second.message);
  assert.equal(exec.calls.length, 1, 'the reboot is not repeated');
});

/** Runs maintain on worker-2 of the world with this exec and these options, recording its events. */
function maintainWorker2(w: World, exec: Exec, o: Partial<MaintainOptions>): Promise<MaintainResult> {
  return w.clock.runUntilSettled(
    maintainNode('worker-2', opts(o), {
      kube: w.kube,
      clock: w.clock,
      executor: via(exec),
      observer: (e) => w.events.push(e),
    }),
  );
}

const SSH_REBOOT: Partial<MaintainOptions> = {
  command: ['ssh', '{node}', 'sudo', 'reboot'],
  expectReboot: true,
};

/** `ssh NODE sudo reboot` as it often ends: the node closes the connection, and ssh exits 255. */
const sshCutOff: ExecResult = {
  exitCode: 255,
  stdout: '',
  stderr: 'Connection to worker-2 closed by remote host.\n',
  timedOut: false,
};

test('ssh cut off by the reboot (exit 255): the new boot ID says it rebooted, and maintain goes on', async () => {
  const w = world();
  const rebooted = reboot(w);
  const exec = new FakeExec(() => {
    rebooted();
    return sshCutOff;
  });
  const r = await maintainWorker2(w, exec, SSH_REBOOT);
  assert.equal(r.outcome, 'done', r.message);
  assert.equal(exec.calls.length, 1);
  assert.ok(
    w.events.some(
      (e) =>
        e.type === 'phase' &&
        e.phase === 'health' &&
        e.detail ===
          'ssh worker-2 sudo reboot exited with 255, as a reboot that cuts it off does; waiting for a new boot ID to tell',
    ),
  );
  assert.equal(w.kube.nodes.get('worker-2')?.spec?.unschedulable, undefined);
});

test('exit 255 without a reboot: a failed command once the health timeout has passed, to be run again', async () => {
  const w = world();
  const exec = new FakeExec(() => sshCutOff);
  const r = await maintainWorker2(w, exec, { ...SSH_REBOOT, healthTimeoutMs: 60_000 });
  assert.equal(r.outcome, 'command-failed');
  assert.equal(r.commandExitCode, 255);
  assert.match(
    r.message ?? '',
    /^ssh worker-2 sudo reboot exited with 255, as a reboot that cuts it off does, but node\/worker-2 did not come back with a new boot ID within 60s: not rebooted yet/,
  );
  assert.match(r.hint ?? '', /run the command again/);
  assert.equal(w.kube.nodes.get('worker-2')?.spec?.unschedulable, true);
  assert.equal(maintenanceState(w.kube.nodes.get('worker-2')!)?.phase, 'working');
});

test('a reboot command that fails otherwise (exit 1) fails at once', async () => {
  const w = world();
  const exec = new FakeExec(() => ({
    exitCode: 1,
    stdout: '',
    stderr: 'sudo: a password is required\n',
    timedOut: false,
  }));
  const r = await maintainWorker2(w, exec, SSH_REBOOT);
  assert.equal(r.outcome, 'command-failed');
  assert.equal(r.message, 'ssh worker-2 sudo reboot exited with 1');
  assert.equal(w.clock.now().getTime() - T0 < 60_000, true, 'no wait for a reboot that was never started');
});

/** What a client sees while the only API server is down: the connection is refused. */
function refused(): KubeApiError {
  return new KubeApiError(
    'unable to reach the API server: connect ECONNREFUSED 10.0.0.1:6443',
    { status: 0, reason: TransportReason.Unreachable },
    {},
  );
}

test('a reboot that takes the API server along (the only control plane): maintain waits for it, records the command once, and finishes', async () => {
  const w = world();
  const rebooted = reboot(w);
  const exec = new FakeExec(() => {
    w.kube.failUntil(w.clock.now().getTime() + 20_000, refused);
    return rebooted();
  });
  const r = await maintainWorker2(w, exec, { command: ['reboot'], expectReboot: true });
  assert.equal(r.outcome, 'done', r.message);
  assert.equal(exec.calls.length, 1);
  assert.ok(
    w.events.some(
      (e) =>
        e.type === 'health' &&
        e.verdict.problems.some((p) =>
          /^the API server is not answering: unable to reach the API server: connect ECONNREFUSED/.test(p),
        ),
    ),
  );
  assert.equal(w.kube.nodes.get('worker-2')?.spec?.unschedulable, undefined);
});

test('an API server that goes away while the workloads come back is waited for, and said so', async () => {
  const w = world();
  const exec = new FakeExec(() => ok);
  // Down from the start of the restore wait until 5 s later: only its reads meet it.
  const events: MaintainEvent[] = [];
  const r = await w.clock.runUntilSettled(
    maintainNode('worker-2', opts(), {
      kube: w.kube,
      clock: w.clock,
      executor: via(exec),
      observer: (e) => {
        events.push(e);
        if (e.type === 'phase' && e.phase === 'restore')
          w.kube.failUntil(w.clock.now().getTime() + 5_000, refused);
      },
    }),
  );
  assert.equal(r.outcome, 'done', r.message);
  assert.deepEqual(
    events.filter((e) => e.type === 'api-down').map((e) => e.type === 'api-down' && e.message),
    ['unable to reach the API server: connect ECONNREFUSED 10.0.0.1:6443'],
  );
  assert.ok(
    !events.some((e) => e.type === 'health' && e.verdict.problems.some((p) => p.includes('API server'))),
    'the node is not called unhealthy for it',
  );
});

test('an API server that does not come back within --health-timeout: the node stays cordoned, and the message says the command finished', async () => {
  const w = world();
  const rebooted = reboot(w);
  const exec = new FakeExec(() => {
    w.kube.failUntil(Infinity, refused);
    return rebooted();
  });
  const r = await maintainWorker2(w, exec, {
    command: ['reboot'],
    expectReboot: true,
    healthTimeoutMs: 60_000,
  });
  assert.equal(r.outcome, 'unhealthy');
  assert.match(
    r.message ?? '',
    /^reboot finished, but the API server did not answer for 60s: unable to reach/,
  );
  assert.match(r.hint ?? '', /stays cordoned.*runs it again/);
  w.kube.failUntil(0, refused);
  assert.equal(w.kube.nodes.get('worker-2')?.spec?.unschedulable, true);
  assert.equal(maintenanceState(w.kube.nodes.get('worker-2')!)?.phase, 'working');
});

test('a node someone else cordoned is refused and left untouched', async () => {
  const w = world();
  w.kube.updateNode('worker-2', (n) => (n.spec = { unschedulable: true }));
  const exec = new FakeExec(() => ok);
  const r = await w.clock.runUntilSettled(
    maintainNode('worker-2', opts(), { kube: w.kube, clock: w.clock, executor: via(exec) }),
  );
  assert.equal(r.outcome, 'refused');
  assert.equal(r.message, 'node/worker-2 was cordoned outside bosun; bosun maintain will not take it over');
  assert.equal(w.kube.calls('patch', 'nodes').length, 0);
  assert.equal(exec.calls.length, 0);
});

test('workloads that do not come back in time are reported after the uncordon', async () => {
  const w = world();
  w.kube.onPodRemoved = undefined; // nothing recreates the web pod
  const exec = new FakeExec(() => ok);
  const r = await w.clock.runUntilSettled(
    maintainNode('worker-2', opts({ restoreTimeoutMs: 30_000 }), {
      kube: w.kube,
      clock: w.clock,
      executor: via(exec),
    }),
  );
  assert.equal(r.outcome, 'not-restored');
  assert.equal(r.message, 'workloads not back to their Ready counts after 30s: ReplicaSet demo/web-rs 1/2');
  assert.equal(w.kube.nodes.get('worker-2')?.spec?.unschedulable, undefined);
});

test('a ReplicaSet a rollout replaced while the node was drained is not waited for; one not allowed to be read is', async () => {
  for (const [name, setup, outcome] of [
    // A Deployment's rollout deleted the ReplicaSet (GET: NotFound): it wants nothing back.
    ['deleted', (k: FakeCluster) => k.desired.set('ReplicaSet/demo/web-rs', 0), 'done'],
    // Scaled down to 1, which its Ready pod on worker-1 already is.
    ['scaled down', (k: FakeCluster) => k.desired.set('ReplicaSet/demo/web-rs', 1), 'done'],
    // Still wants 2: the wait holds until its timeout, as before.
    ['unchanged', (k: FakeCluster) => k.desired.set('ReplicaSet/demo/web-rs', 2), 'not-restored'],
    // Not allowed to read it: held to its Ready count before, as before.
    [
      'forbidden',
      (k: FakeCluster) =>
        k.failNext(
          'get',
          'replicasets',
          () => rbacForbidden({ verb: 'get', resource: 'replicasets', group: 'apps', namespace: 'demo' }),
          { times: 100 },
        ),
      'not-restored',
    ],
  ] as const) {
    const w = world();
    w.kube.onPodRemoved = undefined; // nothing recreates the web pod
    setup(w.kube);
    const r = await w.clock.runUntilSettled(
      maintainNode('worker-2', opts({ restoreTimeoutMs: 30_000 }), {
        kube: w.kube,
        clock: w.clock,
        executor: via(new FakeExec(() => ok)),
      }),
    );
    assert.equal(r.outcome, outcome, `${name}: ${r.message ?? ''}`);
    // Read at most once per 2 s of waiting, not at every poll.
    assert.ok(w.kube.calls('get', 'replicasets').length <= 16, name);
    if (name === 'forbidden') assert.equal(w.kube.calls('get', 'replicasets').length, 1, name);
  }
});

test('a drain refused by the filters does not leave maintenance state behind', async () => {
  const w = world();
  w.kube.addPod(pod('bare', { node: 'worker-2', owner: 'none' }));
  const exec = new FakeExec(() => ok);
  const r = await w.clock.runUntilSettled(
    maintainNode('worker-2', opts(), { kube: w.kube, clock: w.clock, executor: via(exec) }),
  );
  assert.equal(r.outcome, 'drain-failed');
  assert.equal(r.drain?.outcome, 'refused');
  assert.equal(w.kube.nodes.get('worker-2')?.metadata.annotations?.[MAINTENANCE_STATE], undefined);
  assert.equal(exec.calls.length, 0);
});

test('a drain stopped because someone else uncordoned the node leaves no maintenance state behind', async () => {
  const w = world();
  // The web pod takes its time to go, and meanwhile someone uncordons the node.
  w.kube.termination = 'manual';
  void w.clock.sleep(1000).then(() => w.kube.updateNode('worker-2', (n) => delete n.spec?.unschedulable));
  const exec = new FakeExec(() => ok);
  const r = await w.clock.runUntilSettled(
    maintainNode('worker-2', opts(), { kube: w.kube, clock: w.clock, executor: via(exec) }),
  );
  assert.equal(r.outcome, 'drain-failed');
  assert.equal(r.drain?.outcome, 'uncordoned');
  const annotations = w.kube.nodes.get('worker-2')?.metadata.annotations ?? {};
  assert.deepEqual(
    Object.keys(annotations).filter((k) => k.startsWith('bosun.dev/')),
    [],
  );
  assert.equal(exec.calls.length, 0);
});

for (const tc of [
  { cmd: ['reboot'], want: true },
  { cmd: ['/sbin/reboot'], want: true },
  { cmd: ['systemctl', 'reboot'], want: true },
  { cmd: ['ssh', '{node}', 'sudo', 'shutdown', '-r', 'now'], want: true },
  { cmd: ['ssh', '{node}', 'sudo', 'apt-get', 'upgrade', '-y'], want: false },
]) {
  test(`${tc.cmd.join(' ')} ${tc.want ? 'is' : 'is not'} taken for a reboot`, () =>
    assert.equal(looksLikeReboot(tc.cmd), tc.want));
}

test('{node} is substituted in every word', () => {
  assert.deepEqual(substituteNode(['ssh', '{node}', 'echo', 'host={node}'], 'w2'), [
    'ssh',
    'w2',
    'echo',
    'host=w2',
  ]);
});

// ---- the engine: resuming older states, a work of one's own, skipping and stopping steps ----

/** A work step that counts its runs and does what play says. */
function countingWork(play: () => WorkResult = () => ({ ok: true })): NodeWork & { runs: number } {
  const w = {
    runs: 0,
    describe: (node: string) => `patch ${node}`,
    probe: () => Promise.resolve('unknown' as const),
    run: () => {
      w.runs++;
      return Promise.resolve(play());
    },
  };
  return w;
}

function engineOpts(work: NodeWork, o: Partial<MaintenanceOptions> = {}): MaintenanceOptions {
  const { owner: _owner, dryRun: _dryRun, ...drain } = opts().drain;
  return {
    owner: { who: 'bosun-agent/worker-2', why: 'reboot-required' },
    drain,
    work,
    expectReboot: false,
    healthTimeoutMs: 120_000,
    healthSettleMs: 10_000,
    restoreTimeoutMs: 60_000,
    pollMs: 1000,
    ...o,
  };
}

/** worker-2 as an older bosun maintain left it: cordoned by bosun, in the middle of phase. */
function leftByOlderBosun(w: World, phase: 'working' | 'worked'): void {
  w.kube.updateNode('worker-2', (n) => {
    n.spec = { unschedulable: true };
    n.metadata.annotations = {
      [CORDONED_BY]: 'alice@laptop (bosun maintain)',
      'bosun.dev/cordon-reason': 'maintain: reboot',
      'bosun.dev/cordoned-at': '2024-12-31T23:00:00Z',
      [MAINTENANCE_STATE]: JSON.stringify({
        phase,
        startedAt: '2024-12-31T23:00:00Z',
        by: 'alice@laptop (bosun maintain)',
        command: 'ssh {node} sudo apt-get upgrade -y',
        bootIdBefore: 'boot-1',
        ...(phase === 'worked' ? { commandFinishedAt: '2024-12-31T23:05:00Z' } : {}),
        workloads: [],
        daemonSets: ['kube-system/kube-proxy'],
      }),
    };
  });
}

test("an older bosun's state in the middle of the work resumes: the command runs again and the node comes back", async () => {
  const w = world();
  leftByOlderBosun(w, 'working');
  assert.equal(currentStep(w.kube.nodes.get('worker-2')!), 'work');
  const exec = new FakeExec(() => ok);
  const r = await maintainWorker2(w, exec, {});
  assert.equal(r.outcome, 'done', r.message);
  assert.equal(r.resumed, true);
  assert.equal(exec.calls.length, 1);
  const n = w.kube.nodes.get('worker-2')!;
  assert.equal(n.spec?.unschedulable, undefined);
  assert.equal(n.metadata.annotations?.[MAINTENANCE_STATE], undefined);
  assert.equal(n.metadata.annotations?.[CORDONED_BY], undefined);
});

test("an older bosun's state after the work resumes at the health wait, without running the work", async () => {
  const w = world();
  leftByOlderBosun(w, 'worked');
  const work = countingWork();
  const r = await w.clock.runUntilSettled(
    runMaintenance('worker-2', engineOpts(work), {
      kube: w.kube,
      clock: w.clock,
      observer: (e) => w.events.push(e),
    }),
  );
  assert.equal(r.outcome, 'done', r.message);
  assert.equal(work.runs, 0);
  assert.ok(w.events.some((e) => e.type === 'phase' && e.phase === 'command' && e.detail === 'already done'));
});

test('a work that reboots, resumed once the node shows a new boot ID (the agent rebooted its own host), is done', async () => {
  const w = world();
  leftByOlderBosun(w, 'working');
  w.kube.updateNode('worker-2', (n) => (n.status!.nodeInfo = { ...n.status!.nodeInfo, bootID: 'boot-2' }));
  const work = countingWork();
  const r = await w.clock.runUntilSettled(
    runMaintenance('worker-2', engineOpts(work, { expectReboot: true }), { kube: w.kube, clock: w.clock }),
  );
  assert.equal(r.outcome, 'done', r.message);
  assert.equal(work.runs, 0, 'the reboot is not repeated');
});

test('stopAfter returns with the state on the node; the next call goes on from there, skipping what it is told', async () => {
  const w = world();
  const work = countingWork();
  const deps = { kube: w.kube, clock: w.clock };
  const first = await w.clock.runUntilSettled(
    runMaintenance('worker-2', engineOpts(work, { stopAfter: 'drain' }), deps),
  );
  assert.deepEqual([first.outcome, first.step], ['stopped', 'drain']);
  const n = w.kube.nodes.get('worker-2')!;
  assert.equal(n.spec?.unschedulable, true);
  assert.equal(n.metadata.annotations?.[CORDONED_BY], 'bosun-agent/worker-2');
  assert.equal(currentStep(n), 'work');
  assert.equal(work.runs, 0);
  const second = await w.clock.runUntilSettled(
    runMaintenance('worker-2', engineOpts(work, { skip: ['wait-workloads'] }), deps),
  );
  assert.equal(second.outcome, 'done', second.message);
  assert.equal(work.runs, 1);
  assert.equal(w.kube.nodes.get('worker-2')?.spec?.unschedulable, undefined);
  assert.equal(w.kube.nodes.get('worker-2')?.metadata.annotations?.[MAINTENANCE_STATE], undefined);
});

test('skipping cordon and drain runs the work on a node that stays schedulable', async () => {
  const w = world();
  const work = countingWork();
  const r = await w.clock.runUntilSettled(
    runMaintenance('worker-2', engineOpts(work, { skip: ['cordon', 'drain'] }), {
      kube: w.kube,
      clock: w.clock,
    }),
  );
  assert.equal(r.outcome, 'done', r.message);
  assert.equal(work.runs, 1);
  assert.ok(
    w.kube.calls('patch', 'nodes').every((c) => !JSON.stringify(c).includes('unschedulable')),
    'the node was never cordoned',
  );
  assert.ok(w.kube.pods.has('demo/web-a'), 'nothing was evicted');
});

test("a work's own failure message ends the maintenance, the node cordoned", async () => {
  const w = world();
  const work = countingWork(() => ({
    ok: false,
    message: 'kubelet reports v1.33.1, not v1.34.1',
    exitCode: 0,
    timedOut: false,
  }));
  const r = await w.clock.runUntilSettled(
    runMaintenance('worker-2', engineOpts(work), { kube: w.kube, clock: w.clock }),
  );
  assert.deepEqual(
    [r.outcome, r.message, r.step],
    ['command-failed', 'kubelet reports v1.33.1, not v1.34.1', 'work'],
  );
  assert.equal(w.kube.nodes.get('worker-2')?.spec?.unschedulable, true);
});

test('with the drain skipped, stopping after the cordon leaves the node cordoned by bosun and its pods in place', async () => {
  const w = world();
  const work = countingWork();
  const r = await w.clock.runUntilSettled(
    runMaintenance('worker-2', engineOpts(work, { skip: ['drain'], stopAfter: 'cordon' }), {
      kube: w.kube,
      clock: w.clock,
    }),
  );
  assert.deepEqual([r.outcome, r.step], ['stopped', 'cordon']);
  const n = w.kube.nodes.get('worker-2')!;
  assert.equal(n.spec?.unschedulable, true);
  assert.equal(n.metadata.annotations?.[CORDONED_BY], 'bosun-agent/worker-2');
  assert.equal(currentStep(n), 'work');
  assert.ok(w.kube.pods.has('demo/web-a'));
  assert.equal(work.runs, 0);
});

test('an API server gone silent after the command: the health wait ends at its deadline, the node cordoned', async () => {
  const w = world();
  const exec = new FakeExec(() => {
    w.kube.delayCalls(10 * 60_000); // every request from now on is answered 10 minutes late
    return ok;
  });
  const r = await maintainWorker2(w, exec, { healthTimeoutMs: 20_000 });
  assert.equal(r.outcome, 'unhealthy');
  assert.equal(
    r.message,
    'ssh worker-2 sudo apt-get upgrade -y finished, but the API server did not answer for 20s: no answer within the health timeout (20s)',
  );
  assert.match(r.hint ?? '', /stays cordoned/);
});

/** worker-2 in the middle of the work, with the process an earlier (killed) run started recorded. */
function killedWhileWorking(w: World, extra: Record<string, unknown> = {}): void {
  leftByOlderBosun(w, 'working');
  w.kube.updateNode('worker-2', (n) => {
    const st = JSON.parse(n.metadata.annotations![MAINTENANCE_STATE]!) as Record<string, unknown>;
    st['process'] = {
      pid: 4242,
      startTicks: '99',
      host: 'laptop',
      bootId: 'b',
      at: '2024-12-31T23:01:00Z',
      ...extra,
    };
    n.metadata.annotations![MAINTENANCE_STATE] = JSON.stringify(st);
  });
}

test('a process an earlier run started that still runs is waited for; then the work runs again', async () => {
  const w = world();
  killedWhileWorking(w);
  const probes: string[] = [];
  const work = countingWork();
  let left = 3;
  work.probe = () => {
    const s = left-- > 0 ? ('running' as const) : ('gone' as const);
    probes.push(`${s}@${w.clock.now().getTime() - T0}`);
    return Promise.resolve(s);
  };
  const r = await w.clock.runUntilSettled(
    runMaintenance('worker-2', engineOpts(work), {
      kube: w.kube,
      clock: w.clock,
      observer: (e) => w.events.push(e),
    }),
  );
  assert.equal(r.outcome, 'done', r.message);
  assert.equal(probes.length, 4);
  assert.equal(work.runs, 1);
  const waited = w.events.filter((e) => e.type === 'waiting-for-command');
  assert.deepEqual(
    waited.map((e) => e.type === 'waiting-for-command' && e.process.pid),
    [4242],
  );
  assert.ok(
    w.events.findIndex((e) => e.type === 'waiting-for-command') <
      w.events.findIndex((e) => e.type === 'phase' && e.phase === 'command'),
  );
});

test('a process an earlier run started on another machine cannot be told: the node stays cordoned and the work does not run', async () => {
  const w = world();
  killedWhileWorking(w);
  const work = countingWork(); // its probe answers 'unknown'
  const r = await w.clock.runUntilSettled(
    runMaintenance('worker-2', engineOpts(work), { kube: w.kube, clock: w.clock }),
  );
  assert.equal(r.outcome, 'command-running');
  assert.equal(
    r.message,
    'the command an earlier run started on laptop (pid 4242, at 2024-12-31T23:01:00Z) may still run there; bosun can tell only on laptop',
  );
  assert.match(r.hint ?? '', /kubectl annotate node worker-2 bosun.dev\/maintenance-/);
  assert.equal(work.runs, 0);
  assert.equal(w.kube.nodes.get('worker-2')?.spec?.unschedulable, true);
});

test('what the work starts is recorded on the node before it runs, and dropped once it finished', async () => {
  const w = world();
  const seen: unknown[] = [];
  const work: NodeWork = {
    describe: () => 'patch',
    probe: () => Promise.resolve('gone'),
    async run(_node, ctx) {
      await ctx.onStart({ pid: 7, startTicks: '1', host: 'here', bootId: 'b' });
      seen.push(maintenanceState(w.kube.nodes.get('worker-2')!)?.process);
      return { ok: true };
    },
  };
  const r = await w.clock.runUntilSettled(
    runMaintenance('worker-2', engineOpts(work, { stopAfter: 'wait-healthy' }), {
      kube: w.kube,
      clock: w.clock,
    }),
  );
  assert.equal(r.outcome, 'stopped', r.message);
  const [rec] = seen as { at: string }[];
  assert.deepEqual(
    { ...rec, at: undefined },
    { pid: 7, startTicks: '1', host: 'here', bootId: 'b', at: undefined },
  );
  assert.match(rec?.at ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(maintenanceState(w.kube.nodes.get('worker-2')!)?.process, undefined);
});

// ---- the reboot agent's own host: the engine resumed by the agent after the reboot ----

/** worker-2 back from the reboot its agent started: the engine resumed by the agent, in its DaemonSet's pod. */
function rebootedByItsAgent(w: World): void {
  killedWhileWorking(w);
  w.kube.addPod(
    pod('bosun-x7k2p', {
      namespace: 'bosun-system',
      node: 'worker-2',
      owner: { kind: 'DaemonSet', name: 'bosun', uid: 'ds-bosun' },
      ready: false,
    }),
  );
  w.kube.updateNode('worker-2', (n) => {
    const st = JSON.parse(n.metadata.annotations![MAINTENANCE_STATE]!) as Record<string, unknown>;
    st['daemonSets'] = ['kube-system/kube-proxy', 'bosun-system/bosun'];
    n.metadata.annotations![MAINTENANCE_STATE] = JSON.stringify(st);
    n.status!.nodeInfo = { ...n.status!.nodeInfo, bootID: 'boot-2' };
  });
}

test('resumed after the reboot its work started, the health gate takes a heartbeat since the reboot command, not since the resume', async () => {
  const w = world();
  rebootedByItsAgent(w);
  w.kube.updatePod(
    'bosun-system',
    'bosun-x7k2p',
    (p) => (p.status = { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] }),
  );
  // The kubelet of the new boot renewed its heartbeat before the agent came back (at T0, the resume).
  const r = await w.clock.runUntilSettled(
    runMaintenance('worker-2', engineOpts(countingWork(), { expectReboot: true, healthSettleMs: 0 }), {
      kube: w.kube,
      clock: w.clock,
      observer: (e) => w.events.push(e),
    }),
  );
  assert.equal(r.outcome, 'done', r.message);
  const problems = w.events.flatMap((e) => (e.type === 'health' ? e.verdict.problems : []));
  assert.deepEqual(problems, [], 'healthy at the first look');
});

test("the engine's own pod (the agent's, a DaemonSet's) is not waited for: it is the process that checks", async () => {
  const w = world();
  rebootedByItsAgent(w);
  // Its readiness probe has not passed yet (its period runs on), and it never does in this test.
  const r = await w.clock.runUntilSettled(
    runMaintenance(
      'worker-2',
      engineOpts(countingWork(), {
        expectReboot: true,
        healthSettleMs: 0,
        healthTimeoutMs: 30_000,
        ownPod: { namespace: 'bosun-system', name: 'bosun-x7k2p' },
      }),
      { kube: w.kube, clock: w.clock, observer: (e) => w.events.push(e) },
    ),
  );
  assert.equal(r.outcome, 'done', r.message);
  const problems = w.events.flatMap((e) => (e.type === 'health' ? e.verdict.problems : []));
  assert.ok(!problems.some((p) => p.includes('bosun-system/bosun')), problems.join('; '));
  // Another DaemonSet's pod is still waited for: without the agent's own pod named, it is one too.
  const w2 = world();
  rebootedByItsAgent(w2);
  const r2 = await w2.clock.runUntilSettled(
    runMaintenance(
      'worker-2',
      engineOpts(countingWork(), { expectReboot: true, healthSettleMs: 0, healthTimeoutMs: 30_000 }),
      { kube: w2.kube, clock: w2.clock },
    ),
  );
  assert.equal(r2.outcome, 'unhealthy');
  assert.match(r2.message ?? '', /DaemonSet bosun-system\/bosun has no Running, Ready pod on the node/);
});

// ---- a work that reboots, resumed after a kill: the command an earlier run started has ended ----

/** A work that records a process (pid 100, 101, ...) and then does what the next play says. */
function recordingWork(plays: (() => WorkResult)[]): NodeWork & { runs: number } {
  const w = {
    runs: 0,
    describe: (node: string) => `patch ${node}`,
    probe: () => Promise.resolve('gone' as const),
    async run(_node: string, ctx: Parameters<NodeWork['run']>[1]): Promise<WorkResult> {
      await ctx.onStart({ pid: 100 + w.runs, startTicks: '1', host: 'laptop', bootId: 'b' });
      const play = plays[w.runs++];
      if (!play) throw new Error('run more often than the test expects');
      return play();
    },
  };
  return w;
}

test('resumed with a reboot expected, the command an earlier run started has ended: not run again, and the new boot ID finishes the maintenance', async () => {
  const w = world();
  killedWhileWorking(w);
  const rebooted = reboot(w);
  const work = countingWork();
  let probes = 0;
  work.probe = () => {
    // It runs for two probes, then ends as the reboot it issued takes the node down.
    if (++probes <= 2) return Promise.resolve('running' as const);
    if (probes === 3) rebooted();
    return Promise.resolve('gone' as const);
  };
  const r = await w.clock.runUntilSettled(
    runMaintenance('worker-2', engineOpts(work, { expectReboot: true }), {
      kube: w.kube,
      clock: w.clock,
      observer: (e) => w.events.push(e),
    }),
  );
  assert.equal(r.outcome, 'done', r.message);
  assert.equal(work.runs, 0, 'the reboot is not issued a second time');
  assert.equal(probes, 3);
  const health = w.events.flatMap((e) => (e.type === 'phase' && e.phase === 'health' ? [e.detail] : []));
  assert.deepEqual(health, [
    'the command an earlier run started (pid 4242 on laptop at 2024-12-31T23:01:00Z) has ended; not running it again: waiting for a new boot ID to tell',
  ]);
  const n = w.kube.nodes.get('worker-2')!;
  assert.equal(n.spec?.unschedulable, undefined);
  assert.equal(n.metadata.annotations?.[MAINTENANCE_STATE], undefined);
});

test('resumed with a reboot expected, the earlier command has ended and no new boot ID comes: not run, the record of it dropped, so the next run runs it', async () => {
  const w = world();
  killedWhileWorking(w);
  const rebooted = reboot(w);
  const work = countingWork(() => {
    rebooted();
    return { ok: true };
  });
  work.probe = () => Promise.resolve('gone' as const);
  const deps = { kube: w.kube, clock: w.clock };
  const r = await w.clock.runUntilSettled(
    runMaintenance('worker-2', engineOpts(work, { expectReboot: true, healthTimeoutMs: 60_000 }), deps),
  );
  assert.deepEqual([r.outcome, r.step], ['not-rebooted', 'wait-healthy']);
  assert.match(
    r.message ?? '',
    /^the command an earlier run started \(pid 4242 on laptop at 2024-12-31T23:01:00Z\) has ended, but node\/worker-2 did not come back with a new boot ID within 60s: not rebooted yet \(boot ID boot-1 unchanged\)/,
  );
  assert.equal(
    r.hint,
    'node/worker-2 stays cordoned. bosun cannot tell whether that command ran to its end. Run bosun maintain again to run the command again, or give up with: bosun uncordon worker-2',
  );
  assert.equal(work.runs, 0);
  const n = w.kube.nodes.get('worker-2')!;
  assert.equal(n.spec?.unschedulable, true);
  const st = maintenanceState(n);
  assert.equal(st?.phase, 'working');
  assert.equal(st?.process, undefined, 'the record of the ended command is dropped');

  const again = await w.clock.runUntilSettled(
    runMaintenance('worker-2', engineOpts(work, { expectReboot: true }), deps),
  );
  assert.equal(again.outcome, 'done', again.message);
  assert.equal(work.runs, 1, 'the next run runs the command');
  assert.equal(w.kube.nodes.get('worker-2')?.spec?.unschedulable, undefined);
});

test('stopping after the work (the reboot agent), the ended earlier command counts as issued: not run again, the state kept', async () => {
  const w = world();
  killedWhileWorking(w);
  const work = countingWork();
  work.probe = () => Promise.resolve('gone' as const);
  const r = await w.clock.runUntilSettled(
    runMaintenance('worker-2', engineOpts(work, { expectReboot: true, stopAfter: 'work' }), {
      kube: w.kube,
      clock: w.clock,
    }),
  );
  assert.deepEqual([r.outcome, r.step], ['stopped', 'work']);
  assert.equal(work.runs, 0);
  assert.equal(maintenanceState(w.kube.nodes.get('worker-2')!)?.process?.pid, 4242);
});

test('a reboot expected, but the ended earlier process was one the work said does not reboot (a recipe line before its reboot): the work runs again', async () => {
  const w = world();
  killedWhileWorking(w, { rebootsNot: true });
  const rebooted = reboot(w);
  const work = countingWork(() => {
    rebooted();
    return { ok: true };
  });
  work.probe = () => Promise.resolve('gone' as const);
  const r = await w.clock.runUntilSettled(
    runMaintenance('worker-2', engineOpts(work, { expectReboot: true }), { kube: w.kube, clock: w.clock }),
  );
  assert.equal(r.outcome, 'done', r.message);
  assert.equal(work.runs, 1, 'run again at once, not after waiting for a reboot that line never asked for');
});

test('what a work says of the process it starts (rebootsNot) is kept in its record', async () => {
  const w = world();
  let seen: unknown;
  const work: NodeWork = {
    describe: () => 'recipe',
    probe: () => Promise.resolve('gone' as const),
    async run(_node, ctx) {
      await ctx.onStart({ pid: 7, startTicks: '1', host: 'laptop', bootId: 'b' }, { rebootsNot: true });
      seen = maintenanceState(w.kube.nodes.get('worker-2')!)?.process;
      return { ok: true };
    },
  };
  const r = await w.clock.runUntilSettled(
    runMaintenance('worker-2', engineOpts(work), { kube: w.kube, clock: w.clock }),
  );
  assert.equal(r.outcome, 'done', r.message);
  const { at, ...rest } = seen as { at: string };
  assert.match(at, /^2025-01-01T00:00:\d\dZ$/);
  assert.deepEqual(rest, { pid: 7, startTicks: '1', host: 'laptop', bootId: 'b', rebootsNot: true });
});

test('without a reboot expected, the command an earlier run started that has ended is run again', async () => {
  const w = world();
  killedWhileWorking(w);
  const work = countingWork();
  work.probe = () => Promise.resolve('gone' as const);
  const r = await w.clock.runUntilSettled(
    runMaintenance('worker-2', engineOpts(work), { kube: w.kube, clock: w.clock }),
  );
  assert.equal(r.outcome, 'done', r.message);
  assert.equal(work.runs, 1, 'its end is unknown: run to be sure it ran to its end');
});

// A command that ended in this run without finishing the work leaves no record of its process,
// so a rerun with a reboot expected runs it again rather than waiting for a reboot that never came.
const failures: { name: string; exitCode: number; healthTimeoutMs: number; hint: RegExp }[] = [
  { name: 'fails (exit 1)', exitCode: 1, healthTimeoutMs: 120_000, hint: /retry the command/ },
  {
    name: 'is cut off (exit 255) without a reboot',
    exitCode: 255,
    healthTimeoutMs: 60_000,
    hint: /run the command again/,
  },
];
for (const tc of failures) {
  test(`a command that ${tc.name}: the record of its process is dropped with the failure, and a rerun runs it again at once`, async () => {
    const w = world();
    const rebooted = reboot(w);
    const work = recordingWork([
      () => ({
        ok: false,
        message: `patch worker-2 exited with ${tc.exitCode}`,
        exitCode: tc.exitCode,
        timedOut: false,
      }),
      () => {
        rebooted();
        return { ok: true };
      },
    ]);
    const deps = { kube: w.kube, clock: w.clock };
    const first = await w.clock.runUntilSettled(
      runMaintenance(
        'worker-2',
        engineOpts(work, { expectReboot: true, healthTimeoutMs: tc.healthTimeoutMs }),
        deps,
      ),
    );
    assert.equal(first.outcome, 'command-failed');
    assert.match(first.hint ?? '', tc.hint);
    const st = maintenanceState(w.kube.nodes.get('worker-2')!);
    assert.deepEqual([st?.phase, st?.process], ['working', undefined]);
    const started = w.clock.now().getTime();
    const again = await w.clock.runUntilSettled(
      runMaintenance('worker-2', engineOpts(work, { expectReboot: true, healthTimeoutMs: 60_000 }), deps),
    );
    assert.equal(again.outcome, 'done', again.message);
    assert.equal(work.runs, 2);
    assert.ok(w.clock.now().getTime() - started < 60_000, 'no wait for a reboot before the command ran');
  });
}
