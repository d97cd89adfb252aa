// Runs the CLI in this process without a cluster, for the CLI's own tests: a fresh program per run,
// stdout and stderr kept apart, a fake clock, and an Exec that only counts what it was asked to run.
import { FakeClock } from '../../common/fake-clock.ts';
import type { Exec } from '../../common/ports.ts';
import type { CliContext } from '../context.ts';
import { runCli } from '../program.ts';

/** One run: the exit code, the lines of stdout and stderr, and how many commands it ran. */
export interface OfflineRun {
  code: number;
  out: string[];
  err: string[];
  execs: number;
}

/** Runs `bosun ARGV` with HOME (and cwd) at home and an empty environment. */
export async function runOffline(argv: readonly string[], home: string): Promise<OfflineRun> {
  const out: string[] = [];
  const err: string[] = [];
  let execs = 0;
  const exec: Exec = {
    run: () => {
      execs++;
      return Promise.resolve({ exitCode: 0, stdout: '', stderr: '', timedOut: false });
    },
  };
  const ctx: CliContext = {
    out: { out: (l) => out.push(l), err: (l) => err.push(l), isTTY: false },
    env: {},
    cwd: home,
    clock: new FakeClock(0),
    exec,
    signal: new AbortController().signal,
    self: { execPath: process.execPath, args: [] },
    home,
  };
  const code = await runCli(argv, ctx);
  return { code, out, err, execs };
}
