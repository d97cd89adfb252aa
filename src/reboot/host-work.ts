// What the reboot agent runs on its host: the reboot itself (a command through the NodeExecutor,
// which the agent's composition root points into the host's namespaces, or a signal to the host's
// PID 1) as the maintenance engine's work step, and an Exec for a sentinel command through the same
// executor. The engine records what the work started before it runs, so an agent killed while its
// reboot command ran never runs it twice beside itself.
import type { Exec, ExecResult } from '../common/ports.ts';
import { commandWork, type NodeWork } from '../drain/index.ts';
import type { NodeExecutor } from '../host/index.ts';

/** How the agent reboots its node (AgentConfig.reboot). */
export type RebootMethod =
  { method: 'command'; argv: readonly string[] } | { method: 'signal'; signal: number };

/**
 * The engine's work step that reboots the node. A command runs through the executor; a signal is
 * sent by `signalHost` (the composition root's process.kill(1, signal) with hostPID).
 */
export function rebootWork(
  method: RebootMethod,
  deps: { executor: NodeExecutor; signalHost?: ((signal: number) => void) | undefined },
): NodeWork {
  if (method.method === 'command')
    return commandWork({ executor: deps.executor, commands: () => [{ argv: method.argv }] });
  const what = `signal ${method.signal} to the host's PID 1`;
  return {
    describe: () => what,
    probe: async () => 'gone',
    async run() {
      if (!deps.signalHost)
        return {
          ok: false,
          message: `cannot send ${what} here`,
          exitCode: null,
          timedOut: false,
          notStarted: true,
        };
      try {
        deps.signalHost(method.signal);
        return { ok: true };
      } catch (e) {
        return {
          ok: false,
          message: `could not send ${what}: ${e instanceof Error ? e.message : String(e)}`,
          exitCode: null,
          timedOut: false,
          notStarted: true,
        };
      }
    },
  };
}

/** An Exec that runs each program on `node` through the executor (a sentinel command in the host's namespaces). */
export function execOnHost(executor: NodeExecutor, node: string): Exec {
  return {
    async run(cmd, args, opts = {}): Promise<ExecResult> {
      const out: string[] = [];
      const err: string[] = [];
      const r = await executor.run(
        node,
        { argv: [cmd, ...args] },
        {
          ...(opts.signal ? { signal: opts.signal } : {}),
          ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
          onOutput: (stream, line) => (stream === 'stdout' ? out : err).push(line),
        },
      );
      return {
        exitCode: r.exitCode,
        stdout: out.join('\n'),
        stderr: err.join('\n') || r.stderrTail,
        timedOut: r.timedOut,
      };
    },
  };
}
