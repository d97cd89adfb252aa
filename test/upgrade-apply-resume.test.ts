// bosun upgrade apply killed with SIGKILL, as a crash, an OOM kill or a lost laptop ends it, at
// several points (between two steps, during a recipe, during a drain), each time run again from a
// fresh process: the last run completes, no finished step is repeated (the journal's attempts, and
// each node's kubelet and kube-apiserver reported exactly one move, as a watcher saw it), every
// instant stays within the skew policy and the budgets, and no node is left cordoned. Each rerun
// takes the lock over at once: the entry it finds names a process of this machine that is gone.
// A Ctrl-C in between releases the lock on its way out.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import type { RolloutJournal } from '../src/journal/index.ts';
import type { Node } from '../src/kube/types.ts';
import { workloadsSettled } from './support/drain.ts';
import { RolloutWatcher, leftovers } from './support/rollout-watcher.ts';
import { eventually, startTestSandbox, type TestSandbox } from './support/sandbox.ts';

const MAIN = join(import.meta.dirname, '..', 'src', 'cli', 'main.ts');
const TARGET = 'v1.34.3';

/** `bosun ARGS` as its own process; resolves `until` when a stderr line matches, with the lines so far. */
function startBosun(
  t: TestSandbox,
  args: readonly string[],
): {
  child: ChildProcess;
  lines: string[];
  /** stdout, as it came. */
  out: string[];
  exited: Promise<number | null>;
  until(re: RegExp): Promise<string>;
} {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    env: { ...process.env, KUBECONFIG: t.kubeconfig, BOSUN_DEBUG: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const out: string[] = [];
  child.stdout?.setEncoding('utf8').on('data', (d: string) => out.push(d));
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  let pending = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    pending += d;
    let i: number;
    while ((i = pending.indexOf('\n')) >= 0) {
      const line = pending.slice(0, i);
      pending = pending.slice(i + 1);
      lines.push(line);
      for (const w of [...waiters])
        if (w.re.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return {
    child,
    lines,
    out,
    exited,
    until: (re) =>
      new Promise<string>((resolve, reject) => {
        const found = lines.find((l) => re.test(l));
        if (found !== undefined) return resolve(found);
        waiters.push({ re, resolve });
        void exited.then((code) =>
          reject(new Error(`bosun exited (${code}) before ${re}:\n${lines.join('\n')}`)),
        );
      }),
  };
}

describe('bosun upgrade apply killed with SIGKILL at several points, and run again', () => {
  let t: TestSandbox;
  let watcher: RolloutWatcher | undefined;

  before(async () => {
    t = await startTestSandbox({
      controlPlanes: 1,
      workers: 3,
      version: 'v1.33.5',
      workload: 'none',
      timing: { nodeMonitorGraceMs: 3_000 },
    });
    // A Deployment whose pods take 2 s to stop after SIGTERM, so that a drain lasts long enough to
    // be killed in, guarded by a budget; one pod per worker.
    const manifest = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'slow', namespace: 'default' },
      spec: {
        replicas: 3,
        selector: { matchLabels: { app: 'slow' } },
        template: {
          metadata: { labels: { app: 'slow' }, annotations: { 'sandbox.bosun.dev/stop-seconds': '2' } },
          spec: { containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] },
        },
      },
    };
    const pdb = {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: 'slow', namespace: 'default' },
      spec: { minAvailable: 2, selector: { matchLabels: { app: 'slow' } } },
    };
    for (const m of [manifest, pdb]) {
      const r = await t.kubectl(['create', '--validate=false', '-f', '-'], { input: JSON.stringify(m) });
      assert.equal(r.code, 0, r.stderr);
    }
    await eventually('the workload is Ready', () => workloadsSettled(t), 60_000);
  });
  after(async () => {
    await watcher?.stop();
    await t?.stop();
  });

  test('killed between two steps, during a recipe and during a drain: a Ctrl-C releases the lock; the last run completes and repeats nothing', async () => {
    watcher = await RolloutWatcher.start(t.kubeconfig, { pods: true });
    const args = [
      'upgrade',
      'apply',
      '--to',
      TARGET,
      '--on-node',
      '--yes',
      '--backup-dir',
      join(t.dir, 'backups'),
      '-v',
      '1',
    ];
    const killAt = async (re: RegExp): Promise<string[]> => {
      const run = startBosun(t, args);
      await run.until(re);
      run.child.kill('SIGKILL');
      await run.exited;
      return run.lines;
    };
    // 1. Between two steps: the primary is done, the first kubelet step not begun.
    const first = await killAt(/v1\.34\.3\/control-plane\/cp-1: done$/);
    assert.ok(
      first.some((l) => /starting the upgrade v1\.33\.5 -> v1\.34\.3/.test(l)),
      first.join('\n'),
    );
    // 2. During a recipe: worker-1's kubelet package is being installed.
    const second = await killAt(/v1\.34\.3\/kubelet\/worker-1: apt-get install -y kubelet=1\.34\.3-1\.1/);
    assert.ok(
      second.some((l) =>
        /cluster lock taken \(taken over from \S+ \(bosun upgrade apply\) pid \d+\/[0-9a-f]+ \(upgrade\) since .*, its process \d+ on \S+ is gone\)/.test(
          l,
        ),
      ),
      second.join('\n'),
    );
    assert.ok(
      second.some((l) => /resuming the upgrade/.test(l)),
      second.join('\n'),
    );
    assert.ok(
      second.some((l) => /v1\.34\.3\/control-plane\/cp-1: already done/.test(l)),
      second.join('\n'),
    );
    // 3. During a drain: worker-2's slow pod is terminating.
    const third = await killAt(/v1\.34\.3\/kubelet\/worker-2: drain$/);
    assert.ok(
      third.some((l) => /v1\.34\.3\/kubelet\/worker-1: done$/.test(l)),
      `worker-1 finished in the third run:\n${third.join('\n')}`,
    );
    // A Ctrl-C (SIGINT) as the run begins: the lock is released on the way out, not left to expire.
    const interrupted = startBosun(t, args);
    await interrupted.until(/cluster lock taken/);
    interrupted.child.kill('SIGINT');
    const interruptedCode = await interrupted.exited;
    assert.notEqual(interruptedCode, 0, interrupted.lines.join('\n'));
    const status = startBosun(t, ['upgrade', 'status']);
    assert.equal(await status.exited, 0, status.lines.join('\n'));
    assert.match(status.out.join(''), /^Lock: free$/m, `after the Ctrl-C:\n${interrupted.lines.join('\n')}`);
    // 4. To the end.
    const last = startBosun(t, args);
    const code = await last.exited;
    await watcher.stop();
    assert.equal(code, 0, last.lines.join('\n'));
    assert.ok(
      last.lines.some((l) => /resuming the upgrade v1\.33\.5 -> v1\.34\.3/.test(l)),
      last.lines.join('\n'),
    );
    assert.ok(
      !last.lines.some((l) => /(control-plane\/cp-1|kubelet\/cp-1|kubelet\/worker-1): started/.test(l)),
      `the last run started no finished step:\n${last.lines.join('\n')}`,
    );

    // The journal: five runs, three killed, one interrupted; finished steps were not started again.
    const cm = await t.kubectlJson<{ data: Record<string, string> }>([
      'get',
      'configmap',
      '-n',
      'bosun-system',
      'bosun-upgrade',
    ]);
    const j = JSON.parse(cm.data['journal.json'] ?? '') as RolloutJournal;
    assert.equal(j.phase, 'succeeded');
    assert.deepEqual(
      j.runs.map((r) => r.outcome),
      ['interrupted', 'interrupted', 'interrupted', 'interrupted', 'succeeded'],
    );
    const attempts = Object.fromEntries(j.hops.flatMap((h) => h.steps).map((s) => [s.id, s.attempts]));
    assert.equal(attempts['v1.34.3/control-plane/cp-1'], 1, 'the primary ran once');
    assert.equal(attempts['v1.34.3/kubelet/cp-1'], 1, "cp-1's kubelet step ran once");
    assert.equal(attempts['v1.34.3/kubelet/worker-1'], 2, 'worker-1: killed mid-recipe, resumed once');
    assert.equal(attempts['v1.34.3/kubelet/worker-2'], 2, 'worker-2: killed mid-drain, resumed once');
    assert.equal(attempts['v1.34.3/kubelet/worker-3'], 1);
    for (const s of j.hops.flatMap((h) => h.steps)) assert.equal(s.state, 'done', s.id);

    // What the cluster saw: one move per node, nothing cordoned at the end, the policy and the budget kept.
    const report = watcher.report();
    assert.deepEqual(report.skew, []);
    assert.deepEqual(report.budgets, []);
    assert.ok(report.maxWorkersOut <= 1, report.maxWorkersOutAt.join(', '));
    for (const n of ['cp-1', 'worker-1', 'worker-2', 'worker-3'])
      assert.deepEqual(report.kubeletVersions.get(n), ['v1.33.5', TARGET], n);
    assert.deepEqual(report.apiserverVersions.get('cp-1'), ['v1.33.5', TARGET]);
    assert.deepEqual(leftovers((await t.kubectlJson<{ items: Node[] }>(['get', 'nodes'])).items), []);
    assert.ok(await workloadsSettled(t));
  });
});
