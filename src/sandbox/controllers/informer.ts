// In-process shared informers for the sandbox's controllers and kubelets: list + watch through
// ApiCore (so they see exactly what clients see), a cache keyed by namespace/name, handlers called
// in event order, and a relist when the watch expires (410) or its revision is newer than the
// store's (an etcd restore rewound it), as client-go's reflector does.
import type { ApiCore, WatchEvent } from '../apiserver/api.ts';
import { keyOf } from '../apiserver/meta.ts';
import { resource as resourceByName, type ResourceType } from '../apiserver/resources.ts';
import { isTooLargeResourceVersion, type ApiError } from '../apiserver/status.ts';
import type {
  DaemonSet,
  Deployment,
  Job,
  KubeObject,
  Lease,
  Namespace,
  Node,
  Pod,
  PodDisruptionBudget,
  ReplicaSet,
  StatefulSet,
} from '../apiserver/types.ts';

/** A change delivered to informer handlers. `old` is the cached state before the change. */
export type InformerHandler<T extends KubeObject> = (
  type: 'ADDED' | 'MODIFIED' | 'DELETED',
  obj: T,
  old: T | undefined,
) => void;

/** A cached, watched view of one resource. */
export class Informer<T extends KubeObject = KubeObject> {
  private readonly cache = new Map<string, T>();
  private readonly handlers: InformerHandler<T>[] = [];
  private cancel: (() => void) | undefined;
  private stopped = false;
  private synced = false;
  private lastRv = '0';
  private readonly onSyncWaiters: (() => void)[] = [];

  constructor(
    private readonly api: ApiCore,
    readonly resource: ResourceType,
    private readonly retryMs: number,
    private readonly log: (line: string) => void = () => undefined,
  ) {}

  /** Registers a handler; call before start() to see the initial ADDED events. */
  on(handler: InformerHandler<T>): void {
    this.handlers.push(handler);
  }

  /** Lists and starts watching. Resolves once the initial list is cached. */
  async start(): Promise<void> {
    await this.relist();
  }

  /** Resolves when the first list has been cached. */
  waitForSync(): Promise<void> {
    if (this.synced) return Promise.resolve();
    return new Promise((resolve) => this.onSyncWaiters.push(resolve));
  }

  private emit(type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: T, old: T | undefined): void {
    for (const h of this.handlers) {
      try {
        h(type, obj, old);
      } catch (e) {
        this.log(
          `informer ${this.resource.resource}: handler failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`,
        );
      }
    }
  }

  private async relist(): Promise<void> {
    while (!this.stopped) {
      try {
        const l = await this.api.list(this.resource, undefined);
        const seen = new Set<string>();
        for (const o of l.items as T[]) {
          const k = keyOf(o);
          seen.add(k);
          const old = this.cache.get(k);
          this.cache.set(k, o);
          if (!old) this.emit('ADDED', o, undefined);
          else if (
            old.metadata.resourceVersion !== o.metadata.resourceVersion ||
            old.metadata.uid !== o.metadata.uid
          )
            this.emit('MODIFIED', o, old);
        }
        for (const [k, old] of [...this.cache]) {
          if (!seen.has(k)) {
            this.cache.delete(k);
            this.emit('DELETED', old, old);
          }
        }
        this.lastRv = l.resourceVersion;
        if (!this.synced) {
          this.synced = true;
          for (const w of this.onSyncWaiters.splice(0)) w();
        }
        await this.startWatch();
        return;
      } catch (e) {
        this.log(
          `informer ${this.resource.resource}: list failed: ${e instanceof Error ? e.message : String(e)}`,
        );
        await new Promise((r) => setTimeout(r, this.retryMs));
      }
    }
  }

  private async startWatch(): Promise<void> {
    if (this.stopped) return;
    const onEvent = (ev: WatchEvent): void => {
      if (ev.type === 'BOOKMARK' || ev.type === 'ERROR') return;
      const o = ev.object as T;
      const k = keyOf(o);
      const old = this.cache.get(k);
      this.lastRv = o.metadata.resourceVersion ?? this.lastRv;
      if (ev.type === 'DELETED') {
        this.cache.delete(k);
        this.emit('DELETED', o, old);
      } else {
        this.cache.set(k, o);
        this.emit(old ? 'MODIFIED' : 'ADDED', o, old);
      }
    };
    const onClose = (err?: ApiError): void => {
      this.cancel = undefined;
      if (this.stopped) return;
      if (err && err.code !== 410)
        this.log(`informer ${this.resource.resource}: watch ended: ${err.message}`);
      // 410: relist; anything else: resume from the last revision seen, after a pause.
      setTimeout(
        () => void (err?.code === 410 ? this.relist() : this.resume()),
        err?.code === 410 ? 0 : this.retryMs,
      );
    };
    this.cancel = await this.api.watch(
      this.resource,
      undefined,
      { resourceVersion: this.lastRv },
      onEvent,
      onClose,
    );
    if (this.stopped) this.cancel();
  }

  private async resume(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.startWatch();
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      // 410: our revision was compacted away; too large: etcd was restored to an older revision
      // (client-go's reflector relists on both).
      if (code === 410 || isTooLargeResourceVersion(e)) await this.relist();
      else setTimeout(() => void this.resume(), this.retryMs);
    }
  }

  /** Stops watching. */
  stop(): void {
    this.stopped = true;
    this.cancel?.();
    this.cancel = undefined;
  }

  /** The cached object with this namespace/name key. */
  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  /** All cached objects (optionally of one namespace). */
  list(namespace?: string): T[] {
    const all = [...this.cache.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata.namespace === namespace);
  }

  /** Has the first list completed? */
  get hasSynced(): boolean {
    return this.synced;
  }
}

/** The shared informers, one per watched resource. */
export interface Informers {
  pods: Informer<Pod>;
  nodes: Informer<Node>;
  leases: Informer<Lease>;
  namespaces: Informer<Namespace>;
  deployments: Informer<Deployment>;
  replicasets: Informer<ReplicaSet>;
  daemonsets: Informer<DaemonSet>;
  statefulsets: Informer<StatefulSet>;
  jobs: Informer<Job>;
  poddisruptionbudgets: Informer<PodDisruptionBudget>;
  controllerrevisions: Informer<KubeObject>;
}

/** Creates (without starting) the shared informers the controllers and kubelets use. */
export function createInformers(api: ApiCore, retryMs: number, log: (line: string) => void): Informers {
  const mk = <T extends KubeObject>(name: string): Informer<T> =>
    new Informer<T>(api, resourceByName(name), retryMs, log);
  return {
    pods: mk('pods'),
    nodes: mk('nodes'),
    leases: mk('leases'),
    namespaces: mk('namespaces'),
    deployments: mk('deployments'),
    replicasets: mk('replicasets'),
    daemonsets: mk('daemonsets'),
    statefulsets: mk('statefulsets'),
    jobs: mk('jobs'),
    poddisruptionbudgets: mk('poddisruptionbudgets'),
    controllerrevisions: mk('controllerrevisions'),
  };
}

/** Starts every informer and waits for their first lists. */
export async function startInformers(informers: Informers): Promise<void> {
  await Promise.all(Object.values(informers).map((i: Informer) => i.start()));
}

/** Stops every informer. */
export function stopInformers(informers: Informers): void {
  for (const i of Object.values(informers) as Informer[]) i.stop();
}
