// `bosun backup verify` without --trial-restore, in-process: the bbolt meta pages and a walk of
// every page (snapshot-scan.ts), the sha256 trailer etcd appends to every snapshot it streams
// (the last 32 bytes are the sha256 of all the others; etcd 3.4 v3_snapshot.go saveDB checks it
// the same way on restore), and, when a sidecar is beside the file, that the file is the one the
// sidecar describes. A problem is a value with one precise line; verify never changes the file.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { describeProblem, type ByteSource, type SnapshotProblem } from './bbolt.ts';
import { isBosunError } from '../common/errors.ts';
import { fastCrc32c } from './crc32c-fast.ts';
import type { Crc32cUpdate } from './crc32c.ts';
import type { EncryptionKey } from './encryption.ts';
import { sidecarFileName as sidecarPath } from './backup-name.ts';
import { readSidecar, type Sidecar } from './sidecar.ts';
import { scanSnapshot, type SnapshotStatus } from './snapshot-scan.ts';
import { openSnapshot, readPass, sha256File, TRAILER_SIZE, type OpenSnapshot } from './snapshot-file.ts';
import type { PageIndex } from './page-index.ts';

/** What verify found. */
export interface VerifyReport {
  file: string;
  ok: boolean;
  /** The first problem as one line ("page 7 (offset 28672): ..."), null when ok. */
  problem: string | null;
  /** Every problem found (capped), as lines. */
  problems: string[];
  /** etcdctl's status numbers, when the structure allowed computing them. */
  status: SnapshotStatus | null;
  liveKeys: number | null;
  /** sha256 of the file on disk, when computed. */
  sha256: string | null;
  encrypted: boolean;
  /** No sidecar, one that matches, one that disagrees, or one that cannot be read (problem says why). */
  sidecar: 'absent' | 'matches' | 'mismatch' | 'unreadable';
}

/** Options of a verification. */
export interface VerifyOptions {
  key: EncryptionKey | null;
  crc?: Crc32cUpdate;
  /** The sidecar to compare with; undefined looks for `<file>.json`, null skips it. */
  sidecar?: Sidecar | null;
  /**
   * sha256 of the plaintext's first size-32 bytes and of the file, when the caller computed them
   * while writing (saves a pass); otherwise verify reads the file again.
   */
  known?: { bodySha256: Buffer; fileSha256: string };
  /** What a front-to-back pass over the same (plaintext) bytes learned; see page-index.ts. */
  index?: PageIndex | null;
}

/** Checks the sha256 trailer of a plaintext snapshot whose bbolt part is `dataSize` bytes. */
export function checkTrailer(
  src: ByteSource,
  dataSize: number,
  bodySha256: Buffer | null,
): { problem: SnapshotProblem | null; bodySha256: Buffer; fileSha256: string | null } {
  const size = src.size;
  const empty = Buffer.alloc(0);
  if (size === dataSize) {
    return {
      problem: {
        offset: size,
        what: `no sha256 trailer after the ${dataSize}-byte database: a bbolt file copied from a data dir, not a snapshot etcd streamed`,
      },
      bodySha256: empty,
      fileSha256: null,
    };
  }
  if (size < dataSize + TRAILER_SIZE) {
    return {
      problem: {
        offset: dataSize,
        what: `the sha256 trailer is cut short: ${size - dataSize} of its ${TRAILER_SIZE} bytes are there (the file should be ${dataSize + TRAILER_SIZE} bytes, it has ${size}: truncated)`,
      },
      bodySha256: empty,
      fileSha256: null,
    };
  }
  if (size !== dataSize + TRAILER_SIZE) {
    return {
      problem: {
        offset: dataSize + TRAILER_SIZE,
        what: `${size - dataSize - TRAILER_SIZE} unexpected bytes after the database and its sha256 trailer (the file should be ${dataSize + TRAILER_SIZE} bytes)`,
      },
      bodySha256: empty,
      fileSha256: null,
    };
  }
  let fileSha: string | null = null;
  let body = bodySha256;
  if (body === null) {
    const h = createHash('sha256');
    const piece = 1 << 20;
    for (let off = 0; off < dataSize; off += piece) h.update(src.read(off, Math.min(piece, dataSize - off)));
    const whole = h.copy();
    body = h.digest();
    whole.update(src.read(dataSize, TRAILER_SIZE));
    fileSha = whole.digest('hex');
  }
  const trailer = Buffer.from(src.read(dataSize, TRAILER_SIZE));
  if (!trailer.equals(body)) {
    return {
      problem: {
        offset: dataSize,
        what: `sha256 trailer mismatch: bytes 0..${dataSize - 1} hash to ${body.toString('hex').slice(0, 16)}…, the trailer says ${trailer.toString('hex').slice(0, 16)}… (altered or corrupted)`,
      },
      bodySha256: body,
      fileSha256: fileSha,
    };
  }
  return { problem: null, bodySha256: body, fileSha256: fileSha };
}

/** Verifies an opened snapshot. Never throws for a bad file: problems are in the report. */
export function verifyOpen(snap: OpenSnapshot, file: string, opts: VerifyOptions): VerifyReport {
  const problems: SnapshotProblem[] = [];
  let status: SnapshotStatus | null = null;
  let liveKeys: number | null = null;
  let fileSha: string | null = opts.known?.fileSha256 ?? null;
  try {
    const scan = scanSnapshot(snap.source, {
      crc: opts.crc ?? fastCrc32c().update,
      countLiveKeys: true,
      index: opts.index ?? null,
    });
    problems.push(...scan.problems);
    status = scan.status;
    liveKeys = scan.liveKeys;
    if (scan.dataSize !== null && snap.source.size >= scan.dataSize) {
      const t = checkTrailer(snap.source, scan.dataSize, opts.known?.bodySha256 ?? null);
      if (t.problem) problems.push(t.problem);
      if (snap.encryptedWithKeyId === null) fileSha ??= t.fileSha256;
    }
  } catch (e) {
    // A chunk of an encrypted file that fails authentication, or a read error.
    if (!isBosunError(e)) throw e;
    problems.push({ what: e.message });
  }
  const report: VerifyReport = {
    file,
    ok: problems.length === 0,
    problem: problems[0] ? describeProblem(problems[0]) : null,
    problems: problems.map(describeProblem),
    status: problems.length === 0 ? status : null,
    liveKeys: problems.length === 0 ? liveKeys : null,
    sha256: fileSha,
    encrypted: snap.encryptedWithKeyId !== null,
    sidecar: 'absent',
  };
  return report;
}

/** Compares a verified file with its sidecar; returns the first disagreement, or null. */
export function sidecarDisagreement(
  report: VerifyReport,
  fileSize: number,
  sidecar: Sidecar,
  keyIdInFile: string | null,
): string | null {
  if (sidecar.size !== fileSize) return `the sidecar says ${sidecar.size} bytes, the file has ${fileSize}`;
  if (report.sha256 !== null && sidecar.sha256 !== report.sha256)
    return `the sidecar's sha256 ${sidecar.sha256.slice(0, 16)}… differs from the file's ${report.sha256.slice(0, 16)}…`;
  if (
    sidecar.encryption?.keyId !== undefined &&
    keyIdInFile !== null &&
    sidecar.encryption.keyId !== keyIdInFile
  ) {
    return `the sidecar records key id ${sidecar.encryption.keyId}, the file's header says ${keyIdInFile}`;
  }
  const s = report.status;
  if (s) {
    if (s.revision !== sidecar.revision)
      return `the sidecar says revision ${sidecar.revision}, the file has ${s.revision}`;
    if (s.hash !== sidecar.hash)
      return `the sidecar says hash ${sidecar.hash.toString(16)}, the file has ${s.hash.toString(16)}`;
    if (s.totalKey !== sidecar.totalKey)
      return `the sidecar says ${sidecar.totalKey} keys, the file has ${s.totalKey}`;
  }
  return null;
}

/**
 * Verifies a snapshot file (plain or encrypted), and its sidecar when there is one. A plain file
 * is read front to back once (page index and sha256 together), then walked in tree order.
 */
export function verifySnapshotFile(file: string, opts: VerifyOptions): VerifyReport {
  const snap = openSnapshot(file, opts.key);
  try {
    let o = opts;
    if (snap.fd !== null && opts.known === undefined && opts.index === undefined) {
      const crc = opts.crc ?? fastCrc32c().update;
      const pass = readPass(snap, file, { crc, liveKeys: true, sha256: true });
      if (pass.bodySha256 !== null && pass.fileSha256 !== null)
        o = {
          ...opts,
          crc,
          index: pass.index,
          known: { bodySha256: pass.bodySha256, fileSha256: pass.fileSha256 },
        };
    }
    const report = verifyOpen(snap, file, o);
    let sidecar = opts.sidecar;
    if (sidecar === undefined) {
      const p = sidecarPath(file);
      sidecar = null;
      if (existsSync(p)) {
        let read: ReturnType<typeof readSidecar>;
        try {
          read = readSidecar(readFileSync(p, 'utf8'));
        } catch (e) {
          read = { problem: e instanceof Error ? e.message : String(e) };
        }
        if ('sidecar' in read) sidecar = read.sidecar;
        else {
          report.sidecar = 'unreadable';
          if (report.ok) {
            report.ok = false;
            report.problem = `the sidecar ${p} of ${file} is unreadable: ${read.problem}`;
            report.problems = [report.problem];
          }
        }
      }
    }
    if (sidecar && report.ok) {
      if (report.sha256 === null) report.sha256 = sha256File(file);
      const why = sidecarDisagreement(report, snap.fileSize, sidecar, snap.encryptedWithKeyId);
      report.sidecar = why === null ? 'matches' : 'mismatch';
      if (why !== null) {
        report.ok = false;
        report.problem = `does not match its sidecar ${sidecarPath(file)}: ${why}`;
        report.problems = [report.problem];
      }
    }
    return report;
  } finally {
    snap.close();
  }
}
