// The cluster as an upgrade plan reads it: once for the whole plan, not once per node or per batch.
// One round of requests in parallel: /version, kubeadm-config, every node, every pod, every budget
// (what the drain planning reads: drain's planReadsOf makes its reads of them), every DaemonSet
// (kube-proxy's among them, and the lookups the drain filters make), CoreDNS.
//
// snapshotKube() answers the NodePods reads the drain planning and the certificate check make from
// that snapshot, so that planning a dozen batches adds no request; it refuses every write.
import { InternalError } from '../common/errors.ts';
import type {
  ClusterInfo,
  ConfigMap,
  DaemonSetWithTemplate,
  Deployment,
  VersionInfo,
} from '../kube/cluster-info.ts';
import { fromStatus } from '../kube/errors.ts';
import { matches, parseSelector } from '../kube/labels.ts';
import type { NodePods } from '../kube/ports.ts';
import type { ListResult, Node, Pod, PodDisruptionBudget } from '../kube/types.ts';
import type { DrainOptions } from '../drain/index.ts';
import { clusterVersions, type ClusterVersions } from './versions.ts';

/** Everything read, once. */
export interface ClusterSnapshot {
  version: VersionInfo;
  kubeadmConfig: ConfigMap | undefined;
  nodes: Node[];
  pods: ListResult<Pod>;
  pdbs: PodDisruptionBudget[];
  daemonSets: DaemonSetWithTemplate[];
  coredns: Deployment | undefined;
  /** The versions derived from it. */
  versions: ClusterVersions;
}

/** Reads the snapshot: one round of requests in parallel. */
export async function readSnapshot(
  deps: { info: ClusterInfo; kube: NodePods },
  drain: Pick<DrainOptions, 'disableEviction' | 'chunkSize'>,
): Promise<ClusterSnapshot> {
  const [version, kubeadmConfig, daemonSets, coredns, nodes, pods, pdbs] = await Promise.all([
    deps.info.getVersion(),
    deps.info.getConfigMap('kube-system', 'kubeadm-config'),
    deps.info.listDaemonSets(),
    deps.info.findDeployment('kube-system', 'coredns'),
    deps.kube.listNodes(),
    deps.kube.listPods({ chunkSize: drain.chunkSize }),
    drain.disableEviction ? Promise.resolve<PodDisruptionBudget[]>([]) : deps.kube.listPdbs(),
  ]);
  const r = { nodes, pods, pdbs };
  const kubeProxy = daemonSets.find(
    (d) => d.metadata.namespace === 'kube-system' && d.metadata.name === 'kube-proxy',
  );
  return {
    version,
    kubeadmConfig,
    nodes: r.nodes,
    pods: r.pods,
    pdbs: r.pdbs,
    daemonSets,
    coredns,
    versions: clusterVersions({
      version,
      kubeadmConfig,
      nodes: r.nodes,
      pods: r.pods.items,
      kubeProxy,
      coredns,
    }),
  };
}

function notFound(resource: string, namespace: string | undefined, name: string): Error {
  return fromStatus(
    404,
    {
      reason: 'NotFound',
      message: `${resource} "${name}" not found`,
      details: { name, kind: resource },
    },
    { resource, name, ...(namespace ? { namespace } : {}), verb: 'get' },
  );
}

/**
 * The NodePods reads, answered from the snapshot; writes and watches are refused, and access reviews
 * are not answered.
 */
export function snapshotKube(s: ClusterSnapshot): NodePods {
  const refuse = (what: string) => (): Promise<never> =>
    Promise.reject(new InternalError(`the upgrade plan only reads: ${what} was called on its snapshot`));
  const kube: NodePods = {
    getNode: (name) => {
      const n = s.nodes.find((x) => x.metadata.name === name);
      return n ? Promise.resolve(n) : Promise.reject(notFound('nodes', undefined, name));
    },
    listNodes: (opts = {}) => {
      const sel = parseSelector(opts.labelSelector ?? '');
      if (!sel.ok) return Promise.reject(new InternalError(sel.error));
      return Promise.resolve(s.nodes.filter((n) => matches(sel.selector, n.metadata.labels)));
    },
    listPods: (opts = {}) => {
      const sel = parseSelector(opts.labelSelector ?? '');
      if (!sel.ok) return Promise.reject(new InternalError(sel.error));
      const node = /^spec\.nodeName=(.*)$/.exec(opts.fieldSelector ?? '')?.[1];
      if (opts.fieldSelector && node === undefined)
        return Promise.reject(new InternalError(`field selector ${opts.fieldSelector} on the snapshot`));
      const items = s.pods.items.filter(
        (p) =>
          (opts.namespace === undefined || p.metadata.namespace === opts.namespace) &&
          (node === undefined || p.spec?.nodeName === node) &&
          matches(sel.selector, p.metadata.labels),
      );
      return Promise.resolve({ items, resourceVersion: s.pods.resourceVersion });
    },
    getPod: (namespace, name) => {
      const p = s.pods.items.find((x) => x.metadata.namespace === namespace && x.metadata.name === name);
      return p ? Promise.resolve(p) : Promise.reject(notFound('pods', namespace, name));
    },
    listPdbs: (opts = {}) =>
      Promise.resolve(
        s.pdbs.filter((b) => opts.namespace === undefined || b.metadata.namespace === opts.namespace),
      ),
    getDaemonSet: (namespace, name) => {
      const d = s.daemonSets.find((x) => x.metadata.namespace === namespace && x.metadata.name === name);
      return d ? Promise.resolve(d) : Promise.reject(notFound('daemonsets', namespace, name));
    },
    scanPods: async (opts, onChunk) => {
      const { items, resourceVersion } = await kube.listPods(opts);
      const size = opts.chunkSize ? opts.chunkSize : items.length || 1;
      for (let i = 0; i < items.length; i += size) await onChunk(items.slice(i, i + size));
      return { resourceVersion };
    },
    // The snapshot cannot say what the user may do: the drain then finds out by trying, as it does
    // where a server answers no SelfSubjectAccessReview.
    reviewAccess: () => Promise.reject(new Error('the upgrade plan asks no SelfSubjectAccessReview')),
    patchNode: refuse('patchNode'),
    evictPod: refuse('evictPod'),
    deletePod: refuse('deletePod'),
    watchPods: refuse('watchPods'),
    watchNodes: refuse('watchNodes'),
  };
  return kube;
}
