// The Leases and Namespaces ports (kube/ports.ts) on kube/client.ts: Leases written with
// resourceVersion preconditions (a PUT at a stale version is kube-apiserver's 409 Conflict), watched
// one at a time or a namespace at once; and ensureNamespace, which makes sure bosun's namespace
// exists. Every failure is a KubeApiError (kube/errors.ts).
import type { KubeClients } from './client.ts';
import { isAlreadyExists, isNotFound } from './errors.ts';
import type { Leases, Namespaces } from './ports.ts';
import { seg, sender, watchObjects, type KubeList } from './requests.ts';
import type { Lease, Namespace } from './types.ts';

/** bosun's own namespace: its lock, its journal, its agent. */
export const BOSUN_NAMESPACE = 'bosun-system';

const GROUP = 'coordination.k8s.io';

function leasesPath(namespace: string): string {
  return `/apis/${GROUP}/v1/namespaces/${seg(namespace)}/leases`;
}

/** Builds the Leases and Namespaces ports on one set of clients. */
export function createLeases(clients: KubeClients): Leases & Namespaces {
  const send = sender(clients);
  const target = (verb: string, namespace: string, name?: string): Parameters<typeof send>[0] => ({
    resource: 'leases',
    group: GROUP,
    namespace,
    verb,
    ...(name !== undefined ? { name } : {}),
  });
  const body = (l: Lease): Lease => ({ ...l, apiVersion: `${GROUP}/v1`, kind: 'Lease' });
  return {
    getLease: (namespace, name) =>
      send<Lease>(target('get', namespace, name), {
        method: 'GET',
        path: `${leasesPath(namespace)}/${seg(name)}`,
      }),
    createLease: (lease) => {
      const namespace = lease.metadata.namespace ?? 'default';
      return send<Lease>(target('create', namespace, lease.metadata.name), {
        method: 'POST',
        path: leasesPath(namespace),
        body: body(lease),
      });
    },
    updateLease: (lease) => {
      const namespace = lease.metadata.namespace ?? 'default';
      const name = lease.metadata.name ?? '';
      if (!lease.metadata.resourceVersion)
        throw new TypeError(`updateLease ${namespace}/${name}: metadata.resourceVersion is required`);
      return send<Lease>(target('update', namespace, name), {
        method: 'PUT',
        path: `${leasesPath(namespace)}/${seg(name)}`,
        body: body(lease),
      });
    },
    deleteLease: async (namespace, name, opts = {}) => {
      await send<unknown>(target('delete', namespace, name), {
        method: 'DELETE',
        path: `${leasesPath(namespace)}/${seg(name)}`,
        ...(opts.resourceVersion
          ? { body: { preconditions: { resourceVersion: opts.resourceVersion } } }
          : {}),
      });
    },
    listLeases: async (namespace, opts = {}) => {
      const list = await send<KubeList<Lease>>(target('list', namespace), {
        method: 'GET',
        path: leasesPath(namespace),
        query: { labelSelector: opts.labelSelector },
      });
      return { items: list.items ?? [], resourceVersion: list.metadata?.resourceVersion ?? '' };
    },
    watchLeases: (opts, onEvent, signal) => {
      const byName = opts.name !== undefined ? `metadata.name=${opts.name}` : undefined;
      const fieldSelector = [byName, opts.fieldSelector].filter((s) => s).join(',') || undefined;
      return watchObjects<Lease>(
        clients,
        target('watch', opts.namespace, opts.name),
        {
          path: leasesPath(opts.namespace),
          query: {
            resourceVersion: opts.resourceVersion,
            fieldSelector,
            labelSelector: opts.labelSelector,
            allowWatchBookmarks: true,
          },
        },
        onEvent,
        signal,
      );
    },
    getNamespace: (name) =>
      send<Namespace>(
        { resource: 'namespaces', name, verb: 'get' },
        { method: 'GET', path: `/api/v1/namespaces/${seg(name)}` },
      ),
    createNamespace: (ns) =>
      send<Namespace>(
        { resource: 'namespaces', name: ns.metadata.name ?? '', verb: 'create' },
        { method: 'POST', path: '/api/v1/namespaces', body: { ...ns, apiVersion: 'v1', kind: 'Namespace' } },
      ),
  };
}

/**
 * Makes sure the namespace exists: read it, create it when absent (someone creating it at the same
 * moment is as good). Returns whether this call created it.
 */
export async function ensureNamespace(ns: Namespaces, name: string): Promise<boolean> {
  try {
    await ns.getNamespace(name);
    return false;
  } catch (e) {
    if (!isNotFound(e)) throw e;
  }
  try {
    await ns.createNamespace({ metadata: { name, labels: { 'app.kubernetes.io/managed-by': 'bosun' } } });
    return true;
  } catch (e) {
    if (isAlreadyExists(e)) return false;
    throw e;
  }
}
