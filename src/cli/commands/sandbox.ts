// bosun sandbox up|status|down|restore: the embedded cluster (issue 2).
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';

/** Registers the commands of this module on the program. */
export function registerSandboxCommands(program: Command, ctx: CliContext): void {
  void program;
  void ctx;
}
