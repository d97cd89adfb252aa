// `bosun backup`: picks a member, streams its Maintenance Snapshot into a temporary file in the
// backup directory (encrypting it on the way when asked), fsyncs, verifies it (sha256 trailer,
// every bbolt page, etcdctl's status numbers), and only then gives it its name and its sidecar,
// mode 0600, and applies retention. Whatever fails, and on Ctrl-C, it removes its temporary
// files: a file that looks like a backup is always a complete, verified one. A SIGKILL leaves
// them behind (nothing runs after it): their names record their owner (owner.ts), and the next
// backup in the directory removes those whose owner is gone, never a running backup's. A backup
// killed between naming the file and naming its sidecar is completed by that next backup.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { BosunError, errorMessage, isBosunError } from '../common/errors.ts';
import type { Clock } from '../common/ports.ts';
import type { BackupFs, WritableFile } from './backup-fs.ts';
import {
  backupFileName,
  parseBackupFileName,
  sanitizeClusterName,
  sidecarFileName,
  sidecarTempFileName,
  tempFileName,
  tempFileTag,
} from './backup-name.ts';
import { listBackups } from './catalog.ts';
import { humanBytes } from './human-bytes.ts';
import { ChunkEncryptor, type EncryptionKey } from './encryption.ts';
import type { EtcdPort } from './etcd-client.ts';
import type { BackupEvent } from './events.ts';
import { fastCrc32c } from './crc32c-fast.ts';
import { findLeftovers, removeStale, type Leftover } from './leftovers.ts';
import { chooseMember, type MemberChoice } from './member-select.ts';
import { formatOwnerTag, type ProcessTable } from './owner.ts';
import { PageCollector } from './page-index.ts';
import { planRetention, type RetentionPolicy } from './retention.ts';
import { procTable } from './proc-table.ts';
import { formatSidecar, parseSidecar, type Sidecar } from './sidecar.ts';
import { openSnapshot } from './snapshot-file.ts';
import { StagedWriter } from './snapshot-writer.ts';
import { verifyOpen } from './verify.ts';

/** What to back up and where. */
export interface BackupOptions {
  /** Client URLs; with several, one healthy member that is not lagging is chosen. */
  endpoints: readonly string[];
  /** Backup directory; created 0700 when missing. */
  dir: string;
  /** Label in the file name; defaults to the etcd cluster ID in hex. */
  clusterName?: string;
  /** Encrypt at rest with this key; null writes the snapshot as etcd sent it. */
  encryptionKey: EncryptionKey | null;
  retention: RetentionPolicy;
  /** A member whose applied raft index trails the best by more than this is skipped. Default 100. */
  maxLagEntries?: number;
}

/** Ports the backup uses. */
export interface BackupDeps {
  etcd: EtcdPort;
  fs: BackupFs;
  clock: Clock;
  /** Aborts the stream (Ctrl-C); temp files are removed. */
  signal: AbortSignal;
  /** What the backup reports as it goes (the CLI prints it). */
  observer?: (e: BackupEvent) => void;
  /** Randomness for temp names and nonces; default crypto.randomBytes. */
  random?: (n: number) => Buffer;
  /** Tells a running backup's temporary files from a killed one's; default: this machine's /proc. */
  processes?: ProcessTable;
  /** Called after each piece is queued for writing, with the total so far (tests use it to inject faults). */
  onBytes?: (received: number) => void;
}

/** A backup that was taken. */
export interface BackupResult {
  /** Full path of the backup file. */
  file: string;
  sidecarFile: string;
  sidecar: Sidecar;
  /** The member chosen and why; the other endpoints and why not. */
  choice: MemberChoice;
  /** Backups removed by retention (full paths). */
  pruned: string[];
  /** Temporary files of interrupted backups that were removed first (full paths). */
  removedLeftovers: string[];
  /** Backups of interrupted runs whose sidecar was put in place (full paths). */
  completed: string[];
}

const MODE_FILE = 0o600;
const MODE_DIR = 0o700;

/** Wraps a file-system error into a one-line BosunError about the backup directory. */
export function fsError(e: unknown, dir: string, doing: string): BosunError {
  if (isBosunError(e)) return e;
  const code = (e as NodeJS.ErrnoException).code ?? '';
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new BosunError(`backup directory ${dir} is not writable (${code} while ${doing})`, 'IO', {
      cause: e,
      hint: 'Pick another --dir, or run as a user who may write there.',
    });
  }
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new BosunError(
      `no space left for the backup in ${dir} (${code} while ${doing}); the partial file was removed`,
      'IO',
      {
        cause: e,
        hint: 'Free space there, prune old backups (--keep N), or pick another --dir.',
      },
    );
  }
  return new BosunError(`cannot write the backup in ${dir} while ${doing}: ${errorMessage(e)}`, 'IO', {
    cause: e,
  });
}

/** Takes one backup. Throws a BosunError, leaving no temp file, when anything fails. */
export async function takeBackup(opts: BackupOptions, deps: BackupDeps): Promise<BackupResult> {
  const { fs, clock, signal } = deps;
  const emit = (e: BackupEvent): void => deps.observer?.(e);
  const random = deps.random ?? randomBytes;
  if (opts.endpoints.length === 0) throw new BosunError('no etcd endpoint given', 'USAGE', { exitCode: 2 });

  // 1. Which member.
  const probes = await Promise.all(opts.endpoints.map((e) => deps.etcd.probe(e)));
  const choice = chooseMember(probes, opts.maxLagEntries ?? 100);
  const chosen = choice.chosen;
  if (chosen === null) {
    const reasons = choice.verdicts.map((v) => v.why);
    throw new BosunError(
      opts.endpoints.length === 1
        ? (reasons[0] ?? 'etcd is not usable')
        : `no usable etcd member: ${reasons.join('; ')}`,
      reasons.some((r) => /TLS/.test(r)) ? 'TLS' : 'ETCD',
      {
        hint: reasons.some((r) => /TLS/.test(r))
          ? 'Check --cacert, --cert and --key.'
          : 'Check --endpoints and that etcd is running.',
      },
    );
  }
  if (opts.endpoints.length > 1)
    for (const v of choice.verdicts)
      emit({ type: 'member', endpoint: v.endpoint, chosen: v.chosen, why: v.why });

  // 2. Stream into a temp file in the directory.
  try {
    await fs.mkdirp(opts.dir, MODE_DIR);
  } catch (e) {
    throw fsError(e, opts.dir, 'creating it');
  }
  const processes = deps.processes ?? procTable;
  const tidied = await tidy(opts.dir, fs, processes, clock.now(), emit);
  const tag = formatOwnerTag(processes.self(), random(6).toString('hex'));
  const tmp = join(opts.dir, tempFileName(tag));
  const sidecarTmp = join(opts.dir, sidecarTempFileName(tag));
  let committed = false;
  let file: WritableFile | null = null;
  // Writes still queued when something fails must end before the temp file is closed and removed.
  let drain: () => Promise<void> = () => Promise.resolve();
  try {
    try {
      file = await fs.create(tmp, MODE_FILE);
    } catch (e) {
      throw fsError(e, opts.dir, 'creating the temporary file');
    }
    const started = clock.now();
    emit({
      type: 'snapshot-started',
      endpoint: chosen.endpoint,
      member: chosen.name,
      keyId: opts.encryptionKey?.id ?? null,
    });

    // The sha256 values and the page index are computed from the plaintext as it arrives, so that
    // verifying after the fsync reads nothing again (see page-index.ts). An encrypted backup is
    // read back and decrypted instead: that proves the file on disk decrypts.
    const collector = opts.encryptionKey
      ? null
      : new PageCollector({ crc: fastCrc32c().update, liveKeys: true });
    const encryptor = opts.encryptionKey ? new ChunkEncryptor(opts.encryptionKey, undefined, random) : null;
    const writer = new StagedWriter(file, collector, encryptor);
    drain = () => writer.drain();
    let received = 0;
    let total = 0;
    let lastReport = started.getTime();
    const writeFailed = (): BosunError =>
      fsError(writer.writeError, opts.dir, `writing after ${humanBytes(received)}`);

    const streamed = deps.etcd.snapshot(
      chosen.endpoint,
      (blob, remaining) => {
        if (writer.writeError !== null) throw writeFailed();
        const before = received;
        received += blob.length;
        if (total === 0) total = received + remaining;
        const pause = writer.push(blob);
        deps.onBytes?.(received);
        // The clock is asked once per MiB, not for every piece.
        if (Math.floor(received / 1048576) !== Math.floor(before / 1048576) && total > 0) {
          const now = clock.now().getTime();
          if (now - lastReport >= 2000) {
            lastReport = now;
            emit({ type: 'snapshot-progress', received, total });
          }
        }
        return pause;
      },
      signal,
    );
    try {
      await streamed;
    } catch (e) {
      if (signal.aborted) throw interrupted(signal);
      throw e;
    }
    const hashes = await writer.end();
    if (writer.writeError !== null) throw writeFailed();
    try {
      await file.sync();
      await file.close();
      file = null;
    } catch (e) {
      throw fsError(e, opts.dir, 'syncing the file');
    }
    if (signal.aborted) throw interrupted(signal);

    // 3. Verify before it gets a name.
    emit({ type: 'snapshot-received', bytes: received });
    const snap = openSnapshot(tmp, opts.encryptionKey);
    let report;
    try {
      report = verifyOpen(snap, tmp, {
        key: opts.encryptionKey,
        sidecar: null,
        known: { bodySha256: hashes.bodySha256, fileSha256: hashes.fileSha256 },
        index: collector?.finish() ?? null,
      });
    } finally {
      snap.close();
    }
    if (!report.ok || report.status === null || report.liveKeys === null || report.sha256 === null) {
      throw new BosunError(
        `the snapshot from ${chosen.endpoint} fails verification: ${report.problem ?? 'no status'}; nothing was saved`,
        'SNAPSHOT_INVALID',
      );
    }
    if (signal.aborted) throw interrupted(signal);

    // 4. Name it, with its sidecar, atomically.
    const cluster = sanitizeClusterName(opts.clusterName ?? chosen.clusterId);
    const time = new Date(Math.floor(started.getTime() / 1000) * 1000);
    let name = '';
    for (let seq = 0; ; seq++) {
      name = backupFileName({
        cluster,
        time,
        revision: report.status.revision,
        encrypted: opts.encryptionKey !== null,
        seq,
      });
      if ((await fs.stat(join(opts.dir, name))) === null) break;
    }
    const finalPath = join(opts.dir, name);
    const sidecarPath = join(opts.dir, sidecarFileName(name));
    const st = await fs.stat(tmp);
    const sidecar: Sidecar = {
      kind: 'EtcdBackup',
      version: 1,
      file: name,
      cluster,
      time: started.toISOString(),
      endpoint: chosen.endpoint,
      member: chosen.name,
      etcdVersion: chosen.version,
      revision: report.status.revision,
      hash: report.status.hash,
      totalKey: report.status.totalKey,
      totalSize: report.status.totalSize,
      liveKeys: report.liveKeys,
      size: st?.size ?? 0,
      sha256: report.sha256,
      encryption: opts.encryptionKey ? { algorithm: 'AES-256-GCM', keyId: opts.encryptionKey.id } : null,
      verified: true,
    };
    try {
      const sc = await fs.create(sidecarTmp, MODE_FILE);
      try {
        await sc.write([Buffer.from(formatSidecar(sidecar))]);
        await sc.sync();
      } finally {
        await sc.close();
      }
      await fs.rename(tmp, finalPath);
      try {
        await fs.rename(sidecarTmp, sidecarPath);
        await fs.syncDir(opts.dir);
      } catch (e) {
        await fs.remove(finalPath);
        await fs.remove(sidecarPath);
        throw e;
      }
    } catch (e) {
      throw fsError(e, opts.dir, 'naming the backup');
    }
    committed = true;
    emit({
      type: 'saved',
      file: finalPath,
      revision: sidecar.revision,
      liveKeys: sidecar.liveKeys,
      size: sidecar.size,
    });

    // 5. Retention, over verified backups bosun named only.
    const pruned: string[] = [];
    if (opts.retention.keep !== undefined || opts.retention.keepWithinMs !== undefined) {
      const entries = await listBackups(opts.dir, fs);
      const plan = planRetention(
        entries.map((e) => ({
          file: e.name,
          cluster: e.parsed.cluster,
          time: e.parsed.time,
          verified: e.verified,
        })),
        opts.retention,
        clock.now(),
        [name],
      );
      for (const p of plan.prune) {
        const path = join(opts.dir, p.file);
        try {
          await fs.remove(path);
          await fs.remove(join(opts.dir, sidecarFileName(p.file)));
          pruned.push(path);
          emit({ type: 'pruned', path });
        } catch (e) {
          emit({ type: 'prune-failed', path, error: errorMessage(e) });
        }
      }
    }
    return { file: finalPath, sidecarFile: sidecarPath, sidecar, choice, pruned, ...tidied };
  } finally {
    await drain();
    if (file !== null) await file.close().catch(() => undefined);
    if (!committed) {
      await fs.remove(tmp).catch(() => undefined);
      await fs.remove(sidecarTmp).catch(() => undefined);
    }
  }
}

/**
 * Before a backup: removes what killed backups left in the directory (temporary files whose owner
 * is gone, sidecars whose backup was pruned), and completes a backup that was killed after it got
 * its name but before its sidecar did. Never fails the backup: what cannot be removed is a warning.
 */
async function tidy(
  dir: string,
  fs: BackupFs,
  processes: ProcessTable,
  now: Date,
  emit: (e: BackupEvent) => void,
): Promise<{ removedLeftovers: string[]; completed: string[] }> {
  const completed: string[] = [];
  let found: Leftover[];
  let names: string[];
  try {
    found = await findLeftovers({ dir, tagOf: tempFileTag, processes, now }, fs);
    names = await fs.readDir(dir);
  } catch (e) {
    emit({ type: 'leftover-scan-failed', dir, error: errorMessage(e) });
    return { removedLeftovers: [], completed };
  }
  const stale: Leftover[] = [];
  for (const l of found) {
    if (l.state !== 'stale') continue;
    if (l.name.endsWith('.json.part')) {
      const done = await completeSidecar(dir, l, fs).catch(() => null);
      if (done !== null) {
        completed.push(done);
        emit({ type: 'sidecar-completed', file: done });
        continue;
      }
    }
    stale.push(l);
  }
  // A sidecar whose backup is gone: retention was interrupted between the two removals.
  const present = new Set(names);
  for (const n of names) {
    const file = n.endsWith('.json') ? n.slice(0, -'.json'.length) : '';
    if (parseBackupFileName(file) !== null && !present.has(file)) {
      const st = await fs.stat(join(dir, n)).catch(() => null);
      stale.push({
        name: n,
        path: join(dir, n),
        size: st?.size ?? 0,
        state: 'stale',
        why: 'its backup was pruned',
      });
    }
  }
  const { removed, failed } = await removeStale(stale, fs);
  for (const f of failed) emit(f);
  if (removed.length > 0)
    emit({ type: 'leftovers-removed', files: removed.map((l) => ({ path: l.path, size: l.size })) });
  return { removedLeftovers: removed.map((l) => l.path), completed };
}

/** Puts the sidecar of a killed backup in place when its backup got its name; returns that backup's path. */
async function completeSidecar(dir: string, l: Leftover, fs: BackupFs): Promise<string | null> {
  const sidecar = parseSidecar((await fs.readFile(l.path)).toString('utf8'));
  if (sidecar === null || parseBackupFileName(sidecar.file) === null) return null;
  const file = join(dir, sidecar.file);
  const st = await fs.stat(file);
  if (
    st === null ||
    st.size !== sidecar.size ||
    (await fs.stat(join(dir, sidecarFileName(sidecar.file)))) !== null
  )
    return null;
  await fs.rename(l.path, join(dir, sidecarFileName(sidecar.file)));
  await fs.syncDir(dir);
  return file;
}

function interrupted(signal: AbortSignal): BosunError {
  return new BosunError(
    `interrupted: ${errorMessage(signal.reason ?? 'aborted')}; nothing was saved`,
    'INTERRUPTED',
  );
}
