// What a drain's two halves share: the plan and the run across nodes (drainer.ts) and one node's
// eviction loop (node-drain.ts). The options a drain is told and kubectl's defaults for them, the
// events it reports and the ports it needs, the plan made for each node and the results it
// returns, and the few helpers both halves use (the --pod-selector, the filters' options, the
// deadline's signal, the hint that says how to continue). It holds no logic of a drain itself, so
// both modules import it and neither imports the other's.
import type { Clock } from '../common/ports.ts';
import { UsageError } from '../common/errors.ts';
import type { NodePods } from '../kube/ports.ts';
import type { Node, Pod, PodDisruptionBudget } from '../kube/types.ts';
import type { CordonOwner } from '../kube/annotations.ts';
import { parseSelector, type Selector } from '../kube/labels.ts';
import type { Access } from './access.ts';
import type { Blocked } from './classify.ts';
import type { DryRun } from './cordon.ts';
import { DEFAULT_POLICY, type EscalationPolicy, type EscalationRule } from './escalation.ts';
import type { DaemonSetLookup, FilterContext, MessageGroup, PodRef, PodVerdict } from './filters.ts';
import type { PreflightCheck, PreflightResult } from './preflight.ts';
import type { PodScan } from './scan.ts';

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

/** Progress, for a reporter (the CLI's: cli/print/drain-progress.ts) or a library caller. */
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

/** The --pod-selector, parsed; a SelectorError when it does not parse. */
export function compileSelector(text: string): Selector {
  const r = parseSelector(text);
  if (!r.ok) throw new SelectorError(r.error);
  return r.selector;
}

/** The options kubectl's filters (filters.ts) take, from a drain's. */
export function filterOptions(opts: DrainOptions): FilterContext['options'] {
  return {
    force: opts.force,
    ignoreDaemonSets: opts.ignoreDaemonSets,
    deleteEmptyDirData: opts.deleteEmptyDirData,
    skipWaitForDeleteTimeoutSeconds: opts.skipWaitForDeleteTimeoutSeconds,
  };
}

/** The hint for a drain that stopped with the node cordoned: run it again, or uncordon. */
export function resumeHint(node: string): string {
  return `The node stays cordoned. Run the same command again to continue, or give up with: bosun uncordon ${node}`;
}

/** The reason a wait's timer is cancelled with. */
export const WOKEN = 'woken';

/** A signal that aborts at `at` (ms on clock) or when parent aborts; done() lets its timer go. */
export function deadlineSignal(
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
