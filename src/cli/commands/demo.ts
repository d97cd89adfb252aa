// bosun demo: the whole maintenance story on a fresh sandbox (issue 2, chapters from 3, 4, 5).
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';

/** Registers the commands of this module on the program. */
export function registerDemoCommands(program: Command, ctx: CliContext): void {
  void program;
  void ctx;
}
