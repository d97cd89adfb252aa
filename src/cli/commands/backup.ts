// bosun backup [status|verify|list] and bosun restore (issue 4).
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';

/** Registers the commands of this module on the program. */
export function registerBackupCommands(program: Command, ctx: CliContext): void {
  void program;
  void ctx;
}
