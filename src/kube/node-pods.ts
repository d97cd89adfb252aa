// The NodePods and NodeHealth ports on @kubernetes/client-node 1.x. Converts client-node's model
// classes (Dates, `_continue`) back to the API's plain JSON (kube/types.ts) so nothing above kube/
// sees a library shape, and maps every failure through kube/errors.ts.
import { PatchStrategy, setHeaderOptions, type V1Eviction } from '@kubernetes/client-node';
import { kubeCall, type KubeClients } from './client.ts';
import { fromStatus, isConflict, parseStatus, toKubeError } from './errors.ts';
import type {
  ListOptions,
  NodeHealth,
  NodePatch,
  NodePods,
  PodRemovalOptions,
  WriteOptions,
} from './ports.ts';
import type {
  DaemonSet,
  Event,
  Lease,
  ListResult,
  Node,
  Pod,
  PodDisruptionBudget,
  WatchEvent,
} from './types.ts';

/** Converts a client-node model instance to the API's JSON: Dates to RFC 3339, `_continue` to `continue`. */
export function toPlain<T>(v: unknown): T {
  return plain(v) as T;
}

function plain(v: unknown): unknown {
  if (v instanceof Date) return v.toISOString().replace(/\.000Z$/, 'Z');
  if (Array.isArray(v)) return v.map(plain);
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, val] of Object.entries(v)) {
      if (val === undefined) continue;
      out[k.startsWith('_') ? k.slice(1) : k] = plain(val);
    }
    return out;
  }
  return v;
}

const DRY_RUN_ALL = 'All';

/** Builds both ports on one set of clients. */
export function createNodePods(clients: KubeClients): NodePods & NodeHealth {
  const call = <T>(target: Parameters<typeof kubeCall>[1], fn: () => Promise<T>): Promise<T> =>
    kubeCall(clients, target, fn);

  async function listPods(opts: ListOptions = {}): Promise<ListResult<Pod>> {
    const items: Pod[] = [];
    let cont: string | undefined;
    let rv = '';
    do {
      const q = {
        labelSelector: opts.labelSelector,
        fieldSelector: opts.fieldSelector,
        limit: 500,
        _continue: cont,
      };
      const list = await call({ resource: 'pods', namespace: opts.namespace, verb: 'list' }, () =>
        opts.namespace
          ? clients.core.listNamespacedPod({ namespace: opts.namespace, ...q })
          : clients.core.listPodForAllNamespaces(q),
      );
      for (const p of list.items) items.push(toPlain<Pod>(p));
      cont = list.metadata?._continue || undefined;
      rv = list.metadata?.resourceVersion ?? rv;
    } while (cont);
    return { items, resourceVersion: rv };
  }

  function watchPods(
    opts: ListOptions & { resourceVersion: string },
    onEvent: (e: WatchEvent<Pod>) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const path = opts.namespace
      ? `/api/v1/namespaces/${encodeURIComponent(opts.namespace)}/pods`
      : '/api/v1/pods';
    const target = { resource: 'pods', namespace: opts.namespace, verb: 'watch' };
    return new Promise<void>((resolve, reject) => {
      if (signal.aborted) return resolve();
      let settled = false;
      let controller: AbortController | undefined;
      const finish = (err: unknown): void => {
        if (settled) return;
        settled = true;
        signal.removeEventListener('abort', onAbort);
        controller?.abort();
        if (err === null || err === undefined || signal.aborted) resolve();
        else reject(toKubeError(err, target, { cancelled: signal.aborted }));
      };
      const onAbort = (): void => finish(null);
      signal.addEventListener('abort', onAbort, { once: true });
      clients.watch
        .watch(
          path,
          {
            fieldSelector: opts.fieldSelector,
            labelSelector: opts.labelSelector,
            resourceVersion: opts.resourceVersion,
            allowWatchBookmarks: true,
          },
          (type: string, obj: unknown) => {
            if (settled) return;
            if (type === 'ERROR') {
              const st = parseStatus(obj);
              finish(fromStatus(typeof st?.['code'] === 'number' ? st['code'] : 500, st, target));
              return;
            }
            if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED' || type === 'BOOKMARK')
              onEvent({ type, object: obj as Pod });
          },
          (err: unknown) => finish(err),
        )
        .then((c) => {
          controller = c;
          if (settled) c.abort();
        })
        .catch((e: unknown) => finish(e));
    });
  }

  function removalBody(name: string, namespace: string, opts: PodRemovalOptions): V1Eviction {
    return {
      apiVersion: 'policy/v1',
      kind: 'Eviction',
      metadata: { name, namespace },
      deleteOptions: {
        ...(opts.gracePeriodSeconds !== undefined && opts.gracePeriodSeconds >= 0
          ? { gracePeriodSeconds: opts.gracePeriodSeconds }
          : {}),
        ...(opts.dryRun ? { dryRun: [DRY_RUN_ALL] } : {}),
      },
    };
  }

  return {
    getNode: async (name) =>
      toPlain<Node>(
        await call({ resource: 'nodes', name, verb: 'get' }, () => clients.core.readNode({ name })),
      ),
    listNodes: async (opts = {}) => {
      const list = await call({ resource: 'nodes', verb: 'list' }, () =>
        clients.core.listNode({ labelSelector: opts.labelSelector }),
      );
      return list.items.map((n) => toPlain<Node>(n));
    },
    patchNode: async (name: string, patch: NodePatch, opts: WriteOptions = {}) => {
      // A merge patch without a resourceVersion has no precondition: kube-apiserver retries such a
      // patch itself when it races another writer (the kubelet's status updates). A server that
      // answers 409 anyway gets the same patch again, as client-go's RetryOnConflict would.
      const guarded = patch.metadata?.resourceVersion !== undefined;
      for (let attempt = 0; ; attempt++) {
        try {
          return toPlain<Node>(
            await call({ resource: 'nodes', name, verb: 'patch' }, () =>
              clients.core.patchNode(
                { name, body: patch, dryRun: opts.dryRun ? DRY_RUN_ALL : undefined },
                setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
              ),
            ),
          );
        } catch (e) {
          if (guarded || !isConflict(e) || attempt >= 4) throw e;
        }
      }
    },
    listPods,
    getPod: async (namespace, name) =>
      toPlain<Pod>(
        await call({ resource: 'pods', namespace, name, verb: 'get' }, () =>
          clients.core.readNamespacedPod({ namespace, name }),
        ),
      ),
    evictPod: async (namespace, name, opts = {}) => {
      await call({ resource: 'pods', namespace, name, verb: 'evict' }, () =>
        clients.core.createNamespacedPodEviction({
          namespace,
          name,
          body: removalBody(name, namespace, opts),
          dryRun: opts.dryRun ? DRY_RUN_ALL : undefined,
        }),
      );
    },
    deletePod: async (namespace, name, opts = {}) => {
      await call({ resource: 'pods', namespace, name, verb: 'delete' }, () =>
        clients.core.deleteNamespacedPod({
          namespace,
          name,
          dryRun: opts.dryRun ? DRY_RUN_ALL : undefined,
          gracePeriodSeconds:
            opts.gracePeriodSeconds !== undefined && opts.gracePeriodSeconds >= 0
              ? opts.gracePeriodSeconds
              : undefined,
          body: opts.uid ? { preconditions: { uid: opts.uid } } : undefined,
        }),
      );
    },
    watchPods,
    listPdbs: async (opts = {}) => {
      const target = {
        resource: 'poddisruptionbudgets',
        group: 'policy',
        namespace: opts.namespace,
        verb: 'list',
      };
      const list = await call(target, () =>
        opts.namespace
          ? clients.policy.listNamespacedPodDisruptionBudget({ namespace: opts.namespace })
          : clients.policy.listPodDisruptionBudgetForAllNamespaces({}),
      );
      return list.items.map((p) => toPlain<PodDisruptionBudget>(p));
    },
    getDaemonSet: async (namespace, name) =>
      toPlain<DaemonSet>(
        await call({ resource: 'daemonsets', group: 'apps', namespace, name, verb: 'get' }, () =>
          clients.apps.readNamespacedDaemonSet({ namespace, name }),
        ),
      ),
    getLease: async (namespace, name) =>
      toPlain<Lease>(
        await call({ resource: 'leases', group: 'coordination.k8s.io', namespace, name, verb: 'get' }, () =>
          clients.coordination.readNamespacedLease({ namespace, name }),
        ),
      ),
    listEvents: async (opts = {}) => {
      const q = { fieldSelector: opts.fieldSelector, labelSelector: opts.labelSelector };
      const list = await call({ resource: 'events', namespace: opts.namespace, verb: 'list' }, () =>
        opts.namespace
          ? clients.core.listNamespacedEvent({ namespace: opts.namespace, ...q })
          : clients.core.listEventForAllNamespaces(q),
      );
      return list.items.map((e) => toPlain<Event>(e));
    },
  };
}
