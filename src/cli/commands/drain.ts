// bosun cordon|uncordon|drain|maintain (issue 3).
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';

/** Registers the commands of this module on the program. */
export function registerDrainCommands(program: Command, ctx: CliContext): void {
  void program;
  void ctx;
}
