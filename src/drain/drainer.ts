// Drains nodes: the orchestration around the pure decisions. For the nodes asked for it
//   1. reads the cluster once (nodes, pods, PDBs, the DaemonSets kubectl would look up),
//   2. runs kubectl's filters and bosun's pre-flight for every node; a node with a refusal or a
//      blocker is not touched at all (kubectl would have cordoned it first),
//   3. cordons the rest together, as kubectl does, with bosun's ownership annotations,
//   4. drains them one after another: evictions (or deletions) in parallel with a bounded number
//      of requests in flight, 429s retried with backoff until --timeout, each refusal classified,
//      the escalation policy applied to pods that stay blocked, and every pod followed by a watch
//      on the node until it is gone (deleted, or replaced by a new UID).
// It never uncordons a node it did not cordon, never deletes a pod unless --disable-eviction or an
// escalation rule says so, and on interruption or timeout leaves the node cordoned with its state in
// the node's annotations, so running the same drain again continues.
//
// It is a library: the CLI, `bosun maintain`, the upgrade orchestrator and the reboot agent call
// drainNodes/drainNode with their own owner, options and observer.
import type { Clock } from '../common/ports.ts';
import { UsageError, errorMessage } from '../common/errors.ts';
import { hasStatusCause, isKubeApiError, isNotFound, type KubeApiError } from '../kube/errors.ts';
import type { NodePods } from '../kube/ports.ts';
import type { ListResult, Node, Pod, PodDisruptionBudget } from '../kube/types.ts';
import { listWatch } from '../kube/watch.ts';
import { DRAIN_STATE, cordonInfo, rfc3339, type CordonOwner, type DrainState } from './annotations.ts';
import { NAMESPACE_TERMINATING_CAUSE, classifyEviction, type Blocked } from './classify.ts';
import { cordonNode, uncordonNode, type DryRun } from './cordon.ts';
import {
  DEFAULT_POLICY,
  decideEscalation,
  type EscalationPolicy,
  type EscalationRule,
} from './escalation.ts';
import {
  controllerOf,
  decidePods,
  isDeletedTooLong,
  isFinished,
  podKey,
  podRef,
  refusals,
  warnings,
  type DaemonSetLookup,
  type MessageGroup,
  type PodRef,
  type PodVerdict,
} from './filters.ts';
import { matches, parseSelector, type Selector } from '../kube/labels.ts';
import { preflight, type PreflightCheck, type PreflightResult } from './preflight.ts';

/** Everything a drain can be told. Defaults are kubectl's. */
export interface DrainOptions {
  /** --force: remove pods that declare no controller (and orphaned DaemonSet pods). */
  force: boolean;
  /** --ignore-daemonsets. */
  ignoreDaemonSets: boolean;
  /** --delete-emptydir-data. */
  deleteEmptyDirData: boolean;
  /** --grace-period in seconds; negative (-1) uses each pod's own. IMPORTANT: 0 means "delete immediately". */
  gracePeriodSeconds: number;
  /** --timeout in milliseconds; 0 means wait forever (kubectl). */
  timeoutMs: number;
  /** --pod-selector: only pods matching it are considered at all. */
  podSelector: string;
  /** --disable-eviction: DELETE instead of evict (PodDisruptionBudgets are not checked). */
  disableEviction: boolean;
  /** --skip-wait-for-delete-timeout in seconds: stop waiting for pods terminating longer than this; 0 disables. */
  skipWaitForDeleteTimeoutSeconds: number;
  dryRun: DryRun;
  /** Pre-flight checks that do not stop the drain (--ignore-preflight-errors). */
  ignorePreflight: ReadonlySet<PreflightCheck> | 'all';
  /** What to do about pods that stay blocked. Default: keep waiting, never delete. */
  escalation: EscalationPolicy;
  /** Eviction/deletion requests in flight at once. */
  concurrency: number;
  /** --chunk-size: pods listed per response; 0 lists them in one. */
  chunkSize: number;
  /** Who is draining and why, written on the cordon. */
  owner: CordonOwner;
  /** Backoff between attempts of a refused eviction, in ms: doubling from min to max (kubectl: a flat 5s). */
  retryMinMs: number;
  retryMaxMs: number;
}

/** kubectl's defaults, plus bosun's. */
export const DEFAULT_DRAIN_OPTIONS: DrainOptions = {
  force: false,
  ignoreDaemonSets: false,
  deleteEmptyDirData: false,
  gracePeriodSeconds: -1,
  timeoutMs: 0,
  podSelector: '',
  disableEviction: false,
  skipWaitForDeleteTimeoutSeconds: 0,
  dryRun: 'none',
  ignorePreflight: new Set(),
  escalation: DEFAULT_POLICY,
  // The requests share one HTTP/2 connection (kube/http2.ts; kube-apiserver allows 100 streams on
  // one). A 110-pod drain on the sandbox took 1.88-1.93 s at 32, 1.80-1.90 s at 64, 1.87-2.02 s at
  // 100. Over HTTP/1.1 each request needs a connection of its own, and more cost more there.
  concurrency: 64,
  chunkSize: 500,
  owner: { who: 'bosun', why: 'drain' },
  retryMinMs: 1000,
  retryMaxMs: 5000,
};

/** Counts shown live. */
export interface DrainCounts {
  total: number;
  /** Gone (evicted or deleted and removed). */
  removed: number;
  /** Accepted by the API, still terminating. */
  terminating: number;
  blocked: number;
  /** Not yet asked, or waiting for a retry slot. */
  waiting: number;
}

/** Progress, for a reporter (drain/progress.ts) or a library caller. */
export type DrainEvent =
  | {
      type: 'planned';
      node: string;
      verdicts: PodVerdict[];
      preflight: PreflightResult;
      refusals: MessageGroup[];
      warnings: MessageGroup[];
    }
  | {
      type: 'cordon';
      node: string;
      action: 'cordoned' | 'already-cordoned';
      ownedByBosun: boolean;
      by?: string;
      reason?: string;
      at?: string;
      resumed: boolean;
      dryRun: DryRun;
    }
  | { type: 'warnings'; node: string; groups: MessageGroup[] }
  | { type: 'evicting'; node: string; pod: PodRef; via: 'evict' | 'delete'; dryRun: DryRun }
  | {
      type: 'blocked';
      node: string;
      pod: PodRef;
      blocked: Blocked;
      retryInMs: number | undefined;
      since: Date;
    }
  | { type: 'escalated'; node: string; pod: PodRef; action: 'delete' | 'give-up'; rule: EscalationRule }
  | { type: 'removed'; node: string; pod: PodRef; via: 'evict' | 'delete' }
  | { type: 'skipped-wait'; node: string; pod: PodRef; seconds: number }
  | {
      type: 'progress';
      node: string;
      counts: DrainCounts;
      blocked: { pod: PodRef; message: string; since: Date }[];
    }
  | { type: 'retrying-watch'; node: string; error: string }
  | { type: 'drained'; node: string; dryRun: DryRun };

/** Receives progress. */
export type DrainObserver = (e: DrainEvent) => void;

/** What the drainer needs. */
export interface DrainDeps {
  kube: NodePods;
  clock: Clock;
  observer?: DrainObserver;
  /** Aborting stops at a safe point: the node stays cordoned, the result says interrupted. */
  signal?: AbortSignal;
  /** The plan's reads, when the caller started them already (startPlanReads). */
  reads?: Promise<PlanReads>;
}

/** The cluster state a drain plan is made from. */
export type PlanReads =
  | { ok: true; nodes: Node[]; pods: ListResult<Pod>; pdbs: PodDisruptionBudget[] }
  | { ok: false; error: unknown };

/**
 * Starts the plan's reads (all nodes, all pods, the budgets) at once. A caller that still has to
 * read the nodes it was named starts these first, so both travel together: one round trip before
 * the cordon instead of two. The promise never rejects, so it may be dropped unawaited when the
 * named nodes turn out not to exist.
 */
export function startPlanReads(
  kube: NodePods,
  opts: Pick<DrainOptions, 'disableEviction' | 'chunkSize'>,
): Promise<PlanReads> {
  return Promise.all([
    kube.listNodes(),
    kube.listPods({ chunkSize: opts.chunkSize }),
    opts.disableEviction ? Promise.resolve<PodDisruptionBudget[]>([]) : kube.listPdbs(),
  ]).then(
    ([nodes, pods, pdbs]): PlanReads => ({ ok: true, nodes, pods, pdbs }),
    (error: unknown): PlanReads => ({ ok: false, error }),
  );
}

/** What happened to one pod. */
export interface PodOutcome {
  namespace: string;
  name: string;
  uid: string;
  outcome:
    | 'evicted'
    | 'deleted'
    | 'skipped'
    | 'refused'
    | 'blocked'
    | 'failed'
    | 'terminating'
    | 'pending'
    | 'would-evict'
    | 'would-delete';
  /** Filter category, blocker check or block kind. */
  category?: string;
  message?: string;
}

/** How a node's drain ended. */
export type DrainOutcome =
  'drained' | 'refused' | 'preflight-blocked' | 'failed' | 'timeout' | 'gave-up' | 'interrupted';

/** The result for one node. */
export interface NodeDrainResult {
  node: string;
  outcome: DrainOutcome;
  /** One line: why it did not drain. */
  message?: string;
  /** What the user can do next. */
  hint?: string;
  /** Whether the node is cordoned when the drain returns, and whether that cordon is bosun's. */
  cordoned: boolean;
  cordonOwnedByBosun: boolean;
  /** True when this run found the node already drained-in-progress by bosun and continued it. */
  resumed: boolean;
  dryRun: DryRun;
  pods: PodOutcome[];
  refusals: MessageGroup[];
  warnings: MessageGroup[];
  preflight: PreflightResult | undefined;
  startedAt: string;
  durationMs: number;
}

/** The plan for one node: what the filters and the pre-flight say, before anything is touched. */
export interface NodePlan {
  node: Node;
  verdicts: PodVerdict[];
  pods: Pod[];
  /** The resourceVersion of the list `pods` came from, and when it was read (ms since the epoch). */
  listedAt: { resourceVersion: string; time: number };
  /** The budgets as the pre-flight read them. */
  pdbs: PodDisruptionBudget[];
  preflight: PreflightResult;
  refusals: MessageGroup[];
  warnings: MessageGroup[];
}

/**
 * A --pod-selector that does not parse: the caller's mistake (a flag, an agent's or an upgrade
 * plan's configuration), so a usage error in kubectl's words, never "a bug in bosun".
 */
export class SelectorError extends UsageError {
  constructor(error: string) {
    super(`--pod-selector=<pod_selector> must be a valid label selector: ${error}`, {
      hint: 'Selectors look like app=web,tier!=db or app in (web,api).',
    });
  }
}

function compileSelector(text: string): Selector {
  const r = parseSelector(text);
  if (!r.ok) throw new SelectorError(r.error);
  return r.selector;
}

/**
 * Reads the cluster once and plans the drain of every named node (filters + pre-flight). Nodes
 * are planned together, so replacements are never predicted onto a node that is drained too.
 */
export async function planDrain(
  nodes: readonly Node[],
  opts: DrainOptions,
  deps: Pick<DrainDeps, 'kube' | 'clock' | 'reads'>,
): Promise<NodePlan[]> {
  const podSelector = compileSelector(opts.podSelector);
  const reads = await (deps.reads ?? startPlanReads(deps.kube, opts));
  if (!reads.ok) throw reads.error;
  const { nodes: allNodes, pods: podList, pdbs } = reads;
  const names = nodes.map((n) => n.metadata.name ?? '');
  // The DaemonSets kubectl's daemonSetFilter looks up, once each.
  const lookups = new Map<string, DaemonSetLookup>();
  const onNodes = podList.items.filter(
    (p) => names.includes(p.spec?.nodeName ?? '') && matches(podSelector, p.metadata.labels),
  );
  await Promise.all(
    [
      ...new Set(
        onNodes
          .filter((p) => controllerOf(p)?.kind === 'DaemonSet' && !isFinished(p))
          .map((p) => `${p.metadata.namespace ?? 'default'}/${controllerOf(p)?.name ?? ''}`),
      ),
    ].map(async (k) => {
      const [ns, name] = k.split('/') as [string, string];
      try {
        await deps.kube.getDaemonSet(ns, name);
        lookups.set(k, { found: true });
      } catch (e) {
        lookups.set(k, { found: false, notFound: isNotFound(e), error: errorMessage(e) });
      }
    }),
  );
  const now = deps.clock.now();
  const ctx = {
    options: {
      force: opts.force,
      ignoreDaemonSets: opts.ignoreDaemonSets,
      deleteEmptyDirData: opts.deleteEmptyDirData,
      skipWaitForDeleteTimeoutSeconds: opts.skipWaitForDeleteTimeoutSeconds,
    },
    now,
    daemonSet: (ns: string, name: string): DaemonSetLookup => lookups.get(`${ns}/${name}`) ?? { found: true },
  };
  return nodes.map((node) => {
    const name = node.metadata.name ?? '';
    const pods = onNodes.filter((p) => p.spec?.nodeName === name);
    const verdicts = decidePods(pods, ctx);
    const pf = preflight({
      node: name,
      nodes: allNodes,
      draining: names,
      pods: podList.items,
      verdicts,
      pdbs,
      options: {
        disableEviction: opts.disableEviction,
        gracePeriodSeconds: opts.gracePeriodSeconds,
        ignore: opts.ignorePreflight,
      },
    });
    return {
      node,
      verdicts,
      pods,
      listedAt: { resourceVersion: podList.resourceVersion, time: now.getTime() },
      pdbs,
      preflight: pf,
      refusals: refusals(verdicts),
      warnings: warnings(verdicts),
    };
  });
}

function podOutcomesFromPlan(plan: NodePlan): PodOutcome[] {
  return plan.verdicts.map((v) => ({
    namespace: v.pod.namespace,
    name: v.pod.name,
    uid: v.pod.uid,
    outcome: v.action === 'refuse' ? 'refused' : v.action === 'skip' ? 'skipped' : 'pending',
    ...(v.category ? { category: v.category } : {}),
    ...(v.message ? { message: v.message } : {}),
  }));
}

function resumeHint(node: string): string {
  return `The node stays cordoned. Run the same command again to continue, or give up with: bosun uncordon ${node}`;
}

/**
 * Drains the named nodes (already read). Returns one result per node, in order; never throws for
 * a node that could not be drained (see outcome), only for failures to read the cluster at all.
 */
export async function drainNodes(
  nodes: readonly Node[],
  opts: DrainOptions,
  deps: DrainDeps,
): Promise<NodeDrainResult[]> {
  const emit = deps.observer ?? ((): void => undefined);
  const startedAt = deps.clock.now();
  const plans = await planDrain(nodes, opts, deps);
  const results: NodeDrainResult[] = [];
  const ready: { plan: NodePlan; result: NodeDrainResult }[] = [];

  for (const plan of plans) {
    const name = plan.node.metadata.name ?? '';
    emit({
      type: 'planned',
      node: name,
      verdicts: plan.verdicts,
      preflight: plan.preflight,
      refusals: plan.refusals,
      warnings: plan.warnings,
    });
    const info = cordonInfo(plan.node);
    const base: NodeDrainResult = {
      node: name,
      outcome: 'drained',
      cordoned: info.cordoned,
      cordonOwnedByBosun: info.ownedByBosun,
      resumed: false,
      dryRun: opts.dryRun,
      pods: podOutcomesFromPlan(plan),
      refusals: plan.refusals,
      warnings: plan.warnings,
      preflight: plan.preflight,
      startedAt: rfc3339(startedAt),
      durationMs: 0,
    };
    if (plan.refusals.length > 0) {
      const flags = [
        ...new Set(
          plan.refusals.map((g) =>
            g.category === 'daemonset-managed'
              ? '--ignore-daemonsets'
              : g.category === 'local-storage'
                ? '--delete-emptydir-data'
                : '--force',
          ),
        ),
      ];
      results.push({
        ...base,
        outcome: 'refused',
        message: `cannot drain node "${name}": ${plan.refusals.reduce((n, g) => n + g.pods.length, 0)} pod(s) refused by kubectl's rules; the node was not cordoned`,
        hint: `Handle the pods listed above, or pass ${flags.join(' / ')} as they name.`,
      });
      continue;
    }
    if (plan.preflight.blockers.length > 0) {
      const checks = [...new Set(plan.preflight.blockers.map((b) => b.blocker.check))];
      results.push({
        ...base,
        outcome: 'preflight-blocked',
        pods: base.pods.map((p) => {
          const b = plan.preflight.blockers.find((x) => x.pod.uid === p.uid);
          return b ? { ...p, outcome: 'blocked', category: b.blocker.check, message: b.blocker.message } : p;
        }),
        message: `pre-flight: draining node "${name}" would get stuck (${checks.join(', ')}); the node was not cordoned`,
        hint: `Fix what is listed above, or insist with --ignore-preflight-errors=${checks.join(',')}.`,
      });
      continue;
    }
    results.push(base);
    ready.push({ plan, result: base });
  }

  // Cordon every node that passed, before evicting anything (kubectl cordons all first too), so no
  // pod evicted from one is placed on another.
  for (const r of ready) {
    const name = r.result.node;
    const wasInfo = cordonInfo(r.plan.node);
    const c = await cordonNode(name, { owner: opts.owner, dryRun: opts.dryRun, node: r.plan.node }, deps);
    const resumed = c.action === 'already-cordoned' && wasInfo.ownedByBosun;
    r.result.cordoned = opts.dryRun === 'none' ? true : wasInfo.cordoned;
    r.result.cordonOwnedByBosun = opts.dryRun === 'none' ? c.ownedByBosun : wasInfo.ownedByBosun;
    r.result.resumed = resumed;
    r.plan.node = c.nodeObject;
    emit({
      type: 'cordon',
      node: name,
      action: c.action === 'cordoned' ? 'cordoned' : 'already-cordoned',
      ownedByBosun: c.ownedByBosun,
      ...(c.by !== undefined ? { by: c.by } : {}),
      ...(c.reason !== undefined ? { reason: c.reason } : {}),
      ...(c.at !== undefined ? { at: c.at } : {}),
      resumed,
      dryRun: opts.dryRun,
    });
  }

  for (const r of ready) {
    if (deps.signal?.aborted) {
      Object.assign(r.result, {
        outcome: 'interrupted',
        message: `drain of node "${r.result.node}" interrupted before it started`,
        hint: resumeHint(r.result.node),
      });
      continue;
    }
    if (r.plan.warnings.length > 0) emit({ type: 'warnings', node: r.result.node, groups: r.plan.warnings });
    const t0 = deps.clock.now().getTime();
    await new NodeDrain(r.plan, r.result, opts, deps).run();
    r.result.durationMs = deps.clock.now().getTime() - t0;
  }
  return results;
}

/** Drains one node by name (reads it first). For library callers: upgrade, reboot, maintain. */
export async function drainNode(name: string, opts: DrainOptions, deps: DrainDeps): Promise<NodeDrainResult> {
  const reads = deps.reads ?? startPlanReads(deps.kube, opts);
  const node = await deps.kube.getNode(name);
  const [r] = await drainNodes([node], opts, { ...deps, reads });
  if (!r) throw new Error('drainNodes returned no result');
  return r;
}

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
}

const DONE: ReadonlySet<Phase> = new Set<Phase>(['gone', 'skipped-wait', 'failed']);

/**
 * How old the pre-flight's pod list may be for a node's watch to start from it. The nodes of one
 * command are drained one after another; a later node lists its pods again instead of watching
 * from a version the API server's watch cache may no longer hold (which would cost a 410 and a relist).
 */
const FRESH_LIST_MS = 30_000;
/** The reason a wait's timer is cancelled with. */
const WOKEN = 'woken';

/** One node's eviction loop. */
class NodeDrain {
  private readonly states: PodState[];
  private readonly byKey = new Map<string, PodState>();
  private inflight = 0;
  private woken = false;
  private wakeWaiter: (() => void) | undefined;
  private watchError: unknown;
  private listed = false;
  private pdbs: PodDisruptionBudget[] = [];
  private lastProgress = '';
  private readonly name: string;
  private readonly emit: DrainObserver;

  constructor(
    private readonly plan: NodePlan,
    private readonly result: NodeDrainResult,
    private readonly opts: DrainOptions,
    private readonly deps: DrainDeps,
  ) {
    this.name = result.node;
    this.emit = deps.observer ?? ((): void => undefined);
    const uids = new Set(plan.verdicts.filter((v) => v.action === 'evict').map((v) => v.pod.uid));
    this.states = plan.pods
      .filter((p) => uids.has(p.metadata.uid ?? ''))
      .map((p) => ({
        pod: p,
        ref: podRef(p),
        phase: 'queued' as Phase,
        via: opts.disableEviction ? 'delete' : 'evict',
        attempts: 0,
        nextAttemptAt: 0,
        announced: false,
      }));
    for (const s of this.states) this.byKey.set(podKey(s.ref), s);
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

  private markGone(s: PodState): void {
    if (DONE.has(s.phase)) return;
    s.phase = 'gone';
    this.emit({ type: 'removed', node: this.name, pod: s.ref, via: s.via });
    this.wake();
  }

  /** Applies what the watch says about pods on the node. */
  private observe(type: 'ADDED' | 'MODIFIED' | 'DELETED', pod: Pod): void {
    const s = this.byKey.get(podKey(podRef(pod)));
    if (!s) return;
    if (pod.metadata.uid !== s.ref.uid) {
      // Same name, new pod: the one we evicted is gone (kubectl waitForDelete checks the UID).
      if (type !== 'DELETED') this.markGone(s);
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

  private startWatch(signal: AbortSignal, fromPlan: boolean): Promise<void> {
    const fieldSelector = `spec.nodeName=${this.name}`;
    return listWatch<Pod>(
      {
        list: () => this.deps.kube.listPods({ fieldSelector, chunkSize: this.opts.chunkSize }),
        watch: (rv, onEvent, sig) =>
          this.deps.kube.watchPods({ fieldSelector, resourceVersion: rv }, onEvent, sig),
      },
      {
        onList: (items) => {
          const present = new Map(items.map((p) => [p.metadata.uid ?? '', p]));
          for (const s of this.states) {
            const p = present.get(s.ref.uid);
            if (p === undefined) this.markGone(s);
            else this.observe('MODIFIED', p);
          }
          this.listed = true;
          this.wake();
        },
        onEvent: (e) => {
          if (e.type !== 'BOOKMARK') this.observe(e.type, e.object);
        },
        onRetry: (e) => this.emit({ type: 'retrying-watch', node: this.name, error: errorMessage(e) }),
      },
      { clock: this.deps.clock, signal },
      fromPlan
        ? { initial: { items: this.plan.pods, resourceVersion: this.plan.listedAt.resourceVersion } }
        : {},
    ).catch((e: unknown) => {
      this.watchError = e;
      this.wake();
    });
  }

  private backoff(s: PodState, blocked: Blocked): number {
    if (blocked.retryAfterSeconds !== undefined) return blocked.retryAfterSeconds * 1000;
    return Math.min(this.opts.retryMaxMs, this.opts.retryMinMs * 2 ** Math.max(0, s.attempts - 1));
  }

  private async refreshPdbs(): Promise<void> {
    try {
      this.pdbs = await this.deps.kube.listPdbs();
    } catch {
      // keep what we had: the classification is only less precise
    }
  }

  private request(s: PodState): void {
    this.inflight++;
    s.phase = 'requesting';
    s.attempts++;
    if (!s.announced) {
      s.announced = true;
      this.emit({ type: 'evicting', node: this.name, pod: s.ref, via: s.via, dryRun: this.opts.dryRun });
    }
    const removal = {
      ...(this.opts.gracePeriodSeconds >= 0 ? { gracePeriodSeconds: this.opts.gracePeriodSeconds } : {}),
      ...(this.opts.dryRun === 'server' ? { dryRun: true } : {}),
    };
    const call =
      s.via === 'evict'
        ? this.deps.kube.evictPod(s.ref.namespace, s.ref.name, removal)
        : this.deps.kube.deletePod(s.ref.namespace, s.ref.name, { ...removal, uid: s.ref.uid });
    call
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
        this.inflight--;
        this.wake();
      });
  }

  private async refused(s: PodState, e: unknown): Promise<void> {
    if (s.phase !== 'requesting') return;
    if (this.deps.signal?.aborted) {
      // Cancelled by the interruption: whether the server acted is unknown; a rerun finds out.
      s.phase = 'queued';
      return;
    }
    if (isNotFound(e)) {
      if (this.opts.dryRun === 'server') s.phase = 'gone';
      else this.markGone(s);
      return;
    }
    if (isKubeApiError(e) && e.status === 409 && s.via === 'delete') {
      // The UID precondition failed: the pod we meant is gone and a new one has its name.
      this.markGone(s);
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
    const blocked = classifyEviction(e as KubeApiError, s.pod, this.pdbs, this.plan.pods);
    const now = this.now();
    s.blockedSince ??= now;
    s.blocked = blocked;
    if (this.opts.dryRun === 'server') {
      s.phase = 'failed';
      s.failure = blocked.message;
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
    const deadline = opts.timeoutMs > 0 ? started + opts.timeoutMs : Infinity;
    const watchCtl = new AbortController();
    const onAbort = (): void => {
      watchCtl.abort();
      this.wake();
    };
    deps.signal?.addEventListener('abort', onAbort, { once: true });
    let watching: Promise<void> | undefined;
    // The budgets (to explain a 429) come from the pre-flight's read. The drain state is for people
    // reading the node (nothing decides on it), so the evictions do not wait for it; it is awaited
    // before the final state replaces it. The watch starts from the pre-flight's pod list when that
    // is fresh, so the first evictions wait for no request at all.
    this.pdbs = this.plan.pdbs;
    let stateWritten: Promise<{ failed: unknown } | undefined> | undefined;
    if (opts.dryRun === 'none') {
      if (this.states.length > 0) {
        stateWritten = this.writeState({
          phase: 'draining',
          startedAt: rfc3339(new Date(started)),
          pending: this.states.length,
        }).then(
          () => undefined,
          (e: unknown) => ({ failed: e }),
        );
      }
      watching = this.startWatch(watchCtl.signal, started - this.plan.listedAt.time < FRESH_LIST_MS);
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
        if (this.watchError !== undefined) {
          r.outcome = 'failed';
          r.message = `watching the pods of node "${this.name}" failed: ${errorMessage(this.watchError)}`;
          break;
        }
        if (this.listed && this.states.every((s) => DONE.has(s.phase)) && this.inflight === 0) break;
        if (now >= deadline) {
          r.outcome = 'timeout';
          break;
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
        let next = Math.min(deadline, esc.next);
        if (this.listed) {
          for (const s of this.states) {
            if ((s.phase === 'queued' || s.phase === 'blocked') && s.nextAttemptAt <= now) {
              if (this.inflight >= opts.concurrency) break;
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
        this.progress();
        await this.waitUntil(next);
      }
      const state = await stateWritten;
      // An interruption cancels the write too; the interruption is what the result reports.
      if (state && !deps.signal?.aborted) throw state.failed;
    } finally {
      deps.signal?.removeEventListener('abort', onAbort);
      watchCtl.abort();
      await watching;
    }
    this.progress();
    await this.finish(giveUp);
  }

  private async writeState(state: DrainState): Promise<void> {
    await this.deps.kube.patchNode(this.name, {
      metadata: { annotations: { [DRAIN_STATE]: JSON.stringify(state) } },
    });
  }

  private async finish(giveUp: { s: PodState; rule: EscalationRule } | undefined): Promise<void> {
    const r = this.result;
    const { opts } = this;
    const byUid = new Map(this.states.map((s) => [s.ref.uid, s]));
    r.pods = r.pods.map((p) => {
      const s = byUid.get(p.uid);
      if (!s) return p;
      const base = { namespace: p.namespace, name: p.name, uid: p.uid };
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
    const left = this.states.filter((s) => !DONE.has(s.phase));
    const leftText = left
      .slice(0, 5)
      .map(
        (s) =>
          `${podKey(s.ref)} (${s.phase === 'terminating' ? 'terminating' : s.blocked ? s.blocked.message : s.phase})`,
      )
      .join(', ');
    const more = left.length > 5 ? ` and ${left.length - 5} more` : '';
    const failed = this.states.filter((s) => s.phase === 'failed');
    if (r.outcome === 'drained' && failed.length > 0) {
      r.outcome = 'failed';
      r.message = `unable to drain node "${this.name}": ${failed.map((s) => `${podKey(s.ref)}: ${s.failure ?? ''}`).join('; ')}`;
      r.hint = opts.dryRun === 'server' ? 'The server refused these evictions.' : resumeHint(this.name);
    }
    switch (r.outcome) {
      case 'drained':
        if (opts.dryRun === 'none')
          await this.writeState({
            phase: 'drained',
            startedAt: r.startedAt,
            finishedAt: rfc3339(this.deps.clock.now()),
          });
        this.emit({ type: 'drained', node: this.name, dryRun: opts.dryRun });
        return;
      case 'timeout':
        r.message = `drain of node "${this.name}" timed out after ${Math.round(opts.timeoutMs / 1000)}s with ${left.length} pod(s) left: ${leftText}${more}`;
        r.hint = resumeHint(this.name);
        return;
      case 'interrupted':
        r.message = `drain of node "${this.name}" interrupted with ${left.length} pod(s) left`;
        r.hint = resumeHint(this.name);
        return;
      case 'gave-up': {
        const g = giveUp;
        const blockedFor =
          g?.s.blockedSince !== undefined ? Math.round((this.now() - g.s.blockedSince) / 1000) : 0;
        r.message = `gave up draining node "${this.name}": ${g ? `${podKey(g.s.ref)} blocked for ${blockedFor}s (rule "${g.rule.text}"): ${g.s.blocked?.message ?? ''}` : ''}`;
        if (g)
          this.emit({ type: 'escalated', node: this.name, pod: g.s.ref, action: 'give-up', rule: g.rule });
        if (r.cordonOwnedByBosun && opts.dryRun === 'none') {
          const u = await uncordonNode(this.name, { force: false, dryRun: 'none' }, this.deps);
          r.cordoned = u.action !== 'uncordoned' && u.action !== 'already-uncordoned' ? r.cordoned : false;
          r.hint = r.cordoned
            ? 'The node stays cordoned.'
            : 'bosun uncordoned the node, as it had cordoned it.';
        } else {
          r.hint = 'The node was cordoned outside bosun, so it stays cordoned.';
        }
        return;
      }
      default:
        r.hint ??= resumeHint(this.name);
    }
  }
}
