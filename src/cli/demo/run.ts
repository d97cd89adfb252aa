// `bosun demo`: brings a sandbox up in this process, runs the maintenance story on it chapter by
// chapter, and brings it down again (even when a chapter fails or the user presses Ctrl-C).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BosunError, errorMessage } from '../../common/errors.ts';
import type { CliContext } from '../context.ts';
import type { Sandbox } from '../../sandbox/index.ts';
import { backupChapter } from './backup.ts';
import { certsChapter } from './certs.ts';
import { createDemoContext, type DemoChapter, type RunCli } from './context.ts';
import { maintainChapter } from './maintain.ts';
import { overviewLines, readOverview } from './overview.ts';
import { upgradeChapter } from './upgrade.ts';
import { rebootChapter } from './reboot.ts';

export {
  createDemoContext,
  type CommandResult,
  type DemoChapter,
  type DemoContext,
  type RunCli,
} from './context.ts';

/** Options of `bosun demo`. */
export interface DemoOptions {
  dir?: string;
  keep: boolean;
  controlPlanes: number;
  workers: number;
}

const overview: DemoChapter = {
  title: 'The cluster',
  async run(d) {
    d.say(
      'A kubeadm-style cluster: real etcd members, kube-apiservers, simulated kubelets. Nodes and the workloads that',
    );
    d.say('maintenance must not break, with the PodDisruptionBudgets that guard them:');
    for (const line of overviewLines(await readOverview(d.kube))) d.show(line);
  },
};

/** The chapters, in the order the maintenance guide tells the story. */
export function chapters(): DemoChapter[] {
  return [overview, backupChapter, maintainChapter, certsChapter, upgradeChapter, rebootChapter];
}

/** Runs the demo; its chapters run their bosun commands through runCli (program.ts's). */
export async function runDemo(o: DemoOptions, ctx: CliContext, runCli: RunCli): Promise<void> {
  const { Sandbox, TIMINGS } = await import('../../sandbox/index.ts');
  const { checkEtcdInstalled } = await import('../../sandbox/index.ts');
  await checkEtcdInstalled(ctx.exec);
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'bosun-demo-'));
  const out = ctx.out;
  const t0 = ctx.clock.now().getTime();
  out.err(
    `Starting a sandbox cluster (${o.controlPlanes} control plane${o.controlPlanes > 1 ? 's' : ''}, ${o.workers} workers) in ${dir}`,
  );
  let sb: Sandbox | undefined;
  try {
    sb = await Sandbox.start({
      dir,
      controlPlanes: o.controlPlanes,
      workers: o.workers,
      version: 'v1.34.3',
      workload: 'demo',
      timing: TIMINGS.fast,
      keyAlgorithm: 'ecdsa-p256',
      nodeBinary: ctx.self.execPath,
      clock: ctx.clock,
      log: () => undefined,
      progress: (l) => out.err(`  ${l}`),
    });
    out.err(
      `Sandbox ready in ${((ctx.clock.now().getTime() - t0) / 1000).toFixed(1)}s (KUBECONFIG=${sb.kubeconfig})`,
    );
    const d = createDemoContext({
      cli: ctx,
      sandbox: sb,
      heading: (t) => {
        out.out('');
        out.out(`== ${t} ${'='.repeat(Math.max(3, 70 - t.length))}`);
      },
      say: (l) => out.out(`   ${l}`),
      show: (l) => out.out(`   ${l}`),
      runCli,
    });
    const list = chapters();
    for (const [i, ch] of list.entries()) {
      if (ctx.signal.aborted) throw new BosunError('interrupted', 'INTERRUPTED');
      d.heading(`${i + 1}. ${ch.title}`);
      try {
        await ch.run(d);
      } catch (e) {
        throw new BosunError(`demo chapter "${ch.title}" failed: ${errorMessage(e)}`, 'INTERNAL', {
          cause: e,
        });
      }
    }
  } finally {
    out.err('');
    out.err('Stopping the sandbox');
    await sb?.stop();
    if (!o.keep && !o.dir) rmSync(dir, { recursive: true, force: true });
    else out.err(`Kept ${dir}`);
  }
}
