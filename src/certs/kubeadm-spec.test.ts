// kubeadm's SAN rules and IP handling, table-driven.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { altNamesFor, canonicalIp, ipBytes, splitHostPort, type AltNameInput } from './kubeadm-spec.ts';

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
