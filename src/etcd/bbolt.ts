// A small read-only reader of bbolt files (the database inside every etcd snapshot), written from
// bbolt's page.go, bucket.go, db.go and tx_check.go. It parses the two meta pages and walks every
// page reachable from the root bucket (branch and leaf pages, overflow, inline and nested
// buckets) in bbolt's iteration order, checking the structure as it goes: page ids in range, page
// headers that name themselves, element offsets inside their page, keys in order, no page reached
// twice, freelist consistent. It never writes and never trusts an offset it has not bounds-checked.
// Pure: bytes come in through a ByteSource, problems go out as values.

/** Random access to the bytes of a file (plain, or decrypted on the fly). */
export interface ByteSource {
  /** Total number of bytes. */
  readonly size: number;
  /**
   * `length` bytes starting at `offset`; the caller checks the range first. The result may be a
   * view into a reused buffer: it is valid until the next call of read.
   */
  read(offset: number, length: number): Buffer;
}

/** bbolt's magic number, at the start of each meta page's body. */
export const BOLT_MAGIC = 0xed0cdaed;
/** The only data file version bbolt writes. */
export const BOLT_VERSION = 2;

/** Bytes of a page header (id u64, flags u16, count u16, overflow u32), and of a branch or leaf element. */
export const PAGE_HEADER = 16;
export const ELEMENT = 16;
const META_SIZE = 64;
/** Page flags, and the element flag of a nested bucket. */
export const BRANCH = 0x01;
export const LEAF = 0x02;
const META = 0x04;
export const FREELIST = 0x10;
export const BUCKET_LEAF = 0x01;

/** A bbolt meta page: where the root bucket and freelist are, and how many pages are in use. */
export interface BoltMeta {
  /** Bytes per page (4096 on Linux/amd64). */
  pageSize: number;
  flags: number;
  /** Page id of the root bucket's root page. */
  root: number;
  sequence: number;
  /** Page id of the freelist page, or null when the freelist is not synced (etcd's NoFreelistSync). */
  freelist: number | null;
  /** High-water mark: pages 0..pgid-1 are the database; its size is pgid * pageSize. */
  pgid: number;
  txid: number;
}

/** One thing wrong with a snapshot, located as precisely as the file allows. */
export interface SnapshotProblem {
  /** What is wrong, without the location. */
  what: string;
  /** bbolt page id, when the problem is in a page. */
  page?: number;
  /** Absolute byte offset in the file. */
  offset?: number;
}

/** The problem as one line: "page 12 (offset 49152): ...". */
export function describeProblem(p: SnapshotProblem): string {
  const where: string[] = [];
  if (p.page !== undefined) where.push(`page ${p.page}`);
  if (p.offset !== undefined)
    where.push(p.page !== undefined ? `(offset ${p.offset})` : `offset ${p.offset}`);
  return where.length > 0 ? `${where.join(' ')}: ${p.what}` : p.what;
}

/** Reads a little-endian u64 as a number (exact below 2^53; larger values only ever fail range checks). */
function u64(b: Buffer, off: number): number {
  return b.readUInt32LE(off) + b.readUInt32LE(off + 4) * 0x1_0000_0000;
}

function isAllOnes64(b: Buffer, off: number): boolean {
  return b.readUInt32LE(off) === 0xffffffff && b.readUInt32LE(off + 4) === 0xffffffff;
}

/** FNV-1a 64 over bytes, as Go's hash/fnv New64a (bbolt's meta checksum). */
export function fnv64a(data: Uint8Array): bigint {
  let h = 0xcbf29ce484222325n;
  for (const byte of data) {
    h ^= BigInt(byte);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h;
}

/** The result of parsing one meta page. */
export type MetaResult =
  { meta: BoltMeta; problem?: undefined } | { meta?: undefined; problem: SnapshotProblem };

/**
 * Parses and validates the meta page at `index` (0 or 1) as bbolt's meta.validate does: page
 * flags, magic, version, fnv64a checksum. `pageSize` locates meta 1; for meta 0 it is ignored.
 */
export function readMeta(src: ByteSource, index: 0 | 1, pageSize = 4096): MetaResult {
  const off = index === 0 ? 0 : pageSize;
  const where = { page: index, offset: off };
  if (src.size < off + PAGE_HEADER + META_SIZE) {
    return {
      problem: {
        ...where,
        what: `file ends at byte ${src.size}, inside meta page ${index}: not a bbolt database or truncated`,
      },
    };
  }
  const b = src.read(off, PAGE_HEADER + META_SIZE);
  const m = PAGE_HEADER;
  const magic = b.readUInt32LE(m);
  if (magic !== BOLT_MAGIC) {
    return {
      problem: {
        page: index,
        offset: off + m,
        what: `bad magic 0x${magic.toString(16).padStart(8, '0')} (want 0xed0cdaed): not a bbolt database`,
      },
    };
  }
  const version = b.readUInt32LE(m + 4);
  if (version !== BOLT_VERSION) {
    return {
      problem: {
        page: index,
        offset: off + m + 4,
        what: `unsupported bbolt version ${version} (want ${BOLT_VERSION})`,
      },
    };
  }
  const stored = b.readBigUInt64LE(m + 56);
  const sum = fnv64a(b.subarray(m, m + 56));
  if (stored !== sum) {
    return {
      problem: {
        page: index,
        offset: off + m + 56,
        what: `meta checksum mismatch (stored 0x${stored.toString(16)}, computed 0x${sum.toString(16)})`,
      },
    };
  }
  const flags = b.readUInt16LE(8);
  if (flags !== META) {
    return {
      problem: {
        page: index,
        offset: off + 8,
        what: `meta page has page flags 0x${flags.toString(16)} (want 0x4)`,
      },
    };
  }
  const id = u64(b, 0);
  if (id !== index) return { problem: { ...where, what: `meta page says it is page ${id}` } };
  const ps = b.readUInt32LE(m + 8);
  if (ps < 512 || ps > 65536 || (ps & (ps - 1)) !== 0) {
    return { problem: { page: index, offset: off + m + 8, what: `invalid page size ${ps}` } };
  }
  return {
    meta: {
      pageSize: ps,
      flags: b.readUInt32LE(m + 12),
      root: u64(b, m + 16),
      sequence: u64(b, m + 24),
      freelist: isAllOnes64(b, m + 32) ? null : u64(b, m + 32),
      pgid: u64(b, m + 40),
      txid: u64(b, m + 48),
    },
  };
}

/** An element whose key is shorter than a revision key (8 bytes). */
export interface ShortKey {
  index: number;
  /** The key's offset in the file. */
  offset: number;
  length: number;
}

/**
 * Leaf pages looked at ahead of the walk (page-index.ts), by summary number: what the walk needs
 * of a leaf page without reading it. Only pages whose elements hold no buckets are summarized.
 */
export interface LeafIndex {
  /** The summary number of the leaf page starting at `pgid`, or -1. */
  find(pgid: number): number;
  count(s: number): number;
  overflow(s: number): number;
  /**
   * Elements [0, end) are sound on their own; element `end` (when < count) has problem(s): it lies
   * outside the page, has unknown flags, or is not after the element before it.
   */
  end(s: number): number;
  problem(s: number): SnapshotProblem | null;
  /** Whether element 0's key sorts after `last` (when end > 0). */
  firstKeyAfter(s: number, last: Buffer): boolean;
  /** Whether element 0's key of summary `s` sorts after the last key of summary `prev` (both with end > 0). */
  firstKeyAfterLeaf(s: number, prev: number): boolean;
  /** The file offset of element 0's key. */
  firstKeyOffset(s: number): number;
  /** The key of element end - 1 (when end > 0), as a view that stays valid. */
  lastKey(s: number): Buffer;
}

/**
 * The last key seen in a bucket, for the order check of the next one: `last`, or, after a
 * summarized leaf, the last key of summary `leaf` (not copied out until a page read needs it).
 */
type KeyOrder = { last: Buffer | null; leaf: number };

/** Visits the elements [0, end) of summarized leaf page `s` at once. */
export type LeafVisitor = (s: number) => void;

/**
 * Called for every key of a bucket, in bbolt's order; `isBucket` marks a nested bucket (the value
 * is then its 16-byte header, plus the page of an inline bucket). `valueOffset` is the value's
 * offset in the file, for locating problems.
 */
export type EntryVisitor = (key: Buffer, value: Buffer, isBucket: boolean, valueOffset: number) => void;

/** A bucket to iterate: either a root page id, or an inline bucket's page held in a value. */
type BucketRef =
  { root: number; inline?: undefined; base?: undefined } | { root: 0; inline: Buffer; base: number };

/**
 * Walks a bbolt database page by page, in iteration order, recording structural problems. Stops
 * descending into anything that is already broken, so a corrupt file cannot make it loop or read
 * out of range. Create one per pass.
 */
export class BoltWalker {
  readonly problems: SnapshotProblem[] = [];
  /**
   * Called after the last element of every leaf (page or inline bucket) was visited, before the
   * walker reads anything else: the moment to consume views of that leaf's keys and values.
   */
  onLeafEnd: (() => void) | undefined = undefined;
  /** One byte per page id below the high-water mark: 1 once reached. */
  readonly reachable: Uint8Array;
  private readonly ps: number;

  constructor(
    private readonly src: ByteSource,
    readonly meta: BoltMeta,
    private readonly maxProblems = 20,
    /** Leaf pages looked at ahead (cut at the same page size); null reads every page. */
    private readonly leaves: LeafIndex | null = null,
  ) {
    this.ps = meta.pageSize;
    this.reachable = new Uint8Array(
      Math.max(0, Math.min(meta.pgid, Math.floor(src.size / meta.pageSize) + 1)),
    );
    this.reachable[0] = 1;
    if (this.reachable.length > 1) this.reachable[1] = 1;
  }

  /** True once enough problems are recorded that walking further is pointless. */
  get full(): boolean {
    return this.problems.length >= this.maxProblems;
  }

  problem(p: SnapshotProblem): void {
    if (!this.full) this.problems.push(p);
  }

  /** Iterates the root bucket (the top-level bucket names). */
  forEachRoot(visit: EntryVisitor): void {
    this.forEachPage(
      this.meta.root,
      -1,
      0,
      { label: 'the root bucket', loc: { page: 0, offset: PAGE_HEADER + 16 } },
      { last: null, leaf: -1 },
      visit,
    );
  }

  /**
   * Iterates a nested bucket given its header value (16 bytes: root page id, sequence; an inline
   * bucket has root 0 and its page right after). `valueOffset` is the value's offset in the file.
   * With `visitLeaf`, a leaf page that has a summary is visited through it instead of per element.
   */
  forEachInBucket(
    value: Buffer,
    valueOffset: number,
    name: string,
    visit: EntryVisitor,
    visitLeaf?: LeafVisitor,
  ): void {
    const ref = this.bucketRef(value, valueOffset, name);
    if (ref === null) return;
    if (ref.inline) this.forEachInline(ref.inline, ref.base, name, visit);
    else
      this.forEachPage(
        ref.root,
        -1,
        0,
        { label: `bucket ${name}`, loc: { offset: valueOffset } },
        { last: null, leaf: -1 },
        visit,
        visitLeaf,
      );
  }

  private bucketRef(value: Buffer, valueOffset: number, name: string): BucketRef | null {
    if (value.length < 16) {
      this.problem({
        offset: valueOffset,
        what: `bucket ${name}: header is ${value.length} bytes (want 16)`,
      });
      return null;
    }
    const root = u64(value, 0);
    if (root !== 0) return { root };
    return { root: 0, inline: value.subarray(16), base: valueOffset + 16 };
  }

  private forEachInline(page: Buffer, base: number, name: string, visit: EntryVisitor): void {
    if (page.length < PAGE_HEADER) {
      this.problem({
        offset: base,
        what: `inline bucket ${name}: page is ${page.length} bytes (want at least 16)`,
      });
      return;
    }
    const flags = page.readUInt16LE(8);
    const count = page.readUInt16LE(10);
    if (flags !== LEAF) {
      this.problem({
        offset: base + 8,
        what: `inline bucket ${name}: page flags 0x${flags.toString(16)} (want leaf 0x2)`,
      });
      return;
    }
    this.leafElements(page, count, base, undefined, `inline bucket ${name}`, { last: null, leaf: -1 }, visit);
  }

  /**
   * Walks the page `pgid` points to. Who points there is element `index` of branch page `parent`,
   * or, with parent -1, `root` (named only when there is a problem to tell).
   */
  private forEachPage(
    pgid: number,
    parent: number,
    index: number,
    root: { label: string; loc: { page?: number; offset?: number } } | null,
    order: KeyOrder,
    visit: EntryVisitor,
    visitLeaf?: LeafVisitor,
  ): void {
    if (this.full) return;
    const ps = this.ps;
    if (!Number.isSafeInteger(pgid) || pgid < 2 || pgid >= this.meta.pgid) {
      const loc = root?.loc ?? { page: parent, offset: parent * ps + PAGE_HEADER + index * ELEMENT + 8 };
      this.problem({
        ...loc,
        what: `${fromLabel(parent, index, root)} points to page ${pgid}, outside the database (pages 2..${this.meta.pgid - 1})`,
      });
      return;
    }
    const off = pgid * ps;
    if (off + ps > this.src.size) {
      this.problem({
        page: pgid,
        offset: off,
        what: `${fromLabel(parent, index, root)} points here, past the end of the file (${this.src.size} bytes): truncated`,
      });
      return;
    }
    if (this.reachable[pgid]) {
      this.problem({
        page: pgid,
        offset: off,
        what: `reached twice (again from ${fromLabel(parent, index, root)})`,
      });
      return;
    }
    const leaves = visitLeaf ? this.leaves : null;
    const summary = leaves ? leaves.find(pgid) : -1;
    // A summarized leaf's header is known; any other page's is read.
    const head = leaves && summary >= 0 ? null : this.src.read(off, PAGE_HEADER);
    const id = head ? u64(head, 0) : pgid;
    const flags = head ? head.readUInt16LE(8) : LEAF;
    const count = head ? head.readUInt16LE(10) : (leaves?.count(summary) ?? 0);
    const overflow = head ? head.readUInt32LE(12) : (leaves?.overflow(summary) ?? 0);
    if (id !== pgid) {
      this.problem({
        page: pgid,
        offset: off,
        what: `page header says it is page ${id} (${fromLabel(parent, index, root)} points here)`,
      });
      return;
    }
    if (pgid + overflow >= this.meta.pgid) {
      this.problem({
        page: pgid,
        offset: off + 12,
        what: `overflow of ${overflow} pages runs past the high-water mark ${this.meta.pgid}`,
      });
      return;
    }
    const span = (1 + overflow) * ps;
    if (off + span > this.src.size) {
      this.problem({
        page: pgid,
        offset: off + 12,
        what: `overflow of ${overflow} pages runs past the end of the file: truncated`,
      });
      return;
    }
    for (let i = 0; i <= overflow; i++) {
      if (this.reachable[pgid + i]) {
        this.problem({
          page: pgid + i,
          offset: (pgid + i) * ps,
          what: `reached twice (as overflow of page ${pgid})`,
        });
        return;
      }
      this.reachable[pgid + i] = 1;
    }
    if (leaves && visitLeaf && summary >= 0) {
      this.summarizedLeaf(leaves, summary, pgid, order, visitLeaf);
      return;
    }
    const buf = this.src.read(off, span);
    if (flags === BRANCH) {
      if (count === 0) {
        this.problem({ page: pgid, offset: off + 10, what: 'branch page with no elements' });
        return;
      }
      if (PAGE_HEADER + count * ELEMENT > span) {
        this.problem({
          page: pgid,
          offset: off + 10,
          what: `branch page claims ${count} elements, more than fit in it`,
        });
        return;
      }
      let prev: Buffer | null = null;
      for (let i = 0; i < count; i++) {
        const e = PAGE_HEADER + i * ELEMENT;
        const pos = buf.readUInt32LE(e);
        const ksize = buf.readUInt32LE(e + 4);
        const k0 = e + pos;
        if (k0 + ksize > span) {
          this.problem({
            page: pgid,
            offset: off + e,
            what: `branch element ${i}: key (${ksize} bytes at +${pos}) lies outside the page`,
          });
          return;
        }
        const key = buf.subarray(k0, k0 + ksize);
        if (prev !== null && Buffer.compare(prev, key) >= 0) {
          this.problem({ page: pgid, offset: off + k0, what: `branch element ${i}: keys out of order` });
          return;
        }
        prev = key;
      }
      // The children's page ids, copied: reading them may reuse the buffer this page is in.
      const elements = Buffer.from(buf.subarray(PAGE_HEADER, PAGE_HEADER + count * ELEMENT));
      for (let i = 0; i < count; i++)
        this.forEachPage(u64(elements, i * ELEMENT + 8), pgid, i, null, order, visit, visitLeaf);
      return;
    }
    if (flags === LEAF) {
      if (PAGE_HEADER + count * ELEMENT > span) {
        this.problem({
          page: pgid,
          offset: off + 10,
          what: `leaf page claims ${count} elements, more than fit in it`,
        });
        return;
      }
      this.leafElements(buf, count, off, pgid, `leaf page ${pgid}`, order, visit);
      return;
    }
    this.problem({
      page: pgid,
      offset: off + 8,
      what: `${fromLabel(parent, index, root)} points to a page of type ${pageType(flags)} (want branch or leaf)`,
    });
  }

  /** A summarized leaf: the same checks and visits as leafElementsOf, from what was learned ahead. */
  private summarizedLeaf(
    leaves: LeafIndex,
    s: number,
    pgid: number,
    order: KeyOrder,
    visitLeaf: LeafVisitor,
  ): void {
    try {
      if (leaves.end(s) > 0) {
        const after =
          order.leaf >= 0
            ? leaves.firstKeyAfterLeaf(s, order.leaf)
            : order.last === null || leaves.firstKeyAfter(s, order.last);
        if (!after) {
          this.problem({
            page: pgid,
            offset: leaves.firstKeyOffset(s),
            what: `leaf page ${pgid} element 0: keys out of order`,
          });
          return;
        }
        visitLeaf(s);
        order.leaf = s;
        order.last = null;
      }
      const problem = leaves.problem(s);
      if (problem !== null) this.problem(problem);
    } finally {
      this.onLeafEnd?.();
    }
  }

  /** Visits a leaf's elements; `buf` starts at the page header, `base` is its file offset. */
  private leafElements(
    buf: Buffer,
    count: number,
    base: number,
    pgid: number | undefined,
    label: string,
    order: KeyOrder,
    visit: EntryVisitor,
  ): void {
    try {
      this.leafElementsOf(buf, count, base, pgid, label, order, visit);
    } finally {
      this.onLeafEnd?.();
    }
  }

  private leafElementsOf(
    buf: Buffer,
    count: number,
    base: number,
    pgid: number | undefined,
    label: string,
    order: KeyOrder,
    visit: EntryVisitor,
  ): void {
    if (order.leaf >= 0) {
      // A page after a summarized leaf: its last key is needed as a Buffer now.
      order.last = this.leaves ? this.leaves.lastKey(order.leaf) : null;
      order.leaf = -1;
    }
    const len = buf.length;
    const where = (rel: number): SnapshotProblem =>
      pgid === undefined ? { offset: base + rel, what: '' } : { page: pgid, offset: base + rel, what: '' };
    if (PAGE_HEADER + count * ELEMENT > len) {
      this.problem({ ...where(10), what: `${label}: claims ${count} elements, more than fit in it` });
      return;
    }
    // A nested bucket's pages are read while this page is still being iterated: keep a copy.
    for (let i = 0; i < count; i++) {
      if ((buf.readUInt32LE(PAGE_HEADER + i * ELEMENT) & BUCKET_LEAF) !== 0) {
        buf = Buffer.from(buf);
        break;
      }
    }
    for (let i = 0; i < count; i++) {
      const e = PAGE_HEADER + i * ELEMENT;
      const flags = buf.readUInt32LE(e);
      const pos = buf.readUInt32LE(e + 4);
      const ksize = buf.readUInt32LE(e + 8);
      const vsize = buf.readUInt32LE(e + 12);
      const k0 = e + pos;
      if (k0 + ksize + vsize > len) {
        this.problem({
          ...where(e),
          what: `${label} element ${i}: key and value (${ksize}+${vsize} bytes at +${pos}) lie outside the page`,
        });
        return;
      }
      if ((flags & ~BUCKET_LEAF) !== 0) {
        this.problem({
          ...where(e),
          what: `${label} element ${i}: unknown element flags 0x${flags.toString(16)}`,
        });
        return;
      }
      const key = buf.subarray(k0, k0 + ksize);
      if (order.last !== null && Buffer.compare(order.last, key) >= 0) {
        this.problem({ ...where(k0), what: `${label} element ${i}: keys out of order` });
        return;
      }
      order.last = key;
      visit(
        key,
        buf.subarray(k0 + ksize, k0 + ksize + vsize),
        (flags & BUCKET_LEAF) !== 0,
        base + k0 + ksize,
      );
      if (this.full) return;
    }
    // The last key is compared with the next page's first: keep it past the next read.
    if (order.last !== null) order.last = Buffer.from(order.last);
  }

  /**
   * Checks the freelist page (when synced) and that every page below the high-water mark is
   * either reachable or free, as bbolt's tx.Check does. Call after the tree walk.
   */
  checkFreelist(): void {
    if (this.full) return;
    const { freelist, pgid } = this.meta;
    if (freelist === null) return; // etcd's NoFreelistSync: bbolt rebuilds it from unreachable pages
    const ps = this.ps;
    if (!Number.isSafeInteger(freelist) || freelist < 2 || freelist >= pgid) {
      this.problem({
        page: 0,
        offset: PAGE_HEADER + 32,
        what: `meta points to freelist page ${freelist}, outside the database`,
      });
      return;
    }
    const off = freelist * ps;
    if (off + ps > this.src.size) {
      this.problem({
        page: freelist,
        offset: off,
        what: 'freelist page lies past the end of the file: truncated',
      });
      return;
    }
    const head = this.src.read(off, PAGE_HEADER);
    const flags = head.readUInt16LE(8);
    const overflow = head.readUInt32LE(12);
    if (u64(head, 0) !== freelist || flags !== FREELIST) {
      this.problem({
        page: freelist,
        offset: off,
        what: `meta points to a freelist here but the page is ${pageType(flags)} page ${u64(head, 0)}`,
      });
      return;
    }
    if (freelist + overflow >= pgid || off + (1 + overflow) * ps > this.src.size) {
      this.problem({
        page: freelist,
        offset: off + 12,
        what: `freelist overflow of ${overflow} pages runs past the end`,
      });
      return;
    }
    const buf = this.src.read(off, (1 + overflow) * ps);
    let count = buf.readUInt16LE(10);
    let idx = PAGE_HEADER;
    if (count === 0xffff) {
      count = u64(buf, PAGE_HEADER);
      idx += 8;
    }
    if (idx + count * 8 > buf.length) {
      this.problem({
        page: freelist,
        offset: off + 10,
        what: `freelist claims ${count} ids, more than fit in it`,
      });
      return;
    }
    for (let i = 0; i <= overflow; i++) {
      if (this.reachable[freelist + i]) {
        this.problem({
          page: freelist + i,
          offset: (freelist + i) * ps,
          what: 'freelist page is also used by the tree',
        });
        return;
      }
      this.reachable[freelist + i] = 1;
    }
    const free = new Uint8Array(pgid);
    let prev = -1;
    for (let i = 0; i < count; i++) {
      const id = u64(buf, idx + i * 8);
      const at = off + idx + i * 8;
      if (!Number.isSafeInteger(id) || id < 2 || id >= pgid) {
        this.problem({
          page: freelist,
          offset: at,
          what: `freelist entry ${i} is page ${id}, outside the database`,
        });
        return;
      }
      if (id <= prev) {
        this.problem({
          page: freelist,
          offset: at,
          what: `freelist entry ${i} (page ${id}) is out of order or freed twice`,
        });
        return;
      }
      prev = id;
      if (this.reachable[id]) {
        this.problem({ page: id, offset: id * ps, what: 'page is both reachable and on the freelist' });
        return;
      }
      free[id] = 1;
    }
    for (let id = 2; id < pgid; id++) {
      if (!this.reachable[id] && !free[id]) {
        this.problem({
          page: id,
          offset: id * ps,
          what: 'page is neither reachable nor on the freelist (unreachable unfreed)',
        });
        return;
      }
    }
  }
}

/** Who points to a page, for messages: a root's label, or the branch element. */
function fromLabel(parent: number, index: number, root: { label: string } | null): string {
  return root?.label ?? `branch page ${parent} element ${index}`;
}

function pageType(flags: number): string {
  switch (flags) {
    case BRANCH:
      return 'branch';
    case LEAF:
      return 'leaf';
    case META:
      return 'meta';
    case FREELIST:
      return 'freelist';
    default:
      return `unknown<0x${flags.toString(16).padStart(2, '0')}>`;
  }
}
