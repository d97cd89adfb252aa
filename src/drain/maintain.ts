// `bosun maintain NODE -- COMMAND...`: the maintenance engine (maintenance.ts) with a command as
// its work, run through the executor the CLI chose (where bosun runs, on a sandbox node's shims, or
// through an --exec template), every {node} in the command replaced by the node's name.
import { BosunError } from '../common/errors.ts';
import type { NodeExecutor } from '../host/index.ts';
import type { DrainOptions } from './drain-contract.ts';
import { runMaintenance, type MaintainResult, type MaintenanceDeps } from './maintenance.ts';
import { commandWork } from './node-work.ts';

/** Options of `bosun maintain`. */
export interface MaintainOptions {
  /** Drain options; owner.why is replaced by "maintain: <command>". */
  drain: DrainOptions;
  /** The command, argv form; every "{node}" is replaced by the node's name. */
  command: readonly string[];
  /** How long to wait for the node to be healthy after the command (ms). */
  healthTimeoutMs: number;
  /** How long the node must stay healthy before it is uncordoned (ms). */
  healthSettleMs: number;
  /** How long to wait for the evicted workloads to be Ready again (ms). */
  restoreTimeoutMs: number;
  /** Interval between health and restore checks (ms). */
  pollMs: number;
  /** Require a new boot ID before the node counts as healthy. */
  expectReboot: boolean;
}

/** What `bosun maintain` needs: the engine's deps and the executor that carries the command. */
export interface MaintainDeps extends MaintenanceDeps {
  executor: NodeExecutor;
}

/** Replaces {node} in every word of the command. */
export function substituteNode(command: readonly string[], node: string): string[] {
  return command.map((w) => w.split('{node}').join(node));
}

/** `bosun maintain NODE -- COMMAND`: the engine with the command as its work. */
export function maintainNode(
  name: string,
  opts: MaintainOptions,
  deps: MaintainDeps,
): Promise<MaintainResult> {
  if (opts.command.length === 0) throw new BosunError('no command given after --', 'USAGE', { exitCode: 2 });
  const { drain, command, ...timing } = opts;
  return runMaintenance(
    name,
    {
      ...timing,
      drain,
      owner: { who: drain.owner.who, why: `maintain: ${command.join(' ')}`.slice(0, 200) },
      work: commandWork({
        executor: deps.executor,
        commands: (node) => [{ argv: substituteNode(command, node) }],
      }),
    },
    deps,
  );
}
