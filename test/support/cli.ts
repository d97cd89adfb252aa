// Runs the bosun CLI as a user would (a separate process, from source through tsx) and finds
// processes that mention a directory, so tests can prove nothing was left running.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { run, scratchDir, type RunResult } from './sandbox.ts';

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

/**
 * `bosun sandbox up` of one control plane, `workers` workers and no workload in a new scratch
 * directory (plus `extra` flags), as a user runs it. The test's end brings it down, kills whatever
 * still mentions the directory (a test that failed half-way) and removes it.
 */
export async function sandboxUp(
  t: TestContext,
  prefix: string,
  workers: number,
  extra: readonly string[] = [],
): Promise<{ dir: string; up: RunResult }> {
  const dir = scratchDir(prefix);
  t.after(async () => {
    await bosun(['sandbox', 'down', '--dir', dir]);
    for (const p of processesMentioning(dir)) process.kill(p.pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });
  const up = await bosun([
    'sandbox',
    'up',
    '--dir',
    dir,
    '--control-planes',
    '1',
    '--workers',
    String(workers),
    '--workload',
    'none',
    ...extra,
  ]);
  return { dir, up };
}
