// A deduplicating work queue like client-go's: a key queued several times before it is processed
// is processed once; a key being processed and queued again is processed again afterwards; a
// failed key is retried after a delay. Workers run concurrently up to `workers`.

/** Processes keys with bounded concurrency and retries. */
export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly active = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private running = 0;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly name: string,
    private readonly process: (key: string) => Promise<void>,
    private readonly opts: { workers: number; retryMs: number; log: (line: string) => void },
  ) {}

  /** Queues a key now. */
  add(key: string): void {
    if (this.stopped) return;
    if (this.active.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.pump();
  }

  /** Queues a key after ms milliseconds. */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.add(key);
    }, ms);
    this.timers.add(t);
  }

  private pump(): void {
    while (!this.stopped && this.running < this.opts.workers && this.queue.length > 0) {
      const key = this.queue.shift() as string;
      this.queued.delete(key);
      this.active.add(key);
      this.running++;
      void this.process(key)
        .catch((e: unknown) => {
          if (this.stopped) return;
          this.opts.log(`${this.name}: ${key}: ${e instanceof Error ? e.message : String(e)}`);
          this.addAfter(key, this.opts.retryMs);
        })
        .finally(() => {
          this.running--;
          this.active.delete(key);
          if (this.dirty.delete(key)) this.add(key);
          this.pump();
          if (this.running === 0 && this.queue.length === 0) for (const w of this.idleWaiters.splice(0)) w();
        });
    }
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    if (this.running === 0 && this.queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Drops queued work and pending retries. */
  stop(): void {
    this.stopped = true;
    this.queue.length = 0;
    this.queued.clear();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
