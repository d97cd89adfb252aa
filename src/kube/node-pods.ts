// The NodePods and NodeHealth ports on @kubernetes/client-node 1.x's configuration: each call is a
// kubeRequest (authentication, transport, timeout and cancellation from client-node; the API's JSON
// as it came, in kube/types.ts's shapes), and every failure is mapped through kube/errors.ts.
import type { KubeClients } from './client.ts';
import { isConflict, isNotFound } from './errors.ts';
import { createNodeWatch } from './node-watch.ts';
import { seg, sender, watchObjects, type KubeList } from './requests.ts';
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
  const send = sender(clients);
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
    watchNodes: createNodeWatch(clients).watchNodes,
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
    desiredReplicas: async (kind, namespace, name, opts = {}) => {
      const r = WORKLOAD_RESOURCES[kind];
      if (r === undefined) return undefined;
      try {
        const obj = await send<{ spec?: { replicas?: number } }>(
          { resource: r.resource, group: r.group, namespace, name, verb: 'get' },
          {
            method: 'GET',
            path: `${r.prefix}/namespaces/${seg(namespace)}/${r.resource}/${seg(name)}`,
            signal: opts.signal,
          },
        );
        // spec.replicas defaults to 1 in all three kinds.
        return obj.spec?.replicas ?? 1;
      } catch (e) {
        if (isNotFound(e)) return 0;
        throw e;
      }
    },
  };
}

/** Where the workload controllers desiredReplicas knows live. */
const WORKLOAD_RESOURCES: Record<string, { group: string; resource: string; prefix: string } | undefined> = {
  ReplicaSet: { group: 'apps', resource: 'replicasets', prefix: '/apis/apps/v1' },
  StatefulSet: { group: 'apps', resource: 'statefulsets', prefix: '/apis/apps/v1' },
  ReplicationController: { group: '', resource: 'replicationcontrollers', prefix: '/api/v1' },
};

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
