import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Node, Pod } from '../kube/types.ts';
import { clusterVersions, imageTag, kubeadmKubernetesVersion, skewComponents } from './versions.ts';

function node(
  name: string,
  kubelet: string,
  o: { cp?: boolean; ready?: boolean; unschedulable?: boolean } = {},
): Node {
  return {
    metadata: { name, labels: o.cp ? { 'node-role.kubernetes.io/control-plane': '' } : {} },
    spec: o.unschedulable ? { unschedulable: true } : {},
    status: {
      conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }],
      nodeInfo: { kubeletVersion: kubelet, osImage: 'Debian GNU/Linux 12 (bookworm)' },
    },
  };
}

function mirror(component: string, nodeName: string, image: string, ready = true): Pod {
  return {
    metadata: {
      name: `${component}-${nodeName}`,
      namespace: 'kube-system',
      labels: { component, tier: 'control-plane' },
    },
    spec: { nodeName, containers: [{ name: component, image }] },
    status: { conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
  };
}

function proxyPod(nodeName: string, image: string): Pod {
  return {
    metadata: {
      name: `kube-proxy-${nodeName}`,
      namespace: 'kube-system',
      labels: { 'k8s-app': 'kube-proxy' },
    },
    spec: { nodeName, containers: [{ name: 'kube-proxy', image }] },
  };
}

const CC = `apiServer: {}\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.33.5\nnetworking: {}\n`;

test('clusterVersions reads every component from the objects', () => {
  const v = clusterVersions({
    version: { gitVersion: 'v1.33.5' },
    kubeadmConfig: { metadata: { name: 'kubeadm-config' }, data: { ClusterConfiguration: CC } },
    nodes: [
      node('worker-10', 'v1.32.9'),
      node('cp-1', 'v1.32.9', { cp: true }),
      node('worker-2', 'v1.32.9', { unschedulable: true }),
    ],
    pods: [
      mirror('kube-apiserver', 'cp-1', 'registry.k8s.io/kube-apiserver:v1.33.5'),
      mirror('kube-controller-manager', 'cp-1', 'registry.k8s.io/kube-controller-manager:v1.33.5'),
      mirror('kube-scheduler', 'cp-1', 'registry.k8s.io/kube-scheduler:v1.32.9', false),
      mirror('etcd', 'cp-1', 'registry.k8s.io/etcd:3.5.21-0'),
      proxyPod('worker-2', 'registry.k8s.io/kube-proxy:v1.33.5'),
    ],
    kubeProxy: {
      metadata: { name: 'kube-proxy' },
      spec: {
        template: {
          spec: { containers: [{ name: 'kube-proxy', image: 'registry.k8s.io/kube-proxy:v1.33.5' }] },
        },
      },
      status: { desiredNumberScheduled: 3, numberReady: 2 },
    },
    coredns: {
      metadata: { name: 'coredns' },
      spec: {
        replicas: 2,
        template: {
          spec: { containers: [{ name: 'coredns', image: 'registry.k8s.io/coredns/coredns:v1.12.0' }] },
        },
      },
      status: { readyReplicas: 2 },
    },
  });
  assert.equal(v.kubernetesVersion, 'v1.33.5');
  assert.equal(v.servingApiserver, 'v1.33.5');
  assert.deepEqual(
    v.controlPlanes.map((c) => [
      c.node,
      c.apiserver?.version,
      c.scheduler?.version,
      c.scheduler?.ready,
      c.etcd?.version,
    ]),
    [['cp-1', 'v1.33.5', 'v1.32.9', false, '3.5.21-0']],
  );
  assert.deepEqual(
    v.nodes.map((n) => [n.name, n.controlPlane, n.kubelet, n.kubeProxy, n.unschedulable]),
    [
      ['cp-1', true, 'v1.32.9', 'v1.33.5', false],
      ['worker-2', false, 'v1.32.9', 'v1.33.5', true],
      ['worker-10', false, 'v1.32.9', 'v1.33.5', false],
    ],
  );
  assert.deepEqual(
    [v.kubeProxy?.version, v.kubeProxy?.ready, v.coredns?.version, v.coredns?.ready],
    ['v1.33.5', false, 'v1.12.0', true],
  );
  assert.deepEqual(
    skewComponents(v).map((c) => `${c.component}@${c.node}=${c.version}`),
    [
      'kube-apiserver@cp-1=v1.33.5',
      'kube-controller-manager@cp-1=v1.33.5',
      'kube-scheduler@cp-1=v1.32.9',
      'kubelet@cp-1=v1.32.9',
      'kube-proxy@cp-1=v1.33.5',
      'kubelet@worker-2=v1.32.9',
      'kube-proxy@worker-2=v1.33.5',
      'kubelet@worker-10=v1.32.9',
      'kube-proxy@worker-10=v1.33.5',
    ],
  );
});

test('a control plane without the label is found by its mirror pods; no kube-proxy means none per node', () => {
  const v = clusterVersions({
    version: undefined,
    kubeadmConfig: undefined,
    nodes: [node('master', 'v1.34.3')],
    pods: [mirror('kube-apiserver', 'master', 'registry.k8s.io/kube-apiserver:v1.34.3')],
    kubeProxy: undefined,
    coredns: undefined,
  });
  assert.equal(v.nodes[0]?.controlPlane, true);
  assert.equal(v.nodes[0]?.kubeProxy, undefined);
  assert.equal(v.kubernetesVersion, undefined);
});

for (const tc of [
  { image: 'registry.k8s.io/kube-apiserver:v1.34.3', want: 'v1.34.3' },
  { image: 'localhost:5000/kube-apiserver:v1.34.3', want: 'v1.34.3' },
  { image: 'localhost:5000/kube-apiserver', want: 'latest' },
  { image: 'registry.k8s.io/etcd:3.5.21-0@sha256:abcd', want: '3.5.21-0' },
]) {
  test(`imageTag ${tc.image}`, () => assert.equal(imageTag(tc.image), tc.want));
}

test('kubeadmKubernetesVersion reads the ClusterConfiguration text', () => {
  assert.equal(
    kubeadmKubernetesVersion({
      metadata: {},
      data: { ClusterConfiguration: 'kubernetesVersion: "v1.30.1"\n' },
    }),
    'v1.30.1',
  );
  assert.equal(kubeadmKubernetesVersion({ metadata: {}, data: {} }), undefined);
});
