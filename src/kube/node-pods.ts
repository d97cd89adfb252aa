// The NodePods and NodeHealth ports on @kubernetes/client-node 1.x's configuration: each call is a
// kubeRequest (authentication, transport, timeout and cancellation from client-node; the API's JSON
// as it came, in kube/types.ts's shapes), and every failure is mapped through kube/errors.ts.
import { kubeCall, kubeRequest, type KubeClients, type KubeRequest } from './client.ts';
import {
  KubeApiError,
  TransportReason,
  fromStatus,
  isConflict,
  parseStatus,
  toKubeError,
  type RequestTarget,
} from './errors.ts';
import type {
  AccessReview,
  ListOptions,
  NodeHealth,
  NodePatch,
  NodePods,
  PodRemovalOptions,
  RequestOptions,
  ResourceAttributes,
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
  const send = async <T>(
    target: RequestTarget,
    r: KubeRequest,
    opts: { retryAfter?: boolean } = {},
  ): Promise<T> => {
    try {
      return await kubeCall(clients, target, () => kubeRequest<T>(clients, r), { ...opts, method: r.method });
    } catch (e) {
      // The caller's own signal (a deadline of its own): say so, whatever the transport made of it.
      if (r.signal?.aborted && !clients.signal?.aborted)
        throw new KubeApiError(
          `${target.verb ?? 'the request'} ${target.resource ?? ''} was cancelled`,
          {
            status: 0,
            reason: TransportReason.Aborted,
            resource: target.resource ?? '',
            name: target.name ?? '',
            namespace: target.namespace ?? '',
          },
          { cause: e },
        );
      throw e;
    }
  };
  // The drain retries refused evictions and deletions itself, classifying each refusal.
  const removal = { retryAfter: false };
  const dryRun = (opts: WriteOptions): string | undefined => (opts.dryRun ? DRY_RUN_ALL : undefined);

  async function scanPods(
    opts: ListOptions,
    onChunk: (items: Pod[]) => void | Promise<void>,
  ): Promise<{ resourceVersion: string }> {
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
          signal: opts.signal,
        },
      );
      await onChunk(list.items ?? []);
      cont = list.metadata?.continue || undefined;
      rv = list.metadata?.resourceVersion ?? rv;
    } while (cont);
    return { resourceVersion: rv };
  }

  async function listPods(opts: ListOptions = {}): Promise<ListResult<Pod>> {
    const items: Pod[] = [];
    const { resourceVersion } = await scanPods(opts, (chunk) => {
      for (const p of chunk) items.push(p);
    });
    return { items, resourceVersion };
  }

  /** Watches a list path, passing each event on; a 410 or other ERROR event rejects as a KubeApiError. */
  function watchList<T>(
    target: RequestTarget,
    path: string,
    query: Record<string, string | undefined>,
    onEvent: (e: WatchEvent<T>) => void,
    signal: AbortSignal,
  ): Promise<void> {
    return clients
      .watch(
        { path, query: { ...query, allowWatchBookmarks: true } },
        (type, obj) => {
          if (type === 'ERROR') {
            const st = parseStatus(obj);
            throw fromStatus(typeof st?.['code'] === 'number' ? st['code'] : 500, st, target);
          }
          if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED' || type === 'BOOKMARK')
            onEvent({ type, object: obj as T });
        },
        signal,
      )
      .catch((e: unknown) => {
        if (!signal.aborted) throw toKubeError(e, target, { cancelled: false });
      });
  }

  function watchNodes(
    opts: { name: string; resourceVersion: string },
    onEvent: (e: WatchEvent<Node>) => void,
    signal: AbortSignal,
  ): Promise<void> {
    return watchList(
      { resource: 'nodes', name: opts.name, verb: 'watch' },
      '/api/v1/nodes',
      { fieldSelector: `metadata.name=${opts.name}`, resourceVersion: opts.resourceVersion },
      onEvent,
      signal,
    );
  }

  async function reviewAccess(attrs: ResourceAttributes, opts: RequestOptions = {}): Promise<AccessReview> {
    const review = await send<{ status?: { allowed?: boolean; denied?: boolean; reason?: string } }>(
      { resource: 'selfsubjectaccessreviews', group: 'authorization.k8s.io', verb: 'create' },
      {
        method: 'POST',
        path: '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews',
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SelfSubjectAccessReview',
          spec: {
            resourceAttributes: {
              verb: attrs.verb,
              group: attrs.group ?? '',
              resource: attrs.resource,
              ...(attrs.subresource ? { subresource: attrs.subresource } : {}),
              ...(attrs.namespace ? { namespace: attrs.namespace } : {}),
              ...(attrs.name ? { name: attrs.name } : {}),
            },
          },
        },
        signal: opts.signal,
      },
    );
    const st = review.status ?? {};
    return {
      allowed: st.allowed === true,
      ...(st.denied === true ? { denied: true } : {}),
      ...(st.reason ? { reason: st.reason } : {}),
    };
  }

  function watchPods(
    opts: ListOptions & { resourceVersion: string },
    onEvent: (e: WatchEvent<Pod>) => void,
    signal: AbortSignal,
  ): Promise<void> {
    return watchList(
      { resource: 'pods', namespace: opts.namespace, verb: 'watch' },
      podsPath(opts.namespace),
      {
        fieldSelector: opts.fieldSelector,
        labelSelector: opts.labelSelector,
        resourceVersion: opts.resourceVersion,
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
    getNode: (name, opts = {}) =>
      send<Node>(
        { resource: 'nodes', name, verb: 'get' },
        { method: 'GET', path: `/api/v1/nodes/${seg(name)}`, signal: opts.signal },
      ),
    listNodes: async (opts = {}) => {
      const list = await send<KubeList<Node>>(
        { resource: 'nodes', verb: 'list' },
        {
          method: 'GET',
          path: '/api/v1/nodes',
          query: { labelSelector: opts.labelSelector },
          signal: opts.signal,
        },
      );
      return list.items ?? [];
    },
    watchNodes,
    scanPods,
    reviewAccess,
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
              signal: opts.signal,
            },
          );
        } catch (e) {
          if (guarded || !isConflict(e) || attempt >= 4) throw e;
        }
      }
    },
    listPods,
    getPod: (namespace, name, opts = {}) =>
      send<Pod>(
        { resource: 'pods', namespace, name, verb: 'get' },
        { method: 'GET', path: podPath(namespace, name), signal: opts.signal },
      ),
    evictPod: async (namespace, name, opts = {}) => {
      await send<unknown>(
        { resource: 'pods', namespace, name, verb: 'evict' },
        {
          method: 'POST',
          path: `${podPath(namespace, name)}/eviction`,
          query: { dryRun: dryRun(opts) },
          body: removalBody(name, namespace, opts),
          signal: opts.signal,
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
          signal: opts.signal,
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
          signal: opts.signal,
        },
      );
      return list.items ?? [];
    },
    getDaemonSet: (namespace, name, opts = {}) =>
      send<DaemonSet>(
        { resource: 'daemonsets', group: 'apps', namespace, name, verb: 'get' },
        {
          method: 'GET',
          path: `/apis/apps/v1/namespaces/${seg(namespace)}/daemonsets/${seg(name)}`,
          signal: opts.signal,
        },
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
