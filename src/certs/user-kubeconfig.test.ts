// A kubeconfig for one more user, judged by openssl: the client certificate `kubeadm kubeconfig
// user --client-name USER --org GROUP` would make (CN, O, clientAuth only, no SANs, NotBefore the
// CA's, a year), signed by the cluster CA, with its own key; the kubeconfig names the user as
// kubeadm's do.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { readCertPem } from './inspect.ts';
import { writeTestControlPlane } from './testing/node.ts';
import { opensslCertPubkey, opensslKeyPubkey, opensslVerifies, opensslView } from './testing/openssl.ts';
import { userKubeconfig } from './user-kubeconfig.ts';

const DAY = 86_400_000;
const NOW = new Date(Math.floor(Date.now() / 1000) * 1000);

let dir = '';
let etc = '';
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bosun-user-kubeconfig-'));
  etc = join(dir, 'etc/kubernetes');
  await writeTestControlPlane(dir, { now: NOW });
});
after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Kubeconfig {
  'current-context': string;
  clusters: { name: string; cluster: { server: string } }[];
  users: { name: string; user: Record<string, string> }[];
}

test('the client certificate kubeadm kubeconfig user makes, signed by the cluster CA, in a kubeadm-style kubeconfig', async () => {
  const text = await userKubeconfig({
    etcKubernetesDir: etc,
    server: 'https://127.0.0.1:6443',
    user: 'drainer',
    groups: ['ops', 'sre'],
    keyAlgorithm: 'ecdsa-p256',
    now: NOW,
  });
  const cfg = parseYaml(text) as Kubeconfig;
  assert.equal(cfg['current-context'], 'drainer@kubernetes');
  assert.equal(cfg.clusters[0]?.name, 'kubernetes');
  assert.equal(cfg.clusters[0]?.cluster.server, 'https://127.0.0.1:6443');
  assert.equal(cfg.users[0]?.name, 'drainer');
  const certPem = Buffer.from(cfg.users[0]?.user['client-certificate-data'] ?? '', 'base64').toString();
  const certFile = join(dir, 'drainer.crt');
  const keyFile = join(dir, 'drainer.key');
  await writeFile(certFile, certPem);
  await writeFile(keyFile, Buffer.from(cfg.users[0]?.user['client-key-data'] ?? '', 'base64'));

  assert.ok(opensslVerifies(join(etc, 'pki/ca.crt'), certFile));
  const v = opensslView(certFile);
  assert.equal(v.subject, 'O = ops, O = sre, CN = drainer');
  assert.equal(v.extKeyUsage, 'TLS Web Client Authentication');
  assert.deepEqual(v.sans, []);
  assert.equal(v.notAfter.getTime(), NOW.getTime() + 365 * DAY);
  assert.equal(opensslKeyPubkey(keyFile), opensslCertPubkey(certFile));
  // pkiutil.NewSignedCert: NotBefore = caCert.NotBefore.
  const ca = readCertPem(await readFile(join(etc, 'pki/ca.crt'), 'utf8'));
  const leaf = readCertPem(certPem);
  assert.ok(ca.ok && leaf.ok);
  assert.equal(leaf.facts.notBefore.getTime(), ca.facts.notBefore.getTime());
});
