// One node's eviction loop, run by drainNodes (drainer.ts) once the node is planned and cordoned:
// evictions (or deletions) in parallel with a bounded number of requests in flight, 429s retried
// with backoff until --timeout, each refusal classified, the escalation policy applied to pods that
// stay blocked, and every pod followed by a watch on the node (a poll where the user may not watch)
// until it is gone (deleted, or replaced by a new UID). What it evicts and waits for is what the
// node has after the cordon: a pod bound to it later is filtered and evicted too, and "drained" is
// said only once a fresh read after the last deletion finds nothing the filters would evict.
// It follows the Node itself: uncordoned by someone else, the drain stops (or, with --recordon,
// cordons it again and goes on); it never reports such a node drained.
// Every request carries the drain's deadline, so a silent API server cannot hold it past it, and
// the timeout then names the API server. A drain that stops for a failure lets its evictions in
// flight finish first: kube-apiserver records an eviction in the budget's status.disruptedPods
// before it deletes the pod, and an eviction abandoned in between holds the budget down for two
// minutes. On interruption or timeout it leaves the node cordoned with its state (how many pods
// are left, kept up to date) in the node's annotations, so running the same drain again continues.
import { errorMessage } from '../common/errors.ts';
import {
  hasStatusCause,
  isForbidden,
  isKubeApiError,
  isNotFound,
  isRetryable,
  type KubeApiError,
} from '../kube/errors.ts';
import type { ResourceAttributes } from '../kube/ports.ts';
import type { ListResult, Node, Pod, PodDisruptionBudget } from '../kube/types.ts';
import { CORDON_ANNOTATIONS, DRAIN_STATE, rfc3339, type DrainState } from '../kube/annotations.ts';
import { matches, type Selector } from '../kube/labels.ts';
import { forbiddenReason } from './access.ts';
import { NAMESPACE_TERMINATING_CAUSE, classifyEviction, type Blocked } from './classify.ts';
import { cordonNode, uncordonNode } from './cordon.ts';
import {
  WOKEN,
  compileSelector,
  deadlineSignal,
  filterOptions,
  resumeHint,
  type DrainCounts,
  type DrainDeps,
  type DrainObserver,
  type DrainOptions,
  type NodeDrainResult,
  type NodePlan,
} from './drain-contract.ts';
import { decideEscalation, type EscalationRule } from './escalation.ts';
import { decidePod, isDeletedTooLong, podKey, podRef, type PodRef } from './filters.ts';
import { follow } from './follow.ts';
import { budgetsFor } from './preflight.ts';
import { whoUncordoned } from './uncordoned.ts';

type Phase =
  'queued' | 'requesting' | 'terminating' | 'blocked' | 'stuck' | 'gone' | 'skipped-wait' | 'failed';

interface PodState {
  pod: Pod;
  ref: PodRef;
  phase: Phase;
  via: 'evict' | 'delete';
  attempts: number;
  nextAttemptAt: number;
  blockedSince?: number;
  blocked?: Blocked;
  lastBlockedMessage?: string;
  escalatedDelete?: boolean;
  failure?: string;
  announced: boolean;
  /** When its last request went out (ms). */
  requestedAt?: number;
  /** Its last request was cut off by the deadline or an interruption, unanswered. */
  cutOff?: boolean;
  /** It appeared on the node after the pre-flight and kubectl's rules refuse it. */
  refusedLater?: boolean;
  /** Completing an eviction approved earlier but never carried out: next, by DELETE; refused: may not. */
  complete?: 'next' | 'refused';
  /** The budgets ("namespace/name") covering it, as the drain's budget list had them when it was first sent. */
  budgets?: string[];
}

const DONE: ReadonlySet<Phase> = new Set<Phase>(['gone', 'skipped-wait', 'failed']);

/**
 * How old the pre-flight's pod list may be for a node's watch to start from it. The nodes of one
 * command are drained one after another; a later node lists its pods again instead of watching
 * from a version the API server's watch cache may no longer hold (which would cost a 410 and a relist).
 */
const FRESH_LIST_MS = 30_000;
/** How often pods or the node are polled when the user may not watch them (kubectl polls each pod every second). */
const POLL_MS = 1000;
/** How often, at most, the drain state on the node is rewritten as pods go. */
const STATE_EVERY_MS = 1000;
/** How long past the deadline (or an interruption) the closing writes may take. */
const CLOSING_MS = 750;
/** No answer for this long while requests wait: the API server has gone silent (capped at half the timeout). */
const SILENT_MS = 5000;
/** After a failed confirming read, wait this long before the next. */
const CONFIRM_RETRY_MS = 1000;

/**
 * One node's eviction loop. drainNodes makes one per node it drains, with the node's plan, the
 * result to fill in (its pods' outcomes, the outcome, message and hint), the drain's options and
 * ports, and the deadline (ms on the clock; Infinity for none). run() resolves when the node's
 * drain ended, however it ended (the result says how); it rejects only when a write to the Node
 * itself fails (its drain state, or the uncordon after a give-up).
 */
export class NodeDrain {
  private readonly states: PodState[] = [];
  private readonly byUid = new Map<string, PodState>();
  private readonly byName = new Map<string, PodState>();
  /** Pods on the node the filters leave there (DaemonSet and mirror pods, ...). */
  private readonly ignored = new Set<string>();
  private inflight = 0;
  /**
   * Budgets with an eviction in flight. kube-apiserver writes a budget's status for every eviction
   * it allows, and parallel evictions under one budget lose that race and sleep 500 ms each time
   * (its EvictionsRetry): one at a time per budget, each answers in one round trip.
   */
  private readonly busyBudgets = new Set<string>();
  /** Requests of any kind waiting for an answer. */
  private outstanding = 0;
  /** Requests the deadline or an interruption cut off, unanswered. */
  private cutOff = 0;
  private woken = false;
  private wakeWaiter: (() => void) | undefined;
  private followError: { what: 'pods' | 'node'; error: unknown } | undefined;
  private listed = false;
  private pdbs: PodDisruptionBudget[] = [];
  private lastProgress = '';
  private readonly name: string;
  private readonly emit: DrainObserver;
  private readonly podSelector: Selector;
  /** Aborts every request of this drain: the deadline, or an interruption. */
  private readonly requests = new AbortController();
  private deadlineHit = false;
  /**
   * When the API server last answered one of our requests (ms). Watch events do not count: a
   * watch can stream on while every new request waits (and a silent server's streams stop too).
   */
  private lastAnswerAt = 0;
  /** The confirming read after the last deletion: not yet, in flight, or it found the node empty. */
  private confirm: 'none' | 'reading' | 'done' = 'none';
  private confirmRetryAt = 0;
  /** The node as bosun last wrote or read it (to tell who changed it since). */
  private lastNode: Node;
  private uncordoned: { by: string; node: Node } | undefined;
  private readonly state = { writing: false, at: -Infinity, pending: -1, failed: undefined as unknown };

  constructor(
    private readonly plan: NodePlan,
    private readonly result: NodeDrainResult,
    private readonly opts: DrainOptions,
    private readonly deps: DrainDeps,
    private readonly deadline: number,
  ) {
    this.name = result.node;
    this.emit = deps.observer ?? ((): void => undefined);
    this.podSelector = compileSelector(opts.podSelector);
    this.lastNode = plan.node;
    const uids = new Set(plan.verdicts.filter((v) => v.action === 'evict').map((v) => v.pod.uid));
    for (const p of plan.pods) {
      if (uids.has(p.metadata.uid ?? '')) this.track(p);
      else this.ignored.add(p.metadata.uid ?? '');
    }
  }

  private track(p: Pod): PodState {
    const s: PodState = {
      pod: p,
      ref: podRef(p),
      phase: 'queued',
      via: this.opts.disableEviction ? 'delete' : 'evict',
      attempts: 0,
      nextAttemptAt: 0,
      announced: false,
    };
    this.states.push(s);
    this.byUid.set(s.ref.uid, s);
    this.byName.set(podKey(s.ref), s);
    return s;
  }

  private now(): number {
    return this.deps.clock.now().getTime();
  }

  private wake(): void {
    this.woken = true;
    this.wakeWaiter?.();
  }

  /**
   * Waits until `at` or the next wake(), whichever comes first. An interruption wakes it too (run()
   * calls wake() when the signal aborts). A wake is a plain callback: a drain wakes the loop a few
   * hundred times, and aborting a controller each time cost it an AbortError with its stack.
   */
  private async waitUntil(at: number): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return;
    }
    const timer = at === Infinity ? undefined : new AbortController();
    try {
      await new Promise<void>((resolve) => {
        this.wakeWaiter = resolve;
        if (timer) this.deps.clock.sleep(Math.max(0, at - this.now()), timer.signal).then(resolve, resolve);
      });
    } finally {
      this.wakeWaiter = undefined;
      // Cancels the sleep when a wake came first; a reason of our own spares an AbortError.
      timer?.abort(WOKEN);
      this.woken = false;
    }
  }

  /** Counts a request while it waits; an answer of any kind (an API error too) shows the server is there. */
  private call<T>(p: Promise<T>): Promise<T> {
    this.outstanding++;
    return p.then(
      (v) => {
        this.outstanding--;
        this.lastAnswerAt = this.now();
        return v;
      },
      (e: unknown) => {
        this.outstanding--;
        if (isKubeApiError(e) && e.status > 0) this.lastAnswerAt = this.now();
        else if (this.signal.aborted) this.cutOff++;
        throw e;
      },
    );
  }

  private get signal(): AbortSignal {
    return this.requests.signal;
  }

  private markGone(s: PodState): void {
    if (DONE.has(s.phase) && !(s.phase === 'failed' && s.refusedLater)) return;
    if (s.phase === 'gone') return;
    s.phase = 'gone';
    if (!s.refusedLater) this.emit({ type: 'removed', node: this.name, pod: s.ref, via: s.via });
    this.wake();
  }

  /**
   * A pod on the node that the drain does not know yet (bound after the pre-flight read the node,
   * or missed by the watch): kubectl's filters decide, as for the others. One they would evict
   * joins the drain; one they refuse fails it, named; one they leave (a DaemonSet's) stays.
   */
  private consider(pod: Pod): void {
    const uid = pod.metadata.uid ?? '';
    if (this.byUid.has(uid) || this.ignored.has(uid) || pod.spec?.nodeName !== this.name) return;
    if (!matches(this.podSelector, pod.metadata.labels)) {
      this.ignored.add(uid);
      return;
    }
    const v = decidePod(pod, {
      options: filterOptions(this.opts),
      now: this.deps.clock.now(),
      daemonSet: (ns, name) => this.plan.daemonSets.get(`${ns}/${name}`) ?? { found: true },
    });
    if (v.action === 'skip') {
      this.ignored.add(uid);
      return;
    }
    const s = this.track(pod);
    this.result.pods.push({
      namespace: s.ref.namespace,
      name: s.ref.name,
      uid: s.ref.uid,
      outcome: v.action === 'refuse' ? 'refused' : 'pending',
      ...(v.category ? { category: v.category } : {}),
      ...(v.message ? { message: v.message } : {}),
    });
    if (v.action === 'refuse') {
      s.phase = 'failed';
      s.refusedLater = true;
      s.failure = v.message ?? 'refused';
    } else if (pod.metadata.deletionTimestamp) s.phase = 'terminating';
    this.confirm = 'none';
    this.wake();
  }

  /** Applies what the watch (or a poll) says about pods on the node. */
  private observe(type: 'ADDED' | 'MODIFIED' | 'DELETED', pod: Pod): void {
    const s = this.byUid.get(pod.metadata.uid ?? '');
    if (!s) {
      // Same name, new pod: the one we evicted is gone (kubectl waitForDelete checks the UID).
      const before = this.byName.get(podKey(podRef(pod)));
      if (before && type !== 'DELETED') this.markGone(before);
      if (type !== 'DELETED') this.consider(pod);
      return;
    }
    if (type === 'DELETED') {
      this.markGone(s);
      return;
    }
    const deletionSeen = s.pod.metadata.deletionTimestamp !== undefined;
    s.pod = pod;
    if (
      pod.metadata.deletionTimestamp &&
      (s.phase === 'queued' || s.phase === 'blocked' || s.phase === 'stuck')
    ) {
      // Someone (or our own earlier run) already started its deletion.
      s.phase = 'terminating';
      this.wake();
    } else if (pod.metadata.deletionTimestamp && !deletionSeen) {
      // The eviction's answer can come before the watch shows the deletionTimestamp: only now is
      // the --skip-wait-for-delete-timeout deadline known, so the wait must be recomputed.
      this.wake();
    }
  }

  /** A complete list of the node's pods: what is not in it is gone, what is new is considered. */
  private observeList(items: readonly Pod[]): void {
    const present = new Map(items.map((p) => [p.metadata.uid ?? '', p]));
    for (const s of [...this.states]) {
      const p = present.get(s.ref.uid);
      if (p === undefined) this.markGone(s);
      else this.observe('MODIFIED', p);
    }
    for (const p of items) if (!this.byUid.has(p.metadata.uid ?? '')) this.observe('ADDED', p);
    this.listed = true;
    this.wake();
  }

  private followPods(signal: AbortSignal, fromPlan: boolean): Promise<void> {
    const fieldSelector = `spec.nodeName=${this.name}`;
    const watch: ResourceAttributes = { verb: 'watch', resource: 'pods' };
    if (this.plan.access.watchPods === 'denied') this.polling('pods', forbiddenReason(undefined, watch));
    return follow<Pod>(
      {
        list: () =>
          this.call(this.deps.kube.listPods({ fieldSelector, chunkSize: this.opts.chunkSize, signal })),
        watch: (rv, onEvent, sig) =>
          this.deps.kube.watchPods({ fieldSelector, resourceVersion: rv }, onEvent, sig),
      },
      {
        onList: (items) => this.observeList(items),
        onEvent: (e) => {
          if (e.type !== 'BOOKMARK') this.observe(e.type, e.object);
        },
        onRetry: (e) => this.emit({ type: 'retrying-watch', node: this.name, error: errorMessage(e) }),
      },
      { clock: this.deps.clock, signal },
      {
        watch: this.plan.access.watchPods !== 'denied',
        pollMs: POLL_MS,
        ...(fromPlan
          ? { initial: { items: this.plan.pods, resourceVersion: this.plan.listedAt.resourceVersion } }
          : {}),
        onPolling: (e) => this.polling('pods', forbiddenReason(e, watch)),
      },
    ).catch((e: unknown) => {
      this.followError = { what: 'pods', error: e };
      this.wake();
    });
  }

  private followNode(signal: AbortSignal): Promise<void> {
    const watch: ResourceAttributes = { verb: 'watch', resource: 'nodes' };
    if (this.plan.access.watchNodes === 'denied') this.polling('node', forbiddenReason(undefined, watch));
    const initial: ListResult<Node> = {
      items: [this.lastNode],
      resourceVersion: this.lastNode.metadata.resourceVersion ?? '',
    };
    return follow<Node>(
      {
        list: async () => {
          const n = await this.call(this.deps.kube.getNode(this.name, { signal }));
          return { items: [n], resourceVersion: n.metadata.resourceVersion ?? '' };
        },
        watch: (rv, onEvent, sig) =>
          this.deps.kube.watchNodes(
            { resourceVersion: rv, fieldSelector: `metadata.name=${this.name}` },
            onEvent,
            sig,
          ),
      },
      {
        onList: (items) => {
          if (items[0]) this.observeNode(items[0]);
        },
        onEvent: (e) => {
          if (e.type === 'DELETED')
            this.followError = { what: 'node', error: new Error(`node "${this.name}" was deleted`) };
          else if (e.type !== 'BOOKMARK') this.observeNode(e.object);
          this.wake();
        },
      },
      { clock: this.deps.clock, signal },
      {
        watch: this.plan.access.watchNodes !== 'denied',
        pollMs: POLL_MS,
        ...(initial.resourceVersion ? { initial } : {}),
        onPolling: (e) => this.polling('node', forbiddenReason(e, watch)),
      },
    ).catch((e: unknown) => {
      this.followError = {
        what: 'node',
        error: isNotFound(e) ? new Error(`node "${this.name}" was deleted`) : e,
      };
      this.wake();
    });
  }

  private polling(what: 'pods' | 'node', reason: string): void {
    this.emit({ type: 'polling', node: this.name, what, reason });
  }

  private observeNode(n: Node): void {
    // An event older than bosun's own last write of the node (its answer can overtake the watch).
    const rv = Number(n.metadata.resourceVersion);
    const mine = Number(this.lastNode.metadata.resourceVersion);
    if (Number.isInteger(rv) && Number.isInteger(mine) && rv < mine) return;
    if (n.spec?.unschedulable === true) {
      this.lastNode = n;
      return;
    }
    if (this.uncordoned === undefined) {
      this.uncordoned = { by: whoUncordoned(this.lastNode, n), node: n };
      this.wake();
    }
  }

  private backoff(s: PodState, blocked: Blocked): number {
    if (blocked.retryAfterSeconds !== undefined) return blocked.retryAfterSeconds * 1000;
    return Math.min(this.opts.retryMaxMs, this.opts.retryMinMs * 2 ** Math.max(0, s.attempts - 1));
  }

  private async refreshPdbs(): Promise<void> {
    try {
      this.pdbs = await this.call(this.deps.kube.listPdbs({ signal: this.signal }));
    } catch {
      // keep what we had: the classification is only less precise
    }
  }

  /** The node's pods as last seen: the tracked ones as they are now, the others as planned. */
  private knownPods(): Pod[] {
    return [
      ...this.plan.pods.filter((p) => !this.byUid.has(p.metadata.uid ?? '')),
      ...this.states.map((s) => s.pod),
    ];
  }

  /** The budgets an eviction of s writes; none for a deletion or a server-side dry run (no write). */
  private budgetsOf(s: PodState): string[] {
    if (s.via !== 'evict' || s.complete === 'next' || this.opts.dryRun !== 'none') return [];
    s.budgets ??= budgetsFor(s.pod, this.pdbs).map(
      (b) => `${b.metadata.namespace ?? 'default'}/${b.metadata.name ?? ''}`,
    );
    return s.budgets;
  }

  private budgetBusy(s: PodState): boolean {
    return this.budgetsOf(s).some((b) => this.busyBudgets.has(b));
  }

  private request(s: PodState): void {
    const budgets = this.budgetsOf(s);
    for (const b of budgets) this.busyBudgets.add(b);
    this.inflight++;
    s.phase = 'requesting';
    s.attempts++;
    s.requestedAt = this.now();
    s.cutOff = false;
    if (!s.announced) {
      s.announced = true;
      this.emit({ type: 'evicting', node: this.name, pod: s.ref, via: s.via, dryRun: this.opts.dryRun });
    }
    const removal = {
      ...(this.opts.gracePeriodSeconds >= 0 ? { gracePeriodSeconds: this.opts.gracePeriodSeconds } : {}),
      ...(this.opts.dryRun === 'server' ? { dryRun: true } : {}),
      signal: this.signal,
    };
    const call =
      s.via === 'evict' && s.complete !== 'next'
        ? this.deps.kube.evictPod(s.ref.namespace, s.ref.name, removal)
        : this.deps.kube.deletePod(s.ref.namespace, s.ref.name, { ...removal, uid: s.ref.uid });
    this.call(call)
      .then(() => {
        if (s.phase !== 'requesting') return;
        if (this.opts.dryRun === 'server') {
          s.phase = 'gone';
          return;
        }
        s.phase = 'terminating';
      })
      .catch(async (e: unknown) => this.refused(s, e))
      .finally(() => {
        for (const b of budgets) this.busyBudgets.delete(b);
        this.inflight--;
        this.wake();
      });
  }

  private async refused(s: PodState, e: unknown): Promise<void> {
    if (s.phase !== 'requesting') return;
    if (this.deps.signal?.aborted || this.signal.aborted) {
      // Cut off by the interruption or the deadline: whether the server acted is unknown; a rerun finds out.
      s.phase = 'queued';
      s.cutOff = true;
      return;
    }
    if (isNotFound(e)) {
      if (this.opts.dryRun === 'server') s.phase = 'gone';
      else this.markGone(s);
      return;
    }
    if (isKubeApiError(e) && e.status === 409 && (s.via === 'delete' || s.complete === 'next')) {
      // The UID precondition failed: the pod we meant is gone and a new one has its name.
      this.markGone(s);
      return;
    }
    if (s.complete === 'next') {
      // The DELETE that was to complete an approved eviction failed: back to evicting (and
      // waiting for the entry to expire when the user may not delete pods).
      s.complete = isForbidden(e) ? 'refused' : undefined;
      s.phase = 'blocked';
      s.nextAttemptAt = this.now() + (s.blocked ? this.backoff(s, s.blocked) : this.opts.retryMinMs);
      return;
    }
    if (!isKubeApiError(e)) {
      s.phase = 'failed';
      s.failure = errorMessage(e);
      return;
    }
    if (s.pod.metadata.deletionTimestamp && hasStatusCause(e, NAMESPACE_TERMINATING_CAUSE)) {
      // kubectl: evicting an already-deleted pod in a terminating namespace is pointless; wait for it.
      s.phase = 'terminating';
      return;
    }
    if (e.status === 429 || e.status === 500) await this.refreshPdbs();
    if (s.phase !== 'requesting') return;
    const now = this.now();
    const blocked = classifyEviction(e as KubeApiError, s.pod, this.pdbs, this.knownPods(), new Date(now));
    s.blockedSince ??= now;
    s.blocked = blocked;
    if (this.opts.dryRun === 'server') {
      s.phase = 'failed';
      s.failure = blocked.message;
      return;
    }
    const approved = blocked.budget?.held.find((h) => h.pod === podKey(s.ref));
    if (
      approved &&
      blocked.budget &&
      s.complete === undefined &&
      this.opts.dryRun === 'none' &&
      !s.pod.metadata.deletionTimestamp
    ) {
      s.complete = 'next';
      s.phase = 'queued';
      s.nextAttemptAt = now;
      this.emit({
        type: 'completing',
        node: this.name,
        pod: s.ref,
        budget: `${blocked.budget.namespace}/${blocked.budget.name}`,
        since: approved.since,
      });
      return;
    }
    s.phase = blocked.retry ? 'blocked' : 'stuck';
    const retryIn = blocked.retry ? this.backoff(s, blocked) : undefined;
    s.nextAttemptAt = now + (retryIn ?? 0);
    if (s.lastBlockedMessage !== blocked.message) {
      s.lastBlockedMessage = blocked.message;
      this.emit({
        type: 'blocked',
        node: this.name,
        pod: s.ref,
        blocked,
        retryInMs: retryIn,
        since: new Date(s.blockedSince),
      });
    }
  }

  private counts(): DrainCounts {
    const c: DrainCounts = { total: this.states.length, removed: 0, terminating: 0, blocked: 0, waiting: 0 };
    for (const s of this.states) {
      if (s.phase === 'gone' || s.phase === 'skipped-wait') c.removed++;
      else if (s.phase === 'terminating') c.terminating++;
      else if (s.phase === 'blocked' || s.phase === 'stuck' || s.phase === 'failed') c.blocked++;
      else if (s.phase === 'requesting' && s.blockedSince !== undefined) c.blocked++;
      else c.waiting++;
    }
    return c;
  }

  private progress(): void {
    const counts = this.counts();
    const blocked = this.states
      .filter(
        (s) =>
          (s.phase === 'blocked' ||
            s.phase === 'stuck' ||
            (s.phase === 'requesting' && s.blockedSince !== undefined)) &&
          s.blocked,
      )
      .map((s) => ({ pod: s.ref, message: s.blocked?.message ?? '', since: new Date(s.blockedSince ?? 0) }));
    const key = JSON.stringify([counts, blocked.map((b) => [b.pod.uid, b.message])]);
    if (key === this.lastProgress) return;
    this.lastProgress = key;
    this.emit({ type: 'progress', node: this.name, counts, blocked });
  }

  /** Applies the escalation policy; returns the earliest time it must look again, or a give-up. */
  private escalate(now: number): { next: number; giveUp?: { s: PodState; rule: EscalationRule } } {
    let next = Infinity;
    for (const s of this.states) {
      if ((s.phase !== 'blocked' && s.phase !== 'stuck') || s.blockedSince === undefined) continue;
      const d = decideEscalation(this.opts.escalation, s.pod, now - s.blockedSince);
      if (d.action === 'give-up' && d.rule) return { next, giveUp: { s, rule: d.rule } };
      if (d.action === 'delete' && d.rule && !s.escalatedDelete) {
        s.escalatedDelete = true;
        s.via = 'delete';
        s.nextAttemptAt = now;
        s.phase = 'queued';
        this.emit({ type: 'escalated', node: this.name, pod: s.ref, action: 'delete', rule: d.rule });
        continue;
      }
      if (s.phase === 'stuck' && d.nextInMs === undefined && !s.escalatedDelete) {
        s.phase = 'failed';
        s.failure = s.blocked?.message ?? 'eviction refused';
        continue;
      }
      if (d.nextInMs !== undefined) next = Math.min(next, now + d.nextInMs);
    }
    return { next };
  }

  /** The pods still to go. */
  private left(): PodState[] {
    return this.states.filter((s) => !DONE.has(s.phase));
  }

  /**
   * Rewrites the drain state as pods go, at most every STATE_EVERY_MS and one write at a time;
   * returns when it wants to look again. A failure is kept (the first write's fails the drain).
   */
  private keepState(now: number, startedAt: string): number {
    if (this.opts.dryRun !== 'none' || this.states.length === 0 || this.state.writing) return Infinity;
    const pending = this.left().length;
    if (pending === this.state.pending) return Infinity;
    if (now < this.state.at + STATE_EVERY_MS) return this.state.at + STATE_EVERY_MS;
    this.state.writing = true;
    const first = this.state.at === -Infinity;
    this.writeState({ phase: 'draining', startedAt, pending, updatedAt: rfc3339(new Date(now)) }, this.signal)
      .then(
        () => {
          this.state.pending = pending;
        },
        (e: unknown) => {
          if (first && !this.signal.aborted) this.state.failed = e;
        },
      )
      .finally(() => {
        this.state.writing = false;
        this.state.at = this.now();
        this.wake();
      });
    return Infinity;
  }

  /** Reads the node's pods once more after the last deletion: kubectl lists after the cordon too. */
  private confirmDrained(): void {
    this.confirm = 'reading';
    this.call(
      this.deps.kube.listPods({
        fieldSelector: `spec.nodeName=${this.name}`,
        chunkSize: this.opts.chunkSize,
        signal: this.signal,
      }),
    )
      .then((l) => {
        for (const p of l.items) if (!this.byUid.has(p.metadata.uid ?? '')) this.observe('ADDED', p);
        if (this.confirm === 'reading') this.confirm = this.left().length === 0 ? 'done' : 'none';
      })
      .catch((e: unknown) => {
        if (this.confirm !== 'reading') return;
        this.confirm = 'none';
        if (this.signal.aborted) return;
        if (isRetryable(e)) this.confirmRetryAt = this.now() + CONFIRM_RETRY_MS;
        else this.followError = { what: 'pods', error: e };
      })
      .finally(() => this.wake());
  }

  /** Waits until no request of ours is in flight (they end by the deadline at the latest). */
  private async settle(): Promise<void> {
    while (this.inflight > 0 || this.state.writing || this.confirm === 'reading')
      await this.waitUntil(Infinity);
  }

  /** A signal for the closing writes: a little past the deadline (or an interruption), no more. */
  private closingSignal(): { signal: AbortSignal; done: () => void } {
    const at = this.signal.aborted ? this.now() + CLOSING_MS : this.deadline + CLOSING_MS;
    return deadlineSignal(this.deps.clock, at, undefined);
  }

  async run(): Promise<void> {
    const r = this.result;
    const { opts, deps } = this;
    if (opts.dryRun === 'client') {
      for (const s of this.states)
        this.emit({ type: 'evicting', node: this.name, pod: s.ref, via: s.via, dryRun: 'client' });
      r.pods = r.pods.map((p) =>
        p.outcome === 'pending'
          ? { ...p, outcome: opts.disableEviction ? 'would-delete' : 'would-evict' }
          : p,
      );
      this.emit({ type: 'drained', node: this.name, dryRun: 'client' });
      return;
    }
    const started = this.now();
    this.lastAnswerAt = started;
    const startedAt = rfc3339(new Date(started));
    const { deadline } = this;
    const followCtl = new AbortController();
    const onAbort = (): void => {
      this.requests.abort(deps.signal?.reason);
      followCtl.abort();
      this.wake();
    };
    if (deps.signal?.aborted) onAbort();
    else deps.signal?.addEventListener('abort', onAbort, { once: true });
    const timer = new AbortController();
    if (deadline !== Infinity)
      deps.clock.sleep(Math.max(0, deadline - started), timer.signal).then(
        () => {
          this.deadlineHit = true;
          this.requests.abort(new Error('the deadline passed'));
          this.wake();
        },
        () => undefined,
      );
    const following: Promise<void>[] = [];
    // The budgets (to explain a 429) come from the pre-flight's read. The watch starts from the
    // pre-flight's pod list when that is fresh, so the first evictions wait for no request at all.
    this.pdbs = this.plan.pdbs;
    if (opts.dryRun === 'none') {
      following.push(this.followPods(followCtl.signal, started - this.plan.listedAt.time < FRESH_LIST_MS));
      following.push(this.followNode(followCtl.signal));
    } else {
      this.listed = true;
    }
    let giveUp: { s: PodState; rule: EscalationRule } | undefined;
    try {
      for (;;) {
        const now = this.now();
        if (deps.signal?.aborted) {
          r.outcome = 'interrupted';
          break;
        }
        if (this.state.failed !== undefined) throw this.state.failed;
        if (this.followError !== undefined) {
          const { what, error } = this.followError;
          r.outcome = 'failed';
          r.message =
            what === 'pods'
              ? `watching the pods of node "${this.name}" failed: ${errorMessage(error)}`
              : `following node "${this.name}" failed: ${errorMessage(error)}`;
          break;
        }
        if (this.uncordoned) {
          const u = this.uncordoned;
          if (!opts.recordon) {
            r.outcome = 'uncordoned';
            this.emit({ type: 'uncordoned', node: this.name, by: u.by, action: 'stopped' });
            break;
          }
          this.emit({ type: 'uncordoned', node: this.name, by: u.by, action: 'recordoned' });
          try {
            const c = await cordonNode(
              this.name,
              { owner: opts.owner, dryRun: 'none', node: u.node, signal: this.signal },
              deps,
            );
            this.lastNode = c.nodeObject;
            r.cordoned = true;
            r.cordonOwnedByBosun = c.ownedByBosun;
          } catch (e) {
            if (this.signal.aborted) continue;
            r.outcome = 'failed';
            r.message = `node "${this.name}" was uncordoned ${u.by} and cordoning it again failed: ${errorMessage(e)}`;
            break;
          }
          this.uncordoned = undefined;
          continue;
        }
        const allDone = this.listed && this.inflight === 0 && this.states.every((s) => DONE.has(s.phase));
        if (allDone && (opts.dryRun !== 'none' || this.confirm === 'done')) break;
        if (now >= deadline || this.deadlineHit) {
          r.outcome = 'timeout';
          break;
        }
        let next = deadline;
        if (allDone && this.confirm === 'none') {
          if (now >= this.confirmRetryAt) this.confirmDrained();
          else next = Math.min(next, this.confirmRetryAt);
        }
        if (opts.skipWaitForDeleteTimeoutSeconds > 0) {
          let skipped = false;
          for (const s of this.states) {
            if (
              s.phase === 'terminating' &&
              isDeletedTooLong(s.pod, opts.skipWaitForDeleteTimeoutSeconds, new Date(now))
            ) {
              s.phase = 'skipped-wait';
              skipped = true;
              this.emit({
                type: 'skipped-wait',
                node: this.name,
                pod: s.ref,
                seconds: opts.skipWaitForDeleteTimeoutSeconds,
              });
            }
          }
          if (skipped) continue;
        }
        const esc = this.escalate(now);
        if (esc.giveUp) {
          giveUp = esc.giveUp;
          r.outcome = 'gave-up';
          break;
        }
        next = Math.min(next, esc.next);
        if (this.listed) {
          for (const s of this.states) {
            if ((s.phase === 'queued' || s.phase === 'blocked') && s.nextAttemptAt <= now) {
              if (this.inflight >= opts.concurrency) break;
              if (this.budgetBusy(s)) continue;
              this.request(s);
            }
          }
        }
        for (const s of this.states) {
          if ((s.phase === 'queued' || s.phase === 'blocked') && s.nextAttemptAt > now)
            next = Math.min(next, s.nextAttemptAt);
          if (
            s.phase === 'terminating' &&
            opts.skipWaitForDeleteTimeoutSeconds > 0 &&
            s.pod.metadata.deletionTimestamp
          ) {
            next = Math.min(
              next,
              Date.parse(s.pod.metadata.deletionTimestamp) +
                (opts.skipWaitForDeleteTimeoutSeconds + 1) * 1000,
            );
          }
        }
        next = Math.min(next, this.keepState(now, startedAt));
        this.progress();
        await this.waitUntil(next);
      }
      // What the server was asked stays asked: a drain that stops lets its requests in flight end
      // (by the deadline at the latest) before it returns, so none is cut between a budget's
      // decrement and the pod's deletion.
      await this.settle();
    } finally {
      deps.signal?.removeEventListener('abort', onAbort);
      timer.abort(WOKEN);
      followCtl.abort();
      await Promise.all(following);
    }
    if (this.state.failed !== undefined && !deps.signal?.aborted) throw this.state.failed;
    this.progress();
    await this.finish(giveUp, startedAt);
  }

  private async writeState(state: DrainState, signal: AbortSignal): Promise<void> {
    const n = await this.call(
      this.deps.kube.patchNode(
        this.name,
        { metadata: { annotations: { [DRAIN_STATE]: JSON.stringify(state) } } },
        { signal },
      ),
    );
    this.lastNode = n;
  }

  /** The closing write of the drain state (or, for a node uncordoned meanwhile, of its removal). */
  private async closingWrite(write: (signal: AbortSignal) => Promise<void>): Promise<void> {
    if (this.opts.dryRun !== 'none') return;
    const c = this.closingSignal();
    try {
      await write(c.signal);
    } catch {
      // The node keeps the last state written; the result says what happened.
    } finally {
      c.done();
    }
  }

  private describeLeft(s: PodState, now: number): string {
    if (
      (s.phase === 'requesting' || s.cutOff) &&
      s.requestedAt !== undefined &&
      now - this.lastAnswerAt >= this.silentAfter()
    )
      return `${s.via === 'delete' ? 'deletion' : 'eviction'} unanswered for ${Math.round((now - s.requestedAt) / 1000)}s`;
    if (s.phase === 'terminating') return 'terminating';
    return s.blocked ? s.blocked.message : s.phase;
  }

  private silentAfter(): number {
    return Math.min(SILENT_MS, this.opts.timeoutMs > 0 ? this.opts.timeoutMs / 2 : SILENT_MS);
  }

  private async finish(
    giveUp: { s: PodState; rule: EscalationRule } | undefined,
    startedAt: string,
  ): Promise<void> {
    const r = this.result;
    const { opts } = this;
    const now = this.now();
    const byUid = new Map(this.states.map((s) => [s.ref.uid, s]));
    r.pods = r.pods.map((p) => {
      const s = byUid.get(p.uid);
      if (!s) return p;
      const base = { namespace: p.namespace, name: p.name, uid: p.uid };
      if (s.refusedLater)
        return s.phase === 'gone'
          ? { ...base, outcome: 'skipped', message: 'appeared on the node during the drain and went away' }
          : {
              ...base,
              outcome: 'refused',
              ...(p.category ? { category: p.category } : {}),
              message: s.failure ?? '',
            };
      switch (s.phase) {
        case 'gone':
          return opts.dryRun === 'server'
            ? { ...base, outcome: s.via === 'delete' ? 'would-delete' : 'would-evict' }
            : { ...base, outcome: s.via === 'delete' ? 'deleted' : 'evicted' };
        case 'skipped-wait':
          return {
            ...base,
            outcome: 'terminating',
            message: `DeletionTimestamp older than ${opts.skipWaitForDeleteTimeoutSeconds} seconds, not waited for`,
          };
        case 'terminating':
          return { ...base, outcome: 'terminating' };
        case 'failed':
          return {
            ...base,
            outcome: 'failed',
            ...(s.blocked ? { category: s.blocked.kind } : {}),
            message: s.failure ?? '',
          };
        case 'blocked':
        case 'stuck':
          return {
            ...base,
            outcome: 'blocked',
            ...(s.blocked ? { category: s.blocked.kind, message: s.blocked.message } : {}),
          };
        default:
          return s.blocked
            ? { ...base, outcome: 'blocked', category: s.blocked.kind, message: s.blocked.message }
            : { ...base, outcome: 'pending' };
      }
    });
    const left = this.left();
    const leftText = left
      .slice(0, 5)
      .map((s) => `${podKey(s.ref)} (${this.describeLeft(s, now)})`)
      .join(', ');
    const more = left.length > 5 ? ` and ${left.length - 5} more` : '';
    const failed = this.states.filter((s) => s.phase === 'failed');
    if (r.outcome === 'drained' && failed.length > 0) {
      r.outcome = 'failed';
      r.message = `unable to drain node "${this.name}": ${failed.map((s) => `${podKey(s.ref)}: ${s.failure ?? ''}`).join('; ')}`;
      r.hint = opts.dryRun === 'server' ? 'The server refused these evictions.' : resumeHint(this.name);
    }
    const keepDraining = (): Promise<void> =>
      this.closingWrite((signal) =>
        this.writeState(
          { phase: 'draining', startedAt, pending: left.length, updatedAt: rfc3339(new Date(this.now())) },
          signal,
        ),
      );
    switch (r.outcome) {
      case 'drained':
        if (opts.dryRun === 'none')
          await this.writeState(
            { phase: 'drained', startedAt: r.startedAt, finishedAt: rfc3339(this.deps.clock.now()) },
            this.signal,
          );
        this.emit({ type: 'drained', node: this.name, dryRun: opts.dryRun });
        return;
      case 'timeout': {
        const silent = now - this.lastAnswerAt;
        const unanswered = this.cutOff;
        if (unanswered > 0 && silent >= this.silentAfter()) {
          r.message = `drain of node "${this.name}" timed out after ${Math.round(opts.timeoutMs / 1000)}s: the API server has not answered for ${Math.round(silent / 1000)}s (${unanswered} request${unanswered === 1 ? '' : 's'} unanswered); ${left.length} pod(s) left: ${leftText}${more}`;
          r.hint = `Check the API server (kubectl get --raw /readyz). ${resumeHint(this.name)}`;
        } else {
          r.message = `drain of node "${this.name}" timed out after ${Math.round(opts.timeoutMs / 1000)}s with ${left.length} pod(s) left: ${leftText}${more}`;
          r.hint = resumeHint(this.name);
        }
        await keepDraining();
        return;
      }
      case 'interrupted':
        r.message = `drain of node "${this.name}" interrupted with ${left.length} pod(s) left`;
        r.hint = resumeHint(this.name);
        await keepDraining();
        return;
      case 'uncordoned': {
        const u = this.uncordoned;
        r.message = `node "${this.name}" was uncordoned ${u?.by ?? 'outside this drain'} while it was being drained; stopped with ${left.length} pod(s) left`;
        r.hint = `Pods may be scheduled onto it again. Find out why it was uncordoned; run the drain again to continue, or with --recordon to cordon it again whenever that happens.`;
        r.cordoned = false;
        // bosun's cordon is gone: its annotations must not say otherwise.
        const theirs = u?.node.metadata.annotations ?? {};
        const gone = Object.fromEntries(CORDON_ANNOTATIONS.filter((k) => k in theirs).map((k) => [k, null]));
        r.cordonOwnedByBosun = false;
        if (Object.keys(gone).length > 0)
          await this.closingWrite(async (signal) => {
            await this.deps.kube.patchNode(this.name, { metadata: { annotations: gone } }, { signal });
          });
        return;
      }
      case 'gave-up': {
        const g = giveUp;
        const blockedFor =
          g?.s.blockedSince !== undefined ? Math.round((this.now() - g.s.blockedSince) / 1000) : 0;
        r.message = `gave up draining node "${this.name}": ${g ? `${podKey(g.s.ref)} blocked for ${blockedFor}s (rule "${g.rule.text}"): ${g.s.blocked?.message ?? ''}` : ''}`;
        if (g)
          this.emit({ type: 'escalated', node: this.name, pod: g.s.ref, action: 'give-up', rule: g.rule });
        if (r.cordonOwnedByBosun && opts.dryRun === 'none') {
          const u = await uncordonNode(
            this.name,
            { force: false, dryRun: 'none', signal: this.signal },
            this.deps,
          );
          r.cordoned = u.action !== 'uncordoned' && u.action !== 'already-uncordoned' ? r.cordoned : false;
          r.hint = r.cordoned
            ? 'The node stays cordoned.'
            : 'bosun uncordoned the node, as it had cordoned it.';
        } else {
          r.hint = 'The node was cordoned outside bosun, so it stays cordoned.';
          await keepDraining();
        }
        return;
      }
      default:
        r.hint ??= resumeHint(this.name);
        await keepDraining();
    }
  }
}
