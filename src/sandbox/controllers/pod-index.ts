// In-memory indexes over the shared pod informer, so that controllers never scan every pod per
// event: pods by node, by owner uid (any owner reference) and pods without a controller by
// namespace. One index per Informers, shared by all controllers built on it.
import type { Pod } from '../apiserver/types.ts';
import { keyOf } from '../apiserver/meta.ts';
import type { Informers } from './context.ts';
import type { Informer } from './informer.ts';

function add(m: Map<string, Map<string, Pod>>, k: string, key: string, pod: Pod): void {
  let inner = m.get(k);
  if (!inner) m.set(k, (inner = new Map()));
  inner.set(key, pod);
}

function remove(m: Map<string, Map<string, Pod>>, k: string, key: string): void {
  const inner = m.get(k);
  if (!inner) return;
  inner.delete(key);
  if (inner.size === 0) m.delete(k);
}

/** Pods by node, by owner and without a controller, kept current from informer events. */
export class PodIndex {
  private readonly byNode = new Map<string, Map<string, Pod>>();
  private readonly byOwner = new Map<string, Map<string, Pod>>();
  private readonly orphans = new Map<string, Map<string, Pod>>();

  constructor(informer: Informer<Pod>) {
    informer.on((type, pod, old) => {
      const prev = old ?? (type === 'DELETED' ? pod : undefined);
      if (prev) this.drop(prev);
      if (type !== 'DELETED') this.put(pod);
    });
  }

  private put(pod: Pod): void {
    const key = keyOf(pod);
    if (pod.spec.nodeName) add(this.byNode, pod.spec.nodeName, key, pod);
    const refs = pod.metadata.ownerReferences ?? [];
    for (const r of refs) add(this.byOwner, r.uid, key, pod);
    if (!refs.some((r) => r.controller === true)) add(this.orphans, pod.metadata.namespace ?? '', key, pod);
  }

  private drop(pod: Pod): void {
    const key = keyOf(pod);
    if (pod.spec.nodeName) remove(this.byNode, pod.spec.nodeName, key);
    for (const r of pod.metadata.ownerReferences ?? []) remove(this.byOwner, r.uid, key);
    remove(this.orphans, pod.metadata.namespace ?? '', key);
  }

  /** Pods bound to the node. */
  onNode(node: string): Pod[] {
    return [...(this.byNode.get(node)?.values() ?? [])];
  }

  /** Pods with an owner reference (controller or not) to this uid. */
  ownedBy(uid: string): Pod[] {
    return [...(this.byOwner.get(uid)?.values() ?? [])];
  }

  /** Pods whose controller reference is this uid. */
  controlledBy(uid: string): Pod[] {
    return this.ownedBy(uid).filter((p) =>
      p.metadata.ownerReferences?.some((r) => r.uid === uid && r.controller === true),
    );
  }

  /** Pods in the namespace without a controller reference (candidates for adoption). */
  orphansIn(namespace: string): Pod[] {
    return [...(this.orphans.get(namespace)?.values() ?? [])];
  }

  /** Nodes that have pods bound to them. */
  nodesWithPods(): string[] {
    return [...this.byNode.keys()];
  }
}

const shared = new WeakMap<Informers, PodIndex>();

/** The PodIndex of these informers (created, and subscribed, on first use). */
export function podIndex(informers: Informers): PodIndex {
  let idx = shared.get(informers);
  if (!idx) {
    idx = new PodIndex(informers.pods);
    shared.set(informers, idx);
  }
  return idx;
}
