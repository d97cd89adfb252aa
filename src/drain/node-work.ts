// The work step of a node's maintenance, as a port: what is done to the node while it is drained.
// `bosun maintain` runs a command; the upgrade runs recipe lines and then checks the kubelet's
// version; the reboot agent reboots its host. commandWork() builds the common case, commands run
// one after another through a NodeExecutor (host/), each recorded before it runs.
import { errorMessage } from '../common/errors.ts';
import {
  argvOf,
  type HostCommand,
  type NodeExecutor,
  type ProcessState,
  type StartedProcess,
} from '../host/index.ts';

/** What the engine hands the work. */
export interface WorkContext {
  /** Aborted on Ctrl-C: stop soon (the engine reports the maintenance as interrupted). */
  signal?: AbortSignal | undefined;
  /** A line of the work's output, as it comes. */
  onOutput(stream: 'stdout' | 'stderr', line: string): void;
  /**
   * Records on the node a process the work started, before it runs anything: pass it as the
   * executor's RunOptions.onStart. If bosun is killed while the process runs, the next run finds
   * the record and waits for that process instead of running the work again beside it. A work
   * that expects a reboot and runs several processes says which of them is not the one that
   * reboots (`rebootsNot`): after a kill during such a process, the next run runs the work again
   * instead of waiting for a new boot ID.
   */
  onStart(p: StartedProcess, opts?: { rebootsNot?: boolean }): Promise<void>;
}

/** How the work ended. */
export type WorkResult =
  | { ok: true }
  | {
      ok: false;
      /** One line: "apt-get upgrade -y exited with 100", "kubelet reports v1.33.1, not v1.34.1". */
      message: string;
      /** The failed command's exit code (null: killed by a signal, or none). */
      exitCode: number | null;
      timedOut: boolean;
      /** The work could not start at all (the program was not found): the message says why. */
      notStarted?: boolean;
    };

/** The work step. */
export interface NodeWork {
  /** One line for people and for the node's state, e.g. "ssh worker-2 sudo apt-get upgrade -y". */
  describe(node: string): string;
  /** Does the work on the node; resolves when it ended (rejects only on a bug or an abort). */
  run(node: string, ctx: WorkContext): Promise<WorkResult>;
  /** Whether a process recorded through WorkContext.onStart still runs ('unknown': cannot tell from here). */
  probe(p: StartedProcess): Promise<ProcessState>;
}

/** Options of {@link commandWork}. */
export interface CommandWorkOptions {
  executor: NodeExecutor;
  /** The commands for a node, run in order; the first that fails ends the work. */
  commands: (node: string) => readonly HostCommand[];
  /** Kill each command after this many milliseconds (0 or absent: no limit). */
  timeoutMs?: number;
}

/** Runs commands on the node through an executor, one after another, streaming their output. */
export function commandWork(o: CommandWorkOptions): NodeWork {
  const text = (c: HostCommand): string => argvOf(c).join(' ');
  return {
    describe: (node) => o.commands(node).map(text).join(' && '),
    probe: (p) => o.executor.probe(p),
    async run(node, ctx) {
      for (const c of o.commands(node)) {
        let r;
        try {
          r = await o.executor.run(node, c, {
            ...(ctx.signal ? { signal: ctx.signal } : {}),
            ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}),
            onOutput: ctx.onOutput,
            onStart: ctx.onStart,
          });
        } catch (e) {
          if (ctx.signal?.aborted) throw e;
          return {
            ok: false,
            message: `could not run ${argvOf(c)[0] ?? ''}: ${errorMessage(e)}`,
            exitCode: null,
            timedOut: false,
            notStarted: true,
          };
        }
        if (r.exitCode !== 0)
          return {
            ok: false,
            message: `${text(c)} ${r.timedOut ? 'timed out' : `exited with ${r.exitCode ?? 'a signal'}`}`,
            exitCode: r.exitCode,
            timedOut: r.timedOut,
          };
      }
      return { ok: true };
    },
  };
}

/** Whether the command reboots the machine (reboot, systemctl reboot, shutdown -r). */
export function looksLikeReboot(command: readonly string[]): boolean {
  const words = command.map((w) => w.split('/').pop() ?? w);
  const joined = ` ${words.join(' ')} `;
  return /\s(reboot)\s/.test(joined) || /\sshutdown\s.*-r\b/.test(joined);
}
