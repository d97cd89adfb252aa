// check --served with real TLS servers on 127.0.0.1 serving the generator's certificates (etcd's
// requiring client certificates, as etcd does), found through a hand-written fake of the API's
// Nodes and mirror pods. Then a renewal on disk without a restart: the served one is "stale".
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { resolveCertPaths } from './paths.ts';
import { generateClusterCas, writeControlPlanePki } from './pki-gen.ts';
import { renewCertificates } from './renew.ts';
import {
  checkServed,
  flagValue,
  localNodeName,
  pickListenUrl,
  type ClusterNode,
  servedVerdict,
  type ServedKube,
} from './served.ts';
import { nodeTlsProbe } from './tls-probe.ts';

for (const tc of [
  { cmd: ['kube-apiserver', '--secure-port=6443'], flag: '--secure-port', want: '6443' },
  { cmd: ['kube-apiserver', '--secure-port', '7443'], flag: '--secure-port', want: '7443' },
  { cmd: ['kube-apiserver'], flag: '--secure-port', want: undefined },
]) {
  test(`flagValue ${tc.cmd.join(' ')}`, () => assert.equal(flagValue(tc.cmd, tc.flag), tc.want));
}

for (const tc of [
  {
    name: 'prefers the node IP',
    list: 'https://127.0.0.1:2379,https://192.0.2.5:2379',
    host: '192.0.2.5',
    want: { host: '192.0.2.5', port: 2379 },
  },
  {
    name: 'falls back to the first non-wildcard',
    list: 'https://0.0.0.0:2379,https://127.0.0.1:2379',
    host: '10.0.0.1',
    want: { host: '127.0.0.1', port: 2379 },
  },
  {
    name: 'IPv6 brackets are dropped',
    list: 'https://[::1]:2380',
    host: undefined,
    want: { host: '::1', port: 2380 },
  },
  { name: 'nothing to pick', list: undefined, host: undefined, want: undefined },
]) {
  test(`pickListenUrl: ${tc.name}`, () => assert.deepEqual(pickListenUrl(tc.list, tc.host), tc.want));
}

class FakeCluster implements ServedKube {
  constructor(
    public nodes: ClusterNode[],
    public commands: Record<string, string[]>,
  ) {}
  listNodes(): Promise<ClusterNode[]> {
    return Promise.resolve(this.nodes);
  }
  getPodCommand(name: string): Promise<string[] | null> {
    return Promise.resolve(this.commands[name] ?? null);
  }
}

describe('check --served against real TLS servers', () => {
  let dir = '';
  let root = '';
  const servers: tls.Server[] = [];
  let ports: Record<string, number> = {};
  let cluster: FakeCluster;
  const now = new Date(Math.floor(Date.now() / 1000) * 1000);

  async function serve(name: string, certFile: string, keyFile: string, caFile?: string): Promise<void> {
    const srv = tls.createServer({
      cert: await readFile(certFile),
      key: await readFile(keyFile),
      ...(caFile ? { ca: await readFile(caFile), requestCert: true, rejectUnauthorized: true } : {}),
    });
    srv.on('secureConnection', (s: tls.TLSSocket) => s.end());
    srv.on('tlsClientError', () => undefined);
    servers.push(srv);
    await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
    const a = srv.address();
    ports[name] = typeof a === 'object' && a ? a.port : 0;
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bosun-served-'));
    root = join(dir, 'host');
    const cas = await generateClusterCas({ now, keyAlgorithm: 'ecdsa-p256' });
    await writeControlPlanePki(join(root, 'etc/kubernetes'), join(root, 'var/lib/kubelet/pki'), cas, {
      nodeName: 'cp-1',
      advertiseAddress: '127.0.0.1',
      controlPlaneEndpoint: '127.0.0.1:6443',
      now,
      keyAlgorithm: 'ecdsa-p256',
    });
    const pki = join(root, 'etc/kubernetes/pki');
    ports = {};
    await serve('apiserver', join(pki, 'apiserver.crt'), join(pki, 'apiserver.key'));
    await serve(
      'etcd-client',
      join(pki, 'etcd/server.crt'),
      join(pki, 'etcd/server.key'),
      join(pki, 'etcd/ca.crt'),
    );
    await serve(
      'etcd-peer',
      join(pki, 'etcd/peer.crt'),
      join(pki, 'etcd/peer.key'),
      join(pki, 'etcd/ca.crt'),
    );
    await serve(
      'kubelet',
      join(root, 'var/lib/kubelet/pki/kubelet.crt'),
      join(root, 'var/lib/kubelet/pki/kubelet.key'),
    );
    cluster = new FakeCluster(
      [
        { name: 'cp-1', internalIP: '127.0.0.1', kubeletPort: ports['kubelet'] ?? 0 },
        { name: 'worker-1', internalIP: '127.0.0.1', kubeletPort: ports['kubelet'] ?? 0 },
      ],
      {
        'kube-apiserver-cp-1': [
          'kube-apiserver',
          '--advertise-address=127.0.0.1',
          `--secure-port=${ports['apiserver']}`,
        ],
        'etcd-cp-1': [
          'etcd',
          `--listen-client-urls=https://127.0.0.1:${ports['etcd-client']}`,
          `--listen-peer-urls=https://127.0.0.1:${ports['etcd-peer']}`,
        ],
      },
    );
  });
  after(async () => {
    for (const s of servers) s.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('onlyNode: only that node is probed, and no other node is asked about', async () => {
    const asked: string[] = [];
    const probed: number[] = [];
    const { rows } = await checkServed(
      {
        paths: resolveCertPaths({ root }, '/'),
        localNode: 'cp-1',
        onlyNode: 'worker-1',
        now,
        warnWithinMs: 0,
      },
      {
        kube: {
          listNodes: () => cluster.listNodes(),
          getPodCommand: (name) => {
            asked.push(name);
            return cluster.getPodCommand(name);
          },
        },
        tls: {
          servedCertificate: (t) => {
            probed.push(t.port);
            return nodeTlsProbe().servedCertificate(t);
          },
        },
      },
    );
    assert.deepEqual(
      rows.map((r) => [r.node, r.component]),
      [['worker-1', 'kubelet']],
    );
    assert.deepEqual(asked, ['kube-apiserver-worker-1', 'etcd-worker-1']);
    assert.deepEqual(probed, [ports['kubelet']]);
  });

  test("the local node's name comes from its etcd server certificate", async () => {
    assert.equal(await localNodeName(resolveCertPaths({ root }, '/')), 'cp-1');
  });

  test('every endpoint found, handshaken (etcd with client certs) and equal to disk on the local node', async () => {
    const { rows } = await checkServed(
      { paths: resolveCertPaths({ root }, '/'), localNode: 'cp-1', now, warnWithinMs: 0 },
      { kube: cluster, tls: nodeTlsProbe() },
    );
    assert.deepEqual(
      rows.map((r) => [r.node, r.component, r.endpoint, r.onDisk, r.status, r.signedByCa]),
      [
        ['cp-1', 'kube-apiserver', `127.0.0.1:${ports['apiserver']}`, 'same', 'ok', true],
        ['cp-1', 'etcd-client', `127.0.0.1:${ports['etcd-client']}`, 'same', 'ok', true],
        ['cp-1', 'etcd-peer', `127.0.0.1:${ports['etcd-peer']}`, 'same', 'ok', true],
        ['cp-1', 'kubelet', `127.0.0.1:${ports['kubelet']}`, 'same', 'ok', undefined],
        ['worker-1', 'kubelet', `127.0.0.1:${ports['kubelet']}`, 'unknown', 'ok', undefined],
      ],
    );
    assert.equal(servedVerdict(rows), 'ok');
  });

  test('a port nobody listens on is unreachable, not a crash', async () => {
    const c = new FakeCluster([{ name: 'cp-1', internalIP: '127.0.0.1', kubeletPort: 1 }], {});
    const { rows } = await checkServed(
      { paths: resolveCertPaths({ root }, '/'), localNode: 'cp-1', now, warnWithinMs: 0 },
      { kube: c, tls: nodeTlsProbe() },
    );
    assert.equal(rows[0]?.status, 'unreachable');
    assert.match(rows[0]?.error ?? '', /ECONNREFUSED/);
    assert.equal(servedVerdict(rows), 'problem');
  });

  test('after renewing apiserver on disk without a restart, the served one is stale and check exits 1', async () => {
    const paths = resolveCertPaths({ root }, '/');
    await renewCertificates({
      names: ['apiserver'],
      paths,
      backupRoot: join(dir, 'backup'),
      validityMs: 365 * 86_400_000,
      now,
    });
    const { rows } = await checkServed(
      { paths, localNode: await localNodeName(paths), now, warnWithinMs: 0 },
      { kube: cluster, tls: nodeTlsProbe() },
    );
    const api = rows.find((r) => r.node === 'cp-1' && r.component === 'kube-apiserver');
    assert.equal(api?.status, 'stale');
    assert.equal(api?.onDisk, 'different');
    assert.equal(servedVerdict(rows), 'problem');
  });

  test('a control plane whose kube-apiserver and etcd are no static pods: said, not silently left out', async () => {
    // issue 18: --served listed only the kubelets, as if there were no API server to check.
    const c = new FakeCluster(
      [
        { name: 'cp-1', internalIP: '127.0.0.1', kubeletPort: ports['kubelet'] ?? 0, controlPlane: true },
        {
          name: 'worker-1',
          internalIP: '127.0.0.1',
          kubeletPort: ports['kubelet'] ?? 0,
          controlPlane: false,
        },
      ],
      {},
    );
    const served = await checkServed(
      { paths: resolveCertPaths({ root }, '/'), localNode: 'cp-1', now, warnWithinMs: 0 },
      { kube: c, tls: nodeTlsProbe() },
    );
    assert.deepEqual(
      served.rows.map((r) => [r.node, r.component]),
      [
        ['cp-1', 'kubelet'],
        ['worker-1', 'kubelet'],
      ],
    );
    assert.deepEqual(served.notChecked, [
      {
        node: 'cp-1',
        component: 'kube-apiserver',
        reason: 'no mirror pod kube-system/kube-apiserver-cp-1: it does not run as a static pod there',
      },
      {
        node: 'cp-1',
        component: 'etcd',
        reason: 'no mirror pod kube-system/etcd-cp-1: it does not run as a static pod there (external etcd?)',
      },
    ]);
  });
});
