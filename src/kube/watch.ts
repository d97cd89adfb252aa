// List, then watch from the list's resourceVersion, the way client-go's reflector does: a watch that
// ends is resumed from the last resourceVersion seen; a 410 Gone (the version was compacted), or a
// version newer than the store (etcd restored to an older revision), starts
// over with a fresh list; a dropped connection or a busy server is retried with backoff. The caller
// sees one `onList` per (re)list with the complete current set, then the events after it, in order.
//
// It decides nothing about the objects: it only keeps the stream going until the signal aborts.
import type { Clock } from '../common/ports.ts';
import { isGone, isRetryable, isTooLargeResourceVersion } from './errors.ts';
import type { ListResult, WatchEvent } from './types.ts';

/** How to list and how to watch one kind of object. */
export interface ListWatchSource<T> {
  list(): Promise<ListResult<T>>;
  watch(resourceVersion: string, onEvent: (e: WatchEvent<T>) => void, signal: AbortSignal): Promise<void>;
}

/** What the caller does with the stream. */
export interface ListWatchHandlers<T> {
  /** The complete set after a (re)list; everything before it is superseded. */
  onList(items: T[], resourceVersion: string): void;
  /** One event after the last list, in order. BOOKMARKs are not passed on. */
  onEvent(e: WatchEvent<T>): void;
  /** A transient failure that will be retried (for progress output); optional. */
  onRetry?(error: unknown, delayMs: number): void;
}

/** Backoff after transient failures: doubling from minMs up to maxMs, reset by a healthy watch. */
export interface ListWatchOptions<T> {
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /**
   * A list the caller has just made (e.g. a larger one it filters): used as the first list, so the
   * watch starts from its resourceVersion without listing again. Relists still use `source.list`.
   */
  initial?: ListResult<T>;
}

function resourceVersionOf(obj: unknown): string | undefined {
  const md = (obj as { metadata?: { resourceVersion?: unknown } } | undefined)?.metadata;
  return typeof md?.resourceVersion === 'string' ? md.resourceVersion : undefined;
}

class HandlerError extends Error {
  constructor(readonly inner: unknown) {
    super('handler failed');
  }
}

/**
 * Runs list+watch until signal aborts (then resolves). Rejects with the first error that is
 * neither a 410 nor transient (e.g. 403 Forbidden), or with an error thrown by a handler.
 */
export async function listWatch<T>(
  source: ListWatchSource<T>,
  handlers: ListWatchHandlers<T>,
  deps: { clock: Clock; signal: AbortSignal },
  opts: ListWatchOptions<T> = {},
): Promise<void> {
  const minMs = opts.minBackoffMs ?? 200;
  const maxMs = opts.maxBackoffMs ?? 5_000;
  let backoff = minMs;
  let rv: string | undefined;
  const { signal, clock } = deps;
  if (opts.initial && !signal.aborted) {
    rv = opts.initial.resourceVersion;
    handlers.onList(opts.initial.items, rv);
  }
  while (!signal.aborted) {
    try {
      if (rv === undefined) {
        const list = await source.list();
        if (signal.aborted) return;
        rv = list.resourceVersion;
        handlers.onList(list.items, rv);
      }
      let sawEvent = false;
      let handlerError: { e: unknown } | undefined;
      const inner = new AbortController();
      const onAbort = (): void => inner.abort();
      signal.addEventListener('abort', onAbort, { once: true });
      const started = clock.now().getTime();
      try {
        await source.watch(
          rv,
          (e) => {
            if (handlerError) return;
            try {
              const next = resourceVersionOf(e.object);
              if (next !== undefined) rv = next;
              sawEvent = true;
              if (e.type !== 'BOOKMARK') handlers.onEvent(e);
            } catch (err) {
              // A client library may swallow what its callback throws; keep it and stop the watch.
              handlerError = { e: err };
              inner.abort();
            }
          },
          inner.signal,
        );
      } finally {
        signal.removeEventListener('abort', onAbort);
      }
      if (handlerError) throw new HandlerError(handlerError.e);
      if (sawEvent) backoff = minMs;
      else if (clock.now().getTime() - started < 1000 && !signal.aborted) {
        // The server ended an empty watch at once: do not spin.
        await clock.sleep(backoff, signal).catch(() => undefined);
        backoff = Math.min(backoff * 2, maxMs);
      }
    } catch (e) {
      if (e instanceof HandlerError) throw e.inner;
      if (signal.aborted) return;
      if (isGone(e) || isTooLargeResourceVersion(e)) {
        rv = undefined;
        continue;
      }
      if (!isRetryable(e)) throw e;
      handlers.onRetry?.(e, backoff);
      try {
        await clock.sleep(backoff, signal);
      } catch {
        return;
      }
      backoff = Math.min(backoff * 2, maxMs);
    }
  }
}
