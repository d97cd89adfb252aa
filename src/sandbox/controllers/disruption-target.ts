// The last step two controllers share: mark a pod DisruptionTarget=True with their reason, then
// delete it (k8s.io/kubernetes pkg/controller/podgc markFailedAndDeletePodWithCondition and
// pkg/controller/tainteviction addConditionAndDeletePod). A pod that is gone, or was replaced by a
// new one of the same name, is left alone.
import { timestamp } from '../apiserver/meta.ts';
import { resource } from '../apiserver/resources.ts';
import type { Pod } from '../apiserver/types.ts';
import { isApiError, keyFor, splitKey } from './base.ts';
import type { ControllerContext } from './context.ts';
import { isPodTerminal, withPodCondition } from './pod-util.ts';

const pods = resource('pods');

/** How a controller takes the pod out. */
export interface DisruptionTarget {
  reason: string;
  message: string;
  /** podgc: a pod not yet terminal is marked Failed, and deleted without a grace period. */
  fail: boolean;
}

/** Marks the pod (status subresource) and deletes it, with a UID precondition. */
export async function addConditionAndDeletePod(
  ctx: ControllerContext,
  pod: Pod,
  target: DisruptionTarget,
): Promise<void> {
  const { namespace, name } = splitKey(keyFor(pod.metadata.namespace, pod.metadata.name ?? ''));
  const now = timestamp(ctx.clock.now());
  try {
    await ctx.api.guaranteedUpdate(
      pods,
      namespace,
      name,
      (cur) => {
        const p = cur as Pod;
        if (p.metadata.uid !== pod.metadata.uid) return undefined;
        const r = withPodCondition(
          p.status?.conditions,
          { type: 'DisruptionTarget', status: 'True', reason: target.reason, message: target.message },
          now,
        );
        const failing = target.fail && !isPodTerminal(p);
        if (!r.changed && !failing) return undefined;
        p.status = {
          ...(p.status ?? {}),
          conditions: r.conditions,
          ...(failing ? { phase: 'Failed' as const } : {}),
        };
        return p;
      },
      { subresource: 'status' },
    );
    await ctx.api.delete(pods, namespace, name, {
      ...(target.fail ? { gracePeriodSeconds: 0 } : {}),
      preconditions: { uid: pod.metadata.uid ?? '' },
    });
  } catch (e) {
    if (!isApiError(e, 404) && !isApiError(e, 409)) throw e;
  }
}
