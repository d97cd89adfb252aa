// Lists bosun's own backups in a directory with what their sidecars say. A backup counts as
// verified only when its sidecar parses, says verified, names this file and records its size.
// Anything bosun did not name is ignored; the temporary files of backups (running, or killed and
// left over) are listed apart, so that they are counted and never mistaken for backups.
import { join } from 'node:path';
import { BosunError, errorMessage } from '../common/errors.ts';
import type { BackupFs } from './backup-fs.ts';
import { parseBackupFileName, sidecarFileName, tempFileTag, type BackupName } from './backup-name.ts';
import { humanBytes } from './human-bytes.ts';
import { findLeftovers, type Leftover } from './leftovers.ts';
import type { ProcessTable } from './owner.ts';
import { readSidecar, type Sidecar } from './sidecar.ts';

/** One backup in a directory. */
export interface CatalogEntry {
  /** File name (no directory). */
  name: string;
  path: string;
  parsed: BackupName;
  /** Size on disk. */
  size: number;
  sidecar: Sidecar | null;
  verified: boolean;
  /** Why it is not verified, when it is not. */
  why: string | null;
}

/** The directory's entries; a directory that is absent, not one, or unreadable is a BosunError naming it. */
async function readBackupDir(dir: string, fs: BackupFs): Promise<string[]> {
  try {
    return await fs.readDir(dir);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const what =
      code === 'ENOENT'
        ? 'does not exist'
        : code === 'ENOTDIR'
          ? 'is not a directory'
          : `cannot be read: ${errorMessage(e)}`;
    throw new BosunError(`backup directory ${dir} ${what}`, 'IO', { cause: e });
  }
}

/** The backups bosun wrote in `dir`, newest first. Throws a BosunError when `dir` cannot be read. */
export async function listBackups(dir: string, fs: BackupFs): Promise<CatalogEntry[]> {
  const names = await readBackupDir(dir, fs);
  const present = new Set(names);
  const out: CatalogEntry[] = [];
  for (const name of names) {
    const parsed = parseBackupFileName(name);
    if (!parsed) continue;
    const path = join(dir, name);
    const st = await fs.stat(path);
    if (!st) continue;
    let sidecar: Sidecar | null = null;
    let why: string | null = null;
    const sc = sidecarFileName(name);
    if (!present.has(sc)) why = 'no sidecar';
    else {
      const read = readSidecar((await fs.readFile(join(dir, sc))).toString('utf8'));
      sidecar = 'sidecar' in read ? read.sidecar : null;
      if (sidecar === null) why = `sidecar is unreadable: ${'problem' in read ? read.problem : ''}`;
      else if (sidecar.file !== name) why = `sidecar is for ${sidecar.file}`;
      else if (sidecar.size !== st.size) why = `size ${st.size} differs from the sidecar's ${sidecar.size}`;
      else if (!sidecar.verified) why = 'sidecar says not verified';
    }
    out.push({ name, path, parsed, size: st.size, sidecar, verified: why === null, why });
  }
  out.sort((a, b) => b.parsed.time.getTime() - a.parsed.time.getTime() || (a.name < b.name ? 1 : -1));
  return out;
}

/**
 * The temporary files of backups in `dir`: `live` ones of backups that run (or may run), `stale`
 * ones left over by killed backups (the next backup there removes them).
 */
export async function listTemporaries(
  dir: string,
  fs: BackupFs,
  deps: { processes: ProcessTable; now: Date },
): Promise<Leftover[]> {
  await readBackupDir(dir, fs);
  return findLeftovers({ dir, tagOf: tempFileTag, processes: deps.processes, now: deps.now }, fs);
}

/** One line about the temporary files in a directory, for `backup list`; null when there are none. */
export function temporariesSummary(dir: string, list: readonly Leftover[]): string | null {
  if (list.length === 0) return null;
  const stale = list.filter((l) => l.state === 'stale');
  const live = list.length - stale.length;
  const parts: string[] = [];
  if (stale.length > 0) {
    const bytes = humanBytes(stale.reduce((a, l) => a + l.size, 0));
    parts.push(
      stale.length === 1
        ? `1 left over by an interrupted backup (${bytes}), removed by the next backup there`
        : `${stale.length} left over by interrupted backups (${bytes}), removed by the next backup there`,
    );
  }
  if (live > 0)
    parts.push(
      live === 1 ? '1 of a backup that may still be running' : `${live} of backups that may still be running`,
    );
  return `${list.length} temporary ${list.length === 1 ? 'file' : 'files'} of bosun backups in ${dir}: ${parts.join('; ')}`;
}
