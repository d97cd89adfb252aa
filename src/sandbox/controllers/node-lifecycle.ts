// node-lifecycle-controller (pkg/controller/nodelifecycle): watches the kubelets' heartbeats
// (Lease renewals in kube-node-lease and the Ready condition's lastHeartbeatTime). A node silent
// for timing.nodeMonitorGraceMs gets all its conditions Unknown ("Kubelet stopped posting node
// status."), a NodeNotReady event, and its pods marked Ready=False. Taints follow the conditions
// at once (no zone rate limiting): Ready=False -> not-ready, Unknown -> unreachable, both
// NoSchedule and NoExecute with timeAdded; Ready=True removes them; spec.unschedulable <->
// node.kubernetes.io/unschedulable:NoSchedule; memory/disk/pid pressure and network-unavailable
// -> their NoSchedule taints. Acting on the NoExecute taints is taint-eviction.ts's job.
import { isDeleting, timestamp } from '../apiserver/meta.ts';
import { resource } from '../apiserver/resources.ts';
import type { KubeObject, Lease, Node, Pod } from '../apiserver/types.ts';
import type { Taint } from '../../kube/types.ts';
import { QueueController, isApiError } from './base.ts';
import type { ControllerContext } from './context.ts';
import { withPodCondition } from './pod-util.ts';
import { podIndex, type PodIndex } from './pod-index.ts';
import type { EventRecorder } from './recorder.ts';
import { TAINTS } from './scheduling.ts';

const nodes = resource('nodes');
const pods = resource('pods');

/** The node conditions the controller marks Unknown (kubelet-owned ones it knows). */
const MONITORED = ['Ready', 'MemoryPressure', 'DiskPressure', 'PIDPressure'];

/** nodeConditionToTaintKeyStatusMap: which condition status gets which NoSchedule taint. */
const CONDITION_TAINTS: Record<string, Record<string, string>> = {
  Ready: { False: TAINTS.notReady, Unknown: TAINTS.unreachable },
  MemoryPressure: { True: TAINTS.memoryPressure },
  DiskPressure: { True: TAINTS.diskPressure },
  NetworkUnavailable: { True: TAINTS.networkUnavailable },
  PIDPressure: { True: TAINTS.pidPressure },
};
const CONDITION_TAINT_KEYS = new Set<string>(
  Object.values(CONDITION_TAINTS).flatMap((m) => Object.values(m)),
);

const sameTaint = (a: Taint, b: Taint): boolean => a.key === b.key && a.effect === b.effect;

/**
 * The taints the node controller wants on a node: doNoScheduleTaintingPass plus the NoExecute
 * not-ready/unreachable taint of processTaintBaseEviction. Other taints are kept as they are;
 * taints it keeps keep their timeAdded; new ones get `now`.
 */
export function desiredTaints(node: Node, now: string): Taint[] {
  const current = node.spec?.taints ?? [];
  const want: Taint[] = [];
  for (const c of node.status?.conditions ?? []) {
    const key = CONDITION_TAINTS[c.type]?.[c.status];
    if (key) want.push({ key, effect: 'NoSchedule' });
  }
  if (node.spec?.unschedulable === true) want.push({ key: TAINTS.unschedulable, effect: 'NoSchedule' });
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready')?.status;
  if (ready === 'False') want.push({ key: TAINTS.notReady, effect: 'NoExecute' });
  else if (ready === 'Unknown') want.push({ key: TAINTS.unreachable, effect: 'NoExecute' });
  const managed = (t: Taint): boolean =>
    (t.effect === 'NoSchedule' && (t.key === TAINTS.unschedulable || CONDITION_TAINT_KEYS.has(t.key))) ||
    (t.effect === 'NoExecute' && (t.key === TAINTS.notReady || t.key === TAINTS.unreachable));
  const out = current.filter((t) => !managed(t) || want.some((w) => sameTaint(w, t)));
  for (const w of want) if (!out.some((t) => sameTaint(t, w))) out.push({ ...w, timeAdded: now });
  return out;
}

interface Health {
  /** When we last saw the kubelet alive (ms, our clock). */
  probe: number;
  heartbeat: string | undefined;
  renew: string | undefined;
  /** The Ready status seen at the end of the last sync. */
  lastReady: string | undefined;
}

/** The node lifecycle controller. */
export class NodeLifecycleController extends QueueController {
  private readonly index: PodIndex;
  private readonly recorder: EventRecorder;
  private readonly health = new Map<string, Health>();
  private monitor: NodeJS.Timeout | undefined;
  private lastTick: number | undefined;

  constructor(ctx: ControllerContext) {
    super('node-lifecycle', ctx, { workers: 4 });
    this.index = podIndex(ctx.informers);
    this.recorder = ctx.recorder('node-controller');
  }

  private nowMs(): number {
    return this.ctx.clock.now().getTime();
  }

  private healthOf(name: string): Health {
    let h = this.health.get(name);
    if (!h)
      this.health.set(
        name,
        (h = { probe: this.nowMs(), heartbeat: undefined, renew: undefined, lastReady: undefined }),
      );
    return h;
  }

  protected register(): void {
    this.ctx.informers.nodes.on((type, node) => {
      const name = node.metadata.name ?? '';
      if (type === 'DELETED') {
        this.health.delete(name);
        return;
      }
      const h = this.healthOf(name);
      const hb = node.status?.conditions?.find((c) => c.type === 'Ready')?.lastHeartbeatTime;
      if (hb !== undefined && hb !== h.heartbeat) {
        if (h.heartbeat !== undefined) h.probe = this.nowMs();
        h.heartbeat = hb;
      }
      this.enqueue(name);
    });
    this.ctx.informers.leases.on((type, lease) => {
      if (type === 'DELETED' || lease.metadata.namespace !== 'kube-node-lease') return;
      const h = this.healthOf(lease.metadata.name ?? '');
      const renew = (lease as Lease).spec.renewTime;
      if (renew !== undefined && renew !== h.renew) {
        if (h.renew !== undefined) h.probe = this.nowMs();
        h.renew = renew;
      }
    });
    this.monitor = setInterval(() => this.monitorNodeHealth(), this.ctx.timing.nodeMonitorPeriodMs);
    this.monitor.unref();
  }

  override stop(): void {
    if (this.monitor) clearInterval(this.monitor);
    super.stop();
  }

  /** monitorNodeHealth: queues the nodes whose kubelet has been silent past the grace period. */
  private monitorNodeHealth(): void {
    const now = this.nowMs();
    // The sandbox runs every kubelet and this controller on one event loop: when the loop stalls,
    // heartbeats wait in the socket while this timer fires first. A stall is no kubelet's fault,
    // so it does not count against any node's grace period (time stood still for all of them).
    const lag = this.lastTick === undefined ? 0 : now - this.lastTick - this.ctx.timing.nodeMonitorPeriodMs;
    this.lastTick = now;
    if (lag > 0) for (const h of this.health.values()) h.probe += lag;
    for (const node of this.ctx.informers.nodes.list()) {
      const name = node.metadata.name ?? '';
      const h = this.healthOf(name);
      const ready = node.status?.conditions?.find((c) => c.type === 'Ready');
      if (now - h.probe > this.ctx.timing.nodeMonitorGraceMs && ready?.status !== 'Unknown')
        this.enqueue(name);
    }
  }

  protected async sync(name: string): Promise<void> {
    try {
      await this.syncNode(name);
    } catch (e) {
      // The API itself was unavailable (etcd restarting): no kubelet could heartbeat either, so
      // the outage does not count against any node's grace period.
      if (isApiError(e, 503)) {
        const now = this.nowMs();
        for (const h of this.health.values()) h.probe = Math.max(h.probe, now);
      }
      throw e;
    }
  }

  private async syncNode(name: string): Promise<void> {
    const cached = this.ctx.informers.nodes.get(name);
    if (!cached) return;
    const h = this.healthOf(name);
    const now = timestamp(this.ctx.clock.now());
    let node: Node = cached;
    const observed = node.status?.conditions?.find((c) => c.type === 'Ready')?.status;
    if (this.nowMs() - h.probe > this.ctx.timing.nodeMonitorGraceMs)
      node = (await this.markUnknown(node, now)) ?? node;
    const current = node.status?.conditions?.find((c) => c.type === 'Ready')?.status;
    if (observed === 'True' && current !== 'True') {
      this.recorder.event(
        nodeRef(name),
        'Normal',
        'NodeNotReady',
        `Node ${name} status is now: NodeNotReady`,
      );
      await this.markPodsNotReady(name, now);
    }
    h.lastReady = current;
    await this.swapTaints(node, now);
  }

  /** tryUpdateNodeHealth past the grace period: every monitored condition becomes Unknown. */
  private async markUnknown(node: Node, now: string): Promise<Node | undefined> {
    const updated = await this.ctx.api.guaranteedUpdate(
      nodes,
      undefined,
      node.metadata.name ?? '',
      (cur) => {
        const n = cur as Node;
        const conds = [...(n.status?.conditions ?? [])];
        let changed = false;
        if (!conds.some((c) => c.type === 'Ready')) {
          conds.push({
            type: 'Ready',
            status: 'Unknown',
            reason: 'NodeStatusNeverUpdated',
            message: 'Kubelet never posted node status.',
            lastHeartbeatTime: n.metadata.creationTimestamp ?? now,
            lastTransitionTime: now,
          });
          changed = true;
        }
        for (let i = 0; i < conds.length; i++) {
          const c = conds[i];
          if (!c || !MONITORED.includes(c.type) || c.status === 'Unknown') continue;
          conds[i] = {
            ...c,
            status: 'Unknown',
            reason: 'NodeStatusUnknown',
            message: 'Kubelet stopped posting node status.',
            lastTransitionTime: now,
          };
          changed = true;
        }
        if (!changed) return undefined;
        n.status = { ...(n.status ?? {}), conditions: conds };
        return n;
      },
      { subresource: 'status' },
    );
    return updated as Node | undefined;
  }

  /** nodeutil.MarkPodsNotReady: the Ready condition of every pod on the node goes False. */
  private async markPodsNotReady(nodeName: string, now: string): Promise<void> {
    for (const pod of this.index.onNode(nodeName)) {
      if (pod.status?.conditions?.find((c) => c.type === 'Ready')?.status !== 'True') continue;
      try {
        const updated = await this.ctx.api.guaranteedUpdate(
          pods,
          pod.metadata.namespace,
          pod.metadata.name ?? '',
          (cur) => {
            const p = cur as Pod;
            if (p.metadata.uid !== pod.metadata.uid || p.spec.nodeName !== nodeName) return undefined;
            const ready = p.status?.conditions?.find((c) => c.type === 'Ready');
            if (!ready) return undefined;
            const r = withPodCondition(p.status?.conditions, { ...ready, status: 'False' }, now);
            if (!r.changed) return undefined;
            p.status = { ...(p.status ?? {}), conditions: r.conditions };
            return p;
          },
          { subresource: 'status' },
        );
        if (updated) this.recorder.event(pod, 'Warning', 'NodeNotReady', 'Node is not ready');
      } catch (e) {
        if (!isApiError(e, 404)) throw e;
      }
    }
  }

  private async swapTaints(node: Node, now: string): Promise<void> {
    if (isDeleting(node)) return;
    const want = desiredTaints(node, now);
    if (JSON.stringify(want) === JSON.stringify(node.spec?.taints ?? [])) return;
    try {
      await this.ctx.api.guaranteedUpdate(nodes, undefined, node.metadata.name ?? '', (cur) => {
        const n = cur as Node;
        const next = desiredTaints(n, now);
        if (JSON.stringify(next) === JSON.stringify(n.spec?.taints ?? [])) return undefined;
        n.spec = { ...(n.spec ?? {}), taints: next };
        if (next.length === 0) delete n.spec.taints;
        return n;
      });
    } catch (e) {
      if (!isApiError(e, 404)) throw e;
    }
  }
}

/** The object reference kube's node controller uses for node events (uid = the node's name). */
export function nodeRef(name: string): KubeObject {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name, uid: name } };
}
