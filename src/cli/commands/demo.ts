// `bosun demo`: the whole maintenance story on a fresh sandbox, then the sandbox goes away.
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { usageError, wholeNumberArg } from '../flags.ts';
import type { RunCli } from '../demo/context.ts';

/** Registers `bosun demo`; its chapters run bosun commands through runCli (program.ts's). */
export function registerDemoCommands(program: Command, ctx: CliContext, runCli: RunCli): void {
  program
    .command('demo')
    .description(
      'Run the maintenance story (backup, certificates, drain, maintain) on a sandbox cluster started for it',
    )
    .option('--dir <dir>', 'Build the sandbox in this directory (kept afterwards) instead of a temporary one')
    .option('--keep', 'Keep the temporary sandbox directory afterwards', false)
    .option('--control-planes <n>', 'Control-plane nodes', wholeNumberArg('--control-planes', { min: 1 }), 3)
    .option('--workers <n>', 'Worker nodes (at least 4)', wholeNumberArg('--workers', { min: 1 }), 5)
    .addHelpText(
      'after',
      `
Examples:
  # The whole story on a 3 control plane, 5 worker sandbox (about a minute)
  bosun demo`,
    )
    .action(async (flags: { dir?: string; keep: boolean; controlPlanes: number; workers: number }) => {
      const { runDemo } = await import('../demo/run.ts');
      const { guardedReplicas } = await import('../demo/maintain.ts');
      // Refused up front rather than failing in chapter 3: the story maintains a worker that runs
      // no replica of the workload whose budget allows no disruption.
      const guarded = guardedReplicas();
      if (flags.workers <= guarded)
        throw usageError(
          `--workers must be at least ${guarded + 1} for the demo: its node maintenance chapter needs a worker without a postgres replica, and postgres runs ${guarded}`,
          'demo',
        );
      const { resolve } = await import('node:path');
      await runDemo(
        {
          ...(flags.dir ? { dir: resolve(ctx.cwd, flags.dir) } : {}),
          keep: flags.keep,
          controlPlanes: flags.controlPlanes,
          workers: flags.workers,
        },
        ctx,
        runCli,
      );
    });
}
