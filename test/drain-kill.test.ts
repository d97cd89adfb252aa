// Kill anywhere: `bosun drain` SIGKILLed at many points of its run (before it has done anything,
// after the cordon, among the evictions, as the last pods go), then run again. Each time: no
// process of it is left, what it left on the node is consistent (its cordon annotated as its own,
// the drain annotation never counting fewer pods than the node still has), and the rerun ends
// exactly as a drain that was never interrupted.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { bosunOn, getNode, pods } from './support/drain.ts';
import { processesMentioning } from './support/cli.ts';
import { eventually, startTestSandbox, type TestSandbox } from './support/sandbox.ts';
import type { Node, Pod } from '../src/kube/types.ts';

const MAIN = join(import.meta.dirname, '..', 'src', 'cli', 'main.ts');
const REPLICAS = 6;
const DRAIN = ['drain', 'worker-1', '--ignore-daemonsets', '--timeout', '90s'];

function deployment(): string {
  return JSON.stringify({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: 'kill', namespace: 'default' },
    spec: {
      replicas: REPLICAS,
      selector: { matchLabels: { app: 'kill' } },
      template: {
        metadata: { labels: { app: 'kill' }, annotations: { 'sandbox.bosun.dev/stop-seconds': '1' } },
        spec: {
          terminationGracePeriodSeconds: 5,
          containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }],
        },
      },
    },
  });
}

/** The pods of the drain on worker-1 (terminating ones too). */
async function left(t: TestSandbox): Promise<Pod[]> {
  return (await pods(t, 'worker-1')).filter(
    (p) =>
      p.metadata.labels?.['app'] === 'kill' &&
      p.status?.phase !== 'Succeeded' &&
      p.status?.phase !== 'Failed',
  );
}

/** What a drain leaves on the node: its cordon, its annotations, the drain's phase. */
function endState(n: Node): unknown {
  const a = n.metadata.annotations ?? {};
  return {
    unschedulable: n.spec?.unschedulable === true,
    annotations: Object.keys(a)
      .filter((k) => k.startsWith('bosun.dev/'))
      .sort(),
    phase: (JSON.parse(a['bosun.dev/drain'] ?? '{}') as { phase?: string }).phase,
  };
}

describe('bosun drain killed anywhere', () => {
  let t: TestSandbox;
  let kubeconfig: string;
  const ok = async (args: string[], input?: string): Promise<void> => {
    const r = await t.kubectl(args, input !== undefined ? { input } : {});
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
  };
  /** Every pod of the workload back on worker-1, Ready, and every worker schedulable. */
  const reset = async (): Promise<void> => {
    assert.equal((await bosunOn(t, ['uncordon', 'worker-1', '--force'])).code, 0);
    await ok(['cordon', 'worker-2']);
    try {
      await ok(['scale', 'deployment', 'kill', '--replicas', '0']);
      await eventually(
        'no pod of the workload',
        async () => (await pods(t)).every((p) => p.metadata.labels?.['app'] !== 'kill'),
        60_000,
      );
      await ok(['scale', 'deployment', 'kill', '--replicas', String(REPLICAS)]);
      await eventually(
        `${REPLICAS} pods Ready on worker-1`,
        async () =>
          (await left(t)).filter(
            (p) =>
              !p.metadata.deletionTimestamp &&
              p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
          ).length === REPLICAS,
        60_000,
      );
    } finally {
      await ok(['uncordon', 'worker-2']);
    }
  };

  before(async () => {
    t = await startTestSandbox({
      controlPlanes: 1,
      workers: 2,
      workload: 'none',
      timing: { nodeMonitorGraceMs: 15_000 },
    });
    // A kubeconfig only the killed processes name, to find any that outlive the test's kill.
    kubeconfig = join(t.dir, 'kill-anywhere.conf');
    copyFileSync(t.kubeconfig, kubeconfig);
    await ok(['create', '--validate=false', '-f', '-'], deployment());
    await ok(
      ['create', '--validate=false', '-f', '-'],
      JSON.stringify({
        apiVersion: 'policy/v1',
        kind: 'PodDisruptionBudget',
        metadata: { name: 'kill', namespace: 'default' },
        spec: { maxUnavailable: 2, selector: { matchLabels: { app: 'kill' } } },
      }),
    );
  });
  after(async () => {
    await t?.stop();
  });

  test('SIGKILL at any point, then the same command again: nothing left running, the annotations consistent, the same end as an uninterrupted drain', async () => {
    await reset();
    const clean = await bosunOn(t, DRAIN);
    assert.equal(clean.code, 0, clean.err.join('\n'));
    const reference = endState(await getNode(t, 'worker-1'));
    assert.deepEqual(reference, {
      unschedulable: true,
      annotations: [
        'bosun.dev/cordon-reason',
        'bosun.dev/cordoned-at',
        'bosun.dev/cordoned-by',
        'bosun.dev/drain',
      ],
      phase: 'drained',
    });
    const lines = clean.out.length;
    // Kill before the first output, after the cordon, and among the evictions and removals.
    const points = [0, 1, 3, Math.floor(lines / 2), lines - 3, lines - 1];
    for (const after of points) {
      await reset();
      const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...DRAIN, '--kubeconfig', kubeconfig], {
        env: { ...process.env, KUBECONFIG: '', BOSUN_DEBUG: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let seen = 0;
      let stdout = '';
      const kill = (): void => void child.kill('SIGKILL');
      if (after === 0) kill();
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        stdout += d;
        seen = stdout.split('\n').length - 1;
        if (seen >= after) kill();
      });
      child.stderr.resume();
      const how = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
        child.on('close', (code, signal) => resolve({ code, signal })),
      );
      const where = `killed after ${after} of ${lines} lines (${seen} seen)`;
      // It may have finished before the kill landed (the last points); then it drained.
      if (how.signal !== 'SIGKILL') assert.equal(how.code, 0, where);
      assert.deepEqual(processesMentioning(kubeconfig), [], `${where}: a process outlived the kill`);

      const n = await getNode(t, 'worker-1');
      const a = n.metadata.annotations ?? {};
      const remaining = (await left(t)).length;
      if (n.spec?.unschedulable === true) {
        // bosun's cordon and its annotations go in one write.
        for (const k of ['bosun.dev/cordoned-by', 'bosun.dev/cordon-reason', 'bosun.dev/cordoned-at'])
          assert.ok(a[k], `${where}: cordoned without ${k}`);
      } else assert.equal(a['bosun.dev/drain'], undefined, `${where}: a drain state on an uncordoned node`);
      const state = a['bosun.dev/drain'];
      if (state !== undefined) {
        const s = JSON.parse(state) as { phase: string; pending?: number; startedAt?: string };
        assert.ok(s.startedAt, where);
        if (s.phase === 'drained') assert.equal(remaining, 0, `${where}: drained with pods left`);
        else {
          assert.equal(s.phase, 'draining', where);
          assert.ok(
            (s.pending ?? -1) >= remaining,
            `${where}: the annotation counts ${s.pending ?? '?'} pods, the node has ${remaining}`,
          );
        }
      }

      const again = await bosunOn(t, DRAIN);
      assert.equal(again.code, 0, `${where}: ${again.err.join('\n')}`);
      assert.equal(again.out.at(-1), 'node/worker-1 drained', where);
      assert.deepEqual(endState(await getNode(t, 'worker-1')), reference, where);
      assert.equal((await left(t)).length, 0, where);
      assert.deepEqual(processesMentioning(kubeconfig), [], where);
    }
  });
});
