// Computes what `etcdctl snapshot status` prints (hash, revision, total keys, total size) by
// walking the snapshot's bbolt database in one pass, and collects every structural problem found
// on the way. The numbers follow etcd 3.4's clientv3/snapshot v3_snapshot.go Status(): a CRC-32C
// over each top-level bucket name followed by that bucket's keys and values in bbolt order, the
// revision from the last key of the "key" bucket, every entry counted, size = pgid * pageSize.
// Pure: no I/O; the sha256 trailer is checked by the caller (verify.ts), which has crypto.
import { BoltWalker, readMeta, type BoltMeta, type ByteSource, type SnapshotProblem } from './bbolt.ts';
import { crc32cCombine, type Crc32cUpdate } from './crc32c.ts';
import { KeyInterner, type PageIndex } from './page-index.ts';
import { findKvKey } from './proto-wire.ts';

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
  /**
   * What a PageCollector learned from the same bytes in file order: kept pages are read from it and
   * summarized leaves are not read at all. Collected with live keys when countLiveKeys is set.
   */
  index?: PageIndex | null;
}

const KEY_BUCKET = 'key';

/** Walks a snapshot (without its trailer being checked) and computes etcdctl's status numbers. */
export function scanSnapshot(file: ByteSource, opts: ScanOptions): ScanResult {
  const index = opts.index ?? null;
  const src = index ? index.overlay(file) : file;
  const problems: SnapshotProblem[] = [];
  const m0 = readMeta(src, 0);
  const m1 = readMeta(src, 1, m0.meta?.pageSize ?? 4096);
  if (m0.problem) problems.push(m0.problem);
  if (m1.problem) problems.push(m1.problem);
  const metas = [m0.meta, m1.meta].filter((m): m is BoltMeta => m !== undefined);
  if (metas.length === 0) return { status: null, meta: null, problems, liveKeys: null, dataSize: null };
  const meta = metas.reduce((a, b) => (b.txid > a.txid ? b : a));
  if (m0.meta && m1.meta && m0.meta.pageSize !== m1.meta.pageSize) {
    problems.push({
      page: 1,
      offset: m0.meta.pageSize,
      what: `meta pages disagree on the page size (${m0.meta.pageSize} and ${m1.meta.pageSize})`,
    });
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
  const leaves = index !== null && index.pageSize === meta.pageSize ? index : null;
  const walker = new BoltWalker(src, meta, opts.maxProblems ?? 20, leaves);
  let hash = 0;
  // bbolt packs a leaf's keys and values back to back (k0 v0 k1 v1 ...), so the bytes hashed in
  // order are mostly one run of memory per page: hash each run in one call (a call per key and
  // value costs more than the hashing). A run is hashed before the walker reads again, while its
  // bytes are still those of the page (see BoltWalker.onLeafEnd).
  let runBuf: ArrayBufferLike | null = null;
  let runStart = 0;
  let runEnd = 0;
  const flush = (): void => {
    if (runBuf !== null && runEnd > runStart)
      hash = crc(hash, Buffer.from(runBuf, runStart, runEnd - runStart));
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
  // Live keys by interned user key: 0 unseen, 1 deleted, 2 live (the newest revision wins).
  const keys = index?.keys ?? new KeyInterner();
  const userKey = { start: 0, end: 0 };
  let live = opts.countLiveKeys ? new Uint8Array(Math.max(1024, keys.size)) : null;
  const setLive = (id: number, alive: boolean): void => {
    if (live === null || id < 0) return;
    if (id >= live.length) {
      const grown = new Uint8Array(Math.max(id + 1, live.length * 2));
      grown.set(live);
      live = grown;
    }
    live[id] = alive ? 2 : 1;
  };

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
    // A summarized leaf (only ever visited when there is an index).
    const visitLeaf = (s: number): void => {
      if (leaves === null) return;
      flush();
      hash = crc32cCombine(hash, leaves.crc(s), leaves.hashedBytes(s));
      totalKey += leaves.end(s);
      if (!isKey) return;
      for (const sk of leaves.shortKeys(s))
        walker.problem({
          offset: sk.offset,
          what: `key bucket: key of ${sk.length} bytes is not a revision`,
        });
      const rev = leaves.lastRevision(s);
      if (!Number.isNaN(rev)) revision = rev;
      if (live) leaves.forEachKey(s, setLive);
    };
    walker.forEachInBucket(
      value,
      valueOffset,
      bucket,
      (k, v, childIsBucket, off) => {
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
            walker.problem({
              offset: off - k.length,
              what: `key bucket: key of ${k.length} bytes is not a revision`,
            });
            return;
          }
          revision = k.readUInt32BE(0) * 0x1_0000_0000 + k.readUInt32BE(4);
          if (live) {
            if (findKvKey(v, 0, v.length, userKey))
              setLive(keys.id(v, userKey.start, userKey.end), !(k.length === 18 && k[17] === 0x74)); // 't': tombstone
          }
        }
      },
      visitLeaf,
    );
  });
  flush();
  walker.checkFreelist();
  problems.push(...walker.problems);

  let liveKeys: number | null = null;
  if (live) {
    liveKeys = 0;
    for (const state of live) if (state === 2) liveKeys++;
  }
  return {
    status: problems.length === 0 ? { hash: hash >>> 0, revision, totalKey, totalSize: dataSize } : null,
    meta,
    problems,
    liveKeys: problems.length === 0 ? liveKeys : null,
    dataSize,
  };
}

/** A bucket or key name for messages: as text when printable, else hex. */
function printable(b: Buffer): string {
  const s = b.toString('latin1');
  return /^[\x20-\x7e]*$/.test(s) ? JSON.stringify(s) : `0x${b.toString('hex')}`;
}
