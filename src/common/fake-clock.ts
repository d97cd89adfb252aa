// A hand-written fake of the Clock port for tests: time stands still until the test moves it, and
// sleeps resolve when the fake time passes their deadline. No real timers are involved, so a test
// of a five-minute timeout runs in microseconds and never depends on the machine's speed.
import type { Clock } from './ports.ts';

interface Sleeper {
  at: number;
  seq: number;
  resolve: () => void;
}

/** Lets pending promise callbacks and I/O callbacks of in-memory fakes run. */
export async function flushAsync(rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((r) => setImmediate(r));
}

/** A Clock whose time moves only when advance() (or runUntilSettled) moves it. */
export class FakeClock implements Clock {
  private t: number;
  private seq = 0;
  private sleepers: Sleeper[] = [];

  /** @param start the initial time (default 2025-01-01T00:00:00Z). */
  constructor(start: Date | number = Date.UTC(2025, 0, 1)) {
    this.t = typeof start === 'number' ? start : start.getTime();
  }

  now(): Date {
    return new Date(this.t);
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<void>((resolve, reject) => {
      const s: Sleeper = {
        at: this.t + Math.max(0, ms),
        seq: this.seq++,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
      };
      const onAbort = (): void => {
        this.sleepers = this.sleepers.filter((x) => x !== s);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.sleepers.push(s);
    });
  }

  /** Number of sleeps waiting. */
  get pending(): number {
    return this.sleepers.length;
  }

  /** The earliest sleep deadline, if any. */
  nextDeadline(): number | undefined {
    let min: number | undefined;
    for (const s of this.sleepers) if (min === undefined || s.at < min) min = s.at;
    return min;
  }

  /** Moves time forward by ms, waking every sleep that falls due, in deadline order. */
  async advance(ms: number): Promise<void> {
    const target = this.t + ms;
    for (;;) {
      await flushAsync();
      const due = this.sleepers.filter((s) => s.at <= target).sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (!due) break;
      this.t = Math.max(this.t, due.at);
      this.sleepers = this.sleepers.filter((s) => s !== due);
      due.resolve();
    }
    this.t = target;
    await flushAsync();
  }

  /**
   * Runs until promise settles: lets pending callbacks run and, whenever everything is waiting on
   * the clock, jumps to the next deadline. Throws if nothing can make progress, or after maxSteps.
   */
  async runUntilSettled<T>(promise: Promise<T>, maxSteps = 100_000): Promise<T> {
    let settled = false;
    const tracked = promise.then(
      (v) => {
        settled = true;
        return v;
      },
      (e: unknown) => {
        settled = true;
        throw e;
      },
    );
    tracked.catch(() => undefined);
    for (let i = 0; i < maxSteps; i++) {
      await flushAsync();
      if (settled) return tracked;
      const next = this.nextDeadline();
      if (next === undefined) {
        await flushAsync(20);
        if (settled) return tracked;
        if (this.nextDeadline() === undefined)
          throw new Error('FakeClock: the promise is waiting on something other than the clock');
        continue;
      }
      await this.advance(Math.max(0, next - this.t));
    }
    throw new Error(`FakeClock: not settled after ${maxSteps} steps`);
  }
}
