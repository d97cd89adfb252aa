// The RBAC authorizer's view of the policy, as kube-apiserver keeps it: shared informers (list +
// watch) on Roles, ClusterRoles, RoleBindings and ClusterRoleBindings of its own storage, so a
// binding created is in force as soon as its watch event arrives. Bindings are visited in name
// order, so the rule an audit record names is the same from one run to the next.
import { Informer } from '../controllers/informer.ts';
import type { ApiCore } from './api.ts';
import type { BindingLike, RbacPolicy, RoleLike } from './rbac.ts';
import { resource } from './resources.ts';
import type { KubeObject } from './types.ts';

type Obj = KubeObject & RoleLike & BindingLike;

function byName(a: KubeObject, b: KubeObject): number {
  const x = a.metadata.name ?? '';
  const y = b.metadata.name ?? '';
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The four RBAC informers of one kube-apiserver. */
export class RbacInformers implements RbacPolicy {
  private readonly clusterRoles: Informer<Obj>;
  private readonly roles: Informer<Obj>;
  private readonly clusterBindings: Informer<Obj>;
  private readonly bindings: Informer<Obj>;

  constructor(api: ApiCore, retryMs: number, log: (line: string) => void) {
    const mk = (name: string): Informer<Obj> => new Informer<Obj>(api, resource(name), retryMs, log);
    this.clusterRoles = mk('clusterroles');
    this.roles = mk('roles');
    this.clusterBindings = mk('clusterrolebindings');
    this.bindings = mk('rolebindings');
  }

  private all(): Informer<Obj>[] {
    return [this.clusterRoles, this.roles, this.clusterBindings, this.bindings];
  }

  /** Starts listing and watching (retrying while the storage is down). */
  start(): void {
    for (const i of this.all()) void i.start();
  }

  /** Resolves once every informer has its first list. */
  async synced(): Promise<void> {
    await Promise.all(this.all().map((i) => i.waitForSync()));
  }

  /** Have all four listed once? */
  get hasSynced(): boolean {
    return this.all().every((i) => i.hasSynced);
  }

  stop(): void {
    for (const i of this.all()) i.stop();
  }

  clusterRoleBindings(): Iterable<BindingLike> {
    return this.clusterBindings.list().sort(byName);
  }

  roleBindings(namespace: string): Iterable<BindingLike> {
    return this.bindings.list(namespace).sort(byName);
  }

  clusterRole(name: string): RoleLike | undefined {
    return this.clusterRoles.get(name);
  }

  role(namespace: string, name: string): RoleLike | undefined {
    return this.roles.get(`${namespace}/${name}`);
  }
}
