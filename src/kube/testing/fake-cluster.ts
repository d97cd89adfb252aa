// A hand-written in-memory fake of the NodePods and NodeHealth ports for unit tests (the sandbox is
// the real thing for end-to-end tests). It keeps objects as API JSON, bumps resourceVersions, keeps
// an event history so watches resume from a resourceVersion (and answer 410 once compacted), does
// graceful deletion on a Clock, and checks evictions against PDBs the way kube-apiserver's eviction
// handler does. Every call is recorded in `actions`, like client-go's fake clientset. Faults are
// injected with `failNext`. Test support only: never used by product code.
import type { Clock } from '../../common/ports.ts';
import { KubeApiError, TransportReason, fromStatus } from '../errors.ts';
import { isPodReady } from '../pods.ts';
import type {
  AccessReview,
  ListOptions,
  NodeHealth,
  NodePatch,
  NodePods,
  PodRemovalOptions,
  RequestOptions,
  ResourceAttributes,
  WatchFrom,
  WriteOptions,
} from '../ports.ts';
import type {
  DaemonSet,
  Event,
  Lease,
  ListResult,
  Node,
  Pod,
  PodDisruptionBudget,
  WatchEvent,
} from '../types.ts';

/** One recorded call. */
export interface FakeAction {
  verb: string;
  resource: string;
  namespace?: string;
  name?: string;
  dryRun?: boolean;
  gracePeriodSeconds?: number;
  /** A list's field selector. */
  fieldSelector?: string;
  at: number;
}

interface Watcher {
  opts: ListOptions;
  onEvent: (e: WatchEvent<Pod>) => void;
  done: (err?: unknown) => void;
}

interface NodeWatcher {
  selects: (n: Node) => boolean;
  onEvent: (e: WatchEvent<Node>) => void;
  done: (err?: unknown) => void;
}

/** kube-apiserver's 403 when RBAC does not allow a request (responsewriters.Forbidden). */
export function rbacForbidden(attrs: ResourceAttributes, user = 'drainer'): KubeApiError {
  const group = attrs.group ?? '';
  const what = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource;
  const scope = attrs.namespace ? `in the namespace "${attrs.namespace}"` : 'at the cluster scope';
  const qualified = group ? `${attrs.resource}.${group}` : attrs.resource;
  return fromStatus(
    403,
    {
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      code: 403,
      reason: 'Forbidden',
      message: `${qualified}${attrs.name ? ` "${attrs.name}"` : ''} is forbidden: User "${user}" cannot ${attrs.verb} resource "${what}" in API group "${group}" ${scope}`,
      details: {
        ...(attrs.name ? { name: attrs.name } : {}),
        ...(group ? { group } : {}),
        kind: attrs.resource,
      },
    },
    { resource: attrs.resource, ...(attrs.namespace ? { namespace: attrs.namespace } : {}) },
  );
}

interface Fault {
  verb: string;
  resource: string;
  name?: string;
  error: () => KubeApiError;
  times: number;
}

const clone = <T>(v: T): T => structuredClone(v);
const key = (ns: string | undefined, name: string | undefined): string => `${ns ?? 'default'}/${name ?? ''}`;

function fieldMatches(sel: string | undefined, pod: Pod): boolean {
  if (!sel) return true;
  for (const part of sel.split(',')) {
    const m = /^([^!=]+)(==|=|!=)(.*)$/.exec(part.trim());
    if (!m) continue;
    const [, f, op, v] = m;
    const actual =
      f === 'spec.nodeName'
        ? (pod.spec?.nodeName ?? '')
        : f === 'metadata.name'
          ? (pod.metadata.name ?? '')
          : f === 'metadata.namespace'
            ? (pod.metadata.namespace ?? '')
            : f === 'status.phase'
              ? (pod.status?.phase ?? '')
              : '';
    if ((op === '!=') === (actual === v)) return false;
  }
  return true;
}

function labelMatches(sel: string | undefined, labels: Record<string, string> | undefined): boolean {
  if (!sel) return true;
  const l = labels ?? {};
  return sel.split(',').every((part) => {
    const p = part.trim();
    const m = /^([^!=]+)(==|=|!=)(.*)$/.exec(p);
    if (m) return (m[2] === '!=') !== (l[m[1] ?? ''] === m[3]);
    if (p.startsWith('!')) return !(p.slice(1) in l);
    return p in l;
  });
}

function selectorMatches(pdb: PodDisruptionBudget, pod: Pod): boolean {
  const sel = pdb.spec?.selector;
  if (!sel) return false;
  const l = pod.metadata.labels ?? {};
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (l[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = e.key in l;
    const v = l[e.key];
    if (e.operator === 'In' && !(has && (e.values ?? []).includes(v ?? ''))) return false;
    if (e.operator === 'NotIn' && has && (e.values ?? []).includes(v ?? '')) return false;
    if (e.operator === 'Exists' && !has) return false;
    if (e.operator === 'DoesNotExist' && has) return false;
  }
  return true;
}

/** The fake. Seed it with add*(), drive termination with the clock or finishTermination(). */
export class FakeCluster implements NodePods, NodeHealth {
  readonly nodes = new Map<string, Node>();
  readonly pods = new Map<string, Pod>();
  readonly pdbs: PodDisruptionBudget[] = [];
  readonly daemonSets = new Map<string, DaemonSet>();
  readonly leases = new Map<string, Lease>();
  readonly events: Event[] = [];
  /**
   * What desiredReplicas answers, by "Kind/namespace/name" (0 for a controller that is gone); a
   * controller not in it is one the fake does not model (undefined, as for an unknown kind).
   */
  readonly desired = new Map<string, number>();
  readonly actions: FakeAction[] = [];
  /** 'auto': terminating pods disappear after their grace period on the clock; 'manual': only finishTermination(). */
  termination: 'auto' | 'manual' = 'auto';
  /** How long watch events take to reach watchers (0: at once, before the write's answer). */
  watchLagMs = 0;
  /** Called after a pod is removed (e.g. to play a ReplicaSet and create a replacement). */
  onPodRemoved: ((pod: Pod, fake: FakeCluster) => void) | undefined;
  /** Overrides the PDB check for an eviction: return an error to refuse, null to allow, undefined for the default. */
  evictionHook: ((pod: Pod) => KubeApiError | null | undefined) | undefined;
  /**
   * From this time on (clock ms) the API server is silent: every request and new watch waits for an
   * answer that never comes, until its signal aborts (then it rejects, as a cancelled request does).
   */
  silentFrom: number | undefined;
  /** What SelfSubjectAccessReviews answer "no" to, as "verb resource[/subresource]" (any namespace). */
  readonly forbidden = new Set<string>();
  /** Requests waiting on the silent server right now. */
  unanswered = 0;
  /** Requests started and not yet answered (or failed), the silent ones included. */
  inFlight = 0;

  private rv = 100;
  private compactedBelow = 0;
  private history: { rv: number; type: 'ADDED' | 'MODIFIED' | 'DELETED'; pod: Pod }[] = [];
  private watchers = new Set<Watcher>();
  private nodeWatchers = new Set<NodeWatcher>();
  private nodeHistory: { rv: number; type: 'ADDED' | 'MODIFIED' | 'DELETED'; node: Node }[] = [];
  private faults: Fault[] = [];
  private uidSeq = 0;

  constructor(private readonly clock: Clock) {}

  // ---- seeding and driving ----

  /** Adds or replaces a node. */
  addNode(n: Node): void {
    const node = this.stamp(clone(n));
    this.nodes.set(n.metadata.name ?? '', node);
    this.emitNode('ADDED', node);
  }

  /** Adds a pod (emits ADDED). */
  addPod(p: Pod): Pod {
    const pod = this.stamp(clone(p));
    pod.metadata.uid ??= `fake-uid-${++this.uidSeq}`;
    this.pods.set(key(pod.metadata.namespace, pod.metadata.name), pod);
    this.emit('ADDED', pod);
    return pod;
  }

  /** Adds a PDB. */
  addPdb(b: PodDisruptionBudget): void {
    this.pdbs.push(clone(b));
  }

  /** Adds a DaemonSet. */
  addDaemonSet(ds: DaemonSet): void {
    this.daemonSets.set(key(ds.metadata.namespace, ds.metadata.name), clone(ds));
  }

  /** Adds or replaces a Lease. */
  setLease(l: Lease): void {
    this.leases.set(key(l.metadata.namespace, l.metadata.name), clone(l));
  }

  /** Changes a pod in place (emits MODIFIED). */
  updatePod(namespace: string, name: string, change: (p: Pod) => void): void {
    const p = this.pods.get(key(namespace, name));
    if (!p) throw new Error(`fake: no pod ${namespace}/${name}`);
    change(p);
    this.stamp(p);
    this.emit('MODIFIED', p);
  }

  /** Changes a node in place (watchers of the node see it). */
  updateNode(name: string, change: (n: Node) => void): void {
    const n = this.nodes.get(name);
    if (!n) throw new Error(`fake: no node ${name}`);
    change(n);
    this.stamp(n);
    this.emitNode('MODIFIED', n);
  }

  /** Ends a terminating pod's life now (the kubelet finished), emitting DELETED. */
  finishTermination(namespace: string, name: string): void {
    const p = this.pods.get(key(namespace, name));
    if (p) this.remove(p);
  }

  /** Makes the next `times` calls of verb on resource (optionally by name) fail with error(). */
  failNext(
    verb: string,
    resource: string,
    error: () => KubeApiError,
    opts: { name?: string; times?: number } = {},
  ): void {
    this.faults.push({
      verb,
      resource,
      error,
      times: opts.times ?? 1,
      ...(opts.name !== undefined ? { name: opts.name } : {}),
    });
  }

  /** Forgets history below the current resourceVersion: older watches get 410 Gone. */
  compact(): void {
    this.compactedBelow = this.rv;
    this.history = [];
  }

  /** Ends every open watch as a server would after its timeout. */
  endWatches(err?: unknown): void {
    for (const w of [...this.watchers]) w.done(err);
    for (const w of [...this.nodeWatchers]) w.done(err);
  }

  /** Number of open watches (pods and nodes). */
  get openWatches(): number {
    return this.watchers.size + this.nodeWatchers.size;
  }

  /** Actions with this verb (and resource). */
  calls(verb: string, resource?: string): FakeAction[] {
    return this.actions.filter((a) => a.verb === verb && (resource === undefined || a.resource === resource));
  }

  // ---- internals ----

  private stamp<T extends { metadata: { resourceVersion?: string } }>(o: T): T {
    o.metadata.resourceVersion = String(++this.rv);
    return o;
  }

  private emit(type: 'ADDED' | 'MODIFIED' | 'DELETED', pod: Pod): void {
    const rv = Number(pod.metadata.resourceVersion);
    this.history.push({ rv, type, pod: clone(pod) });
    if (this.watchLagMs > 0) {
      const copy = clone(pod);
      void this.clock.sleep(this.watchLagMs).then(() => this.deliver(type, copy));
    } else this.deliver(type, pod);
  }

  private emitNode(type: 'ADDED' | 'MODIFIED' | 'DELETED', node: Node): void {
    this.nodeHistory.push({ rv: Number(node.metadata.resourceVersion), type, node: clone(node) });
    for (const w of this.nodeWatchers) if (w.selects(node)) w.onEvent({ type, object: clone(node) });
  }

  private deliver(type: 'ADDED' | 'MODIFIED' | 'DELETED', pod: Pod): void {
    for (const w of this.watchers) {
      if (
        (w.opts.namespace && w.opts.namespace !== pod.metadata.namespace) ||
        !fieldMatches(w.opts.fieldSelector, pod) ||
        !labelMatches(w.opts.labelSelector, pod.metadata.labels)
      )
        continue;
      w.onEvent({ type, object: clone(pod) });
    }
  }

  private record(a: Omit<FakeAction, 'at'>): void {
    this.actions.push({ ...a, at: this.clock.now().getTime() });
  }

  /** Makes every call fail with error() until the clock reaches `until` (an API server that is down). */
  failUntil(until: number, error: () => KubeApiError): void {
    this.down = { until, error };
  }

  private down: { until: number; error: () => KubeApiError } | undefined;

  /**
   * Makes every call made before the clock reaches `until` wait ms on the clock before it is
   * answered (an API server that has gone silent; the sandbox's latency fault).
   */
  delayCalls(ms: number, until = Infinity): void {
    this.latency = { ms, until };
  }

  private latency: { ms: number; until: number } | undefined;

  private fault(verb: string, resource: string, name?: string): void {
    if (this.down && this.clock.now().getTime() < this.down.until) throw this.down.error();
    const f = this.faults.find(
      (x) =>
        x.verb === verb &&
        x.resource === resource &&
        (x.name === undefined || x.name === name) &&
        x.times > 0,
    );
    if (!f) return;
    f.times--;
    throw f.error();
  }

  private notFound(resource: string, name: string, group = ''): KubeApiError {
    return fromStatus(
      404,
      {
        kind: 'Status',
        code: 404,
        reason: 'NotFound',
        message: `${group ? `${resource}.${group}` : resource} "${name}" not found`,
        details: { name, kind: resource },
      },
      { resource, name },
    );
  }

  private remove(p: Pod): void {
    const k = key(p.metadata.namespace, p.metadata.name);
    if (this.pods.get(k) !== p) return;
    this.pods.delete(k);
    this.stamp(p);
    this.emit('DELETED', p);
    this.onPodRemoved?.(clone(p), this);
  }

  private startDeletion(p: Pod, graceSeconds: number | undefined): void {
    const grace = graceSeconds ?? p.spec?.terminationGracePeriodSeconds ?? 30;
    if (
      grace === 0 ||
      p.status?.phase === 'Succeeded' ||
      p.status?.phase === 'Failed' ||
      p.status?.phase === 'Pending' ||
      !p.spec?.nodeName
    ) {
      this.remove(p);
      return;
    }
    if (p.metadata.deletionTimestamp) return;
    p.metadata.deletionTimestamp = this.clock
      .now()
      .toISOString()
      .replace(/\.\d{3}Z$/, 'Z');
    p.metadata.deletionGracePeriodSeconds = grace;
    this.stamp(p);
    this.emit('MODIFIED', p);
    if (this.termination === 'auto') {
      void this.clock.sleep(grace * 1000).then(() => this.remove(p));
    }
  }

  private checkBudget(pod: Pod, dryRun: boolean): void {
    const hooked = this.evictionHook?.(pod);
    if (hooked === null) return;
    if (hooked) throw hooked;
    if (
      pod.metadata.deletionTimestamp ||
      ['Succeeded', 'Failed', 'Pending'].includes(pod.status?.phase ?? '')
    )
      return;
    const covering = this.pdbs.filter(
      (b) => b.metadata.namespace === pod.metadata.namespace && selectorMatches(b, pod),
    );
    if (covering.length > 1) {
      throw fromStatus(
        500,
        {
          kind: 'Status',
          code: 500,
          reason: 'InternalError',
          message:
            'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.',
        },
        { resource: 'pods' },
      );
    }
    const b = covering[0];
    if (!b) return;
    const st = (b.status ??= {});
    if (!isPodReady(pod)) {
      if (b.spec?.unhealthyPodEvictionPolicy === 'AlwaysAllow') return;
      if ((st.currentHealthy ?? 0) >= (st.desiredHealthy ?? 0) && (st.desiredHealthy ?? 0) > 0) return;
    }
    if ((st.disruptionsAllowed ?? 0) <= 0) {
      throw fromStatus(
        429,
        {
          kind: 'Status',
          code: 429,
          reason: 'TooManyRequests',
          message: "Cannot evict pod as it would violate the pod's disruption budget.",
          details: {
            causes: [
              {
                reason: 'DisruptionBudget',
                message: `The disruption budget ${b.metadata.name ?? ''} needs ${st.desiredHealthy ?? 0} healthy pods and has ${st.currentHealthy ?? 0} currently`,
              },
            ],
          },
        },
        { resource: 'pods' },
      );
    }
    if (!dryRun) st.disruptionsAllowed = (st.disruptionsAllowed ?? 0) - 1;
  }

  // ---- NodePods ----

  getNode(name: string, opts: RequestOptions = {}): Promise<Node> {
    this.record({ verb: 'get', resource: 'nodes', name });
    return this.run(() => {
      this.fault('get', 'nodes', name);
      const n = this.nodes.get(name);
      if (!n) throw this.notFound('nodes', name);
      return clone(n);
    }, opts.signal);
  }

  listNodes(opts: { labelSelector?: string } & RequestOptions = {}): Promise<Node[]> {
    this.record({ verb: 'list', resource: 'nodes' });
    return this.run(() => {
      this.fault('list', 'nodes');
      return [...this.nodes.values()]
        .filter((n) => labelMatches(opts.labelSelector, n.metadata.labels))
        .map(clone);
    }, opts.signal);
  }

  watchNodes(opts: WatchFrom, onEvent: (e: WatchEvent<Node>) => void, signal: AbortSignal): Promise<void> {
    const name = /^metadata\.name=(.*)$/.exec(opts.fieldSelector ?? '')?.[1];
    if (opts.fieldSelector && name === undefined)
      throw new Error(`fake: node field selector ${opts.fieldSelector} not supported`);
    this.record({ verb: 'watch', resource: 'nodes', ...(name !== undefined ? { name } : {}) });
    const selects = (n: Node): boolean =>
      (name === undefined || n.metadata.name === name) && labelMatches(opts.labelSelector, n.metadata.labels);
    return new Promise<void>((resolve, reject) => {
      try {
        this.fault('watch', 'nodes', name);
      } catch (e) {
        reject(e);
        return;
      }
      if (signal.aborted) return resolve();
      const w: NodeWatcher = {
        selects,
        onEvent,
        done: (err?: unknown) => {
          this.nodeWatchers.delete(w);
          signal.removeEventListener('abort', onAbort);
          if (err !== undefined && !signal.aborted) reject(err);
          else resolve();
        },
      };
      const onAbort = (): void => w.done();
      signal.addEventListener('abort', onAbort, { once: true });
      if (this.isSilent()) return; // a new watch on a silent server: nothing ever comes
      const from = Number(opts.resourceVersion);
      for (const h of this.nodeHistory)
        if (h.rv > from && selects(h.node)) onEvent({ type: h.type, object: clone(h.node) });
      this.nodeWatchers.add(w);
    });
  }

  patchNode(name: string, patch: NodePatch, opts: WriteOptions = {}): Promise<Node> {
    this.record({ verb: 'patch', resource: 'nodes', name, ...(opts.dryRun ? { dryRun: true } : {}) });
    return this.run(() => {
      this.fault('patch', 'nodes', name);
      const cur = this.nodes.get(name);
      if (!cur) throw this.notFound('nodes', name);
      if (
        patch.metadata?.resourceVersion !== undefined &&
        patch.metadata.resourceVersion !== cur.metadata.resourceVersion
      ) {
        throw fromStatus(
          409,
          {
            kind: 'Status',
            code: 409,
            reason: 'Conflict',
            message: `Operation cannot be fulfilled on nodes "${name}": the object has been modified; please apply your changes to the latest version and try again`,
          },
          { resource: 'nodes', name },
        );
      }
      const next = clone(cur);
      for (const [k, v] of Object.entries(patch.metadata?.annotations ?? {})) {
        next.metadata.annotations ??= {};
        if (v === null) delete next.metadata.annotations[k];
        else next.metadata.annotations[k] = v;
      }
      if (next.metadata.annotations && Object.keys(next.metadata.annotations).length === 0)
        delete next.metadata.annotations;
      if (patch.spec && 'unschedulable' in patch.spec) {
        next.spec ??= {};
        if (patch.spec.unschedulable === null || patch.spec.unschedulable === false)
          delete next.spec.unschedulable;
        else next.spec.unschedulable = true;
      }
      if (opts.dryRun) return next;
      this.nodes.set(name, this.stamp(next));
      this.emitNode('MODIFIED', next);
      return clone(next);
    }, opts.signal);
  }

  listPods(opts: ListOptions = {}): Promise<ListResult<Pod>> {
    this.record({
      verb: 'list',
      resource: 'pods',
      ...(opts.namespace ? { namespace: opts.namespace } : {}),
      ...(opts.fieldSelector ? { fieldSelector: opts.fieldSelector } : {}),
    });
    return this.run(() => {
      this.fault('list', 'pods');
      return { items: this.selectPods(opts).map(clone), resourceVersion: String(this.rv) };
    }, opts.signal);
  }

  /** Chunks of chunkSize (default 500), in the order listPods returns, one recorded list call each, as the API pages them. */
  async scanPods(
    opts: ListOptions,
    onChunk: (items: Pod[]) => void | Promise<void>,
  ): Promise<{ resourceVersion: string }> {
    const size = opts.chunkSize === 0 ? Infinity : (opts.chunkSize ?? 500);
    let from = 0;
    let rv = '';
    for (;;) {
      this.record({
        verb: 'list',
        resource: 'pods',
        ...(opts.namespace ? { namespace: opts.namespace } : {}),
        ...(opts.fieldSelector ? { fieldSelector: opts.fieldSelector } : {}),
      });
      const page = await this.run(() => {
        this.fault('list', 'pods');
        const all = this.selectPods(opts);
        if (rv === '') rv = String(this.rv);
        return { items: all.slice(from, from + size).map(clone), more: from + size < all.length };
      }, opts.signal);
      await onChunk(page.items);
      if (!page.more) return { resourceVersion: rv };
      from += size;
    }
  }

  private selectPods(opts: ListOptions): Pod[] {
    return [...this.pods.values()].filter(
      (p) =>
        (!opts.namespace || p.metadata.namespace === opts.namespace) &&
        fieldMatches(opts.fieldSelector, p) &&
        labelMatches(opts.labelSelector, p.metadata.labels),
    );
  }

  getPod(namespace: string, name: string, opts: RequestOptions = {}): Promise<Pod> {
    this.record({ verb: 'get', resource: 'pods', namespace, name });
    return this.run(() => {
      this.fault('get', 'pods', name);
      const p = this.pods.get(key(namespace, name));
      if (!p) throw this.notFound('pods', name);
      return clone(p);
    }, opts.signal);
  }

  evictPod(namespace: string, name: string, opts: PodRemovalOptions = {}): Promise<void> {
    this.record({
      verb: 'evict',
      resource: 'pods',
      namespace,
      name,
      ...(opts.dryRun ? { dryRun: true } : {}),
      ...(opts.gracePeriodSeconds !== undefined ? { gracePeriodSeconds: opts.gracePeriodSeconds } : {}),
    });
    return this.run(() => {
      this.fault('evict', 'pods', name);
      const p = this.pods.get(key(namespace, name));
      if (!p) throw this.notFound('pods', name);
      this.checkBudget(p, opts.dryRun === true);
      if (!opts.dryRun) this.startDeletion(p, opts.gracePeriodSeconds);
    }, opts.signal);
  }

  deletePod(namespace: string, name: string, opts: PodRemovalOptions & { uid?: string } = {}): Promise<void> {
    this.record({
      verb: 'delete',
      resource: 'pods',
      namespace,
      name,
      ...(opts.dryRun ? { dryRun: true } : {}),
      ...(opts.gracePeriodSeconds !== undefined ? { gracePeriodSeconds: opts.gracePeriodSeconds } : {}),
    });
    return this.run(() => {
      this.fault('delete', 'pods', name);
      const p = this.pods.get(key(namespace, name));
      if (!p) throw this.notFound('pods', name);
      if (opts.uid !== undefined && p.metadata.uid !== opts.uid) {
        throw fromStatus(
          409,
          {
            kind: 'Status',
            code: 409,
            reason: 'Conflict',
            message: `Precondition failed: UID in precondition: ${opts.uid}, UID in object meta: ${p.metadata.uid ?? ''}`,
          },
          { resource: 'pods', name },
        );
      }
      if (!opts.dryRun) this.startDeletion(p, opts.gracePeriodSeconds);
    }, opts.signal);
  }

  watchPods(
    opts: ListOptions & { resourceVersion: string },
    onEvent: (e: WatchEvent<Pod>) => void,
    signal: AbortSignal,
  ): Promise<void> {
    this.record({ verb: 'watch', resource: 'pods' });
    return new Promise<void>((resolve, reject) => {
      try {
        this.fault('watch', 'pods');
      } catch (e) {
        reject(e);
        return;
      }
      const from = Number(opts.resourceVersion);
      if (from < this.compactedBelow) {
        reject(
          fromStatus(
            410,
            {
              kind: 'Status',
              code: 410,
              reason: 'Expired',
              message: `too old resource version: ${from} (${this.compactedBelow})`,
            },
            { resource: 'pods', verb: 'watch' },
          ),
        );
        return;
      }
      const w: Watcher = {
        opts,
        onEvent,
        done: (err?: unknown) => {
          this.watchers.delete(w);
          signal.removeEventListener('abort', onAbort);
          if (err !== undefined && !signal.aborted) reject(err);
          else resolve();
        },
      };
      const onAbort = (): void => w.done();
      if (signal.aborted) return resolve();
      signal.addEventListener('abort', onAbort, { once: true });
      if (this.isSilent()) return; // a new watch on a silent server: nothing ever comes
      for (const h of this.history) {
        if (h.rv <= from) continue;
        if (
          (opts.namespace && opts.namespace !== h.pod.metadata.namespace) ||
          !fieldMatches(opts.fieldSelector, h.pod) ||
          !labelMatches(opts.labelSelector, h.pod.metadata.labels)
        )
          continue;
        onEvent({ type: h.type, object: clone(h.pod) });
      }
      this.watchers.add(w);
    });
  }

  listPdbs(opts: { namespace?: string } & RequestOptions = {}): Promise<PodDisruptionBudget[]> {
    this.record({ verb: 'list', resource: 'poddisruptionbudgets' });
    return this.run(() => {
      this.fault('list', 'poddisruptionbudgets');
      return this.pdbs.filter((b) => !opts.namespace || b.metadata.namespace === opts.namespace).map(clone);
    }, opts.signal);
  }

  getDaemonSet(namespace: string, name: string, opts: RequestOptions = {}): Promise<DaemonSet> {
    this.record({ verb: 'get', resource: 'daemonsets', namespace, name });
    return this.run(() => {
      this.fault('get', 'daemonsets', name);
      const ds = this.daemonSets.get(key(namespace, name));
      if (!ds) throw this.notFound('daemonsets', name, 'apps');
      return clone(ds);
    }, opts.signal);
  }

  reviewAccess(attrs: ResourceAttributes, opts: RequestOptions = {}): Promise<AccessReview> {
    this.record({
      verb: 'create',
      resource: 'selfsubjectaccessreviews',
      name: `${attrs.verb} ${attrs.resource}`,
    });
    return this.run(() => {
      this.fault('create', 'selfsubjectaccessreviews');
      const what = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource;
      return this.forbidden.has(`${attrs.verb} ${what}`) ? { allowed: false } : { allowed: true };
    }, opts.signal);
  }

  // ---- NodeHealth ----

  getLease(namespace: string, name: string): Promise<Lease> {
    this.record({ verb: 'get', resource: 'leases', namespace, name });
    return this.run(() => {
      this.fault('get', 'leases', name);
      const l = this.leases.get(key(namespace, name));
      if (!l) throw this.notFound('leases', name, 'coordination.k8s.io');
      return clone(l);
    });
  }

  desiredReplicas(
    kind: string,
    namespace: string,
    name: string,
    opts: RequestOptions = {},
  ): Promise<number | undefined> {
    const resource = `${kind.toLowerCase()}s`;
    this.record({ verb: 'get', resource, namespace, name });
    return this.run(() => {
      this.fault('get', resource, name);
      return this.desired.get(`${kind}/${namespace}/${name}`);
    }, opts.signal);
  }

  listEvents(opts: ListOptions = {}): Promise<Event[]> {
    this.record({ verb: 'list', resource: 'events' });
    return this.run(() => {
      this.fault('list', 'events');
      return this.events
        .filter((e) => {
          if (opts.namespace && e.metadata.namespace !== opts.namespace) return false;
          for (const part of (opts.fieldSelector ?? '').split(',').filter(Boolean)) {
            const [f, v] = part.split('=');
            const actual =
              f === 'involvedObject.kind'
                ? e.involvedObject?.kind
                : f === 'involvedObject.name'
                  ? e.involvedObject?.name
                  : undefined;
            if (actual !== v) return false;
          }
          return true;
        })
        .map(clone);
    });
  }

  private isSilent(): boolean {
    return this.silentFrom !== undefined && this.clock.now().getTime() >= this.silentFrom;
  }

  /**
   * Runs fn asynchronously, as a real request would be: after delayCalls' latency while it lasts;
   * on a silent server never. A call that waits ends (rejected as cancelled) when its signal aborts.
   */
  private run<T>(fn: () => T, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) return Promise.reject(cancelled());
    this.inFlight++;
    if (this.isSilent()) {
      this.unanswered++;
      return new Promise<T>((_, reject) => {
        signal?.addEventListener(
          'abort',
          () => {
            this.unanswered--;
            this.inFlight--;
            reject(cancelled());
          },
          { once: true },
        );
      });
    }
    const delay = this.latency;
    const answered =
      delay !== undefined && this.clock.now().getTime() < delay.until
        ? this.clock.sleep(delay.ms, signal).then(fn, () => {
            throw cancelled();
          })
        : Promise.resolve().then(fn);
    return answered.finally(() => this.inFlight--);
  }
}

/** What a request cancelled by its caller's signal rejects with (node-pods.ts). */
function cancelled(): KubeApiError {
  return new KubeApiError('the request was cancelled', { status: 0, reason: TransportReason.Aborted });
}
