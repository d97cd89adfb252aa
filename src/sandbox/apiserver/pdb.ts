// PodDisruptionBudget arithmetic shared by the eviction subresource and the disruption
// controller (pkg/controller/disruption, component-helpers/apps/poddisruptionbudget). Pure.
import type { PodDisruptionBudget } from './types.ts';

/** How long an eviction's entry in status.disruptedPods holds a pod out of currentHealthy (2 min). */
export const DELETION_TIMEOUT_MS = 2 * 60 * 1000;

type Conditions = NonNullable<NonNullable<PodDisruptionBudget['status']>['conditions']>;

/** pdbhelper.UpdateDisruptionAllowedCondition, with apimeta.SetStatusCondition's transition time. */
export function withDisruptionAllowedCondition(
  status: NonNullable<PodDisruptionBudget['status']>,
  now: string,
  syncFailed?: string,
): Conditions {
  const conds = [...(status.conditions ?? [])];
  const want = syncFailed
    ? { type: 'DisruptionAllowed', status: 'False', reason: 'SyncFailed', message: syncFailed }
    : status.disruptionsAllowed > 0
      ? { type: 'DisruptionAllowed', status: 'True', reason: 'SufficientPods', message: '' }
      : { type: 'DisruptionAllowed', status: 'False', reason: 'InsufficientPods', message: '' };
  const i = conds.findIndex((c) => c.type === 'DisruptionAllowed');
  const prev = i >= 0 ? conds[i] : undefined;
  const next = {
    ...want,
    observedGeneration: status.observedGeneration ?? 0,
    lastTransitionTime: prev && prev.status === want.status ? (prev.lastTransitionTime ?? now) : now,
  };
  if (i >= 0) conds[i] = next;
  else conds.push(next);
  return conds;
}

/** The eviction handler's verdict on one PDB (checkAndDecrement). */
export type EvictionVerdict =
  | { kind: 'processing' }
  | { kind: 'forbidden'; message: string }
  | { kind: 'blocked'; message: string }
  | { kind: 'ok'; next: PodDisruptionBudget };

/** checkAndDecrement: may this eviction proceed, and the PDB as it must be written if so. */
export function computePdbStatusForEviction(
  pdb: PodDisruptionBudget,
  podName: string,
  now: string,
): EvictionVerdict {
  const st = pdb.status ?? { disruptionsAllowed: 0, currentHealthy: 0, desiredHealthy: 0, expectedPods: 0 };
  if ((st.observedGeneration ?? 0) < (pdb.metadata.generation ?? 0)) return { kind: 'processing' };
  if (st.disruptionsAllowed < 0) return { kind: 'forbidden', message: 'pdb disruptions allowed is negative' };
  if (Object.keys(st.disruptedPods ?? {}).length > 2000) {
    return {
      kind: 'forbidden',
      message: 'DisruptedPods map too big - too many evictions not confirmed by PDB controller',
    };
  }
  if (st.disruptionsAllowed === 0) {
    return {
      kind: 'blocked',
      message: `The disruption budget ${pdb.metadata.name ?? ''} needs ${st.desiredHealthy} healthy pods and has ${st.currentHealthy} currently`,
    };
  }
  const status = {
    ...st,
    disruptionsAllowed: st.disruptionsAllowed - 1,
    disruptedPods: { ...(st.disruptedPods ?? {}), [podName]: now },
  };
  if (status.disruptionsAllowed === 0) status.conditions = withDisruptionAllowedCondition(status, now);
  return { kind: 'ok', next: { ...pdb, status } };
}
