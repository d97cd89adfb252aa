// kubeadm's static pod manifests for a control plane node (cmd/kubeadm/app/phases/controlplane
// and etcd), with this sandbox's loopback ports. Paths are the node's own (/etc/kubernetes/...);
// the simulated kubelet maps them into the node's host directory, as a container's hostPath
// mounts would.
import { stringify } from 'yaml';
import { etcdImageTag } from './repo.ts';

/** Ports of one control plane's components. */
export interface ControlPlanePorts {
  apiserver: number;
  etcdClient: number;
  etcdPeer: number;
}

/** What the manifests of one control plane need to know. */
export interface ControlPlaneManifestInput {
  nodeName: string;
  address: string;
  /** "v1.34.3". */
  version: string;
  ports: ControlPlanePorts;
  /** `name=https://127.0.0.1:PEER,...` for every etcd member. */
  initialCluster: string;
  /** 'new' for the first control plane's etcd at init, 'existing' for joined members. */
  initialClusterState: 'new' | 'existing';
}

function hostPathVolume(name: string, path: string, type = 'DirectoryOrCreate'): Record<string, unknown> {
  return { name, hostPath: { path, type } };
}

function pod(
  component: string,
  image: string,
  command: string[],
  volumes: Record<string, unknown>[],
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      ...(extra['annotations'] ? { annotations: extra['annotations'] } : {}),
      labels: { component, tier: 'control-plane' },
      name: component,
      namespace: 'kube-system',
    },
    spec: {
      containers: [
        {
          command,
          image,
          imagePullPolicy: 'IfNotPresent',
          name: component,
          resources: {
            requests: {
              cpu: extra['cpu'] ?? '100m',
              ...(extra['memory'] ? { memory: extra['memory'] } : {}),
            },
          },
          volumeMounts: volumes.map((v) => ({
            mountPath: (v['hostPath'] as { path: string }).path,
            name: v['name'],
            ...(v['name'] === 'k8s-certs' || v['name'] === 'ca-certs' ? { readOnly: true } : {}),
          })),
        },
      ],
      hostNetwork: true,
      priority: 2000001000,
      priorityClassName: 'system-node-critical',
      securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
      volumes,
    },
    status: {},
  };
}

/** etcd.yaml */
export function etcdManifest(m: ControlPlaneManifestInput): Record<string, unknown> {
  const a = m.address;
  return pod(
    'etcd',
    `registry.k8s.io/etcd:${etcdImageTag(m.version)}`,
    [
      'etcd',
      `--advertise-client-urls=https://${a}:${m.ports.etcdClient}`,
      '--cert-file=/etc/kubernetes/pki/etcd/server.crt',
      '--client-cert-auth=true',
      '--data-dir=/var/lib/etcd',
      `--initial-advertise-peer-urls=https://${a}:${m.ports.etcdPeer}`,
      `--initial-cluster=${m.initialCluster}`,
      ...(m.initialClusterState === 'existing' ? ['--initial-cluster-state=existing'] : []),
      '--key-file=/etc/kubernetes/pki/etcd/server.key',
      `--listen-client-urls=https://${a}:${m.ports.etcdClient}`,
      `--listen-peer-urls=https://${a}:${m.ports.etcdPeer}`,
      `--name=${m.nodeName}`,
      '--peer-cert-file=/etc/kubernetes/pki/etcd/peer.crt',
      '--peer-client-cert-auth=true',
      '--peer-key-file=/etc/kubernetes/pki/etcd/peer.key',
      '--peer-trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt',
      '--snapshot-count=10000',
      '--trusted-ca-file=/etc/kubernetes/pki/etcd/ca.crt',
    ],
    [hostPathVolume('etcd-certs', '/etc/kubernetes/pki/etcd'), hostPathVolume('etcd-data', '/var/lib/etcd')],
    {
      annotations: {
        'kubeadm.kubernetes.io/etcd.advertise-client-urls': `https://${a}:${m.ports.etcdClient}`,
      },
      memory: '100Mi',
    },
  );
}

/** kube-apiserver.yaml; etcd-servers names the local member only, as kubeadm's stacked topology does. */
export function apiserverManifest(m: ControlPlaneManifestInput): Record<string, unknown> {
  const a = m.address;
  return pod(
    'kube-apiserver',
    `registry.k8s.io/kube-apiserver:${m.version}`,
    [
      'kube-apiserver',
      `--advertise-address=${a}`,
      '--allow-privileged=true',
      '--authorization-mode=Node,RBAC',
      '--client-ca-file=/etc/kubernetes/pki/ca.crt',
      '--enable-admission-plugins=NodeRestriction',
      '--enable-bootstrap-token-auth=true',
      '--etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt',
      '--etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt',
      '--etcd-keyfile=/etc/kubernetes/pki/apiserver-etcd-client.key',
      `--etcd-servers=https://${a}:${m.ports.etcdClient}`,
      '--kubelet-client-certificate=/etc/kubernetes/pki/apiserver-kubelet-client.crt',
      '--kubelet-client-key=/etc/kubernetes/pki/apiserver-kubelet-client.key',
      '--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname',
      '--proxy-client-cert-file=/etc/kubernetes/pki/front-proxy-client.crt',
      '--proxy-client-key-file=/etc/kubernetes/pki/front-proxy-client.key',
      '--requestheader-allowed-names=front-proxy-client',
      '--requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt',
      '--requestheader-extra-headers-prefix=X-Remote-Extra-',
      '--requestheader-group-headers=X-Remote-Group',
      '--requestheader-username-headers=X-Remote-User',
      `--secure-port=${m.ports.apiserver}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      '--service-account-key-file=/etc/kubernetes/pki/sa.pub',
      '--service-account-signing-key-file=/etc/kubernetes/pki/sa.key',
      '--service-cluster-ip-range=10.96.0.0/12',
      '--tls-cert-file=/etc/kubernetes/pki/apiserver.crt',
      '--tls-private-key-file=/etc/kubernetes/pki/apiserver.key',
    ],
    [hostPathVolume('ca-certs', '/etc/ssl/certs'), hostPathVolume('k8s-certs', '/etc/kubernetes/pki')],
    {
      annotations: {
        'kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint': `${a}:${m.ports.apiserver}`,
      },
      cpu: '250m',
    },
  );
}

/** kube-controller-manager.yaml */
export function controllerManagerManifest(m: ControlPlaneManifestInput): Record<string, unknown> {
  return pod(
    'kube-controller-manager',
    `registry.k8s.io/kube-controller-manager:${m.version}`,
    [
      'kube-controller-manager',
      '--authentication-kubeconfig=/etc/kubernetes/controller-manager.conf',
      '--authorization-kubeconfig=/etc/kubernetes/controller-manager.conf',
      '--bind-address=127.0.0.1',
      '--client-ca-file=/etc/kubernetes/pki/ca.crt',
      '--cluster-name=kubernetes',
      '--cluster-signing-cert-file=/etc/kubernetes/pki/ca.crt',
      '--cluster-signing-key-file=/etc/kubernetes/pki/ca.key',
      '--controllers=*,bootstrapsigner,tokencleaner',
      '--kubeconfig=/etc/kubernetes/controller-manager.conf',
      '--leader-elect=true',
      '--requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt',
      '--root-ca-file=/etc/kubernetes/pki/ca.crt',
      '--service-account-private-key-file=/etc/kubernetes/pki/sa.key',
      '--use-service-account-credentials=true',
    ],
    [
      hostPathVolume('ca-certs', '/etc/ssl/certs'),
      hostPathVolume('k8s-certs', '/etc/kubernetes/pki'),
      hostPathVolume('kubeconfig', '/etc/kubernetes/controller-manager.conf', 'FileOrCreate'),
    ],
    { cpu: '200m' },
  );
}

/** kube-scheduler.yaml */
export function schedulerManifest(m: ControlPlaneManifestInput): Record<string, unknown> {
  return pod(
    'kube-scheduler',
    `registry.k8s.io/kube-scheduler:${m.version}`,
    [
      'kube-scheduler',
      '--authentication-kubeconfig=/etc/kubernetes/scheduler.conf',
      '--authorization-kubeconfig=/etc/kubernetes/scheduler.conf',
      '--bind-address=127.0.0.1',
      '--kubeconfig=/etc/kubernetes/scheduler.conf',
      '--leader-elect=true',
    ],
    [hostPathVolume('kubeconfig', '/etc/kubernetes/scheduler.conf', 'FileOrCreate')],
  );
}

/** All four manifests as YAML text, by file name. */
export function controlPlaneManifests(m: ControlPlaneManifestInput): Record<string, string> {
  return {
    'etcd.yaml': stringify(etcdManifest(m)),
    'kube-apiserver.yaml': stringify(apiserverManifest(m)),
    'kube-controller-manager.yaml': stringify(controllerManagerManifest(m)),
    'kube-scheduler.yaml': stringify(schedulerManifest(m)),
  };
}

/** The value of `--flag=value` in a command line, if present. */
export function flagValue(command: readonly string[], flag: string): string | undefined {
  const prefix = `--${flag}=`;
  const hit = command.find((a) => a.startsWith(prefix));
  return hit === undefined ? undefined : hit.slice(prefix.length);
}

/** The tag of an image reference ("registry.k8s.io/kube-apiserver:v1.34.3" -> "v1.34.3"). */
export function imageTag(image: string): string {
  const at = image.lastIndexOf(':');
  return at > image.lastIndexOf('/') ? image.slice(at + 1) : 'latest';
}
