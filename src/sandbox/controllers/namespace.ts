// namespace-controller (pkg/controller/namespace): a namespace being deleted (status.phase
// Terminating) is emptied: every namespaced object in it, of every resource the sandbox serves,
// is deleted (background propagation; pods gracefully, their kubelets finish them); once nothing
// is left the `kubernetes` finalizer is removed through finalize, and the API server deletes the
// namespace. The status conditions kube adds while it works are not written.
import { isDeleting } from '../apiserver/meta.ts';
import { resource, RESOURCES } from '../apiserver/resources.ts';
import type { Namespace } from '../apiserver/types.ts';
import { QueueController, isApiError } from './base.ts';
import type { ControllerContext } from './context.ts';

const FINALIZER = 'kubernetes';
const namespaces = resource('namespaces');

/** The namespace controller. */
export class NamespaceController extends QueueController {
  constructor(ctx: ControllerContext) {
    super('namespace', ctx, { workers: 2 });
  }

  private isTerminating(name: string): boolean {
    const ns = this.ctx.informers.namespaces.get(name);
    return ns !== undefined && (isDeleting(ns) || ns.status?.phase === 'Terminating');
  }

  protected register(): void {
    this.ctx.informers.namespaces.on((type, ns) => {
      if (type !== 'DELETED' && (isDeleting(ns) || ns.status?.phase === 'Terminating'))
        this.enqueue(ns.metadata.name ?? '');
    });
    // A pod going away is what a terminating namespace usually waits for.
    this.ctx.informers.pods.on((type, pod) => {
      const ns = pod.metadata.namespace ?? '';
      if (type === 'DELETED' && this.isTerminating(ns)) this.enqueue(ns);
    });
  }

  protected async sync(name: string): Promise<void> {
    const ns = (await this.ctx.api.tryGet(namespaces, undefined, name)) as Namespace | undefined;
    if (!ns || !isDeleting(ns)) return;
    const finalizers = ns.spec?.finalizers ?? [];
    if (!finalizers.includes(FINALIZER)) return;
    let remaining = 0;
    for (const r of RESOURCES) {
      if (!r.namespaced) continue;
      const { items } = await this.ctx.api.list(r, name);
      for (const o of items) {
        remaining++;
        if (isDeleting(o)) continue;
        try {
          await this.ctx.api.delete(r, name, o.metadata.name ?? '', {
            propagationPolicy: 'Background',
            preconditions: { uid: o.metadata.uid ?? '' },
          });
        } catch (e) {
          if (!isApiError(e, 404) && !isApiError(e, 409)) throw e;
        }
      }
    }
    if (remaining > 0) {
      // Look again soon: objects with finalizers or graceful deletions take a while.
      this.enqueueAfter(name, Math.max(5 * this.ctx.timing.retryMs, 500));
      return;
    }
    await this.ctx.api.finalizeNamespace(
      name,
      finalizers.filter((f) => f !== FINALIZER),
    );
  }
}
