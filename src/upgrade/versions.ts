// The versions of a kubeadm cluster's components, read from the cluster itself: each control
// plane's kube-apiserver, kube-controller-manager, kube-scheduler and etcd (their mirror pods'
// images in kube-system), the serving kube-apiserver's /version, every node's kubelet
// (status.nodeInfo.kubeletVersion), kube-proxy (its pod on each node, else its DaemonSet's
// template), CoreDNS (its Deployment) and kubeadm-config's kubernetesVersion.
//
// clusterVersions() derives them from objects already read (the snapshot an upgrade plan reads once)
// and never reads anything itself; skewComponents() turns them into skew.ts's input.
import type { ConfigMap, DaemonSetWithTemplate, Deployment, VersionInfo } from '../kube/cluster-info.ts';
import type { Node, Pod } from '../kube/types.ts';
import type { ComponentVersion } from './skew.ts';

/** What the versions are read from. */
export interface VersionSources {
  version: VersionInfo | undefined;
  kubeadmConfig: ConfigMap | undefined;
  nodes: readonly Node[];
  /** Every pod (or at least kube-system's). */
  pods: readonly Pod[];
  kubeProxy: DaemonSetWithTemplate | undefined;
  coredns: Deployment | undefined;
}

/** A component's image, the version its tag says, and whether it is Ready. */
export interface ImageVersion {
  image: string;
  /** The image tag: "v1.34.3", or etcd's "3.5.21-0". */
  version: string;
  ready: boolean;
}

/** The static pods of one control plane. */
export interface ControlPlaneVersions {
  node: string;
  apiserver: ImageVersion | undefined;
  controllerManager: ImageVersion | undefined;
  scheduler: ImageVersion | undefined;
  etcd: ImageVersion | undefined;
}

/** One node. */
export interface NodeVersions {
  name: string;
  controlPlane: boolean;
  /** status.nodeInfo.kubeletVersion ("v1.34.3"); '' when not reported. */
  kubelet: string;
  /** kube-proxy on this node: its pod's image tag, else the DaemonSet's; undefined without kube-proxy. */
  kubeProxy: string | undefined;
  ready: boolean;
  unschedulable: boolean;
  /** status.nodeInfo.osImage ("Debian GNU/Linux 12 (bookworm)"). */
  osImage: string;
}

/** Every version an upgrade plan looks at. */
export interface ClusterVersions {
  /** kubeadm-config's ClusterConfiguration.kubernetesVersion: the version kubeadm last applied. */
  kubernetesVersion: string | undefined;
  /** /version of the kube-apiserver that answered. */
  servingApiserver: string | undefined;
  controlPlanes: ControlPlaneVersions[];
  nodes: NodeVersions[];
  /** The kube-proxy DaemonSet's template. */
  kubeProxy: ImageVersion | undefined;
  /** The CoreDNS Deployment's template (kube-system/coredns). */
  coredns: ImageVersion | undefined;
}

/** The label kubeadm puts on control plane nodes. */
export const CONTROL_PLANE_LABEL = 'node-role.kubernetes.io/control-plane';

/** The tag of an image reference ("registry.k8s.io/kube-apiserver:v1.34.3" -> "v1.34.3"). */
export function imageTag(image: string): string {
  const noDigest = image.split('@')[0] ?? image;
  const at = noDigest.lastIndexOf(':');
  return at > noDigest.lastIndexOf('/') ? noDigest.slice(at + 1) : 'latest';
}

/** kubernetesVersion from kubeadm-config's ClusterConfiguration (YAML text; read without a parser). */
export function kubeadmKubernetesVersion(cm: ConfigMap | undefined): string | undefined {
  const text = cm?.data?.['ClusterConfiguration'] ?? '';
  const m = /^kubernetesVersion:\s*["']?([^"'\s]+)["']?\s*$/m.exec(text);
  return m?.[1];
}

function isReady(p: Pod): boolean {
  return (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

function nodeReady(n: Node): boolean {
  return (n.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

function imageOf(containers: readonly { name: string; image?: string }[] | undefined, name: string): string {
  return (containers ?? []).find((c) => c.name === name)?.image ?? containers?.[0]?.image ?? '';
}

function imageVersion(image: string, ready: boolean): ImageVersion {
  return { image, version: imageTag(image), ready };
}

const STATIC_PODS = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'etcd'] as const;

/** Derives every version from what was read. Pure. */
export function clusterVersions(src: VersionSources): ClusterVersions {
  const mirror = new Map<string, Pod>();
  for (const p of src.pods) {
    if ((p.metadata.namespace ?? '') !== 'kube-system') continue;
    const component = p.metadata.labels?.['component'];
    const node = p.spec?.nodeName;
    if (!component || !node || p.metadata.labels?.['tier'] !== 'control-plane') continue;
    if (!(STATIC_PODS as readonly string[]).includes(component)) continue;
    mirror.set(`${node}/${component}`, p);
  }
  const cpNames = new Set<string>();
  for (const n of src.nodes)
    if (n.metadata.labels?.[CONTROL_PLANE_LABEL] !== undefined) cpNames.add(n.metadata.name ?? '');
  for (const k of mirror.keys()) cpNames.add(k.split('/')[0] ?? '');
  const iv = (node: string, component: string): ImageVersion | undefined => {
    const p = mirror.get(`${node}/${component}`);
    return p ? imageVersion(imageOf(p.spec?.containers, component), isReady(p)) : undefined;
  };
  const controlPlanes = [...cpNames].sort(byName).map((node) => ({
    node,
    apiserver: iv(node, 'kube-apiserver'),
    controllerManager: iv(node, 'kube-controller-manager'),
    scheduler: iv(node, 'kube-scheduler'),
    etcd: iv(node, 'etcd'),
  }));

  const dsImage = imageOf(src.kubeProxy?.spec?.template?.spec?.containers, 'kube-proxy');
  const proxyPods = new Map<string, string>();
  if (src.kubeProxy)
    for (const p of src.pods) {
      if ((p.metadata.namespace ?? '') !== 'kube-system' || p.metadata.labels?.['k8s-app'] !== 'kube-proxy')
        continue;
      if (p.metadata.deletionTimestamp || !p.spec?.nodeName) continue;
      proxyPods.set(p.spec.nodeName, imageOf(p.spec.containers, 'kube-proxy'));
    }
  const nodes = [...src.nodes]
    .sort((a, b) => byName(a.metadata.name ?? '', b.metadata.name ?? ''))
    .map((n) => {
      const name = n.metadata.name ?? '';
      const proxyImage = proxyPods.get(name) ?? (src.kubeProxy ? dsImage : undefined);
      return {
        name,
        controlPlane: cpNames.has(name),
        kubelet: n.status?.nodeInfo?.kubeletVersion ?? '',
        kubeProxy: proxyImage === undefined ? undefined : imageTag(proxyImage),
        ready: nodeReady(n),
        unschedulable: n.spec?.unschedulable === true,
        osImage: n.status?.nodeInfo?.osImage ?? '',
      };
    });
  const dns = src.coredns;
  return {
    kubernetesVersion: kubeadmKubernetesVersion(src.kubeadmConfig),
    servingApiserver: src.version?.gitVersion,
    controlPlanes,
    nodes,
    kubeProxy: src.kubeProxy
      ? imageVersion(
          dsImage,
          (src.kubeProxy.status?.numberReady ?? 0) >= (src.kubeProxy.status?.desiredNumberScheduled ?? 0),
        )
      : undefined,
    coredns: dns
      ? imageVersion(
          imageOf(dns.spec?.template?.spec?.containers, 'coredns'),
          (dns.status?.readyReplicas ?? 0) >= (dns.spec?.replicas ?? 1),
        )
      : undefined,
  };
}

/**
 * The components skew.ts judges. kube-controller-manager and kube-scheduler talk to their own
 * node's kube-apiserver, as kubeadm configures them (kubernetes#94398). Nodes without a reported
 * kubelet version are left out.
 */
export function skewComponents(v: ClusterVersions): ComponentVersion[] {
  const out: ComponentVersion[] = [];
  for (const cp of v.controlPlanes) {
    if (cp.apiserver) out.push({ component: 'kube-apiserver', node: cp.node, version: cp.apiserver.version });
    if (cp.controllerManager)
      out.push({
        component: 'kube-controller-manager',
        node: cp.node,
        version: cp.controllerManager.version,
        apiserver: 'local',
      });
    if (cp.scheduler)
      out.push({
        component: 'kube-scheduler',
        node: cp.node,
        version: cp.scheduler.version,
        apiserver: 'local',
      });
  }
  for (const n of v.nodes) {
    if (n.kubelet) out.push({ component: 'kubelet', node: n.name, version: n.kubelet });
    if (n.kubeProxy) out.push({ component: 'kube-proxy', node: n.name, version: n.kubeProxy });
  }
  return out;
}

/** Orders node names as people do: worker-2 before worker-10. */
export function byName(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}
