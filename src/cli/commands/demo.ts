// `bosun demo`: the whole maintenance story on a fresh sandbox, then the sandbox goes away.
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { CliContext } from '../context.ts';
import type { RunCli } from '../demo/context.ts';

function intArg(name: string, min: number): (v: string) => number {
  return (v) => {
    if (!/^\d+$/.test(v) || Number(v) < min)
      throw new InvalidArgumentError(`${name} must be a whole number of at least ${min}, got "${v}"`);
    return Number(v);
  };
}

/** Registers `bosun demo`; its chapters run bosun commands through runCli (program.ts's). */
export function registerDemoCommands(program: Command, ctx: CliContext, runCli: RunCli): void {
  program
    .command('demo')
    .description(
      'Run the maintenance story (backup, certificates, drain, maintain) on a sandbox cluster started for it',
    )
    .option('--dir <dir>', 'Build the sandbox in this directory (kept afterwards) instead of a temporary one')
    .option('--keep', 'Keep the temporary sandbox directory afterwards', false)
    .option('--control-planes <n>', 'Control-plane nodes', intArg('--control-planes', 1), 3)
    .option('--workers <n>', 'Worker nodes', intArg('--workers', 2), 5)
    .addHelpText(
      'after',
      `
Examples:
  # The whole story on a 3 control plane, 5 worker sandbox (about a minute)
  bosun demo`,
    )
    .action(async (flags: { dir?: string; keep: boolean; controlPlanes: number; workers: number }) => {
      const { runDemo } = await import('../demo/run.ts');
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
