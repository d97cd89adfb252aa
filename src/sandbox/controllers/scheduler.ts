// default-scheduler: binds pending pods (no nodeName, schedulerName default-scheduler, not being
// deleted) to a node through pods/binding, with the default profile's filters and scores from
// scheduling.ts. Like kube-scheduler it keeps a cache of what each node already carries (every
// non-terminal pod bound to it, terminating ones included) and "assumes" a pod on its node as
// soon as it decides, so the next decision sees it before the binding round-trips. A pod that
// fits nowhere gets PodScheduled=False/Unschedulable with kube's message and a FailedScheduling
// event, and is retried when nodes or pods change. It never preempts.
import { keyOf, timestamp } from '../apiserver/meta.ts';
import { resource } from '../apiserver/resources.ts';
import type { Node, Pod } from '../apiserver/types.ts';
import { controllerRefOf, errorText, isApiError } from './base.ts';
import type { Controller, ControllerContext } from './context.ts';
import type { EventRecorder } from './recorder.ts';
import { isPodDeleting, isPodTerminal, withPodCondition } from './pod-util.ts';
import { nodeReadyStatus } from '../../kube/scheduling.ts';
import { podIndex, type PodIndex } from './pod-index.ts';
import {
  emptyUsage,
  filterNode,
  fitErrorMessage,
  podRequests,
  scoreNodes,
  type FilterVerdict,
  type NodeUsage,
  type Resources,
} from './scheduling.ts';

const pods = resource('pods');

/** The scheduler's name, as pods ask for it in spec.schedulerName. */
export const DEFAULT_SCHEDULER = 'default-scheduler';

/** How long an unschedulable pod waits without any cluster change before it is tried again (podMaxInUnschedulablePodsDuration). */
const UNSCHEDULABLE_FLUSH_MS = 5 * 60 * 1000;
/** Bindings in flight at once. */
const MAX_IN_FLIGHT = 32;

interface PlacedPod {
  req: Resources;
  nonZero: Resources;
}

/** Is this pod for the default scheduler to place? */
export function isPendingForScheduler(pod: Pod): boolean {
  return (
    !pod.spec.nodeName &&
    (pod.spec.schedulerName ?? DEFAULT_SCHEDULER) === DEFAULT_SCHEDULER &&
    !isPodDeleting(pod) &&
    !isPodTerminal(pod)
  );
}

/** kube-scheduler with the default profile, minus preemption. */
export class Scheduler implements Controller {
  readonly name = 'scheduler';
  private readonly index: PodIndex;
  private readonly recorder: EventRecorder;
  /** node -> pod key -> requests of the non-terminal pods on it (bound or assumed). */
  private readonly placed = new Map<string, Map<string, PlacedPod>>();
  private readonly usage = new Map<string, NodeUsage>();
  /** pod key -> node it was assumed on, until the binding is seen. */
  private readonly assumed = new Map<string, string>();
  private readonly active: string[] = [];
  private readonly activeSet = new Set<string>();
  private readonly unschedulable = new Set<string>();
  private inFlight = 0;
  private pumping = false;
  private started = false;
  private stopped = false;
  private flushTimer: NodeJS.Timeout | undefined;
  private idleWaiters: (() => void)[] = [];

  constructor(private readonly ctx: ControllerContext) {
    this.index = podIndex(ctx.informers);
    this.recorder = ctx.recorder(DEFAULT_SCHEDULER);
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    this.ctx.informers.pods.on((type, pod, old) => this.onPod(type, pod, old));
    this.ctx.informers.nodes.on((type, node, old) => this.onNode(type, node, old));
    this.flushTimer = setInterval(() => this.moveAllToActive(), UNSCHEDULABLE_FLUSH_MS);
    this.flushTimer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.flushTimer) clearInterval(this.flushTimer);
    this.active.length = 0;
    this.activeSet.clear();
    this.unschedulable.clear();
    this.settle();
  }

  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  private isIdle(): boolean {
    return this.active.length === 0 && this.inFlight === 0 && !this.pumping;
  }

  private settle(): void {
    if (this.isIdle() || this.stopped) for (const w of this.idleWaiters.splice(0)) w();
  }

  // --- the cache of what nodes carry ---------------------------------------------------------

  private usageOf(node: string): NodeUsage {
    return this.usage.get(node) ?? emptyUsage();
  }

  private place(node: string, key: string, pod: Pod): void {
    let m = this.placed.get(node);
    if (!m) this.placed.set(node, (m = new Map()));
    if (m.has(key)) return;
    const p: PlacedPod = { req: podRequests(pod), nonZero: podRequests(pod, true) };
    m.set(key, p);
    const u = this.usage.get(node) ?? emptyUsage();
    u.milliCpu += p.req.milliCpu;
    u.memory += p.req.memory;
    u.nonZeroMilliCpu += p.nonZero.milliCpu;
    u.nonZeroMemory += p.nonZero.memory;
    u.pods += 1;
    this.usage.set(node, u);
  }

  /** Removes a pod from a node's accounting; true when it was there. */
  private unplace(node: string, key: string): boolean {
    const m = this.placed.get(node);
    const p = m?.get(key);
    if (!m || !p) return false;
    m.delete(key);
    const u = this.usage.get(node);
    if (u) {
      u.milliCpu -= p.req.milliCpu;
      u.memory -= p.req.memory;
      u.nonZeroMilliCpu -= p.nonZero.milliCpu;
      u.nonZeroMemory -= p.nonZero.memory;
      u.pods -= 1;
    }
    return true;
  }

  private onPod(type: 'ADDED' | 'MODIFIED' | 'DELETED', pod: Pod, cached: Pod | undefined): void {
    const key = keyOf(pod);
    const old = cached ?? (type === 'DELETED' ? pod : undefined);
    let freed = false;
    const oldNode = old?.spec.nodeName;
    const newNode = type !== 'DELETED' && !isPodTerminal(pod) ? pod.spec.nodeName : undefined;
    if (oldNode && oldNode !== newNode) freed = this.unplace(oldNode, key) || freed;
    const assumedOn = this.assumed.get(key);
    if (newNode) {
      if (assumedOn && assumedOn !== newNode) this.unplace(assumedOn, key);
      this.assumed.delete(key);
      this.place(newNode, key, pod);
    } else if (type === 'DELETED' || isPodTerminal(pod) || isPodDeleting(pod)) {
      if (assumedOn) freed = this.unplace(assumedOn, key) || freed;
      this.assumed.delete(key);
    }
    if (type === 'DELETED' || !isPendingForScheduler(pod)) {
      this.dequeue(key);
      this.unschedulable.delete(key);
    } else if (!this.assumed.has(key)) {
      // A new pending pod, or one whose spec or labels changed (not our own status write).
      const changed =
        !old ||
        JSON.stringify(old.spec) !== JSON.stringify(pod.spec) ||
        JSON.stringify(old.metadata.labels) !== JSON.stringify(pod.metadata.labels);
      if (!old || !this.unschedulable.has(key) || changed) {
        this.unschedulable.delete(key);
        this.enqueue(key);
      }
    }
    if (freed) this.moveAllToActive();
  }

  private onNode(type: 'ADDED' | 'MODIFIED' | 'DELETED', node: Node, old: Node | undefined): void {
    const name = node.metadata.name ?? '';
    if (type === 'DELETED') {
      for (const key of this.placed.get(name)?.keys() ?? [])
        if (this.assumed.get(key) === name) this.assumed.delete(key);
      this.placed.delete(name);
      this.usage.delete(name);
      return;
    }
    if (type === 'ADDED' || !old || nodeSchedulingChanged(old, node)) this.moveAllToActive();
  }

  // --- the scheduling queue -------------------------------------------------------------------

  private enqueue(key: string): void {
    if (this.stopped || this.activeSet.has(key)) return;
    this.activeSet.add(key);
    this.active.push(key);
    this.pump();
  }

  private dequeue(key: string): void {
    if (!this.activeSet.delete(key)) return;
    const i = this.active.indexOf(key);
    if (i >= 0) this.active.splice(i, 1);
  }

  private moveAllToActive(): void {
    const keys = [...this.unschedulable];
    this.unschedulable.clear();
    for (const k of keys) this.enqueue(k);
  }

  private pump(): void {
    if (this.pumping || this.stopped) return;
    this.pumping = true;
    setImmediate(() => {
      this.pumping = false;
      let budget = 64;
      while (!this.stopped && this.active.length > 0 && this.inFlight < MAX_IN_FLIGHT && budget-- > 0) {
        const key = this.active.shift() as string;
        this.activeSet.delete(key);
        try {
          this.scheduleOne(key);
        } catch (e) {
          this.ctx.log(`scheduler: ${key}: ${errorText(e)}`);
        }
      }
      if (this.active.length > 0 && this.inFlight < MAX_IN_FLIGHT) this.pump();
      this.settle();
    });
  }

  private track(p: Promise<unknown>): void {
    this.inFlight++;
    void p.finally(() => {
      this.inFlight--;
      if (this.active.length > 0) this.pump();
      this.settle();
    });
  }

  // --- one scheduling cycle -------------------------------------------------------------------

  private scheduleOne(key: string): void {
    const pod = this.ctx.informers.pods.get(key);
    if (!pod || !isPendingForScheduler(pod) || this.assumed.has(key)) return;
    const nodes = this.ctx.informers.nodes.list();
    const req = podRequests(pod);
    const verdicts: FilterVerdict[] = [];
    const feasible: Node[] = [];
    for (const n of nodes) {
      const v = filterNode(pod, n, this.usageOf(n.metadata.name ?? ''), req);
      verdicts.push(v);
      if (v.fits) feasible.push(n);
    }
    if (feasible.length === 0) {
      this.unschedulable.add(key);
      this.track(this.recordUnschedulable(pod, fitErrorMessage(verdicts)));
      return;
    }
    const sameOwner = this.sameOwnerPodsByNode(pod);
    const scores = scoreNodes(
      pod,
      feasible.map((n) => ({
        node: n,
        usage: this.usageOf(n.metadata.name ?? ''),
        sameOwnerPods: sameOwner.get(n.metadata.name ?? '') ?? 0,
      })),
    );
    // selectHost: the highest score, ties broken at random (reservoir sampling in kube).
    let best: Node | undefined;
    let bestScore = -Infinity;
    let ties = 0;
    feasible.forEach((n, i) => {
      const s = scores[i] ?? 0;
      if (s > bestScore + 1e-9) {
        best = n;
        bestScore = s;
        ties = 1;
      } else if (Math.abs(s - bestScore) <= 1e-9 && Math.random() * ++ties < 1) best = n;
    });
    const target = best?.metadata.name ?? '';
    this.assumed.set(key, target);
    this.place(target, key, pod);
    this.track(this.bind(pod, key, target));
  }

  private sameOwnerPodsByNode(pod: Pod): Map<string, number> {
    const out = new Map<string, number>();
    const ref = controllerRefOf(pod);
    if (!ref) return out;
    for (const p of this.index.controlledBy(ref.uid)) {
      if (isPodDeleting(p) || isPodTerminal(p)) continue;
      const n = p.spec.nodeName ?? this.assumed.get(keyOf(p));
      if (n) out.set(n, (out.get(n) ?? 0) + 1);
    }
    return out;
  }

  private async bind(pod: Pod, key: string, node: string): Promise<void> {
    const ns = pod.metadata.namespace ?? '';
    const name = pod.metadata.name ?? '';
    try {
      await this.ctx.api.bind(
        ns,
        name,
        {
          apiVersion: 'v1',
          kind: 'Binding',
          metadata: { name, namespace: ns, uid: pod.metadata.uid },
          target: { apiVersion: 'v1', kind: 'Node', name: node },
        },
        {},
        pod,
      );
      this.recorder.event(pod, 'Normal', 'Scheduled', `Successfully assigned ${ns}/${name} to ${node}`);
    } catch (e) {
      // ForgetPod: the assumption goes; the informer tells us what really happened.
      if (this.assumed.get(key) === node) {
        this.assumed.delete(key);
        const cur = this.ctx.informers.pods.get(key);
        if (cur?.spec.nodeName !== node) this.unplace(node, key);
      }
      if (isApiError(e, 404) || isApiError(e, 409)) return;
      this.ctx.log(`scheduler: binding ${key} to ${node}: ${errorText(e)}`);
      setTimeout(() => this.enqueue(key), this.ctx.timing.retryMs).unref();
    }
  }

  private async recordUnschedulable(pod: Pod, message: string): Promise<void> {
    const now = timestamp(this.ctx.clock.now());
    try {
      await this.ctx.api.guaranteedUpdate(
        pods,
        pod.metadata.namespace,
        pod.metadata.name ?? '',
        (cur) => {
          const p = cur as Pod;
          if (p.metadata.uid !== pod.metadata.uid || p.spec.nodeName) return undefined;
          const r = withPodCondition(
            p.status?.conditions,
            { type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message },
            now,
          );
          if (!r.changed) return undefined;
          p.status = { ...(p.status ?? {}), conditions: r.conditions };
          return p;
        },
        { subresource: 'status' },
      );
    } catch (e) {
      if (!isApiError(e, 404)) this.ctx.log(`scheduler: status of ${keyOf(pod)}: ${errorText(e)}`);
    }
    this.recorder.event(pod, 'Warning', 'FailedScheduling', message);
  }
}

/** Did anything the filters look at change (so that unschedulable pods deserve another try)? */
function nodeSchedulingChanged(old: Node, cur: Node): boolean {
  if (old.spec?.unschedulable !== cur.spec?.unschedulable) return true;
  if (JSON.stringify(old.spec?.taints ?? []) !== JSON.stringify(cur.spec?.taints ?? [])) return true;
  if (JSON.stringify(old.metadata.labels ?? {}) !== JSON.stringify(cur.metadata.labels ?? {})) return true;
  if (JSON.stringify(old.status?.allocatable ?? {}) !== JSON.stringify(cur.status?.allocatable ?? {}))
    return true;
  return nodeReadyStatus(old) !== nodeReadyStatus(cur);
}
