// Test support: a NodeExecutor over the common Exec port, so unit tests can hand the maintain
// engine a fake Exec (src/common/ports.ts) that records calls and plays them against a fake cluster.
// Output is reported when the command ends; nothing is recorded through onStart (no real process),
// and a probe cannot tell anything.
import type { Exec } from '../../common/ports.ts';
import {
  argvOf,
  type HostCommand,
  type NodeExecutor,
  type ProcessState,
  type RunOptions,
  type RunResult,
} from '../executor.ts';
import { shellJoin } from '../shell.ts';

/** Runs commands through an Exec port with a fixed environment. */
export class ExecPortExecutor implements NodeExecutor {
  constructor(
    private readonly exec: Exec,
    private readonly env: Record<string, string | undefined> = {},
  ) {}

  describe(_node: string, cmd: HostCommand): string {
    return shellJoin(argvOf(cmd));
  }

  async run(_node: string, cmd: HostCommand, opts: RunOptions = {}): Promise<RunResult> {
    const [program = '', ...args] = argvOf(cmd);
    const r = await this.exec.run(program, args, {
      env: { ...this.env },
      ...(opts.signal ? { signal: opts.signal } : {}),
      ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
    });
    for (const line of r.stdout.split('\n').filter((l) => l !== '')) opts.onOutput?.('stdout', line);
    for (const line of r.stderr.split('\n').filter((l) => l !== '')) opts.onOutput?.('stderr', line);
    return { exitCode: r.exitCode, timedOut: r.timedOut, stderrTail: r.stderr.slice(-4096) };
  }

  probe(): Promise<ProcessState> {
    return Promise.resolve('unknown');
  }
}
