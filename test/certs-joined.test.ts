// Issue 18, "Real clusters": kubeadm (v1.29 and later, KEP 4214) writes super-admin.conf only on
// the node where `kubeadm init` ran; the control planes that joined never get one, and kubeadm's
// `certs renew all` skips a missing file. On such a node `bosun certs check` said
// `!MISSING! super-admin.conf` and exited 1, and `bosun certs renew all` refused to renew
// anything. An HA sandbox laid out as kubeadm lays one out (super-admin.conf on cp-1 only), and
// the two commands run on cp-2.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { bosunInProcess } from './support/cli-in-process.ts';
import { startTestSandbox, type TestSandbox } from './support/sandbox.ts';

const bosun = bosunInProcess;

interface CheckJson {
  certificates: Record<string, unknown>[];
  certificateAuthorities: Record<string, unknown>[];
}

const WHY = 'kubeadm writes it only on the node where kubeadm init ran';
const MAKE_ONE = 'kubeadm kubeconfig user --client-name=kubernetes-super-admin --org=system:masters';

describe('HA: three control planes, super-admin.conf on the init node only, bosun on a joined one', () => {
  let s: TestSandbox;
  let root = '';
  let etcK = '';

  before(async () => {
    s = await startTestSandbox({ controlPlanes: 3, workers: 0 });
    root = join(s.dir, 'nodes/cp-2/host');
    etcK = join(root, 'etc/kubernetes');
  });
  after(async () => {
    await s?.stop();
  });

  test('the sandbox lays out its nodes as kubeadm init and kubeadm join do: super-admin.conf on cp-1 only', () => {
    for (const [node, has] of [
      ['cp-1', true],
      ['cp-2', false],
      ['cp-3', false],
    ] as const) {
      const etc = join(s.dir, 'nodes', node, 'host/etc/kubernetes');
      assert.equal(existsSync(join(etc, 'super-admin.conf')), has, node);
      assert.equal(existsSync(join(etc, 'admin.conf')), true, node);
    }
  });

  test('certs check on cp-2: super-admin.conf is a row that says why it is absent and how to make one; exit 0', async () => {
    const r = await bosun(s.dir, ['certs', 'check', '--root', root]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.err, '');
    assert.doesNotMatch(r.out, /MISSING/);
    assert.match(r.out, new RegExp(`^super-admin\\.conf {5,}absent: ${WHY}; to make one: ${MAKE_ONE}$`, 'm'));

    const json = await bosun(s.dir, ['certs', 'check', '--root', root, '-o', 'json']);
    assert.equal(json.code, 0, json.err);
    const doc = JSON.parse(json.out) as CheckJson;
    const superAdmin = doc.certificates.find((c) => c['name'] === 'super-admin.conf');
    // kubeadm's fields as kubeadm prints them for a missing file, then bosun's verdict and why.
    assert.deepEqual(superAdmin, {
      name: 'super-admin.conf',
      expirationDate: null,
      residualTime: 0,
      externallyManaged: false,
      missing: true,
      status: 'absent',
      path: join(etcK, 'super-admin.conf'),
      absence: { reason: WHY, hint: MAKE_ONE },
      problems: [],
    });
    assert.deepEqual(
      [...doc.certificates, ...doc.certificateAuthorities]
        .filter((c) => c['status'] !== 'ok')
        .map((c) => c['name']),
      ['super-admin.conf'],
    );
    assert.ok(
      doc.certificates.every((c) => c['name'] === 'super-admin.conf' || !('absence' in c)),
      'only an absent row has an absence',
    );

    // A node-exporter alert on bosun_certificate_ok == 0 does not fire for a file kubeadm never wrote.
    const prom = await bosun(s.dir, ['certs', 'check', '--root', root, '-o', 'prometheus']);
    assert.equal(prom.code, 0, prom.err);
    assert.doesNotMatch(prom.out, /super-admin/);
    assert.doesNotMatch(prom.out, /^bosun_certificate_ok\{.*\} 0$/m);
  });

  test('certs renew super-admin.conf on cp-2: one clear error, exit 1, nothing changed', async () => {
    const r = await bosun(s.dir, ['certs', 'renew', 'super-admin.conf', '--root', root, '--no-restart']);
    assert.equal(r.code, 1, r.err);
    assert.equal(r.out, '');
    assert.deepEqual(r.err.split('\n'), [
      `error: cannot renew super-admin.conf: ${join(etcK, 'super-admin.conf')} does not exist; ${WHY}`,
      `Nothing was changed. To make one on this node: ${MAKE_ONE}`,
    ]);
    assert.ok(
      !existsSync(join(etcK, 'tmp')) ||
        !readdirSync(join(etcK, 'tmp')).some((f) => f.startsWith('bosun-certs-backup-')),
      'no backup was made',
    );
  });

  test('certs renew all on cp-2: the other ten renewed, super-admin.conf skipped and said so, restarted and served', async () => {
    const before = readFileSync(join(etcK, 'pki/apiserver.crt'), 'utf8');
    const r = await bosun(s.dir, ['certs', 'renew', 'all', '--root', root, '--kubeconfig', s.kubeconfig]);
    assert.equal(r.code, 0, r.err + '\n' + s.logs.slice(-30).join('\n'));
    const lines = r.out.split('\n');
    assert.equal(lines.filter((l) => / renewed \(expires /.test(l)).length, 10);
    assert.ok(
      lines.includes(`super-admin.conf skipped: ${join(etcK, 'super-admin.conf')} does not exist; ${WHY}`),
      r.out,
    );
    assert.match(r.out, /^Certificates renewed and served on cp-2\./m);
    assert.notEqual(readFileSync(join(etcK, 'pki/apiserver.crt'), 'utf8'), before);
    assert.equal(existsSync(join(etcK, 'super-admin.conf')), false, 'renew makes no super-admin.conf');

    const check = await bosun(s.dir, ['certs', 'check', '--root', root]);
    assert.equal(check.code, 0, check.err);
  });
});
