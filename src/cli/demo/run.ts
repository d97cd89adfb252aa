// `bosun demo`: brings a sandbox up in this process, runs the maintenance story on it chapter by
// chapter, and brings it down again (even when a chapter fails or the user presses Ctrl-C).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BosunError, errorMessage } from '../../common/errors.ts';
import { createKubeClients, type KubeClients } from '../../kube/client.ts';
import type { CliContext } from '../context.ts';
import type { Sandbox } from '../../sandbox/index.ts';
import { backupChapter } from './backup.ts';
import { certsChapter } from './certs.ts';
import { maintainChapter } from './maintain.ts';
import { overviewLines, readOverview } from './overview.ts';

/** What `bosun ARGS` printed and how it ended, when a chapter runs it. */
export interface CommandResult {
  code: number;
  out: string[];
  err: string[];
}

/** What every chapter gets. */
export interface DemoContext {
  cli: CliContext;
  sandbox: Sandbox;
  kube: KubeClients;
  /**
   * Runs `bosun ARGS` exactly as a user types it (the same program, in this process, from the
   * sandbox directory, with KUBECONFIG pointing at it), showing the command and its output.
   * A non-zero exit fails the chapter unless allowFailure is set.
   */
  bosun(args: string[], opts?: { allowFailure?: boolean }): Promise<CommandResult>;
  /** A heading for a chapter. */
  heading(title: string): void;
  /** A line of narration (stderr) or of result (stdout). */
  say(line: string): void;
  show(line: string): void;
}

/** A chapter of the demo. */
export interface DemoChapter {
  title: string;
  run(d: DemoContext): Promise<void>;
}

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

/**
 * A chapter's context on a sandbox: kube clients for its kubeconfig, and a `bosun` runner that
 * shows each command and its output (stderr and stdout in the order they came) through show().
 */
export function createDemoContext(o: {
  cli: CliContext;
  sandbox: Sandbox;
  heading: (t: string) => void;
  say: (l: string) => void;
  show: (l: string) => void;
}): DemoContext {
  const { cli, sandbox } = o;
  const kube = createKubeClients({
    kubeconfig: sandbox.kubeconfig,
    home: cli.home,
    signal: cli.signal,
    clock: cli.clock,
  });
  return {
    cli,
    sandbox,
    kube,
    heading: o.heading,
    say: o.say,
    show: o.show,
    async bosun(args, opts = {}) {
      const { runCli } = await import('../program.ts');
      const r: CommandResult = { code: 0, out: [], err: [] };
      const sub: CliContext = {
        ...cli,
        cwd: sandbox.layout.dir,
        env: { ...cli.env, KUBECONFIG: sandbox.kubeconfig },
        out: {
          out: (l) => {
            r.out.push(l);
            o.show(l);
          },
          err: (l) => {
            r.err.push(l);
            o.show(`  ${l}`);
          },
          isTTY: false,
        },
      };
      o.show(`$ bosun ${args.join(' ')}`);
      r.code = await runCli(args, sub);
      if (r.code !== 0 && !opts.allowFailure) {
        const why = r.err
          .filter((l) => l.startsWith('error: '))
          .map((l) => l.slice(7))
          .join('; ');
        const firstFlag = args.findIndex((a) => a.startsWith('-'));
        const words = args.slice(0, Math.max(1, firstFlag < 0 ? args.length : firstFlag));
        throw new BosunError(
          `bosun ${words.join(' ')} exited with ${r.code}${why ? `: ${why}` : ''}`,
          'INTERNAL',
        );
      }
      return r;
    },
  };
}

/** The chapters, in the order the maintenance guide tells the story. */
export function chapters(): DemoChapter[] {
  return [overview, backupChapter, maintainChapter, certsChapter];
}

/** Runs the demo. */
export async function runDemo(o: DemoOptions, ctx: CliContext): Promise<void> {
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
