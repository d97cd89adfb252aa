// kubeadm's SAN rules and IP handling, and what each kubeadm release writes, table-driven.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  altNamesFor,
  canonicalIp,
  expectedAbsence,
  imageVersion,
  ipBytes,
  kubeconfigSpecsFor,
  leafSpecsFor,
  splitHostPort,
  versionFromClusterConfiguration,
  type AltNameInput,
} from './kubeadm-spec.ts';

const base: AltNameInput = {
  nodeName: 'cp-1',
  advertiseAddress: '192.0.2.10',
  serviceIp: '10.96.0.1',
  dnsDomain: 'cluster.local',
  controlPlaneEndpoint: '',
  extraSans: [],
};

for (const tc of [
  { name: 'IPv4 stays dotted', in: '10.96.0.1', want: '10.96.0.1' },
  { name: 'IPv6 loopback prints as openssl does', in: '::1', want: '0:0:0:0:0:0:0:1' },
  { name: 'IPv6 with leading zeros and caps', in: 'FD00:0db8::0001', want: 'fd00:db8:0:0:0:0:0:1' },
  { name: 'IPv4-mapped IPv6 becomes IPv4 (Go To4)', in: '::ffff:10.0.0.1', want: '10.0.0.1' },
  { name: 'a DNS name is no IP', in: 'kubernetes', want: undefined },
  { name: 'an octet over 255 is no IP', in: '10.0.0.256', want: undefined },
  { name: 'two :: is no IP', in: '1::2::3', want: undefined },
]) {
  test(`canonicalIp: ${tc.name}`, () => assert.equal(canonicalIp(tc.in), tc.want));
}

test('ipBytes: 4 bytes for IPv4, 16 for IPv6', () => {
  assert.deepEqual(ipBytes('127.0.0.1'), [127, 0, 0, 1]);
  assert.deepEqual(ipBytes('::1'), [...new Array<number>(15).fill(0), 1]);
});

for (const tc of [
  { name: 'host:port', in: 'cp.example:6443', want: { host: 'cp.example', port: '6443' } },
  { name: '[v6]:port', in: '[fd00::1]:6443', want: { host: 'fd00::1', port: '6443' } },
  { name: 'bare host', in: 'cp.example', want: { host: 'cp.example', port: '' } },
]) {
  test(`splitHostPort: ${tc.name}`, () => assert.deepEqual(splitHostPort(tc.in), tc.want));
}

for (const tc of [
  {
    name: 'apiserver: kubeadm defaults, DNS sorted, IPs in kubeadm order',
    rule: 'apiserver' as const,
    input: base,
    want: {
      dns: [
        'cp-1',
        'kubernetes',
        'kubernetes.default',
        'kubernetes.default.svc',
        'kubernetes.default.svc.cluster.local',
      ],
      ips: ['10.96.0.1', '192.0.2.10'],
    },
  },
  {
    name: 'apiserver: controlPlaneEndpoint host (DNS) and certSANs join; duplicates dropped',
    rule: 'apiserver' as const,
    input: {
      ...base,
      controlPlaneEndpoint: 'lb.example:6443',
      extraSans: ['192.0.2.10', 'api.example', '10.1.1.1', 'kubernetes'],
      dnsDomain: 'corp',
    },
    want: {
      dns: [
        'api.example',
        'cp-1',
        'kubernetes',
        'kubernetes.default',
        'kubernetes.default.svc',
        'kubernetes.default.svc.corp',
        'lb.example',
      ],
      ips: ['10.96.0.1', '192.0.2.10', '10.1.1.1'],
    },
  },
  {
    name: 'apiserver: an IP controlPlaneEndpoint is an IP SAN',
    rule: 'apiserver' as const,
    input: { ...base, controlPlaneEndpoint: '192.0.2.100:6443' },
    want: {
      dns: [
        'cp-1',
        'kubernetes',
        'kubernetes.default',
        'kubernetes.default.svc',
        'kubernetes.default.svc.cluster.local',
      ],
      ips: ['10.96.0.1', '192.0.2.10', '192.0.2.100'],
    },
  },
  {
    name: 'etcd: node name, localhost, advertise address, loopbacks',
    rule: 'etcd' as const,
    input: base,
    want: { dns: ['cp-1', 'localhost'], ips: ['192.0.2.10', '127.0.0.1', '0:0:0:0:0:0:0:1'] },
  },
  {
    name: 'etcd: advertise address 127.0.0.1 is not repeated',
    rule: 'etcd' as const,
    input: { ...base, advertiseAddress: '127.0.0.1' },
    want: { dns: ['cp-1', 'localhost'], ips: ['127.0.0.1', '0:0:0:0:0:0:0:1'] },
  },
  { name: 'none: no SANs', rule: 'none' as const, input: base, want: { dns: [], ips: [] } },
]) {
  test(`altNamesFor ${tc.name}`, () => assert.deepEqual(altNamesFor(tc.rule, tc.input), tc.want));
}

// kubeadm v1.29 (kubernetes#121305) added super-admin.conf (system:masters) and moved admin.conf to
// kubeadm:cluster-admins; #121837 moved apiserver-kubelet-client there too; #119859 and #120521
// dropped system:masters from etcd's healthcheck client and the API server's etcd client.
const KUBECONFIGS_BEFORE_129 = ['admin.conf', 'controller-manager.conf', 'scheduler.conf', 'kubelet.conf'];
const KUBECONFIGS_SINCE_129 = [
  'admin.conf',
  'super-admin.conf',
  'controller-manager.conf',
  'scheduler.conf',
  'kubelet.conf',
];
for (const tc of [
  { version: 'v1.28.15', want: KUBECONFIGS_BEFORE_129 },
  { version: 'v1.27.0', want: KUBECONFIGS_BEFORE_129 },
  { version: 'v1.29.0', want: KUBECONFIGS_SINCE_129 },
  { version: 'v1.34.3', want: KUBECONFIGS_SINCE_129 },
  { version: undefined, want: KUBECONFIGS_SINCE_129 },
]) {
  test(`kubeconfigSpecsFor ${tc.version ?? '(unknown: the newest)'}`, () =>
    assert.deepEqual(
      kubeconfigSpecsFor(tc.version).map((s) => s.name),
      tc.want,
    ));
}

// KEP 4214: only `kubeadm init` writes super-admin.conf; `kubeadm join --control-plane` writes the rest.
for (const tc of [
  { name: 'admin.conf', want: undefined },
  { name: 'controller-manager.conf', want: undefined },
  { name: 'scheduler.conf', want: undefined },
  { name: 'kubelet.conf', want: undefined },
  {
    name: 'super-admin.conf',
    want: {
      reason: 'kubeadm writes it only on the node where kubeadm init ran',
      hint: 'kubeadm kubeconfig user --client-name=kubernetes-super-admin --org=system:masters',
    },
  },
]) {
  test(`expectedAbsence: ${tc.name} ${tc.want ? 'may be absent' : 'is on every control plane'}`, () => {
    const spec = kubeconfigSpecsFor(undefined).find((s) => s.name === tc.name);
    assert.ok(spec);
    assert.deepEqual(expectedAbsence(spec), tc.want);
  });
}

for (const tc of [
  {
    version: 'v1.28.15',
    admin: ['system:masters'],
    orgs: {
      'apiserver-kubelet-client': ['system:masters'],
      'apiserver-etcd-client': ['system:masters'],
      'etcd-healthcheck-client': ['system:masters'],
    },
  },
  {
    version: 'v1.29.15',
    admin: ['kubeadm:cluster-admins'],
    orgs: {
      'apiserver-kubelet-client': ['kubeadm:cluster-admins'],
      'apiserver-etcd-client': [],
      'etcd-healthcheck-client': [],
    },
  },
]) {
  test(`the subjects kubeadm ${tc.version} writes`, () => {
    assert.deepEqual(
      kubeconfigSpecsFor(tc.version).find((s) => s.name === 'admin.conf')?.organization,
      tc.admin,
    );
    const leaves = leafSpecsFor(tc.version);
    for (const [name, org] of Object.entries(tc.orgs))
      assert.deepEqual(leaves.find((s) => s.name === name)?.organization, org, name);
    assert.deepEqual(
      leaves.map((s) => s.name),
      leafSpecsFor(undefined).map((s) => s.name),
      'the same certificate files in both',
    );
  });
}

for (const tc of [
  {
    name: 'kubeadm YAML',
    text: '    image: registry.k8s.io/kube-apiserver:v1.28.15\n    imagePullPolicy: IfNotPresent\n',
    want: 'v1.28.15',
  },
  {
    name: 'quoted, another registry',
    text: 'image: "my.registry:5000/k8s/kube-apiserver:v1.29.2"',
    want: 'v1.29.2',
  },
  { name: 'JSON', text: '{"image":"registry.k8s.io/kube-apiserver:v1.30.0-rc.1"}', want: 'v1.30.0-rc.1' },
  {
    name: 'a digest after the tag',
    text: 'image: registry.k8s.io/kube-apiserver:v1.31.1@sha256:abc',
    want: 'v1.31.1',
  },
  { name: 'another component', text: 'image: registry.k8s.io/kube-scheduler:v1.28.0', want: undefined },
  { name: 'no version tag', text: 'image: registry.k8s.io/kube-apiserver:latest', want: undefined },
]) {
  test(`imageVersion: ${tc.name}`, () => assert.equal(imageVersion(tc.text, 'kube-apiserver'), tc.want));
}

for (const tc of [
  {
    name: 'v1beta3',
    text: 'apiVersion: kubeadm.k8s.io/v1beta3\nkubernetesVersion: v1.28.15\n',
    want: 'v1.28.15',
  },
  { name: 'quoted', text: 'kubernetesVersion: "v1.29.1"', want: 'v1.29.1' },
  { name: 'absent', text: 'apiVersion: kubeadm.k8s.io/v1beta4\n', want: undefined },
]) {
  test(`versionFromClusterConfiguration: ${tc.name}`, () =>
    assert.equal(versionFromClusterConfiguration(tc.text), tc.want));
}
