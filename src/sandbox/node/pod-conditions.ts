// The conditions the kubelet's status manager writes on a pod it runs (PodReadyToStartContainers,
// Initialized, Ready, ContainersReady, and the scheduler's PodScheduled kept as it is), each
// keeping its lastTransitionTime while its status does not change. Pure.
import type { PodCondition } from '../../kube/types.ts';

/**
 * A running pod's conditions.
 * @param prev the pod's conditions now.
 * @param ready whether every container is ready; `reason` says why not.
 * @param sandboxReady PodReadyToStartContainers (false once a finished pod's sandbox is gone).
 * @param now RFC 3339.
 */
export function podConditions(
  prev: readonly PodCondition[],
  opts: { ready: boolean; reason?: string; sandboxReady?: boolean },
  now: string,
): PodCondition[] {
  const cond = (type: string, ok: boolean, why?: string): PodCondition => {
    const old = prev.find((c) => c.type === type);
    const status = ok ? 'True' : 'False';
    return {
      type,
      status,
      lastProbeTime: null,
      lastTransitionTime: old && old.status === status ? (old.lastTransitionTime ?? now) : now,
      ...(why && !ok ? { reason: why } : {}),
    };
  };
  return [
    cond('PodReadyToStartContainers', opts.sandboxReady ?? true),
    cond('Initialized', true),
    cond('Ready', opts.ready, opts.reason),
    cond('ContainersReady', opts.ready, opts.reason),
    prev.find((c) => c.type === 'PodScheduled') ?? cond('PodScheduled', true),
  ];
}
