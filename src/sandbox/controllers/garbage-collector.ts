// garbagecollector (pkg/controller/garbagecollector): keeps an owner -> dependents graph by uid
// from the informers and acts on it as kube's GC does. A dependent whose owners are all gone
// (checked with a live read of each owner: absent or another uid means dangling) is deleted,
// honouring its own orphan/foreground finalizers; dangling references beside a live owner are
// removed. An owner deleted with the `orphan` finalizer has its reference removed from every
// dependent, then the finalizer; one deleted with `foregroundDeletion` has its blocking
// dependents deleted first, then the finalizer goes. Mirror pods owned by a Node go when it goes.
import { isDeleting } from '../apiserver/meta.ts';
import { resource, resourceForKind, type ResourceType } from '../apiserver/resources.ts';
import type { KubeObject } from '../apiserver/types.ts';
import type { OwnerReference } from '../../kube/types.ts';
import { QueueController, isApiError } from './base.ts';
import { removeOwnerRefs } from './claims.ts';
import type { ControllerContext } from './context.ts';
import { Informer } from './informer.ts';

/** Resources the GC watches beyond the shared informers (owner references on them are honoured too). */
const EXTRA_RESOURCES = ['configmaps', 'secrets', 'services', 'serviceaccounts'];
const SHARED = [
  'pods',
  'nodes',
  'leases',
  'deployments',
  'replicasets',
  'daemonsets',
  'statefulsets',
  'jobs',
  'poddisruptionbudgets',
  'controllerrevisions',
] as const;

interface Ident {
  r: ResourceType;
  namespace: string | undefined;
  name: string;
}

const identKey = (r: ResourceType, ns: string | undefined, name: string): string =>
  `${r.resource}|${ns ?? ''}|${name}`;

function parseIdent(key: string): Ident {
  const [res = '', ns = '', ...rest] = key.split('|');
  return { r: resource(res), namespace: ns || undefined, name: rest.join('|') };
}

const hasFinalizer = (o: KubeObject, f: string): boolean => (o.metadata.finalizers ?? []).includes(f);

/** The garbage collector. */
export class GarbageCollector extends QueueController {
  private readonly informers = new Map<string, Informer>();
  private readonly extra: Informer[] = [];
  /** uid -> identity of every object seen. */
  private readonly uids = new Map<string, Ident>();
  /** owner uid -> identity keys of its dependents. */
  private readonly dependents = new Map<string, Set<string>>();
  private synced = false;
  private readonly pending = new Set<string>();

  constructor(ctx: ControllerContext) {
    super('garbage-collector', ctx, { workers: 8 });
    for (const name of SHARED) this.informers.set(name, ctx.informers[name] as unknown as Informer);
    for (const name of EXTRA_RESOURCES) {
      const inf = new Informer(ctx.api, resource(name), ctx.timing.retryMs, ctx.log);
      this.extra.push(inf);
      this.informers.set(name, inf);
    }
  }

  protected register(): void {
    for (const [name, inf] of this.informers) {
      const r = resource(name);
      inf.on((type, obj, old) => this.onObject(r, type, obj, old));
    }
    for (const inf of this.extra) void inf.start();
    void Promise.all([...this.informers.values()].map((i) => i.waitForSync())).then(() => {
      this.synced = true;
      for (const key of this.pending) this.checkOwners(key);
      this.pending.clear();
    });
  }

  override stop(): void {
    for (const inf of this.extra) inf.stop();
    super.stop();
  }

  private link(owner: string, dep: string): void {
    let s = this.dependents.get(owner);
    if (!s) this.dependents.set(owner, (s = new Set()));
    s.add(dep);
  }

  private unlink(owner: string, dep: string): void {
    const s = this.dependents.get(owner);
    if (!s) return;
    s.delete(dep);
    if (s.size === 0) this.dependents.delete(owner);
  }

  private onObject(
    r: ResourceType,
    type: 'ADDED' | 'MODIFIED' | 'DELETED',
    obj: KubeObject,
    old: KubeObject | undefined,
  ): void {
    const key = identKey(r, obj.metadata.namespace, obj.metadata.name ?? '');
    const uid = obj.metadata.uid ?? '';
    const oldRefs = old?.metadata.ownerReferences ?? [];
    const refs = type === 'DELETED' ? [] : (obj.metadata.ownerReferences ?? []);
    for (const ref of oldRefs) if (!refs.some((x) => x.uid === ref.uid)) this.unlink(ref.uid, key);
    for (const ref of refs) this.link(ref.uid, key);
    if (type === 'DELETED') {
      const known = this.uids.get(uid);
      if (known && identKey(known.r, known.namespace, known.name) === key) this.uids.delete(uid);
      // Its dependents may now be dangling.
      for (const dep of this.dependents.get(uid) ?? []) this.enqueue(`del|${dep}`);
      // An owner waiting in foreground deletion may be free now.
      for (const ref of [...oldRefs, ...(obj.metadata.ownerReferences ?? [])]) this.wakeOwner(ref.uid);
      return;
    }
    this.uids.set(uid, { r, namespace: obj.metadata.namespace, name: obj.metadata.name ?? '' });
    if (isDeleting(obj)) {
      if (hasFinalizer(obj, 'orphan')) this.enqueue(`orphan|${key}`);
      if (hasFinalizer(obj, 'foregroundDeletion')) this.enqueue(`fg|${key}`);
    }
    // References removed from a dependent can free an owner in foreground deletion.
    for (const ref of oldRefs) if (!refs.some((x) => x.uid === ref.uid)) this.wakeOwner(ref.uid);
    // A dependent being deleted no longer blocks... until it is gone; a new deletion is worth a look.
    if (isDeleting(obj) && old && !isDeleting(old)) for (const ref of refs) this.wakeOwner(ref.uid);
    if (refs.length > 0) {
      if (this.synced) this.checkOwners(key);
      else this.pending.add(key);
    }
  }

  private wakeOwner(uid: string): void {
    const owner = this.uids.get(uid);
    if (!owner) return;
    const o = this.informers
      .get(owner.r.resource)
      ?.get(owner.namespace ? `${owner.namespace}/${owner.name}` : owner.name);
    if (o && isDeleting(o) && hasFinalizer(o, 'foregroundDeletion'))
      this.enqueue(`fg|${identKey(owner.r, owner.namespace, owner.name)}`);
  }

  /** Queues a dependent whose owners are not all known live (the live check happens in attemptToDelete). */
  private checkOwners(key: string): void {
    const id = parseIdent(key);
    const inf = this.informers.get(id.r.resource);
    const obj = inf?.get(id.namespace ? `${id.namespace}/${id.name}` : id.name);
    if (!obj) return;
    for (const ref of obj.metadata.ownerReferences ?? []) {
      const known = this.uids.get(ref.uid);
      if (!known) {
        this.enqueue(`del|${key}`);
        return;
      }
      const owner = this.informers
        .get(known.r.resource)
        ?.get(known.namespace ? `${known.namespace}/${known.name}` : known.name);
      if (owner && isDeleting(owner) && hasFinalizer(owner, 'foregroundDeletion')) {
        this.enqueue(`del|${key}`);
        return;
      }
    }
  }

  protected async sync(qkey: string): Promise<void> {
    const i = qkey.indexOf('|');
    const kind = qkey.slice(0, i);
    const id = parseIdent(qkey.slice(i + 1));
    if (kind === 'del') await this.attemptToDelete(id);
    else if (kind === 'orphan') await this.orphanDependents(id);
    else if (kind === 'fg') await this.processDeletingDependents(id);
  }

  private async live(r: ResourceType, ns: string | undefined, name: string): Promise<KubeObject | undefined> {
    return this.ctx.api.tryGet(r, r.namespaced ? ns : undefined, name);
  }

  /** classifyReferences: solid (live owner), dangling (gone or another uid), waiting (owner in foreground deletion). */
  private async classify(
    item: KubeObject,
  ): Promise<{ solid: OwnerReference[]; dangling: OwnerReference[]; waiting: OwnerReference[] }> {
    const out = {
      solid: [] as OwnerReference[],
      dangling: [] as OwnerReference[],
      waiting: [] as OwnerReference[],
    };
    for (const ref of item.metadata.ownerReferences ?? []) {
      const r = resourceForKind(ref.apiVersion, ref.kind);
      if (!r) {
        // A kind the sandbox does not serve: kube would retry its lookup; never delete on it.
        out.solid.push(ref);
        continue;
      }
      const owner = await this.live(r, item.metadata.namespace, ref.name);
      if (!owner || owner.metadata.uid !== ref.uid) out.dangling.push(ref);
      else if (isDeleting(owner) && hasFinalizer(owner, 'foregroundDeletion')) out.waiting.push(ref);
      else out.solid.push(ref);
    }
    return out;
  }

  /** attemptToDeleteItem. */
  private async attemptToDelete(id: Ident): Promise<void> {
    const item = await this.live(id.r, id.namespace, id.name);
    if (!item) return;
    if (isDeleting(item)) {
      if (hasFinalizer(item, 'foregroundDeletion'))
        this.enqueue(`fg|${identKey(id.r, id.namespace, id.name)}`);
      return;
    }
    if ((item.metadata.ownerReferences ?? []).length === 0) return;
    const { solid, dangling, waiting } = await this.classify(item);
    if (solid.length > 0) {
      if (dangling.length === 0 && waiting.length === 0) return;
      await removeOwnerRefs(
        this.ctx,
        id.r,
        item,
        [...dangling, ...waiting].map((r) => r.uid),
      );
      return;
    }
    let policy: 'Orphan' | 'Foreground' | 'Background' = 'Background';
    if (waiting.length > 0 && (this.dependents.get(item.metadata.uid ?? '')?.size ?? 0) > 0)
      policy = 'Foreground';
    else if (hasFinalizer(item, 'orphan')) policy = 'Orphan';
    else if (hasFinalizer(item, 'foregroundDeletion')) policy = 'Foreground';
    try {
      await this.ctx.api.delete(id.r, id.namespace, id.name, {
        preconditions: { uid: item.metadata.uid ?? '' },
        propagationPolicy: policy,
      });
    } catch (e) {
      if (!isApiError(e, 404) && !isApiError(e, 409)) throw e;
    }
  }

  private dependentObjects(uid: string): { id: Ident; obj: KubeObject }[] {
    const out: { id: Ident; obj: KubeObject }[] = [];
    for (const key of this.dependents.get(uid) ?? []) {
      const id = parseIdent(key);
      const obj = this.informers
        .get(id.r.resource)
        ?.get(id.namespace ? `${id.namespace}/${id.name}` : id.name);
      if (obj) out.push({ id, obj });
    }
    return out;
  }

  private async removeFinalizer(id: Ident, uid: string, finalizer: string): Promise<void> {
    await this.ctx.api.guaranteedUpdate(id.r, id.r.namespaced ? id.namespace : undefined, id.name, (cur) => {
      if (cur.metadata.uid !== uid || !hasFinalizer(cur, finalizer)) return undefined;
      cur.metadata.finalizers = (cur.metadata.finalizers ?? []).filter((f) => f !== finalizer);
      return cur;
    });
  }

  /** orphanDependents, then the orphan finalizer goes. */
  private async orphanDependents(id: Ident): Promise<void> {
    const owner = await this.live(id.r, id.namespace, id.name);
    if (!owner || !isDeleting(owner) || !hasFinalizer(owner, 'orphan')) return;
    const uid = owner.metadata.uid ?? '';
    for (const dep of this.dependentObjects(uid)) await removeOwnerRefs(this.ctx, dep.id.r, dep.obj, [uid]);
    await this.removeFinalizer(id, uid, 'orphan');
  }

  /** processDeletingDependentsItem: delete the blocking dependents, or drop the finalizer when none are left. */
  private async processDeletingDependents(id: Ident): Promise<void> {
    const owner = await this.live(id.r, id.namespace, id.name);
    if (!owner || !isDeleting(owner) || !hasFinalizer(owner, 'foregroundDeletion')) return;
    const uid = owner.metadata.uid ?? '';
    const blocking = this.dependentObjects(uid).filter((d) =>
      d.obj.metadata.ownerReferences?.some((r) => r.uid === uid && r.blockOwnerDeletion === true),
    );
    if (blocking.length === 0) {
      await this.removeFinalizer(id, uid, 'foregroundDeletion');
      return;
    }
    for (const d of blocking) {
      if (!(isDeleting(d.obj) && hasFinalizer(d.obj, 'foregroundDeletion')))
        this.enqueue(`del|${identKey(d.id.r, d.id.namespace, d.id.name)}`);
    }
  }
}
