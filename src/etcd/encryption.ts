// Encryption at rest for backups: AES-256-GCM over fixed-size chunks, so a 2 GB snapshot is
// encrypted while it streams and read back with random access (status and verify decrypt only the
// chunks they touch, and never write plaintext to disk). Each chunk is authenticated on its own
// and bound to its index and to "last chunk or not", so truncation, reordering and flipped bytes
// are all detected (the construction of Hoang, Reyhanitabar, Rogaway and Vizár's STREAM).
//
// File format (all integers big-endian):
//   offset  size  field
//   0       8     magic "BOSUNENC"
//   8       1     format version (1)
//   9       1     cipher (1 = AES-256-GCM)
//   10      2     reserved, zero
//   12      4     chunk size: plaintext bytes per chunk (1 MiB)
//   16      8     key id: the first 8 bytes of HMAC-SHA256(key, "bosun etcd backup key id v1")
//   24      8     nonce prefix, random per file
//   32      ...   chunks: ciphertext (chunk size bytes; the last one may be shorter, even empty)
//                 followed by its 16-byte GCM tag
// Chunk i uses nonce = nonce prefix || u32(i) and additional data = header (32 bytes) || u8(last).
//
// Key file: 32 bytes, either raw, or written as 64 hex digits, or as base64 (e.g.
// `head -c 32 /dev/urandom | base64 > backup.key`). It never leaves this module except as a key id.
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { BosunError, UsageError } from '../common/errors.ts';
import type { ByteSource } from './bbolt.ts';

/** The 8 bytes an encrypted backup starts with. */
export const ENCRYPTED_MAGIC = Buffer.from('BOSUNENC', 'latin1');
/** Header length in bytes. */
export const HEADER_SIZE = 32;
/** GCM tag length in bytes. */
export const TAG_SIZE = 16;
/** Plaintext bytes per chunk written by bosun. */
export const DEFAULT_CHUNK_SIZE = 1 << 20;
const FORMAT_VERSION = 1;
const CIPHER_AES_256_GCM = 1;
const MAX_CHUNK_SIZE = 64 << 20;

/** A loaded encryption key. */
export interface EncryptionKey {
  /** 32 bytes; never printed. */
  readonly key: Buffer;
  /** 16 hex digits identifying the key without revealing it. */
  readonly id: string;
  /** Where it came from, for messages. */
  readonly file: string;
}

/** The key id stored in a file's header for `key`. */
export function keyId(key: Buffer): Buffer {
  return createHmac('sha256', key).update('bosun etcd backup key id v1').digest().subarray(0, 8);
}

/**
 * Parses the contents of a key file: 32 raw bytes, 64 hex digits, or base64 of 32 bytes
 * (surrounding whitespace ignored). Anything else is a corrupted key file (exit code 2).
 */
export function parseKeyFile(content: Buffer, file: string): EncryptionKey {
  let key: Buffer | null = null;
  if (content.length === 32) key = Buffer.from(content);
  else {
    const text = content.toString('latin1').trim();
    if (/^[0-9a-fA-F]{64}$/.test(text)) key = Buffer.from(text, 'hex');
    else if (/^[A-Za-z0-9+/]{43}=?$/.test(text)) {
      const b = Buffer.from(text, 'base64');
      if (b.length === 32) key = b;
    }
  }
  if (key === null) {
    throw new UsageError(
      `encryption key file ${file} is corrupted: it holds ${content.length} bytes that are not a 32-byte key (raw, 64 hex digits or base64)`,
      { hint: 'Create a key with: head -c 32 /dev/urandom | base64 > backup.key && chmod 600 backup.key' },
    );
  }
  return { key, id: keyId(key).toString('hex'), file };
}

/** True when the bytes start like an encrypted backup. */
export function isEncrypted(head: Buffer): boolean {
  return (
    head.length >= ENCRYPTED_MAGIC.length && head.subarray(0, ENCRYPTED_MAGIC.length).equals(ENCRYPTED_MAGIC)
  );
}

/**
 * Encrypts a stream of plaintext pieces into the file format above. Feed `push` in order; each
 * call returns the bytes to append (possibly none); `finish` returns the last chunk.
 */
export class ChunkEncryptor {
  private readonly head: Buffer;
  private readonly noncePrefix: Buffer;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private index = 0;
  private started = false;

  constructor(
    private readonly key: EncryptionKey,
    private readonly chunkSize = DEFAULT_CHUNK_SIZE,
    random: (n: number) => Buffer = randomBytes,
  ) {
    this.noncePrefix = random(8);
    this.head = Buffer.alloc(HEADER_SIZE);
    ENCRYPTED_MAGIC.copy(this.head, 0);
    this.head[8] = FORMAT_VERSION;
    this.head[9] = CIPHER_AES_256_GCM;
    this.head.writeUInt32BE(chunkSize, 12);
    keyId(key.key).copy(this.head, 16);
    this.noncePrefix.copy(this.head, 24);
  }

  /** Adds plaintext; returns ciphertext ready to write (the header first, on the first call). */
  push(data: Buffer): Buffer[] {
    const out: Buffer[] = [];
    if (!this.started) {
      out.push(Buffer.from(this.head));
      this.started = true;
    }
    this.pending.push(data);
    this.pendingBytes += data.length;
    // Keep at least one byte back: only finish() knows which chunk is the last.
    while (this.pendingBytes > this.chunkSize) {
      const all =
        this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingBytes);
      out.push(this.seal(all.subarray(0, this.chunkSize), false));
      const rest = all.subarray(this.chunkSize);
      this.pending = [rest];
      this.pendingBytes = rest.length;
    }
    return out;
  }

  /** Seals what is left as the last chunk. */
  finish(): Buffer[] {
    const out: Buffer[] = [];
    if (!this.started) {
      out.push(Buffer.from(this.head));
      this.started = true;
    }
    out.push(this.seal(Buffer.concat(this.pending, this.pendingBytes), true));
    this.pending = [];
    this.pendingBytes = 0;
    return out;
  }

  private seal(plain: Buffer, last: boolean): Buffer {
    const c = createCipheriv('aes-256-gcm', this.key.key, nonce(this.noncePrefix, this.index++));
    c.setAAD(Buffer.concat([this.head, Buffer.from([last ? 1 : 0])]));
    const body = c.update(plain);
    const fin = c.final();
    return Buffer.concat([body, fin, c.getAuthTag()]);
  }
}

function nonce(prefix: Buffer, index: number): Buffer {
  const n = Buffer.alloc(12);
  prefix.copy(n, 0);
  n.writeUInt32BE(index, 8);
  return n;
}

/** Reads ciphertext bytes at an offset (a file descriptor, or a buffer in tests). */
export type CipherReader = (offset: number, length: number) => Buffer;

/**
 * Random access to the plaintext of an encrypted backup: decrypts and authenticates chunks on
 * demand and keeps the most recent ones. Wrong key, truncation and tampering are BosunErrors that
 * name the chunk and its offset.
 */
export class DecryptingSource implements ByteSource {
  readonly size: number;
  readonly chunks: number;
  private readonly head: Buffer;
  private readonly chunkSize: number;
  private readonly cache = new Map<number, Buffer>();

  constructor(
    private readonly readCipher: CipherReader,
    private readonly fileSize: number,
    private readonly key: EncryptionKey,
    private readonly file: string,
    private readonly maxCached = 64,
  ) {
    if (fileSize < HEADER_SIZE + TAG_SIZE) {
      throw corrupt(file, `only ${fileSize} bytes, shorter than the header and one chunk: truncated`);
    }
    this.head = Buffer.from(readCipher(0, HEADER_SIZE));
    if (!isEncrypted(this.head)) throw corrupt(file, 'no BOSUNENC header: not an encrypted backup');
    if (this.head[8] !== FORMAT_VERSION)
      throw corrupt(file, `unsupported format version ${this.head[8]} at offset 8`);
    if (this.head[9] !== CIPHER_AES_256_GCM)
      throw corrupt(file, `unknown cipher ${this.head[9]} at offset 9`);
    this.chunkSize = this.head.readUInt32BE(12);
    if (this.chunkSize === 0 || this.chunkSize > MAX_CHUNK_SIZE)
      throw corrupt(file, `invalid chunk size ${this.chunkSize} at offset 12`);
    const fileKeyId = this.head.subarray(16, 24).toString('hex');
    if (fileKeyId !== key.id) {
      throw new BosunError(
        `wrong encryption key: ${file} was encrypted with key id ${fileKeyId}, the key in ${key.file} has id ${key.id}`,
        'SNAPSHOT_INVALID',
        {
          hint: 'Pass the key file used when the backup was taken; a key file that was altered is corrupted.',
        },
      );
    }
    const body = fileSize - HEADER_SIZE;
    const record = this.chunkSize + TAG_SIZE;
    this.chunks = Math.ceil(body / record);
    const lastRecord = body - (this.chunks - 1) * record;
    if (lastRecord < TAG_SIZE) {
      throw corrupt(file, `the last chunk is ${lastRecord} bytes, shorter than its tag: truncated`);
    }
    this.size = body - this.chunks * TAG_SIZE;
  }

  read(offset: number, length: number): Buffer {
    const first = Math.floor(offset / this.chunkSize);
    const last = Math.floor((offset + Math.max(length, 1) - 1) / this.chunkSize);
    if (first === last) {
      const c = this.chunk(first);
      const start = offset - first * this.chunkSize;
      return c.subarray(start, start + length);
    }
    const out = Buffer.allocUnsafe(length);
    let done = 0;
    for (let i = first; i <= last; i++) {
      const c = this.chunk(i);
      const start = i === first ? offset - first * this.chunkSize : 0;
      const n = Math.min(c.length - start, length - done);
      c.copy(out, done, start, start + n);
      done += n;
    }
    return out;
  }

  /** Decrypts every chunk once, in order, calling `visit` with each plaintext chunk. */
  forEachChunk(visit: (plain: Buffer) => void): void {
    for (let i = 0; i < this.chunks; i++) visit(this.decrypt(i));
  }

  private chunk(i: number): Buffer {
    const hit = this.cache.get(i);
    if (hit) {
      this.cache.delete(i);
      this.cache.set(i, hit);
      return hit;
    }
    const plain = this.decrypt(i);
    this.cache.set(i, plain);
    if (this.cache.size > this.maxCached) {
      const oldest = this.cache.keys().next().value;
      if (oldest !== undefined) this.cache.delete(oldest);
    }
    return plain;
  }

  private decrypt(i: number): Buffer {
    if (i < 0 || i >= this.chunks)
      throw corrupt(this.file, `read past the end (chunk ${i} of ${this.chunks})`);
    const record = this.chunkSize + TAG_SIZE;
    const off = HEADER_SIZE + i * record;
    const len = Math.min(record, this.fileSize - off);
    const rec = this.readCipher(off, len);
    const isLast = i === this.chunks - 1;
    const d = createDecipheriv('aes-256-gcm', this.key.key, nonce(this.head.subarray(24, 32), i));
    d.setAAD(Buffer.concat([this.head, Buffer.from([isLast ? 1 : 0])]));
    d.setAuthTag(Buffer.from(rec.subarray(len - TAG_SIZE)));
    try {
      return Buffer.concat([d.update(rec.subarray(0, len - TAG_SIZE)), d.final()]);
    } catch (e) {
      throw corrupt(
        this.file,
        `chunk ${i} of ${this.chunks} (offset ${off}) fails authentication: the file was altered or truncated`,
        e,
      );
    }
  }
}

function corrupt(file: string, what: string, cause?: unknown): BosunError {
  return new BosunError(`encrypted backup ${file} is corrupted: ${what}`, 'SNAPSHOT_INVALID', { cause });
}
