// Registers every top-level command. Each command module imports its feature lazily inside its
// action, so `bosun cordon` does not load etcd's gRPC stack.
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { registerBackupCommands } from './backup.ts';
import { registerCertsCommands } from './certs.ts';
import { registerDemoCommands } from './demo.ts';
import { registerDrainCommands } from './drain.ts';
import { registerSandboxCommands } from './sandbox.ts';
import { registerUpgradeCommands } from './upgrade.ts';
import { registerVersion } from './version.ts';

/** Adds all commands to the program. */
export function registerCommands(program: Command, ctx: CliContext): void {
  registerDrainCommands(program, ctx);
  registerBackupCommands(program, ctx);
  registerCertsCommands(program, ctx);
  registerUpgradeCommands(program, ctx);
  registerSandboxCommands(program, ctx);
  registerDemoCommands(program, ctx);
  registerVersion(program, ctx);
}
