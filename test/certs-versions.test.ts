// Issue 18: kubeadm before v1.29 writes no super-admin.conf, and `certs check` reported it
// !MISSING! with exit 1 while `certs renew all` refused to renew anything. The set of files is the
// one kubeadm of the node's version writes, read from the static pod manifests' image tags or, when
// the node has none, from the kubeadm-config ConfigMap. Both sides of the line: on files, and on
// sandboxes of v1.28 and v1.29 laid out as those releases' kubeadm lays a node out.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { writeTestControlPlane } from '../src/certs/testing/node.ts';
import { bosunInProcess } from './support/cli-in-process.ts';
import { startTestSandbox, type TestSandbox } from './support/sandbox.ts';

const DAY = 86_400_000;

const bosun = bosunInProcess;

interface CheckJson {
  certificates: { name: string; status: string }[];
}

/** The subject of a certificate file, or of a kubeconfig's embedded client certificate, per openssl. */
function subject(file: string): string {
  let pem = readFileSync(file, 'utf8');
  const data = /client-certificate-data: (\S+)/.exec(pem)?.[1];
  if (data) pem = Buffer.from(data, 'base64').toString('utf8');
  // openssl prints "O = a, CN=b" or "O=a, CN=b" depending on its version.
  return execFileSync('openssl', ['x509', '-noout', '-subject'], { input: pem })
    .toString()
    .trim()
    .replace(/ = /g, '=');
}

/** A control plane's files made the way kubeadm of `version` makes them, with its manifests' images. */
function kubeadmNode(root: string, version: string): Promise<void> {
  return writeTestControlPlane(root, { kubernetesVersion: version, manifestsVersion: version });
}

describe('on files: the set of kubeconfigs follows the kubeadm version of the manifests', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bosun-certs-versions-'));
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('v1.28: no super-admin.conf anywhere, check exits 0 and renew all renews the ten kubeadm renews', async () => {
    const root = join(dir, 'v128');
    await kubeadmNode(root, 'v1.28.15');
    assert.equal(
      existsSync(join(root, 'etc/kubernetes/super-admin.conf')),
      false,
      'kubeadm v1.28 writes none',
    );

    const check = await bosun(dir, ['certs', 'check', '--root', root]);
    assert.equal(check.code, 0, check.err);
    assert.equal(check.err, '');
    assert.doesNotMatch(check.out, /super-admin/);
    const doc = JSON.parse(
      (await bosun(dir, ['certs', 'check', '--root', root, '-o', 'json'])).out,
    ) as CheckJson;
    assert.deepEqual(
      doc.certificates.map((c) => c.name),
      [
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
        'kubelet.conf',
        'kubelet-client',
        'kubelet-serving',
      ],
    );

    const renew = await bosun(dir, ['certs', 'renew', 'all', '--root', root, '--no-restart']);
    assert.equal(renew.code, 0, renew.err);
    assert.equal(renew.out.split('\n').filter((l) => / renewed \(expires /.test(l)).length, 10);
    assert.doesNotMatch(renew.out, /super-admin/);
    // Renewal keeps each subject: admin.conf stays in system:masters on v1.28.
    assert.equal(
      subject(join(root, 'etc/kubernetes/admin.conf')),
      'subject=O=system:masters, CN=kubernetes-admin',
    );

    const byName = await bosun(dir, ['certs', 'renew', 'super-admin.conf', '--root', root, '--no-restart']);
    assert.equal(byName.code, 2);
    assert.deepEqual(byName.err.split('\n'), [
      `error: kubeadm v1.28.15 (the image of ${join(root, 'etc/kubernetes/manifests/kube-apiserver.yaml')}) writes no super-admin.conf: it came with v1.29`,
      'Names: all, admin.conf, apiserver, apiserver-etcd-client, apiserver-kubelet-client, controller-manager.conf, etcd-healthcheck-client, etcd-peer, etcd-server, front-proxy-client, scheduler.conf',
    ]);
  });

  test('v1.29: super-admin.conf is written by kubeadm init; where it is missing, it is absent, not a problem', async () => {
    const root = join(dir, 'v129');
    await kubeadmNode(root, 'v1.29.15');
    assert.equal(
      subject(join(root, 'etc/kubernetes/super-admin.conf')),
      'subject=O=system:masters, CN=kubernetes-super-admin',
    );
    assert.equal(
      subject(join(root, 'etc/kubernetes/admin.conf')),
      'subject=O=kubeadm:cluster-admins, CN=kubernetes-admin',
    );
    assert.equal((await bosun(dir, ['certs', 'check', '--root', root])).code, 0);
    // As on a control plane that joined (certs-joined.test.ts), or an init node whose admin moved it away.
    rmSync(join(root, 'etc/kubernetes/super-admin.conf'));
    const check = await bosun(dir, ['certs', 'check', '--root', root]);
    assert.equal(check.code, 0, check.err);
    assert.match(
      check.out,
      /^super-admin\.conf +absent: kubeadm writes it only on the node where kubeadm init ran; /m,
    );
    // Still kubeadm's file on v1.29: one that is there but broken is a problem.
    writeFileSync(join(root, 'etc/kubernetes/super-admin.conf'), 'not a kubeconfig');
    const broken = await bosun(dir, ['certs', 'check', '--root', root]);
    assert.equal(broken.code, 1);
    assert.match(broken.err, /^error: 1 certificate has a problem: super-admin\.conf \(/m);
  });
});

for (const version of ['v1.28.15', 'v1.29.15']) {
  const since129 = version !== 'v1.28.15';
  describe(`a sandbox of ${version}, laid out as kubeadm ${version} lays out a node`, () => {
    let s: TestSandbox;
    let root = '';
    let etcK = '';
    before(async () => {
      s = await startTestSandbox({
        version,
        controlPlanes: 1,
        workers: 1,
        pkiNotAfterOverrides: { apiserver: new Date(Date.now() + 3 * DAY) },
      });
      root = join(s.dir, 'nodes/cp-1/host');
      etcK = join(root, 'etc/kubernetes');
    });
    after(async () => {
      await s?.stop();
    });

    test("kubeconfigs and subjects as that kubeadm's, and kubeadm-config of that version", async () => {
      assert.equal(existsSync(join(etcK, 'super-admin.conf')), since129);
      assert.equal(
        subject(join(etcK, 'admin.conf')),
        `subject=O=${since129 ? 'kubeadm:cluster-admins' : 'system:masters'}, CN=kubernetes-admin`,
      );
      assert.equal(
        subject(join(etcK, 'pki/apiserver-kubelet-client.crt')),
        `subject=O=${since129 ? 'kubeadm:cluster-admins' : 'system:masters'}, CN=kube-apiserver-kubelet-client`,
      );
      assert.equal(
        subject(join(etcK, 'pki/apiserver-etcd-client.crt')),
        since129
          ? 'subject=CN=kube-apiserver-etcd-client'
          : 'subject=O=system:masters, CN=kube-apiserver-etcd-client',
      );
      const cm = await s.kubectlJson<{ data: { ClusterConfiguration: string } }>([
        '-n',
        'kube-system',
        'get',
        'configmap',
        'kubeadm-config',
      ]);
      // v1beta4 came with v1.31; before it kubeadm stored v1beta3.
      assert.match(cm.data.ClusterConfiguration, /^apiVersion: kubeadm\.k8s\.io\/v1beta3$/m);
      assert.match(cm.data.ClusterConfiguration, new RegExp(`^kubernetesVersion: ${version}$`, 'm'));
      assert.doesNotMatch(cm.data.ClusterConfiguration, /encryptionAlgorithm|certificateValidityPeriod/);
    });

    test('certs check: every file of that kubeadm present; only apiserver expiring (exit 3)', async () => {
      const r = await bosun(s.dir, ['certs', 'check', '--root', root, '-o', 'json']);
      assert.equal(r.code, 3, r.err);
      assert.match(r.err, /^error: 1 certificate expires within 30d: apiserver$/m);
      const doc = JSON.parse(r.out) as CheckJson;
      assert.equal(
        doc.certificates.some((c) => c.name === 'super-admin.conf'),
        since129,
      );
      assert.deepEqual(
        doc.certificates.filter((c) => c.status !== 'ok').map((c) => c.name),
        ['apiserver'],
      );
    });

    test('without manifests to read, the version comes from the kubeadm-config ConfigMap', async () => {
      // The node's etc/kubernetes without manifests/ (kubelet.conf names its certificate by path).
      const copy = join(s.dir, 'etc-kubernetes-of-cp-1');
      cpSync(etcK, copy, { recursive: true });
      rmSync(join(copy, 'manifests'), { recursive: true, force: true });
      const at = [
        '--config-dir',
        copy,
        '--pki-dir',
        join(copy, 'pki'),
        '--kubelet-pki-dir',
        join(root, 'var/lib/kubelet/pki'),
        '--kubeconfig',
        s.kubeconfig,
      ];
      const r = await bosun(s.dir, ['certs', 'check', ...at, '-o', 'json']);
      assert.equal(r.code, 3, r.err);
      const doc = JSON.parse(r.out) as CheckJson;
      assert.equal(
        doc.certificates.some((c) => c.name === 'super-admin.conf'),
        since129,
      );
      const renew = await bosun(s.dir, ['certs', 'renew', 'all', ...at, '--no-restart']);
      assert.equal(renew.code, 0, renew.err);
      assert.equal(
        renew.out.split('\n').filter((l) => / renewed \(expires /.test(l)).length,
        since129 ? 11 : 10,
      );
    });

    test('certs renew all: every certificate of that kubeadm renewed, the static pods restarted, served', async () => {
      const r = await bosun(s.dir, ['certs', 'renew', 'all', '--root', root, '--kubeconfig', s.kubeconfig]);
      assert.equal(r.code, 0, r.err);
      assert.equal(r.out.split('\n').filter((l) => / renewed \(expires /.test(l)).length, since129 ? 11 : 10);
      assert.match(r.out, /^Certificates renewed and served on cp-1\./m);
      const check = await bosun(s.dir, ['certs', 'check', '--root', root]);
      assert.equal(check.code, 0, check.err);
    });
  });
}
