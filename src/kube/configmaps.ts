// ConfigMaps written with resourceVersion preconditions (a PUT at a stale version is
// kube-apiserver's 409 Conflict): what the journal (src/journal/) keeps a rollout's state in.
// Every failure is a KubeApiError (kube/errors.ts).
import type { KubeClients } from './client.ts';
import type { ConfigMap } from './cluster-info.ts';
import { isNotFound } from './errors.ts';
import { seg, sender } from './requests.ts';

/** core/v1 ConfigMaps, read and written whole. */
export interface ConfigMaps {
  /** undefined when it does not exist. */
  getConfigMap(namespace: string, name: string): Promise<ConfigMap | undefined>;
  /** @throws KubeApiError AlreadyExists when it exists. */
  createConfigMap(cm: ConfigMap): Promise<ConfigMap>;
  /** metadata.resourceVersion is required: the write is refused (409 Conflict) if the object changed since. */
  updateConfigMap(cm: ConfigMap): Promise<ConfigMap>;
}

/** Builds the port on a set of clients. */
export function createConfigMaps(clients: KubeClients): ConfigMaps {
  const send = sender(clients);
  const path = (namespace: string, name?: string): string =>
    `/api/v1/namespaces/${seg(namespace)}/configmaps${name === undefined ? '' : `/${seg(name)}`}`;
  const body = (cm: ConfigMap): ConfigMap => ({ ...cm, apiVersion: 'v1', kind: 'ConfigMap' });
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
        { method: 'POST', path: path(namespace), body: body(cm) },
      );
    },
    updateConfigMap(cm) {
      const namespace = cm.metadata.namespace ?? 'default';
      const name = cm.metadata.name ?? '';
      if (!cm.metadata.resourceVersion)
        throw new TypeError(`updateConfigMap ${namespace}/${name}: metadata.resourceVersion is required`);
      return send<ConfigMap>(
        { resource: 'configmaps', namespace, name, verb: 'update' },
        { method: 'PUT', path: path(namespace, name), body: body(cm) },
      );
    },
  };
}
