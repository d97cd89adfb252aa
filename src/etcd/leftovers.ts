// Finds what killed runs of bosun left in a directory (a backup's `.part` files, a restore's
// staging directory, a trial restore's directory), judged by the owner recorded in each name
// (owner.ts), and removes the stale ones. A live owner's files are never touched.
import { lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { errorMessage } from '../common/errors.ts';
import type { LeftoverNotRemoved } from './events.ts';
import { judgeLeftover, parseOwnerTag, type ProcessTable } from './owner.ts';

/** The file-system calls this needs (BackupFs has them; restore passes node:fs ones). */
export interface LeftoverFs {
  readDir(dir: string): Promise<string[]>;
  /** Size, modification time and owning uid (when known), or null when missing. */
  stat(path: string): Promise<{ size: number; mtime: Date; uid?: number } | null>;
  /** Removes a file or a whole directory; a missing one is not an error. */
  remove(path: string): Promise<void>;
}

/** A temporary file or directory of bosun's found in a directory. */
export interface Leftover {
  name: string;
  path: string;
  /** Bytes (of a file; 0 for a directory). */
  size: number;
  state: 'live' | 'stale';
  /** Why, in words ("bosun (pid 123) is gone"). */
  why: string;
}

/** What to look for and how to judge it. */
export interface LeftoverScan {
  dir: string;
  /** The owner tag in a name bosun gives its temporary files there, or null for other names. */
  tagOf: (name: string) => string | null;
  processes: ProcessTable;
  now: Date;
  /** Only entries owned by this uid (a shared directory such as /tmp); undefined: any. */
  uid?: number;
}

/** bosun's temporary files in `dir` with their verdicts; none when the directory is absent. */
export async function findLeftovers(scan: LeftoverScan, fs: LeftoverFs): Promise<Leftover[]> {
  let names: string[];
  try {
    names = await fs.readDir(scan.dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const self = scan.processes.self();
  const out: Leftover[] = [];
  for (const name of names.sort()) {
    const tag = scan.tagOf(name);
    const parsed = tag === null ? null : parseOwnerTag(tag);
    if (parsed === null) continue;
    const path = join(scan.dir, name);
    const st = await fs.stat(path);
    if (st === null) continue;
    if (scan.uid !== undefined && st.uid !== undefined && st.uid !== scan.uid) continue;
    const v = judgeLeftover(parsed.owner, scan.now.getTime() - st.mtime.getTime(), self, (o) =>
      scan.processes.isRunning(o),
    );
    out.push({ name, path, size: st.size, state: v.state, why: v.why });
  }
  return out;
}

/** Removes the stale ones; returns those removed, and an event for each that could not be. */
export async function removeStale(
  found: readonly Leftover[],
  fs: LeftoverFs,
): Promise<{ removed: Leftover[]; failed: LeftoverNotRemoved[] }> {
  const removed: Leftover[] = [];
  const failed: LeftoverNotRemoved[] = [];
  for (const l of found) {
    if (l.state !== 'stale') continue;
    try {
      await fs.remove(l.path);
      removed.push(l);
    } catch (e) {
      failed.push({ type: 'leftover-not-removed', path: l.path, why: l.why, error: errorMessage(e) });
    }
  }
  return { removed, failed };
}

/** The real file system, removing directories recursively. */
export const nodeLeftoverFs: LeftoverFs = {
  readDir: (dir) => readdir(dir),
  async stat(path) {
    try {
      const s = await lstat(path);
      return { size: s.isFile() ? s.size : 0, mtime: s.mtime, uid: s.uid };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  },
  remove: (path) => rm(path, { recursive: true, force: true }),
};
