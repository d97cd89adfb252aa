// The certs feature's kube ports (StaticPodsKube for the restart, ServedKube for --served),
// implemented on kube/'s NodePods over @kubernetes/client-node. The fields the shared types do not
// spell out (container command and args, status.daemonEndpoints) are read through narrowing guards.
import { kubeCall, kubeRequest, type KubeClients } from '../kube/client.ts';
import { TransportReason, isKubeApiError, isNotFound } from '../kube/errors.ts';
import type { NodePods } from '../kube/ports.ts';
import type { Node, Pod } from '../kube/types.ts';
import { API_UNAVAILABLE, type MirrorPodView, type StaticPodsKube } from './restart.ts';
import { versionFromClusterConfiguration } from './kubeadm-spec.ts';
import type { ClusterNode, ServedKube } from './served.ts';

const KUBE_SYSTEM = 'kube-system';

function isReady(p: Pod): boolean {
  return (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/**
 * No API server answered: refused or reset connections, our own request timeout, or a 5xx from an
 * API server that cannot reach etcd. Not a TLS failure (a server answered) and not a 4xx.
 */
export function isApiUnavailable(e: unknown): boolean {
  if (!isKubeApiError(e)) return false;
  if (e.status === 0)
    return e.reason === TransportReason.Unreachable || e.reason === TransportReason.RequestTimeout;
  return e.status >= 500 && e.status <= 504;
}

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

/** The first container's command followed by its args. */
export function podCommand(p: Pod): string[] {
  const c = asRecord(p.spec?.containers?.[0]);
  return [...strings(c?.['command']), ...strings(c?.['args'])];
}

/**
 * A Node's InternalIP, kubelet port (status.daemonEndpoints.kubeletEndpoint.Port, default 10250)
 * and whether it is labelled a control plane.
 */
export function clusterNode(n: Node): ClusterNode {
  const status = asRecord(n.status);
  const port = asRecord(asRecord(asRecord(status?.['daemonEndpoints'])?.['kubeletEndpoint']))?.['Port'];
  const labels = n.metadata.labels ?? {};
  return {
    name: n.metadata.name ?? '',
    internalIP: n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address,
    kubeletPort: typeof port === 'number' && port > 0 ? port : 10250,
    // kubeadm labels control planes; clusters from before v1.20 carry the older master label.
    controlPlane:
      'node-role.kubernetes.io/control-plane' in labels || 'node-role.kubernetes.io/master' in labels,
  };
}

/** Both ports on one NodePods. */
export function certsKube(
  pods: Pick<NodePods, 'getPod' | 'listPods' | 'listNodes'>,
): StaticPodsKube & ServedKube {
  const getPod = async (name: string): Promise<Pod | null> => {
    try {
      return await pods.getPod(KUBE_SYSTEM, name);
    } catch (e) {
      if (isNotFound(e)) return null;
      throw e;
    }
  };
  return {
    async getMirrorPod(name: string) {
      let p: Pod | null;
      try {
        p = await getPod(name);
      } catch (e) {
        if (isApiUnavailable(e)) return API_UNAVAILABLE;
        throw e;
      }
      return p === null ? null : ({ uid: p.metadata.uid ?? '', ready: isReady(p) } satisfies MirrorPodView);
    },
    async listEtcdPods() {
      const list = await pods.listPods({ namespace: KUBE_SYSTEM, labelSelector: 'component=etcd' });
      return list.items.map((p) => ({ name: p.metadata.name ?? '', ready: isReady(p) }));
    },
    async listNodes() {
      return (await pods.listNodes()).map(clusterNode);
    },
    async getPodCommand(name: string) {
      const p = await getPod(name);
      return p === null ? null : podCommand(p);
    },
  };
}

/**
 * kubernetesVersion of the ClusterConfiguration kubeadm keeps in kube-system/kubeadm-config;
 * undefined when the ConfigMap does not exist (not a kubeadm cluster) or names none.
 */
export async function kubeadmConfigVersion(clients: KubeClients): Promise<string | undefined> {
  const target = { resource: 'configmaps', namespace: KUBE_SYSTEM, name: 'kubeadm-config', verb: 'get' };
  let cm: { data?: Record<string, string> };
  try {
    cm = await kubeCall(
      clients,
      target,
      () =>
        kubeRequest<{ data?: Record<string, string> }>(clients, {
          method: 'GET',
          path: `/api/v1/namespaces/${KUBE_SYSTEM}/configmaps/kubeadm-config`,
        }),
      { method: 'GET' },
    );
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
  return versionFromClusterConfiguration(cm.data?.['ClusterConfiguration'] ?? '');
}
