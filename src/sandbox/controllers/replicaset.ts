// replicaset-controller (pkg/controller/replicaset): keeps spec.replicas active pods, where
// active means neither terminal nor being deleted, so an evicted pod that is still terminating is
// replaced at once. Pods are `<rs>-<5 chars>` from the template with the RS as controller; scale
// down picks unscheduled < pending < not ready < doubled-up < newest. Creations go in slow-start
// batches and are tracked with expectations so a stale cache never over-creates. Status:
// replicas, fullyLabeledReplicas, readyReplicas, availableReplicas, observedGeneration and the
// ReplicaFailure condition. Events: SuccessfulCreate, SuccessfulDelete, FailedCreate.
import { isDeleting, keyOf, timestamp } from '../apiserver/meta.ts';
import { resource } from '../apiserver/resources.ts';
import { fromLabelSelector, labelSelectorAsSelector, matches } from '../../kube/labels.ts';
import type { Pod, ReplicaSet } from '../apiserver/types.ts';
import {
  QueueController,
  controllerRefOf,
  errorText,
  isApiError,
  isNamespaceTerminating,
  keyFor,
} from './base.ts';
import { claim, omitZero, podFromTemplate } from './claims.ts';
import type { ControllerContext } from './context.ts';
import { Expectations } from './expectations.ts';
import { compareForDeletion, isPodActive, isPodReady, podAvailability } from './pod-util.ts';
import { podIndex, type PodIndex } from './pod-index.ts';
import type { EventRecorder } from './recorder.ts';

const pods = resource('pods');
const replicasets = resource('replicasets');
const KIND = { apiVersion: 'apps/v1', kind: 'ReplicaSet' };

/** kube's burstReplicas: at most this many creations or deletions per sync. */
export const BURST_REPLICAS = 500;

type RsStatus = NonNullable<ReplicaSet['status']>;

/**
 * controller.slowStartBatch: runs fn count times in batches of 1, 2, 4, ... each batch in
 * parallel; stops after a batch with a failure. Returns the successes and the first error.
 */
export async function slowStartBatch(
  count: number,
  fn: () => Promise<void>,
): Promise<{ successes: number; attempted: number; error: unknown }> {
  let remaining = count;
  let successes = 0;
  let attempted = 0;
  for (let batch = Math.min(remaining, 1); batch > 0; batch = Math.min(2 * batch, remaining)) {
    const results = await Promise.allSettled(Array.from({ length: batch }, () => fn()));
    attempted += batch;
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    successes += results.filter((r) => r.status === 'fulfilled').length;
    if (failed) return { successes, attempted, error: failed.reason };
    remaining -= batch;
  }
  return { successes, attempted, error: undefined };
}

/** The ReplicaSet controller. */
export class ReplicaSetController extends QueueController {
  private readonly index: PodIndex;
  private readonly expectations: Expectations;
  private readonly recorder: EventRecorder;

  constructor(ctx: ControllerContext) {
    super('replicaset', ctx, { workers: 5 });
    this.index = podIndex(ctx.informers);
    this.expectations = new Expectations(() => ctx.clock.now().getTime());
    this.recorder = ctx.recorder('replicaset-controller');
  }

  protected register(): void {
    this.ctx.informers.replicasets.on((type, rs) => {
      if (type === 'DELETED') this.expectations.delete(keyOf(rs));
      this.enqueue(keyOf(rs));
    });
    this.ctx.informers.pods.on((type, pod, old) => this.onPod(type, pod, old));
  }

  /** The key of the ReplicaSet that controls pod, if that RS is in the cache with the same uid. */
  private ownerKey(pod: Pod): string | undefined {
    const ref = controllerRefOf(pod);
    if (!ref || ref.kind !== 'ReplicaSet') return undefined;
    const key = keyFor(pod.metadata.namespace, ref.name);
    return this.ctx.informers.replicasets.get(key)?.metadata.uid === ref.uid ? key : undefined;
  }

  private enqueueMatching(pod: Pod): void {
    for (const rs of this.ctx.informers.replicasets.list(pod.metadata.namespace)) {
      if (matches(fromLabelSelector(rs.spec.selector), pod.metadata.labels)) this.enqueue(keyOf(rs));
    }
  }

  private onPod(type: 'ADDED' | 'MODIFIED' | 'DELETED', pod: Pod, old: Pod | undefined): void {
    const key = this.ownerKey(pod);
    if (type === 'ADDED') {
      if (key) {
        if (isDeleting(pod)) this.expectations.deletionObserved(key, pod.metadata.uid ?? '');
        else this.expectations.creationObserved(key);
        this.enqueue(key);
      } else if (!controllerRefOf(pod)) this.enqueueMatching(pod);
      return;
    }
    if (type === 'DELETED') {
      if (key) {
        this.expectations.deletionObserved(key, pod.metadata.uid ?? '');
        this.enqueue(key);
      }
      return;
    }
    if (key && isDeleting(pod) && !(old && isDeleting(old)))
      this.expectations.deletionObserved(key, pod.metadata.uid ?? '');
    const oldKey = old ? this.ownerKey(old) : undefined;
    if (oldKey && oldKey !== key) this.enqueue(oldKey);
    if (key) {
      this.enqueue(key);
      const rs = this.ctx.informers.replicasets.get(key);
      const minReady = rs?.spec.minReadySeconds ?? 0;
      if (minReady > 0 && old && !isPodReady(old) && isPodReady(pod))
        this.enqueueAfter(key, minReady * 1000 + 1);
    } else if (
      !controllerRefOf(pod) &&
      (!old ||
        JSON.stringify(old.metadata.labels) !== JSON.stringify(pod.metadata.labels) ||
        controllerRefOf(old))
    ) {
      this.enqueueMatching(pod);
    }
  }

  protected async sync(key: string): Promise<void> {
    const rs = this.ctx.informers.replicasets.get(key);
    if (!rs) {
      this.expectations.delete(key);
      return;
    }
    const needsSync = this.expectations.satisfied(key);
    const converted = labelSelectorAsSelector(rs.spec.selector);
    if (!converted.ok) {
      this.ctx.log(`replicaset ${key}: invalid selector: ${converted.error}`);
      return;
    }
    const selector = converted.selector;
    const uid = rs.metadata.uid ?? '';
    const owned = await claim(
      this.ctx,
      pods,
      rs,
      KIND,
      selector,
      this.index.controlledBy(uid),
      this.index.orphansIn(rs.metadata.namespace ?? ''),
    );
    const active = owned.filter(isPodActive);
    let manageError: { reason: 'FailedCreate' | 'FailedDelete'; error: unknown } | undefined;
    if (needsSync && !isDeleting(rs)) manageError = await this.manageReplicas(key, rs, active);
    const wait = await this.updateStatus(rs, active, manageError);
    if (wait !== undefined) this.enqueueAfter(key, wait);
    if (manageError) throw manageError.error;
  }

  private async manageReplicas(
    key: string,
    rs: ReplicaSet,
    active: Pod[],
  ): Promise<{ reason: 'FailedCreate' | 'FailedDelete'; error: unknown } | undefined> {
    const want = rs.spec.replicas ?? 1;
    const diff = active.length - want;
    const ns = rs.metadata.namespace ?? '';
    if (diff < 0) {
      const n = Math.min(-diff, BURST_REPLICAS);
      this.expectations.expectCreations(key, n);
      let terminating = false;
      const { attempted, error } = await slowStartBatch(n, async () => {
        try {
          const created = await this.ctx.api.create(
            pods,
            ns,
            podFromTemplate(rs.spec.template, rs, KIND, `${rs.metadata.name ?? ''}-`),
          );
          this.recorder.event(
            rs,
            'Normal',
            'SuccessfulCreate',
            `Created pod: ${created.metadata.name ?? ''}`,
          );
        } catch (e) {
          this.expectations.creationObserved(key);
          if (isNamespaceTerminating(e)) {
            // Any creation will fail: nothing to do until the namespace is gone.
            terminating = true;
            return;
          }
          this.recorder.event(rs, 'Warning', 'FailedCreate', `Error creating: ${errorText(e)}`);
          throw e;
        }
      });
      // The creations skipped after a failed batch will never be observed.
      for (let i = attempted; i < n; i++) this.expectations.creationObserved(key);
      if (error !== undefined && !terminating) return { reason: 'FailedCreate', error };
      return undefined;
    }
    if (diff > 0) {
      const n = Math.min(diff, BURST_REPLICAS);
      const victims = podsToDelete(active, n);
      this.expectations.expectDeletions(
        key,
        victims.map((p) => p.metadata.uid ?? ''),
      );
      const results = await Promise.allSettled(
        victims.map(async (p) => {
          try {
            await this.ctx.api.delete(pods, ns, p.metadata.name ?? '', {
              preconditions: { uid: p.metadata.uid ?? '' },
            });
            this.recorder.event(rs, 'Normal', 'SuccessfulDelete', `Deleted pod: ${p.metadata.name ?? ''}`);
          } catch (e) {
            this.expectations.deletionObserved(key, p.metadata.uid ?? '');
            if (isApiError(e, 404) || isApiError(e, 409)) return;
            this.recorder.event(rs, 'Warning', 'FailedDelete', `Error deleting: ${errorText(e)}`);
            throw e;
          }
        }),
      );
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) return { reason: 'FailedDelete', error: failed.reason };
    }
    return undefined;
  }

  /** Writes the status when it changed; returns ms until a pod becomes available (minReadySeconds), if any. */
  private async updateStatus(
    rs: ReplicaSet,
    active: Pod[],
    manageError: { reason: string; error: unknown } | undefined,
  ): Promise<number | undefined> {
    const now = this.ctx.clock.now();
    const minReady = rs.spec.minReadySeconds ?? 0;
    const templateSel = fromLabelSelector({ matchLabels: rs.spec.template.metadata?.labels ?? {} });
    let ready = 0;
    let available = 0;
    let labeled = 0;
    let wait: number | undefined;
    for (const p of active) {
      if (matches(templateSel, p.metadata.labels)) labeled++;
      if (!isPodReady(p)) continue;
      ready++;
      const a = podAvailability(p, minReady, now);
      if (a.available) available++;
      else if (a.waitMs !== undefined) wait = Math.min(wait ?? Infinity, a.waitMs + 1);
    }
    const prev = rs.status as
      | (RsStatus & {
          conditions?: {
            type: string;
            status: string;
            reason?: string;
            message?: string;
            lastTransitionTime?: string;
          }[];
        })
      | undefined;
    let conditions = (prev?.conditions ?? []).filter((c) => c.type !== 'ReplicaFailure');
    const prevFailure = prev?.conditions?.find((c) => c.type === 'ReplicaFailure');
    if (manageError) {
      conditions = [
        ...conditions,
        prevFailure ?? {
          type: 'ReplicaFailure',
          status: 'True',
          reason: manageError.reason,
          message: errorText(manageError.error),
          lastTransitionTime: timestamp(now),
        },
      ];
    }
    const status = omitZero(
      {
        replicas: active.length,
        fullyLabeledReplicas: labeled,
        readyReplicas: ready,
        availableReplicas: available,
        observedGeneration: rs.metadata.generation ?? 0,
        ...(conditions.length > 0 ? { conditions } : {}),
      } as Record<string, unknown>,
      ['fullyLabeledReplicas', 'readyReplicas', 'availableReplicas', 'observedGeneration'],
    );
    if (JSON.stringify(status) === JSON.stringify(prev ?? {})) return wait;
    try {
      await this.ctx.api.guaranteedUpdate(
        replicasets,
        rs.metadata.namespace,
        rs.metadata.name ?? '',
        (cur) => {
          if (cur.metadata.uid !== rs.metadata.uid) return undefined;
          cur['status'] = status;
          return cur;
        },
        { subresource: 'status' },
      );
    } catch (e) {
      if (!isApiError(e, 404)) throw e;
    }
    return wait;
  }
}

/**
 * getPodsToDelete: the n pods to remove, ranked by controller.ActivePodsWithRanks with the rank
 * being how many pods of the same set share the node.
 */
export function podsToDelete(active: readonly Pod[], n: number): Pod[] {
  const perNode = new Map<string, number>();
  for (const p of active)
    if (p.spec.nodeName) perNode.set(p.spec.nodeName, (perNode.get(p.spec.nodeName) ?? 0) + 1);
  const rank = (p: Pod): number => (p.spec.nodeName ? (perNode.get(p.spec.nodeName) ?? 0) : 0);
  return [...active].sort((a, b) => compareForDeletion(a, b, rank)).slice(0, n);
}
