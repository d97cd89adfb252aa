// Runs the bosun CLI as a user would (a separate process, from source through tsx) and finds
// processes that mention a directory, so tests can prove nothing was left running.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { run, type RunResult } from './sandbox.ts';

const MAIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

/** Runs `bosun ARGS` and returns exit code, stdout and stderr. */
export function bosun(
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string; cwd?: string } = {},
): Promise<RunResult> {
  return run(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    env: { ...process.env, BOSUN_DEBUG: '', ...(opts.env ?? {}) },
    timeoutMs: opts.timeoutMs ?? 180_000,
    ...(opts.input !== undefined ? { input: opts.input } : {}),
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
  });
}

/** Pids of processes whose command line contains text (other than this one). */
export function processesMentioning(text: string): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${e}/cmdline`, 'utf8').split('\0').join(' ');
      if (cmd.includes(text)) out.push({ pid: Number(e), cmd });
    } catch {
      // gone
    }
  }
  return out;
}
