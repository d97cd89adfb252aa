// Registers every top-level command. Each command module imports its feature lazily inside its
// action, so `bosun cordon` does not load etcd's gRPC stack.
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { registerVersion } from './version.ts';

/** Adds all commands to the program. */
export function registerCommands(program: Command, ctx: CliContext): void {
  registerVersion(program, ctx);
}
