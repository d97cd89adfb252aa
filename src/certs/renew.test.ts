// `certs renew` on files: same subject/SANs/usages/key type per openssl, new key, new dates,
// signed by the CA, kubeconfigs rewritten in place, old files in a dated backup, and refusals
// that change nothing.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isBosunError } from '../common/errors.ts';
import { checkCertificates } from './check.ts';
import { resolveCertPaths } from './paths.ts';
import { generateClusterCas, writeControlPlanePki } from './pki-gen.ts';
import { RENEWABLE, renewCertificates, resolveRenewNames } from './renew.ts';
import { writeTestControlPlane } from './testing/node.ts';
import { makeOpensslPki } from './testing/openssl-pki.ts';
import { openssl, opensslCertPubkey, opensslVerifies, opensslView } from './testing/openssl.ts';

const DAY = 86_400_000;
const YEAR = 365 * DAY;

function fullView(file: string): string {
  // Everything that must survive renewal, as openssl prints it: subject and the extensions' values.
  return openssl([
    'x509',
    '-in',
    file,
    '-noout',
    '-subject',
    '-ext',
    'subjectAltName,keyUsage,extendedKeyUsage,basicConstraints',
  ]);
}

function keyKind(file: string): string {
  return (
    /Public-Key: \((\d+ bit)\)/.exec(openssl(['x509', '-in', file, '-noout', '-text']))?.[1] +
    (openssl(['x509', '-in', file, '-noout', '-text']).includes('id-ecPublicKey') ? ' EC' : ' RSA')
  );
}

for (const kind of ['generator', 'openssl'] as const) {
  describe(`certs renew all on a ${kind} PKI`, () => {
    let dir = '';
    let root = '';
    let pki = '';
    const before_: Record<string, { view: string; pub: string; key: string; notAfter: number }> = {};
    let now = new Date();
    let result: Awaited<ReturnType<typeof renewCertificates>>;

    before(async () => {
      dir = await mkdtemp(join(tmpdir(), `bosun-renew-${kind}-`));
      root = join(dir, 'host');
      if (kind === 'generator') {
        const t = new Date(Math.floor(Date.now() / 1000) * 1000);
        const cas = await generateClusterCas({ now: t, keyAlgorithm: 'rsa-2048' });
        await writeControlPlanePki(join(root, 'etc/kubernetes'), join(root, 'var/lib/kubelet/pki'), cas, {
          nodeName: 'cp-1',
          advertiseAddress: '127.0.0.1',
          controlPlaneEndpoint: '127.0.0.1:6443',
          now: t,
          keyAlgorithm: 'ecdsa-p256',
          notAfterOverrides: { apiserver: new Date(t.getTime() + 3 * DAY) },
        });
      } else {
        await makeOpensslPki(root);
      }
      pki = join(root, 'etc/kubernetes/pki');
      now = new Date(Math.floor(Date.now() / 1000) * 1000 + 1000);
      for (const f of ['apiserver', 'etcd/server', 'front-proxy-client', 'apiserver-etcd-client']) {
        before_[f] = {
          view: fullView(join(pki, `${f}.crt`)),
          pub: opensslCertPubkey(join(pki, `${f}.crt`)),
          key: await readFile(join(pki, `${f}.key`), 'utf8'),
          notAfter: opensslView(join(pki, `${f}.crt`)).notAfter.getTime(),
        };
      }
      result = await renewCertificates({
        names: ['all'],
        paths: resolveCertPaths({ root }, '/'),
        backupRoot: join(root, 'etc/kubernetes/tmp'),
        validityMs: YEAR,
        now,
      });
    });
    after(async () => {
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    test("renews kubeadm's eleven and names the static pods to restart", () => {
      assert.deepEqual(result.renewed.map((r) => r.name).sort(), [...RENEWABLE].sort());
      assert.equal(RENEWABLE.length, 11);
      assert.deepEqual(result.skipped, []);
      assert.deepEqual(result.components, [
        'kube-apiserver',
        'kube-controller-manager',
        'kube-scheduler',
        'etcd',
      ]);
    });

    for (const f of ['apiserver', 'etcd/server', 'front-proxy-client', 'apiserver-etcd-client']) {
      test(`${f}: same subject, SANs, usages and key type; new key; a year from now; signed by its CA`, async () => {
        const crt = join(pki, `${f}.crt`);
        const b = before_[f];
        assert.ok(b);
        assert.equal(fullView(crt), b.view);
        assert.notEqual(opensslCertPubkey(crt), b.pub, 'a new key');
        assert.notEqual(await readFile(join(pki, `${f}.key`), 'utf8'), b.key);
        assert.equal(opensslView(crt).notAfter.getTime(), now.getTime() + YEAR);
        const ca =
          f.startsWith('etcd/') || f === 'apiserver-etcd-client'
            ? 'etcd/ca'
            : f === 'front-proxy-client'
              ? 'front-proxy-ca'
              : 'ca';
        assert.ok(opensslVerifies(join(pki, `${ca}.crt`), crt));
        assert.equal(keyKind(crt), keyKind(join(result.backupDir, 'pki', `${f}.crt`)));
        assert.equal((await stat(join(pki, `${f}.key`))).mode & 0o777, 0o600);
        assert.equal((await stat(crt)).mode & 0o777, 0o644);
      });
    }

    test('the old files are in the dated backup directory, byte for byte, 0600', async () => {
      assert.match(
        result.backupDir,
        /\/etc\/kubernetes\/tmp\/bosun-certs-backup-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}$/,
      );
      const saved = await readFile(join(result.backupDir, 'pki', 'apiserver.key'), 'utf8');
      assert.equal(saved, before_['apiserver']?.key);
      assert.equal(
        opensslView(join(result.backupDir, 'pki', 'apiserver.crt')).notAfter.getTime(),
        before_['apiserver']?.notAfter,
      );
      const top = (await readdir(result.backupDir)).sort();
      assert.deepEqual(top, [
        'admin.conf',
        'controller-manager.conf',
        'pki',
        'scheduler.conf',
        'super-admin.conf',
      ]);
      assert.equal((await stat(join(result.backupDir, 'pki', 'apiserver.crt'))).mode & 0o777, 0o600);
    });

    test('certs check afterwards: every renewed row ok, a year left, kubeconfigs keep their users', async () => {
      const rows = await checkCertificates(resolveCertPaths({ root }, '/'), now, 30 * DAY);
      for (const name of RENEWABLE) {
        const r = rows.find((x) => x.name === name);
        assert.equal(r?.status, 'ok', name);
        assert.equal(r?.facts?.notAfter.getTime(), now.getTime() + YEAR, name);
      }
      const admin = rows.find((x) => x.name === 'admin.conf');
      assert.equal(admin?.facts?.subject, 'O = kubeadm:cluster-admins, CN = kubernetes-admin');
      const text = await readFile(join(root, 'etc/kubernetes/admin.conf'), 'utf8');
      assert.match(text, /current-context: kubernetes-admin@kubernetes/);
    });
  });
}

describe('certs renew refusals change nothing', () => {
  let dir = '';
  let root = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bosun-renew-refuse-'));
    root = join(dir, 'host');
    const t = new Date(Math.floor(Date.now() / 1000) * 1000);
    const cas = await generateClusterCas({ now: t, keyAlgorithm: 'ecdsa-p256' });
    await writeControlPlanePki(join(root, 'etc/kubernetes'), join(root, 'var/lib/kubelet/pki'), cas, {
      nodeName: 'cp-1',
      advertiseAddress: '127.0.0.1',
      controlPlaneEndpoint: '127.0.0.1:6443',
      now: t,
      keyAlgorithm: 'ecdsa-p256',
    });
    await rm(join(root, 'etc/kubernetes/pki/front-proxy-ca.key'));
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('missing CA key: one line naming the key, nothing written, no backup dir', async () => {
    const pki = join(root, 'etc/kubernetes/pki');
    const beforeApiserver = await readFile(join(pki, 'apiserver.crt'), 'utf8');
    await assert.rejects(
      renewCertificates({
        names: ['apiserver', 'front-proxy-client'],
        paths: resolveCertPaths({ root }, '/'),
        backupRoot: join(root, 'etc/kubernetes/tmp'),
        validityMs: YEAR,
        now: new Date(),
      }),
      (e: unknown) => {
        assert.ok(isBosunError(e));
        assert.equal(
          e.message,
          `cannot renew front-proxy-client: the CA key ${join(pki, 'front-proxy-ca.key')} is absent (external CA): sign the renewal with that CA instead`,
        );
        assert.equal(e.exitCode, 1);
        assert.match(e.hint ?? '', /^Nothing was changed/);
        return true;
      },
    );
    assert.equal(await readFile(join(pki, 'apiserver.crt'), 'utf8'), beforeApiserver);
    await assert.rejects(stat(join(root, 'etc/kubernetes/tmp')));
  });

  for (const tc of [
    { names: ['kubelet-client'], msg: /^kubelet-client is renewed by the kubelet itself/ },
    { names: ['ca'], msg: /^ca is a certificate authority/ },
    { names: ['apiserverr'], msg: /^unknown certificate "apiserverr"$/ },
    { names: ['all', 'apiserver'], msg: /^"all" cannot be combined/ },
    { names: [], msg: /^specify "all" or at least one certificate name$/ },
  ]) {
    test(`usage: ${JSON.stringify(tc.names)} is refused with exit 2`, () => {
      assert.throws(
        () => resolveRenewNames(tc.names),
        (e: unknown) => isBosunError(e) && e.exitCode === 2 && tc.msg.test(e.message),
      );
    });
  }
});

describe('certs renew on a control plane that joined (no super-admin.conf, as kubeadm join leaves it)', () => {
  let dir = '';
  let root = '';
  let etc = '';
  const WHY = 'kubeadm writes it only on the node where kubeadm init ran';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bosun-renew-joined-'));
    root = join(dir, 'host');
    etc = join(root, 'etc/kubernetes');
    await writeTestControlPlane(root, { nodeName: 'cp-2', joined: true });
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const request = (names: string[]): Parameters<typeof renewCertificates>[0] => ({
    names,
    paths: resolveCertPaths({ root }, '/'),
    backupRoot: join(etc, 'tmp'),
    validityMs: YEAR,
    now: new Date(),
  });

  for (const names of [['super-admin.conf'], ['apiserver', 'super-admin.conf']]) {
    test(`named (${names.join(' ')}): refused, saying why it is absent and how to make one; nothing changed`, async () => {
      const beforeApiserver = await readFile(join(etc, 'pki/apiserver.crt'), 'utf8');
      await assert.rejects(renewCertificates(request(names)), (e: unknown) => {
        assert.ok(isBosunError(e));
        assert.equal(e.exitCode, 1);
        assert.equal(
          e.message,
          `cannot renew super-admin.conf: ${join(etc, 'super-admin.conf')} does not exist; ${WHY}`,
        );
        assert.equal(
          e.hint,
          'Nothing was changed. To make one on this node: kubeadm kubeconfig user --client-name=kubernetes-super-admin --org=system:masters',
        );
        return true;
      });
      assert.equal(await readFile(join(etc, 'pki/apiserver.crt'), 'utf8'), beforeApiserver);
      await assert.rejects(stat(join(etc, 'tmp')));
    });
  }

  test('all: the ten others renewed, super-admin.conf skipped with its path and why, none written', async () => {
    const result = await renewCertificates(request(['all']));
    assert.deepEqual(
      result.renewed.map((r) => r.name).sort(),
      RENEWABLE.filter((n) => n !== 'super-admin.conf').sort(),
    );
    assert.deepEqual(result.skipped, [
      { name: 'super-admin.conf', path: join(etc, 'super-admin.conf'), reason: WHY },
    ]);
    assert.ok(!(await readdir(etc)).includes('super-admin.conf'));
    assert.ok(!(await readdir(result.backupDir)).includes('super-admin.conf'));
  });
});
