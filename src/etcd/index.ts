// The etcd feature's public surface: backup save/verify/status/list, restore and trial restore,
// and the etcd member runner. Other folders import only this file (and member.ts, for the sandbox).
import { tmpdir } from 'node:os';

export { nodeBackupFs, type BackupFs, type WritableFile } from './backup-fs.ts';
export { backupFileName, parseBackupFileName, sidecarFileName } from './backup-name.ts';
export { listBackups, type CatalogEntry } from './catalog.ts';
export { parseKeyFile, type EncryptionKey } from './encryption.ts';
export { etcd3Port, type EtcdPort } from './etcd-client.ts';
export { chooseMember, type MemberProbe } from './member-select.ts';
export { etcdArgs, etcdHealthy, startEtcd, type EtcdMemberSpec, type EtcdProcess } from './member.ts';
export { haRestoreSteps, parseInitialCluster } from './restore-plan.ts';
export { restoreSnapshot, type RestoreDeps, type RestoreOptions, type RestoreResult } from './restore.ts';
export { planRetention, type RetentionPolicy } from './retention.ts';
export { takeBackup, type BackupDeps, type BackupOptions, type BackupResult } from './save.ts';
export { parseSidecar, type Sidecar } from './sidecar.ts';
export { humanizeBytes, readKeyFile, snapshotStatus } from './status.ts';
export type { SnapshotStatus } from './snapshot-scan.ts';
export { KUBEADM_ETCD_ENDPOINT, KUBEADM_PKI_DIR, kubeadmTlsPaths, loadTls, type TlsPaths } from './tls-files.ts';
export { trialRestore, type TrialResult } from './trial-restore.ts';
export { verifySnapshotFile, type VerifyReport } from './verify.ts';

/** The directory for temporary files: $TMPDIR from the CLI's environment, else the OS default. */
export function tmpDir(env: Readonly<Record<string, string | undefined>>): string {
  const t = env['TMPDIR'];
  return t !== undefined && t !== '' ? t : tmpdir();
}
