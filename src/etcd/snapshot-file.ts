// Opens a snapshot file for reading, plain or encrypted, as a ByteSource for the bbolt walker,
// and reads a plain one front to back once (readPass) for the page index and the sha256 values
// verify needs. Random reads go through a small cache of reused blocks, and the front-to-back pass
// through one reused buffer (no whole-file buffer: touching 600 MB of fresh memory costs more than
// reading it).
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { BosunError, errorMessage } from '../common/errors.ts';
import type { ByteSource } from './bbolt.ts';
import type { Crc32cUpdate } from './crc32c.ts';
import { DecryptingSource, ENCRYPTED_MAGIC, isEncrypted, type EncryptionKey } from './encryption.ts';
import { PageCollector, type PageIndex } from './page-index.ts';

/** Length of the sha256 trailer etcd appends to a snapshot. */
export const TRAILER_SIZE = 32;

/**
 * The sha256 of a stream of bytes without its last 32 (what etcd's trailer covers), and of the
 * whole stream, fed in pieces of any size without knowing the length ahead.
 */
export class TrailerHash {
  private readonly body = createHash('sha256');
  private tail = Buffer.alloc(0);

  update(piece: Buffer): void {
    if (piece.length >= TRAILER_SIZE) {
      if (this.tail.length > 0) this.body.update(this.tail);
      this.body.update(piece.subarray(0, piece.length - TRAILER_SIZE));
      this.tail = Buffer.from(piece.subarray(piece.length - TRAILER_SIZE));
    } else {
      const c = Buffer.concat([this.tail, piece]);
      if (c.length > TRAILER_SIZE) this.body.update(c.subarray(0, c.length - TRAILER_SIZE));
      this.tail = c.subarray(Math.max(0, c.length - TRAILER_SIZE));
    }
  }

  /** The two digests; the hash cannot be fed afterwards. */
  digest(): { bodySha256: Buffer; fileSha256: string } {
    const whole = this.body.copy();
    whole.update(this.tail);
    return { bodySha256: this.body.digest(), fileSha256: whole.digest('hex') };
  }
}

/** A snapshot opened for reading; close() releases the file descriptor. */
export interface OpenSnapshot {
  /** The plaintext bytes (the decrypted ones for an encrypted file). */
  readonly source: ByteSource;
  /** Size of the file on disk (the ciphertext size for an encrypted file). */
  readonly fileSize: number;
  /** Key id of an encrypted file, null for a plain one. */
  readonly encryptedWithKeyId: string | null;
  /** The open file descriptor of a plain file on disk (for readPass); null otherwise. */
  readonly fd: number | null;
  close(): void;
}

/** Reads `length` bytes at `offset` of a file descriptor, failing on a short read. */
function preadExact(
  fd: number,
  buf: Buffer,
  bufOffset: number,
  length: number,
  position: number,
  file: string,
): void {
  let done = 0;
  while (done < length) {
    const n = readSync(fd, buf, bufOffset + done, length - done, position + done);
    if (n === 0) throw new BosunError(`${file} ended early at byte ${position + done} while reading`, 'IO');
    done += n;
  }
}

/** A plain file as a ByteSource, through an LRU of reused fixed-size blocks. */
export class FileSource implements ByteSource {
  private readonly blocks = new Map<number, Buffer>();
  private readonly spare: Buffer[] = [];
  private lastIndex = -1;
  private lastBlock: Buffer | null = null;

  constructor(
    private readonly fd: number,
    readonly size: number,
    private readonly file: string,
    private readonly blockSize = 128 << 10,
    private readonly maxBlocks = 32,
  ) {}

  read(offset: number, length: number): Buffer {
    const bs = this.blockSize;
    const first = Math.floor(offset / bs);
    const last = Math.floor((offset + Math.max(length, 1) - 1) / bs);
    if (first === last) {
      const b = this.block(first);
      const start = offset - first * bs;
      return b.subarray(start, start + length);
    }
    if (length > bs * 4) {
      const out = Buffer.allocUnsafe(length);
      preadExact(this.fd, out, 0, length, offset, this.file);
      return out;
    }
    const out = Buffer.allocUnsafe(length);
    let done = 0;
    for (let i = first; i <= last; i++) {
      const b = this.block(i);
      const start = i === first ? offset - first * bs : 0;
      const n = Math.min(b.length - start, length - done);
      b.copy(out, done, start, start + n);
      done += n;
    }
    return out;
  }

  private block(i: number): Buffer {
    // The walker mostly reads page after page: the block it used last needs no LRU bookkeeping.
    if (i === this.lastIndex && this.lastBlock !== null) return this.lastBlock;
    const b = this.blockSlow(i);
    this.lastIndex = i;
    this.lastBlock = b;
    return b;
  }

  private blockSlow(i: number): Buffer {
    const hit = this.blocks.get(i);
    if (hit) {
      this.blocks.delete(i);
      this.blocks.set(i, hit);
      return hit;
    }
    if (this.blocks.size >= this.maxBlocks) {
      const oldest = this.blocks.keys().next().value;
      if (oldest !== undefined) {
        const buf = this.blocks.get(oldest);
        this.blocks.delete(oldest);
        if (buf && buf.length === this.blockSize) this.spare.push(buf);
      }
    }
    const start = i * this.blockSize;
    const len = Math.min(this.blockSize, this.size - start);
    const whole = this.spare.pop() ?? Buffer.allocUnsafeSlow(this.blockSize);
    preadExact(this.fd, whole, 0, len, start, this.file);
    const b = len === this.blockSize ? whole : whole.subarray(0, len);
    this.blocks.set(i, b);
    return b;
  }
}

/**
 * Opens a snapshot for reading. An encrypted file needs `key`; a plain one ignores it. Errors name
 * the file: missing, unreadable, encrypted without a key.
 */
export function openSnapshot(file: string, key: EncryptionKey | null): OpenSnapshot {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new BosunError(
      code === 'ENOENT'
        ? `snapshot ${file} does not exist`
        : `cannot open snapshot ${file}: ${errorMessage(e)}`,
      code === 'ENOENT' ? 'NOT_FOUND' : 'IO',
      { cause: e },
    );
  }
  try {
    const size = fstatSync(fd).size;
    const head = Buffer.alloc(Math.min(size, ENCRYPTED_MAGIC.length));
    if (head.length > 0) preadExact(fd, head, 0, head.length, 0, file);
    if (!isEncrypted(head)) {
      const source = new FileSource(fd, size, file);
      return { source, fileSize: size, encryptedWithKeyId: null, fd, close: () => closeSync(fd) };
    }
    if (key === null) {
      throw new BosunError(`snapshot ${file} is encrypted`, 'USAGE', {
        exitCode: 2,
        hint: 'Pass the key it was encrypted with: --encryption-key-file FILE',
      });
    }
    const cipher = new FileSource(fd, size, file, 1 << 20, 4);
    const source = new DecryptingSource((o, l) => Buffer.from(cipher.read(o, l)), size, key, file);
    const idBuf = Buffer.alloc(8);
    preadExact(fd, idBuf, 0, 8, 16, file);
    return {
      source,
      fileSize: size,
      encryptedWithKeyId: idBuf.toString('hex'),
      fd: null,
      close: () => closeSync(fd),
    };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

/** sha256 of bytes [0, end) of a source, plus the 32 bytes after `end` when present. */
export function sha256Prefix(src: ByteSource, end: number, piece = 1 << 20): Buffer {
  const h = createHash('sha256');
  for (let off = 0; off < end; off += piece) h.update(src.read(off, Math.min(piece, end - off)));
  return h.digest();
}

/** sha256 of a whole file on disk (what `sha256sum FILE` prints), read in reused 1 MiB pieces. */
export function sha256File(file: string): string {
  const fd = openSync(file, 'r');
  try {
    const h = createHash('sha256');
    const buf = Buffer.allocUnsafeSlow(1 << 20);
    let pos = 0;
    while (true) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) break;
      h.update(buf.subarray(0, n));
      pos += n;
    }
    return h.digest('hex');
  } finally {
    closeSync(fd);
  }
}

/** A snapshot held in memory, as an OpenSnapshot (tests, and callers that already hold the bytes). */
export function bufferSnapshot(buf: Buffer): OpenSnapshot {
  return {
    source: { size: buf.length, read: (o, l) => buf.subarray(o, o + l) },
    fileSize: buf.length,
    encryptedWithKeyId: null,
    fd: null,
    close: () => undefined,
  };
}

/** What one front-to-back pass over a plain snapshot learns. */
export interface SnapshotPass {
  index: PageIndex;
  /** sha256 of all bytes but the last 32 (what etcd's trailer covers), and of the whole file; null unless asked. */
  bodySha256: Buffer | null;
  fileSha256: string | null;
}

/** Options of a pass. */
export interface PassOptions {
  crc: Crc32cUpdate;
  /** Collect the user keys for counting live keys. */
  liveKeys: boolean;
  /** Also compute the sha256 values. */
  sha256: boolean;
}

// Pieces of 128 KiB: a page-cache copy into a buffer that stays in the CPU's cache, looked at while
// it is still there (measured: 640 MB read in 128 KiB pieces takes a quarter of the time it takes
// in 1 MiB or larger ones, and the CRC and the page parsing then run on cached bytes).
const PASS_PIECE = 128 << 10;

/** Feeds the pieces of one pass, in order, to the page collector and the hashes. */
class Pass {
  private readonly collector: PageCollector;
  private readonly hash: TrailerHash | null;

  constructor(opts: PassOptions) {
    this.collector = new PageCollector({ crc: opts.crc, liveKeys: opts.liveKeys });
    this.hash = opts.sha256 ? new TrailerHash() : null;
  }

  consume(piece: Buffer): void {
    this.collector.push(piece);
    this.hash?.update(piece);
  }

  finish(): SnapshotPass {
    const index = this.collector.finish();
    if (this.hash === null) return { index, bodySha256: null, fileSha256: null };
    return { index, ...this.hash.digest() };
  }
}

/** One front-to-back pass over an opened plain snapshot. */
export function readPass(snap: OpenSnapshot, file: string, opts: PassOptions): SnapshotPass {
  const fd = snap.fd;
  if (fd === null) throw new Error('readPass needs a plain file on disk');
  const pass = new Pass(opts);
  const buf = Buffer.allocUnsafeSlow(Math.min(PASS_PIECE, Math.max(snap.fileSize, 1)));
  for (let pos = 0; pos < snap.fileSize;) {
    const n = Math.min(buf.length, snap.fileSize - pos);
    preadExact(fd, buf, 0, n, pos, file);
    pass.consume(buf.subarray(0, n));
    pos += n;
  }
  return pass.finish();
}
