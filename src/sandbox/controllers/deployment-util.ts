// The Deployment controller's arithmetic (pkg/controller/deployment/util): surge and
// unavailability fenceposts, how far the new ReplicaSet may scale up, template equality ignoring
// pod-template-hash, revisions, the status it computes and the Available/Progressing conditions
// with SetDeploymentCondition's rules. Pure: the time is passed in.
import { defaultPodSpec } from '../apiserver/defaults.ts';
import { scaledIntOrPercent } from '../../kube/pods.ts';
import type { Deployment, PodTemplateSpec, ReplicaSet } from '../apiserver/types.ts';
import { canonicalJson } from './hash.ts';

/** The label (and selector key) that ties a ReplicaSet's pods to its template. */
export const POD_TEMPLATE_HASH = 'pod-template-hash';
/** Annotations the Deployment controller writes. */
export const ANNOTATIONS = {
  revision: 'deployment.kubernetes.io/revision',
  revisionHistory: 'deployment.kubernetes.io/revision-history',
  desiredReplicas: 'deployment.kubernetes.io/desired-replicas',
  maxReplicas: 'deployment.kubernetes.io/max-replicas',
} as const;

/** Deployment annotations that are never copied to its ReplicaSets (annotationsToSkip). */
export const SKIPPED_ANNOTATIONS = new Set<string>([
  'kubectl.kubernetes.io/last-applied-configuration',
  ANNOTATIONS.revision,
  ANNOTATIONS.revisionHistory,
  ANNOTATIONS.desiredReplicas,
  ANNOTATIONS.maxReplicas,
  'deprecated.deployment.rollback.to',
]);

/** A Deployment status condition. */
export type DeploymentCondition = NonNullable<NonNullable<Deployment['status']>['conditions']>[number];
/** A Deployment status. */
export type DeploymentStatus = NonNullable<Deployment['status']>;

const replicasOf = (d: Deployment): number => d.spec.replicas ?? 1;
const rsReplicas = (rs: ReplicaSet): number => rs.spec.replicas ?? 1;

/** Is the strategy RollingUpdate (the default)? */
export function isRollingUpdate(d: Deployment): boolean {
  return (d.spec.strategy?.type ?? 'RollingUpdate') === 'RollingUpdate';
}

/** ResolveFenceposts: maxSurge rounded up, maxUnavailable rounded down; both 0 means 1 unavailable. */
export function resolveFenceposts(
  maxSurge: number | string | undefined,
  maxUnavailable: number | string | undefined,
  desired: number,
): { surge: number; unavailable: number } {
  const s = scaledIntOrPercent(maxSurge ?? '25%', desired, true);
  const u = scaledIntOrPercent(maxUnavailable ?? '25%', desired, false);
  const surge = s.ok ? s.value : 0;
  let unavailable = u.ok ? u.value : 0;
  if (surge === 0 && unavailable === 0) unavailable = 1;
  return { surge, unavailable };
}

/** MaxSurge: 0 for Recreate. */
export function maxSurge(d: Deployment): number {
  if (!isRollingUpdate(d)) return 0;
  const ru = d.spec.strategy?.rollingUpdate;
  return resolveFenceposts(ru?.maxSurge, ru?.maxUnavailable, replicasOf(d)).surge;
}

/** MaxUnavailable: 0 for Recreate or 0 replicas, at most spec.replicas. */
export function maxUnavailable(d: Deployment): number {
  const replicas = replicasOf(d);
  if (!isRollingUpdate(d) || replicas === 0) return 0;
  const ru = d.spec.strategy?.rollingUpdate;
  return Math.min(resolveFenceposts(ru?.maxSurge, ru?.maxUnavailable, replicas).unavailable, replicas);
}

/** NewRSNewReplicas: how many replicas the new ReplicaSet may have now. */
export function newRSNewReplicas(d: Deployment, allRSs: readonly ReplicaSet[], newRS: ReplicaSet): number {
  if (!isRollingUpdate(d)) return replicasOf(d);
  const current = allRSs.reduce((n, rs) => n + rsReplicas(rs), 0);
  const maxTotal = replicasOf(d) + maxSurge(d);
  if (current >= maxTotal) return rsReplicas(newRS);
  const up = Math.min(maxTotal - current, replicasOf(d) - rsReplicas(newRS));
  return rsReplicas(newRS) + up;
}

/** A template as the API would store it (defaulted), without the pod-template-hash label. */
export function normalizedTemplate(t: PodTemplateSpec): PodTemplateSpec {
  const c = structuredClone(t);
  defaultPodSpec(c.spec);
  const labels = { ...(c.metadata?.labels ?? {}) };
  delete labels[POD_TEMPLATE_HASH];
  c.metadata = { ...(c.metadata ?? {}), labels };
  return c;
}

/** EqualIgnoreHash: are two pod templates equal once pod-template-hash is ignored? */
export function equalIgnoreHash(a: PodTemplateSpec, b: PodTemplateSpec): boolean {
  return canonicalJson(normalizedTemplate(a)) === canonicalJson(normalizedTemplate(b));
}

/** The revision annotation of a ReplicaSet as a number (0 when absent). */
export function revisionOf(rs: { metadata: { annotations?: Record<string, string> } }): number {
  const v = Number(rs.metadata.annotations?.[ANNOTATIONS.revision] ?? '0');
  return Number.isFinite(v) ? v : 0;
}

/** The highest revision among the ReplicaSets. */
export function maxRevision(rss: readonly ReplicaSet[]): number {
  return rss.reduce((m, rs) => Math.max(m, revisionOf(rs)), 0);
}

/** NewDeploymentCondition: lastUpdateTime and lastTransitionTime now. */
export function newCondition(
  type: string,
  status: 'True' | 'False' | 'Unknown',
  reason: string,
  message: string,
  now: string,
): DeploymentCondition {
  return { type, status, lastUpdateTime: now, lastTransitionTime: now, reason, message };
}

/** The condition of this type. */
export function getCondition(
  status: DeploymentStatus | undefined,
  type: string,
): DeploymentCondition | undefined {
  return status?.conditions?.find((c) => c.type === type);
}

/**
 * SetDeploymentCondition: nothing changes when status and reason are the same; the transition
 * time is kept when the status is; the condition moves to the end of the list.
 */
export function setCondition(status: DeploymentStatus, c: DeploymentCondition): void {
  const cur = getCondition(status, c.type);
  if (cur && cur.status === c.status && cur.reason === c.reason) return;
  const next = cur && cur.status === c.status ? { ...c, lastTransitionTime: cur.lastTransitionTime } : c;
  status.conditions = [...(status.conditions ?? []).filter((x) => x.type !== c.type), next];
}

/** RemoveDeploymentCondition. */
export function removeCondition(status: DeploymentStatus, type: string): void {
  const kept = (status.conditions ?? []).filter((c) => c.type !== type);
  if (kept.length > 0) status.conditions = kept;
  else delete status.conditions;
}

/** calculateStatus: counts over the ReplicaSets and the Available condition. */
export function calculateStatus(
  allRSs: readonly ReplicaSet[],
  newRS: ReplicaSet | undefined,
  d: Deployment,
  now: string,
): DeploymentStatus {
  const sum = (f: (rs: ReplicaSet) => number): number => allRSs.reduce((n, rs) => n + f(rs), 0);
  const available = sum((rs) => rs.status?.availableReplicas ?? 0);
  const total = sum(rsReplicas);
  const status: DeploymentStatus = {
    observedGeneration: d.metadata.generation ?? 0,
    replicas: sum((rs) => rs.status?.replicas ?? 0),
    updatedReplicas: newRS?.status?.replicas ?? 0,
    readyReplicas: sum((rs) => rs.status?.readyReplicas ?? 0),
    availableReplicas: available,
    unavailableReplicas: Math.max(0, total - available),
    ...(d.status?.['collisionCount'] !== undefined ? { collisionCount: d.status['collisionCount'] } : {}),
    ...(d.status?.conditions ? { conditions: d.status.conditions.map((c) => ({ ...c })) } : {}),
  };
  if (available >= replicasOf(d) - maxUnavailable(d)) {
    setCondition(
      status,
      newCondition(
        'Available',
        'True',
        'MinimumReplicasAvailable',
        'Deployment has minimum availability.',
        now,
      ),
    );
  } else {
    setCondition(
      status,
      newCondition(
        'Available',
        'False',
        'MinimumReplicasUnavailable',
        'Deployment does not have minimum availability.',
        now,
      ),
    );
  }
  return status;
}

/** DeploymentComplete: every replica updated and available, and the generation observed. */
export function deploymentComplete(d: Deployment, s: DeploymentStatus): boolean {
  const r = replicasOf(d);
  return (
    (s.updatedReplicas ?? 0) === r &&
    (s.replicas ?? 0) === r &&
    (s.availableReplicas ?? 0) === r &&
    (s.observedGeneration ?? 0) >= (d.metadata.generation ?? 0)
  );
}

/** DeploymentProgressing: more updated, fewer old, more ready or more available pods than before. */
export function deploymentProgressing(d: Deployment, s: DeploymentStatus): boolean {
  const old = d.status ?? {};
  const oldOld = (old.replicas ?? 0) - (old.updatedReplicas ?? 0);
  const newOld = (s.replicas ?? 0) - (s.updatedReplicas ?? 0);
  return (
    (s.updatedReplicas ?? 0) > (old.updatedReplicas ?? 0) ||
    newOld < oldOld ||
    (s.readyReplicas ?? 0) > (old.readyReplicas ?? 0) ||
    (s.availableReplicas ?? 0) > (old.availableReplicas ?? 0)
  );
}

/** progressDeadlineSeconds, or undefined when there is none (MaxInt32). */
export function progressDeadlineSeconds(d: Deployment): number | undefined {
  const v = d.spec['progressDeadlineSeconds'];
  if (typeof v !== 'number' || v >= 2147483647) return undefined;
  return v;
}

/** DeploymentTimedOut: Progressing has not been updated for progressDeadlineSeconds. */
export function deploymentTimedOut(d: Deployment, s: DeploymentStatus, now: Date): boolean {
  const deadline = progressDeadlineSeconds(d);
  if (deadline === undefined) return false;
  const c = getCondition(s, 'Progressing');
  if (!c) return false;
  if (c.reason === 'NewReplicaSetAvailable') return false;
  if (c.reason === 'ProgressDeadlineExceeded') return true;
  const from = Date.parse(c.lastUpdateTime ?? '');
  return !Number.isNaN(from) && from + deadline * 1000 < now.getTime();
}

/** Deletes the zero-valued counts that Go's omitempty leaves out. */
export function compactStatus(s: DeploymentStatus): DeploymentStatus {
  const out: DeploymentStatus = { ...s };
  for (const k of [
    'observedGeneration',
    'replicas',
    'updatedReplicas',
    'readyReplicas',
    'availableReplicas',
    'unavailableReplicas',
  ] as const) {
    if (out[k] === 0) delete out[k];
  }
  return out;
}
