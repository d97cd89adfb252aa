// ClusterVersions for the plan's and the pre-flight's tests: a kubeadm cluster of N control planes
// and M workers at one version, with per-node overrides.
import type { ClusterVersions, NodeVersions } from '../versions.ts';

const iv = (
  image: string,
  version: string,
  ready = true,
): { image: string; version: string; ready: boolean } => ({
  image: `registry.k8s.io/${image}:${version}`,
  version,
  ready,
});

/** A cluster at `version`; kubelets, control plane versions and node fields can be overridden. */
export function versionsOf(
  o: {
    controlPlanes?: number;
    workers?: number;
    version?: string;
    /** kubeadm-config's version (default `version`). */
    recorded?: string;
    kubelets?: Record<string, string>;
    /** Per control plane: the version of its static pods. */
    controlPlaneVersions?: Record<string, string>;
    kubeProxy?: string;
    osImage?: string;
    nodes?: Record<string, Partial<NodeVersions>>;
  } = {},
): ClusterVersions {
  const version = o.version ?? 'v1.32.9';
  const cps = Array.from({ length: o.controlPlanes ?? 3 }, (_, i) => `cp-${i + 1}`);
  const workers = Array.from({ length: o.workers ?? 4 }, (_, i) => `worker-${i + 1}`);
  const proxy = o.kubeProxy ?? version;
  return {
    kubernetesVersion: o.recorded ?? version,
    servingApiserver: version,
    controlPlanes: cps.map((node) => {
      const v = o.controlPlaneVersions?.[node] ?? version;
      return {
        node,
        apiserver: iv('kube-apiserver', v),
        controllerManager: iv('kube-controller-manager', v),
        scheduler: iv('kube-scheduler', v),
        etcd: iv('etcd', '3.5.16-0'),
      };
    }),
    nodes: [...cps, ...workers].map((name) => ({
      name,
      controlPlane: name.startsWith('cp-'),
      kubelet: o.kubelets?.[name] ?? version,
      kubeProxy: proxy,
      ready: true,
      unschedulable: false,
      osImage: o.osImage ?? 'Debian GNU/Linux 12 (bookworm)',
      ...(o.nodes?.[name] ?? {}),
    })),
    kubeProxy: iv('kube-proxy', proxy),
    coredns: iv('coredns/coredns', 'v1.11.3'),
  };
}

/** The newest patches of the sandbox's default repository. */
export const LATEST = new Map<string, string | undefined>([
  ['v1.26', 'v1.26.15'],
  ['v1.27', 'v1.27.16'],
  ['v1.28', 'v1.28.15'],
  ['v1.29', 'v1.29.15'],
  ['v1.30', 'v1.30.14'],
  ['v1.31', 'v1.31.13'],
  ['v1.32', 'v1.32.9'],
  ['v1.33', 'v1.33.5'],
  ['v1.34', 'v1.34.3'],
  ['v1.35', 'v1.35.2'],
]);
