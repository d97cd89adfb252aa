// The pre-flight's view of the cluster's pods, built from a chunked list without keeping it: a
// drain's memory must not grow with the cluster. One pass keeps
// - the pods of the nodes being drained, whole (the filters and the drain need them);
// - per node, the requests (and pod slots) of the pods that hold resources there (placement of
//   replacements);
// - per PodDisruptionBudget, how many pods it covers and how many of those are Ready (its numbers
//   before the disruption controller has observed it), and which status.disruptedPods entries
//   still name a live pod (an eviction that never deleted it holds the budget down);
// and nothing else. Pure: the caller feeds it chunks.
import type { Pod, PodDisruptionBudget } from '../kube/types.ts';
import { fromLabelSelector, matches, type Selector } from '../kube/labels.ts';
import { isPodReady } from '../kube/pods.ts';
import { isFinished } from './filters.ts';
import { placementNeeds, type Resources } from './quantity.ts';

/** status.disruptedPods entries of one budget whose pods are still there and not being deleted. */
export interface HeldEntry {
  /** namespace/name. */
  pod: string;
  /** When the eviction recorded it (RFC 3339). */
  since: string;
}

/** What the pre-flight knows about the cluster's pods, in aggregate. */
export interface ClusterUsage {
  /** Requests of the pods holding resources on each node (not finished), summed, by node name. */
  requested: ReadonlyMap<string, Resources>;
  /** Per budget ("namespace/name"): the pods its selector covers that are neither finished nor deleting, and the Ready ones. */
  covered: ReadonlyMap<string, { pods: number; ready: number }>;
  /** Per budget: disruptedPods entries that still hold a live pod out of currentHealthy. */
  held: ReadonlyMap<string, readonly HeldEntry[]>;
}

/** What a scan yields. */
export interface PodScan extends ClusterUsage {
  /** The pods of the nodes asked for, by node name. */
  onNodes: ReadonlyMap<string, Pod[]>;
  /** Every pod seen. */
  seen: number;
}

/** "namespace/name" of an object. */
export function keyOf(o: { metadata: { namespace?: string; name?: string } }): string {
  return `${o.metadata.namespace ?? 'default'}/${o.metadata.name ?? ''}`;
}

/** Accumulates a scan, chunk by chunk. */
export class PodScanner {
  private readonly onNodes = new Map<string, Pod[]>();
  private readonly requested = new Map<string, Resources>();
  private readonly covered = new Map<string, { pods: number; ready: number }>();
  private readonly held = new Map<string, HeldEntry[]>();
  private readonly budgets = new Map<
    string,
    { key: string; sel: Selector; disrupted: Record<string, string> }[]
  >();
  private seen = 0;

  /**
   * @param nodes the nodes whose pods are kept whole
   * @param pdbs every budget (covered counts and held entries are kept for these)
   */
  constructor(
    private readonly nodes: ReadonlySet<string>,
    pdbs: readonly PodDisruptionBudget[],
  ) {
    for (const b of pdbs) {
      const ns = b.metadata.namespace ?? 'default';
      const list = this.budgets.get(ns) ?? [];
      list.push({
        key: keyOf(b),
        sel: fromLabelSelector(b.spec?.selector),
        disrupted: b.status?.disruptedPods ?? {},
      });
      this.budgets.set(ns, list);
      this.covered.set(keyOf(b), { pods: 0, ready: 0 });
    }
  }

  /** Takes one chunk of pods into account. */
  add(chunk: readonly Pod[]): void {
    for (const p of chunk) {
      this.seen++;
      const node = p.spec?.nodeName;
      if (node !== undefined && node !== '') {
        if (this.nodes.has(node)) {
          const list = this.onNodes.get(node) ?? [];
          list.push(p);
          this.onNodes.set(node, list);
        }
        if (!isFinished(p)) {
          const sum = this.requested.get(node) ?? {};
          for (const [k, v] of Object.entries(placementNeeds(p))) sum[k] = (sum[k] ?? 0) + v;
          this.requested.set(node, sum);
        }
      }
      const deleting = p.metadata.deletionTimestamp !== undefined;
      for (const b of this.budgets.get(p.metadata.namespace ?? 'default') ?? []) {
        if (!matches(b.sel, p.metadata.labels)) continue;
        const since = b.disrupted[p.metadata.name ?? ''];
        if (since !== undefined && !deleting) {
          const list = this.held.get(b.key) ?? [];
          list.push({ pod: keyOf(p), since });
          this.held.set(b.key, list);
        }
        if (isFinished(p) || deleting) continue;
        const c = this.covered.get(b.key);
        if (c) {
          c.pods++;
          if (isPodReady(p)) c.ready++;
        }
      }
    }
  }

  /** The scan so far. */
  result(): PodScan {
    return {
      onNodes: this.onNodes,
      requested: this.requested,
      covered: this.covered,
      held: this.held,
      seen: this.seen,
    };
  }
}

/** The same aggregates from pods already in memory (small callers and tests). */
export function usageOf(pods: readonly Pod[], pdbs: readonly PodDisruptionBudget[]): ClusterUsage {
  const s = new PodScanner(new Set(), pdbs);
  s.add(pods);
  return s.result();
}
