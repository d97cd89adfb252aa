import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyConnectError, dnsNames, tlsServerName } from './probe.ts';
import { humanizeBytes } from './status.ts';

const err = (code: string, message: string): NodeJS.ErrnoException =>
  Object.assign(new Error(message), { code });

for (const tc of [
  {
    e: err('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:2379'),
    kind: 'unreachable',
    msg: 'etcd endpoint E is unreachable (ECONNREFUSED)',
  },
  {
    e: err('UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'unable to verify the first certificate'),
    kind: 'tls-server-untrusted',
    msg: "TLS error talking to E: the server's certificate is not signed by the given CA (UNABLE_TO_VERIFY_LEAF_SIGNATURE)",
  },
  {
    e: err('CERT_HAS_EXPIRED', 'certificate has expired'),
    kind: 'tls-server-untrusted',
    msg: "TLS error talking to E: the server's certificate has expired (CERT_HAS_EXPIRED)",
  },
  {
    e: err('ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED', 'sslv3 alert certificate expired'),
    kind: 'tls-client-rejected',
    msg: 'TLS error talking to E: etcd rejected our client certificate as expired (ERR_SSL_SSLV3_ALERT_CERTIFICATE_EXPIRED)',
  },
  {
    e: err('ERR_SSL_TLSV1_ALERT_UNKNOWN_CA', 'tlsv1 alert unknown ca'),
    kind: 'tls-client-rejected',
    msg: 'TLS error talking to E: etcd does not trust the CA of our client certificate (ERR_SSL_TLSV1_ALERT_UNKNOWN_CA)',
  },
  {
    e: err('ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED', 'tlsv13 alert certificate required'),
    kind: 'tls-client-rejected',
    msg: 'TLS error talking to E: etcd requires a client certificate (ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED)',
  },
  {
    e: err('ECONNRESET', 'read ECONNRESET'),
    kind: 'unreachable',
    msg: 'etcd endpoint E is unreachable (ECONNRESET)',
  },
]) {
  test(`classifyConnectError: ${tc.e.code} is ${tc.kind}`, () =>
    assert.deepEqual(classifyConnectError('E', tc.e), { kind: tc.kind, message: tc.msg }));
}

for (const tc of [
  { n: 5, want: '5 B' },
  { n: 24576, want: '25 kB' },
  { n: 20480, want: '20 kB' },
  { n: 21500, want: '22 kB' },
  { n: 1500, want: '1.5 kB' },
  { n: 640020480, want: '640 MB' },
  { n: 2_147_483_648, want: '2.1 GB' },
]) {
  test(`humanizeBytes(${tc.n}) is ${tc.want}, as etcdctl's table prints it (go-humanize)`, () =>
    assert.equal(humanizeBytes(tc.n), tc.want));
}

for (const tc of [
  {
    san: 'DNS:cp-1, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
    want: ['cp-1', 'localhost'],
  },
  { san: 'IP Address:10.0.0.1', want: [] },
  { san: 'DNS:*.example.com, DNS:etcd.example.com', want: ['etcd.example.com'] },
  { san: undefined, want: [] },
]) {
  test(`dnsNames(${String(tc.san)}) is [${tc.want.join(', ')}]`, () =>
    assert.deepEqual(dnsNames(tc.san), tc.want));
}

for (const tc of [
  {
    name: 'an IP endpoint uses localhost when the certificate names it (kubeadm)',
    endpoint: 'https://127.0.0.1:2379',
    names: ['cp-1', 'localhost'],
    want: 'localhost',
  },
  {
    name: 'an IP endpoint uses the first DNS name otherwise',
    endpoint: 'https://10.0.0.1:2379',
    names: ['etcd-a.internal'],
    want: 'etcd-a.internal',
  },
  { name: 'an IPv6 endpoint too', endpoint: 'https://[::1]:2379', names: ['localhost'], want: 'localhost' },
  {
    name: 'a host name endpoint keeps its own name',
    endpoint: 'https://etcd.internal:2379',
    names: ['localhost'],
    want: undefined,
  },
  {
    name: 'a certificate with only IP addresses changes nothing',
    endpoint: 'https://127.0.0.1:2379',
    names: [],
    want: undefined,
  },
  {
    name: 'plain http has no TLS name',
    endpoint: 'http://127.0.0.1:2379',
    names: ['localhost'],
    want: undefined,
  },
]) {
  test(`tlsServerName: ${tc.name}`, () => assert.equal(tlsServerName(tc.endpoint, tc.names), tc.want));
}
