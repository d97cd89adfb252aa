// deployment-controller (pkg/controller/deployment): one ReplicaSet per pod template, named
// `<deployment>-<pod-template-hash>` with the hash in its labels, selector and template; the
// new one scaled up and the old ones down as RollingUpdate (maxSurge/maxUnavailable) or Recreate
// says; the revision annotation on both; old ReplicaSets beyond revisionHistoryLimit removed;
// status counts with the Available and Progressing conditions and kube's reasons; the
// ScalingReplicaSet events. Proportional scaling of several live ReplicaSets is not done: a
// scale during a rollout converges through the rollout itself.
import { clone, controllerRef, isDeleting, keyOf, timestamp } from '../apiserver/meta.ts';
import { resource } from '../apiserver/resources.ts';
import { fromLabelSelector, isEverything, labelSelectorAsSelector, matches } from '../../kube/labels.ts';
import type { Deployment, ReplicaSet } from '../apiserver/types.ts';
import { QueueController, controllerRefOf, isApiError, isNamespaceTerminating, keyFor } from './base.ts';
import { claim } from './claims.ts';
import type { ControllerContext } from './context.ts';
import {
  ANNOTATIONS,
  POD_TEMPLATE_HASH,
  SKIPPED_ANNOTATIONS,
  calculateStatus,
  compactStatus,
  deploymentComplete,
  deploymentProgressing,
  deploymentTimedOut,
  equalIgnoreHash,
  getCondition,
  maxRevision,
  maxSurge,
  maxUnavailable,
  newCondition,
  newRSNewReplicas,
  normalizedTemplate,
  progressDeadlineSeconds,
  removeCondition,
  revisionOf,
  setCondition,
  type DeploymentStatus,
} from './deployment-util.ts';
import { canonicalJson, computeHash } from './hash.ts';
import { isPodTerminal } from './pod-util.ts';
import { podIndex, type PodIndex } from './pod-index.ts';
import type { EventRecorder } from './recorder.ts';

const deployments = resource('deployments');
const replicasets = resource('replicasets');
const KIND = { apiVersion: 'apps/v1', kind: 'Deployment' };

const byCreation = (a: ReplicaSet, b: ReplicaSet): number =>
  (Date.parse(a.metadata.creationTimestamp ?? '') || 0) -
    (Date.parse(b.metadata.creationTimestamp ?? '') || 0) ||
  ((a.metadata.name ?? '') < (b.metadata.name ?? '') ? -1 : 1);

/** The Deployment controller. */
export class DeploymentController extends QueueController {
  private readonly index: PodIndex;
  private readonly recorder: EventRecorder;

  constructor(ctx: ControllerContext) {
    super('deployment', ctx, { workers: 5 });
    this.index = podIndex(ctx.informers);
    this.recorder = ctx.recorder('deployment-controller');
  }

  protected register(): void {
    this.ctx.informers.deployments.on((_type, d) => this.enqueue(keyOf(d)));
    this.ctx.informers.replicasets.on((_type, rs, old) => {
      const key = this.ownerKey(rs);
      if (key) this.enqueue(key);
      const oldKey = old ? this.ownerKey(old) : undefined;
      if (oldKey && oldKey !== key) this.enqueue(oldKey);
      if (!controllerRefOf(rs)) this.enqueueMatching(rs);
    });
    // Recreate waits for the old pods to be gone.
    this.ctx.informers.pods.on((type, pod) => {
      if (type !== 'DELETED' && !isPodTerminal(pod)) return;
      const ref = controllerRefOf(pod);
      if (ref?.kind !== 'ReplicaSet') return;
      const rs = this.ctx.informers.replicasets.get(keyFor(pod.metadata.namespace, ref.name));
      const key = rs ? this.ownerKey(rs) : undefined;
      if (key && this.ctx.informers.deployments.get(key)?.spec.strategy?.type === 'Recreate')
        this.enqueue(key);
    });
  }

  private ownerKey(rs: ReplicaSet): string | undefined {
    const ref = controllerRefOf(rs);
    if (!ref || ref.kind !== 'Deployment') return undefined;
    const key = keyFor(rs.metadata.namespace, ref.name);
    return this.ctx.informers.deployments.get(key)?.metadata.uid === ref.uid ? key : undefined;
  }

  private enqueueMatching(rs: ReplicaSet): void {
    for (const d of this.ctx.informers.deployments.list(rs.metadata.namespace)) {
      if (matches(fromLabelSelector(d.spec.selector), rs.metadata.labels)) this.enqueue(keyOf(d));
    }
  }

  protected async sync(key: string): Promise<void> {
    const cached = this.ctx.informers.deployments.get(key);
    if (!cached) return;
    const d = clone(cached);
    const converted = labelSelectorAsSelector(d.spec.selector);
    if (!converted.ok) {
      this.ctx.log(`deployment ${key}: invalid selector: ${converted.error}`);
      return;
    }
    const selector = converted.selector;
    if (isEverything(selector)) {
      this.recorder.event(
        d,
        'Warning',
        'SelectingAll',
        'This deployment is selecting all pods. A non-empty selector is required.',
      );
      if ((d.status?.observedGeneration ?? 0) < (d.metadata.generation ?? 0))
        await this.writeStatus(d, { ...(d.status ?? {}), observedGeneration: d.metadata.generation ?? 0 });
      return;
    }
    const ns = d.metadata.namespace ?? '';
    const all = this.ctx.informers.replicasets.list(ns);
    const uid = d.metadata.uid ?? '';
    // Copies: scaling updates them in place, and the informer's cache must stay as the API sent it.
    const rsList = (
      await claim(
        this.ctx,
        replicasets,
        d,
        KIND,
        selector,
        all.filter((rs) => controllerRefOf(rs)?.uid === uid),
        all.filter((rs) => !controllerRefOf(rs)),
      )
    ).map((rs) => clone(rs));
    if (isDeleting(d)) {
      await this.syncStatusOnly(d, rsList);
      return;
    }
    await this.checkPausedConditions(d);
    if (d.spec.paused) {
      await this.syncStatusOnly(d, rsList);
      return;
    }
    if (d.spec.strategy?.type === 'Recreate') await this.rolloutRecreate(d, rsList);
    else await this.rolloutRolling(d, rsList);
  }

  // --- ReplicaSets ----------------------------------------------------------------------------

  /** getAllReplicaSetsAndSyncRevision: the new ReplicaSet (created when asked) and the old ones. */
  private async getAllReplicaSets(
    d: Deployment,
    rsList: ReplicaSet[],
    create: boolean,
  ): Promise<{ newRS: ReplicaSet | undefined; oldRSs: ReplicaSet[] }> {
    const sorted = [...rsList].sort(byCreation);
    const found = sorted.find((rs) => equalIgnoreHash(rs.spec.template, d.spec.template));
    const oldRSs = sorted.filter((rs) => rs !== found);
    const newRevision = maxRevision(oldRSs) + 1;
    if (found) return { newRS: await this.syncExistingNewRS(d, found, newRevision), oldRSs };
    if (!create) return { newRS: undefined, oldRSs };
    return { newRS: await this.createNewRS(d, oldRSs, newRevision), oldRSs };
  }

  private rsAnnotations(
    d: Deployment,
    rs: ReplicaSet | undefined,
    newRevision: number,
    setReplicas: boolean,
  ): Record<string, string> {
    const out: Record<string, string> = { ...(rs?.metadata.annotations ?? {}) };
    for (const [k, v] of Object.entries(d.metadata.annotations ?? {}))
      if (!SKIPPED_ANNOTATIONS.has(k)) out[k] = v;
    if (revisionOf({ metadata: { annotations: out } }) < newRevision)
      out[ANNOTATIONS.revision] = String(newRevision);
    if (setReplicas) {
      out[ANNOTATIONS.desiredReplicas] = String(d.spec.replicas ?? 1);
      out[ANNOTATIONS.maxReplicas] = String((d.spec.replicas ?? 1) + maxSurge(d));
    }
    return out;
  }

  private async syncExistingNewRS(d: Deployment, rs: ReplicaSet, newRevision: number): Promise<ReplicaSet> {
    let cur = rs;
    const annotations = this.rsAnnotations(d, rs, newRevision, false);
    const minReady = d.spec.minReadySeconds ?? 0;
    if (
      JSON.stringify(annotations) !== JSON.stringify(rs.metadata.annotations ?? {}) ||
      (rs.spec.minReadySeconds ?? 0) !== minReady
    ) {
      const updated = await this.ctx.api.guaranteedUpdate(
        replicasets,
        rs.metadata.namespace,
        rs.metadata.name ?? '',
        (o) => {
          const x = o as ReplicaSet;
          x.metadata.annotations = { ...(x.metadata.annotations ?? {}), ...annotations };
          x.spec.minReadySeconds = minReady;
          return x;
        },
      );
      if (updated) cur = updated as ReplicaSet;
    }
    await this.setDeploymentRevision(d, cur.metadata.annotations?.[ANNOTATIONS.revision]);
    if (progressDeadlineSeconds(d) !== undefined && !getCondition(d.status, 'Progressing')) {
      const status: DeploymentStatus = { ...(d.status ?? {}) };
      setCondition(
        status,
        newCondition(
          'Progressing',
          'True',
          'FoundNewReplicaSet',
          `Found new replica set "${cur.metadata.name ?? ''}"`,
          this.now(),
        ),
      );
      await this.writeStatus(d, status);
    }
    return cur;
  }

  private async createNewRS(d: Deployment, oldRSs: ReplicaSet[], newRevision: number): Promise<ReplicaSet> {
    const template = normalizedTemplate(d.spec.template);
    const collisionCount =
      typeof d.status?.['collisionCount'] === 'number' ? d.status['collisionCount'] : undefined;
    const hash = computeHash(template, collisionCount);
    template.metadata = {
      ...(template.metadata ?? {}),
      labels: { ...(template.metadata?.labels ?? {}), [POD_TEMPLATE_HASH]: hash },
    };
    const selector = clone(d.spec.selector);
    selector.matchLabels = { ...(selector.matchLabels ?? {}), [POD_TEMPLATE_HASH]: hash };
    const name = `${d.metadata.name ?? ''}-${hash}`;
    const draft: ReplicaSet = {
      metadata: {
        name,
        namespace: d.metadata.namespace ?? '',
        labels: template.metadata.labels ?? {},
        ownerReferences: [controllerRef(d, KIND.apiVersion, KIND.kind)],
      },
      spec: { replicas: 0, minReadySeconds: d.spec.minReadySeconds ?? 0, selector, template },
    };
    const replicas = newRSNewReplicas(d, [...oldRSs, draft], draft);
    draft.spec.replicas = replicas;
    draft.metadata.annotations = this.rsAnnotations(d, undefined, newRevision, true);
    let created: ReplicaSet;
    try {
      created = (await this.ctx.api.create(replicasets, d.metadata.namespace, draft)) as ReplicaSet;
    } catch (e) {
      if (isNamespaceTerminating(e)) throw e;
      if (!isApiError(e, 409)) throw e;
      const existing = (await this.ctx.api.tryGet(replicasets, d.metadata.namespace, name)) as
        ReplicaSet | undefined;
      if (
        existing &&
        controllerRefOf(existing)?.uid === d.metadata.uid &&
        equalIgnoreHash(existing.spec.template, d.spec.template)
      )
        return existing;
      // A hash collision: bump collisionCount so the next attempt hashes differently.
      const status: DeploymentStatus = { ...(d.status ?? {}), collisionCount: (collisionCount ?? 0) + 1 };
      await this.writeStatus(d, status);
      throw new Error(
        `found a hash collision for deployment "${d.metadata.name ?? ''}" - bumping collisionCount (${collisionCount ?? 0}->${(collisionCount ?? 0) + 1}) to resolve it`,
        { cause: e },
      );
    }
    if (replicas > 0)
      this.recorder.event(
        d,
        'Normal',
        'ScalingReplicaSet',
        `Scaled up replica set ${name} from 0 to ${replicas}`,
      );
    await this.setDeploymentRevision(d, created.metadata.annotations?.[ANNOTATIONS.revision]);
    if (progressDeadlineSeconds(d) !== undefined) {
      const status: DeploymentStatus = { ...(d.status ?? {}) };
      setCondition(
        status,
        newCondition(
          'Progressing',
          'True',
          'NewReplicaSetCreated',
          `Created new replica set "${name}"`,
          this.now(),
        ),
      );
      await this.writeStatus(d, status);
    }
    return created;
  }

  private async setDeploymentRevision(d: Deployment, revision: string | undefined): Promise<void> {
    if (revision === undefined || d.metadata.annotations?.[ANNOTATIONS.revision] === revision) return;
    const updated = await this.ctx.api.guaranteedUpdate(
      deployments,
      d.metadata.namespace,
      d.metadata.name ?? '',
      (o) => {
        if (o.metadata.uid !== d.metadata.uid) return undefined;
        o.metadata.annotations = { ...(o.metadata.annotations ?? {}), [ANNOTATIONS.revision]: revision };
        return o;
      },
    );
    if (updated) {
      d.metadata.annotations = updated.metadata.annotations;
      d.metadata.resourceVersion = updated.metadata.resourceVersion;
    }
  }

  /** scaleReplicaSetAndRecordEvent: sets spec.replicas and the replica annotations; true when the size changed. */
  private async scaleRS(rs: ReplicaSet, replicas: number, d: Deployment): Promise<boolean> {
    const desired = String(d.spec.replicas ?? 1);
    const max = String((d.spec.replicas ?? 1) + maxSurge(d));
    const sizeChanged = (rs.spec.replicas ?? 1) !== replicas;
    const annotationsChanged =
      rs.metadata.annotations?.[ANNOTATIONS.desiredReplicas] !== desired ||
      rs.metadata.annotations?.[ANNOTATIONS.maxReplicas] !== max;
    if (!sizeChanged && !annotationsChanged) return false;
    const from = rs.spec.replicas ?? 1;
    const updated = await this.ctx.api.guaranteedUpdate(
      replicasets,
      rs.metadata.namespace,
      rs.metadata.name ?? '',
      (o) => {
        if (o.metadata.uid !== rs.metadata.uid) return undefined;
        const x = o as ReplicaSet;
        x.spec.replicas = replicas;
        x.metadata.annotations = {
          ...(x.metadata.annotations ?? {}),
          [ANNOTATIONS.desiredReplicas]: desired,
          [ANNOTATIONS.maxReplicas]: max,
        };
        return x;
      },
    );
    if (updated) {
      rs.spec.replicas = replicas;
      rs.metadata.annotations = updated.metadata.annotations;
    }
    if (sizeChanged) {
      this.recorder.event(
        d,
        'Normal',
        'ScalingReplicaSet',
        `Scaled ${from < replicas ? 'up' : 'down'} replica set ${rs.metadata.name ?? ''} from ${from} to ${replicas}`,
      );
    }
    return sizeChanged;
  }

  // --- strategies -----------------------------------------------------------------------------

  private async rolloutRolling(d: Deployment, rsList: ReplicaSet[]): Promise<void> {
    const { newRS, oldRSs } = await this.getAllReplicaSets(d, rsList, true);
    if (!newRS) return;
    const allRSs = [...oldRSs, newRS];
    if (await this.reconcileNewReplicaSet(allRSs, newRS, d)) return this.syncRolloutStatus(allRSs, newRS, d);
    if (
      await this.reconcileOldReplicaSets(
        allRSs,
        oldRSs.filter((rs) => (rs.spec.replicas ?? 1) > 0),
        newRS,
        d,
      )
    )
      return this.syncRolloutStatus(allRSs, newRS, d);
    if (deploymentComplete(d, d.status ?? {})) await this.cleanupDeployment(oldRSs, d);
    return this.syncRolloutStatus(allRSs, newRS, d);
  }

  private async reconcileNewReplicaSet(
    allRSs: ReplicaSet[],
    newRS: ReplicaSet,
    d: Deployment,
  ): Promise<boolean> {
    const want = d.spec.replicas ?? 1;
    const cur = newRS.spec.replicas ?? 1;
    if (cur === want) return false;
    if (cur > want) return this.scaleRS(newRS, want, d);
    return this.scaleRS(newRS, newRSNewReplicas(d, allRSs, newRS), d);
  }

  private async reconcileOldReplicaSets(
    allRSs: ReplicaSet[],
    oldRSs: ReplicaSet[],
    newRS: ReplicaSet,
    d: Deployment,
  ): Promise<boolean> {
    const oldPods = oldRSs.reduce((n, rs) => n + (rs.spec.replicas ?? 1), 0);
    if (oldPods === 0) return false;
    const allPods = allRSs.reduce((n, rs) => n + (rs.spec.replicas ?? 1), 0);
    const minAvailable = (d.spec.replicas ?? 1) - maxUnavailable(d);
    const newUnavailable = (newRS.spec.replicas ?? 1) - (newRS.status?.availableReplicas ?? 0);
    const maxScaledDown = allPods - minAvailable - newUnavailable;
    if (maxScaledDown <= 0) return false;
    // cleanupUnhealthyReplicas: old pods that are not available go first.
    let cleaned = 0;
    for (const rs of [...oldRSs].sort(byCreation)) {
      if (cleaned >= maxScaledDown) break;
      const replicas = rs.spec.replicas ?? 1;
      const avail = rs.status?.availableReplicas ?? 0;
      if (replicas === 0 || replicas === avail) continue;
      const down = Math.min(maxScaledDown - cleaned, replicas - avail);
      await this.scaleRS(rs, replicas - down, d);
      cleaned += down;
    }
    // scaleDownOldReplicaSetsForRollingUpdate: then available old pods, down to minAvailable.
    const available = allRSs.reduce((n, rs) => n + (rs.status?.availableReplicas ?? 0), 0);
    let scaled = 0;
    if (available > minAvailable) {
      const total = available - minAvailable;
      for (const rs of [...oldRSs].sort(byCreation)) {
        if (scaled >= total) break;
        const replicas = rs.spec.replicas ?? 1;
        if (replicas === 0) continue;
        const down = Math.min(replicas, total - scaled);
        await this.scaleRS(rs, replicas - down, d);
        scaled += down;
      }
    }
    return cleaned + scaled > 0;
  }

  private async rolloutRecreate(d: Deployment, rsList: ReplicaSet[]): Promise<void> {
    let { newRS, oldRSs } = await this.getAllReplicaSets(d, rsList, false);
    const allRSs = (): ReplicaSet[] => [...oldRSs, ...(newRS ? [newRS] : [])];
    let scaledDown = false;
    for (const rs of oldRSs)
      if ((rs.spec.replicas ?? 1) > 0) scaledDown = (await this.scaleRS(rs, 0, d)) || scaledDown;
    if (scaledDown) return this.syncRolloutStatus(allRSs(), newRS, d);
    if (this.oldPodsRunning(newRS, oldRSs)) return this.syncRolloutStatus(allRSs(), newRS, d);
    if (!newRS) ({ newRS, oldRSs } = await this.getAllReplicaSets(d, rsList, true));
    if (newRS) await this.scaleRS(newRS, d.spec.replicas ?? 1, d);
    if (deploymentComplete(d, d.status ?? {})) await this.cleanupDeployment(oldRSs, d);
    return this.syncRolloutStatus(allRSs(), newRS, d);
  }

  private oldPodsRunning(newRS: ReplicaSet | undefined, oldRSs: ReplicaSet[]): boolean {
    if (oldRSs.reduce((n, rs) => n + (rs.status?.replicas ?? 0), 0) > 0) return true;
    for (const rs of oldRSs) {
      if (rs.metadata.uid === newRS?.metadata.uid) continue;
      if (this.index.controlledBy(rs.metadata.uid ?? '').some((p) => !isPodTerminal(p))) return true;
    }
    return false;
  }

  /** cleanupDeployment: deletes the oldest empty ReplicaSets beyond revisionHistoryLimit. */
  private async cleanupDeployment(oldRSs: ReplicaSet[], d: Deployment): Promise<void> {
    const limit = d.spec.revisionHistoryLimit;
    if (limit === undefined || limit === null) return;
    const cleanable = oldRSs.filter((rs) => !isDeleting(rs));
    const diff = cleanable.length - limit;
    if (diff <= 0) return;
    cleanable.sort((a, b) => revisionOf(a) - revisionOf(b) || byCreation(a, b));
    for (const rs of cleanable.slice(0, diff)) {
      if (
        (rs.status?.replicas ?? 0) !== 0 ||
        (rs.spec.replicas ?? 1) !== 0 ||
        (rs.metadata.generation ?? 0) > (rs.status?.observedGeneration ?? 0)
      )
        continue;
      try {
        await this.ctx.api.delete(replicasets, rs.metadata.namespace, rs.metadata.name ?? '', {
          preconditions: { uid: rs.metadata.uid ?? '' },
        });
      } catch (e) {
        if (!isApiError(e, 404) && !isApiError(e, 409)) throw e;
      }
    }
  }

  // --- status ---------------------------------------------------------------------------------

  private now(): string {
    return timestamp(this.ctx.clock.now());
  }

  private async checkPausedConditions(d: Deployment): Promise<void> {
    if (progressDeadlineSeconds(d) === undefined) return;
    const cond = getCondition(d.status, 'Progressing');
    if (cond?.reason === 'ProgressDeadlineExceeded') return;
    const paused = d.spec.paused === true;
    const status: DeploymentStatus = { ...(d.status ?? {}) };
    if (paused && cond?.reason !== 'DeploymentPaused')
      setCondition(
        status,
        newCondition('Progressing', 'Unknown', 'DeploymentPaused', 'Deployment is paused', this.now()),
      );
    else if (!paused && cond?.reason === 'DeploymentPaused')
      setCondition(
        status,
        newCondition('Progressing', 'Unknown', 'DeploymentResumed', 'Deployment is resumed', this.now()),
      );
    else return;
    await this.writeStatus(d, status);
  }

  private async syncStatusOnly(d: Deployment, rsList: ReplicaSet[]): Promise<void> {
    const { newRS, oldRSs } = await this.getAllReplicaSets(d, rsList, false);
    const status = calculateStatus([...oldRSs, ...(newRS ? [newRS] : [])], newRS, d, this.now());
    await this.writeStatus(d, status);
  }

  private async syncRolloutStatus(
    allRSs: ReplicaSet[],
    newRS: ReplicaSet | undefined,
    d: Deployment,
  ): Promise<void> {
    const now = this.ctx.clock.now();
    const ts = timestamp(now);
    const status = calculateStatus(allRSs, newRS, d, ts);
    const deadline = progressDeadlineSeconds(d);
    if (deadline === undefined) removeCondition(status, 'Progressing');
    const cur = getCondition(d.status, 'Progressing');
    const complete = status.replicas === status.updatedReplicas && cur?.reason === 'NewReplicaSetAvailable';
    const rsName = newRS?.metadata.name ?? '';
    if (deadline !== undefined && !complete) {
      if (deploymentComplete(d, status)) {
        const msg = newRS
          ? `ReplicaSet "${rsName}" has successfully progressed.`
          : `Deployment "${d.metadata.name ?? ''}" has successfully progressed.`;
        setCondition(status, newCondition('Progressing', 'True', 'NewReplicaSetAvailable', msg, ts));
      } else if (deploymentProgressing(d, status)) {
        const msg = newRS
          ? `ReplicaSet "${rsName}" is progressing.`
          : `Deployment "${d.metadata.name ?? ''}" is progressing.`;
        const c = newCondition('Progressing', 'True', 'ReplicaSetUpdated', msg, ts);
        if (cur) {
          if (cur.status === 'True') c.lastTransitionTime = cur.lastTransitionTime;
          removeCondition(status, 'Progressing');
        }
        setCondition(status, c);
      } else if (deploymentTimedOut(d, status, now)) {
        const msg = newRS
          ? `ReplicaSet "${rsName}" has timed out progressing.`
          : `Deployment "${d.metadata.name ?? ''}" has timed out progressing.`;
        setCondition(status, newCondition('Progressing', 'False', 'ProgressDeadlineExceeded', msg, ts));
      }
    }
    const failure = allRSs
      .map((rs) =>
        (
          rs.status as
            { conditions?: { type: string; status: string; reason?: string; message?: string }[] } | undefined
        )?.conditions?.find((c) => c.type === 'ReplicaFailure' && c.status === 'True'),
      )
      .find((c) => c !== undefined);
    if (failure)
      setCondition(
        status,
        newCondition('ReplicaFailure', 'True', failure.reason ?? '', failure.message ?? '', ts),
      );
    else removeCondition(status, 'ReplicaFailure');
    await this.writeStatus(d, status);
    // requeueStuckDeployment: look again when the progress deadline would pass.
    const p = getCondition(status, 'Progressing');
    if (
      deadline !== undefined &&
      p &&
      p.reason !== 'NewReplicaSetAvailable' &&
      p.reason !== 'ProgressDeadlineExceeded' &&
      !deploymentComplete(d, status)
    ) {
      const at = (Date.parse(p.lastUpdateTime ?? '') || now.getTime()) + deadline * 1000;
      this.enqueueAfter(keyOf(d), at - now.getTime() + 1000);
    }
  }

  private async writeStatus(d: Deployment, status: DeploymentStatus): Promise<void> {
    const next = compactStatus(status);
    if (canonicalJson(next) === canonicalJson(d.status ?? {})) return;
    try {
      const updated = await this.ctx.api.guaranteedUpdate(
        deployments,
        d.metadata.namespace,
        d.metadata.name ?? '',
        (o) => {
          if (o.metadata.uid !== d.metadata.uid) return undefined;
          o['status'] = next;
          return o;
        },
        { subresource: 'status' },
      );
      if (updated) d.status = (updated as Deployment).status;
    } catch (e) {
      if (!isApiError(e, 404)) throw e;
    }
  }
}
