// bosun's one lock on the cluster: a Lease in bosun's namespace whose record (src/lock/decide.ts)
// lists its holders. This module does the I/O: it reads the Lease, asks decide.ts, and writes the
// result with a resourceVersion precondition, reading again and deciding again when someone else
// wrote first (409). It creates the namespace and the Lease when they are absent, checks (when the
// caller can tell) whether the Node of a holder in the way still exists, renews in the background
// (hold), and waits for a free slot by watching the Lease, waking at once when a holder releases or
// at the moment the first holder in the way expires: never on a polling period.
//
// client-go's leaderelection (tryAcquireOrRenew, LeaseLock) is the model for the writes; Kured's
// daemonsetlock for the shared slots (see decide.ts for what is done differently). Time and identity
// are passed in; it never prints.
import { BosunError, errorMessage } from '../common/errors.ts';
import type { Clock } from '../common/ports.ts';
import { isAlreadyExists, isConflict, isGone, isNotFound, isRetryable } from '../kube/errors.ts';
import { BOSUN_NAMESPACE, ensureNamespace } from '../kube/leases.ts';
import type { Leases, Namespaces } from '../kube/ports.ts';
import type { Lease } from '../kube/types.ts';
import {
  decideAcquire,
  decideRelease,
  decideRenew,
  describeHolder,
  expiresAt,
  holderState,
  nodesToCheck,
  readRecord,
  rfc3339,
  writeRecord,
  type HolderState,
  type LockHolder,
  type LockRecord,
  type LockRequest,
  type TakenOver,
} from './decide.ts';

/** The Lease's name in bosun's namespace. */
export const LOCK_LEASE_NAME = 'bosun-lock';

/** What the lock talks to. */
export interface LockDeps {
  kube: Leases & Namespaces;
  clock: Clock;
  /**
   * Whether a Node exists (false only when it is known to be gone, e.g. a 404). When given, a
   * holder in the way whose Node is gone is taken over without waiting for its entry to expire.
   */
  nodeExists?: (node: string) => Promise<boolean>;
  /**
   * Of the expired holders in the way, those that must keep their slot all the same (the reboot
   * agent keeps a holder whose Node shows its reboot in progress: its agent cannot renew while the
   * node is down). Asked only when an acquisition or a wait finds expired entries of others; when
   * absent, every expired entry is taken over.
   */
  keepExpired?: (holders: readonly LockHolder[]) => Promise<ReadonlySet<string>>;
}

/** Which Lease is the lock (bosun's: bosun-system/bosun-lock). */
export interface LockOptions {
  namespace?: string;
  name?: string;
}

/** The lock was taken (or renewed by its holder). */
export interface Acquired {
  acquired: true;
  holder: LockHolder;
  /** Entries dropped because they had expired or their Node was gone. */
  takenOver: TakenOver[];
  /** The caller held it already (a restarted agent finding its own entry). */
  already: boolean;
}

/** The lock is held by others. */
export interface Blocked {
  acquired: false;
  blockers: LockHolder[];
  /** One line: who holds it and since when. */
  reason: string;
  /** When the first blocker expires unless renewed. */
  retryAt: Date | undefined;
}

/** "Who holds the lock and since when", for a second `upgrade apply` or `reboot status`. */
export interface LockDescription {
  namespace: string;
  name: string;
  /** Whether the Lease exists at all. */
  exists: boolean;
  holders: (LockHolder & { state: HolderState; expiresAt: string; text: string })[];
}

/** The lock is held by others and the caller would not wait: who holds it and since when. */
export class LockHeldError extends BosunError {
  override readonly name = 'LockHeldError';
  constructor(
    readonly blocked: Blocked,
    what: string,
  ) {
    super(`${what}: ${blocked.reason}`, 'PRECONDITION', {
      hint: 'Wait until it is released, or, if its holder is gone for good, until its entry expires (bosun takes it over then).',
    });
  }
}

/** The caller's entry is no longer in the lock (taken over after it expired, or released). */
export class LockLostError extends BosunError {
  override readonly name = 'LockLostError';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, 'CONFLICT', {
      ...options,
      hint: 'Another holder may be working now: check `bosun reboot status` or the Lease before going on.',
    });
  }
}

/** Why a hold ended without stop(). */
export interface LockLost {
  identity: string;
  reason: string;
  error?: unknown;
}

/** A lock being renewed in the background. */
export interface Hold {
  readonly holder: LockHolder;
  /** Aborted when the lock is lost or the hold stopped: pass it to the work the lock guards. */
  readonly signal: AbortSignal;
  /** Resolves when the lock is lost (with why), or with undefined once stop() or release() ran. */
  readonly lost: Promise<LockLost | undefined>;
  /** Stops renewing; the entry stays until it expires (a reboot agent resuming after its reboot). */
  stop(): Promise<void>;
  /** Stops renewing and releases the entry. */
  release(): Promise<void>;
}

const MAX_WRITE_ATTEMPTS = 100;
const WATCH_BACKOFF_MIN_MS = 200;
const WATCH_BACKOFF_MAX_MS = 5_000;

/** The shared Lease-based lock. No request is made until a method is called. */
export class ClusterLock {
  readonly namespace: string;
  readonly name: string;

  constructor(
    opts: LockOptions,
    private readonly deps: LockDeps,
  ) {
    this.namespace = opts.namespace ?? BOSUN_NAMESPACE;
    this.name = opts.name ?? LOCK_LEASE_NAME;
  }

  /** Who holds the lock, since when, and whether each entry is still live. */
  async describe(): Promise<LockDescription> {
    const { lease, record } = await this.read();
    const now = this.deps.clock.now();
    return {
      namespace: this.namespace,
      name: this.name,
      exists: lease !== undefined,
      holders: record.holders.map((h) => ({
        ...h,
        state: holderState(h, now),
        expiresAt: rfc3339(expiresAt(h)),
        text: describeHolder(h, now),
      })),
    };
  }

  /** One attempt: take the lock (or renew one's own entry) if it is free for `req`, else say who holds it. */
  async tryAcquire(req: LockRequest): Promise<Acquired | Blocked> {
    return (await this.attempt(req)).outcome;
  }

  /**
   * Takes the lock, waiting for it as long as it takes (or until `signal` aborts: then a BosunError
   * INTERRUPTED). The wait watches the Lease and decides on each version it sees, so a release is
   * seen at once and a holder's renewals cost the waiter no request; a holder that stops renewing
   * is taken over when its entry expires. `onBlocked` hears who is in the way, first and whenever
   * that changes. `recheckMs` also re-checks that often (a blocker's Node can be deleted without
   * the Lease changing); unset, only changes of the Lease and expiries wake it.
   */
  async acquire(
    req: LockRequest,
    opts: { signal?: AbortSignal; onBlocked?: (b: Blocked) => void; recheckMs?: number } = {},
  ): Promise<Acquired> {
    let backoff = WATCH_BACKOFF_MIN_MS;
    for (;;) {
      this.checkAborted(opts.signal);
      const { outcome, resourceVersion, kept } = await this.attempt(req);
      if (outcome.acquired) return outcome;
      opts.onBlocked?.(outcome);
      const woke = await this.waitUntilFree(req, resourceVersion, outcome, opts, kept);
      if (woke === 'quiet') {
        // The watch ended (or failed transiently) before anything happened: do not spin.
        await this.deps.clock.sleep(backoff, opts.signal).catch(() => undefined);
        backoff = Math.min(backoff * 2, WATCH_BACKOFF_MAX_MS);
      } else backoff = WATCH_BACKOFF_MIN_MS;
    }
  }

  /**
   * Renews `identity`'s entry now.
   * @throws LockLostError when the entry is no longer there.
   */
  async renew(identity: string): Promise<LockHolder> {
    const r = await this.mutate((record, now) => {
      const d = decideRenew(record, identity, now);
      return d.renewed ? { write: d.record, result: d.holder } : { fail: d.reason };
    });
    return r;
  }

  /** Removes `identity`'s entry. False when it held none (nothing is written then). */
  async release(identity: string): Promise<boolean> {
    try {
      return await this.mutate((record, now) => {
        const d = decideRelease(record, identity, now);
        return d.released ? { write: d.record, result: true } : { result: false };
      });
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  /**
   * Renews `holder`'s entry in the background every `renewEveryMs` (default a third of its TTL, as
   * client-go renews well inside its lease). A renewal that fails is tried again each second; when
   * none has succeeded for two thirds of the TTL (client-go's RenewDeadline to LeaseDuration), or
   * the entry is gone, the lock counts as lost: `signal` aborts and `lost` says why, before anyone
   * else can take the entry over.
   */
  hold(holder: LockHolder, opts: { renewEveryMs?: number } = {}): Hold {
    const { clock } = this.deps;
    const ttlMs = holder.ttlSeconds * 1000;
    const every = Math.max(1, opts.renewEveryMs ?? Math.floor(ttlMs / 3));
    const deadlineMs = Math.floor((ttlMs * 2) / 3);
    const ctl = new AbortController();
    const stopping = new AbortController();
    let resolveLost: (l: LockLost | undefined) => void = () => undefined;
    const lost = new Promise<LockLost | undefined>((r) => (resolveLost = r));
    const loseWith = (l: LockLost): void => {
      resolveLost(l);
      ctl.abort(
        new LockLostError(`lost the lock ${this.namespace}/${this.name}: ${l.reason}`, { cause: l.error }),
      );
    };
    let lastRenew = Date.parse(holder.renewTime);
    if (!Number.isFinite(lastRenew)) lastRenew = clock.now().getTime();
    const loop = (async (): Promise<void> => {
      let wait = every;
      while (!stopping.signal.aborted) {
        try {
          await clock.sleep(wait, stopping.signal);
        } catch {
          return;
        }
        // A renewal that hangs (an API server gone silent) must not outlive the deadline either.
        const left = Math.max(0, lastRenew + deadlineMs - clock.now().getTime());
        const timer = new AbortController();
        const stopTimer = (): void => timer.abort();
        stopping.signal.addEventListener('abort', stopTimer, { once: true });
        const outcome = await Promise.race([
          this.renew(holder.identity).then(
            (h) => ({ renewed: h }),
            (e: unknown) => ({ error: e }),
          ),
          clock.sleep(left, timer.signal).then(
            () => ({ error: new BosunError('the renewal did not complete', 'TIMEOUT') }),
            () => ({ stopped: true }),
          ),
        ]);
        stopping.signal.removeEventListener('abort', stopTimer);
        timer.abort();
        if (stopping.signal.aborted || 'stopped' in outcome) return;
        if ('renewed' in outcome) {
          lastRenew = Date.parse(outcome.renewed.renewTime);
          wait = every;
          continue;
        }
        const e = outcome.error;
        if (e instanceof LockLostError) {
          loseWith({ identity: holder.identity, reason: e.message, error: e });
          return;
        }
        const since = clock.now().getTime() - lastRenew;
        if (since >= deadlineMs) {
          loseWith({
            identity: holder.identity,
            reason: `not renewed for ${Math.round(since / 1000)}s (its TTL is ${holder.ttlSeconds}s): ${errorMessage(e)}`,
            error: e,
          });
          return;
        }
        wait = Math.min(every, 1000, Math.max(1, deadlineMs - since));
      }
    })();
    const stop = async (): Promise<void> => {
      stopping.abort();
      await loop;
      resolveLost(undefined);
      if (!ctl.signal.aborted) ctl.abort(new BosunError('the lock is no longer held', 'INTERRUPTED'));
    };
    return {
      holder,
      signal: ctl.signal,
      lost,
      stop,
      release: async () => {
        await stop();
        await this.release(holder.identity);
      },
    };
  }

  // ---- I/O ---------------------------------------------------------------------------------------

  private async read(): Promise<{ lease: Lease | undefined; record: LockRecord }> {
    try {
      const lease = await this.deps.kube.getLease(this.namespace, this.name);
      return { lease, record: readRecord({ annotations: lease.metadata.annotations, spec: lease.spec }) };
    } catch (e) {
      if (isNotFound(e)) return { lease: undefined, record: { holders: [] } };
      throw e;
    }
  }

  /**
   * Waits until the lock may be free for `req`, without taking it: returns at once when it is, else
   * when a change of the Lease, a blocker's expiry or `recheckMs` makes it worth asking again (the
   * caller then decides whether to take it: the reboot agent checks its blockers first). Throws a
   * BosunError INTERRUPTED when `signal` aborts.
   */
  async awaitAvailable(
    req: LockRequest,
    opts: { signal?: AbortSignal; onBlocked?: (b: Blocked) => void; recheckMs?: number } = {},
  ): Promise<void> {
    this.checkAborted(opts.signal);
    const { lease, record } = await this.read();
    const now = this.deps.clock.now();
    const { d, kept } = await this.judge(record, req, now);
    if (d.acquired) return;
    const blocked: Blocked = { acquired: false, blockers: d.blockers, reason: d.reason, retryAt: d.retryAt };
    opts.onBlocked?.(blocked);
    const woke = await this.waitUntilFree(req, lease?.metadata.resourceVersion, blocked, opts, kept);
    if (woke === 'quiet')
      await this.deps.clock.sleep(WATCH_BACKOFF_MIN_MS, opts.signal).catch(() => undefined);
    this.checkAborted(opts.signal);
  }

  /** decideAcquire with what the deps can tell: expired holders kept, blockers' Nodes gone. */
  private async judge(
    record: LockRecord,
    req: LockRequest,
    now: Date,
  ): Promise<{ d: ReturnType<typeof decideAcquire>; kept: ReadonlySet<string> }> {
    let kept: ReadonlySet<string> = new Set();
    const expired = record.holders.filter(
      (h) => h.identity !== req.identity && holderState(h, now) === 'expired',
    );
    if (expired.length > 0 && this.deps.keepExpired) kept = await this.deps.keepExpired(expired);
    let d = decideAcquire(record, req, now, new Set(), kept);
    if (!d.acquired && this.deps.nodeExists) {
      const gone = await this.goneNodes(nodesToCheck(d.blockers, req.identity));
      if (gone.size > 0) d = decideAcquire(record, req, now, gone, kept);
    }
    return { d, kept };
  }

  /** One acquisition: read, decide (checking blockers' Nodes when it can), write; again on 409. */
  private async attempt(req: LockRequest): Promise<{
    outcome: Acquired | Blocked;
    resourceVersion: string | undefined;
    kept: ReadonlySet<string>;
  }> {
    let resourceVersion: string | undefined;
    let kept: ReadonlySet<string> = new Set();
    const outcome = await this.mutate<Acquired | Blocked>(
      async (record, now, lease) => {
        resourceVersion = lease?.metadata.resourceVersion;
        const j = await this.judge(record, req, now);
        const d = j.d;
        kept = j.kept;
        if (!d.acquired)
          return { result: { acquired: false, blockers: d.blockers, reason: d.reason, retryAt: d.retryAt } };
        return {
          write: d.record,
          result: { acquired: true, holder: d.holder, takenOver: d.takenOver, already: d.already },
        };
      },
      { create: true },
    );
    return { outcome, resourceVersion, kept };
  }

  private async goneNodes(nodes: readonly string[]): Promise<Set<string>> {
    const check = this.deps.nodeExists;
    const gone = new Set<string>();
    if (!check) return gone;
    for (const n of nodes) if (!(await check(n))) gone.add(n);
    return gone;
  }

  /**
   * Reads the record, lets `decide` say what to write (or fail with a LockLostError), and writes it
   * at the version read; a 409 (someone wrote first) starts over from a fresh read.
   */
  private async mutate<T>(
    decide: (
      record: LockRecord,
      now: Date,
      lease: Lease | undefined,
    ) =>
      | { write?: LockRecord; result?: T; fail?: string }
      | Promise<{ write?: LockRecord; result?: T; fail?: string }>,
    opts: { create?: boolean } = {},
  ): Promise<T> {
    for (let attempt = 0; attempt < MAX_WRITE_ATTEMPTS; attempt++) {
      const { lease, record } = await this.read();
      const now = this.deps.clock.now();
      const d = await decide(record, now, lease);
      if (d.fail !== undefined) throw new LockLostError(d.fail);
      if (d.write === undefined) return d.result as T;
      try {
        if (lease === undefined) {
          if (!opts.create)
            throw new LockLostError(`the lock ${this.namespace}/${this.name} no longer exists`);
          await this.create(record, d.write, now);
        } else await this.update(lease, record, d.write, now);
        return d.result as T;
      } catch (e) {
        if (isConflict(e) || isAlreadyExists(e)) continue;
        throw e;
      }
    }
    throw new BosunError(
      `gave up writing the lock ${this.namespace}/${this.name} after ${MAX_WRITE_ATTEMPTS} conflicting writes`,
      'CONFLICT',
      { hint: 'Something rewrites the Lease constantly; check who writes it (kubectl get lease -o yaml).' },
    );
  }

  private async create(previous: LockRecord, record: LockRecord, now: Date): Promise<void> {
    const view = writeRecord(previous, record, 0, now);
    const lease: Lease = {
      metadata: {
        name: this.name,
        namespace: this.namespace,
        labels: { 'app.kubernetes.io/managed-by': 'bosun' },
        annotations: view.annotations,
      },
      spec: view.spec,
    };
    try {
      await this.deps.kube.createLease(lease);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      // bosun's namespace does not exist yet.
      await ensureNamespace(this.deps.kube, this.namespace);
      await this.deps.kube.createLease(lease);
    }
  }

  private async update(lease: Lease, previous: LockRecord, record: LockRecord, now: Date): Promise<void> {
    const view = writeRecord(previous, record, lease.spec?.leaseTransitions ?? 0, now);
    await this.deps.kube.updateLease({
      ...lease,
      metadata: { ...lease.metadata, annotations: { ...lease.metadata.annotations, ...view.annotations } },
      spec: view.spec,
    });
  }

  /**
   * Waits, watching the Lease from `resourceVersion`, until a change makes the lock free for `req`
   * (decided on the watched object itself: a holder's renewal costs a waiter no request), the Lease
   * is deleted, the first blocker's entry expires (the timer follows each renewal), `recheckMs`
   * passes, or `signal` aborts (then throws). `onBlocked` hears of a different set of blockers.
   * 'quiet' when the watch ended or failed transiently before any of those.
   */
  private async waitUntilFree(
    req: LockRequest,
    resourceVersion: string | undefined,
    blocked: Blocked,
    opts: { signal?: AbortSignal; onBlocked?: (b: Blocked) => void; recheckMs?: number },
    kept: ReadonlySet<string> = new Set(),
  ): Promise<'changed' | 'timer' | 'quiet'> {
    const { clock, kube } = this.deps;
    const ctl = new AbortController();
    const onAbort = (): void => ctl.abort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    let woke: 'changed' | 'timer' | undefined;
    let timer: AbortController | undefined;
    const recheckAt = opts.recheckMs !== undefined ? clock.now().getTime() + opts.recheckMs : undefined;
    /** (Re)arms the one timer: the first blocker's expiry, or the recheck, whichever comes first. */
    const arm = (retryAt: Date | undefined): void => {
      timer?.abort();
      const at = [retryAt?.getTime(), recheckAt].filter(
        (x): x is number => x !== undefined && Number.isFinite(x),
      );
      if (at.length === 0 || ctl.signal.aborted) return;
      const t = new AbortController();
      timer = t;
      ctl.signal.addEventListener('abort', () => t.abort(), { once: true });
      // One millisecond past the expiry: an entry is live until renewTime + TTL, exclusive.
      clock.sleep(Math.max(0, Math.min(...at) - clock.now().getTime()) + 1, t.signal).then(
        () => {
          woke ??= 'timer';
          ctl.abort();
        },
        () => undefined,
      );
    };
    const who = (b: Blocked): string => b.blockers.map((h) => `${h.identity}@${h.acquireTime}`).join(',');
    let seen = who(blocked);
    try {
      arm(blocked.retryAt);
      if (!resourceVersion) {
        // Nothing to watch (cannot happen for a blocked lock, whose Lease exists): wait for the timer.
        if (timer)
          await new Promise<void>((r) => ctl.signal.addEventListener('abort', () => r(), { once: true }));
      } else {
        await kube
          .watchLeases(
            { namespace: this.namespace, name: this.name, resourceVersion },
            (e) => {
              if (e.type === 'BOOKMARK' || ctl.signal.aborted) return;
              const d =
                e.type === 'DELETED'
                  ? undefined
                  : decideAcquire(
                      readRecord({ annotations: e.object.metadata.annotations, spec: e.object.spec }),
                      req,
                      clock.now(),
                      new Set(),
                      kept,
                    );
              if (d === undefined || d.acquired) {
                woke ??= 'changed';
                ctl.abort();
                return;
              }
              const b: Blocked = {
                acquired: false,
                blockers: d.blockers,
                reason: d.reason,
                retryAt: d.retryAt,
              };
              if (who(b) !== seen) {
                seen = who(b);
                opts.onBlocked?.(b);
              }
              arm(d.retryAt);
            },
            ctl.signal,
          )
          .catch((e: unknown) => {
            if (ctl.signal.aborted || isGone(e) || isRetryable(e)) return;
            throw e;
          });
      }
      this.checkAborted(opts.signal);
      return woke ?? 'quiet';
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      ctl.abort();
    }
  }

  private checkAborted(signal: AbortSignal | undefined): void {
    if (signal?.aborted)
      throw new BosunError(`stopped waiting for the lock ${this.namespace}/${this.name}`, 'INTERRUPTED', {
        cause: signal.reason,
      });
  }
}
