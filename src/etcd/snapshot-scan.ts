// Computes what `etcdctl snapshot status` prints (hash, revision, total keys, total size) by
// walking the snapshot's bbolt database in one pass, and collects every structural problem found
// on the way. The numbers follow etcd 3.4's clientv3/snapshot v3_snapshot.go Status(): a CRC-32C
// over each top-level bucket name followed by that bucket's keys and values in bbolt order, the
// revision from the last key of the "key" bucket, every entry counted, size = pgid * pageSize.
// Pure: no I/O; the sha256 trailer is checked by the caller (verify.ts), which has crypto.
import { BoltWalker, readMeta, type BoltMeta, type ByteSource, type SnapshotProblem } from './bbolt.ts';
import type { Crc32cUpdate } from './crc32c.ts';

/** The four numbers of `etcdctl snapshot status`, with etcdctl's JSON field names. */
export interface SnapshotStatus {
  /** CRC-32C (Castagnoli) over bucket names, keys and values; etcdctl prints it in hex in tables. */
  hash: number;
  /** The main revision of the last key in the "key" bucket (0 when it is empty). */
  revision: number;
  /** Entries in all top-level buckets (every revision of every key, plus leases, members, meta...). */
  totalKey: number;
  /** Bytes of the bbolt database: high-water page id times page size (the file minus its trailer). */
  totalSize: number;
}

/** Everything one pass over a snapshot learns. */
export interface ScanResult {
  /** Null when the file is too broken to compute it. */
  status: SnapshotStatus | null;
  /** The meta page used (the valid one with the higher txid, as bbolt picks). */
  meta: BoltMeta | null;
  /** Structural problems, in the order found; empty for a sound database. */
  problems: SnapshotProblem[];
  /** Keys whose newest revision is not a deletion: what a range over all keys counts after restore. */
  liveKeys: number | null;
  /** Size of the bbolt database in bytes (where the sha256 trailer starts), or null without a meta. */
  dataSize: number | null;
}

/** Options of a scan. */
export interface ScanOptions {
  crc: Crc32cUpdate;
  /** Also count live keys (decodes the key of every revision); default false. */
  countLiveKeys?: boolean;
  /** Stop collecting after this many problems; default 20. */
  maxProblems?: number;
}

const KEY_BUCKET = 'key';

/** Walks a snapshot (without its trailer being checked) and computes etcdctl's status numbers. */
export function scanSnapshot(src: ByteSource, opts: ScanOptions): ScanResult {
  const problems: SnapshotProblem[] = [];
  const m0 = readMeta(src, 0);
  const m1 = readMeta(src, 1, m0.meta?.pageSize ?? 4096);
  if (m0.problem) problems.push(m0.problem);
  if (m1.problem) problems.push(m1.problem);
  const metas = [m0.meta, m1.meta].filter((m): m is BoltMeta => m !== undefined);
  if (metas.length === 0) return { status: null, meta: null, problems, liveKeys: null, dataSize: null };
  const meta = metas.reduce((a, b) => (b.txid > a.txid ? b : a));
  if (m0.meta && m1.meta && m0.meta.pageSize !== m1.meta.pageSize) {
    problems.push({ page: 1, offset: m0.meta.pageSize, what: `meta pages disagree on the page size (${m0.meta.pageSize} and ${m1.meta.pageSize})` });
  }
  const dataSize = meta.pgid * meta.pageSize;
  if (meta.pgid < 3 || !Number.isSafeInteger(dataSize)) {
    problems.push({ page: 0, offset: 56, what: `invalid high-water mark ${meta.pgid}` });
    return { status: null, meta, problems, liveKeys: null, dataSize: null };
  }
  if (src.size < dataSize) {
    problems.push({
      offset: src.size,
      what: `truncated: the database has ${meta.pgid} pages of ${meta.pageSize} bytes (${dataSize} bytes) but the file ends at byte ${src.size}`,
    });
  }

  const crc = opts.crc;
  const walker = new BoltWalker(src, meta, opts.maxProblems ?? 20);
  let hash = 0;
  // bbolt packs a leaf's keys and values back to back (k0 v0 k1 v1 ...), so the bytes hashed in
  // order are mostly one run of memory per page: hash each run in one call (a call per key and
  // value costs more than the hashing). A run is hashed before the walker reads again, while its
  // bytes are still those of the page (see BoltWalker.onLeafEnd).
  let runBuf: ArrayBufferLike | null = null;
  let runStart = 0;
  let runEnd = 0;
  const flush = (): void => {
    if (runBuf !== null && runEnd > runStart) hash = crc(hash, Buffer.from(runBuf, runStart, runEnd - runStart));
    runBuf = null;
    runStart = runEnd = 0;
  };
  const add = (b: Buffer): void => {
    if (b.length === 0) return;
    if (b.buffer === runBuf && b.byteOffset === runEnd) {
      runEnd += b.length;
      return;
    }
    flush();
    runBuf = b.buffer;
    runStart = b.byteOffset;
    runEnd = runStart + b.length;
  };
  walker.onLeafEnd = flush;
  let revision = 0;
  let totalKey = 0;
  const live = opts.countLiveKeys ? new Map<string, boolean>() : null;

  const walkNested = (value: Buffer, valueOffset: number, name: string): void => {
    walker.forEachInBucket(value, valueOffset, name, (k, v, isBucket, off) => {
      if (isBucket) walkNested(v, off, `${name}/${printable(k)}`);
    });
  };

  walker.forEachRoot((name, value, isBucket, valueOffset) => {
    const bucket = printable(name);
    if (!isBucket) {
      // etcdctl: "cannot get hash of bucket %s"
      walker.problem({ offset: valueOffset, what: `top-level key ${bucket} is not a bucket` });
      return;
    }
    add(name);
    flush();
    const isKey = name.toString('latin1') === KEY_BUCKET;
    walker.forEachInBucket(value, valueOffset, bucket, (k, v, childIsBucket, off) => {
      add(k);
      // bbolt's ForEach gives a nil value for a nested bucket, and writing nil hashes nothing.
      if (!childIsBucket) add(v);
      else {
        flush();
        walkNested(v, off, `${bucket}/${printable(k)}`);
      }
      totalKey++;
      if (isKey) {
        if (k.length < 8) {
          walker.problem({ offset: off - k.length, what: `key bucket: key of ${k.length} bytes is not a revision` });
          return;
        }
        revision = k.readUInt32BE(0) * 0x1_0000_0000 + k.readUInt32BE(4);
        if (live) {
          const userKey = kvKey(v);
          if (userKey !== null) live.set(userKey, !(k.length === 18 && k[17] === 0x74)); // 't': tombstone
        }
      }
    });
  });
  flush();
  walker.checkFreelist();
  problems.push(...walker.problems);

  let liveKeys: number | null = null;
  if (live) {
    liveKeys = 0;
    for (const alive of live.values()) if (alive) liveKeys++;
  }
  return {
    status: problems.length === 0 ? { hash: hash >>> 0, revision, totalKey, totalSize: dataSize } : null,
    meta,
    problems,
    liveKeys: problems.length === 0 ? liveKeys : null,
    dataSize,
  };
}

/** The user key (field 1) of an mvccpb.KeyValue protobuf, as a latin1 string; null if malformed. */
export function kvKey(pb: Buffer): string | null {
  let i = 0;
  while (i < pb.length) {
    const [tag, afterTag] = varint(pb, i);
    if (afterTag < 0) return null;
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 2) {
      const [len, afterLen] = varint(pb, afterTag);
      if (afterLen < 0 || afterLen + len > pb.length) return null;
      if (field === 1) return pb.toString('latin1', afterLen, afterLen + len);
      i = afterLen + len;
    } else if (wire === 0) {
      const [, next] = varint(pb, afterTag);
      if (next < 0) return null;
      i = next;
    } else if (wire === 1) i = afterTag + 8;
    else if (wire === 5) i = afterTag + 4;
    else return null;
  }
  return null;
}

/** A protobuf varint at `i`: [value, next index], next = -1 when malformed. */
function varint(b: Buffer, i: number): [number, number] {
  let v = 0;
  let mul = 1;
  for (let n = 0; n < 10 && i < b.length; n++) {
    const byte = b[i++]!;
    v += (byte & 0x7f) * mul;
    if ((byte & 0x80) === 0) return [v, i];
    mul *= 128;
  }
  return [0, -1];
}

/** A bucket or key name for messages: as text when printable, else hex. */
function printable(b: Buffer): string {
  const s = b.toString('latin1');
  return /^[\x20-\x7e]*$/.test(s) ? JSON.stringify(s) : `0x${b.toString('hex')}`;
}
