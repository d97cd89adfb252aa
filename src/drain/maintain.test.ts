import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../common/fake-clock.ts';
import type { Exec, ExecOptions, ExecResult } from '../common/ports.ts';
import { KubeApiError, TransportReason } from '../kube/errors.ts';
import { FakeCluster } from '../kube/testing/fake-cluster.ts';
import { MAINTENANCE_STATE, CORDONED_BY } from './annotations.ts';
import { DEFAULT_DRAIN_OPTIONS } from './drainer.ts';
import {
  looksLikeReboot,
  maintainNode,
  maintenanceState,
  resolveSandboxDir,
  substituteNode,
  type MaintainEvent,
  type MaintainOptions,
  type MaintainResult,
} from './maintain.ts';
import { node, pod } from './testing/fixtures.ts';
import type { Pod } from '../kube/types.ts';

const T0 = Date.UTC(2025, 0, 1);
const iso = (ms: number): string => new Date(ms).toISOString();

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
    env: { PATH: '/usr/bin' },
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
      exec,
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
      exec,
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
      exec,
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
      exec,
      observer: (e) => w.events.push(e),
    }),
  );
  assert.equal(first.outcome, 'command-failed');
  assert.equal(first.message, 'ssh worker-2 sudo apt-get upgrade -y exited with 3');
  assert.ok(w.events.some((e) => e.type === 'command-output' && e.text === 'E: Could not get lock'));
  assert.equal(w.kube.nodes.get('worker-2')?.spec?.unschedulable, true);
  const second = await w.clock.runUntilSettled(
    maintainNode('worker-2', opts(), { kube: w.kube, clock: w.clock, exec }),
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
      exec,
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
      exec,
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
      exec,
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
      exec,
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
    maintainNode('worker-2', opts(), { kube: w.kube, clock: w.clock, exec }),
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
    maintainNode('worker-2', opts({ restoreTimeoutMs: 30_000 }), { kube: w.kube, clock: w.clock, exec }),
  );
  assert.equal(r.outcome, 'not-restored');
  assert.equal(r.message, 'workloads not back to their Ready counts after 30s: ReplicaSet demo/web-rs 1/2');
  assert.equal(w.kube.nodes.get('worker-2')?.spec?.unschedulable, undefined);
});

test('a drain refused by the filters does not leave maintenance state behind', async () => {
  const w = world();
  w.kube.addPod(pod('bare', { node: 'worker-2', owner: 'none' }));
  const exec = new FakeExec(() => ok);
  const r = await w.clock.runUntilSettled(
    maintainNode('worker-2', opts(), { kube: w.kube, clock: w.clock, exec }),
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
    maintainNode('worker-2', opts(), { kube: w.kube, clock: w.clock, exec }),
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

test('the sandbox dir comes from --sandbox-dir, else from a kubeconfig named admin.conf with nodes/ beside it', () => {
  const isDir = (p: string): boolean => p === '/sb/nodes';
  assert.equal(resolveSandboxDir({ sandboxDir: '/x', kubeconfigFiles: ['/sb/admin.conf'], isDir }), '/x');
  assert.equal(resolveSandboxDir({ kubeconfigFiles: ['/sb/admin.conf'], isDir }), '/sb');
  assert.equal(resolveSandboxDir({ kubeconfigFiles: ['/home/a/.kube/config'], isDir }), undefined);
  assert.equal(resolveSandboxDir({ kubeconfigFiles: ['/other/admin.conf'], isDir }), undefined);
});
