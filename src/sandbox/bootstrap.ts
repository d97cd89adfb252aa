// What `kubeadm init` puts into a new cluster besides the static pods: the system namespaces,
// the kubeadm-config / kubelet-config / kube-proxy ConfigMaps, cluster-info, the kubernetes and
// kube-dns Services, and the essential addons (kube-proxy DaemonSet, CoreDNS Deployment).
import semver from 'semver';
import { parse, stringify } from 'yaml';
import type { ApiCore } from './apiserver/api.ts';
import { kubeadmClusterAdminsBinding } from './apiserver/rbac-objects.ts';
import { resource } from './apiserver/resources.ts';
import { ApiError } from './apiserver/status.ts';
import type { KubeObject } from './apiserver/types.ts';
import { corednsTag } from './node/repo.ts';

async function ensure(api: ApiCore, res: string, ns: string | undefined, obj: KubeObject): Promise<void> {
  try {
    await api.create(resource(res), ns, obj);
  } catch (e) {
    if (!(e instanceof ApiError && e.code === 409)) throw e;
  }
}

/** The first kubeadm that stores its ClusterConfiguration as kubeadm.k8s.io/v1beta4. */
const V1BETA4_MINOR = 31;

/**
 * The ClusterConfiguration kubeadm of `version` stores in kube-system/kubeadm-config: v1beta4 since
 * v1.31 (with its certificate validity periods and encryptionAlgorithm), v1beta3 before.
 */
export function clusterConfiguration(version: string, controlPlaneEndpoint: string): string {
  const minor = Number(/^v?1\.(\d+)/.exec(version)?.[1] ?? V1BETA4_MINOR);
  const v1beta4 = minor >= V1BETA4_MINOR;
  return stringify({
    apiServer: {},
    apiVersion: v1beta4 ? 'kubeadm.k8s.io/v1beta4' : 'kubeadm.k8s.io/v1beta3',
    ...(v1beta4 ? { caCertificateValidityPeriod: '87600h0m0s', certificateValidityPeriod: '8760h0m0s' } : {}),
    certificatesDir: '/etc/kubernetes/pki',
    clusterName: 'kubernetes',
    controlPlaneEndpoint,
    controllerManager: {},
    dns: {},
    ...(v1beta4 ? { encryptionAlgorithm: 'ECDSA-P256' } : {}),
    etcd: { local: { dataDir: '/var/lib/etcd' } },
    imageRepository: 'registry.k8s.io',
    kind: 'ClusterConfiguration',
    kubernetesVersion: version,
    networking: { dnsDomain: 'cluster.local', podSubnet: '10.244.0.0/16', serviceSubnet: '10.96.0.0/12' },
    proxy: {},
    scheduler: {},
  });
}

function kubeProxy(version: string): KubeObject {
  return {
    metadata: { name: 'kube-proxy', namespace: 'kube-system', labels: { 'k8s-app': 'kube-proxy' } },
    spec: {
      selector: { matchLabels: { 'k8s-app': 'kube-proxy' } },
      template: {
        metadata: { labels: { 'k8s-app': 'kube-proxy' } },
        spec: {
          containers: [
            {
              name: 'kube-proxy',
              image: `registry.k8s.io/kube-proxy:${version}`,
              command: [
                '/usr/local/bin/kube-proxy',
                '--config=/var/lib/kube-proxy/config.conf',
                '--hostname-override=$(NODE_NAME)',
              ],
            },
          ],
          hostNetwork: true,
          nodeSelector: { 'kubernetes.io/os': 'linux' },
          priorityClassName: 'system-node-critical',
          serviceAccountName: 'kube-proxy',
          tolerations: [{ operator: 'Exists' }],
        },
      },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
    },
  };
}

function coredns(version: string): KubeObject {
  return {
    metadata: { name: 'coredns', namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' } },
    spec: {
      replicas: 2,
      selector: { matchLabels: { 'k8s-app': 'kube-dns' } },
      strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1 } },
      template: {
        metadata: { labels: { 'k8s-app': 'kube-dns' } },
        spec: {
          containers: [
            {
              name: 'coredns',
              image: `registry.k8s.io/coredns/coredns:${corednsTag(version)}`,
              args: ['-conf', '/etc/coredns/Corefile'],
              resources: { requests: { cpu: '100m', memory: '70Mi' }, limits: { memory: '170Mi' } },
              ports: [{ containerPort: 53, name: 'dns', protocol: 'UDP' }],
            },
          ],
          nodeSelector: { 'kubernetes.io/os': 'linux' },
          priorityClassName: 'system-cluster-critical',
          serviceAccountName: 'coredns',
          tolerations: [
            { key: 'CriticalAddonsOnly', operator: 'Exists' },
            { key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' },
          ],
        },
      },
    },
  };
}

/** Creates what kubeadm init creates. Safe to run again. */
export async function kubeadmInit(
  api: ApiCore,
  version: string,
  controlPlaneEndpoint: string,
): Promise<void> {
  for (const ns of ['default', 'kube-system', 'kube-public', 'kube-node-lease'])
    await ensure(api, 'namespaces', undefined, { metadata: { name: ns } });
  // kubeadm's admin.conf group (v1.29 and later): cluster-admin through RBAC, not system:masters.
  if (semver.gte(version.replace(/^v/, ''), '1.29.0'))
    await ensure(api, 'clusterrolebindings', undefined, kubeadmClusterAdminsBinding());
  await ensure(api, 'configmaps', 'kube-system', {
    metadata: { name: 'kubeadm-config' },
    data: { ClusterConfiguration: clusterConfiguration(version, controlPlaneEndpoint) },
  });
  await ensure(api, 'configmaps', 'kube-system', {
    metadata: { name: 'kubelet-config' },
    data: {
      kubelet: stringify({
        apiVersion: 'kubelet.config.k8s.io/v1beta1',
        kind: 'KubeletConfiguration',
        cgroupDriver: 'systemd',
        clusterDNS: ['10.96.0.10'],
        clusterDomain: 'cluster.local',
        rotateCertificates: true,
        staticPodPath: '/etc/kubernetes/manifests',
      }),
    },
  });
  await ensure(api, 'configmaps', 'kube-system', {
    metadata: { name: 'kube-proxy', labels: { app: 'kube-proxy' } },
    data: {
      'config.conf': stringify({
        apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
        kind: 'KubeProxyConfiguration',
        clusterCIDR: '10.244.0.0/16',
        mode: '',
      }),
    },
  });
  await ensure(api, 'configmaps', 'kube-public', {
    metadata: { name: 'cluster-info' },
    data: {
      kubeconfig: stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: '', cluster: { server: `https://${controlPlaneEndpoint}` } }],
      }),
    },
  });
  for (const [ns, name] of [
    ['kube-system', 'kube-proxy'],
    ['kube-system', 'coredns'],
    ['default', 'default'],
    ['kube-system', 'default'],
  ] as const) {
    await ensure(api, 'serviceaccounts', ns, { metadata: { name } });
  }
  await ensure(api, 'services', 'default', {
    metadata: { name: 'kubernetes', labels: { component: 'apiserver', provider: 'kubernetes' } },
    spec: {
      clusterIP: '10.96.0.1',
      ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }],
    },
  });
  await ensure(api, 'services', 'kube-system', {
    metadata: { name: 'kube-dns', labels: { 'k8s-app': 'kube-dns' } },
    spec: {
      clusterIP: '10.96.0.10',
      selector: { 'k8s-app': 'kube-dns' },
      ports: [
        { name: 'dns', port: 53, protocol: 'UDP' },
        { name: 'dns-tcp', port: 53, protocol: 'TCP' },
      ],
    },
  });
  await ensure(api, 'daemonsets', 'kube-system', kubeProxy(version));
  await ensure(api, 'deployments', 'kube-system', coredns(version));
}

/** kubeadm's upload-config phase of `upgrade apply`: the cluster version recorded in kubeadm-config. */
export async function kubeadmRecordVersion(api: ApiCore, version: string): Promise<void> {
  await api.guaranteedUpdate(resource('configmaps'), 'kube-system', 'kubeadm-config', (cur) => {
    const data = (cur['data'] ?? {}) as Record<string, string>;
    const old = data['ClusterConfiguration'] ?? '';
    // kubeadm upgrade apply stores the configuration in the new release's API version.
    const parsed: unknown = parse(old);
    const endpoint =
      typeof parsed === 'object' && parsed !== null
        ? (parsed as Record<string, unknown>)['controlPlaneEndpoint']
        : undefined;
    data['ClusterConfiguration'] =
      typeof endpoint !== 'string'
        ? old.replace(/kubernetesVersion: .*/, `kubernetesVersion: ${version}`)
        : clusterConfiguration(version, endpoint);
    cur['data'] = data;
    return cur;
  });
}

/** kubeadm's addon phase: the kube-proxy DaemonSet's and the CoreDNS Deployment's images. */
export async function kubeadmUpgradeAddons(api: ApiCore, version: string): Promise<void> {
  await api.patch(resource('daemonsets'), 'kube-system', 'kube-proxy', 'strategic', {
    spec: {
      template: {
        spec: { containers: [{ name: 'kube-proxy', image: `registry.k8s.io/kube-proxy:${version}` }] },
      },
    },
  });
  await api.patch(resource('deployments'), 'kube-system', 'coredns', 'strategic', {
    spec: {
      template: {
        spec: {
          containers: [{ name: 'coredns', image: `registry.k8s.io/coredns/coredns:${corednsTag(version)}` }],
        },
      },
    },
  });
}

/** The cluster version recorded in kubeadm-config. */
export async function recordedVersion(api: ApiCore): Promise<string | undefined> {
  const cm = await api.tryGet(resource('configmaps'), 'kube-system', 'kubeadm-config');
  const text = ((cm?.['data'] ?? {}) as Record<string, string>)['ClusterConfiguration'] ?? '';
  return /kubernetesVersion: (\S+)/.exec(text)?.[1];
}
