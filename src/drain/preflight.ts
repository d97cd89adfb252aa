// The pre-flight: before a node is touched, predict what kubectl cannot see until it is stuck.
// For every pod the filters let through it says what will happen and why, and it flags the
// evictions that cannot succeed however long the drain waits:
// - pdb-never-allows: a PodDisruptionBudget that allows no disruption even with every pod healthy
//   (maxUnavailable: 0, or minAvailable >= the pods it covers);
// - multiple-pdbs: the pod is covered by more than one PDB, which the eviction API refuses (500);
// - unschedulable: the pod's controller would recreate it, but no remaining node can take it
//   (requests vs allocatable minus what is already requested; taints and tolerations; nodeSelector
//   and required node affinity; required pod anti-affinity);
// - opt-out: the pod asks not to be evicted (kube/annotations.ts: bosun.dev/safe-to-evict=false,
//   cluster-autoscaler.kubernetes.io/safe-to-evict=false, karpenter.sh/do-not-disrupt=true);
// - forbidden: the user may not evict (or, with --disable-eviction, delete) pods in its namespace,
//   as a SelfSubjectAccessReview answered (access.ts): the drain would fail after the cordon.
// Not predicted (documented limits): inter-pod affinity, topology spread constraints, volume
// topology, host ports, and other pods' anti-affinity against the moved pod.
// A check the user's permissions do not let bosun make (the budgets cannot be listed) is skipped,
// and the result says which and why.
// Pure: it is given every object it reads, or the aggregates of a scan (scan.ts) instead of every pod.
import type { LabelSelector, Node, Pod, PodAffinityTerm, PodDisruptionBudget } from '../kube/types.ts';
import { evictionOptOut } from '../kube/annotations.ts';
import { isFinished, podKey, podRef, type PodRef, type PodVerdict } from './filters.ts';
import { fromLabelSelector, matches, selectorString } from '../kube/labels.ts';
import { controllerOf, isPodReady, scaledIntOrPercent } from '../kube/pods.ts';
import { findUntoleratedTaint, nodeReadyStatus, podMatchesNodeAffinity } from '../kube/scheduling.ts';
import { formatResource, parseResources, placementNeeds, type Resources } from './quantity.ts';
import { keyOf, usageOf, type ClusterUsage, type HeldEntry } from './scan.ts';

/** How long after an eviction recorded it a disruptedPods entry of a live pod counts as held (the eviction's delete comes within milliseconds). */
const HELD_AFTER_MS = 5_000;
/** kube-controller-manager's DeletionTimeout: disruptedPods entries expire after 2 minutes. */
export const DISRUPTED_POD_TIMEOUT_MS = 2 * 60 * 1000;

/** The checks a pre-flight can fail; names for --ignore-preflight-errors. */
export const PREFLIGHT_CHECKS = [
  'pdb-never-allows',
  'multiple-pdbs',
  'unschedulable',
  'opt-out',
  'forbidden',
] as const;
/** One pre-flight check. */
export type PreflightCheck = (typeof PREFLIGHT_CHECKS)[number];

/** Something that will stop an eviction for good. */
export interface Blocker {
  check: PreflightCheck;
  message: string;
  /** What the user can do about it. */
  hint: string;
}

/** A PDB's numbers, as kube-apiserver's eviction check reads them. */
export interface BudgetNumbers {
  namespace: string;
  name: string;
  /** "minAvailable: 2", "maxUnavailable: 0", "minAvailable: 50%". */
  spec: string;
  disruptionsAllowed: number;
  currentHealthy: number;
  desiredHealthy: number;
  expectedPods: number;
  /** The most disruptions this budget could ever allow with every pod healthy. */
  maxAllowed: number;
  unhealthyPodEvictionPolicy: 'IfHealthyBudget' | 'AlwaysAllow';
  /**
   * status.disruptedPods entries that hold live pods out of currentHealthy: evictions recorded in
   * the budget whose pod was never deleted (the client went away in between). The disruption
   * controller drops them 2 minutes after they were recorded.
   */
  held: HeldEntry[];
}

/** What will happen to one pod on the node. */
export interface PodPrediction {
  pod: PodRef;
  action: 'evict' | 'delete' | 'skip' | 'refuse';
  /** One line for people: why this action. */
  reason: string;
  /** The PDB covering the pod, when exactly one does. */
  budget?: BudgetNumbers;
  /** Where a replacement would go, or why nowhere; absent when nothing recreates the pod. */
  placement?: { node: string } | { none: string };
  /** Evictions that cannot succeed. */
  blockers: Blocker[];
  /** Delays that will resolve by themselves (a PDB at 0 now, a long grace period). */
  waits: string[];
}

/** The pre-flight's verdict on one node. */
export interface PreflightResult {
  node: string;
  predictions: PodPrediction[];
  /** Blockers not ignored by the user. */
  blockers: { pod: PodRef; blocker: Blocker }[];
  /** Blockers the user chose to ignore. */
  ignored: { pod: PodRef; blocker: Blocker }[];
  /** Checks that were not made, and why (a permission the user lacks). */
  skipped: { checks: PreflightCheck[]; reason: string }[];
  /** The longest termination grace period among pods to remove, in seconds (a lower bound on the drain's time). */
  longestGraceSeconds: number;
}

/** Everything the pre-flight reads. */
export interface PreflightInput {
  /** The node being drained. */
  node: string;
  /** Every node in the cluster. */
  nodes: readonly Node[];
  /** Nodes being drained in the same run (they take no replacements); includes node. */
  draining: readonly string[];
  /**
   * The pods the verdicts name (this node's), or every pod of the cluster when `usage` is not
   * given (then requests on other nodes, budget coverage and anti-affinity are computed from them).
   */
  pods: readonly Pod[];
  /** The cluster's pods in aggregate (scan.ts), so that `pods` need only be this node's. */
  usage?: ClusterUsage;
  /** With `usage`: per required anti-affinity term of the pods to move (antiAffinityTerms), the nodes running a pod it matches. */
  antiAffinity?: ReadonlyMap<string, ReadonlySet<string>>;
  /** The filters' verdicts on the pods of this node. */
  verdicts: readonly PodVerdict[];
  pdbs: readonly PodDisruptionBudget[];
  /** Now, to tell a held disruptedPods entry from an eviction in progress. */
  now?: Date;
  options: {
    /** --disable-eviction: pods are deleted, PDBs are not consulted. */
    disableEviction: boolean;
    /** --grace-period in seconds; negative uses each pod's own. */
    gracePeriodSeconds: number;
    /** Checks the user told bosun to ignore (--ignore-preflight-errors). */
    ignore: ReadonlySet<PreflightCheck> | 'all';
    /** Checks that cannot be made, with why (e.g. the budgets could not be listed). */
    skip?: readonly { checks: PreflightCheck[]; reason: string }[];
    /** Namespaces whose pods the user may not evict (or delete), with why. */
    forbidden?: ReadonlyMap<string, string>;
  };
}

// ---- PDB arithmetic (pkg/controller/disruption) ----

/** The PDBs in the pod's namespace whose selector matches it. */
export function budgetsFor(pod: Pod, pdbs: readonly PodDisruptionBudget[]): PodDisruptionBudget[] {
  const ns = pod.metadata.namespace ?? 'default';
  return pdbs.filter(
    (b) =>
      (b.metadata.namespace ?? 'default') === ns &&
      matches(fromLabelSelector(b.spec?.selector), pod.metadata.labels),
  );
}

/** The disruptedPods entries that hold a live pod: older than an eviction's own delete takes, not yet expired. */
export function heldEntries(entries: readonly HeldEntry[] | undefined, now: Date | undefined): HeldEntry[] {
  if (!entries || !now) return [];
  return entries.filter((e) => {
    const age = now.getTime() - Date.parse(e.since);
    return age >= HELD_AFTER_MS && age < DISRUPTED_POD_TIMEOUT_MS;
  });
}

/**
 * The budget's numbers: from its status when the disruption controller has observed it, computed
 * from its spec and the pods it covers otherwise (the pods themselves, or their counts from a scan).
 * `held` are its disruptedPods entries that still name a live pod (see heldEntries).
 */
export function budgetNumbers(
  pdb: PodDisruptionBudget,
  pods: readonly Pod[] | { pods: number; ready: number },
  held: readonly HeldEntry[] = [],
): BudgetNumbers {
  const ns = pdb.metadata.namespace ?? 'default';
  let counts: { pods: number; ready: number };
  if (Array.isArray(pods)) {
    const sel = fromLabelSelector(pdb.spec?.selector);
    const covered = (pods as readonly Pod[]).filter(
      (p) =>
        (p.metadata.namespace ?? 'default') === ns &&
        matches(sel, p.metadata.labels) &&
        !isFinished(p) &&
        !p.metadata.deletionTimestamp,
    );
    counts = { pods: covered.length, ready: covered.filter(isPodReady).length };
  } else counts = pods as { pods: number; ready: number };
  const observed =
    pdb.status?.observedGeneration !== undefined &&
    pdb.status.observedGeneration >= (pdb.metadata.generation ?? 0) &&
    pdb.status.expectedPods !== undefined;
  const expected = observed ? (pdb.status?.expectedPods ?? 0) : counts.pods;
  const currentHealthy = observed ? (pdb.status?.currentHealthy ?? 0) : counts.ready;
  let desired: number;
  let spec: string;
  // A value kube cannot read makes the disruption controller fail safe (no disruption allowed):
  // every expected pod is then desired.
  if (pdb.spec?.maxUnavailable !== undefined) {
    const mu = scaledIntOrPercent(pdb.spec.maxUnavailable, expected, true);
    desired = mu.ok ? Math.max(0, expected - mu.value) : expected;
    spec = `maxUnavailable: ${pdb.spec.maxUnavailable}`;
  } else {
    const min = pdb.spec?.minAvailable ?? 1;
    const ma = scaledIntOrPercent(min, expected, true);
    desired = ma.ok ? ma.value : expected;
    spec = `minAvailable: ${min}`;
  }
  if (observed && pdb.status?.desiredHealthy !== undefined) desired = pdb.status.desiredHealthy;
  const allowed =
    observed && pdb.status?.disruptionsAllowed !== undefined
      ? pdb.status.disruptionsAllowed
      : Math.max(0, currentHealthy - desired);
  return {
    namespace: ns,
    name: pdb.metadata.name ?? '',
    spec,
    disruptionsAllowed: allowed,
    currentHealthy,
    desiredHealthy: desired,
    expectedPods: expected,
    maxAllowed: Math.max(0, expected - desired),
    unhealthyPodEvictionPolicy:
      pdb.spec?.unhealthyPodEvictionPolicy === 'AlwaysAllow' ? 'AlwaysAllow' : 'IfHealthyBudget',
    held: [...held],
  };
}

/**
 * "PodDisruptionBudget demo/web (minAvailable: 2): 2 of 3 pods healthy, needs 2, allows 0
 * disruptions now", and, when evictions that never deleted their pods hold it down, which pods
 * its status.disruptedPods holds and until when.
 */
export function describeBudget(b: BudgetNumbers): string {
  const base = `PodDisruptionBudget ${b.namespace}/${b.name} (${b.spec}): ${b.currentHealthy} of ${b.expectedPods} pods healthy, needs ${b.desiredHealthy}, allows ${b.disruptionsAllowed} disruption${b.disruptionsAllowed === 1 ? '' : 's'} now`;
  if (b.held.length === 0) return base;
  const until = Math.max(...b.held.map((h) => Date.parse(h.since))) + DISRUPTED_POD_TIMEOUT_MS;
  return `${base}; its status.disruptedPods holds ${b.held.length} running pod${b.held.length === 1 ? '' : 's'} (${b.held.map((h) => h.pod).join(', ')}) out of currentHealthy: evictions that never deleted them, dropped by kube-controller-manager 2 minutes after they were made (until ${new Date(until).toISOString().replace(/\.\d{3}Z$/, 'Z')})`;
}

/** kube-apiserver lets these through without consulting a PDB (eviction.go canIgnorePDB). */
function ignoresBudget(pod: Pod): boolean {
  return isFinished(pod) || pod.status?.phase === 'Pending' || pod.metadata.deletionTimestamp !== undefined;
}

interface Candidate {
  node: Node;
  free: Resources;
}

type Refusal =
  'unschedulable' | 'not-ready' | 'taint' | 'affinity' | 'anti-affinity' | `Insufficient ${string}`;

/** One required anti-affinity term, with the namespaces it looks in. */
export interface AntiAffinityTerm {
  /** Identifies the term's pod set (namespaces and selector), as the antiAffinity maps key it. */
  key: string;
  namespaces: string[];
  selector: LabelSelector | undefined;
  /** The selector as the API's labelSelector parameter. */
  labelSelector: string;
}

function termOf(term: PodAffinityTerm, podNamespace: string): AntiAffinityTerm {
  const namespaces = [
    ...(term.namespaces && term.namespaces.length > 0 ? term.namespaces : [podNamespace]),
  ].sort();
  const labelSelector = selectorString(fromLabelSelector(term.labelSelector));
  return {
    key: JSON.stringify([namespaces, labelSelector]),
    namespaces,
    selector: term.labelSelector,
    labelSelector,
  };
}

/** The distinct required anti-affinity terms of pods (what must be looked up to place them). */
export function antiAffinityTerms(pods: readonly Pod[]): AntiAffinityTerm[] {
  const out = new Map<string, AntiAffinityTerm>();
  for (const p of pods)
    for (const t of p.spec?.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? []) {
      const term = termOf(t, p.metadata.namespace ?? 'default');
      out.set(term.key, term);
    }
  return [...out.values()];
}

/** Whether a pod is one the term selects. */
export function termMatches(term: AntiAffinityTerm, pod: Pod): boolean {
  return (
    term.namespaces.includes(pod.metadata.namespace ?? 'default') &&
    matches(fromLabelSelector(term.selector), pod.metadata.labels)
  );
}

/** For each term, the nodes (not being drained) running a live pod it selects, from pods in memory. */
function antiAffinityFromPods(
  terms: readonly AntiAffinityTerm[],
  pods: readonly Pod[],
  draining: ReadonlySet<string>,
  moving: ReadonlySet<string | undefined>,
): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const t of terms) out.set(t.key, new Set());
  for (const p of pods) {
    const n = p.spec?.nodeName;
    if (!n || draining.has(n) || isFinished(p) || moving.has(p.metadata.uid)) continue;
    for (const t of terms) if (termMatches(t, p)) out.get(t.key)?.add(n);
  }
  return out;
}

function antiAffinityConflict(
  pod: Pod,
  node: Node,
  matched: ReadonlyMap<string, ReadonlySet<string>>,
  nodes: readonly Node[],
): boolean {
  const terms = pod.spec?.affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution ?? [];
  for (const t of terms) {
    const value = node.metadata.labels?.[t.topologyKey];
    if (value === undefined) continue;
    const on = matched.get(termOf(t, pod.metadata.namespace ?? 'default').key);
    if (!on) continue;
    for (const other of nodes)
      if (other.metadata.labels?.[t.topologyKey] === value && on.has(other.metadata.name ?? '')) return true;
  }
  return false;
}

function fitError(total: number, counts: Map<string, number>): string {
  // kube-scheduler's FitError sorts the "N reason" strings.
  const parts = [...counts.entries()]
    .map(([why, n]) => {
      if (why.startsWith('Insufficient')) return `${n} ${why}`;
      if (why === 'unschedulable') return `${n} node(s) were unschedulable`;
      if (why === 'not-ready') return `${n} node(s) were not ready`;
      if (why === 'affinity') return `${n} node(s) didn't match Pod's node affinity/selector`;
      if (why === 'anti-affinity') return `${n} node(s) didn't match pod anti-affinity rules`;
      return `${n} node(s) had untolerated taint ${why}`;
    })
    .sort();
  return `0/${total} nodes are available: ${parts.join(', ')}`;
}

/** Recreated elsewhere by its controller (kubectl's "managed" pods, minus DaemonSets and finished pods). */
function isRecreated(pod: Pod): boolean {
  const c = controllerOf(pod);
  return c !== undefined && c.kind !== 'DaemonSet' && !isFinished(pod) && c.kind !== 'Node';
}

/**
 * Places the pods to move on the remaining nodes, largest first, each on the feasible node with
 * the most free cpu (the scheduler's least-allocated scoring, roughly). Returns the chosen node or
 * a scheduler-style reason per pod (by uid). Requests on the nodes and anti-affinity matches come
 * from `usage` and `antiAffinity` when given, from `pods` (every pod of the cluster) otherwise.
 */
export function predictPlacement(
  moving: readonly Pod[],
  input: Pick<PreflightInput, 'nodes' | 'draining' | 'pods' | 'usage' | 'antiAffinity'> & {
    pdbs?: readonly PodDisruptionBudget[];
  },
): Map<string, { node: string } | { none: string }> {
  const draining = new Set(input.draining);
  const terms = antiAffinityTerms(moving);
  const requested = (input.usage ?? usageOf(input.pods, input.pdbs ?? [])).requested;
  const matched = new Map<string, Set<string>>();
  const given = input.usage
    ? input.antiAffinity
    : antiAffinityFromPods(terms, input.pods, draining, new Set(moving.map((p) => p.metadata.uid)));
  for (const t of terms) matched.set(t.key, new Set(given?.get(t.key) ?? []));
  const candidates: Candidate[] = input.nodes
    .filter((n) => !draining.has(n.metadata.name ?? ''))
    .map((node) => {
      const free = parseResources(node.status?.allocatable);
      for (const [k, v] of Object.entries(requested.get(node.metadata.name ?? '') ?? {}))
        free[k] = (free[k] ?? 0) - v;
      return { node, free };
    });
  const order = [...moving].sort(
    (a, b) =>
      (placementNeeds(b)['cpu'] ?? 0) - (placementNeeds(a)['cpu'] ?? 0) ||
      (placementNeeds(b)['memory'] ?? 0) - (placementNeeds(a)['memory'] ?? 0),
  );
  const out = new Map<string, { node: string } | { none: string }>();
  const total = input.nodes.length;
  for (const pod of order) {
    const req = placementNeeds(pod);
    const counts = new Map<string, number>();
    for (const name of input.draining)
      if (input.nodes.some((n) => n.metadata.name === name))
        counts.set('unschedulable', (counts.get('unschedulable') ?? 0) + 1);
    let best: Candidate | undefined;
    for (const c of candidates) {
      let why: Refusal | undefined;
      const taint = findUntoleratedTaint(
        c.node.spec?.taints,
        pod.spec?.tolerations,
        (t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute',
      );
      if (c.node.spec?.unschedulable) why = 'unschedulable';
      else if (nodeReadyStatus(c.node) !== 'True') why = 'not-ready';
      else if (taint) why = `{${taint.key}: ${taint.value ?? ''}}` as Refusal;
      else if (!podMatchesNodeAffinity(pod, c.node)) why = 'affinity';
      else if (antiAffinityConflict(pod, c.node, matched, input.nodes)) why = 'anti-affinity';
      else {
        const short = Object.entries(req).find(([k, v]) => v > 0 && (c.free[k] ?? 0) < v);
        if (short) why = `Insufficient ${short[0]}`;
      }
      if (why !== undefined) {
        counts.set(why, (counts.get(why) ?? 0) + 1);
        continue;
      }
      if (best === undefined || (c.free['cpu'] ?? 0) > (best.free['cpu'] ?? 0)) best = c;
    }
    const uid = pod.metadata.uid ?? podKey(podRef(pod));
    if (best === undefined) {
      out.set(uid, { none: fitError(total, counts) });
      continue;
    }
    for (const [k, v] of Object.entries(req)) best.free[k] = (best.free[k] ?? 0) - v;
    const name = best.node.metadata.name ?? '';
    // The placed replacement counts for the terms of the pods placed after it.
    for (const t of terms) if (termMatches(t, pod)) matched.get(t.key)?.add(name);
    out.set(uid, { node: name });
  }
  return out;
}

function describeRequests(pod: Pod): string {
  const r = placementNeeds(pod);
  const parts = Object.entries(r)
    .filter(([k]) => k !== 'pods')
    .map(([k, v]) => `${k} ${formatResource(k, v)}`);
  return parts.length > 0 ? parts.join(', ') : 'no requests';
}

function isIgnored(ignore: ReadonlySet<PreflightCheck> | 'all', check: PreflightCheck): boolean {
  return ignore === 'all' || ignore.has(check);
}

/** Runs the pre-flight for one node. */
export function preflight(input: PreflightInput): PreflightResult {
  const podsByUid = new Map<string, Pod>();
  for (const p of input.pods) podsByUid.set(p.metadata.uid ?? '', p);
  const removed = input.verdicts
    .filter((v) => v.action === 'evict')
    .map((v) => podsByUid.get(v.pod.uid))
    .filter((p): p is Pod => p !== undefined);
  const skipped = input.options.skip ?? [];
  const skips = (check: PreflightCheck): boolean => skipped.some((x) => x.checks.includes(check));
  const placements = skips('unschedulable')
    ? new Map<string, { node: string } | { none: string }>()
    : predictPlacement(removed.filter(isRecreated), input);
  const usage = input.usage ?? usageOf(input.pods, input.pdbs);
  const predictions: PodPrediction[] = [];
  let longestGrace = 0;
  for (const v of input.verdicts) {
    const pod = podsByUid.get(v.pod.uid);
    if (v.action !== 'evict' || pod === undefined) {
      predictions.push({
        pod: v.pod,
        action: v.action === 'evict' ? 'evict' : v.action,
        reason: v.message ?? '',
        blockers: [],
        waits: [],
      });
      continue;
    }
    const action = input.options.disableEviction ? 'delete' : 'evict';
    const blockers: Blocker[] = [];
    const waits: string[] = [];
    const ctrl = controllerOf(pod);
    const reasons: string[] = [ctrl ? `${ctrl.kind} ${ctrl.name}` : 'no controller'];
    let budget: BudgetNumbers | undefined;
    const grace =
      input.options.gracePeriodSeconds >= 0
        ? input.options.gracePeriodSeconds
        : (pod.spec?.terminationGracePeriodSeconds ?? 30);
    longestGrace = Math.max(longestGrace, grace);

    const denied = input.options.forbidden?.get(pod.metadata.namespace ?? 'default');
    if (denied !== undefined) {
      blockers.push({
        check: 'forbidden',
        message: denied,
        hint: 'Ask your cluster admin for that permission (kubectl drain needs it too); nothing was changed.',
      });
    }

    const optOut = evictionOptOut(pod);
    if (optOut) {
      blockers.push({
        check: 'opt-out',
        message: `pod opts out of eviction (${optOut})`,
        hint: 'Move it yourself, remove the annotation, or pass --ignore-preflight-errors=opt-out to evict it anyway.',
      });
    }

    if (!input.options.disableEviction && !ignoresBudget(pod)) {
      const covering = budgetsFor(pod, input.pdbs);
      if (covering.length > 1) {
        blockers.push({
          check: 'multiple-pdbs',
          message: `pod is covered by ${covering.length} PodDisruptionBudgets (${covering.map((b) => b.metadata.name).join(', ')}); the eviction API refuses such pods`,
          hint: 'Make the budgets select disjoint pods, or use --disable-eviction (deletes without checking budgets).',
        });
      } else if (covering.length === 1 && covering[0]) {
        const key = keyOf(covering[0]);
        budget = budgetNumbers(
          covering[0],
          usage.covered.get(key) ?? input.pods,
          heldEntries(usage.held.get(key), input.now),
        );
        const ready = isPodReady(pod);
        const unhealthyAllowed =
          !ready &&
          (budget.unhealthyPodEvictionPolicy === 'AlwaysAllow' ||
            (budget.currentHealthy >= budget.desiredHealthy && budget.desiredHealthy > 0));
        reasons.push(`${budget.spec}, ${budget.disruptionsAllowed} allowed now`);
        if (unhealthyAllowed) {
          waits.push(
            `not Ready, so ${budget.namespace}/${budget.name} lets it go (${budget.unhealthyPodEvictionPolicy})`,
          );
        } else if (budget.maxAllowed <= 0) {
          blockers.push({
            check: 'pdb-never-allows',
            message: `${describeBudget(budget)}: it can never allow this eviction, even with every pod healthy`,
            hint: `Scale the workload up or relax the budget; --disable-eviction deletes without checking budgets.`,
          });
        } else if (budget.disruptionsAllowed <= 0) {
          waits.push(`${describeBudget(budget)}; the eviction waits until a replacement is Ready`);
        }
      }
    } else if (input.options.disableEviction) {
      const covering = budgetsFor(pod, input.pdbs);
      if (covering.length > 0)
        waits.push(
          `deleted without checking ${covering.map((b) => `PodDisruptionBudget ${b.metadata.namespace}/${b.metadata.name}`).join(', ')}`,
        );
    }

    let placement: PodPrediction['placement'];
    if (isRecreated(pod)) {
      placement = placements.get(pod.metadata.uid ?? podKey(podRef(pod)));
      if (placement && 'none' in placement) {
        blockers.push({
          check: 'unschedulable',
          message: `its replacement (${describeRequests(pod)}) fits on no remaining node: ${placement.none}`,
          hint: 'Add capacity or uncordon a node; --ignore-preflight-errors=unschedulable drains anyway (the replacement stays Pending).',
        });
      } else if (placement) reasons.push(`replacement fits on ${placement.node}`);
    } else if (!isFinished(pod)) {
      reasons.push('not recreated by anything');
    }
    predictions.push({
      pod: v.pod,
      action,
      reason: reasons.join('; '),
      ...(budget ? { budget } : {}),
      ...(placement ? { placement } : {}),
      blockers,
      waits,
    });
  }
  const all = predictions.flatMap((p) => p.blockers.map((b) => ({ pod: p.pod, blocker: b })));
  return {
    node: input.node,
    predictions,
    blockers: all.filter((b) => !isIgnored(input.options.ignore, b.blocker.check)),
    ignored: all.filter((b) => isIgnored(input.options.ignore, b.blocker.check)),
    skipped: [...skipped],
    longestGraceSeconds: longestGrace,
  };
}
