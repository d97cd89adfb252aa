// What a killed `certs renew` leaves behind, and the lock that tells a killed run from a running
// one. One renewal at a time per node holds <config-dir>/.bosun-certs-renew.lock (its pid and
// that process's start time, so a reused pid is not mistaken for it); a lock whose process is gone
// is removed. Holding the lock, a run removes bosun's own leftovers, each named on the way:
// temporary files (`.NAME.<12 hex>.tmp`, which may hold private keys) beside the files renew
// writes, and backups it did not finish (`.bosun-certs-backup-*.part`). It removes nothing else.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { link, lstat, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { BosunError } from '../common/errors.ts';
import type { CertPaths } from './check.ts';
import { TEMP_FILE_NAME, readPkiFile } from './files.ts';
import type { CertsEventSink } from './progress.ts';
import { PARTIAL_BACKUP_NAME } from './renew.ts';

/** Where the lock of `certs renew` on a node is. */
export function renewLockPath(paths: CertPaths): string {
  return join(paths.configDir, '.bosun-certs-renew.lock');
}

interface LockRecord {
  pid: number;
  /** /proc/PID/stat's starttime (clock ticks after boot); '' where there is no /proc. */
  startTime: string;
  started: string;
}

/** A process's start time from /proc (field 22 of /proc/PID/stat), '' when it cannot be read. */
function processStartTime(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    return '';
  }
}

/** Whether the process that wrote a lock still runs (the same pid and, where known, start time). */
function isRunning(held: LockRecord): boolean {
  try {
    process.kill(held.pid, 0);
  } catch (e) {
    // EPERM: it runs, as another user.
    if ((e as { code?: unknown }).code !== 'EPERM') return false;
  }
  const now = processStartTime(held.pid);
  return held.startTime === '' || now === '' || now === held.startTime;
}

function parseLock(text: string): LockRecord | undefined {
  try {
    const v = JSON.parse(text) as Partial<LockRecord>;
    if (typeof v.pid !== 'number' || !Number.isInteger(v.pid) || v.pid <= 0) return undefined;
    return { pid: v.pid, startTime: String(v.startTime ?? ''), started: String(v.started ?? '') };
  } catch {
    return undefined;
  }
}

/** A held lock. */
export interface RenewLock {
  release(): Promise<void>;
}

/**
 * Takes the node's renew lock, removing (and naming) one whose process is gone. Throws a BosunError
 * when another renewal runs. The lock file is written whole under a temporary name and linked into
 * place, so it is never seen half-written.
 */
export async function acquireRenewLock(
  paths: CertPaths,
  deps: { now: Date; onEvent: CertsEventSink },
): Promise<RenewLock> {
  const file = renewLockPath(paths);
  // No config dir, nothing to renew (the renewal refuses): create nothing for a lock.
  try {
    if (!(await stat(dirname(file))).isDirectory()) return { release: () => Promise.resolve() };
  } catch {
    return { release: () => Promise.resolve() };
  }
  const mine: LockRecord = {
    pid: process.pid,
    startTime: processStartTime(process.pid),
    started: deps.now.toISOString(),
  };
  const tmp = join(dirname(file), `.bosun-certs-renew.lock.${randomBytes(6).toString('hex')}.tmp`);
  await writeFile(tmp, JSON.stringify(mine) + '\n', { mode: 0o600 });
  try {
    for (let attempt = 0; ; attempt++) {
      try {
        await link(tmp, file);
        return { release: () => rm(file, { force: true }) };
      } catch (e) {
        const code = (e as { code?: unknown }).code;
        // ENOENT: another run starting at this very moment removed our temporary file.
        if (code === 'ENOENT')
          throw new BosunError('another bosun certs renew is starting on this node', 'CONFLICT', {
            hint: 'Run one renewal at a time on a node.',
          });
        if (code !== 'EEXIST' || attempt >= 3) throw e;
      }
      const r = await readPkiFile(file);
      if (r.kind === 'missing') continue;
      const held = r.kind === 'ok' ? parseLock(r.text) : undefined;
      if (held && isRunning(held)) {
        throw new BosunError(
          `another bosun certs renew (pid ${held.pid}) is running on this node since ${held.started}`,
          'CONFLICT',
          { hint: `Wait for it to end. If no such process runs, remove ${file}.` },
        );
      }
      await rm(file, { force: true });
      deps.onEvent({
        type: 'recovered',
        message: `[recover] removed ${file}: ${held ? `the lock of bosun certs renew (pid ${held.pid}), which is no longer running` : 'an unreadable lock'}`,
      });
    }
  } finally {
    await rm(tmp, { force: true });
  }
}

/** The directories `certs renew` writes into (kubeconfigs, leaves, backups), without repeats. */
function writtenDirs(paths: CertPaths, backupRoot: string): string[] {
  return [
    ...new Set([
      paths.configDir,
      paths.pkiDir,
      join(paths.pkiDir, 'etcd'),
      join(paths.configDir, 'tmp'),
      backupRoot,
    ]),
  ];
}

async function entries(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}

/**
 * Removes bosun's own leftovers of an interrupted renewal and names each: temporary files beside
 * the files renew writes, and unfinished backups under backupRoot. Call it holding the lock.
 */
export async function removeLeftovers(
  paths: CertPaths,
  backupRoot: string,
  onEvent: CertsEventSink,
): Promise<void> {
  for (const dir of writtenDirs(paths, backupRoot)) {
    for (const name of await entries(dir)) {
      if (!TEMP_FILE_NAME.test(name)) continue;
      const p = join(dir, name);
      if (!(await lstat(p)).isFile()) continue;
      await rm(p, { force: true });
      onEvent({
        type: 'recovered',
        message: `[recover] removed ${p}: a temporary file an interrupted bosun certs renew left behind`,
      });
    }
  }
  for (const name of await entries(backupRoot)) {
    if (!PARTIAL_BACKUP_NAME.test(name)) continue;
    const p = join(backupRoot, name);
    if (!(await lstat(p)).isDirectory()) continue;
    await rm(p, { recursive: true, force: true });
    onEvent({
      type: 'recovered',
      message: `[recover] removed ${p}: a backup an interrupted bosun certs renew did not finish`,
    });
  }
}
