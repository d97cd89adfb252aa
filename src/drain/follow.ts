// Follows objects by watch, or by polling when the user may not watch them: kubectl drain needs no
// watch permission (it polls each pod every second), so neither may bosun. A watch that the server
// forbids (403) turns into a poll of the same list every pollMs, said once through onPolling;
// everything else is kube/watch.ts's listWatch (relist on 410, retry on transient failures).
// It decides nothing about the objects.
import type { Clock } from '../common/ports.ts';
import { isForbidden, isRetryable } from '../kube/errors.ts';
import type { ListResult } from '../kube/types.ts';
import { listWatch, type ListWatchHandlers, type ListWatchSource } from '../kube/watch.ts';

/** How to follow. */
export interface FollowOptions<T> {
  /** False: poll from the start (the user is known not to be allowed to watch). */
  watch: boolean;
  /** Poll period in ms (kubectl: 1 s). */
  pollMs: number;
  /** A list just made, to start from without listing again. */
  initial?: ListResult<T>;
  /** Told once, when a forbidden watch turns into polling. */
  onPolling?(reason: unknown): void;
}

/**
 * Runs until signal aborts (then resolves). Rejects with the first failure that neither a relist,
 * a retry nor polling can get past (e.g. the list itself is forbidden).
 */
export async function follow<T>(
  source: ListWatchSource<T>,
  handlers: ListWatchHandlers<T>,
  deps: { clock: Clock; signal: AbortSignal },
  opts: FollowOptions<T>,
): Promise<void> {
  let initial = opts.initial;
  if (opts.watch) {
    try {
      await listWatch(source, handlers, deps, initial ? { initial } : {});
      return;
    } catch (e) {
      if (!isForbidden(e) || deps.signal.aborted) throw e;
      opts.onPolling?.(e);
      initial = undefined;
    }
  }
  if (initial && !deps.signal.aborted) {
    handlers.onList(initial.items, initial.resourceVersion);
    await deps.clock.sleep(opts.pollMs, deps.signal).catch(() => undefined);
  }
  while (!deps.signal.aborted) {
    try {
      const l = await source.list();
      if (deps.signal.aborted) return;
      handlers.onList(l.items, l.resourceVersion);
    } catch (e) {
      if (deps.signal.aborted) return;
      if (!isRetryable(e)) throw e;
      handlers.onRetry?.(e, opts.pollMs);
    }
    await deps.clock.sleep(opts.pollMs, deps.signal).catch(() => undefined);
  }
}
