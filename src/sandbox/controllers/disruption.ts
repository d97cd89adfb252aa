// disruption controller (pkg/controller/disruption): fills PodDisruptionBudget status from the
// pods its selector matches and the scale of their controllers (Deployment via its ReplicaSet,
// ReplicaSet, StatefulSet, then anything with a scale subresource), exactly as
// disruption-math.ts computes it: expectedPods, desiredHealthy, currentHealthy, disruptionsAllowed,
// disruptedPods (expired after DeletionTimeout), observedGeneration and the DisruptionAllowed
// condition; the fail-safe (disruptionsAllowed 0, SyncFailed) when the expected count cannot be
// computed. Recomputed on pod and PDB changes. The status is written with the resourceVersion it
// was computed from, so an eviction's decrement in between is never overwritten.
import { keyOf, timestamp } from '../apiserver/meta.ts';
import { resource, resourceForKind } from '../apiserver/resources.ts';
import { fromLabelSelector, matches, type Selector } from '../../kube/labels.ts';
import type { Deployment, Pod, PodDisruptionBudget, ReplicaSet, StatefulSet } from '../apiserver/types.ts';
import type { OwnerReference } from '../../kube/types.ts';
import { QueueController, controllerRefOf, isApiError, keyFor } from './base.ts';
import type { ControllerContext } from './context.ts';
import {
  countHealthyPods,
  expectedPodCount,
  failSafeStatus,
  goLabelSelectorString,
  liveDisruptedPods,
  nextPdbStatus,
  type ScaleVerdict,
} from './disruption-math.ts';
import type { EventRecorder } from './recorder.ts';

const pdbs = resource('poddisruptionbudgets');
/** Resources that serve a scale subresource in kube (apps/v1 Deployment, ReplicaSet, StatefulSet). */
const SCALABLE = new Set(['deployments', 'replicasets', 'statefulsets']);

function groupOf(apiVersion: string): string {
  const i = apiVersion.indexOf('/');
  return i < 0 ? '' : apiVersion.slice(0, i);
}

/** The PodDisruptionBudget controller. */
export class DisruptionController extends QueueController {
  private readonly recorder: EventRecorder;
  /** pdb key -> its selector (NOTHING when invalid or nil). */
  private readonly selectors = new Map<string, Selector>();
  /** pdb key -> the pods its selector matches. */
  private readonly members = new Map<string, Map<string, Pod>>();
  /** namespace -> pdb keys. */
  private readonly byNamespace = new Map<string, Set<string>>();

  constructor(ctx: ControllerContext) {
    super('disruption', ctx, { workers: 4 });
    this.recorder = ctx.recorder('controllermanager');
  }

  protected register(): void {
    this.ctx.informers.poddisruptionbudgets.on((type, pdb, old) => this.onPdb(type, pdb, old));
    this.ctx.informers.pods.on((type, pod, old) => this.onPod(type, pod, old));
  }

  private onPdb(
    type: 'ADDED' | 'MODIFIED' | 'DELETED',
    pdb: PodDisruptionBudget,
    old: PodDisruptionBudget | undefined,
  ): void {
    const key = keyOf(pdb);
    const ns = pdb.metadata.namespace ?? '';
    if (type === 'DELETED') {
      this.selectors.delete(key);
      this.members.delete(key);
      this.byNamespace.get(ns)?.delete(key);
      return;
    }
    if (
      !old ||
      JSON.stringify(old.spec.selector) !== JSON.stringify(pdb.spec.selector) ||
      !this.selectors.has(key)
    ) {
      const sel = fromLabelSelector(pdb.spec.selector);
      this.selectors.set(key, sel);
      const m = new Map<string, Pod>();
      for (const p of this.ctx.informers.pods.list(ns))
        if (matches(sel, p.metadata.labels)) m.set(keyOf(p), p);
      this.members.set(key, m);
      let set = this.byNamespace.get(ns);
      if (!set) this.byNamespace.set(ns, (set = new Set()));
      set.add(key);
    }
    this.enqueue(key);
  }

  private onPod(type: 'ADDED' | 'MODIFIED' | 'DELETED', pod: Pod, old: Pod | undefined): void {
    const keys = this.byNamespace.get(pod.metadata.namespace ?? '');
    if (!keys || keys.size === 0) return;
    const podKey = keyOf(pod);
    const matched: string[] = [];
    for (const k of keys) {
      const m = this.members.get(k);
      const sel = this.selectors.get(k);
      if (!m || !sel) continue;
      const was = m.has(podKey);
      const is = type !== 'DELETED' && matches(sel, pod.metadata.labels);
      if (is) {
        m.set(podKey, pod);
        matched.push(k);
      } else m.delete(podKey);
      if (was || is) this.enqueue(k);
    }
    const labelsChanged = !old || JSON.stringify(old.metadata.labels) !== JSON.stringify(pod.metadata.labels);
    if (matched.length > 1 && type !== 'DELETED' && labelsChanged) {
      const first = matched[0]?.split('/')[1] ?? '';
      const msg = `Pod "${pod.metadata.namespace ?? ''}"/"${pod.metadata.name ?? ''}" matches multiple PodDisruptionBudgets.  Chose "${first}" arbitrarily.`;
      this.recorder.event(pod, 'Warning', 'MultiplePodDisruptionBudgets', msg);
    }
  }

  /** The controller finders, in kube's order (finders()). */
  private findController(ref: OwnerReference, namespace: string): ScaleVerdict {
    const group = groupOf(ref.apiVersion);
    const inf = this.ctx.informers;
    if (ref.kind === 'ReplicaSet' && (group === 'apps' || group === 'extensions')) {
      const rs = inf.replicasets.get(keyFor(namespace, ref.name)) as ReplicaSet | undefined;
      if (rs && rs.metadata.uid === ref.uid) {
        const owner = controllerRefOf(rs);
        if (owner?.kind === 'Deployment' && ['apps', 'extensions'].includes(groupOf(owner.apiVersion))) {
          const d = inf.deployments.get(keyFor(namespace, owner.name)) as Deployment | undefined;
          if (d && d.metadata.uid === owner.uid)
            return { uid: d.metadata.uid ?? '', scale: d.spec.replicas ?? 1 };
        } else {
          return { uid: rs.metadata.uid ?? '', scale: rs.spec.replicas ?? 1 };
        }
      }
    }
    if (ref.kind === 'StatefulSet' && group === 'apps') {
      const ss = inf.statefulsets.get(keyFor(namespace, ref.name)) as StatefulSet | undefined;
      if (ss && ss.metadata.uid === ref.uid)
        return { uid: ss.metadata.uid ?? '', scale: ss.spec.replicas ?? 1 };
    }
    return this.scaleController(ref, namespace);
  }

  /** getScaleController: any kind with a scale subresource, through the scale's uid and spec.replicas. */
  private scaleController(ref: OwnerReference, namespace: string): ScaleVerdict {
    const r = resourceForKind(ref.apiVersion, ref.kind);
    if (!r) return { error: `no matches for kind "${ref.kind}" in version "${ref.apiVersion}"` };
    if (!SCALABLE.has(r.resource))
      return {
        error: `${r.group ? `${r.resource}.${r.group}` : r.resource} does not implement the scale subresource`,
      };
    const inf =
      r.resource === 'deployments'
        ? this.ctx.informers.deployments
        : r.resource === 'replicasets'
          ? this.ctx.informers.replicasets
          : this.ctx.informers.statefulsets;
    const o = inf.get(keyFor(namespace, ref.name)) as
      { metadata: { uid?: string }; spec: { replicas?: number } } | undefined;
    if (!o || o.metadata.uid !== ref.uid) return null;
    return { uid: o.metadata.uid ?? '', scale: o.spec.replicas ?? 1 };
  }

  protected async sync(key: string): Promise<void> {
    const pdb = this.ctx.informers.poddisruptionbudgets.get(key);
    if (!pdb) return;
    const pods = [...(this.members.get(key)?.values() ?? [])];
    const now = this.ctx.clock.now();
    const ts = timestamp(now);
    if (pods.length === 0) this.recorder.event(pdb, 'Normal', 'NoPods', 'No matching pods found');
    const expected = expectedPodCount(pdb, pods, (ref, ns) => this.findController(ref, ns));
    if (!expected.ok) {
      this.recorder.event(
        pdb,
        'Warning',
        'CalculateExpectedPodCountFailed',
        `Failed to calculate the number of expected pods: ${expected.error}`,
      );
      await this.write(pdb, failSafeStatus(pdb, expected.error, ts));
      return;
    }
    if (expected.unmanagedPods.length > 0) {
      this.recorder.event(
        pdb,
        'Warning',
        'UnmanagedPods',
        `Pods selected by this PodDisruptionBudget (selector: ${goLabelSelectorString(pdb.spec.selector)}) were found to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may result in undefined behavior. To account for these pods please set ".spec.minAvailable" field of the PDB to an integer value.`,
      );
    }
    const { disruptedPods, recheckAt, expired } = liveDisruptedPods(pods, pdb.status?.disruptedPods, now);
    for (const name of expired) {
      const pod = pods.find((p) => p.metadata.name === name);
      // kube prints the PDB's namespace twice here.
      if (pod)
        this.recorder.event(
          pod,
          'Warning',
          'NotDeleted',
          `Pod was expected by PDB ${pdb.metadata.namespace ?? ''}/${pdb.metadata.namespace ?? ''} to be deleted but it wasn't`,
        );
    }
    const currentHealthy = countHealthyPods(pods, disruptedPods, now);
    const next = nextPdbStatus(
      pdb,
      {
        currentHealthy,
        desiredHealthy: expected.desiredHealthy,
        expectedCount: expected.expectedCount,
        disruptedPods,
      },
      ts,
    );
    if (next) await this.write(pdb, next);
    if (recheckAt !== undefined) this.enqueueAfter(key, recheckAt - now.getTime() + 1);
  }

  /** UpdateStatus with the resourceVersion the status was computed from; a conflict requeues. */
  private async write(
    pdb: PodDisruptionBudget,
    status: NonNullable<PodDisruptionBudget['status']>,
  ): Promise<void> {
    try {
      await this.ctx.api.update(
        pdbs,
        pdb.metadata.namespace,
        pdb.metadata.name ?? '',
        { ...pdb, status },
        { subresource: 'status' },
      );
    } catch (e) {
      if (isApiError(e, 404)) return;
      throw e;
    }
  }
}
