// The shape every queue-driven controller shares: informer handlers (registered in start())
// enqueue keys, a WorkQueue runs sync(key) with bounded concurrency and retries failures after
// timing.retryMs, stop() drops queued work. Also the small API-error and key helpers they use.
import { ApiError } from '../apiserver/status.ts';
import type { Controller, ControllerContext } from './context.ts';
import { WorkQueue } from './workqueue.ts';

/** A controller that reconciles keys from a work queue. */
export abstract class QueueController implements Controller {
  protected readonly queue: WorkQueue;
  private started = false;
  protected stopped = false;

  constructor(
    readonly name: string,
    protected readonly ctx: ControllerContext,
    opts: { workers?: number } = {},
  ) {
    this.queue = new WorkQueue(name, (key) => this.process(key), {
      workers: opts.workers ?? 4,
      retryMs: ctx.timing.retryMs,
      log: ctx.log,
    });
  }

  private async process(key: string): Promise<void> {
    if (this.stopped) return;
    try {
      await this.sync(key);
    } catch (e) {
      // A conflict means our cache was stale: look again soon, without logging an error.
      if (isApiError(e, 409) && !this.stopped) {
        this.enqueueAfter(key, this.ctx.timing.retryMs);
        return;
      }
      throw e;
    }
  }

  /** Registers the informer handlers (once). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.register();
  }

  /** Stops processing; handlers stay registered but enqueue nothing. */
  stop(): void {
    this.stopped = true;
    this.queue.stop();
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  /** Queues a key (no-op once stopped). */
  enqueue(key: string): void {
    if (!this.stopped) this.queue.add(key);
  }

  /** Queues a key after ms milliseconds. */
  enqueueAfter(key: string, ms: number): void {
    if (!this.stopped) this.queue.addAfter(key, Math.max(0, ms));
  }

  /** Registers informer handlers. */
  protected abstract register(): void;

  /** Reconciles one key; a rejection retries the key after timing.retryMs. */
  protected abstract sync(key: string): Promise<void>;
}

/** "ns/name" (or "name" for cluster-scoped objects). */
export function keyFor(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

/** Splits "ns/name" (or "name"). */
export function splitKey(key: string): { namespace: string | undefined; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { namespace: undefined, name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}

/** Is this an ApiError with this HTTP code? */
export function isApiError(e: unknown, code: number): e is ApiError {
  return e instanceof ApiError && e.code === code;
}

/** A create refused because the namespace is terminating (controllers then stop trying, as kube's do). */
export function isNamespaceTerminating(e: unknown): boolean {
  return (
    e instanceof ApiError &&
    e.code === 403 &&
    (e.status.details?.causes ?? []).some((c) => c.reason === 'NamespaceTerminating')
  );
}

/** The object's controller owner reference, if any (metav1.GetControllerOf, from kube/pods.ts). */
export { controllerOf as controllerRefOf } from '../../kube/pods.ts';

/** A one-line error message. */
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
