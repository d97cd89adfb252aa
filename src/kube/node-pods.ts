// The NodePods and NodeHealth ports on @kubernetes/client-node 1.x's configuration: each call is a
// kubeRequest (authentication, transport, timeout and cancellation from client-node; the API's JSON
// as it came, in kube/types.ts's shapes), and every failure is mapped through kube/errors.ts.
import { kubeCall, kubeRequest, type KubeClients, type KubeRequest } from './client.ts';
import { isConflict, type RequestTarget } from './errors.ts';
import { watchObjects } from './requests.ts';
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

const DRY_RUN_ALL = 'All';

/** Builds both ports on one set of clients. */
export function createNodePods(clients: KubeClients): NodePods & NodeHealth {
  const send = <T>(target: RequestTarget, r: KubeRequest, opts: { retryAfter?: boolean } = {}): Promise<T> =>
    kubeCall(clients, target, () => kubeRequest<T>(clients, r), { ...opts, method: r.method });
  // The drain retries refused evictions and deletions itself, classifying each refusal.
  const removal = { retryAfter: false };
  const dryRun = (opts: WriteOptions): string | undefined => (opts.dryRun ? DRY_RUN_ALL : undefined);

  async function listPods(opts: ListOptions = {}): Promise<ListResult<Pod>> {
    const items: Pod[] = [];
    let cont: string | undefined;
    let rv = '';
    do {
      const list = await send<KubeList<Pod>>(
        { resource: 'pods', namespace: opts.namespace, verb: 'list' },
        {
          method: 'GET',
          path: podsPath(opts.namespace),
          query: {
            labelSelector: opts.labelSelector,
            fieldSelector: opts.fieldSelector,
            limit: opts.chunkSize === 0 ? undefined : (opts.chunkSize ?? 500),
            continue: cont,
          },
        },
      );
      for (const p of list.items ?? []) items.push(p);
      cont = list.metadata?.continue || undefined;
      rv = list.metadata?.resourceVersion ?? rv;
    } while (cont);
    return { items, resourceVersion: rv };
  }

  function watchPods(
    opts: ListOptions & { resourceVersion: string },
    onEvent: (e: WatchEvent<Pod>) => void,
    signal: AbortSignal,
  ): Promise<void> {
    return watchObjects<Pod>(
      clients,
      { resource: 'pods', namespace: opts.namespace, verb: 'watch' },
      {
        path: podsPath(opts.namespace),
        query: {
          fieldSelector: opts.fieldSelector,
          labelSelector: opts.labelSelector,
          resourceVersion: opts.resourceVersion,
          allowWatchBookmarks: true,
        },
      },
      onEvent,
      signal,
    );
  }

  function removalBody(name: string, namespace: string, opts: PodRemovalOptions): Record<string, unknown> {
    const grace = gracePeriod(opts);
    return {
      apiVersion: 'policy/v1',
      kind: 'Eviction',
      metadata: { name, namespace },
      deleteOptions: {
        ...(grace !== undefined ? { gracePeriodSeconds: grace } : {}),
        ...(opts.dryRun ? { dryRun: [DRY_RUN_ALL] } : {}),
      },
    };
  }

  return {
    getNode: (name) =>
      send<Node>(
        { resource: 'nodes', name, verb: 'get' },
        { method: 'GET', path: `/api/v1/nodes/${seg(name)}` },
      ),
    listNodes: async (opts = {}) => {
      const list = await send<KubeList<Node>>(
        { resource: 'nodes', verb: 'list' },
        { method: 'GET', path: '/api/v1/nodes', query: { labelSelector: opts.labelSelector } },
      );
      return list.items ?? [];
    },
    patchNode: async (name: string, patch: NodePatch, opts: WriteOptions = {}) => {
      // A merge patch without a resourceVersion has no precondition: kube-apiserver retries such a
      // patch itself when it races another writer (the kubelet's status updates). A server that
      // answers 409 anyway gets the same patch again, as client-go's RetryOnConflict would.
      const guarded = patch.metadata?.resourceVersion !== undefined;
      for (let attempt = 0; ; attempt++) {
        try {
          return await send<Node>(
            { resource: 'nodes', name, verb: 'patch' },
            {
              method: 'PATCH',
              path: `/api/v1/nodes/${seg(name)}`,
              query: { dryRun: dryRun(opts) },
              body: patch,
              contentType: 'application/merge-patch+json',
            },
          );
        } catch (e) {
          if (guarded || !isConflict(e) || attempt >= 4) throw e;
        }
      }
    },
    listPods,
    getPod: (namespace, name) =>
      send<Pod>(
        { resource: 'pods', namespace, name, verb: 'get' },
        { method: 'GET', path: podPath(namespace, name) },
      ),
    evictPod: async (namespace, name, opts = {}) => {
      await send<unknown>(
        { resource: 'pods', namespace, name, verb: 'evict' },
        {
          method: 'POST',
          path: `${podPath(namespace, name)}/eviction`,
          query: { dryRun: dryRun(opts) },
          body: removalBody(name, namespace, opts),
        },
        removal,
      );
    },
    deletePod: async (namespace, name, opts = {}) => {
      await send<unknown>(
        { resource: 'pods', namespace, name, verb: 'delete' },
        {
          method: 'DELETE',
          path: podPath(namespace, name),
          query: {
            dryRun: dryRun(opts),
            gracePeriodSeconds: gracePeriod(opts),
          },
          ...(opts.uid ? { body: { preconditions: { uid: opts.uid } } } : {}),
        },
        removal,
      );
    },
    watchPods,
    listPdbs: async (opts = {}) => {
      const list = await send<KubeList<PodDisruptionBudget>>(
        { resource: 'poddisruptionbudgets', group: 'policy', namespace: opts.namespace, verb: 'list' },
        {
          method: 'GET',
          path: opts.namespace
            ? `/apis/policy/v1/namespaces/${seg(opts.namespace)}/poddisruptionbudgets`
            : '/apis/policy/v1/poddisruptionbudgets',
        },
      );
      return list.items ?? [];
    },
    getDaemonSet: (namespace, name) =>
      send<DaemonSet>(
        { resource: 'daemonsets', group: 'apps', namespace, name, verb: 'get' },
        { method: 'GET', path: `/apis/apps/v1/namespaces/${seg(namespace)}/daemonsets/${seg(name)}` },
      ),
    getLease: (namespace, name) =>
      send<Lease>(
        { resource: 'leases', group: 'coordination.k8s.io', namespace, name, verb: 'get' },
        {
          method: 'GET',
          path: `/apis/coordination.k8s.io/v1/namespaces/${seg(namespace)}/leases/${seg(name)}`,
        },
      ),
    listEvents: async (opts = {}) => {
      const list = await send<KubeList<Event>>(
        { resource: 'events', namespace: opts.namespace, verb: 'list' },
        {
          method: 'GET',
          path: opts.namespace ? `/api/v1/namespaces/${seg(opts.namespace)}/events` : '/api/v1/events',
          query: { fieldSelector: opts.fieldSelector, labelSelector: opts.labelSelector },
        },
      );
      return list.items ?? [];
    },
  };
}

/** A list as the API returns it. */
interface KubeList<T> {
  items?: T[];
  metadata?: { resourceVersion?: string; continue?: string };
}

/** One path segment, escaped as client-node's typed APIs escape theirs. */
function seg(s: string): string {
  return encodeURIComponent(s);
}

/** `/api/v1/namespaces/NS/pods`, or all namespaces' pods. */
function podsPath(namespace: string | undefined): string {
  return namespace ? `/api/v1/namespaces/${seg(namespace)}/pods` : '/api/v1/pods';
}

/** `/api/v1/namespaces/NS/pods/NAME`. */
function podPath(namespace: string, name: string): string {
  return `/api/v1/namespaces/${seg(namespace)}/pods/${seg(name)}`;
}

/** The grace period to send: none (the pod's own) when unset or negative, as kubectl's -1. */
function gracePeriod(opts: PodRemovalOptions): number | undefined {
  return opts.gracePeriodSeconds !== undefined && opts.gracePeriodSeconds >= 0
    ? opts.gracePeriodSeconds
    : undefined;
}
