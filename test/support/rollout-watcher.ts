// A witness for rolling operations (the reboot agents, an upgrade's rollout): it watches Nodes,
// PodDisruptionBudgets and the cluster lock's Lease from the test process, timestamps every event
// as it arrives, and answers what a rollout must never do: more nodes out of service at one instant
// than allowed, a budget's healthy count below its minimum, more lock holders than slots, a node
// rebooted twice or not at all. Shared by the reboot agent's tests and benchmark, and written so
// that an upgrade's tests can use it as it is (it knows nothing about the reboot agent beyond the
// Lease's holder list, which every bosun lock holder writes).
//
// With `pods: true` it also keeps every Node, Pod (mirror pods among them) and budget event in the
// order the API server sent them, and report() replays them event by event to judge every instant:
// the Version Skew Policy (src/upgrade/skew.ts) on the versions seen then (each control plane's
// kube-apiserver, kube-controller-manager and kube-scheduler from their mirror pods' images, each
// node's kubelet and kube-proxy), each budget's healthy pods against its minimum, the workers out at
// once, and each node's kubelet and kube-apiserver versions in order (an upgrade's tests). The
// watches survive an API server that restarts under them (kube/watch.ts's listWatch resumes them).
import { createKubeClients, type KubeClients } from '../../src/kube/client.ts';
import { seg, watchObjects } from '../../src/kube/requests.ts';
import { kubeRequest } from '../../src/kube/client.ts';
import { listWatch } from '../../src/kube/watch.ts';
import { systemClock } from '../../src/common/real.ts';
import type { Lease, Node, Pod, PodDisruptionBudget, WatchEvent } from '../../src/kube/types.ts';
import { fromLabelSelector, matches } from '../../src/kube/labels.ts';
import { checkSkew, type ComponentVersion } from '../../src/upgrade/index.ts';

/** What one Node looked like at one instant. */
export interface NodeSample {
  t: number;
  node: string;
  unschedulable: boolean;
  ready: boolean;
  bootId: string;
  /** The raw annotations (the reboot agent's record is one of them). */
  annotations: Record<string, string>;
}

/** A PDB's numbers at one instant. */
export interface PdbSample {
  t: number;
  pdb: string;
  currentHealthy: number;
  desiredHealthy: number;
}

/** The lock's holders at one instant. */
export interface LockSample {
  t: number;
  holders: string[];
}

function ready(n: Node): boolean {
  return (n.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

interface List<T> {
  items?: T[];
  metadata?: { resourceVersion?: string };
}

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

function keyOf(o: { metadata: { namespace?: string; name?: string } }): string {
  return `${o.metadata.namespace ?? ''}/${o.metadata.name ?? ''}`;
}

function tag(image: string | undefined): string {
  const i = image ?? '';
  const at = i.lastIndexOf(':');
  return at > i.lastIndexOf('/') ? i.slice(at + 1) : '';
}

function readyConds(conds: readonly { type: string; status: string }[] | undefined): boolean {
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
          readyConds(p.status?.conditions) &&
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
      .filter((n) => isWorker(n) && (n.spec?.unschedulable === true || !readyConds(n.status?.conditions)))
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

/** Watches until stop(); every sample is kept in arrival order. */
export class RolloutWatcher {
  readonly nodes: NodeSample[] = [];
  readonly pdbs: PdbSample[] = [];
  readonly lock: LockSample[] = [];
  /** With `pods: true`: every Node, Pod and budget event, for report()'s replay. */
  readonly events: Recorded[] = [];
  /** Requests the watcher itself sent (lists and watches), to tell them from the operation's. */
  requests = 0;
  private seq = 0;
  private readonly ctl = new AbortController();
  private readonly running: Promise<void>[] = [];
  private readonly listeners = new Set<(s: NodeSample) => void>();
  private readonly clients: KubeClients;
  private readonly listed = { nodes: false, pdbs: false, lock: false, pods: true };

  constructor(
    kubeconfig: string,
    private readonly opts: { lockNamespace?: string; lockName?: string; pods?: boolean } = {},
  ) {
    this.clients = createKubeClients({
      kubeconfig,
      home: '/nonexistent',
      clock: systemClock,
      signal: this.ctl.signal,
    });
  }

  /** A watcher, started (see start()). */
  static async start(
    kubeconfig: string,
    opts: { lockNamespace?: string; lockName?: string; pods?: boolean } = {},
  ): Promise<RolloutWatcher> {
    const w = new RolloutWatcher(kubeconfig, opts);
    await w.start();
    return w;
  }

  /** Starts the watches; resolves once each has its first list. */
  async start(): Promise<void> {
    if (this.opts.pods) {
      this.listed.pods = false;
      this.running.push(this.follow<Pod>('/api/v1/pods', {}, () => undefined, 'pods'));
    }
    const ns = this.opts.lockNamespace ?? 'bosun-system';
    const name = this.opts.lockName ?? 'bosun-lock';
    this.running.push(
      this.follow<Node>('/api/v1/nodes', {}, (n) => this.onNode(n), 'nodes'),
      this.follow<PodDisruptionBudget>(
        '/apis/policy/v1/poddisruptionbudgets',
        {},
        (p) => this.onPdb(p),
        'pdbs',
      ),
      this.follow<Lease>(
        `/apis/coordination.k8s.io/v1/namespaces/${seg(ns)}/leases`,
        { fieldSelector: `metadata.name=${name}` },
        (l) => this.onLease(l),
        'lock',
        () => this.lock.push({ t: Date.now(), holders: [] }),
      ),
    );
    const t0 = Date.now();
    while (!(this.listed.nodes && this.listed.pdbs && this.listed.lock && this.listed.pods)) {
      if (Date.now() - t0 > 30_000) throw new Error('the rollout watcher could not list');
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  private follow<T>(
    path: string,
    query: Record<string, string>,
    on: (o: T) => void,
    what: keyof RolloutWatcher['listed'],
    onDelete?: () => void,
  ): Promise<void> {
    const clients = this.clients;
    return listWatch<T>(
      {
        list: async () => {
          this.requests++;
          const l = await kubeRequest<List<T>>(clients, { method: 'GET', path, query });
          return { items: l.items ?? [], resourceVersion: l.metadata?.resourceVersion ?? '' };
        },
        watch: (rv, onEvent: (e: WatchEvent<T>) => void, signal) => {
          this.requests++;
          return watchObjects<T>(
            clients,
            { resource: what, verb: 'watch' },
            { path, query: { ...query, resourceVersion: rv, allowWatchBookmarks: true } },
            onEvent,
            signal,
          );
        },
      },
      {
        onList: (items) => {
          this.record(what, 'LIST', undefined, items as Obj[]);
          for (const i of items) on(i);
          this.listed[what] = true;
        },
        onEvent: (e) => {
          if (e.type !== 'BOOKMARK') this.record(what, e.type, e.object as Obj);
          if (e.type === 'DELETED') onDelete?.();
          else if (e.type !== 'BOOKMARK') on(e.object);
        },
      },
      { clock: systemClock, signal: this.ctl.signal },
    ).catch(() => undefined);
  }

  private onNode(n: Node): void {
    const s: NodeSample = {
      t: Date.now(),
      node: n.metadata.name ?? '',
      unschedulable: n.spec?.unschedulable === true,
      ready: ready(n),
      bootId: n.status?.nodeInfo?.bootID ?? '',
      annotations: { ...(n.metadata.annotations ?? {}) },
    };
    this.nodes.push(s);
    for (const l of this.listeners) l(s);
  }

  private onPdb(p: PodDisruptionBudget): void {
    const st = p.status;
    if (st?.currentHealthy === undefined || st.desiredHealthy === undefined) return;
    this.pdbs.push({
      t: Date.now(),
      pdb: `${p.metadata.namespace ?? ''}/${p.metadata.name ?? ''}`,
      currentHealthy: st.currentHealthy,
      desiredHealthy: st.desiredHealthy,
    });
  }

  private onLease(l: Lease): void {
    const ids = (l.spec?.holderIdentity ?? '').split(',').filter((x) => x !== '');
    this.lock.push({ t: Date.now(), holders: ids });
  }

  /** Forgets the samples so far (one watcher serves several runs on one sandbox). */
  reset(): void {
    this.nodes.length = 0;
    this.pdbs.length = 0;
    this.lock.length = 0;
  }

  /** Calls fn with every Node sample from now on; returns the unsubscribe. */
  onNodeSample(fn: (s: NodeSample) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Resolves when pred holds for the samples so far (checked at each Node sample), or rejects after timeoutMs. */
  until(what: string, pred: () => boolean, timeoutMs: number): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`timed out waiting for ${what}`));
      }, timeoutMs);
      const off = this.onNodeSample(() => {
        if (!pred()) return;
        clearTimeout(timer);
        off();
        resolve();
      });
    });
  }

  /** The latest sample of each node. */
  latest(): Map<string, NodeSample> {
    const m = new Map<string, NodeSample>();
    for (const s of this.nodes) m.set(s.node, s);
    return m;
  }

  /**
   * The most nodes out of service at one instant among `names` (cordoned, or not Ready), and the
   * instant: each node's state changes only at its samples, so the sweep over them is exact.
   */
  maxOutOfService(
    names: readonly string[],
    /** What else counts as out of service (e.g. the reboot agent's record says it is rebooting). */
    also: (s: NodeSample) => boolean = () => false,
  ): { count: number; nodes: string[]; t: number } {
    const want = new Set(names);
    const state = new Map<string, boolean>();
    let best = { count: 0, nodes: [] as string[], t: 0 };
    for (const s of this.nodes) {
      if (!want.has(s.node)) continue;
      state.set(s.node, s.unschedulable || !s.ready || also(s));
      const out = [...state].filter(([, v]) => v).map(([k]) => k);
      if (out.length > best.count) best = { count: out.length, nodes: out.sort(), t: s.t };
    }
    return best;
  }

  /** The distinct boot IDs each node showed, in order. */
  bootIds(): Map<string, string[]> {
    const m = new Map<string, string[]>();
    for (const s of this.nodes) {
      const l = m.get(s.node) ?? [];
      if (s.bootId !== '' && l.at(-1) !== s.bootId) l.push(s.bootId);
      m.set(s.node, l);
    }
    return m;
  }

  /** Every PDB sample whose healthy count was below its minimum. */
  pdbViolations(): PdbSample[] {
    return this.pdbs.filter((p) => p.currentHealthy < p.desiredHealthy);
  }

  /** The most holders the lock's Lease listed at once. */
  maxLockHolders(): { count: number; holders: string[] } {
    let best = { count: 0, holders: [] as string[] };
    for (const l of this.lock)
      if (l.holders.length > best.count) best = { count: l.holders.length, holders: l.holders };
    return best;
  }

  /**
   * Hand-offs: for each holder leaving the lock, the time until the next node among `names` was
   * cordoned after it (ms); releases followed by no cordon are left out.
   */
  handoffs(names: readonly string[]): number[] {
    const want = new Set(names);
    const releases: number[] = [];
    let prev: string[] = [];
    for (const l of this.lock) {
      if (prev.some((h) => !l.holders.includes(h))) releases.push(l.t);
      prev = l.holders;
    }
    const cordons: number[] = [];
    const was = new Map<string, boolean>();
    for (const s of this.nodes) {
      if (!want.has(s.node)) continue;
      if (s.unschedulable && was.get(s.node) === false) cordons.push(s.t);
      was.set(s.node, s.unschedulable);
    }
    // Each cordon answers one release at most: the earliest one before it that is not answered yet.
    const out: number[] = [];
    let i = 0;
    for (const r of releases) {
      while (i < cordons.length && (cordons[i] as number) < r) i++;
      if (i >= cordons.length) break;
      out.push((cordons[i] as number) - r);
      i++;
    }
    return out;
  }

  /** Keeps an event for report() (with `pods: true` only, where the replay has the whole picture). */
  private record(
    what: keyof RolloutWatcher['listed'],
    type: string,
    object: Obj | undefined,
    items?: Obj[],
  ): void {
    if (!this.opts.pods) return;
    const kind: Kind | undefined =
      what === 'nodes' ? 'node' : what === 'pods' ? 'pod' : what === 'pdbs' ? 'pdb' : undefined;
    if (!kind || (type !== 'ADDED' && type !== 'MODIFIED' && type !== 'DELETED' && type !== 'LIST')) return;
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

  /** Stops every watch. */
  async stop(): Promise<void> {
    this.ctl.abort();
    await Promise.all(this.running);
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
