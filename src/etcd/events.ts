// What the etcd feature reports while it works (a backup, a restore, a trial restore), as plain
// data: the facts, never the sentences. The CLI turns them into lines (cli/print/etcd-progress.ts).

/** A temporary file or directory of a killed run that could not be removed (the work goes on). */
export interface LeftoverNotRemoved {
  type: 'leftover-not-removed';
  path: string;
  /** Why it was judged stale ("bosun (pid 123) is gone"). */
  why: string;
  /** The error's message. */
  error: string;
}

/** What `takeBackup` reports. */
export type BackupEvent =
  /** With several endpoints: one member's verdict, chosen or skipped, and why. */
  | { type: 'member'; endpoint: string; chosen: boolean; why: string }
  /** The backup directory could not be searched for what killed backups left. */
  | { type: 'leftover-scan-failed'; dir: string; error: string }
  | LeftoverNotRemoved
  /** A killed backup had verified and named `file` but not its sidecar: the sidecar was put in place. */
  | { type: 'sidecar-completed'; file: string }
  /** Temporary files of killed backups were removed (full paths and sizes in bytes). */
  | { type: 'leftovers-removed'; files: { path: string; size: number }[] }
  /** The snapshot stream starts: from this member (its name when known), encrypted with keyId or not. */
  | { type: 'snapshot-started'; endpoint: string; member: string | null; keyId: string | null }
  /** Bytes received so far, of `total` (reported at most every 2 s). */
  | { type: 'snapshot-progress'; received: number; total: number }
  /** The whole snapshot is on disk; it is being verified. */
  | { type: 'snapshot-received'; bytes: number }
  /** The verified backup has its name and its sidecar. */
  | { type: 'saved'; file: string; revision: number; liveKeys: number; size: number }
  /** Retention removed this backup (and its sidecar). */
  | { type: 'pruned'; path: string }
  /** Retention could not remove this backup. */
  | { type: 'prune-failed'; path: string; error: string };

/** What `restoreSnapshot` and `trialRestore` report. */
export type RestoreEvent =
  | LeftoverNotRemoved
  /** A staging directory of a killed restore (or a trial restore's directory) was removed. */
  | { type: 'leftover-removed'; path: string; why: string; by: 'restore' | 'trial-restore' }
  /** The snapshot file is being verified before anything is restored. */
  | { type: 'verifying'; file: string }
  /** The restore tool runs, building the data dir. */
  | { type: 'restoring'; tool: 'etcdutl' | 'etcdctl'; dataDir: string }
  /** The trial restore starts etcd on the restored data, on unix sockets only. */
  | { type: 'trial-etcd-starting' };

/** Any event of the etcd feature. */
export type EtcdEvent = BackupEvent | RestoreEvent;
