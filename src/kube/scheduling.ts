// Where a pod may run, as kube-scheduler's TaintToleration and NodeAffinity filters decide it
// (k8s.io/api/core/v1 Toleration.ToleratesTaint, component-helpers' nodeaffinity): one
// implementation for bosun's drain pre-flight and for the sandbox's scheduler and controllers.
// Pure: callers pass the pod and the node in.
import type { Node, NodeSelectorRequirement, NodeSelectorTerm, Pod, Taint, Toleration } from './types.ts';

/** What these filters read of a pod (the sandbox's server-side Pod narrows it, so it passes too). */
export type PodPlacement = Pick<Pod, 'spec'>;

/** What they read of a node. */
export type NodeFacts = Pick<Node, 'metadata' | 'status'>;

/** v1.Toleration.ToleratesTaint: an empty key with Exists matches every taint; an empty effect every effect. */
export function toleratesTaint(t: Toleration, taint: Taint): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.key && t.key !== taint.key) return false;
  const op = t.operator ?? 'Equal';
  if (op === 'Exists') return true;
  if (op === 'Equal') return (t.value ?? '') === (taint.value ?? '');
  return false;
}

/** v1helper.TolerationsTolerateTaint. */
export function tolerationsTolerateTaint(
  tolerations: readonly Toleration[] | undefined,
  taint: Taint,
): boolean {
  return (tolerations ?? []).some((t) => toleratesTaint(t, taint));
}

/** v1helper.FindMatchingUntoleratedTaint: the first taint (in node order) that passes filter and is not tolerated. */
export function findUntoleratedTaint<T extends Taint>(
  taints: readonly T[] | undefined,
  tolerations: readonly Toleration[] | undefined,
  filter: (t: T) => boolean,
): T | undefined {
  return (taints ?? []).find((t) => filter(t) && !tolerationsTolerateTaint(tolerations, t));
}

function requirementMatches(req: NodeSelectorRequirement, value: string | undefined): boolean {
  const has = value !== undefined;
  const values = req.values ?? [];
  switch (req.operator) {
    case 'In':
      return has && values.includes(value);
    case 'NotIn':
      return !has || !values.includes(value);
    case 'Exists':
      return has;
    case 'DoesNotExist':
      return !has;
    case 'Gt':
    case 'Lt': {
      if (!has || values.length !== 1 || !/^-?\d+$/.test(value) || !/^-?\d+$/.test(values[0] ?? ''))
        return false;
      const v = Number(value);
      const bound = Number(values[0]);
      return req.operator === 'Gt' ? v > bound : v < bound;
    }
    default:
      return false;
  }
}

/** One NodeSelectorTerm: all expressions (labels) and fields (only metadata.name) must match; an empty term matches nothing. */
export function nodeMatchesTerm(node: NodeFacts, term: NodeSelectorTerm): boolean {
  const exprs = term.matchExpressions ?? [];
  const fields = term.matchFields ?? [];
  if (exprs.length === 0 && fields.length === 0) return false;
  const labels = node.metadata.labels ?? {};
  for (const e of exprs)
    if (
      !requirementMatches(e, Object.prototype.hasOwnProperty.call(labels, e.key) ? labels[e.key] : undefined)
    )
      return false;
  for (const f of fields) {
    if (f.key !== 'metadata.name' || (f.operator !== 'In' && f.operator !== 'NotIn')) return false;
    if (!requirementMatches(f, node.metadata.name ?? '')) return false;
  }
  return true;
}

/**
 * The NodeAffinity filter (nodeaffinity.GetRequiredNodeAffinity): spec.nodeSelector labels all
 * equal, and at least one required node selector term matches.
 */
export function podMatchesNodeAffinity(pod: PodPlacement, node: NodeFacts): boolean {
  const labels = node.metadata.labels ?? {};
  for (const [k, v] of Object.entries(pod.spec?.nodeSelector ?? {})) if (labels[k] !== v) return false;
  const required = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution;
  if (!required) return true;
  return (required.nodeSelectorTerms ?? []).some((t) => nodeMatchesTerm(node, t));
}

/** The node's Ready condition status ('Unknown' when absent). */
export function nodeReadyStatus(node: NodeFacts): 'True' | 'False' | 'Unknown' {
  const s = node.status?.conditions?.find((c) => c.type === 'Ready')?.status;
  return s === 'True' || s === 'False' ? s : 'Unknown';
}
