// Drains nodes: the orchestration around the pure decisions. For the nodes asked for it
//   1. reads the cluster once (nodes, PDBs, and one chunked pass over the pods that keeps the
//      drained nodes' pods and only sums the rest: scan.ts; the DaemonSets kubectl would look up;
//      SelfSubjectAccessReviews for what the drain will need after the cordon),
//   2. runs kubectl's filters and bosun's pre-flight for every node; a node with a refusal or a
//      blocker is not touched at all (kubectl would have cordoned it first),
//   3. cordons the rest together, as kubectl does, with bosun's ownership annotations,
//   4. drains them one after another: evictions (or deletions) in parallel with a bounded number
//      of requests in flight, 429s retried with backoff until --timeout, each refusal classified,
//      the escalation policy applied to pods that stay blocked, and every pod followed by a watch
//      on the node (a poll where the user may not watch) until it is gone (deleted, or replaced by
//      a new UID). What it evicts and waits for is what the node has after the cordon: a pod bound
//      to it later is filtered and evicted too, and "drained" is said only once a fresh read after
//      the last deletion finds nothing the filters would evict.
//   5. follows the Node itself: uncordoned by someone else, the drain stops (or, with --recordon,
//      cordons it again and goes on); it never reports such a node drained.
// Every request carries the drain's deadline (--timeout counts from when the command began), so a
// silent API server cannot hold it past it, and the timeout then names the API server. A drain
// that stops for a failure lets its evictions in flight finish first: kube-apiserver records an
// eviction in the budget's status.disruptedPods before it deletes the pod, and an eviction
// abandoned in between holds the budget down for two minutes.
// It never uncordons a node it did not cordon, never deletes a pod unless --disable-eviction or an
// escalation rule says so, and on interruption or timeout leaves the node cordoned with its state
// (how many pods are left, kept up to date) in the node's annotations, so running the same drain
// again continues.
//
// It is a library: the CLI, `bosun maintain`, the upgrade orchestrator and the reboot agent call
// drainNodes/drainNode with their own owner, options and observer.
import type { Clock } from '../common/ports.ts';
import { BosunError, UsageError, errorMessage } from '../common/errors.ts';
import {
  hasStatusCause,
  isForbidden,
  isKubeApiError,
  isNotFound,
  isRetryable,
  type KubeApiError,
} from '../kube/errors.ts';
import type { NodePods, ResourceAttributes } from '../kube/ports.ts';
import type { ListResult, Node, Pod, PodDisruptionBudget } from '../kube/types.ts';
import { controllerOf, isMirrorPod } from '../kube/pods.ts';
import {
  CORDON_ANNOTATIONS,
  DRAIN_STATE,
  cordonInfo,
  rfc3339,
  type CordonOwner,
  type DrainState,
} from '../kube/annotations.ts';
import { forbiddenReason, reviewAll, type Access } from './access.ts';
import { NAMESPACE_TERMINATING_CAUSE, classifyEviction, type Blocked } from './classify.ts';
import { cordonNode, uncordonNode, type DryRun } from './cordon.ts';
import {
  DEFAULT_POLICY,
  decideEscalation,
  type EscalationPolicy,
  type EscalationRule,
} from './escalation.ts';
import {
  decidePod,
  decidePods,
  isDeletedTooLong,
  isFinished,
  podKey,
  podRef,
  refusals,
  warnings,
  type DaemonSetLookup,
  type FilterContext,
  type MessageGroup,
  type PodRef,
  type PodVerdict,
} from './filters.ts';
import { follow } from './follow.ts';
import { matches, parseSelector, type Selector } from '../kube/labels.ts';
import {
  antiAffinityTerms,
  preflight,
  termMatches,
  type PreflightCheck,
  type PreflightResult,
} from './preflight.ts';
import { PodScanner, type PodScan } from './scan.ts';
import { whoUncordoned } from './uncordoned.ts';

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
  /**
   * --recordon: when someone else uncordons the node during the drain, cordon it again and go on.
   * Default (false): stop, say who uncordoned it, and exit 1.
   */
  recordon: boolean;
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
  recordon: false,
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
  /** The user may not watch pods (or the node): they are polled every second instead, as kubectl does. */
  | { type: 'polling'; node: string; what: 'pods' | 'node'; reason: string }
  /**
   * The pod's eviction was approved before (its budget's status.disruptedPods records it) but never
   * carried out: the client that asked went away before the pod was deleted. The drain deletes it,
   * which is what that eviction was to do (the budget has counted it out already).
   */
  | { type: 'completing'; node: string; pod: PodRef; budget: string; since: string }
  /** Someone else uncordoned the node during the drain: the drain stopped, or cordoned it again. */
  | { type: 'uncordoned'; node: string; by: string; action: 'stopped' | 'recordoned' }
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
  /** When the command began (ms on clock): the first node's --timeout counts from then. Default: now. */
  startedAt?: number;
}

/** The cluster state a drain plan is made from. */
export type PlanReads =
  | {
      ok: true;
      nodes: Node[];
      pdbs: PodDisruptionBudget[];
      /** Why the budgets could not be listed (a permission the user lacks); the budget checks are skipped. */
      pdbsDenied?: string;
      /** The pods: the named nodes' whole, the rest in aggregate. */
      scan: PodScan;
      /** The list's resourceVersion. */
      resourceVersion: string;
      /** The nodes whose pods the scan kept. */
      scanned: ReadonlySet<string>;
    }
  | { ok: false; error: unknown };

const PDB_LIST: ResourceAttributes = { verb: 'list', resource: 'poddisruptionbudgets', group: 'policy' };

/**
 * Starts the plan's reads (all nodes, the budgets, one chunked pass over the pods) at once. A
 * caller that still has to read the nodes it was named starts these first, so both travel
 * together: one round trip before the cordon instead of two. `nodes` names the nodes to drain
 * (whose pods the pass keeps), or will (a promise: the pass waits for it before it keeps
 * anything). The promise never rejects, so it may be dropped unawaited when the named nodes turn
 * out not to exist. `signal` aborts the reads.
 */
export function startPlanReads(
  kube: NodePods,
  opts: Pick<DrainOptions, 'disableEviction' | 'chunkSize'>,
  nodes: readonly string[] | Promise<readonly string[]> = [],
  signal?: AbortSignal,
): Promise<PlanReads> {
  const req = signal ? { signal } : {};
  const names = Promise.resolve(nodes);
  const pdbs: Promise<{ pdbs: PodDisruptionBudget[]; denied?: string }> = opts.disableEviction
    ? Promise.resolve({ pdbs: [] })
    : kube.listPdbs(req).then(
        (l) => ({ pdbs: l }),
        (e: unknown) => {
          if (isForbidden(e)) return { pdbs: [], denied: forbiddenReason(e, PDB_LIST) };
          throw e;
        },
      );
  // The pass waits for the names and the budgets before it takes its first chunk in (and asks for
  // the next only then), so it never holds more than one chunk.
  let scanner: PodScanner | undefined;
  const ready = Promise.all([names, pdbs]).then(([n, p]) => {
    scanner = new PodScanner(new Set(n), p.pdbs);
  });
  const scan = kube.scanPods({ chunkSize: opts.chunkSize, ...req }, async (chunk) => {
    await ready;
    scanner?.add(chunk);
  });
  return Promise.all([kube.listNodes(req), pdbs, scan, ready, names]).then(
    ([allNodes, p, s, , n]): PlanReads => ({
      ok: true,
      nodes: allNodes,
      pdbs: p.pdbs,
      ...(p.denied !== undefined ? { pdbsDenied: p.denied } : {}),
      scan: (scanner as PodScanner).result(),
      resourceVersion: s.resourceVersion,
      scanned: new Set(n),
    }),
    (error: unknown): PlanReads => ({ ok: false, error }),
  );
}

/**
 * The plan's reads made from objects the caller has read already (the upgrade plan's snapshot,
 * which holds every pod anyway): every node's pods are kept, so a plan for any of its nodes reads
 * no pods again.
 */
export function planReadsOf(read: {
  nodes: Node[];
  pods: ListResult<Pod>;
  pdbs: PodDisruptionBudget[];
}): PlanReads {
  const names = new Set(read.nodes.map((n) => n.metadata.name ?? ''));
  const scanner = new PodScanner(names, read.pdbs);
  scanner.add(read.pods.items);
  return {
    ok: true,
    nodes: read.nodes,
    pdbs: read.pdbs,
    scan: scanner.result(),
    resourceVersion: read.pods.resourceVersion,
    scanned: names,
  };
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
  | 'drained'
  | 'refused'
  | 'preflight-blocked'
  | 'failed'
  | 'timeout'
  | 'gave-up'
  | 'interrupted'
  /** Someone else uncordoned the node during the drain (see --recordon). */
  | 'uncordoned';

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
  /** The DaemonSet lookups the filters used (for pods that appear on the node later). */
  daemonSets: ReadonlyMap<string, DaemonSetLookup>;
  /** Whether the user may watch pods and the node (SelfSubjectAccessReview; unknown: try and see). */
  access: { watchPods: Access; watchNodes: Access };
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

function filterOptions(opts: DrainOptions): FilterContext['options'] {
  return {
    force: opts.force,
    ignoreDaemonSets: opts.ignoreDaemonSets,
    deleteEmptyDirData: opts.deleteEmptyDirData,
    skipWaitForDeleteTimeoutSeconds: opts.skipWaitForDeleteTimeoutSeconds,
  };
}

/** What removing a pod in namespace takes: create on pods/eviction, or delete on pods. */
function removalPermission(
  opts: Pick<DrainOptions, 'disableEviction'>,
  namespace: string,
): ResourceAttributes {
  return opts.disableEviction
    ? { verb: 'delete', resource: 'pods', namespace }
    : { verb: 'create', resource: 'pods', subresource: 'eviction', namespace };
}

/**
 * Reads the cluster once and plans the drain of every named node (filters + pre-flight). Nodes
 * are planned together, so replacements are never predicted onto a node that is drained too.
 * `deps.signal` aborts the requests.
 */
export async function planDrain(
  nodes: readonly Node[],
  opts: DrainOptions,
  deps: Pick<DrainDeps, 'kube' | 'clock' | 'reads' | 'signal'>,
): Promise<NodePlan[]> {
  const podSelector = compileSelector(opts.podSelector);
  const names = nodes.map((n) => n.metadata.name ?? '');
  const req = deps.signal ? { signal: deps.signal } : {};
  const reads = await untilAborted(
    deps.reads ?? startPlanReads(deps.kube, opts, names, deps.signal),
    deps.signal,
  );
  if (!reads.ok) throw reads.error;
  const { nodes: allNodes, pdbs, scan } = reads;
  // The pods of each node: from the scan, or (reads started without its name) a list of its own.
  const byNode = new Map<string, { pods: Pod[]; resourceVersion: string }>();
  await Promise.all(
    names.map(async (name) => {
      if (reads.scanned.has(name))
        byNode.set(name, { pods: scan.onNodes.get(name) ?? [], resourceVersion: reads.resourceVersion });
      else {
        const l = await deps.kube.listPods({
          fieldSelector: `spec.nodeName=${name}`,
          chunkSize: opts.chunkSize,
          ...req,
        });
        byNode.set(name, { pods: l.items, resourceVersion: l.resourceVersion });
      }
    }),
  );
  const onNodes = names.flatMap((n) =>
    (byNode.get(n)?.pods ?? []).filter((p) => matches(podSelector, p.metadata.labels)),
  );
  // In parallel: the DaemonSets kubectl's daemonSetFilter looks up, once each; what the user may
  // do after the cordon; and, for the pods that required anti-affinity places, the nodes where the
  // pods it selects run (a list by label selector each: only those pods, not the cluster's).
  const lookups = new Map<string, DaemonSetLookup>();
  const dsKeys = [
    ...new Set(
      onNodes
        .filter((p) => controllerOf(p)?.kind === 'DaemonSet' && !isFinished(p))
        .map((p) => `${p.metadata.namespace ?? 'default'}/${controllerOf(p)?.name ?? ''}`),
    ),
  ];
  const namespaces = [
    ...new Set(
      onNodes
        .filter((p) => controllerOf(p)?.kind !== 'DaemonSet' && !isMirrorPod(p))
        .map((p) => p.metadata.namespace ?? 'default'),
    ),
  ].sort();
  const review: ResourceAttributes[] = [
    ...namespaces.map((ns) => removalPermission(opts, ns)),
    { verb: 'watch', resource: 'pods' },
    { verb: 'watch', resource: 'nodes' },
  ];
  const terms = antiAffinityTerms(onNodes);
  const antiAffinity = new Map<string, Set<string>>();
  const draining = new Set(names);
  const [access] = await Promise.all([
    reviewAll(deps.kube, review, deps.signal),
    ...dsKeys.map(async (k) => {
      const [ns, name] = k.split('/') as [string, string];
      try {
        await deps.kube.getDaemonSet(ns, name, req);
        lookups.set(k, { found: true });
      } catch (e) {
        lookups.set(k, { found: false, notFound: isNotFound(e), error: errorMessage(e) });
      }
    }),
    ...terms.map(async (t) => {
      const on = new Set<string>();
      antiAffinity.set(t.key, on);
      for (const namespace of t.namespaces) {
        const l = await deps.kube.listPods({ namespace, labelSelector: t.labelSelector, ...req });
        for (const p of l.items) {
          const n = p.spec?.nodeName;
          if (n && !draining.has(n) && !isFinished(p) && termMatches(t, p)) on.add(n);
        }
      }
    }),
  ]);
  const forbidden = new Map<string, string>();
  namespaces.forEach((ns, i) => {
    if (access[i] === 'denied') forbidden.set(ns, forbiddenReason(undefined, removalPermission(opts, ns)));
  });
  const now = deps.clock.now();
  const ctx = {
    options: filterOptions(opts),
    now,
    daemonSet: (ns: string, name: string): DaemonSetLookup => lookups.get(`${ns}/${name}`) ?? { found: true },
  };
  return nodes.map((node) => {
    const name = node.metadata.name ?? '';
    const listed = byNode.get(name) ?? { pods: [], resourceVersion: reads.resourceVersion };
    const pods = listed.pods.filter((p) => matches(podSelector, p.metadata.labels));
    const verdicts = decidePods(pods, ctx);
    const pf = preflight({
      node: name,
      nodes: allNodes,
      draining: names,
      pods,
      usage: scan,
      antiAffinity,
      verdicts,
      pdbs,
      now,
      options: {
        disableEviction: opts.disableEviction,
        gracePeriodSeconds: opts.gracePeriodSeconds,
        ignore: opts.ignorePreflight,
        forbidden,
        ...(reads.pdbsDenied !== undefined
          ? { skip: [{ checks: ['pdb-never-allows', 'multiple-pdbs'], reason: reads.pdbsDenied }] }
          : {}),
      },
    });
    return {
      node,
      verdicts,
      pods,
      listedAt: { resourceVersion: listed.resourceVersion, time: now.getTime() },
      pdbs,
      preflight: pf,
      refusals: refusals(verdicts),
      warnings: warnings(verdicts),
      daemonSets: lookups,
      access: {
        watchPods: access[namespaces.length] ?? 'unknown',
        watchNodes: access[namespaces.length + 1] ?? 'unknown',
      },
    };
  });
}

/** p, or its signal's reason once the signal aborts (reads a caller started may not take the signal). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
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

/** A signal that aborts at `at` (ms on clock) or when parent aborts; done() lets its timer go. */
function deadlineSignal(
  clock: Clock,
  at: number,
  parent: AbortSignal | undefined,
): { signal: AbortSignal; expired: () => boolean; done: () => void } {
  const ctl = new AbortController();
  const timer = new AbortController();
  let expired = false;
  if (at !== Infinity)
    clock.sleep(Math.max(0, at - clock.now().getTime()), timer.signal).then(
      () => {
        expired = true;
        ctl.abort(new Error('the deadline passed'));
      },
      () => undefined,
    );
  const onParent = (): void => ctl.abort(parent?.reason);
  if (parent?.aborted) onParent();
  else parent?.addEventListener('abort', onParent, { once: true });
  return {
    signal: ctl.signal,
    expired: () => expired,
    done: () => {
      timer.abort(WOKEN);
      parent?.removeEventListener('abort', onParent);
    },
  };
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
  // --timeout counts from when the command began for the first node (its reads and cordon
  // included), and from when its own drain begins for each later one, as kubectl's does.
  const firstDeadline =
    opts.timeoutMs > 0 ? (deps.startedAt ?? startedAt.getTime()) + opts.timeoutMs : Infinity;
  const early = deadlineSignal(deps.clock, firstDeadline, deps.signal);
  const timedOut = (e: unknown): BosunError =>
    new BosunError(
      `drain timed out after ${Math.round(opts.timeoutMs / 1000)}s before any pod was evicted: the API server did not answer in time`,
      'TIMEOUT',
      {
        cause: e,
        hint: 'Check the API server (kubectl get --raw /readyz), then run the same command again.',
      },
    );
  let plans: NodePlan[];
  try {
    plans = await planDrain(nodes, opts, { ...deps, signal: early.signal });
  } catch (e) {
    early.done();
    if (early.expired()) throw timedOut(e);
    throw e;
  }
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
  try {
    for (const r of ready) {
      const name = r.result.node;
      const wasInfo = cordonInfo(r.plan.node);
      const c = await cordonNode(
        name,
        { owner: opts.owner, dryRun: opts.dryRun, node: r.plan.node, signal: early.signal },
        deps,
      );
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
  } catch (e) {
    if (early.expired()) throw timedOut(e);
    throw e;
  } finally {
    early.done();
  }

  for (const [i, r] of ready.entries()) {
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
    const deadline = i === 0 ? firstDeadline : opts.timeoutMs > 0 ? t0 + opts.timeoutMs : Infinity;
    await new NodeDrain(r.plan, r.result, opts, deps, deadline).run();
    r.result.durationMs = deps.clock.now().getTime() - t0;
  }
  return results;
}

/** Drains one node by name (reads it first). For library callers: upgrade, reboot, maintain. */
export async function drainNode(name: string, opts: DrainOptions, deps: DrainDeps): Promise<NodeDrainResult> {
  const startedAt = deps.startedAt ?? deps.clock.now().getTime();
  const reads = deps.reads ?? startPlanReads(deps.kube, opts, [name], deps.signal);
  const node = await deps.kube.getNode(name, deps.signal ? { signal: deps.signal } : {});
  const [r] = await drainNodes([node], opts, { ...deps, reads, startedAt });
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
  /** When its last request went out (ms). */
  requestedAt?: number;
  /** Its last request was cut off by the deadline or an interruption, unanswered. */
  cutOff?: boolean;
  /** It appeared on the node after the pre-flight and kubectl's rules refuse it. */
  refusedLater?: boolean;
  /** Completing an eviction approved earlier but never carried out: next, by DELETE; refused: may not. */
  complete?: 'next' | 'refused';
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

/** One node's eviction loop. */
class NodeDrain {
  private readonly states: PodState[] = [];
  private readonly byUid = new Map<string, PodState>();
  private readonly byName = new Map<string, PodState>();
  /** Pods on the node the filters leave there (DaemonSet and mirror pods, ...). */
  private readonly ignored = new Set<string>();
  private inflight = 0;
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

  private request(s: PodState): void {
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
