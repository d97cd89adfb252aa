// Kill-anywhere tests: runs bosun as a separate process (from source through tsx) and SIGKILLs it
// the moment a trigger is seen: a line on its stderr or stdout, a change in a directory (inotify through
// fs.watch), or a process whose command line matches. Event driven, no sleeps; every wait is
// bounded so that a test fails instead of hanging.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, watch, type FSWatcher } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processesMentioning } from './cli.ts';
import { fill, startTestEtcd, type TestEtcd } from './etcd-backup.ts';

const MAIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');

/** A bosun process started by startBosun. */
export interface RunningBosun {
  child: ChildProcess;
  pid: number;
  stdout(): string;
  stderr(): string;
  /** Resolves when it exited (code, or the signal that ended it). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts `bosun ARGS` (not waiting for it); `wrap` runs it through another command (e.g. unshare). */
export function startBosun(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  wrap: readonly string[] = [],
): RunningBosun {
  const cmd = [...wrap, process.execPath, '--import', 'tsx', MAIN, ...args];
  const child = spawn(cmd[0] ?? '', cmd.slice(1), {
    env: { ...process.env, BOSUN_DEBUG: '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('close', (code, signal) => resolve({ code, signal })),
  );
  if (child.pid === undefined) throw new Error('bosun did not start');
  return { child, pid: child.pid, stdout: () => out, stderr: () => err, exited };
}

/** Runs bosun to its end, bounded. */
export async function runBosun(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
  boundMs = 120_000,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const r = startBosun(args, env);
  const timer = setTimeout(() => r.child.kill('SIGKILL'), boundMs);
  const { code } = await r.exited;
  clearTimeout(timer);
  return { code, stdout: r.stdout(), stderr: r.stderr() };
}

/** A directory entry with its size. */
export interface Entry {
  name: string;
  size: number;
}

/** Entries of a directory (none when it is absent). */
export function entries(dir: string): Entry[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: Entry[] = [];
  for (const name of names.sort()) {
    try {
      out.push({ name, size: statSync(join(dir, name)).size });
    } catch {
      // removed meanwhile
    }
  }
  return out;
}

/** When to kill: the first of these that holds. */
export interface Trigger {
  /** Named in assertion messages. */
  name: string;
  /** A line of stderr matches. */
  stderr?: RegExp;
  /** A line of stdout matches (results, such as the drain's "evicting pod ..."). */
  stdout?: RegExp;
  /** The entries of a directory (checked on every change in it, and at once). */
  dir?: { path: string; when: (e: Entry[]) => boolean };
  /** A process whose command line (arguments joined by spaces) matches (polled every 5 ms). */
  process?: (cmdline: string) => boolean;
}

/**
 * SIGKILLs `run` as soon as the trigger holds. Resolves 'killed', or 'finished' when bosun ended
 * before the trigger was seen. Throws when neither happened within the bound.
 */
export function killAt(run: RunningBosun, t: Trigger, boundMs = 120_000): Promise<'killed' | 'finished'> {
  return new Promise((resolve, reject) => {
    let settled = false;
    let watcher: FSWatcher | null = null;
    let dirPoll: NodeJS.Timeout | null = null;
    let procPoll: NodeJS.Timeout | null = null;
    const finish = (how: 'killed' | 'finished' | Error): void => {
      if (settled) return;
      settled = true;
      watcher?.close();
      if (dirPoll) clearInterval(dirPoll);
      if (procPoll) clearInterval(procPoll);
      clearTimeout(bound);
      run.child.stderr?.off('data', onLine);
      run.child.stdout?.off('data', onLine);
      if (how instanceof Error) {
        run.child.kill('SIGKILL');
        reject(how);
      } else resolve(how);
    };
    const kill = (): void => {
      if (settled) return;
      run.child.kill('SIGKILL');
      finish('killed');
    };
    const seen = (re: RegExp | undefined, text: string): boolean =>
      re !== undefined && text.split('\n').some((l) => re.test(l));
    const onLine = (): void => {
      if (seen(t.stderr, run.stderr()) || seen(t.stdout, run.stdout())) kill();
    };
    const checkDir = (): void => {
      if (t.dir && t.dir.when(entries(t.dir.path))) kill();
    };
    const bound = setTimeout(
      () => finish(new Error(`trigger "${t.name}" not seen within ${boundMs} ms`)),
      boundMs,
    );
    run.child.stderr?.on('data', onLine);
    run.child.stdout?.on('data', onLine);
    void run.exited.then(() => finish('finished'));
    if (t.dir) {
      const path = t.dir.path;
      try {
        watcher = watch(path, () => checkDir());
      } catch {
        // Not there yet: poll until it is, then watch.
        dirPoll = setInterval(() => {
          try {
            watcher = watch(path, () => checkDir());
            if (dirPoll) clearInterval(dirPoll);
            dirPoll = null;
            checkDir();
          } catch {
            // still absent
          }
        }, 5);
      }
      checkDir();
    }
    if (t.process) {
      const match = t.process;
      procPoll = setInterval(() => {
        if (processesMentioning('').some((p) => match(p.cmd))) kill();
      }, 5);
    }
    onLine();
  });
}

/** Waits until no process mentions `text` any more; throws with what is left after the bound. */
export async function noProcessMentions(text: string, boundMs = 10_000): Promise<void> {
  const end = Date.now() + boundMs;
  for (;;) {
    const left = processesMentioning(text);
    if (left.length === 0) return;
    if (Date.now() > end)
      throw new Error(
        `still running after ${boundMs} ms: ${left.map((p) => `${p.pid} ${p.cmd}`).join('; ')}`,
      );
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A plain-http etcd holding ~20 MB, a work directory, and a backup taken by an uninterrupted run. */
export interface KillFixture {
  etcd: TestEtcd;
  work: string;
  /** The reference backup and what its sidecar says. */
  ref: { file: string; revision: number; liveKeys: number; hash: number };
  /** `bosun backup` into `dir`, cluster label `t`, keeping 1. */
  backupArgs(dir: string): string[];
  stop(): Promise<void>;
}

/** Starts the fixture of the kill-anywhere tests (stop it in after()). */
export async function startKillFixture(): Promise<KillFixture> {
  const work = mkdtempSync(join(tmpdir(), 'bosun-kill-'));
  const etcd = await startTestEtcd({ tls: false });
  const backupArgs = (dir: string): string[] => [
    'backup',
    '--endpoints',
    etcd.endpoint,
    '--dir',
    dir,
    '--cluster-name',
    't',
    '--keep',
    '1',
  ];
  const stop = async (): Promise<void> => {
    await etcd.stop();
    rmSync(work, { recursive: true, force: true });
  };
  try {
    await fill(etcd.client, '/registry/configmaps/big/cm-', 2000, 10_000);
    const r = await runBosun([...backupArgs(join(work, 'ref')), '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const doc = JSON.parse(r.stdout) as KillFixture['ref'];
    const ref = { file: doc.file, revision: doc.revision, liveKeys: doc.liveKeys, hash: doc.hash };
    return { etcd, work, ref, backupArgs, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
