// The ClusterInfo port: what an upgrade plan reads about a cluster besides nodes, pods and budgets
// (kube/node-pods.ts has those): the serving kube-apiserver's /version, kubeadm's ConfigMaps, the
// kube-proxy DaemonSet and the CoreDNS Deployment, every DaemonSet (for the drain's lookups),
// discovery (which group/versions and resources the API server serves) and lists of any resource.
// Each call is one kubeRequest (kube/client.ts) with its failures mapped by kube/errors.ts; it only
// reads.
import { kubeCall, kubeRequest, type KubeClients, type KubeRequest } from './client.ts';
import { isNotFound, type RequestTarget } from './errors.ts';
import type { DaemonSet, LabelSelector, ObjectMeta } from './types.ts';

/** GET /version. */
export interface VersionInfo {
  major?: string;
  minor?: string;
  /** "v1.34.3". */
  gitVersion?: string;
  platform?: string;
}

/** core/v1 ConfigMap. */
export interface ConfigMap {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  data?: Record<string, string>;
}

/** apps/v1 Deployment (the fields an upgrade plan reads). */
export interface Deployment {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: {
    replicas?: number;
    selector?: LabelSelector;
    template?: { spec?: { containers?: { name: string; image?: string }[] } };
  };
  status?: { replicas?: number; readyReplicas?: number; updatedReplicas?: number };
}

/** A DaemonSet with its pod template (kube-proxy's image). */
export interface DaemonSetWithTemplate extends DaemonSet {
  spec?: DaemonSet['spec'] & {
    template?: { spec?: { containers?: { name: string; image?: string }[] } };
  };
}

/** One resource of a group/version, as discovery lists it. */
export interface ApiResource {
  /** Plural name: "deployments". */
  name: string;
  kind: string;
  namespaced: boolean;
  verbs: string[];
}

/** Any object, as much of it as a check reads. */
export interface AnyObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
}

/** The reads of an upgrade plan. Every method throws KubeApiError for API failures. */
export interface ClusterInfo {
  /** The /version of the kube-apiserver that answers. */
  getVersion(): Promise<VersionInfo>;
  /** A ConfigMap; undefined when it does not exist. */
  getConfigMap(namespace: string, name: string): Promise<ConfigMap | undefined>;
  /** A DaemonSet with its template; undefined when it does not exist. */
  findDaemonSet(namespace: string, name: string): Promise<DaemonSetWithTemplate | undefined>;
  /** A Deployment; undefined when it does not exist. */
  findDeployment(namespace: string, name: string): Promise<Deployment | undefined>;
  /** Every DaemonSet in the cluster. */
  listDaemonSets(): Promise<DaemonSetWithTemplate[]>;
  /** Every group/version the API server serves ("v1", "apps/v1", ...), from /api and /apis. */
  servedGroupVersions(): Promise<string[]>;
  /** The resources of one served group/version (/api/v1 or /apis/GROUP/VERSION). */
  resourcesOf(groupVersion: string): Promise<ApiResource[]>;
  /** Every object of a resource in all namespaces (chunks of 500, following continue). */
  listObjects(groupVersion: string, resource: string): Promise<AnyObject[]>;
}

/** A list as the API returns it. */
interface KubeList<T> {
  items?: T[];
  metadata?: { resourceVersion?: string; continue?: string };
}

/** /api/v1 or /apis/GROUP/VERSION. */
function groupVersionPath(groupVersion: string): string {
  return groupVersion.includes('/') ? `/apis/${groupVersion}` : `/api/${groupVersion}`;
}

function seg(s: string): string {
  return encodeURIComponent(s);
}

/** Builds the ClusterInfo port on a set of clients. */
export function createClusterInfo(clients: KubeClients): ClusterInfo {
  const send = <T>(target: RequestTarget, r: KubeRequest): Promise<T> =>
    kubeCall(clients, target, () => kubeRequest<T>(clients, r), { method: r.method });
  const getOrUndefined = async <T>(target: RequestTarget, path: string): Promise<T | undefined> => {
    try {
      return await send<T>(target, { method: 'GET', path });
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  };
  async function listAll<T>(target: RequestTarget, path: string): Promise<T[]> {
    const items: T[] = [];
    let cont: string | undefined;
    do {
      const list = await send<KubeList<T>>(target, {
        method: 'GET',
        path,
        query: { limit: 500, continue: cont },
      });
      for (const i of list.items ?? []) items.push(i);
      cont = list.metadata?.continue || undefined;
    } while (cont);
    return items;
  }

  return {
    getVersion: () =>
      send<VersionInfo>({ resource: 'version', verb: 'get' }, { method: 'GET', path: '/version' }),
    getConfigMap: (namespace, name) =>
      getOrUndefined<ConfigMap>(
        { resource: 'configmaps', namespace, name, verb: 'get' },
        `/api/v1/namespaces/${seg(namespace)}/configmaps/${seg(name)}`,
      ),
    findDaemonSet: (namespace, name) =>
      getOrUndefined<DaemonSetWithTemplate>(
        { resource: 'daemonsets', group: 'apps', namespace, name, verb: 'get' },
        `/apis/apps/v1/namespaces/${seg(namespace)}/daemonsets/${seg(name)}`,
      ),
    findDeployment: (namespace, name) =>
      getOrUndefined<Deployment>(
        { resource: 'deployments', group: 'apps', namespace, name, verb: 'get' },
        `/apis/apps/v1/namespaces/${seg(namespace)}/deployments/${seg(name)}`,
      ),
    listDaemonSets: () =>
      listAll<DaemonSetWithTemplate>(
        { resource: 'daemonsets', group: 'apps', verb: 'list' },
        '/apis/apps/v1/daemonsets',
      ),
    servedGroupVersions: async () => {
      const [core, groups] = await Promise.all([
        send<{ versions?: string[] }>({ resource: 'api', verb: 'get' }, { method: 'GET', path: '/api' }),
        send<{ groups?: { versions?: { groupVersion?: string }[] }[] }>(
          { resource: 'apis', verb: 'get' },
          { method: 'GET', path: '/apis' },
        ),
      ]);
      return [
        ...(core.versions ?? []),
        ...(groups.groups ?? []).flatMap((g) => (g.versions ?? []).map((v) => v.groupVersion ?? '')),
      ].filter((gv) => gv !== '');
    },
    resourcesOf: async (groupVersion) => {
      const list = await send<{ resources?: Partial<ApiResource>[] }>(
        { resource: groupVersion, verb: 'get' },
        { method: 'GET', path: groupVersionPath(groupVersion) },
      );
      return (list.resources ?? [])
        .filter((r) => r.name !== undefined && !r.name.includes('/'))
        .map((r) => ({
          name: r.name ?? '',
          kind: r.kind ?? '',
          namespaced: r.namespaced ?? false,
          verbs: r.verbs ?? [],
        }));
    },
    listObjects: (groupVersion, resource) => {
      const [group] = groupVersion.includes('/') ? groupVersion.split('/') : [''];
      return listAll<AnyObject>(
        { resource, group: group ?? '', verb: 'list' },
        `${groupVersionPath(groupVersion)}/${seg(resource)}`,
      );
    },
  };
}
