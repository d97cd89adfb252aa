// One pass over a snapshot's bytes in file order (as they stream from etcd, or as a file is read
// front to back) that does the page-local part of the bbolt walk ahead of time, so that the walk
// itself (snapshot-scan.ts, in bbolt's tree order) touches no leaf bytes again. For every slot of
// page size it asks "if the tree reaches a page here, what does it find": a leaf page whose
// elements are all plain keys is summarized (element bounds, flags and key order checked, the
// CRC-32C of its keys and values, the key count, the revision of its last key, the user keys of
// etcd's key bucket); a branch page, the freelist and a leaf holding buckets are kept as a copy.
// Slots the tree never reaches (free pages, the middle of an overflow run) are summarized for
// nothing, which is cheaper than knowing. A page too large to keep or summarize is simply not in
// the index, and the walk reads it from the file as it always could.
// Pure: bytes come in through push(), nothing is read or written here.
import {
  BRANCH,
  BUCKET_LEAF,
  ELEMENT,
  FREELIST,
  LEAF,
  PAGE_HEADER,
  readMeta,
  type ByteSource,
  type LeafIndex,
  type SnapshotProblem,
} from './bbolt.ts';
import type { Crc32cUpdate } from './crc32c.ts';
import { findKvKey } from './proto-wire.ts';

/** An element whose key is shorter than a revision key (8 bytes). */
export interface ShortKey {
  index: number;
  /** The key's offset in the file. */
  offset: number;
  length: number;
}

const NO_SHORT_KEYS: readonly ShortKey[] = [];

/**
 * Whether a[aStart, aStart + aLen) sorts strictly after b[bStart, bStart + bLen), bytewise as
 * bbolt orders keys. A loop: for keys of a few dozen bytes it costs less than Buffer.compare's
 * argument checks and native call.
 */
function sortsAfter(
  a: Uint8Array,
  aStart: number,
  aLen: number,
  b: Uint8Array,
  bStart: number,
  bLen: number,
): boolean {
  const n = Math.min(aLen, bLen);
  for (let i = 0; i < n; i++) {
    const x = a[aStart + i]!;
    const y = b[bStart + i]!;
    if (x !== y) return x > y;
  }
  return aLen > bLen;
}

/** A copy of `a` in a typed array of `n` elements (by default twice as many), the new ones zero. */
function grown<T extends Float64Array | Int32Array | Uint32Array>(a: T, n = a.length * 2): T {
  const b = new (a.constructor as new (n: number) => T)(n);
  b.set(a);
  return b;
}

/**
 * Interns etcd user keys as small integers, shared by the index and the walk: an open-addressing
 * table over the keys' bytes (FNV-1a), so that counting live keys makes no string per revision.
 */
export class KeyInterner {
  private table = new Int32Array(1 << 16);
  private readonly arena = new Arena();
  private at = new Float64Array(1 << 15);
  private len = new Int32Array(1 << 15);
  private hashes = new Int32Array(1 << 15);
  private n = 0;

  get size(): number {
    return this.n;
  }

  /** The id of the key b[start, end), a new one the first time. */
  id(b: Uint8Array, start: number, end: number): number {
    let h = 0x811c9dc5 | 0;
    for (let i = start; i < end; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
    const length = end - start;
    const mask = this.table.length - 1;
    for (let slot = h & mask; ; slot = (slot + 1) & mask) {
      const v = this.table[slot]!;
      if (v === 0) break;
      const id = v - 1;
      if (this.hashes[id] === h && this.len[id] === length && this.equals(id, b, start, length)) return id;
    }
    return this.add(b, start, length, h);
  }

  private equals(id: number, b: Uint8Array, start: number, length: number): boolean {
    const at = this.at[id]!;
    const bytes = this.arena.bytes;
    for (let i = 0; i < length; i++) if (bytes[at + i] !== b[start + i]) return false;
    return true;
  }

  private add(b: Uint8Array, start: number, length: number, h: number): number {
    const id = this.n++;
    if (id === this.at.length) {
      this.at = grown(this.at);
      this.len = grown(this.len);
      this.hashes = grown(this.hashes);
    }
    this.at[id] = this.arena.append(b, start, start + length);
    this.len[id] = length;
    this.hashes[id] = h;
    if (this.n * 2 > this.table.length) this.rehash();
    else this.place(id);
    return id;
  }

  private place(id: number): void {
    const mask = this.table.length - 1;
    let slot = this.hashes[id]! & mask;
    while (this.table[slot] !== 0) slot = (slot + 1) & mask;
    this.table[slot] = id + 1;
  }

  private rehash(): void {
    this.table = new Int32Array(this.table.length * 2);
    for (let id = 0; id < this.n; id++) this.place(id);
  }
}

/** Growable typed columns of leaf summaries. */
class LeafTable {
  n = 0;
  count = new Int32Array(1024);
  overflow = new Float64Array(1024);
  end = new Int32Array(1024);
  crc = new Uint32Array(1024);
  hashed = new Float64Array(1024);
  lastRev = new Float64Array(1024);
  firstKeyAt = new Int32Array(1024);
  firstKeyLen = new Int32Array(1024);
  firstKeyOffset = new Float64Array(1024);
  lastKeyAt = new Int32Array(1024);
  lastKeyLen = new Int32Array(1024);
  elemStart = new Int32Array(1024);
  elemEnd = new Int32Array(1024);
  readonly problems = new Map<number, SnapshotProblem>();
  readonly shortKeys = new Map<number, ShortKey[]>();

  add(): number {
    if (this.n === this.count.length) {
      this.count = grown(this.count);
      this.overflow = grown(this.overflow);
      this.end = grown(this.end);
      this.crc = grown(this.crc);
      this.hashed = grown(this.hashed);
      this.lastRev = grown(this.lastRev);
      this.firstKeyAt = grown(this.firstKeyAt);
      this.firstKeyLen = grown(this.firstKeyLen);
      this.firstKeyOffset = grown(this.firstKeyOffset);
      this.lastKeyAt = grown(this.lastKeyAt);
      this.lastKeyLen = grown(this.lastKeyLen);
      this.elemStart = grown(this.elemStart);
      this.elemEnd = grown(this.elemEnd);
    }
    return this.n++;
  }
}

/** A growable byte arena, for the first and last key of each summarized leaf. */
class Arena {
  bytes = Buffer.allocUnsafe(64 << 10);
  used = 0;
  /** Appends src[start, end) and returns where it starts. */
  append(src: Uint8Array, start: number, end: number): number {
    const len = end - start;
    if (this.used + len > this.bytes.length) {
      const b = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.used + len));
      this.bytes.copy(b, 0, 0, this.used);
      this.bytes = b;
    }
    if (len <= 32) for (let i = 0; i < len; i++) this.bytes[this.used + i] = src[start + i]!;
    else this.bytes.set(src.subarray(start, end), this.used);
    this.used += len;
    return this.used - len;
  }
}

/** A growable int arena, for the key ids of each summarized leaf's elements. */
class IntArena {
  ids = new Int32Array(64 << 10);
  used = 0;
  push(v: number): void {
    if (this.used === this.ids.length) this.ids = grown(this.ids);
    this.ids[this.used++] = v;
  }
}

/** The result of a collection: what the walk may use instead of reading pages. */
export class PageIndex implements LeafIndex {
  constructor(
    /** The page size the slots were cut at (meta page 0's, else 4096). */
    readonly pageSize: number,
    private readonly leaves: LeafTable,
    private readonly slotLeaf: Int32Array,
    private readonly kept: Map<number, Buffer>,
    private readonly keyArena: Arena,
    private readonly elemIds: IntArena,
    /** The user keys seen, shared with the walk. */
    readonly keys: KeyInterner,
  ) {}

  find(pgid: number): number {
    return pgid < this.slotLeaf.length ? this.slotLeaf[pgid]! : -1;
  }
  count(s: number): number {
    return this.leaves.count[s]!;
  }
  overflow(s: number): number {
    return this.leaves.overflow[s]!;
  }
  end(s: number): number {
    return this.leaves.end[s]!;
  }
  problem(s: number): SnapshotProblem | null {
    return this.leaves.problems.get(s) ?? null;
  }
  firstKeyAfter(s: number, last: Buffer): boolean {
    const at = this.leaves.firstKeyAt[s]!;
    return sortsAfter(this.keyArena.bytes, at, this.leaves.firstKeyLen[s]!, last, 0, last.length);
  }
  firstKeyAfterLeaf(s: number, prev: number): boolean {
    const t = this.leaves;
    const at = t.firstKeyAt[s]!;
    const prevAt = t.lastKeyAt[prev]!;
    const arena = this.keyArena.bytes;
    return sortsAfter(arena, at, t.firstKeyLen[s]!, arena, prevAt, t.lastKeyLen[prev]!);
  }
  firstKeyOffset(s: number): number {
    return this.leaves.firstKeyOffset[s]!;
  }
  lastKey(s: number): Buffer {
    const at = this.leaves.lastKeyAt[s]!;
    return this.keyArena.bytes.subarray(at, at + this.leaves.lastKeyLen[s]!);
  }
  /** CRC-32C over the keys and values of elements [0, end) in order, and how many bytes that is. */
  crc(s: number): number {
    return this.leaves.crc[s]!;
  }
  hashedBytes(s: number): number {
    return this.leaves.hashed[s]!;
  }
  /** Main revision of the last element in [0, end) whose key has 8 bytes or more; NaN when none. */
  lastRevision(s: number): number {
    return this.leaves.lastRev[s]!;
  }
  /** Elements in [0, end) whose key is shorter than a revision key. */
  shortKeys(s: number): readonly ShortKey[] {
    return this.leaves.shortKeys.get(s) ?? NO_SHORT_KEYS;
  }
  /**
   * For each element in [0, end) with a revision-sized key, in order: the interned user key of its
   * value (-1 when the value is no mvccpb.KeyValue) and whether it is live (not a tombstone).
   * Nothing unless collected with live keys.
   */
  forEachKey(s: number, visit: (keyId: number, alive: boolean) => void): void {
    const ids = this.elemIds.ids;
    for (let i = this.leaves.elemStart[s]!, e = this.leaves.elemEnd[s]!; i < e; i++) {
      const v = ids[i]!;
      visit(v >= 0 ? v >> 1 : -1, (v & 1) === 1);
    }
  }

  /** `src` with the kept pages served from memory (reads that start a kept page and fit in it). */
  overlay(src: ByteSource): ByteSource {
    const ps = this.pageSize;
    const kept = this.kept;
    return {
      size: src.size,
      read(offset, length) {
        if (offset % ps === 0) {
          const page = kept.get(offset / ps);
          if (page !== undefined && length <= page.length) return page.subarray(0, length);
        }
        return src.read(offset, length);
      },
    };
  }
}

/** Options of a collection. */
export interface CollectOptions {
  crc: Crc32cUpdate;
  /** Record the user keys of revision-keyed leaves (for counting live keys); default false. */
  liveKeys?: boolean;
  /** Largest page with its overflow summarized or kept; default 16 MiB. */
  maxSpanBytes?: number;
  /** Most bytes of pages kept as copies; default 256 MiB. */
  maxKeptBytes?: number;
}

/**
 * Collects a PageIndex from a snapshot's bytes pushed in file order, in pieces of any size. What
 * it keeps it copies: a piece may be reused as soon as push returns.
 */
export class PageCollector {
  private readonly leaves = new LeafTable();
  /** Summary number per slot, -1 for none. */
  private slotLeaf = new Int32Array(0);
  private readonly kept = new Map<number, Buffer>();
  private readonly keyArena = new Arena();
  private readonly elemIds = new IntArena();
  private readonly keys = new KeyInterner();
  private readonly userKey = { start: 0, end: 0 };
  private readonly maxSpan: number;
  private readonly maxKept: number;
  private keptBytes = 0;
  private pageSize = 0;
  /** Absolute offset of the next slot to look at. */
  private next = 0;
  /** Bytes pushed so far. */
  private total = 0;
  /** Carried bytes [winStart, winStart + winLen) that a slot starting in them still needs. */
  private win = Buffer.allocUnsafe(0);
  private winStart = 0;
  private winLen = 0;
  /** Bytes before the page size is known (the first 80 of meta page 0). */
  private head: Buffer[] = [];

  constructor(private readonly opts: CollectOptions) {
    this.maxSpan = opts.maxSpanBytes ?? 16 << 20;
    this.maxKept = opts.maxKeptBytes ?? 256 << 20;
  }

  push(piece: Buffer): void {
    if (piece.length === 0) return;
    if (this.pageSize === 0) {
      this.head.push(Buffer.from(piece));
      this.total += piece.length;
      if (this.total < PAGE_HEADER + 64) return;
      const all = Buffer.concat(this.head);
      this.head = [];
      this.total = 0;
      const m0 = readMeta({ size: all.length, read: (o, l) => all.subarray(o, o + l) }, 0);
      this.pageSize = m0.meta?.pageSize ?? 4096;
      this.feed(all);
      return;
    }
    this.feed(piece);
  }

  /** The index, after the last push. */
  finish(): PageIndex {
    if (this.pageSize === 0) {
      const all = Buffer.concat(this.head);
      this.head = [];
      this.total = 0;
      this.pageSize = 4096;
      this.feed(all);
    }
    this.win = Buffer.allocUnsafe(0);
    this.winLen = 0;
    return new PageIndex(
      this.pageSize,
      this.leaves,
      this.slotLeaf,
      this.kept,
      this.keyArena,
      this.elemIds,
      this.keys,
    );
  }

  private feed(c: Buffer): void {
    const cStart = this.total;
    this.total += c.length;
    const ps = this.pageSize;
    // Bytes of c appended to the window so far: the window always ends at cStart + taken.
    let taken = 0;
    const take = (want: number): boolean => {
      const n = Math.min(want - this.winLen, c.length - taken);
      if (n > 0) {
        this.append(c, taken, taken + n);
        taken += n;
      }
      return this.winLen >= want;
    };
    for (;;) {
      const s = this.next;
      const pgid = s / ps;
      if (this.winLen > 0 && s < this.winStart + this.winLen) {
        // The slot starts in carried bytes: complete what it needs from c.
        if (s > this.winStart) {
          this.win.copy(this.win, 0, s - this.winStart, this.winLen);
          this.winLen -= s - this.winStart;
          this.winStart = s;
        }
        if (!take(PAGE_HEADER)) break;
        const need = this.spanAt(this.win, 0, pgid);
        if (need > 0) {
          if (!take(need)) break;
          this.slot(this.win, 0, need, pgid);
        }
        this.next = s + ps;
        if (this.next >= this.winStart + this.winLen) this.winLen = 0;
        continue;
      }
      // The slot starts in c, after what the window took from it.
      const rel = s - cStart;
      if (rel >= c.length) break;
      const need = rel + PAGE_HEADER <= c.length ? this.spanAt(c, rel, pgid) : PAGE_HEADER;
      if (rel + need > c.length) {
        this.winStart = s;
        this.winLen = 0;
        this.append(c, rel, c.length);
        break;
      }
      if (need > 0) this.slot(c, rel, need, pgid);
      this.next = s + ps;
    }
  }

  private append(c: Buffer, from: number, to: number): void {
    const n = to - from;
    if (n <= 0) return;
    if (this.winLen + n > this.win.length) {
      const b = Buffer.allocUnsafe(Math.max(this.win.length * 2, this.winLen + n, 64 << 10));
      this.win.copy(b, 0, 0, this.winLen);
      this.win = b;
    }
    c.copy(this.win, this.winLen, from, to);
    this.winLen += n;
  }

  /**
   * Bytes a slot needs from its start, judged from its 16-byte header: its whole span for a meta,
   * branch, leaf or freelist page that names itself; 0 for anything else (free pages' leftovers,
   * the middle of an overflow run, a page too large to index), which needs no more bytes.
   */
  private spanAt(b: Buffer, at: number, pgid: number): number {
    const ps = this.pageSize;
    if (pgid < 2) return ps;
    if (
      b.readUInt32LE(at) !== pgid % 0x1_0000_0000 ||
      b.readUInt32LE(at + 4) !== Math.floor(pgid / 0x1_0000_0000)
    )
      return 0;
    const flags = b.readUInt16LE(at + 8);
    if (flags !== LEAF && flags !== BRANCH && flags !== FREELIST) return 0;
    const span = (1 + b.readUInt32LE(at + 12)) * ps;
    return span <= this.maxSpan ? span : 0;
  }

  /** Looks at the page at b[at, at + span) (valid during the call only), as spanAt sized it. */
  private slot(b: Buffer, at: number, span: number, pgid: number): void {
    if (pgid < 2) {
      this.keep(pgid, b, at, span);
      return;
    }
    const flags = b.readUInt16LE(at + 8);
    if (flags !== LEAF) {
      this.keep(pgid, b, at, span);
      return;
    }
    const count = b.readUInt16LE(at + 10);
    if (PAGE_HEADER + count * ELEMENT > span) return; // the walk reports it from the bytes
    for (let i = 0; i < count; i++) {
      if ((b.readUInt32LE(at + PAGE_HEADER + i * ELEMENT) & BUCKET_LEAF) !== 0) {
        this.keep(pgid, b, at, span);
        return;
      }
    }
    this.summarize(b, at, span, pgid, count);
  }

  private keep(pgid: number, b: Buffer, at: number, span: number): void {
    if (this.keptBytes + span > this.maxKept) return;
    this.keptBytes += span;
    const copy = Buffer.allocUnsafe(span);
    b.copy(copy, 0, at, at + span);
    this.kept.set(pgid, copy);
  }

  /** Summarizes the leaf page at b[at, at + len) (elements hold no buckets; they fit the page). */
  private summarize(b: Buffer, at: number, len: number, pgid: number, count: number): void {
    const ps = this.pageSize;
    // File offset of b[0].
    const base = pgid * ps - at;
    const label = `leaf page ${pgid}`;
    const crcUpdate = this.opts.crc;
    const live = this.opts.liveKeys === true;
    const t = this.leaves;
    const s = t.add();
    let end = count;
    let crc = 0;
    let hashed = 0;
    let runStart = -1;
    let runEnd = -1;
    let prevK0 = 0;
    let prevKs = 0;
    let lastRev = NaN;
    let shortKeys: ShortKey[] | null = null;
    const limit = at + len;
    t.elemStart[s] = this.elemIds.used;
    for (let i = 0; i < count; i++) {
      const e = at + PAGE_HEADER + i * ELEMENT;
      const flags = b.readUInt32LE(e);
      const pos = b.readUInt32LE(e + 4);
      const ksize = b.readUInt32LE(e + 8);
      const vsize = b.readUInt32LE(e + 12);
      const k0 = e + pos;
      let problem: string | null = null;
      let where = e;
      if (k0 + ksize + vsize > limit)
        problem = `${label} element ${i}: key and value (${ksize}+${vsize} bytes at +${pos}) lie outside the page`;
      else if (flags !== 0) problem = `${label} element ${i}: unknown element flags 0x${flags.toString(16)}`;
      else if (i > 0 && !sortsAfter(b, k0, ksize, b, prevK0, prevKs)) {
        problem = `${label} element ${i}: keys out of order`;
        where = k0;
      }
      if (problem !== null) {
        end = i;
        t.problems.set(s, { page: pgid, offset: base + where, what: problem });
        break;
      }
      const v1 = k0 + ksize + vsize;
      if (k0 !== runEnd) {
        if (runEnd > runStart && runStart >= 0) crc = crcUpdate(crc, b.subarray(runStart, runEnd));
        runStart = k0;
      }
      runEnd = v1;
      hashed += ksize + vsize;
      if (ksize < 8) (shortKeys ??= []).push({ index: i, offset: base + k0, length: ksize });
      else {
        lastRev = b.readUInt32BE(k0) * 0x1_0000_0000 + b.readUInt32BE(k0 + 4);
        if (live) {
          const alive = !(ksize === 18 && b[k0 + 17] === 0x74); // 't': tombstone
          const found = findKvKey(b, k0 + ksize, v1, this.userKey);
          this.elemIds.push(
            found ? this.keys.id(b, this.userKey.start, this.userKey.end) * 2 + (alive ? 1 : 0) : -2,
          );
        }
      }
      if (i === 0) {
        t.firstKeyAt[s] = this.keyArena.append(b, k0, k0 + ksize);
        t.firstKeyLen[s] = ksize;
        t.firstKeyOffset[s] = base + k0;
      }
      prevK0 = k0;
      prevKs = ksize;
    }
    if (runEnd > runStart && runStart >= 0) crc = crcUpdate(crc, b.subarray(runStart, runEnd));
    if (end > 0) {
      t.lastKeyAt[s] = this.keyArena.append(b, prevK0, prevK0 + prevKs);
      t.lastKeyLen[s] = prevKs;
    }
    t.count[s] = count;
    t.overflow[s] = len / ps - 1;
    t.end[s] = end;
    t.crc[s] = crc >>> 0;
    t.hashed[s] = hashed;
    t.lastRev[s] = lastRev;
    t.elemEnd[s] = this.elemIds.used;
    if (shortKeys) t.shortKeys.set(s, shortKeys);
    if (pgid >= this.slotLeaf.length) {
      const n = this.slotLeaf.length;
      this.slotLeaf = grown(this.slotLeaf, Math.max(pgid + 1, n * 2, 1024)).fill(-1, n);
    }
    this.slotLeaf[pgid] = s;
  }
}
