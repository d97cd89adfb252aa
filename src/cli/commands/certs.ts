// bosun certs check|renew (issue 5).
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';

/** Registers the commands of this module on the program. */
export function registerCertsCommands(program: Command, ctx: CliContext): void {
  void program;
  void ctx;
}
