// `certs check` on files, with openssl as the judge of what each file holds: on a PKI from bosun's
// generator and on one made with plain openssl commands, every date, subject and SAN reported
// equals `openssl x509 -noout -enddate -subject -ext subjectAltName` for the same file. Then the
// bad inputs of issue 5, each a per-row verdict or one clear line.
import assert from 'node:assert/strict';
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isBosunError } from '../common/errors.ts';
import { checkCertificates, type CheckedRow } from './check.ts';
import { resolveCertPaths } from './paths.ts';
import { generateClusterCas, writeControlPlanePki, type ClusterCas } from './pki-gen.ts';
import { writeTestControlPlane } from './testing/node.ts';
import { makeOpensslPki } from './testing/openssl-pki.ts';
import { opensslView } from './testing/openssl.ts';

const DAY = 86_400_000;
const WARN = 30 * DAY;
const NOW = new Date(Math.floor(Date.now() / 1000) * 1000);

/** openssl's view of the certificate a row reports (an embedded kubeconfig cert is written out first). */
async function opensslOf(row: CheckedRow, scratch: string): Promise<ReturnType<typeof opensslView>> {
  if (row.source !== 'kubeconfig' || row.path.endsWith('.pem')) return opensslView(row.path);
  const text = await readFile(row.path, 'utf8');
  const data = /client-certificate-data: (\S+)/.exec(text)?.[1] ?? '';
  const file = join(scratch, `${row.name}.crt`);
  await writeFile(file, Buffer.from(data, 'base64'));
  return opensslView(file);
}

function sansOf(row: CheckedRow): string[] {
  return [
    ...(row.facts?.dnsNames ?? []).map((d) => `DNS:${d}`),
    ...(row.facts?.ipAddresses ?? []).map((i) => `IP Address:${i}`),
  ];
}

async function assertMatchesOpenssl(rows: readonly CheckedRow[], scratch: string): Promise<void> {
  for (const row of rows) {
    assert.ok(row.facts, `${row.name} has facts`);
    const o = await opensslOf(row, scratch);
    assert.equal(row.facts.notAfter.getTime(), o.notAfter.getTime(), `${row.name} notAfter`);
    assert.equal(row.facts.subject, o.subject, `${row.name} subject`);
    assert.deepEqual(sansOf(row), o.sans, `${row.name} SANs`);
  }
}

const byName = (rows: readonly CheckedRow[], name: string): CheckedRow => {
  const r = rows.find((x) => x.name === name);
  assert.ok(r, `row ${name}`);
  return r;
};

const KUBEADM_ORDER = [
  'admin.conf',
  'apiserver',
  'apiserver-etcd-client',
  'apiserver-kubelet-client',
  'controller-manager.conf',
  'etcd-healthcheck-client',
  'etcd-peer',
  'etcd-server',
  'front-proxy-client',
  'scheduler.conf',
  'super-admin.conf',
  'kubelet.conf',
  'kubelet-client',
  'kubelet-serving',
  'ca',
  'etcd-ca',
  'front-proxy-ca',
];

describe('certs check on a PKI from the generator', () => {
  let dir = '';
  let root = '';
  let cas: ClusterCas;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bosun-check-gen-'));
    root = join(dir, 'host');
    cas = await generateClusterCas({ now: NOW, keyAlgorithm: 'ecdsa-p256' });
    await writeControlPlanePki(join(root, 'etc/kubernetes'), join(root, 'var/lib/kubelet/pki'), cas, {
      nodeName: 'cp-1',
      advertiseAddress: '127.0.0.1',
      controlPlaneEndpoint: '127.0.0.1:6443',
      now: NOW,
      keyAlgorithm: 'ecdsa-p256',
      notAfterOverrides: {
        apiserver: new Date(NOW.getTime() + 5 * DAY),
        'etcd-server': new Date(NOW.getTime() + 12 * DAY),
      },
    });
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test("lists kubeadm's rows in kubeadm's order, then the kubelet's, then the CAs", async () => {
    const rows = await checkCertificates(resolveCertPaths({ root }, '/'), NOW, WARN);
    assert.deepEqual(
      rows.map((r) => r.name),
      KUBEADM_ORDER,
    );
  });

  test('every date, subject and SAN equals openssl x509 on the same file', async () => {
    const rows = await checkCertificates(resolveCertPaths({ root }, '/'), NOW, WARN);
    await assertMatchesOpenssl(rows, dir);
  });

  test('verdicts: the short-lived ones are expiring, the rest ok, nothing externally managed', async () => {
    const rows = await checkCertificates(resolveCertPaths({ root }, '/'), NOW, WARN);
    const expiring = rows.filter((r) => r.status === 'expiring').map((r) => r.name);
    assert.deepEqual(expiring.sort(), ['apiserver', 'etcd-server']);
    assert.ok(rows.every((r) => r.status === 'ok' || expiring.includes(r.name)));
    assert.ok(rows.every((r) => !r.externallyManaged && r.problems.length === 0));
  });

  test('a control plane that joined: super-admin.conf is absent, says why, and every other row is as on cp-1', async () => {
    const joined = join(dir, 'joined');
    await writeTestControlPlane(joined, { nodeName: 'cp-2', joined: true, now: NOW });
    const rows = await checkCertificates(resolveCertPaths({ root: joined }, '/'), NOW, WARN);
    assert.deepEqual(
      rows.map((r) => r.name),
      KUBEADM_ORDER,
    );
    const superAdmin = byName(rows, 'super-admin.conf');
    assert.equal(superAdmin.status, 'absent');
    assert.equal(superAdmin.missing, true);
    assert.deepEqual(superAdmin.problems, []);
    assert.deepEqual(superAdmin.absence, {
      reason: 'kubeadm writes it only on the node where kubeadm init ran',
      hint: 'kubeadm kubeconfig user --client-name=kubernetes-super-admin --org=system:masters',
    });
    assert.deepEqual(
      rows.filter((r) => r.status !== 'ok').map((r) => r.name),
      ['super-admin.conf'],
    );
    assert.ok(rows.every((r) => r.name === 'super-admin.conf' || r.absence === undefined));
  });
});

describe('certs check on a PKI made with plain openssl commands', () => {
  let dir = '';
  let root = '';
  // openssl starts each certificate when it runs: judge them after that.
  let now = NOW;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bosun-check-openssl-'));
    root = join(dir, 'host');
    await makeOpensslPki(root);
    now = new Date();
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('every date, subject and SAN equals openssl x509 on the same file', async () => {
    const rows = await checkCertificates(resolveCertPaths({ root }, '/'), now, WARN);
    assert.deepEqual(
      rows.map((r) => r.name),
      KUBEADM_ORDER,
    );
    await assertMatchesOpenssl(rows, dir);
  });

  test('every row is valid; apiserver (10 days) is the only one expiring within 30d', async () => {
    const rows = await checkCertificates(resolveCertPaths({ root }, '/'), now, WARN);
    for (const r of rows) assert.deepEqual(r.problems, [], `${r.name} has no problems`);
    assert.deepEqual(
      rows.filter((r) => r.status !== 'ok').map((r) => [r.name, r.status]),
      [['apiserver', 'expiring']],
    );
  });

  test('kubelet.conf names an absolute path: with --root it is read under the root', async () => {
    const rows = await checkCertificates(resolveCertPaths({ root }, '/'), now, WARN);
    assert.equal(
      byName(rows, 'kubelet.conf').path,
      join(root, 'var/lib/kubelet/pki/kubelet-client-current.pem'),
    );
    assert.equal(byName(rows, 'kubelet.conf').status, 'ok');
  });
});

describe('certs check: bad input gives per-row verdicts, never a crash', () => {
  let dir = '';
  let root = '';
  let etc = '';
  let other: ClusterCas;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bosun-check-bad-'));
    root = join(dir, 'host');
    etc = join(root, 'etc/kubernetes');
    const cas = await generateClusterCas({ now: NOW, keyAlgorithm: 'ecdsa-p256' });
    other = await generateClusterCas({ now: NOW, keyAlgorithm: 'ecdsa-p256' });
    await writeControlPlanePki(etc, join(root, 'var/lib/kubelet/pki'), cas, {
      nodeName: 'cp-1',
      advertiseAddress: '127.0.0.1',
      controlPlaneEndpoint: '127.0.0.1:6443',
      now: NOW,
      keyAlgorithm: 'ecdsa-p256',
    });
    const pki = join(etc, 'pki');
    // malformed PEM
    await writeFile(
      join(pki, 'apiserver.crt'),
      '-----BEGIN CERTIFICATE-----\nnot base64 at all\n-----END CERTIFICATE-----\n',
    );
    // wrong key pair: front-proxy-client.key is now etcd's healthcheck key
    await copyFile(join(pki, 'etcd/healthcheck-client.key'), join(pki, 'front-proxy-client.key'));
    // not signed by its CA: apiserver-etcd-client signed by another cluster's etcd CA
    const otherDir = join(dir, 'other');
    await writeControlPlanePki(join(otherDir, 'etc'), join(otherDir, 'kubelet'), other, {
      nodeName: 'cp-1',
      advertiseAddress: '127.0.0.1',
      controlPlaneEndpoint: '127.0.0.1:6443',
      now: NOW,
      keyAlgorithm: 'ecdsa-p256',
    });
    await copyFile(
      join(otherDir, 'etc/pki/apiserver-etcd-client.crt'),
      join(pki, 'apiserver-etcd-client.crt'),
    );
    await copyFile(
      join(otherDir, 'etc/pki/apiserver-etcd-client.key'),
      join(pki, 'apiserver-etcd-client.key'),
    );
    // missing file
    await rm(join(pki, 'etcd/peer.crt'));
    await rm(join(pki, 'etcd/peer.key'));
    // missing key of a leaf
    await rm(join(pki, 'etcd/healthcheck-client.key'));
    // missing CA key: front-proxy CA is external
    await rm(join(pki, 'front-proxy-ca.key'));
    // token-based kubeconfig
    await writeFile(
      join(etc, 'scheduler.conf'),
      'apiVersion: v1\nkind: Config\nclusters:\n- name: k\n  cluster:\n    server: https://127.0.0.1:6443\ncontexts:\n- name: c\n  context:\n    cluster: k\n    user: u\ncurrent-context: c\nusers:\n- name: u\n  user:\n    token: s3cr3t-t0ken\n',
    );
    // garbage kubeconfig
    await writeFile(join(etc, 'super-admin.conf'), 'users: [\n  this is : not yaml');
    // a directory where a file should be
    await rm(join(etc, 'controller-manager.conf'));
    await mkdir(join(etc, 'controller-manager.conf'));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const cases: {
    name: string;
    row: string;
    status: string;
    code?: string;
    message: RegExp;
    externallyManaged?: boolean;
  }[] = [
    {
      name: 'malformed PEM',
      row: 'apiserver',
      status: 'invalid',
      code: 'malformed-pem',
      message: /^malformed PEM: the certificate cannot be parsed/,
    },
    {
      name: 'wrong key pair',
      row: 'front-proxy-client',
      status: 'invalid',
      code: 'key-mismatch',
      message: /^private key does not match the certificate$/,
    },
    {
      name: 'signed by another CA',
      row: 'apiserver-etcd-client',
      status: 'invalid',
      code: 'not-signed-by-ca',
      message: /^not signed by etcd-ca \(.*pki\/etcd\/ca\.crt\)$/,
    },
    { name: 'missing certificate', row: 'etcd-peer', status: 'missing', message: /.*/ },
    {
      name: 'missing key',
      row: 'etcd-healthcheck-client',
      status: 'invalid',
      code: 'key-missing',
      message: /^private key .*etcd\/healthcheck-client\.key is missing$/,
    },
    {
      name: 'missing CA key: external CA, not a problem',
      row: 'front-proxy-ca',
      status: 'ok',
      message: /.*/,
      externallyManaged: true,
    },
    {
      name: 'a leaf of an external CA is externally managed, as kubeadm says',
      row: 'front-proxy-client',
      status: 'invalid',
      message: /.*/,
      externallyManaged: true,
    },
    {
      name: 'token-based kubeconfig',
      row: 'scheduler.conf',
      status: 'invalid',
      code: 'no-client-certificate',
      message: /^no client certificate: the kubeconfig's user authenticates with a token$/,
    },
    {
      name: 'kubeconfig that is not YAML',
      row: 'super-admin.conf',
      status: 'invalid',
      code: 'kubeconfig-invalid',
      message: /^not a valid kubeconfig/,
    },
    {
      name: 'a directory in place of a kubeconfig',
      row: 'controller-manager.conf',
      status: 'invalid',
      code: 'unreadable',
      message: /^cannot read .*controller-manager\.conf: it is a directory$/,
    },
  ];
  for (const c of cases) {
    test(`${c.name}: ${c.row} is ${c.status}`, async () => {
      const rows = await checkCertificates(resolveCertPaths({ root }, '/'), NOW, WARN);
      const r = byName(rows, c.row);
      assert.equal(r.status, c.status);
      if (c.code) {
        assert.equal(r.problems[0]?.code, c.code);
        assert.match(r.problems[0]?.message ?? '', c.message);
      }
      if (c.externallyManaged !== undefined) assert.equal(r.externallyManaged, c.externallyManaged);
    });
  }

  test('the token never appears in what check reports', async () => {
    const rows = await checkCertificates(resolveCertPaths({ root }, '/'), NOW, WARN);
    assert.ok(!JSON.stringify(rows).includes('s3cr3t-t0ken'));
  });

  test('the untouched rows stay ok next to the broken ones', async () => {
    const rows = await checkCertificates(resolveCertPaths({ root }, '/'), NOW, WARN);
    for (const name of [
      'admin.conf',
      'apiserver-kubelet-client',
      'etcd-server',
      'kubelet.conf',
      'kubelet-client',
      'kubelet-serving',
      'ca',
      'etcd-ca',
    ]) {
      assert.equal(byName(rows, name).status, 'ok', name);
    }
  });

  test('a pki dir that is a file: one clear line, not a row per file', async () => {
    const f = join(dir, 'not-a-dir');
    await writeFile(f, 'x');
    await assert.rejects(
      checkCertificates({ pkiDir: f, configDir: etc, kubeletPkiDir: join(dir, 'none') }, NOW, WARN),
      (e: unknown) => {
        assert.ok(isBosunError(e));
        assert.equal(e.message, `${f} is not a directory`);
        assert.equal(e.exitCode, 1);
        return true;
      },
    );
  });

  test('no kubeadm directories at all: one clear line with a hint', async () => {
    await assert.rejects(
      checkCertificates(resolveCertPaths({ root: join(dir, 'nothing') }, '/'), NOW, WARN),
      (e: unknown) => {
        assert.ok(isBosunError(e));
        assert.match(
          e.message,
          /^no kubeadm certificates here: neither .*nothing\/etc\/kubernetes\/pki nor .*nothing\/etc\/kubernetes exists$/,
        );
        assert.match(e.hint ?? '', /--pki-dir/);
        return true;
      },
    );
  });
});
