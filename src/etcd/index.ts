// The etcd feature's public surface: backup save/verify/status/list, restore and trial restore.
// Other folders import only this file (and member.ts, the etcd member runner, for the sandbox).
// Whatever needs the network stack or the etcd3 library (taking a backup, the trial restore) is
// loaded on first call, so `backup status|verify|list` and `restore` start without it.
import { tmpdir } from 'node:os';
import type { EtcdPortOptions, EtcdPort } from './etcd-client.ts';
import type { BackupDeps, BackupOptions, BackupResult } from './save.ts';
import type { RestoreDeps } from './restore.ts';
import type { EncryptionKey } from './encryption.ts';
import type { TrialResult } from './trial-restore.ts';

export { nodeBackupFs, type BackupFs, type WritableFile } from './backup-fs.ts';
export { backupFileName, parseBackupFileName, sidecarFileName } from './backup-name.ts';
export { listBackups, listTemporaries, temporariesSummary, type CatalogEntry } from './catalog.ts';
export type { Leftover } from './leftovers.ts';
export type { ProcessTable } from './owner.ts';
export { procTable } from './proc-table.ts';
export { parseKeyFile, type EncryptionKey } from './encryption.ts';
export type { EtcdPort } from './etcd-client.ts';
export type { BackupEvent, EtcdEvent, LeftoverNotRemoved, RestoreEvent } from './events.ts';
export { humanBytes } from './human-bytes.ts';
export { chooseMember, type MemberProbe } from './member-select.ts';
// The etcd member runner (child processes, HTTP health checks) is imported from member.ts by
// those who run members (the sandbox, trial restores), so that this surface stays light.
export type { EtcdMemberSpec, EtcdProcess } from './member.ts';
export { haRestoreSteps, parseInitialCluster } from './restore-plan.ts';
export { restoreSnapshot, type RestoreDeps, type RestoreOptions, type RestoreResult } from './restore.ts';
export { planRetention, type RetentionPolicy } from './retention.ts';
export type { BackupDeps, BackupOptions, BackupResult } from './save.ts';
export { parseSidecar, type Sidecar } from './sidecar.ts';
export { humanizeBytes, readKeyFile, snapshotStatus } from './status.ts';
export type { SnapshotStatus } from './snapshot-scan.ts';
export {
  KUBEADM_ETCD_ENDPOINT,
  KUBEADM_PKI_DIR,
  kubeadmTlsPaths,
  loadTls,
  type TlsPaths,
} from './tls-files.ts';
export type { TrialResult } from './trial-restore.ts';
export { verifySnapshotFile, type VerifyReport } from './verify.ts';

/** The directory for temporary files: $TMPDIR from the CLI's environment, else the OS default. */
export function tmpDir(env: Readonly<Record<string, string | undefined>>): string {
  const t = env['TMPDIR'];
  return t !== undefined && t !== '' ? t : tmpdir();
}

/** The real etcd port, gRPC over HTTP/2 (see etcd-client.ts); loaded on first use. */
export async function createEtcdPort(opts: EtcdPortOptions): Promise<EtcdPort> {
  const { etcdGrpcPort } = await import('./etcd-client.ts');
  return etcdGrpcPort(opts);
}

/** Takes one verified backup (see save.ts). */
export async function takeBackup(opts: BackupOptions, deps: BackupDeps): Promise<BackupResult> {
  const m = await import('./save.ts');
  return m.takeBackup(opts, deps);
}

/** Restores into a temp dir, starts etcd there and compares revision and key count (see trial-restore.ts). */
export async function trialRestore(
  file: string,
  opts: { key: EncryptionKey | null; expected?: { revision: number; keys: number } },
  deps: RestoreDeps & { tmpDir: string; etcdBinary?: string },
): Promise<TrialResult> {
  const m = await import('./trial-restore.ts');
  return m.trialRestore(file, opts, deps);
}
