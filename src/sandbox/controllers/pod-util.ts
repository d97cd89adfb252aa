// Pod predicates and orderings the workload controllers share (k8s.io/kubernetes/pkg/api/v1/pod
// and pkg/controller/controller_utils.go): terminal, active, ready, available, the ranking a
// ReplicaSet uses to pick pods to delete, conditions set the way UpdatePodCondition sets them.
// Pure: the current time is passed in. Readiness itself is kube/pods.ts's isPodReady.
import { isPodReady } from '../../kube/pods.ts';
import type { Pod } from '../apiserver/types.ts';
import type { PodCondition } from '../../kube/types.ts';

export { isPodReady };

/** Succeeded or Failed: the kubelet will not run it again. */
export function isPodTerminal(pod: Pod): boolean {
  const phase = pod.status?.phase;
  return phase === 'Succeeded' || phase === 'Failed';
}

/** Has a deletionTimestamp. */
export function isPodDeleting(pod: Pod): boolean {
  return pod.metadata.deletionTimestamp !== undefined && pod.metadata.deletionTimestamp !== null;
}

/** controller.IsPodActive: not terminal and not being deleted (an evicted, terminating pod is not active). */
export function isPodActive(pod: Pod): boolean {
  return !isPodTerminal(pod) && !isPodDeleting(pod);
}

/** The pod's condition of this type. */
export function podCondition(pod: Pod, type: string): PodCondition | undefined {
  return pod.status?.conditions?.find((c) => c.type === type);
}

/**
 * podutil.IsPodAvailable: Ready for at least minReadySeconds. Returns the milliseconds left until
 * it becomes available as `waitMs` when it is ready but not yet available.
 */
export function podAvailability(
  pod: Pod,
  minReadySeconds: number,
  now: Date,
): { available: boolean; waitMs?: number } {
  const c = podCondition(pod, 'Ready');
  if (c?.status !== 'True') return { available: false };
  if (minReadySeconds <= 0) return { available: true };
  const since = c.lastTransitionTime ? Date.parse(c.lastTransitionTime) : NaN;
  if (Number.isNaN(since)) return { available: false };
  const at = since + minReadySeconds * 1000;
  return at <= now.getTime() ? { available: true } : { available: false, waitMs: at - now.getTime() };
}

/** podutil.IsPodAvailable as a boolean. */
export function isPodAvailable(pod: Pod, minReadySeconds: number, now: Date): boolean {
  return podAvailability(pod, minReadySeconds, now).available;
}

/**
 * podutil.UpdatePodCondition: sets a condition, keeping lastTransitionTime when the status does
 * not change. Returns the new conditions and whether anything changed.
 */
export function withPodCondition(
  conditions: readonly PodCondition[] | undefined,
  want: Omit<PodCondition, 'lastTransitionTime'> & { lastTransitionTime?: string },
  now: string,
): { conditions: PodCondition[]; changed: boolean } {
  const list = [...(conditions ?? [])];
  const i = list.findIndex((c) => c.type === want.type);
  const prev = i >= 0 ? list[i] : undefined;
  const next: PodCondition = {
    ...want,
    lastProbeTime: want.lastProbeTime ?? null,
    lastTransitionTime:
      prev && prev.status === want.status
        ? (prev.lastTransitionTime ?? now)
        : (want.lastTransitionTime ?? now),
  };
  if (prev && prev.status === next.status && prev.reason === next.reason && prev.message === next.message)
    return { conditions: list, changed: false };
  if (i >= 0) list[i] = next;
  else list.push(next);
  return { conditions: list, changed: true };
}

const PHASE_RANK: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

function creation(p: Pod): number {
  const t = Date.parse(p.metadata.creationTimestamp ?? '');
  return Number.isNaN(t) ? 0 : t;
}

function readySince(p: Pod): number {
  const t = Date.parse(podCondition(p, 'Ready')?.lastTransitionTime ?? '');
  return Number.isNaN(t) ? 0 : t;
}

function restarts(p: Pod): number {
  return (p.status?.containerStatuses ?? []).reduce((n, c) => Math.max(n, c.restartCount ?? 0), 0);
}

/**
 * controller.ActivePodsWithRanks' Less: negative when a should be deleted before b. Unassigned
 * before assigned, Pending < Unknown < Running, not ready before ready, more pods of the same
 * controller on its node before fewer, ready for a shorter time first, more restarts first,
 * newer first.
 */
export function compareForDeletion(a: Pod, b: Pod, rank: (p: Pod) => number = () => 0): number {
  const aAssigned = a.spec.nodeName ? 1 : 0;
  const bAssigned = b.spec.nodeName ? 1 : 0;
  if (aAssigned !== bAssigned) return aAssigned - bAssigned;
  const aPhase = PHASE_RANK[a.status?.phase ?? 'Pending'] ?? 0;
  const bPhase = PHASE_RANK[b.status?.phase ?? 'Pending'] ?? 0;
  if (aPhase !== bPhase) return aPhase - bPhase;
  const aReady = isPodReady(a) ? 1 : 0;
  const bReady = isPodReady(b) ? 1 : 0;
  if (aReady !== bReady) return aReady - bReady;
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return rb - ra;
  if (aReady === 1) {
    const ta = readySince(a);
    const tb = readySince(b);
    if (ta !== tb) return tb - ta;
  }
  const rsa = restarts(a);
  const rsb = restarts(b);
  if (rsa !== rsb) return rsb - rsa;
  return creation(b) - creation(a);
}

/** Orders by creation time, oldest first, then by name (a stable order for "keep the oldest"). */
export function compareByCreation(
  a: Pod | { metadata: Pod['metadata'] },
  b: Pod | { metadata: Pod['metadata'] },
): number {
  const ta = Date.parse(a.metadata.creationTimestamp ?? '') || 0;
  const tb = Date.parse(b.metadata.creationTimestamp ?? '') || 0;
  if (ta !== tb) return ta - tb;
  const na = a.metadata.name ?? '';
  const nb = b.metadata.name ?? '';
  return na < nb ? -1 : na > nb ? 1 : 0;
}
