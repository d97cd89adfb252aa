// `bosun backup status`: etcdctl snapshot status's four numbers for a file, plain or encrypted,
// and the size formatting etcdctl's table uses (go-humanize Bytes: SI units, "25 kB").
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { describeProblem } from './bbolt.ts';
import { BosunError, UsageError, errorMessage } from '../common/errors.ts';
import { fastCrc32c } from './crc32c-fast.ts';
import { parseKeyFile, type EncryptionKey } from './encryption.ts';
import { openSnapshot, readPass } from './snapshot-file.ts';
import { scanSnapshot, type SnapshotStatus } from './snapshot-scan.ts';

/**
 * Status of a snapshot file; a file whose structure is broken is an error naming the first
 * problem. A plain file is read front to back once (page-index.ts), then walked in tree order.
 */
export function snapshotStatus(file: string, key: EncryptionKey | null): SnapshotStatus {
  const snap = openSnapshot(file, key);
  try {
    const crc = fastCrc32c().update;
    const index =
      snap.fd !== null ? readPass(snap, file, { crc, liveKeys: false, sha256: false }).index : null;
    const scan = scanSnapshot(snap.source, { crc, index });
    const first = scan.problems[0];
    if (first !== undefined || scan.status === null) {
      throw new BosunError(
        `snapshot ${file} is invalid: ${first ? describeProblem(first) : 'no status'}`,
        'SNAPSHOT_INVALID',
        {
          hint: `Run 'bosun backup verify ${file}' for the full check.`,
        },
      );
    }
    return scan.status;
  } finally {
    snap.close();
  }
}

/** go-humanize's Bytes(), as etcdctl prints TOTAL SIZE: 24576 -> "25 kB", 640020480 -> "640 MB". */
export function humanizeBytes(n: number): string {
  if (n < 10) return `${n} B`;
  const sizes = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  const e = Math.floor(Math.log(n) / Math.log(1000));
  const val = Math.floor((n / Math.pow(1000, e)) * 10 + 0.5) / 10;
  if (val < 10) return `${val.toFixed(1)} ${sizes[e] ?? '?'}`;
  // Go's %.0f rounds half to even (20.5 -> "20"); toFixed rounds half up.
  const floor = Math.floor(val);
  const whole = val - floor === 0.5 ? (floor % 2 === 0 ? floor : floor + 1) : Math.round(val);
  return `${whole} ${sizes[e] ?? '?'}`;
}

/**
 * Reads and parses an --encryption-key-file. A key that group or others may access is refused,
 * as ssh refuses such private keys (sshkey_perm_ok): whoever can read it can read every backup.
 */
export function readKeyFile(file: string): EncryptionKey {
  let content: Buffer;
  let mode: number;
  try {
    const fd = openSync(file, 'r');
    try {
      mode = fstatSync(fd).mode;
      content = readFileSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch (e) {
    throw new BosunError(`cannot read encryption key file ${file}: ${errorMessage(e)}`, 'USAGE', {
      exitCode: 2,
      cause: e,
    });
  }
  if ((mode & 0o077) !== 0) {
    throw new UsageError(
      `permissions ${(mode & 0o777).toString(8).padStart(4, '0')} for encryption key file ${file} are too open: a key must not be accessible by group or others`,
      { hint: `Run: chmod 600 ${file}` },
    );
  }
  return parseKeyFile(content, file);
}
