// A witness for rolling operations (the reboot agents, an upgrade's rollout): it watches Nodes,
// PodDisruptionBudgets and the cluster lock's Lease from the test process, timestamps every event
// as it arrives, and answers what a rollout must never do: more nodes out of service at one instant
// than allowed, a budget's healthy count below its minimum, more lock holders than slots, a node
// rebooted twice or not at all. Shared by the reboot agent's tests and benchmark, and written so
// that an upgrade's tests can use it as it is (it knows nothing about the reboot agent beyond the
// Lease's holder list, which every bosun lock holder writes).
import { createKubeClients, type KubeClients } from '../../src/kube/client.ts';
import { seg, watchObjects } from '../../src/kube/requests.ts';
import { kubeRequest } from '../../src/kube/client.ts';
import { listWatch } from '../../src/kube/watch.ts';
import { systemClock } from '../../src/common/real.ts';
import type { Lease, Node, PodDisruptionBudget, WatchEvent } from '../../src/kube/types.ts';

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

/** Watches until stop(); every sample is kept in arrival order. */
export class RolloutWatcher {
  readonly nodes: NodeSample[] = [];
  readonly pdbs: PdbSample[] = [];
  readonly lock: LockSample[] = [];
  private readonly ctl = new AbortController();
  private readonly running: Promise<void>[] = [];
  private readonly listeners = new Set<(s: NodeSample) => void>();
  private readonly clients: KubeClients;
  private readonly listed = { nodes: false, pdbs: false, lock: false };

  constructor(
    kubeconfig: string,
    private readonly opts: { lockNamespace?: string; lockName?: string } = {},
  ) {
    this.clients = createKubeClients({
      kubeconfig,
      home: '/nonexistent',
      clock: systemClock,
      signal: this.ctl.signal,
    });
  }

  /** Starts the watches; resolves once each has its first list. */
  async start(): Promise<void> {
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
    while (!(this.listed.nodes && this.listed.pdbs && this.listed.lock)) {
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
          const l = await kubeRequest<List<T>>(clients, { method: 'GET', path, query });
          return { items: l.items ?? [], resourceVersion: l.metadata?.resourceVersion ?? '' };
        },
        watch: (rv, onEvent: (e: WatchEvent<T>) => void, signal) =>
          watchObjects<T>(
            clients,
            { resource: what, verb: 'watch' },
            { path, query: { ...query, resourceVersion: rv, allowWatchBookmarks: true } },
            onEvent,
            signal,
          ),
      },
      {
        onList: (items) => {
          for (const i of items) on(i);
          this.listed[what] = true;
        },
        onEvent: (e) => (e.type === 'DELETED' ? onDelete?.() : on(e.object)),
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

  /** Stops every watch. */
  async stop(): Promise<void> {
    this.ctl.abort();
    await Promise.all(this.running);
  }
}
