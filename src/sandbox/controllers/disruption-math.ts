// The disruption controller's arithmetic (pkg/controller/disruption/disruption.go): how many pods
// a PodDisruptionBudget expects (getExpectedPodCount / getExpectedScale), how many of them are
// healthy (countHealthyPods), which status.disruptedPods entries still hold (buildDisruptedPodMap)
// and the status it writes (updatePdbStatus, with pdbhelper's DisruptionAllowed condition).
// Pure: the pods, the controllers' scales and the time are passed in.
import { controllerOf, isPodReady, scaledIntOrPercent } from '../../kube/pods.ts';
import { DELETION_TIMEOUT_MS, withDisruptionAllowedCondition } from '../apiserver/pdb.ts';
import type { Pod, PodDisruptionBudget } from '../apiserver/types.ts';
import type { LabelSelector, OwnerReference } from '../../kube/types.ts';

/** The scale of the controller a pod's controllerRef names, or why it cannot be found. */
export type ScaleVerdict =
  /** Found: its uid (so several pods of one controller count once) and spec.replicas. */
  | { uid: string; scale: number }
  /** This finder does not know the controller (the next one is tried). */
  | null
  /** A hard error (e.g. "daemonsets.apps does not implement the scale subresource"). */
  | { error: string };

/** Looks up the controller of a pod (the controller's finders, in kube's order). */
export type ScaleFinder = (ref: OwnerReference, namespace: string) => ScaleVerdict;

/** getExpectedPodCount's result. */
export type ExpectedCount =
  | { ok: true; expectedCount: number; desiredHealthy: number; unmanagedPods: string[] }
  | { ok: false; error: string };

function isError(v: ScaleVerdict): v is { error: string } {
  return v !== null && 'error' in v;
}

/** getExpectedScale: the sum of the scales of the controllers of the pods; pods without a controllerRef are unmanaged. */
export function expectedScale(
  pods: readonly Pod[],
  find: ScaleFinder,
): { ok: true; expectedCount: number; unmanagedPods: string[] } | { ok: false; error: string } {
  const scales = new Map<string, number>();
  const seenRefs = new Set<string>();
  const unmanagedPods: string[] = [];
  for (const pod of pods) {
    const ref = controllerOf(pod);
    if (!ref) {
      unmanagedPods.push(pod.metadata.name ?? '');
      continue;
    }
    if (seenRefs.has(ref.uid)) continue;
    const v = find(ref, pod.metadata.namespace ?? '');
    if (isError(v)) return { ok: false, error: v.error };
    if (v === null) return { ok: false, error: `found no controllers for pod "${pod.metadata.name ?? ''}"` };
    seenRefs.add(ref.uid);
    scales.set(v.uid, v.scale);
  }
  let expectedCount = 0;
  for (const s of scales.values()) expectedCount += s;
  return { ok: true, expectedCount, unmanagedPods };
}

/** getExpectedPodCount: expectedCount and desiredHealthy from minAvailable (int or percent) or maxUnavailable. */
export function expectedPodCount(
  pdb: PodDisruptionBudget,
  pods: readonly Pod[],
  find: ScaleFinder,
): ExpectedCount {
  const { maxUnavailable, minAvailable } = pdb.spec;
  if (maxUnavailable !== undefined && maxUnavailable !== null) {
    const s = expectedScale(pods, find);
    if (!s.ok) return s;
    const mu = scaledIntOrPercent(maxUnavailable, s.expectedCount, true);
    if (!mu.ok) return mu;
    return {
      ok: true,
      expectedCount: s.expectedCount,
      desiredHealthy: Math.max(0, s.expectedCount - mu.value),
      unmanagedPods: s.unmanagedPods,
    };
  }
  if (minAvailable !== undefined && minAvailable !== null) {
    if (typeof minAvailable === 'number')
      return { ok: true, expectedCount: pods.length, desiredHealthy: minAvailable, unmanagedPods: [] };
    const s = expectedScale(pods, find);
    if (!s.ok) return s;
    const ma = scaledIntOrPercent(minAvailable, s.expectedCount, true);
    if (!ma.ok) return ma;
    return {
      ok: true,
      expectedCount: s.expectedCount,
      desiredHealthy: ma.value,
      unmanagedPods: s.unmanagedPods,
    };
  }
  return { ok: true, expectedCount: 0, desiredHealthy: 0, unmanagedPods: [] };
}

/** buildDisruptedPodMap: entries of live, not-deleting pods younger than DeletionTimeout; the earliest expiry to recheck at. */
export function liveDisruptedPods(
  pods: readonly Pod[],
  disrupted: Record<string, string> | undefined,
  now: Date,
): { disruptedPods: Record<string, string>; recheckAt: number | undefined; expired: string[] } {
  const out: Record<string, string> = {};
  const expired: string[] = [];
  let recheckAt: number | undefined;
  if (!disrupted) return { disruptedPods: out, recheckAt, expired };
  for (const pod of pods) {
    if (pod.metadata.deletionTimestamp) continue;
    const name = pod.metadata.name ?? '';
    const at = disrupted[name];
    if (at === undefined) continue;
    const expectedDeletion = Date.parse(at) + DELETION_TIMEOUT_MS;
    if (expectedDeletion < now.getTime()) expired.push(name);
    else {
      if (recheckAt === undefined || expectedDeletion < recheckAt) recheckAt = expectedDeletion;
      out[name] = at;
    }
  }
  return { disruptedPods: out, recheckAt, expired };
}

/** countHealthyPods: Ready pods, not being deleted and not in disruptedPods. */
export function countHealthyPods(
  pods: readonly Pod[],
  disruptedPods: Record<string, string>,
  now: Date,
): number {
  let n = 0;
  for (const pod of pods) {
    if (pod.metadata.deletionTimestamp) continue;
    const at = disruptedPods[pod.metadata.name ?? ''];
    if (at !== undefined && Date.parse(at) + DELETION_TIMEOUT_MS > now.getTime()) continue;
    if (isPodReady(pod)) n++;
  }
  return n;
}

type PdbStatus = NonNullable<PodDisruptionBudget['status']>;

function sameDisrupted(a: Record<string, string> | undefined, b: Record<string, string>): boolean {
  const ka = Object.keys(a ?? {});
  if (ka.length !== Object.keys(b).length) return false;
  return ka.every((k) => a?.[k] === b[k]);
}

/** pdbhelper.ConditionsAreUpToDate. */
export function conditionsAreUpToDate(pdb: PodDisruptionBudget): boolean {
  const st = pdb.status;
  const cond = st?.conditions?.find((c) => c.type === 'DisruptionAllowed');
  if (!st || !cond) return false;
  if ((st.observedGeneration ?? 0) !== (pdb.metadata.generation ?? 0)) return false;
  if (st.disruptionsAllowed > 0) return cond.status === 'True' && cond.reason === 'SufficientPods';
  return cond.status === 'False' && cond.reason === 'InsufficientPods';
}

/**
 * updatePdbStatus: the status to write, or undefined when the stored one is already right.
 * disruptionsAllowed = max(0, currentHealthy - desiredHealthy), and 0 while no pod is expected.
 */
export function nextPdbStatus(
  pdb: PodDisruptionBudget,
  v: {
    currentHealthy: number;
    desiredHealthy: number;
    expectedCount: number;
    disruptedPods: Record<string, string>;
  },
  now: string,
): PdbStatus | undefined {
  let disruptionsAllowed = v.currentHealthy - v.desiredHealthy;
  if (v.expectedCount <= 0 || disruptionsAllowed <= 0) disruptionsAllowed = 0;
  const st = pdb.status;
  const generation = pdb.metadata.generation ?? 0;
  if (
    st &&
    st.currentHealthy === v.currentHealthy &&
    st.desiredHealthy === v.desiredHealthy &&
    st.expectedPods === v.expectedCount &&
    st.disruptionsAllowed === disruptionsAllowed &&
    sameDisrupted(st.disruptedPods, v.disruptedPods) &&
    (st.observedGeneration ?? 0) === generation &&
    conditionsAreUpToDate(pdb)
  ) {
    return undefined;
  }
  const next: PdbStatus = {
    ...(Object.keys(v.disruptedPods).length > 0 ? { disruptedPods: v.disruptedPods } : {}),
    disruptionsAllowed,
    currentHealthy: v.currentHealthy,
    desiredHealthy: v.desiredHealthy,
    expectedPods: v.expectedCount,
    observedGeneration: generation,
    ...(st?.conditions ? { conditions: st.conditions } : {}),
  };
  next.conditions = withDisruptionAllowedCondition(next, now);
  return next;
}

/** failSafe: disruptionsAllowed 0 and DisruptionAllowed=False/SyncFailed with the error; the rest unchanged. */
export function failSafeStatus(pdb: PodDisruptionBudget, error: string, now: string): PdbStatus {
  const st: PdbStatus = {
    ...(pdb.status ?? { currentHealthy: 0, desiredHealthy: 0, expectedPods: 0, disruptionsAllowed: 0 }),
    disruptionsAllowed: 0,
  };
  st.conditions = withDisruptionAllowedCondition(st, now, error);
  return st;
}

/** A metav1.LabelSelector as Go's generated String() prints it (used in the UnmanagedPods event). */
export function goLabelSelectorString(sel: LabelSelector | undefined): string {
  if (!sel) return 'nil';
  const labels = Object.keys(sel.matchLabels ?? {})
    .sort()
    .map((k) => `${k}: ${sel.matchLabels?.[k] ?? ''},`)
    .join('');
  const exprs = (sel.matchExpressions ?? [])
    .map(
      (e) =>
        `LabelSelectorRequirement{Key:${e.key},Operator:${e.operator},Values:[${(e.values ?? []).join(' ')}],},`,
    )
    .join('');
  return `&LabelSelector{MatchLabels:map[string]string{${labels}},MatchExpressions:[]LabelSelectorRequirement{${exprs}},}`;
}
