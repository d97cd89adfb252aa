// Lists bosun's own backups in a directory with what their sidecars say. A backup counts as
// verified only when its sidecar parses, says verified, names this file and records its size.
// Anything bosun did not name (other files, temp files of an interrupted run) is ignored.
import { join } from 'node:path';
import type { BackupFs } from './backup-fs.ts';
import { parseBackupFileName, sidecarFileName, type BackupName } from './backup-name.ts';
import { parseSidecar, type Sidecar } from './sidecar.ts';

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

/** The backups bosun wrote in `dir`, newest first; an absent directory has none. */
export async function listBackups(dir: string, fs: BackupFs): Promise<CatalogEntry[]> {
  let names: string[];
  try {
    names = await fs.readDir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
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
      sidecar = parseSidecar((await fs.readFile(join(dir, sc))).toString('utf8'));
      if (sidecar === null) why = 'sidecar does not parse';
      else if (sidecar.file !== name) why = `sidecar is for ${sidecar.file}`;
      else if (sidecar.size !== st.size) why = `size ${st.size} differs from the sidecar's ${sidecar.size}`;
      else if (!sidecar.verified) why = 'sidecar says not verified';
    }
    out.push({ name, path, parsed, size: st.size, sidecar, verified: why === null, why });
  }
  out.sort((a, b) => b.parsed.time.getTime() - a.parsed.time.getTime() || (a.name < b.name ? 1 : -1));
  return out;
}
