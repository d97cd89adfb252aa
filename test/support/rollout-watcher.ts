// Watches a cluster through a rolling operation (an upgrade, the reboot agent's rounds) and records
// every Node, Pod (mirror pods among them) and PodDisruptionBudget event, in the order the API
// server sent them. Afterwards the recording is replayed, event by event, to judge every instant:
// - the Version Skew Policy (src/upgrade/skew.ts) on the versions seen at that instant: each
//   control plane's kube-apiserver, kube-controller-manager and kube-scheduler (mirror pods'
//   images), each node's kubelet (status.nodeInfo.kubeletVersion) and kube-proxy (its pod's image);
// - every PodDisruptionBudget: the healthy pods it selects (Running, Ready, not terminating) never
//   fewer than its minimum (minAvailable, or the expected pods less maxUnavailable), and its own
//   status never reporting currentHealthy below desiredHealthy;
// - how many workers were out at once (cordoned or not Ready);
// - each node's kubelet versions and each control plane's kube-apiserver images, in order.
// The watches survive an API server that restarts under them (resumed from the last
// resourceVersion, as client-go's reflector does, by kube/watch.ts's listWatch).
import { tmpdir } from 'node:os';
import { createKubeClients, kubeRequest, type KubeClients } from '../../src/kube/client.ts';
import { fromLabelSelector, matches } from '../../src/kube/labels.ts';
import { watchObjects, type KubeList } from '../../src/kube/requests.ts';
import type { ListResult, Node, Pod, PodDisruptionBudget, WatchEvent } from '../../src/kube/types.ts';
import { listWatch } from '../../src/kube/watch.ts';
import { systemClock } from '../../src/common/real.ts';
import { checkSkew, type ComponentVersion } from '../../src/upgrade/index.ts';

type Kind = 'node' | 'pod' | 'pdb';

type Obj = Node | Pod | PodDisruptionBudget;

/** One recorded event; a (re)list is one LIST event with every object. */
export interface Recorded {
  seq: number;
  at: number;
  kind: Kind;
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'LIST';
  name: string;
  object: Obj | undefined;
  items?: Obj[];
}

const SOURCES: Record<Kind, { path: string; resource: string; group?: string }> = {
  node: { path: '/api/v1/nodes', resource: 'nodes' },
  pod: { path: '/api/v1/pods', resource: 'pods' },
  pdb: { path: '/apis/policy/v1/poddisruptionbudgets', resource: 'poddisruptionbudgets', group: 'policy' },
};

function keyOf(o: { metadata: { namespace?: string; name?: string } }): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;
}

function tag(image: string | undefined): string {
  const i = image ?? '';
  const at = i.lastIndexOf(':');
  return at > i.lastIndexOf('/') ? i.slice(at + 1) : '';
}

function ready(conds: readonly { type: string; status: string }[] | undefined): boolean {
  return (conds ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/** The cluster as the replay sees it at one instant. */
class State {
  readonly nodes = new Map<string, Node>();
  readonly pods = new Map<string, Pod>();
  readonly pdbs = new Map<string, PodDisruptionBudget>();

  apply(e: Recorded): void {
    const map = e.kind === 'node' ? this.nodes : e.kind === 'pod' ? this.pods : this.pdbs;
    if (e.type === 'LIST') {
      map.clear();
      for (const o of e.items ?? [])
        (map as Map<string, unknown>).set(e.kind === 'node' ? (o.metadata.name ?? '') : keyOf(o), o);
      return;
    }
    if (e.type === 'DELETED') map.delete(e.name);
    else (map as Map<string, unknown>).set(e.name, e.object);
  }

  components(): ComponentVersion[] {
    const out: ComponentVersion[] = [];
    for (const p of this.pods.values()) {
      if (p.metadata.namespace !== 'kube-system' || p.metadata.deletionTimestamp) continue;
      const node = p.spec?.nodeName ?? '';
      const component = p.metadata.labels?.['component'];
      if (
        p.metadata.labels?.['tier'] === 'control-plane' &&
        (component === 'kube-apiserver' ||
          component === 'kube-controller-manager' ||
          component === 'kube-scheduler')
      )
        out.push({ component, node, version: tag(p.spec?.containers?.[0]?.image), apiserver: 'local' });
      if (p.metadata.labels?.['k8s-app'] === 'kube-proxy')
        out.push({ component: 'kube-proxy', node, version: tag(p.spec?.containers?.[0]?.image) });
    }
    for (const n of this.nodes.values()) {
      const v = n.status?.nodeInfo?.kubeletVersion;
      if (v) out.push({ component: 'kubelet', node: n.metadata.name ?? '', version: v });
    }
    return out;
  }

  /** PDBs whose healthy pods are fewer than their minimum now. */
  budgetsBelowMinimum(): string[] {
    const out: string[] = [];
    for (const b of this.pdbs.values()) {
      const ns = b.metadata.namespace ?? '';
      const sel = fromLabelSelector(b.spec?.selector);
      const healthy = [...this.pods.values()].filter(
        (p) =>
          p.metadata.namespace === ns &&
          !p.metadata.deletionTimestamp &&
          p.status?.phase === 'Running' &&
          ready(p.status?.conditions) &&
          matches(sel, p.metadata.labels),
      ).length;
      const expected = b.status?.expectedPods ?? 0;
      const minAvailable = b.spec?.minAvailable;
      const maxUnavailable = b.spec?.maxUnavailable;
      let min: number | undefined;
      if (typeof minAvailable === 'number') min = minAvailable;
      else if (typeof maxUnavailable === 'number') min = expected - maxUnavailable;
      if (min !== undefined && healthy < min)
        out.push(`${keyOf(b)}: ${healthy} healthy pods, its minimum is ${min}`);
      const st = b.status;
      if (
        st?.currentHealthy !== undefined &&
        st.desiredHealthy !== undefined &&
        st.currentHealthy < st.desiredHealthy
      )
        out.push(
          `${keyOf(b)}: status says currentHealthy ${st.currentHealthy} < desiredHealthy ${st.desiredHealthy}`,
        );
    }
    return out;
  }

  /** Workers cordoned or not Ready now. */
  workersOut(isWorker: (n: Node) => boolean): string[] {
    return [...this.nodes.values()]
      .filter((n) => isWorker(n) && (n.spec?.unschedulable === true || !ready(n.status?.conditions)))
      .map((n) => n.metadata.name ?? '')
      .sort();
  }
}

/** What the replay found. */
export interface RolloutReport {
  /** Each instant the policy was broken: the event and the violations. */
  skew: string[];
  /** Each instant a budget was below its minimum. */
  budgets: string[];
  /** The most workers out at once, and who they were the first time. */
  maxWorkersOut: number;
  maxWorkersOutAt: string[];
  /** Per node, its kubelet versions in the order they were reported (repeats collapsed). */
  kubeletVersions: Map<string, string[]>;
  /** Per control plane, its kube-apiserver mirror pod's versions, in order (repeats collapsed). */
  apiserverVersions: Map<string, string[]>;
  events: number;
}

/** Records a cluster's events from start() to stop(). */
export class RolloutWatcher {
  readonly events: Recorded[] = [];
  /** Requests the watcher itself sent (lists and watches), to tell them from the operation's. */
  requests = 0;
  private readonly ctl = new AbortController();
  private readonly loops: Promise<void>[] = [];
  private readonly clients: KubeClients;
  private listed = new Set<Kind>();
  private seq = 0;

  private constructor(kubeconfig: string) {
    this.clients = createKubeClients({
      kubeconfig,
      signal: this.ctl.signal,
      home: tmpdir(),
      clock: systemClock,
    });
  }

  /** Starts the watches; resolves once each has its first list. */
  static async start(kubeconfig: string): Promise<RolloutWatcher> {
    const w = new RolloutWatcher(kubeconfig);
    const firstLists = (['node', 'pod', 'pdb'] as const).map(
      (k) =>
        new Promise<void>((resolve, reject) => {
          w.loops.push(
            w.watch(k, resolve).catch((e: unknown) => {
              reject(e as Error);
            }),
          );
        }),
    );
    await Promise.all(firstLists);
    return w;
  }

  private record(kind: Kind, type: Recorded['type'], object: Recorded['object'], items?: Obj[]): void {
    this.events.push({
      seq: ++this.seq,
      at: Date.now(),
      kind,
      type,
      name: object ? (kind === 'node' ? (object.metadata.name ?? '') : keyOf(object)) : '',
      object,
      ...(items ? { items } : {}),
    });
  }

  private watch(kind: Kind, listed: () => void): Promise<void> {
    const src = SOURCES[kind];
    const target = { resource: src.resource, ...(src.group ? { group: src.group } : {}), verb: 'watch' };
    return listWatch<Node | Pod | PodDisruptionBudget>(
      {
        list: async (): Promise<ListResult<Node | Pod | PodDisruptionBudget>> => {
          this.requests++;
          const l = await kubeRequest<KubeList<Node | Pod | PodDisruptionBudget>>(this.clients, {
            method: 'GET',
            path: src.path,
          });
          return { items: l.items ?? [], resourceVersion: l.metadata?.resourceVersion ?? '' };
        },
        watch: (rv, onEvent, signal) => {
          this.requests++;
          return watchObjects(
            this.clients,
            target,
            { path: src.path, query: { resourceVersion: rv, allowWatchBookmarks: true } },
            onEvent as (e: WatchEvent<Node | Pod | PodDisruptionBudget>) => void,
            signal,
          );
        },
      },
      {
        onList: (items) => {
          this.record(kind, 'LIST', undefined, items);
          if (!this.listed.has(kind)) {
            this.listed.add(kind);
            listed();
          }
        },
        onEvent: (e) => {
          if (e.type === 'BOOKMARK') return;
          this.record(kind, e.type, e.object);
        },
      },
      { clock: systemClock, signal: this.ctl.signal },
      { minBackoffMs: 50, maxBackoffMs: 500 },
    );
  }

  /** Stops the watches. */
  async stop(): Promise<void> {
    this.ctl.abort();
    await Promise.allSettled(this.loops);
  }

  /** Replays the recording and judges every instant. */
  report(o: { isWorker?: (n: Node) => boolean } = {}): RolloutReport {
    const isWorker =
      o.isWorker ?? ((n: Node) => n.metadata.labels?.['node-role.kubernetes.io/control-plane'] === undefined);
    const s = new State();
    const skew: string[] = [];
    const budgets: string[] = [];
    let maxOut: string[] = [];
    const kubeletVersions = new Map<string, string[]>();
    const apiserverVersions = new Map<string, string[]>();
    const push = (m: Map<string, string[]>, k: string, v: string): void => {
      const l = m.get(k) ?? [];
      if (v !== '' && l.at(-1) !== v) l.push(v);
      m.set(k, l);
    };
    // The lists at the start come in three parts (nodes, pods, budgets): judge from the last of
    // them on, when the replay has seen the whole cluster.
    const firstFull = Math.max(
      ...(['node', 'pod', 'pdb'] as const).map((k) =>
        this.events.findIndex((e) => e.kind === k && e.type === 'LIST'),
      ),
    );
    const versionsOf = (e: Recorded): Obj[] =>
      e.type === 'LIST' ? (e.items ?? []) : e.object && e.type !== 'DELETED' ? [e.object] : [];
    this.events.forEach((e, i) => {
      s.apply(e);
      for (const o of versionsOf(e)) {
        if (e.kind === 'node')
          push(kubeletVersions, o.metadata.name ?? '', (o as Node).status?.nodeInfo?.kubeletVersion ?? '');
        const p = o as Pod;
        if (
          e.kind === 'pod' &&
          p.metadata.labels?.['component'] === 'kube-apiserver' &&
          p.metadata.labels?.['tier'] === 'control-plane'
        )
          push(apiserverVersions, p.spec?.nodeName ?? '', tag(p.spec?.containers?.[0]?.image));
      }
      if (i < firstFull) return;
      const v = checkSkew(s.components());
      if (v.length > 0)
        skew.push(`#${e.seq} ${e.kind} ${e.type} ${e.name}: ${v.map((x) => x.message).join('; ')}`);
      for (const b of s.budgetsBelowMinimum()) budgets.push(`#${e.seq} ${e.kind} ${e.type} ${e.name}: ${b}`);
      const out = s.workersOut(isWorker);
      if (out.length > maxOut.length) maxOut = out;
    });
    return {
      skew,
      budgets,
      maxWorkersOut: maxOut.length,
      maxWorkersOutAt: maxOut,
      kubeletVersions,
      apiserverVersions,
      events: this.events.length,
    };
  }
}

/**
 * What a rolling operation left on the nodes: a cordon, or an annotation of bosun's (a cordon's
 * owner, a drain or maintenance state). Empty when it cleaned up after itself.
 */
export function leftovers(nodes: readonly Node[]): string[] {
  const out: string[] = [];
  for (const n of nodes) {
    const name = n.metadata.name ?? '';
    if (n.spec?.unschedulable === true) out.push(`${name} is cordoned`);
    for (const k of Object.keys(n.metadata.annotations ?? {}))
      if (k.startsWith('bosun.dev/')) out.push(`${name} carries ${k}`);
  }
  return out;
}
