// What Kubernetes itself says about a pod, written once for the drain, its pre-flight, the maintain
// workflow and the sandbox's API server and controllers: is it Ready (podutil.IsPodReady), which
// owner controls it (metav1.GetControllerOf), is it a static pod's mirror, what does it request
// (component-helpers resource.PodRequests, as the scheduler computes it), and an int-or-percent
// scaled to a total (intstr.GetScaledValueFromIntOrPercent, for PDBs, Deployments and DaemonSets).
// Each function takes the part of kube/types.ts's objects it reads (a Pick), which the sandbox's
// server-side types narrow, so both pass. Pure: no I/O, no Node built-ins.
import { parseQuantity } from './quantity.ts';
import type { Container, KubeObject, OwnerReference, Pod } from './types.ts';

/** Set by the kubelet on the mirror pod of a static pod (corev1.MirrorPodAnnotationKey). */
export const MIRROR_POD_ANNOTATION = 'kubernetes.io/config.mirror';

/**
 * podutil.IsPodReady: the pod's Ready condition (the first one of that type, as GetPodCondition
 * finds it) has status True.
 */
export function isPodReady(pod: Pick<Pod, 'status'>): boolean {
  return pod.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
}

/** metav1.GetControllerOf: the first owner reference with controller: true, or undefined. */
export function controllerOf(obj: Pick<KubeObject, 'metadata'>): OwnerReference | undefined {
  return obj.metadata.ownerReferences?.find((r) => r.controller === true);
}

/** A mirror pod: the API's copy of a static pod, which cannot be deleted through the API (kubectl drain skips it). */
export function isMirrorPod(obj: Pick<KubeObject, 'metadata'>): boolean {
  return obj.metadata.annotations?.[MIRROR_POD_ANNOTATION] !== undefined;
}

/** Resource name to amount in base units (cores for cpu, bytes for memory, a count otherwise). */
export type ResourceAmounts = Record<string, number>;

/** Options of {@link podRequests}. */
export interface PodRequestsOptions {
  /**
   * Amounts to assume for a container that requests nothing of a resource (the scheduler's scoring
   * uses cpu 0.1 and memory 200Mi: resource.PodResourcesOptions.NonMissingContainerRequests).
   */
  nonMissing?: ResourceAmounts;
}

function amounts(list: unknown): ResourceAmounts {
  const out: ResourceAmounts = {};
  if (typeof list !== 'object' || list === null) return out;
  for (const [k, v] of Object.entries(list)) {
    const n = typeof v === 'string' || typeof v === 'number' ? parseQuantity(v) : undefined;
    if (n !== undefined) out[k] = n;
  }
  return out;
}

function containerRequests(c: Container, nonMissing: ResourceAmounts | undefined): ResourceAmounts {
  const r = amounts(c.resources?.requests);
  for (const [k, v] of Object.entries(nonMissing ?? {})) if (!(k in r)) r[k] = v;
  return r;
}

function addInto(into: ResourceAmounts, from: ResourceAmounts): void {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
}

function maxInto(into: ResourceAmounts, from: ResourceAmounts): void {
  for (const [k, v] of Object.entries(from)) if (!(k in into) || v > (into[k] ?? 0)) into[k] = v;
}

/** Pod-level resources (spec.resources) apply to cpu, memory and hugepages-* only (IsSupportedPodLevelResource). */
function isPodLevelResource(name: string): boolean {
  return name === 'cpu' || name === 'memory' || name.startsWith('hugepages-');
}

/**
 * resource.PodRequests, as kube-scheduler computes what a pod reserves: the sum over app
 * containers and sidecars (init containers with restartPolicy Always), or the largest need of any
 * init container while it runs (itself plus the sidecars started before it) if that is larger,
 * per resource; pod-level spec.resources.requests replace the cpu, memory and hugepages sums; plus
 * spec.overhead. Amounts are in base units; a resource nobody requests is absent (not 0).
 */
export function podRequests(pod: Pick<Pod, 'spec'>, opts: PodRequestsOptions = {}): ResourceAmounts {
  const spec = pod.spec;
  const result: ResourceAmounts = {};
  for (const c of spec?.containers ?? []) addInto(result, containerRequests(c, opts.nonMissing));
  const sidecars: ResourceAmounts = {};
  const initNeed: ResourceAmounts = {};
  for (const c of spec?.initContainers ?? []) {
    const r = containerRequests(c, opts.nonMissing);
    if (c.restartPolicy === 'Always') {
      addInto(result, r);
      addInto(sidecars, r);
      maxInto(initNeed, sidecars);
    } else {
      const running = { ...r };
      addInto(running, sidecars);
      maxInto(initNeed, running);
    }
  }
  maxInto(result, initNeed);
  const podLevel = amounts(spec?.resources?.requests);
  for (const [k, v] of Object.entries(podLevel)) if (isPodLevelResource(k)) result[k] = v;
  addInto(result, amounts(spec?.overhead));
  return result;
}

/** intstr.GetScaledValueFromIntOrPercent's answer: the value, or kube's error text. */
export type ScaledValue = { ok: true; value: number } | { ok: false; error: string };

const MAX_GO_INT = 2n ** 63n - 1n;

/**
 * intstr.GetScaledValueFromIntOrPercent: an integer is itself; a string must be "N%" (N as Go's
 * strconv.Atoi reads it, sign allowed) and is N percent of total, rounded up or down. Any other
 * string is an error worded as kube words it (a plain "5" in a string is not a number to kube).
 */
export function scaledIntOrPercent(v: number | string, total: number, roundUp: boolean): ScaledValue {
  if (typeof v === 'number') return { ok: true, value: Math.trunc(v) };
  if (!v.endsWith('%'))
    return { ok: false, error: 'invalid value for IntOrString: invalid type: string is not a percentage' };
  const digits = v.slice(0, -1);
  const atoi = `strconv.Atoi: parsing ${JSON.stringify(digits)}`;
  if (!/^[+-]?\d+$/.test(digits))
    return {
      ok: false,
      error: `invalid value for IntOrString: invalid value "${v}": ${atoi}: invalid syntax`,
    };
  const big = BigInt(digits);
  if (big > MAX_GO_INT || big < -MAX_GO_INT - 1n)
    return {
      ok: false,
      error: `invalid value for IntOrString: invalid value "${v}": ${atoi}: value out of range`,
    };
  const x = (Number(digits) * total) / 100;
  return { ok: true, value: roundUp ? Math.ceil(x) : Math.floor(x) };
}
