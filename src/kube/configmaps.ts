// ConfigMaps written with resourceVersion preconditions (a PUT at a stale version is
// kube-apiserver's 409 Conflict), and bosun's namespace made sure of: what the journal
// (src/journal/) keeps a rollout's state in. Every failure is a KubeApiError (kube/errors.ts).
import { kubeCall, kubeRequest, type KubeClients, type KubeRequest } from './client.ts';
import type { ConfigMap } from './cluster-info.ts';
import { isAlreadyExists, isNotFound, type RequestTarget } from './errors.ts';

function seg(s: string): string {
  return encodeURIComponent(s);
}

/** The ConfigMap writes of the journal, and its namespace. */
export interface ConfigMapWrites {
  /** undefined when it does not exist. */
  getConfigMap(namespace: string, name: string): Promise<ConfigMap | undefined>;
  createConfigMap(cm: ConfigMap): Promise<ConfigMap>;
  /** metadata.resourceVersion is required: the write is refused (409) if the object changed since. */
  updateConfigMap(cm: ConfigMap): Promise<ConfigMap>;
  /** Creates the namespace unless it exists. */
  ensureNamespace(name: string): Promise<void>;
}

/** Builds the port on a set of clients. */
export function createConfigMapWrites(clients: KubeClients): ConfigMapWrites {
  const send = <T>(target: RequestTarget, r: KubeRequest): Promise<T> =>
    kubeCall(clients, target, () => kubeRequest<T>(clients, r), { method: r.method });
  const path = (namespace: string, name?: string): string =>
    `/api/v1/namespaces/${seg(namespace)}/configmaps${name === undefined ? '' : `/${seg(name)}`}`;
  return {
    async getConfigMap(namespace, name) {
      try {
        return await send<ConfigMap>(
          { resource: 'configmaps', namespace, name, verb: 'get' },
          { method: 'GET', path: path(namespace, name) },
        );
      } catch (e) {
        if (isNotFound(e)) return undefined;
        throw e;
      }
    },
    createConfigMap(cm) {
      const namespace = cm.metadata.namespace ?? 'default';
      return send<ConfigMap>(
        { resource: 'configmaps', namespace, name: cm.metadata.name ?? '', verb: 'create' },
        { method: 'POST', path: path(namespace), body: { apiVersion: 'v1', kind: 'ConfigMap', ...cm } },
      );
    },
    updateConfigMap(cm) {
      const namespace = cm.metadata.namespace ?? 'default';
      const name = cm.metadata.name ?? '';
      if (!cm.metadata.resourceVersion)
        throw new TypeError(`updateConfigMap ${namespace}/${name}: metadata.resourceVersion is required`);
      return send<ConfigMap>(
        { resource: 'configmaps', namespace, name, verb: 'update' },
        { method: 'PUT', path: path(namespace, name), body: { apiVersion: 'v1', kind: 'ConfigMap', ...cm } },
      );
    },
    async ensureNamespace(name) {
      try {
        await send<unknown>(
          { resource: 'namespaces', name, verb: 'get' },
          { method: 'GET', path: `/api/v1/namespaces/${seg(name)}` },
        );
        return;
      } catch (e) {
        if (!isNotFound(e)) throw e;
      }
      try {
        await send<unknown>(
          { resource: 'namespaces', name, verb: 'create' },
          {
            method: 'POST',
            path: '/api/v1/namespaces',
            body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } },
          },
        );
      } catch (e) {
        if (!isAlreadyExists(e)) throw e;
      }
    },
  };
}
