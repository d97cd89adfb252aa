// daemonset-controller (pkg/controller/daemon): one pod per eligible node. A node is eligible when
// the template's node selector/affinity match it and its NoSchedule/NoExecute taints are
// tolerated, counting the tolerations the controller adds itself (not-ready/unreachable
// NoExecute, disk/memory/pid-pressure and unschedulable NoSchedule, network-unavailable for
// hostNetwork), so cordoned nodes still get their daemon pods. Pods carry a required node
// affinity `matchFields metadata.name In [node]` and are bound by the scheduler. Pods on nodes
// that are no longer eligible (unless they tolerate its NoExecute taints), on deleted nodes,
// failed or surplus ones are deleted; RollingUpdate replaces old-revision pods within
// maxUnavailable. Revisions live in ControllerRevisions; status as kube counts it.
import { clone, isDeleting, keyOf } from '../apiserver/meta.ts';
import { resource } from '../apiserver/resources.ts';
import { fromLabelSelector, isEverything, labelSelectorAsSelector, matches } from '../../kube/labels.ts';
import type { Affinity, DaemonSet, Node, Pod, PodSpec } from '../apiserver/types.ts';
import type { Toleration } from '../../kube/types.ts';
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
import { scaledIntOrPercent } from '../../kube/pods.ts';
import { compareByCreation, isPodAvailable, isPodReady, isPodTerminal } from './pod-util.ts';
import { podIndex, type PodIndex } from './pod-index.ts';
import type { EventRecorder } from './recorder.ts';
import { BURST_REPLICAS, slowStartBatch } from './replicaset.ts';
import { ensureRevision, REVISION_HASH_LABEL, trimRevisions } from './revisions.ts';
import { findUntoleratedTaint, podMatchesNodeAffinity } from '../../kube/scheduling.ts';
import { TAINTS } from './scheduling.ts';

const pods = resource('pods');
const daemonsets = resource('daemonsets');
const KIND = { apiVersion: 'apps/v1', kind: 'DaemonSet' };
/** The deprecated generation label kube still puts on daemon pods. */
const TEMPLATE_GENERATION_LABEL = 'pod-template-generation';

/** util.AddOrUpdateDaemonPodTolerations: the tolerations every daemon pod gets. */
export function daemonTolerations(spec: Pick<PodSpec, 'tolerations' | 'hostNetwork'>): Toleration[] {
  const add: Toleration[] = [
    { key: TAINTS.notReady, operator: 'Exists', effect: 'NoExecute' },
    { key: TAINTS.unreachable, operator: 'Exists', effect: 'NoExecute' },
    { key: TAINTS.diskPressure, operator: 'Exists', effect: 'NoSchedule' },
    { key: TAINTS.memoryPressure, operator: 'Exists', effect: 'NoSchedule' },
    { key: TAINTS.pidPressure, operator: 'Exists', effect: 'NoSchedule' },
    { key: TAINTS.unschedulable, operator: 'Exists', effect: 'NoSchedule' },
    ...(spec.hostNetwork
      ? [{ key: TAINTS.networkUnavailable, operator: 'Exists', effect: 'NoSchedule' } as Toleration]
      : []),
  ];
  let out = [...(spec.tolerations ?? [])];
  for (const t of add) {
    // AddOrUpdateTolerationInPodSpec: a toleration with the same key, operator, value and effect is replaced.
    const same = (x: Toleration): boolean =>
      (x.key ?? '') === t.key &&
      (x.operator ?? 'Equal') === t.operator &&
      (x.value ?? '') === '' &&
      (x.effect ?? '') === t.effect;
    if (out.some(same)) out = out.map((x) => (same(x) ? t : x));
    else out.push(t);
  }
  return out;
}

/** ReplaceDaemonSetPodNodeNameNodeAffinity: the required node affinity becomes `metadata.name In [node]`. */
export function nodeNameAffinity(affinity: Affinity | undefined, node: string): Affinity {
  const term = { matchFields: [{ key: 'metadata.name', operator: 'In' as const, values: [node] }] };
  const a = clone(affinity ?? {});
  a.nodeAffinity = {
    ...(a.nodeAffinity ?? {}),
    requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [term] },
  };
  return a;
}

/** NodeShouldRunDaemonPod: should a daemon pod run there, and may an existing one stay? */
export function shouldRunOn(
  node: Node,
  ds: DaemonSet,
): { shouldRun: boolean; shouldContinueRunning: boolean } {
  const spec = ds.spec.template.spec;
  if (spec.nodeName && spec.nodeName !== node.metadata.name)
    return { shouldRun: false, shouldContinueRunning: false };
  const pod: Pod = { metadata: {}, spec: { ...spec, tolerations: daemonTolerations(spec) } };
  if (!podMatchesNodeAffinity(pod, node)) return { shouldRun: false, shouldContinueRunning: false };
  const taints = node.spec?.taints;
  if (
    findUntoleratedTaint(
      taints,
      pod.spec.tolerations,
      (t) => t.effect === 'NoSchedule' || t.effect === 'NoExecute',
    )
  ) {
    return {
      shouldRun: false,
      shouldContinueRunning: !findUntoleratedTaint(
        taints,
        pod.spec.tolerations,
        (t) => t.effect === 'NoExecute',
      ),
    };
  }
  return { shouldRun: true, shouldContinueRunning: true };
}

/** util.GetTargetNodeName: spec.nodeName, or the node named by the daemon affinity of an unscheduled pod. */
export function targetNode(pod: Pod): string | undefined {
  if (pod.spec.nodeName) return pod.spec.nodeName;
  for (const t of pod.spec.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution
    ?.nodeSelectorTerms ?? []) {
    for (const f of t.matchFields ?? [])
      if (f.key === 'metadata.name' && f.operator === 'In' && f.values?.length === 1) return f.values[0];
  }
  return undefined;
}

/** podByCreationTimestampAndPhase: scheduled first, then oldest. */
function byScheduledThenAge(a: Pod, b: Pod): number {
  const sa = a.spec.nodeName ? 0 : 1;
  const sb = b.spec.nodeName ? 0 : 1;
  return sa - sb || compareByCreation(a, b);
}

/** The DaemonSet controller. */
export class DaemonSetController extends QueueController {
  private readonly index: PodIndex;
  private readonly expectations: Expectations;
  private readonly recorder: EventRecorder;

  constructor(ctx: ControllerContext) {
    super('daemonset', ctx, { workers: 2 });
    this.index = podIndex(ctx.informers);
    this.expectations = new Expectations(() => ctx.clock.now().getTime());
    this.recorder = ctx.recorder('daemonset-controller');
  }

  protected register(): void {
    this.ctx.informers.daemonsets.on((type, ds) => {
      if (type === 'DELETED') this.expectations.delete(keyOf(ds));
      this.enqueue(keyOf(ds));
    });
    this.ctx.informers.pods.on((type, pod, old) => this.onPod(type, pod, old));
    this.ctx.informers.nodes.on((type, node, old) => {
      if (type === 'MODIFIED' && old && !nodeChangedForDaemons(old, node)) return;
      for (const ds of this.ctx.informers.daemonsets.list()) this.enqueue(keyOf(ds));
    });
  }

  private ownerKey(pod: Pod): string | undefined {
    const ref = controllerRefOf(pod);
    if (!ref || ref.kind !== 'DaemonSet') return undefined;
    const key = keyFor(pod.metadata.namespace, ref.name);
    return this.ctx.informers.daemonsets.get(key)?.metadata.uid === ref.uid ? key : undefined;
  }

  private onPod(type: 'ADDED' | 'MODIFIED' | 'DELETED', pod: Pod, old: Pod | undefined): void {
    const key = this.ownerKey(pod);
    if (key) {
      if (type === 'ADDED' && !isDeleting(pod)) this.expectations.creationObserved(key);
      if (type === 'DELETED' || (isDeleting(pod) && !(old && isDeleting(old))))
        this.expectations.deletionObserved(key, pod.metadata.uid ?? '');
      this.enqueue(key);
      return;
    }
    if (type !== 'DELETED' && !controllerRefOf(pod)) {
      for (const ds of this.ctx.informers.daemonsets.list(pod.metadata.namespace)) {
        if (matches(fromLabelSelector(ds.spec.selector), pod.metadata.labels)) this.enqueue(keyOf(ds));
      }
    }
  }

  protected async sync(key: string): Promise<void> {
    const cached = this.ctx.informers.daemonsets.get(key);
    if (!cached) {
      this.expectations.delete(key);
      return;
    }
    const ds = clone(cached);
    const converted = labelSelectorAsSelector(ds.spec.selector);
    if (!converted.ok) {
      this.ctx.log(`daemonset ${key}: invalid selector: ${converted.error}`);
      return;
    }
    const selector = converted.selector;
    if (isEverything(selector)) {
      this.recorder.event(
        ds,
        'Warning',
        'SelectingAll',
        'This daemon set is selecting all pods. A non-empty selector is required.',
      );
      return;
    }
    if (isDeleting(ds)) return;
    const needsSync = this.expectations.satisfied(key);
    const collisionCount = collisionCountOf(ds);
    const rev = await ensureRevision(this.ctx, ds, KIND, ds.spec.template, collisionCount);
    const owned = await claim(
      this.ctx,
      pods,
      ds,
      KIND,
      selector,
      this.index.controlledBy(ds.metadata.uid ?? ''),
      this.index.orphansIn(ds.metadata.namespace ?? ''),
    );
    const byNode = new Map<string, Pod[]>();
    for (const p of owned) {
      // getNodesToDaemonPods(includeDeletedTerminal=false)
      if (isPodTerminal(p) && isDeleting(p)) continue;
      const n = targetNode(p);
      if (!n) continue;
      const list = byNode.get(n) ?? [];
      list.push(p);
      byNode.set(n, list);
    }
    const nodes = this.ctx.informers.nodes.list();
    if (needsSync) {
      const { create, remove } = this.manage(ds, nodes, byNode);
      if (create.length > 0 || remove.length > 0) await this.syncNodes(key, ds, create, remove, rev.hash);
      else if ((ds.spec.updateStrategy as { type?: string } | undefined)?.type !== 'OnDelete') {
        const old = this.rollingUpdate(ds, nodes, byNode, rev.hash);
        if (old.length > 0) await this.syncNodes(key, ds, [], old, rev.hash);
      }
    }
    const live = new Set<string>([
      rev.hash,
      ...owned.map((p) => p.metadata.labels?.[REVISION_HASH_LABEL] ?? ''),
    ]);
    await trimRevisions(
      this.ctx,
      ds,
      (ds.spec as { revisionHistoryLimit?: number }).revisionHistoryLimit ?? 10,
      live,
    );
    await this.updateStatus(ds, nodes, byNode, rev.hash);
  }

  /** manage + podsShouldBeOnNode: the nodes needing a pod and the pods to delete. */
  private manage(
    ds: DaemonSet,
    nodes: Node[],
    byNode: Map<string, Pod[]>,
  ): { create: string[]; remove: Pod[] } {
    const create: string[] = [];
    const remove: Pod[] = [];
    const names = new Set<string>();
    for (const node of nodes) {
      const name = node.metadata.name ?? '';
      names.add(name);
      const { shouldRun, shouldContinueRunning } = shouldRunOn(node, ds);
      const daemonPods = byNode.get(name) ?? [];
      if (shouldRun) {
        const running: Pod[] = [];
        for (const p of daemonPods) {
          if (isDeleting(p)) continue;
          if (p.status?.phase === 'Failed') {
            this.recorder.event(
              ds,
              'Warning',
              'FailedDaemonPod',
              `Found failed daemon pod ${keyOf(p)} on node ${name}, will try to kill it`,
            );
            remove.push(p);
          } else if (p.status?.phase === 'Succeeded') remove.push(p);
          else running.push(p);
        }
        if (running.length === 0) create.push(name);
        else if (running.length > 1) remove.push(...running.sort(byScheduledThenAge).slice(1));
      } else if (!shouldContinueRunning) {
        for (const p of daemonPods) if (!isDeleting(p)) remove.push(p);
      }
    }
    // Pods whose node is gone (getUnscheduledPodsWithoutNode and pods bound to deleted nodes).
    for (const [n, ps] of byNode) if (!names.has(n)) for (const p of ps) if (!isDeleting(p)) remove.push(p);
    return { create, remove };
  }

  /** rollingUpdate without surge: replaces old-revision pods, at most maxUnavailable nodes at a time. */
  private rollingUpdate(ds: DaemonSet, nodes: Node[], byNode: Map<string, Pod[]>, hash: string): Pod[] {
    const now = this.ctx.clock.now();
    const minReady = ds.spec.minReadySeconds ?? 0;
    let desired = 0;
    for (const n of nodes) if (shouldRunOn(n, ds).shouldRun) desired++;
    const ru = (
      ds.spec.updateStrategy as { rollingUpdate?: { maxUnavailable?: number | string } } | undefined
    )?.rollingUpdate;
    const mu = scaledIntOrPercent(ru?.maxUnavailable ?? 1, desired, true);
    const maxUnavailable = mu.ok ? mu.value : 1;
    let numUnavailable = 0;
    const replace: Pod[] = [];
    const candidates: Pod[] = [];
    for (const [, ps] of byNode) {
      let newPod: Pod | undefined;
      let oldPod: Pod | undefined;
      let ok = true;
      for (const p of ps) {
        if (isDeleting(p)) continue;
        if (isUpdated(p, hash, ds.metadata.generation)) {
          if (newPod) ok = false;
          newPod = p;
        } else {
          if (oldPod) ok = false;
          oldPod = p;
        }
      }
      if (!ok || (!oldPod && !newPod) || (oldPod && newPod)) numUnavailable++;
      else if (newPod) {
        if (!isPodAvailable(newPod, minReady, now)) numUnavailable++;
      } else if (oldPod) {
        if (!isPodAvailable(oldPod, minReady, now)) replace.push(oldPod);
        else if (numUnavailable < maxUnavailable) candidates.push(oldPod);
      }
    }
    const remaining = Math.min(Math.max(0, maxUnavailable - numUnavailable), candidates.length);
    return [...replace, ...candidates.slice(0, remaining)];
  }

  private podFor(ds: DaemonSet, node: string, hash: string): Pod {
    const t = clone(ds.spec.template);
    t.metadata = {
      ...(t.metadata ?? {}),
      labels: {
        ...(t.metadata?.labels ?? {}),
        [REVISION_HASH_LABEL]: hash,
        [TEMPLATE_GENERATION_LABEL]: String(ds.metadata.generation ?? 1),
      },
    };
    t.spec.tolerations = daemonTolerations(t.spec);
    t.spec.affinity = nodeNameAffinity(t.spec.affinity, node);
    return podFromTemplate(t, ds, KIND, `${ds.metadata.name ?? ''}-`);
  }

  /** syncNodes: creates pods for nodes (slow start, with expectations) and deletes pods. */
  private async syncNodes(
    key: string,
    ds: DaemonSet,
    create: string[],
    remove: Pod[],
    hash: string,
  ): Promise<void> {
    const toCreate = create.slice(0, BURST_REPLICAS);
    const toDelete = remove.slice(0, BURST_REPLICAS);
    this.expectations.expect(
      key,
      toCreate.length,
      toDelete.map((p) => p.metadata.uid ?? ''),
    );
    const ns = ds.metadata.namespace ?? '';
    let failure: unknown;
    let i = 0;
    const { attempted, error } = await slowStartBatch(toCreate.length, async () => {
      const node = toCreate[i++] ?? '';
      try {
        const created = await this.ctx.api.create(pods, ns, this.podFor(ds, node, hash));
        this.recorder.event(ds, 'Normal', 'SuccessfulCreate', `Created pod: ${created.metadata.name ?? ''}`);
      } catch (e) {
        this.expectations.creationObserved(key);
        if (isNamespaceTerminating(e)) return;
        this.recorder.event(ds, 'Warning', 'FailedCreate', `Error creating: ${errorText(e)}`);
        throw e;
      }
    });
    for (let j = attempted; j < toCreate.length; j++) this.expectations.creationObserved(key);
    if (error !== undefined) failure = error;
    const results = await Promise.allSettled(
      toDelete.map(async (p) => {
        try {
          await this.ctx.api.delete(pods, p.metadata.namespace, p.metadata.name ?? '', {
            preconditions: { uid: p.metadata.uid ?? '' },
          });
          this.recorder.event(ds, 'Normal', 'SuccessfulDelete', `Deleted pod: ${p.metadata.name ?? ''}`);
        } catch (e) {
          this.expectations.deletionObserved(key, p.metadata.uid ?? '');
          if (isApiError(e, 404) || isApiError(e, 409)) return;
          this.recorder.event(ds, 'Warning', 'FailedDelete', `Error deleting: ${errorText(e)}`);
          throw e;
        }
      }),
    );
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) failure ??= failed.reason;
    if (failure !== undefined) throw failure;
  }

  private async updateStatus(
    ds: DaemonSet,
    nodes: Node[],
    byNode: Map<string, Pod[]>,
    hash: string,
  ): Promise<void> {
    const now = this.ctx.clock.now();
    const minReady = ds.spec.minReadySeconds ?? 0;
    let desired = 0;
    let current = 0;
    let misscheduled = 0;
    let ready = 0;
    let available = 0;
    let updated = 0;
    for (const node of nodes) {
      const { shouldRun } = shouldRunOn(node, ds);
      const ps = byNode.get(node.metadata.name ?? '') ?? [];
      const scheduled = ps.length > 0;
      if (shouldRun) {
        desired++;
        if (!scheduled) continue;
        current++;
        const pod = [...ps].sort(byScheduledThenAge)[0] as Pod;
        if (isPodReady(pod)) {
          ready++;
          if (isPodAvailable(pod, minReady, now)) available++;
        }
        if (isUpdated(pod, hash, ds.metadata.generation)) updated++;
      } else if (scheduled) misscheduled++;
    }
    const status = omitZero(
      {
        currentNumberScheduled: current,
        numberMisscheduled: misscheduled,
        desiredNumberScheduled: desired,
        numberReady: ready,
        observedGeneration: ds.metadata.generation ?? 0,
        updatedNumberScheduled: updated,
        numberAvailable: available,
        numberUnavailable: desired - available,
        ...(collisionCountOf(ds) !== undefined ? { collisionCount: collisionCountOf(ds) } : {}),
      } as Record<string, unknown>,
      ['observedGeneration', 'updatedNumberScheduled', 'numberAvailable', 'numberUnavailable'],
    );
    if (JSON.stringify(status) === JSON.stringify(ds.status ?? {})) return;
    try {
      await this.ctx.api.guaranteedUpdate(
        daemonsets,
        ds.metadata.namespace,
        ds.metadata.name ?? '',
        (cur) => {
          if (cur.metadata.uid !== ds.metadata.uid) return undefined;
          cur['status'] = status;
          return cur;
        },
        { subresource: 'status' },
      );
    } catch (e) {
      if (!isApiError(e, 404)) throw e;
    }
    // minReadySeconds: look again when a ready pod becomes available.
    if (minReady > 0 && ready > available) this.enqueueAfter(keyOf(ds), minReady * 1000);
  }
}

function collisionCountOf(ds: DaemonSet): number | undefined {
  const v = (ds.status as Record<string, unknown> | undefined)?.['collisionCount'];
  return typeof v === 'number' ? v : undefined;
}

/** IsPodUpdated: the pod carries the current template generation or revision hash. */
function isUpdated(pod: Pod, hash: string, generation: number | undefined): boolean {
  const labels = pod.metadata.labels ?? {};
  return (
    labels[REVISION_HASH_LABEL] === hash ||
    (generation !== undefined && labels[TEMPLATE_GENERATION_LABEL] === String(generation))
  );
}

/** Did a node change in a way that can change where daemon pods belong? */
function nodeChangedForDaemons(old: Node, cur: Node): boolean {
  if (JSON.stringify(old.metadata.labels ?? {}) !== JSON.stringify(cur.metadata.labels ?? {})) return true;
  if (JSON.stringify(old.spec?.taints ?? []) !== JSON.stringify(cur.spec?.taints ?? [])) return true;
  if (old.spec?.unschedulable !== cur.spec?.unschedulable) return true;
  const ready = (n: Node): string | undefined =>
    n.status?.conditions?.find((c) => c.type === 'Ready')?.status;
  return ready(old) !== ready(cur);
}
