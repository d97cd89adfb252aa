// statefulset-controller (pkg/controller/statefulset): pods `<set>-<ordinal>` with stable names,
// labelled statefulset.kubernetes.io/pod-name, apps.kubernetes.io/pod-index and
// controller-revision-hash (the revision's name), hostname/subdomain set. OrderedReady creates
// ordinal i only once 0..i-1 are Running and Ready, removes condemned pods from the highest
// ordinal one at a time and waits on terminating pods; Parallel does everything at once. A pod
// that was deleted or evicted is recreated under the same name once the old one is gone; failed
// pods are deleted and recreated. RollingUpdate replaces old-revision pods from the highest
// ordinal down to the partition, one at a time. No PersistentVolumeClaims (the sandbox has no
// storage API).
import { clone, controllerRef, isDeleting, keyOf } from '../apiserver/meta.ts';
import { resource } from '../apiserver/resources.ts';
import { fromLabelSelector, isEverything, labelSelectorAsSelector, matches } from '../../kube/labels.ts';
import type { Pod, PodTemplateSpec, StatefulSet } from '../apiserver/types.ts';
import {
  QueueController,
  controllerRefOf,
  errorText,
  isApiError,
  isNamespaceTerminating,
  keyFor,
} from './base.ts';
import { claim } from './claims.ts';
import type { ControllerContext } from './context.ts';
import { isPodAvailable, isPodReady } from './pod-util.ts';
import { podIndex, type PodIndex } from './pod-index.ts';
import type { EventRecorder } from './recorder.ts';
import { ensureRevision, ownedRevisions, REVISION_HASH_LABEL, trimRevisions } from './revisions.ts';

const pods = resource('pods');
const statefulsets = resource('statefulsets');
const KIND = { apiVersion: 'apps/v1', kind: 'StatefulSet' };

/** Labels the StatefulSet controller puts on its pods. */
export const STS_LABELS = {
  podName: 'statefulset.kubernetes.io/pod-name',
  podIndex: 'apps.kubernetes.io/pod-index',
} as const;

/** The ordinal of a pod of this set, or undefined when the name is not `<set>-<n>`. */
export function ordinalOf(setName: string, podName: string): number | undefined {
  if (!podName.startsWith(`${setName}-`)) return undefined;
  const rest = podName.slice(setName.length + 1);
  return /^(0|[1-9]\d*)$/.test(rest) ? Number(rest) : undefined;
}

const isRunningAndReady = (p: Pod): boolean => p.status?.phase === 'Running' && isPodReady(p);
const isFailed = (p: Pod): boolean => p.status?.phase === 'Failed';
const isSucceeded = (p: Pod): boolean => p.status?.phase === 'Succeeded';
const isCreated = (p: Pod): boolean => (p.status?.phase ?? '') !== '';

/** The StatefulSet controller. */
export class StatefulSetController extends QueueController {
  private readonly index: PodIndex;
  private readonly recorder: EventRecorder;

  constructor(ctx: ControllerContext) {
    super('statefulset', ctx, { workers: 4 });
    this.index = podIndex(ctx.informers);
    this.recorder = ctx.recorder('statefulset-controller');
  }

  protected register(): void {
    this.ctx.informers.statefulsets.on((_type, set) => this.enqueue(keyOf(set)));
    this.ctx.informers.pods.on((type, pod, old) => {
      const key = this.ownerKey(pod);
      if (key) this.enqueue(key);
      const oldKey = old ? this.ownerKey(old) : undefined;
      if (oldKey && oldKey !== key) this.enqueue(oldKey);
      if (!key && type !== 'DELETED' && !controllerRefOf(pod)) {
        for (const set of this.ctx.informers.statefulsets.list(pod.metadata.namespace)) {
          if (matches(fromLabelSelector(set.spec.selector), pod.metadata.labels)) this.enqueue(keyOf(set));
        }
      }
    });
  }

  private ownerKey(pod: Pod): string | undefined {
    const ref = controllerRefOf(pod);
    if (!ref || ref.kind !== 'StatefulSet') return undefined;
    const key = keyFor(pod.metadata.namespace, ref.name);
    return this.ctx.informers.statefulsets.get(key)?.metadata.uid === ref.uid ? key : undefined;
  }

  protected async sync(key: string): Promise<void> {
    const cached = this.ctx.informers.statefulsets.get(key);
    if (!cached) return;
    const set = clone(cached);
    const converted = labelSelectorAsSelector(set.spec.selector);
    if (!converted.ok) {
      this.ctx.log(`statefulset ${key}: invalid selector: ${converted.error}`);
      return;
    }
    const selector = converted.selector;
    if (isEverything(selector) || isDeleting(set)) return;
    const name = set.metadata.name ?? '';
    const owned = await claim(
      this.ctx,
      pods,
      set,
      KIND,
      selector,
      this.index.controlledBy(set.metadata.uid ?? ''),
      this.index.orphansIn(set.metadata.namespace ?? ''),
    );
    const collisionCount =
      typeof set.status?.['collisionCount'] === 'number' ? (set.status['collisionCount'] as number) : 0;
    const update = await ensureRevision(this.ctx, set, KIND, set.spec.template, collisionCount);
    const revisions = ownedRevisions(this.ctx, set);
    const currentName =
      typeof set.status?.['currentRevision'] === 'string' &&
      revisions.some((r) => r.metadata.name === set.status?.['currentRevision'])
        ? (set.status['currentRevision'] as string)
        : update.name;
    const replicas = set.spec.replicas ?? 1;
    const byOrdinal = new Map<number, Pod>();
    const condemned: Pod[] = [];
    for (const p of owned) {
      const ord = ordinalOf(name, p.metadata.name ?? '');
      if (ord === undefined) continue;
      if (ord < replicas) byOrdinal.set(ord, p);
      else condemned.push(p);
    }
    condemned.sort(
      (a, b) => (ordinalOf(name, a.metadata.name ?? '') ?? 0) - (ordinalOf(name, b.metadata.name ?? '') ?? 0),
    );
    await this.updateReplicas(
      set,
      byOrdinal,
      condemned,
      currentName,
      update.name,
      revisions.find((r) => r.metadata.name === currentName)?.data,
    );
    await trimRevisions(
      this.ctx,
      set,
      (set.spec['revisionHistoryLimit'] as number | undefined) ?? 10,
      new Set([
        currentName,
        update.name,
        ...owned.map((p) => p.metadata.labels?.[REVISION_HASH_LABEL] ?? ''),
      ]),
    );
    await this.updateStatus(set, owned, currentName, update.name, collisionCount);
  }

  private partition(set: StatefulSet): number {
    const s = set.spec['updateStrategy'] as
      { type?: string; rollingUpdate?: { partition?: number } } | undefined;
    return s?.type === 'OnDelete' ? Infinity : (s?.rollingUpdate?.partition ?? 0);
  }

  /** The template of the revision a new pod of this ordinal gets (newVersionedStatefulSetPod). */
  private templateFor(
    set: StatefulSet,
    ordinal: number,
    currentName: string,
    updateName: string,
    currentData: unknown,
  ): { template: PodTemplateSpec; revision: string } {
    if (currentName !== updateName && ordinal < this.partition(set)) {
      const t = (currentData as { spec?: { template?: PodTemplateSpec & { $patch?: string } } } | undefined)
        ?.spec?.template;
      if (t) {
        const { $patch: _p, ...template } = t;
        return { template: template as PodTemplateSpec, revision: currentName };
      }
    }
    return { template: set.spec.template, revision: updateName };
  }

  private newPod(set: StatefulSet, ordinal: number, template: PodTemplateSpec, revision: string): Pod {
    const t = clone(template);
    const podName = `${set.metadata.name ?? ''}-${ordinal}`;
    const serviceName = set.spec.serviceName;
    return {
      metadata: {
        name: podName,
        labels: {
          ...(t.metadata?.labels ?? {}),
          [REVISION_HASH_LABEL]: revision,
          [STS_LABELS.podName]: podName,
          [STS_LABELS.podIndex]: String(ordinal),
        },
        ...(t.metadata?.annotations ? { annotations: t.metadata.annotations } : {}),
        ownerReferences: [controllerRef(set, KIND.apiVersion, KIND.kind)],
      },
      spec: { ...t.spec, hostname: podName, ...(serviceName ? { subdomain: serviceName } : {}) },
    };
  }

  private async createPod(set: StatefulSet, pod: Pod): Promise<void> {
    const setName = set.metadata.name ?? '';
    try {
      await this.ctx.api.create(pods, set.metadata.namespace, pod);
      this.recorder.event(
        set,
        'Normal',
        'SuccessfulCreate',
        `create Pod ${pod.metadata.name ?? ''} in StatefulSet ${setName} successful`,
      );
    } catch (e) {
      // AlreadyExists: the old pod is not gone yet (or the cache is behind); its events bring us back.
      if (isApiError(e, 409) || isNamespaceTerminating(e)) return;
      this.recorder.event(
        set,
        'Warning',
        'FailedCreate',
        `create Pod ${pod.metadata.name ?? ''} in StatefulSet ${setName} failed error: ${errorText(e)}`,
      );
      throw e;
    }
  }

  private async deletePod(set: StatefulSet, pod: Pod): Promise<void> {
    const setName = set.metadata.name ?? '';
    try {
      await this.ctx.api.delete(pods, pod.metadata.namespace, pod.metadata.name ?? '', {
        preconditions: { uid: pod.metadata.uid ?? '' },
      });
      this.recorder.event(
        set,
        'Normal',
        'SuccessfulDelete',
        `delete Pod ${pod.metadata.name ?? ''} in StatefulSet ${setName} successful`,
      );
    } catch (e) {
      if (isApiError(e, 404) || isApiError(e, 409)) return;
      this.recorder.event(
        set,
        'Warning',
        'FailedDelete',
        `delete Pod ${pod.metadata.name ?? ''} in StatefulSet ${setName} failed error: ${errorText(e)}`,
      );
      throw e;
    }
  }

  /** updateStatefulSet's replica management, in ordinal order. */
  private async updateReplicas(
    set: StatefulSet,
    byOrdinal: Map<number, Pod>,
    condemned: Pod[],
    currentName: string,
    updateName: string,
    currentData: unknown,
  ): Promise<void> {
    const replicas = set.spec.replicas ?? 1;
    const monotonic = (set.spec.podManagementPolicy ?? 'OrderedReady') !== 'Parallel';
    const minReady = (set.spec['minReadySeconds'] as number | undefined) ?? 0;
    const now = this.ctx.clock.now();
    const healthy = (p: Pod): boolean => isRunningAndReady(p) && isPodAvailable(p, minReady, now);
    // Failed or succeeded pods are deleted, to be recreated.
    for (const [, p] of byOrdinal) {
      if ((isFailed(p) || isSucceeded(p)) && !isDeleting(p)) {
        await this.deletePod(set, p);
        if (monotonic) return;
      }
    }
    for (let i = 0; i < replicas; i++) {
      const p = byOrdinal.get(i);
      if (!p) {
        const { template, revision } = this.templateFor(set, i, currentName, updateName, currentData);
        await this.createPod(set, this.newPod(set, i, template, revision));
        if (monotonic) return;
        continue;
      }
      if (isFailed(p) || isSucceeded(p)) {
        if (monotonic) return;
        continue;
      }
      if (isDeleting(p)) {
        if (monotonic) return;
        continue;
      }
      if (!isCreated(p) || !healthy(p)) {
        if (monotonic) return;
      }
    }
    // Condemned pods go from the highest ordinal down.
    const unhealthy = [...byOrdinal.values(), ...condemned].filter((p) => !healthy(p) || isDeleting(p));
    for (let t = condemned.length - 1; t >= 0; t--) {
      const p = condemned[t] as Pod;
      if (isDeleting(p)) {
        if (monotonic) return;
        continue;
      }
      if (monotonic && unhealthy.some((u) => u !== p)) return;
      await this.deletePod(set, p);
      if (monotonic) return;
    }
    // RollingUpdate: replace old-revision pods from the highest ordinal down to the partition.
    const partition = this.partition(set);
    if (partition === Infinity) return;
    for (let t = replicas - 1; t >= Math.max(0, partition); t--) {
      const p = byOrdinal.get(t);
      if (!p) return;
      if (p.metadata.labels?.[REVISION_HASH_LABEL] !== updateName && !isDeleting(p)) {
        await this.deletePod(set, p);
        return;
      }
      if (!healthy(p) || isDeleting(p)) return;
    }
  }

  private async updateStatus(
    set: StatefulSet,
    owned: Pod[],
    currentName: string,
    updateName: string,
    collisionCount: number,
  ): Promise<void> {
    const minReady = (set.spec['minReadySeconds'] as number | undefined) ?? 0;
    const now = this.ctx.clock.now();
    let replicas = 0;
    let ready = 0;
    let available = 0;
    let current = 0;
    let updated = 0;
    for (const p of owned) {
      if (ordinalOf(set.metadata.name ?? '', p.metadata.name ?? '') === undefined) continue;
      if (isCreated(p)) replicas++;
      if (isRunningAndReady(p)) {
        ready++;
        if (isPodAvailable(p, minReady, now)) available++;
      }
      if (isCreated(p) && !isDeleting(p)) {
        const rev = p.metadata.labels?.[REVISION_HASH_LABEL];
        if (rev === currentName) current++;
        if (rev === updateName) updated++;
      }
    }
    let currentRevision = currentName;
    const strategy = (set.spec['updateStrategy'] as { type?: string } | undefined)?.type ?? 'RollingUpdate';
    // completeRollingUpdate: once every replica is updated and ready, the update revision is current.
    if (strategy === 'RollingUpdate' && updated === replicas && ready === replicas) {
      currentRevision = updateName;
      current = updated;
    }
    const status: Record<string, unknown> = {
      observedGeneration: set.metadata.generation ?? 0,
      replicas,
      ...(ready ? { readyReplicas: ready } : {}),
      ...(current ? { currentReplicas: current } : {}),
      ...(updated ? { updatedReplicas: updated } : {}),
      currentRevision,
      updateRevision: updateName,
      collisionCount,
      availableReplicas: available,
    };
    if (JSON.stringify(status) === JSON.stringify(set.status ?? {})) return;
    try {
      await this.ctx.api.guaranteedUpdate(
        statefulsets,
        set.metadata.namespace,
        set.metadata.name ?? '',
        (cur) => {
          if (cur.metadata.uid !== set.metadata.uid) return undefined;
          cur['status'] = status;
          return cur;
        },
        { subresource: 'status' },
      );
    } catch (e) {
      if (!isApiError(e, 404)) throw e;
    }
    if (minReady > 0 && ready > available) this.enqueueAfter(keyOf(set), minReady * 1000);
  }
}
