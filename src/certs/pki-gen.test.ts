// The generator against kubeadm's table, with openssl as the judge: every leaf verifies against
// its CA, subjects/SANs/usages read back as kubeadm writes them, keys are in kubeadm's PEM form
// and match their certificates, and Node's tls accepts the pairs in a real handshake.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import {
  generateClusterCas,
  loadClusterCas,
  writeControlPlanePki,
  writeWorkerPki,
  type ClusterCas,
  type KeyAlgorithm,
  type NodePkiOptions,
} from './index.ts';
import { opensslCertPubkey, opensslKeyPubkey, opensslVerifies, opensslView } from './testing/openssl.ts';

const DAY = 86_400_000;
// Near the real time, so that Node's tls (which reads the real clock) accepts the certificates.
const NOW = new Date(Math.floor(Date.now() / 1000) * 1000);

/** kubeadm's table, written out by hand from certlist.go/pki_helpers.go (not derived from kubeadm-spec.ts). */
const LEAVES = [
  {
    file: 'apiserver',
    ca: 'ca',
    subject: 'CN = kube-apiserver',
    eku: 'TLS Web Server Authentication',
    sans: [
      'DNS:api.example.org',
      'DNS:cp-1',
      'DNS:cp.bosun.test',
      'DNS:kubernetes',
      'DNS:kubernetes.default',
      'DNS:kubernetes.default.svc',
      'DNS:kubernetes.default.svc.cluster.local',
      'IP Address:10.96.0.1',
      'IP Address:127.0.0.1',
      'IP Address:10.0.0.10',
    ],
  },
  {
    file: 'apiserver-kubelet-client',
    ca: 'ca',
    subject: 'O = kubeadm:cluster-admins, CN = kube-apiserver-kubelet-client',
    eku: 'TLS Web Client Authentication',
    sans: [],
  },
  {
    file: 'front-proxy-client',
    ca: 'front-proxy-ca',
    subject: 'CN = front-proxy-client',
    eku: 'TLS Web Client Authentication',
    sans: [],
  },
  {
    file: 'apiserver-etcd-client',
    ca: 'etcd/ca',
    subject: 'CN = kube-apiserver-etcd-client',
    eku: 'TLS Web Client Authentication',
    sans: [],
  },
  {
    file: 'etcd/server',
    ca: 'etcd/ca',
    subject: 'CN = cp-1',
    eku: 'TLS Web Server Authentication, TLS Web Client Authentication',
    sans: ['DNS:cp-1', 'DNS:localhost', 'IP Address:127.0.0.1', 'IP Address:0:0:0:0:0:0:0:1'],
  },
  {
    file: 'etcd/peer',
    ca: 'etcd/ca',
    subject: 'CN = cp-1',
    eku: 'TLS Web Server Authentication, TLS Web Client Authentication',
    sans: ['DNS:cp-1', 'DNS:localhost', 'IP Address:127.0.0.1', 'IP Address:0:0:0:0:0:0:0:1'],
  },
  {
    file: 'etcd/healthcheck-client',
    ca: 'etcd/ca',
    subject: 'CN = kube-etcd-healthcheck-client',
    eku: 'TLS Web Client Authentication',
    sans: [],
  },
];

const KUBECONFIGS = [
  {
    file: 'admin.conf',
    subject: 'O = kubeadm:cluster-admins, CN = kubernetes-admin',
    user: 'kubernetes-admin',
  },
  {
    file: 'super-admin.conf',
    subject: 'O = system:masters, CN = kubernetes-super-admin',
    user: 'kubernetes-super-admin',
  },
  {
    file: 'controller-manager.conf',
    subject: 'CN = system:kube-controller-manager',
    user: 'system:kube-controller-manager',
  },
  { file: 'scheduler.conf', subject: 'CN = system:kube-scheduler', user: 'system:kube-scheduler' },
];

function nodeOpts(keyAlgorithm: KeyAlgorithm, extra: Partial<NodePkiOptions> = {}): NodePkiOptions {
  return {
    nodeName: 'cp-1',
    advertiseAddress: '127.0.0.1',
    controlPlaneEndpoint: 'cp.bosun.test:6443',
    apiServerExtraSans: ['10.0.0.10', 'api.example.org', '127.0.0.1'],
    now: NOW,
    keyAlgorithm,
    ...extra,
  };
}

type Kubeconfig = {
  'current-context': string;
  clusters: { name: string; cluster: { server: string; 'certificate-authority-data': string } }[];
  contexts: { name: string; context: { cluster: string; user: string } }[];
  users: { name: string; user: Record<string, string> }[];
};

async function readKubeconfig(path: string): Promise<Kubeconfig> {
  return parseYaml(await readFile(path, 'utf8')) as Kubeconfig;
}

function b64(s: string | undefined): string {
  return Buffer.from(s ?? '', 'base64').toString('utf8');
}

async function mode(path: string): Promise<number> {
  return (await stat(path)).mode & 0o777;
}

for (const keyAlgorithm of ['ecdsa-p256', 'rsa-2048'] as const) {
  describe(`kubeadm PKI generator (${keyAlgorithm})`, () => {
    let dir = '';
    let etc = '';
    let kubeletPki = '';
    let cas: ClusterCas;
    const overrideApiserver = new Date(NOW.getTime() + 3 * DAY);

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'bosun-pki-gen-'));
      etc = join(dir, 'cp-1', 'etc', 'kubernetes');
      kubeletPki = join(dir, 'cp-1', 'var', 'lib', 'kubelet', 'pki');
      cas = await generateClusterCas({ now: NOW, keyAlgorithm });
      await writeControlPlanePki(
        etc,
        kubeletPki,
        cas,
        nodeOpts(keyAlgorithm, { notAfterOverrides: { apiserver: overrideApiserver } }),
      );
    });
    after(async () => {
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    test('CAs are self-signed, 10 years, backdated 5 minutes, with kubeadm CNs and DNS SAN = CN', () => {
      for (const [file, cn] of [
        ['ca', 'kubernetes'],
        ['etcd/ca', 'etcd-ca'],
        ['front-proxy-ca', 'front-proxy-ca'],
      ] as const) {
        const crt = join(etc, 'pki', `${file}.crt`);
        assert.ok(opensslVerifies(crt, crt), `${file} self-verifies`);
        const v = opensslView(crt);
        assert.equal(v.subject, `CN = ${cn}`);
        assert.deepEqual(v.sans, [`DNS:${cn}`]);
        assert.equal(v.keyUsage, 'Digital Signature, Key Encipherment, Certificate Sign');
        assert.equal(v.notAfter.getTime(), NOW.getTime() + 3650 * DAY);
      }
    });

    for (const leaf of LEAVES) {
      test(`${leaf.file}: verifies against ${leaf.ca}, subject/SAN/usages as kubeadm writes them`, async () => {
        const crt = join(etc, 'pki', `${leaf.file}.crt`);
        const key = join(etc, 'pki', `${leaf.file}.key`);
        assert.ok(opensslVerifies(join(etc, 'pki', `${leaf.ca}.crt`), crt));
        const v = opensslView(crt);
        assert.equal(v.subject, leaf.subject);
        assert.deepEqual(v.sans, leaf.sans);
        assert.equal(v.keyUsage, 'Digital Signature, Key Encipherment');
        assert.equal(v.extKeyUsage, leaf.eku);
        const want = leaf.file === 'apiserver' ? overrideApiserver.getTime() : NOW.getTime() + 365 * DAY;
        assert.equal(v.notAfter.getTime(), want);
        assert.equal(opensslKeyPubkey(key), opensslCertPubkey(crt), 'key matches certificate');
        const keyPem = await readFile(key, 'utf8');
        assert.match(
          keyPem,
          keyAlgorithm === 'rsa-2048'
            ? /^-----BEGIN RSA PRIVATE KEY-----/
            : /^-----BEGIN EC PRIVATE KEY-----/,
        );
        assert.equal(await mode(key), 0o600);
        assert.equal(await mode(crt), 0o644);
      });
    }

    test('sa.key/sa.pub: a key pair in kubeadm form', async () => {
      const pub = await readFile(join(etc, 'pki', 'sa.pub'), 'utf8');
      assert.match(pub, /^-----BEGIN PUBLIC KEY-----/);
      assert.equal(opensslKeyPubkey(join(etc, 'pki', 'sa.key')), pub);
      assert.equal(await mode(join(etc, 'pki', 'sa.key')), 0o600);
    });

    for (const kc of KUBECONFIGS) {
      test(`${kc.file}: embedded client cert with kubeadm's subject, signed by ca, server from controlPlaneEndpoint`, async () => {
        const path = join(etc, kc.file);
        assert.equal(await mode(path), 0o600);
        const cfg = await readKubeconfig(path);
        assert.equal(cfg['current-context'], `${kc.user}@kubernetes`);
        assert.equal(cfg.clusters[0]?.cluster.server, 'https://cp.bosun.test:6443');
        assert.equal(b64(cfg.clusters[0]?.cluster['certificate-authority-data']), cas.ca.certPem);
        assert.equal(cfg.users[0]?.name, kc.user);
        const certFile = join(dir, `${kc.file}.crt`);
        const keyFile = join(dir, `${kc.file}.key`);
        const { writeFile } = await import('node:fs/promises');
        await writeFile(certFile, b64(cfg.users[0]?.user['client-certificate-data']));
        await writeFile(keyFile, b64(cfg.users[0]?.user['client-key-data']));
        assert.ok(opensslVerifies(join(etc, 'pki', 'ca.crt'), certFile));
        const v = opensslView(certFile);
        assert.equal(v.subject, kc.subject);
        assert.equal(v.extKeyUsage, 'TLS Web Client Authentication');
        assert.deepEqual(v.sans, []);
        assert.equal(opensslKeyPubkey(keyFile), opensslCertPubkey(certFile));
      });
    }

    test('kubelet.conf names kubelet-client-current.pem by absolute path; the symlink points at a dated pem', async () => {
      const cfg = await readKubeconfig(join(etc, 'kubelet.conf'));
      const current = join(kubeletPki, 'kubelet-client-current.pem');
      assert.equal(cfg['current-context'], 'system:node:cp-1@kubernetes');
      assert.deepEqual(cfg.users[0]?.user, { 'client-certificate': current, 'client-key': current });
      const p = (n: number): string => String(n).padStart(2, '0');
      const stamp = `${NOW.getUTCFullYear()}-${p(NOW.getUTCMonth() + 1)}-${p(NOW.getUTCDate())}-${p(NOW.getUTCHours())}-${p(NOW.getUTCMinutes())}-${p(NOW.getUTCSeconds())}`;
      assert.equal(await readlink(current), join(kubeletPki, `kubelet-client-${stamp}.pem`));
      assert.equal(await mode(join(kubeletPki, `kubelet-client-${stamp}.pem`)), 0o600);
      assert.ok(opensslVerifies(join(etc, 'pki', 'ca.crt'), current));
      const v = opensslView(current);
      assert.equal(v.subject, 'O = system:nodes, CN = system:node:cp-1');
      assert.equal(v.extKeyUsage, 'TLS Web Client Authentication');
      assert.equal(v.keyUsage, 'Digital Signature');
      assert.equal(opensslKeyPubkey(current), opensslCertPubkey(current), 'the pem holds the matching key');
    });

    test('kubelet.crt is a self-signed serving chain for the node name; kubelet.key matches', async () => {
      const crt = join(kubeletPki, 'kubelet.crt');
      const v = opensslView(crt);
      assert.match(v.subject, /^CN = cp-1@\d+$/);
      assert.deepEqual(v.sans, ['DNS:cp-1']);
      assert.equal(v.extKeyUsage, 'TLS Web Server Authentication');
      assert.ok(opensslVerifies(crt, crt), 'kubelet.crt carries its own CA after the leaf');
      assert.equal(opensslKeyPubkey(join(kubeletPki, 'kubelet.key')), opensslCertPubkey(crt));
    });

    test('loadClusterCas reads back exactly the CAs and sa keys that were written', async () => {
      assert.deepEqual(await loadClusterCas(etc), cas);
    });

    test("Node's tls: apiserver.crt serves, admin.conf's certificate is accepted as client", async (t) => {
      const pki = join(etc, 'pki');
      const caPem = await readFile(join(pki, 'ca.crt'));
      const server = tls.createServer({
        cert: await readFile(join(pki, 'apiserver.crt')),
        key: await readFile(join(pki, 'apiserver.key')),
        ca: caPem,
        requestCert: true,
        rejectUnauthorized: true,
      });
      t.after(() => server.close());
      const clientCn = new Promise<string>((resolve) =>
        server.on('secureConnection', (s: tls.TLSSocket) => {
          resolve(String(s.getPeerCertificate().subject.CN));
          s.end();
        }),
      );
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const addr = server.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      const cfg = await readKubeconfig(join(etc, 'admin.conf'));
      const user = cfg.users[0]?.user ?? {};
      const served = await new Promise<string>((resolve, reject) => {
        const sock = tls.connect({
          host: '127.0.0.1',
          port,
          ca: caPem,
          cert: b64(user['client-certificate-data']),
          key: b64(user['client-key-data']),
        });
        sock.on('secureConnect', () => {
          resolve(String(sock.getPeerCertificate().subject.CN));
          sock.end();
        });
        sock.on('error', reject);
      });
      assert.equal(served, 'kube-apiserver');
      assert.equal(await clientCn, 'kubernetes-admin');
    });

    test('a worker gets pki/ca.crt, a bootstrap-style kubelet.conf and its kubelet pki, signed by the same CA', async () => {
      const wEtc = join(dir, 'worker-1', 'etc', 'kubernetes');
      const wPki = join(dir, 'worker-1', 'var', 'lib', 'kubelet', 'pki');
      await writeWorkerPki(
        wEtc,
        wPki,
        cas,
        nodeOpts(keyAlgorithm, {
          nodeName: 'worker-1',
          notAfterOverrides: { 'kubelet-client': new Date(NOW.getTime() + 3 * DAY) },
        }),
      );
      assert.equal(await readFile(join(wEtc, 'pki', 'ca.crt'), 'utf8'), cas.ca.certPem);
      const cfg = await readKubeconfig(join(wEtc, 'kubelet.conf'));
      const current = join(wPki, 'kubelet-client-current.pem');
      assert.equal(cfg['current-context'], 'default-context');
      assert.deepEqual(cfg.users[0]?.user, { 'client-certificate': current, 'client-key': current });
      assert.ok(opensslVerifies(join(wEtc, 'pki', 'ca.crt'), current));
      const v = opensslView(current);
      assert.equal(v.subject, 'O = system:nodes, CN = system:node:worker-1');
      assert.equal(v.notAfter.getTime(), NOW.getTime() + 3 * DAY);
    });

    test('a control plane that joined gets every kubeconfig but super-admin.conf (kubeadm writes it on the init node only)', async () => {
      const jEtc = join(dir, 'cp-2', 'etc', 'kubernetes');
      const jPki = join(dir, 'cp-2', 'var', 'lib', 'kubelet', 'pki');
      await writeControlPlanePki(jEtc, jPki, cas, nodeOpts(keyAlgorithm, { nodeName: 'cp-2', joined: true }));
      const confs = (await readdir(jEtc)).filter((f) => f.endsWith('.conf')).sort();
      assert.deepEqual(confs, ['admin.conf', 'controller-manager.conf', 'kubelet.conf', 'scheduler.conf']);
      assert.equal((await readdir(etc)).includes('super-admin.conf'), true, 'the init node has one');
    });
  });
}
