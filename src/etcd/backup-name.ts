// How bosun names its backups and their sidecars, and how it recognises its own files in a
// directory (retention only ever touches names that parse here). Pure.

/** Parts of a backup file name. */
export interface BackupName {
  /** Cluster label: --cluster-name, or the etcd cluster ID in hex. */
  cluster: string;
  /** When the snapshot was taken (UTC, whole seconds). */
  time: Date;
  /** The snapshot's etcd revision. */
  revision: number;
  encrypted: boolean;
  /** 0 normally; n > 0 when a name with the same cluster, second and revision already existed. */
  seq: number;
}

const NAME_RE = /^etcd-([a-z0-9][a-z0-9.-]*?)-(\d{8}T\d{6}Z)-rev(\d+)(?:-(\d+))?\.db(\.enc)?$/;

/** Lower-cases a label and keeps only [a-z0-9.-], so it is safe in a file name. */
export function sanitizeClusterName(name: string): string {
  const s = name
    .toLowerCase()
    .replace(/[^a-z0-9.-]+/g, '-')
    .replace(/^[^a-z0-9]+/, '')
    .replace(/-+$/, '');
  return s === '' ? 'etcd' : s;
}

function stamp(d: Date): string {
  return d
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z')
    .replace(/[-:]/g, '');
}

/** `etcd-<cluster>-<YYYYMMDDTHHMMSSZ>-rev<N>[-<seq>].db[.enc]` */
export function backupFileName(n: BackupName): string {
  return `etcd-${sanitizeClusterName(n.cluster)}-${stamp(n.time)}-rev${n.revision}${n.seq > 0 ? `-${n.seq}` : ''}.db${n.encrypted ? '.enc' : ''}`;
}

/** Parses a name written by backupFileName; null for anything else. */
export function parseBackupFileName(name: string): BackupName | null {
  const m = NAME_RE.exec(name);
  if (!m) return null;
  const t = m[2] ?? '';
  const iso = `${t.slice(0, 4)}-${t.slice(4, 6)}-${t.slice(6, 8)}T${t.slice(9, 11)}:${t.slice(11, 13)}:${t.slice(13, 15)}Z`;
  const time = new Date(iso);
  if (Number.isNaN(time.getTime())) return null;
  return {
    cluster: m[1] ?? '',
    time,
    revision: Number(m[3]),
    seq: m[4] ? Number(m[4]) : 0,
    encrypted: m[5] !== undefined,
  };
}

/** The JSON sidecar beside a backup. */
export function sidecarFileName(backupFile: string): string {
  return `${backupFile}.json`;
}

/** The temporary file a backup streams into; it never parses as a backup. `tag` is an owner tag (owner.ts). */
export function tempFileName(tag: string): string {
  return `.bosun-backup-${tag}.part`;
}

/** The temporary file of the sidecar, renamed into place right after the backup. */
export function sidecarTempFileName(tag: string): string {
  return `.bosun-backup-${tag}.json.part`;
}

const TEMP_RE = /^\.bosun-backup-([^.]+)(?:\.json)?\.part$/;

/** The tag in the name of a backup's or sidecar's temporary file; null for other names. */
export function tempFileTag(name: string): string | null {
  return TEMP_RE.exec(name)?.[1] ?? null;
}
