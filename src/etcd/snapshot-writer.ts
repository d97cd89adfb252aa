// Writes a snapshot as it streams: the pieces etcd sends (a few KiB each, views of HTTP/2 frames)
// are copied into reused 256 KiB staging buffers, and each full buffer is hashed (sha256 for
// etcd's trailer and the sidecar), looked at by the page collector (page-index.ts), encrypted when
// asked, and queued; queued buffers go to the file in batches of a few MiB, on the thread pool,
// while the stream goes on. Copying costs less than it saves: the frames die young (cheap garbage),
// the hash and the collector see a few thousand cache-warm pieces instead of sixty thousand small
// views, the file gets a few large writes, and the staging buffers are reused, so the process does
// not keep touching fresh memory.
import { createHash } from 'node:crypto';
import type { WritableFile } from './backup-fs.ts';
import type { ChunkEncryptor } from './encryption.ts';
import type { PageCollector } from './page-index.ts';
import { TrailerHash } from './snapshot-file.ts';

/** Sizes of a StagedWriter. */
export interface StagedWriterOptions {
  /** Bytes per staging buffer; default 256 KiB (stays in a CPU's cache while it is hashed and scanned). */
  stageBytes?: number;
  /** Write in batches of this many bytes; default 4 MiB. */
  batchBytes?: number;
  /** Ask the stream to pause while this many bytes wait to be written; default 32 MiB. */
  highWater?: number;
}

/** The plaintext's sha256 values (body without etcd's 32-byte trailer, and whole) and the file's. */
export interface WrittenHashes {
  bodySha256: Buffer;
  plainFileSha256: string;
  /** sha256 of the bytes written (the ciphertext of an encrypted backup). */
  fileSha256: string;
}

export class StagedWriter {
  /** The first write error; once set, nothing more is written. */
  writeError: unknown = null;
  private readonly stageBytes: number;
  private readonly batchBytes: number;
  private readonly highWater: number;
  private readonly plainHash = new TrailerHash();
  private readonly cipherHash: ReturnType<typeof createHash> | null;
  private readonly spare: Buffer[] = [];
  private stage: Buffer;
  private staged = 0;
  private batch: Buffer[] = [];
  private batched = 0;
  private inflight = 0;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly file: WritableFile,
    private readonly collector: PageCollector | null,
    private readonly encryptor: ChunkEncryptor | null,
    opts: StagedWriterOptions = {},
  ) {
    this.stageBytes = opts.stageBytes ?? 256 << 10;
    this.batchBytes = opts.batchBytes ?? 4 << 20;
    this.highWater = opts.highWater ?? 32 << 20;
    this.cipherHash = encryptor ? createHash('sha256') : null;
    this.stage = Buffer.allocUnsafeSlow(this.stageBytes);
  }

  /**
   * Adds plaintext (copied: `blob` may be reused once this returns). Returns a promise when the
   * caller should pause until it settles because too much is waiting to be written.
   */
  push(blob: Buffer): Promise<void> | undefined {
    for (let at = 0; at < blob.length;) {
      const n = Math.min(this.stageBytes - this.staged, blob.length - at);
      blob.copy(this.stage, this.staged, at, at + n);
      this.staged += n;
      at += n;
      if (this.staged === this.stageBytes) this.unstage();
    }
    if (this.batched >= this.batchBytes) {
      const p = this.flush();
      if (this.inflight >= this.highWater) return p;
    }
    return undefined;
  }

  /** After the last push: writes everything left and resolves when all writes ended (check writeError). */
  async end(): Promise<WrittenHashes> {
    this.unstage();
    if (this.encryptor) this.queue(this.encryptor.finish());
    await this.flush();
    const plain = this.plainHash.digest();
    return {
      bodySha256: plain.bodySha256,
      plainFileSha256: plain.fileSha256,
      fileSha256: this.cipherHash ? this.cipherHash.digest('hex') : plain.fileSha256,
    };
  }

  /** Resolves when no write is running any more (to close and remove the file after a failure). */
  drain(): Promise<void> {
    return this.chain;
  }

  /** Hashes, scans and queues what is staged, and starts a new staging buffer. */
  private unstage(): void {
    if (this.staged === 0) return;
    const piece = this.staged === this.stage.length ? this.stage : this.stage.subarray(0, this.staged);
    this.plainHash.update(piece);
    this.collector?.push(piece);
    if (this.encryptor) {
      // The encryptor may hold on to what it is given until a chunk is full: it gets this buffer for good.
      this.queue(this.encryptor.push(piece));
      this.stage = Buffer.allocUnsafeSlow(this.stageBytes);
    } else {
      this.queue([piece]);
      this.stage = this.spare.pop() ?? Buffer.allocUnsafeSlow(this.stageBytes);
    }
    this.staged = 0;
  }

  private queue(bufs: readonly Buffer[]): void {
    for (const b of bufs) {
      if (b.length === 0) continue;
      this.cipherHash?.update(b);
      this.batch.push(b);
      this.batched += b.length;
    }
  }

  private flush(): Promise<void> {
    if (this.batch.length === 0) return this.chain;
    const pieces = this.batch;
    const n = this.batched;
    this.batch = [];
    this.batched = 0;
    this.inflight += n;
    this.chain = this.chain.then(async () => {
      if (this.writeError !== null) return;
      try {
        await this.file.write(pieces);
        // Written: plain staging buffers can be staged into again.
        if (!this.encryptor) for (const p of pieces) if (p.length === this.stageBytes) this.spare.push(p);
      } catch (e) {
        this.writeError = e;
      } finally {
        this.inflight -= n;
      }
    });
    return this.chain;
  }
}
