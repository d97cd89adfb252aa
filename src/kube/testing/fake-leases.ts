// A hand-written in-memory fake of the Leases and Namespaces ports for unit tests (the sandbox is
// the real thing for end-to-end tests): resourceVersions bump on every write, a PUT at a stale
// version is a 409 Conflict, a create of an existing Lease a 409 AlreadyExists, a Lease in a
// missing namespace a 404, and watches get every change after their resourceVersion. Faults are
// injected with `failNext`, or `hang` (a request that never answers until released). Test support
// only: never used by product code.
import { fromStatus, type KubeApiError } from '../errors.ts';
import type { Leases, Namespaces, WatchFrom } from '../ports.ts';
import type { Lease, Namespace, WatchEvent } from '../types.ts';

interface Watcher {
  namespace: string;
  name: string | undefined;
  onEvent: (e: WatchEvent<Lease>) => void;
  done: () => void;
}

const clone = <T>(v: T): T => structuredClone(v);

/** An in-memory Leases + Namespaces port. */
export class FakeLeases implements Leases, Namespaces {
  private rv = 100;
  readonly leases = new Map<string, Lease>();
  readonly namespaces = new Set<string>();
  /** Every call, as "verb namespace/name". */
  readonly actions: string[] = [];
  private readonly watchers = new Set<Watcher>();
  private readonly faults: { verb: string; error: () => KubeApiError }[] = [];
  private readonly hung: (() => void)[] = [];
  private hangVerb: string | undefined;

  constructor(namespaces: readonly string[] = []) {
    for (const n of namespaces) this.namespaces.add(n);
  }

  /** The next call of `verb` (get, create, update, delete, list, watch) fails with `error`. */
  failNext(verb: string, error: () => KubeApiError): void {
    this.faults.push({ verb, error });
  }

  /** Calls of `verb` hang until releaseHung() (an API server gone silent); undefined stops hanging. */
  hang(verb: string | undefined): void {
    this.hangVerb = verb;
  }

  /** Lets every hung call go on (each then fails as if the connection dropped). */
  releaseHung(): void {
    for (const h of this.hung.splice(0)) h();
  }

  /** Number of open watches. */
  get watching(): number {
    return this.watchers.size;
  }

  private async enter(verb: string, ns: string, name: string | undefined): Promise<void> {
    this.actions.push(`${verb} ${ns}/${name ?? ''}`);
    await Promise.resolve();
    if (this.hangVerb === verb) {
      await new Promise<void>((r) => this.hung.push(r));
      throw fromStatus(503, { reason: 'ServiceUnavailable', message: 'the connection was dropped' });
    }
    const i = this.faults.findIndex((f) => f.verb === verb);
    if (i >= 0) {
      const [f] = this.faults.splice(i, 1);
      if (f) throw f.error();
    }
  }

  private key(ns: string, name: string): string {
    return `${ns}/${name}`;
  }

  private notify(type: WatchEvent<Lease>['type'], l: Lease): void {
    for (const w of [...this.watchers]) {
      if (w.namespace !== l.metadata.namespace) continue;
      if (w.name !== undefined && w.name !== l.metadata.name) continue;
      w.onEvent({ type, object: clone(l) });
    }
  }

  async getLease(namespace: string, name: string): Promise<Lease> {
    await this.enter('get', namespace, name);
    const l = this.leases.get(this.key(namespace, name));
    if (!l) throw notFound('leases', name);
    return clone(l);
  }

  async createLease(lease: Lease): Promise<Lease> {
    const ns = lease.metadata.namespace ?? 'default';
    const name = lease.metadata.name ?? '';
    await this.enter('create', ns, name);
    if (!this.namespaces.has(ns)) throw notFound('namespaces', ns);
    if (this.leases.has(this.key(ns, name)))
      throw fromStatus(409, {
        reason: 'AlreadyExists',
        message: `leases.coordination.k8s.io "${name}" already exists`,
      });
    const stored = clone({
      ...lease,
      metadata: { ...lease.metadata, namespace: ns, resourceVersion: String(++this.rv) },
    });
    this.leases.set(this.key(ns, name), stored);
    this.notify('ADDED', stored);
    return clone(stored);
  }

  async updateLease(lease: Lease): Promise<Lease> {
    const ns = lease.metadata.namespace ?? 'default';
    const name = lease.metadata.name ?? '';
    await this.enter('update', ns, name);
    const cur = this.leases.get(this.key(ns, name));
    if (!cur) throw notFound('leases', name);
    if (cur.metadata.resourceVersion !== lease.metadata.resourceVersion)
      throw fromStatus(409, {
        reason: 'Conflict',
        message: `Operation cannot be fulfilled on leases.coordination.k8s.io "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      });
    const stored = clone({ ...lease, metadata: { ...lease.metadata, resourceVersion: String(++this.rv) } });
    this.leases.set(this.key(ns, name), stored);
    this.notify('MODIFIED', stored);
    return clone(stored);
  }

  async deleteLease(namespace: string, name: string, opts: { resourceVersion?: string } = {}): Promise<void> {
    await this.enter('delete', namespace, name);
    const cur = this.leases.get(this.key(namespace, name));
    if (!cur) throw notFound('leases', name);
    if (opts.resourceVersion !== undefined && opts.resourceVersion !== cur.metadata.resourceVersion)
      throw fromStatus(409, { reason: 'Conflict', message: 'the object has been modified' });
    this.leases.delete(this.key(namespace, name));
    this.rv++;
    this.notify('DELETED', cur);
  }

  async listLeases(namespace: string): Promise<{ items: Lease[]; resourceVersion: string }> {
    await this.enter('list', namespace, undefined);
    const items = [...this.leases.values()].filter((l) => l.metadata.namespace === namespace).map(clone);
    return { items, resourceVersion: String(this.rv) };
  }

  async watchLeases(
    opts: WatchFrom & { namespace: string; name?: string },
    onEvent: (e: WatchEvent<Lease>) => void,
    signal: AbortSignal,
  ): Promise<void> {
    await this.enter('watch', opts.namespace, opts.name);
    if (signal.aborted) return;
    // A change since the version the caller read is delivered at once (the server's history).
    const cur = opts.name !== undefined ? this.leases.get(this.key(opts.namespace, opts.name)) : undefined;
    if (cur && Number(cur.metadata.resourceVersion) > Number(opts.resourceVersion)) {
      onEvent({ type: 'MODIFIED', object: clone(cur) });
    }
    await new Promise<void>((resolve) => {
      const w: Watcher = {
        namespace: opts.namespace,
        name: opts.name,
        onEvent: (e) => {
          try {
            onEvent(e);
          } catch {
            w.done();
          }
        },
        done: () => {
          this.watchers.delete(w);
          resolve();
        },
      };
      this.watchers.add(w);
      signal.addEventListener('abort', () => w.done(), { once: true });
    });
  }

  async getNamespace(name: string): Promise<Namespace> {
    await this.enter('get', '', name);
    if (!this.namespaces.has(name)) throw notFound('namespaces', name);
    return { metadata: { name } };
  }

  async createNamespace(ns: Namespace): Promise<Namespace> {
    const name = ns.metadata.name ?? '';
    await this.enter('create', '', name);
    if (this.namespaces.has(name))
      throw fromStatus(409, { reason: 'AlreadyExists', message: `namespaces "${name}" already exists` });
    this.namespaces.add(name);
    return { metadata: { name } };
  }
}

function notFound(resource: string, name: string): KubeApiError {
  return fromStatus(404, { reason: 'NotFound', message: `${resource} "${name}" not found` });
}
