// The default scheduler's verdicts as pure functions: a pod's effective requests, the Filter
// plugins of the default profile in their order (NodeUnschedulable, TaintToleration, NodeAffinity,
// NodeResourcesFit; taints and node affinity are kube/scheduling.ts, shared with bosun), the
// FailedScheduling message kube-scheduler writes, and the scores used to pick a node
// (NodeResourcesFit LeastAllocated, BalancedAllocation, spreading of a controller's pods,
// PreferNoSchedule taints). Pure: no I/O, no clock, no API; callers pass the cluster state in.
import type { Node, Pod } from '../apiserver/types.ts';
import type { Taint } from '../../kube/types.ts';
import { podRequests as requestsOf } from '../../kube/pods.ts';
import { parseQuantity } from '../../kube/quantity.ts';
import {
  findUntoleratedTaint,
  podMatchesNodeAffinity,
  tolerationsTolerateTaint,
} from '../../kube/scheduling.ts';

/** A cpu quantity in millicores, rounded up as Quantity.MilliValue does (0 when absent or malformed). */
export function milliCpu(q: string | number | undefined): number {
  const v = parseQuantity(q);
  return v === undefined ? 0 : Math.ceil(Math.round(v * 1e9) / 1e6);
}

/** A memory (or count) quantity in base units, rounded up (0 when absent or malformed). */
export function quantityValue(q: string | number | undefined): number {
  const v = parseQuantity(q);
  return v === undefined ? 0 : Math.ceil(v);
}

/** Requested cpu (millicores) and memory (bytes). */
export interface Resources {
  milliCpu: number;
  memory: number;
}

/** The scheduler's defaults for a container that requests nothing (schedutil.DefaultMilliCPURequest / DefaultMemoryRequest), used for scoring only. */
export const DEFAULT_MILLI_CPU_REQUEST = 100;
/** 200 MiB. */
export const DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024;

const NON_MISSING = { cpu: DEFAULT_MILLI_CPU_REQUEST / 1000, memory: DEFAULT_MEMORY_REQUEST };

/**
 * kube/pods.ts podRequests (resource.PodRequests) in the scheduler's units: cpu in millicores and
 * memory in bytes, each total rounded up as Quantity.MilliValue / Value round. With nonZero, a
 * container (init containers included, as NonMissingContainerRequests applies to both) without a
 * request counts as 100m / 200Mi (what the scoring plugins use).
 */
export function podRequests(pod: Pod, nonZero = false): Resources {
  const r = requestsOf(pod, nonZero ? { nonMissing: NON_MISSING } : {});
  return { milliCpu: milliCpu(r['cpu']), memory: quantityValue(r['memory']) };
}

/** A node's allocatable cpu (millicores), memory (bytes) and pod count. */
export interface Allocatable extends Resources {
  pods: number;
}

/** status.allocatable (falling back to capacity, as the scheduler's NodeInfo does when unset). */
export function nodeAllocatable(node: Node): Allocatable {
  const a = node.status?.allocatable ?? node.status?.capacity ?? {};
  return { milliCpu: milliCpu(a.cpu), memory: quantityValue(a.memory), pods: quantityValue(a.pods) };
}

/** What is already placed on a node: the sum of requests of its non-terminal pods and their count. */
export interface NodeUsage extends Resources {
  pods: number;
  /** The same sums with 100m / 200Mi for containers that request nothing (for scoring). */
  nonZeroMilliCpu: number;
  nonZeroMemory: number;
}

/** An empty usage. */
export function emptyUsage(): NodeUsage {
  return { milliCpu: 0, memory: 0, pods: 0, nonZeroMilliCpu: 0, nonZeroMemory: 0 };
}

/** Well-known taint keys (k8s.io/api/core/v1 well_known_taints.go). */
export const TAINTS = {
  notReady: 'node.kubernetes.io/not-ready',
  unreachable: 'node.kubernetes.io/unreachable',
  unschedulable: 'node.kubernetes.io/unschedulable',
  memoryPressure: 'node.kubernetes.io/memory-pressure',
  diskPressure: 'node.kubernetes.io/disk-pressure',
  pidPressure: 'node.kubernetes.io/pid-pressure',
  networkUnavailable: 'node.kubernetes.io/network-unavailable',
} as const;

/** The Filter reasons, worded as the plugins word them. */
export const FILTER_REASONS = {
  unschedulable: 'node(s) were unschedulable',
  nodeAffinity: "node(s) didn't match Pod's node affinity/selector",
  tooManyPods: 'Too many pods',
  insufficientCpu: 'Insufficient cpu',
  insufficientMemory: 'Insufficient memory',
  /** tainttoleration: `node(s) had untolerated taint {key: value}`. */
  untoleratedTaint: (t: Taint): string => `node(s) had untolerated taint {${t.key}: ${t.value ?? ''}}`,
} as const;

/** One node's Filter verdict. */
export type FilterVerdict =
  | { fits: true }
  | {
      fits: false;
      /** The failing plugin. */
      plugin: 'NodeUnschedulable' | 'TaintToleration' | 'NodeAffinity' | 'NodeResourcesFit';
      reasons: string[];
      /** UnschedulableAndUnresolvable: preemption cannot help on this node. */
      unresolvable: boolean;
    };

/**
 * Runs the default profile's Filter plugins in order and stops at the first failure, as the
 * framework does. usage is what is already on the node (non-terminal pods, terminating ones
 * included); request is podRequests(pod).
 */
export function filterNode(
  pod: Pod,
  node: Node,
  usage: NodeUsage,
  request: Resources = podRequests(pod),
): FilterVerdict {
  const tolerations = pod.spec.tolerations;
  if (
    node.spec?.unschedulable === true &&
    !tolerationsTolerateTaint(tolerations, { key: TAINTS.unschedulable, effect: 'NoSchedule' })
  ) {
    return {
      fits: false,
      plugin: 'NodeUnschedulable',
      reasons: [FILTER_REASONS.unschedulable],
      unresolvable: true,
    };
  }
  const taint = findUntoleratedTaint(
    node.spec?.taints,
    tolerations,
    (t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute',
  );
  if (taint)
    return {
      fits: false,
      plugin: 'TaintToleration',
      reasons: [FILTER_REASONS.untoleratedTaint(taint)],
      unresolvable: true,
    };
  if (!podMatchesNodeAffinity(pod, node))
    return {
      fits: false,
      plugin: 'NodeAffinity',
      reasons: [FILTER_REASONS.nodeAffinity],
      unresolvable: true,
    };
  const alloc = nodeAllocatable(node);
  const reasons: string[] = [];
  if (usage.pods + 1 > alloc.pods) reasons.push(FILTER_REASONS.tooManyPods);
  if (request.milliCpu > 0 || request.memory > 0) {
    if (request.milliCpu > 0 && request.milliCpu > alloc.milliCpu - usage.milliCpu)
      reasons.push(FILTER_REASONS.insufficientCpu);
    if (request.memory > 0 && request.memory > alloc.memory - usage.memory)
      reasons.push(FILTER_REASONS.insufficientMemory);
  }
  if (reasons.length > 0) return { fits: false, plugin: 'NodeResourcesFit', reasons, unresolvable: false };
  return { fits: true };
}

function histogram(reasons: Iterable<string>): string {
  const counts = new Map<string, number>();
  for (const r of reasons) counts.set(r, (counts.get(r) ?? 0) + 1);
  // Go's sort.Strings over "<count> <reason>": byte order, so "10 x" sorts before "3 y".
  return [...counts]
    .map(([r, n]) => `${n} ${r}`)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .join(', ');
}

/** kube-scheduler's message when no node has room at all (ErrNoNodesAvailable). */
export const NO_NODES_MESSAGE = 'no nodes available to schedule pods';

/**
 * framework.FitError.Error() followed by DefaultPreemption's PostFilter message, e.g.
 * `0/8 nodes are available: 3 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: },
 * 5 node(s) were unschedulable. preemption: 0/8 nodes are available: 8 Preemption is not helpful for scheduling.`
 * Preemption is not simulated: a node that failed only on resources reports that no victims were found.
 */
export function fitErrorMessage(verdicts: readonly FilterVerdict[]): string {
  const n = verdicts.length;
  if (n === 0) return NO_NODES_MESSAGE;
  const failed = verdicts.filter((v): v is Extract<FilterVerdict, { fits: false }> => !v.fits);
  const filterMsg = histogram(failed.flatMap((v) => v.reasons));
  const preemption = histogram(
    failed.map((v) =>
      v.unresolvable
        ? 'Preemption is not helpful for scheduling'
        : 'No preemption victims found for incoming pod',
    ),
  );
  return `0/${n} nodes are available: ${filterMsg}. preemption: 0/${n} nodes are available: ${preemption}.`;
}

/** What the scorer needs to know about one feasible node. */
export interface ScoreInput {
  node: Node;
  usage: NodeUsage;
  /** Pods of the same controller already on the node (PodTopologySpread's system default, by hostname). */
  sameOwnerPods: number;
}

const MAX_SCORE = 100;

function leastAllocated(requested: number, capacity: number): number {
  if (capacity <= 0 || requested > capacity) return 0;
  return ((capacity - requested) * MAX_SCORE) / capacity;
}

/**
 * Scores feasible nodes as the default profile weighs them: NodeResourcesFit LeastAllocated (1),
 * NodeResourcesBalancedAllocation (1), PodTopologySpread's hostname default (2) and
 * TaintToleration's PreferNoSchedule count (3). Higher is better; one score per input, in order.
 */
export function scoreNodes(pod: Pod, inputs: readonly ScoreInput[]): number[] {
  const req = podRequests(pod, true);
  const spreadCounts = inputs.map((i) => i.sameOwnerPods);
  const minSpread = Math.min(...spreadCounts);
  const maxSpread = Math.max(...spreadCounts);
  const prefer = inputs.map(
    (i) =>
      (i.node.spec?.taints ?? []).filter(
        (t) => t.effect === 'PreferNoSchedule' && !tolerationsTolerateTaint(pod.spec.tolerations, t),
      ).length,
  );
  const maxPrefer = Math.max(0, ...prefer);
  return inputs.map((i, idx) => {
    const alloc = nodeAllocatable(i.node);
    const cpuReq = i.usage.nonZeroMilliCpu + req.milliCpu;
    const memReq = i.usage.nonZeroMemory + req.memory;
    const least = (leastAllocated(cpuReq, alloc.milliCpu) + leastAllocated(memReq, alloc.memory)) / 2;
    const cpuFrac = alloc.milliCpu > 0 ? Math.min(cpuReq / alloc.milliCpu, 1) : 1;
    const memFrac = alloc.memory > 0 ? Math.min(memReq / alloc.memory, 1) : 1;
    const balanced = (1 - Math.abs(cpuFrac - memFrac) / 2) * MAX_SCORE;
    const spread =
      maxSpread === minSpread
        ? MAX_SCORE
        : ((maxSpread - (spreadCounts[idx] ?? 0)) * MAX_SCORE) / (maxSpread - minSpread);
    const taints = maxPrefer === 0 ? MAX_SCORE : ((maxPrefer - (prefer[idx] ?? 0)) * MAX_SCORE) / maxPrefer;
    return least + balanced + 2 * spread + 3 * taints;
  });
}
