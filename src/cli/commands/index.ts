// Registers every top-level command. Each command module imports its feature lazily inside its
// action, so `bosun cordon` does not load etcd's gRPC stack. What a command needs from the program
// itself (the demo runs bosun commands) is passed in, so that no module here imports program.ts.
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import type { RunCli } from '../demo/context.ts';
import { registerAgentCommand } from './agent.ts';
import { registerBackupCommands } from './backup.ts';
import { registerCertsCommands } from './certs.ts';
import { registerCordonCommands } from './cordon.ts';
import { registerDemoCommands } from './demo.ts';
import { registerDrainCommand } from './drain.ts';
import { registerMaintainCommand } from './maintain.ts';
import { registerRebootCommands } from './reboot.ts';
import { registerSandboxCommands } from './sandbox.ts';
import { registerUpgradeCommands } from './upgrade.ts';
import { registerVersion } from './version.ts';

/** What the commands need from the program that holds them. */
export interface ProgramHooks {
  /** Runs bosun again in this process (program.ts's runCli), for the demo's chapters. */
  runCli: RunCli;
}

/** Adds all commands to the program. */
export function registerCommands(program: Command, ctx: CliContext, hooks: ProgramHooks): void {
  registerCordonCommands(program, ctx);
  registerDrainCommand(program, ctx);
  registerMaintainCommand(program, ctx);
  registerBackupCommands(program, ctx);
  registerCertsCommands(program, ctx);
  registerUpgradeCommands(program, ctx);
  registerAgentCommand(program, ctx);
  registerRebootCommands(program, ctx);
  registerSandboxCommands(program, ctx);
  registerDemoCommands(program, ctx, hooks.runCli);
  registerVersion(program, ctx);
}
