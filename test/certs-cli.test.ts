// `bosun certs check` through the CLI, a fresh program per run: exit code, stdout and stderr
// asserted separately, on a sandbox-like node directory made by the generator.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../src/cli/program.ts';
import type { CliContext } from '../src/cli/context.ts';
import { FakeClock } from '../src/common/fake-clock.ts';
import { processExec } from '../src/common/real.ts';
import { generateClusterCas, writeControlPlanePki } from '../src/certs/index.ts';

const DAY = 86_400_000;
const NOW = new Date(Math.floor(Date.now() / 1000) * 1000);

interface Run {
  code: number;
  out: string[];
  err: string[];
}

async function bosun(argv: string[], now: Date = NOW): Promise<Run> {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CliContext = {
    out: { out: (l) => out.push(l), err: (l) => err.push(l), isTTY: false },
    env: {},
    cwd: tmpdir(),
    clock: new FakeClock(now),
    exec: processExec,
    signal: new AbortController().signal,
    self: { execPath: process.execPath, args: [] },
    home: tmpdir(),
  };
  const code = await runCli(argv, ctx);
  return { code, out, err };
}

describe('bosun certs check (CLI)', () => {
  let dir = '';
  let root = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bosun-certs-cli-'));
    root = join(dir, 'nodes', 'cp-1', 'host');
    const cas = await generateClusterCas({ now: NOW, keyAlgorithm: 'ecdsa-p256' });
    await writeControlPlanePki(join(root, 'etc/kubernetes'), join(root, 'var/lib/kubelet/pki'), cas, {
      nodeName: 'cp-1',
      advertiseAddress: '127.0.0.1',
      controlPlaneEndpoint: '127.0.0.1:6443',
      now: NOW,
      keyAlgorithm: 'ecdsa-p256',
      notAfterOverrides: { 'admin.conf': new Date(NOW.getTime() + 20 * DAY) },
    });
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('all fine within --warn-within 10d: exit 0, the kubeadm table on stdout, nothing on stderr', async () => {
    const r = await bosun(['certs', 'check', '--root', root, '--warn-within', '10d']);
    assert.equal(r.code, 0);
    assert.deepEqual(r.err, []);
    assert.equal(
      r.out[0],
      'CERTIFICATE                EXPIRES                  RESIDUAL TIME   CERTIFICATE AUTHORITY   EXTERNALLY MANAGED   STATUS',
    );
    assert.match(
      r.out[1] ?? '',
      /^admin\.conf {17}\w{3} \d{2}, \d{4} \d{2}:\d{2} UTC {3}20d {13}ca {22}no {19}ok$/,
    );
    assert.ok(r.out.includes(''), 'a blank line separates the CA table');
    assert.match(
      r.out.find((l) => l.startsWith('CERTIFICATE AUTHORITY')) ?? '',
      /^CERTIFICATE AUTHORITY {3}EXPIRES {18}RESIDUAL TIME {3}EXTERNALLY MANAGED {3}STATUS$/,
    );
  });

  test('admin.conf inside the default 30d window: exit 3 and one error line naming it', async () => {
    const r = await bosun(['certs', 'check', '--root', root]);
    assert.equal(r.code, 3);
    assert.deepEqual(r.err, [
      'error: 1 certificate expires within 30d: admin.conf',
      'Renew them with `bosun certs renew all` on each control plane, one node at a time.',
    ]);
    assert.ok(r.out.some((l) => /^admin\.conf .* expiring$/.test(l)));
  });

  test('expired: still exit 3, residual time <invalid> as kubeadm prints it', async () => {
    const r = await bosun(['certs', 'check', '--root', root], new Date(NOW.getTime() + 25 * DAY));
    assert.equal(r.code, 3);
    assert.equal(r.err[0], 'error: 1 certificate has expired: admin.conf');
    assert.match(r.out.find((l) => l.startsWith('admin.conf')) ?? '', /<invalid> .* EXPIRED$/);
  });

  test("-o json is kubeadm's CertificateExpirationInfo document", async () => {
    const r = await bosun(['certs', 'check', '--root', root, '-o', 'json', '--warn-within', '1d']);
    assert.equal(r.code, 0);
    const doc = JSON.parse(r.out.join('\n')) as {
      kind: string;
      apiVersion: string;
      certificates: Record<string, unknown>[];
      certificateAuthorities: Record<string, unknown>[];
    };
    assert.equal(doc.kind, 'CertificateExpirationInfo');
    assert.equal(doc.apiVersion, 'output.kubeadm.k8s.io/v1alpha3');
    const admin = doc.certificates[0] ?? {};
    assert.deepEqual(Object.keys(admin).slice(0, 6), [
      'name',
      'expirationDate',
      'residualTime',
      'externallyManaged',
      'caName',
      'missing',
    ]);
    assert.equal(admin['name'], 'admin.conf');
    assert.equal(
      admin['expirationDate'],
      new Date(NOW.getTime() + 20 * DAY).toISOString().replace('.000Z', 'Z'),
    );
    assert.equal(admin['residualTime'], 20 * 86400);
    const ca = doc.certificateAuthorities[0] ?? {};
    assert.equal(ca['name'], 'ca');
    assert.equal('caName' in ca, false, 'caName is omitempty for CAs');
  });

  test('-o prometheus: one expiry gauge per certificate, in Unix seconds', async () => {
    const r = await bosun(['certs', 'check', '--root', root, '-o', 'prometheus', '--warn-within', '1d']);
    assert.equal(r.code, 0);
    const line = r.out.find((l) =>
      l.startsWith('bosun_certificate_expiry_timestamp_seconds{name="admin.conf"'),
    );
    assert.ok(line);
    assert.ok(line.endsWith(` ${Math.floor(NOW.getTime() / 1000) + 20 * 86400}`));
    assert.ok(r.out.includes('# TYPE bosun_certificate_expiry_timestamp_seconds gauge'));
    assert.equal(r.out.filter((l) => l.startsWith('bosun_certificate_ok{')).length, 17);
  });

  test('a missing file: exit 1, a !MISSING! row, one error line', async () => {
    const copy = join(dir, 'copy');
    const cas = await generateClusterCas({ now: NOW, keyAlgorithm: 'ecdsa-p256' });
    await writeControlPlanePki(join(copy, 'etc/kubernetes'), join(copy, 'var/lib/kubelet/pki'), cas, {
      nodeName: 'cp-1',
      advertiseAddress: '127.0.0.1',
      controlPlaneEndpoint: '127.0.0.1:6443',
      now: NOW,
      keyAlgorithm: 'ecdsa-p256',
    });
    // Not super-admin.conf: kubeadm writes that one only where kubeadm init ran (certs-joined.test.ts).
    await rm(join(copy, 'etc/kubernetes/scheduler.conf'));
    await writeFile(join(copy, 'etc/kubernetes/pki/apiserver.key'), 'garbage');
    const r = await bosun(['certs', 'check', '--root', copy]);
    assert.equal(r.code, 1);
    assert.ok(r.out.some((l) => /^!MISSING! scheduler\.conf +missing$/.test(l)));
    assert.deepEqual(r.err, [
      'error: 2 certificates have problems: apiserver (private key ' +
        join(copy, 'etc/kubernetes/pki/apiserver.key') +
        ' is not a readable PEM key), scheduler.conf (missing)',
      'Fix or restore the files named above; `bosun certs renew NAME` re-issues a leaf when its CA key is present.',
    ]);
  });

  test('usage errors exit 2 with the help hint', async () => {
    const bad = await bosun(['certs', 'check', '--root', root, '--warn-within', 'soon']);
    assert.equal(bad.code, 2);
    assert.deepEqual(bad.err, [
      'error: invalid --warn-within "soon": expected a duration such as 30d, 720h or 2w',
      "See 'bosun certs check -h' for help and examples",
    ]);
    const fmt = await bosun(['certs', 'check', '--root', root, '-o', 'wide']);
    assert.equal(fmt.code, 2);
    assert.match(
      fmt.err[0] ?? '',
      /^error: unable to match a printer suitable for the output format "wide", allowed formats are: table,json,yaml,prometheus$/,
    );
  });

  test('no kubeadm node at the root: exit 1, one line and a hint, no stack trace', async () => {
    const r = await bosun(['certs', 'check', '--root', join(dir, 'empty')]);
    assert.equal(r.code, 1);
    assert.equal(r.err.length, 2);
    assert.match(r.err[0] ?? '', /^error: no kubeadm certificates here/);
  });

  test('--served is wired: it needs a kubeconfig (one clear line), and has no prometheus output', async () => {
    const none = await bosun([
      'certs',
      'check',
      '--served',
      '--root',
      root,
      '--kubeconfig',
      join(dir, 'nope.conf'),
    ]);
    assert.notEqual(none.code, 0);
    assert.equal(none.err.length, 2);
    assert.match(none.err[0] ?? '', /^error: .*nope\.conf/);
    assert.deepEqual(none.out, []);
    const prom = await bosun(['certs', 'check', '--served', '--root', root, '-o', 'prometheus']);
    assert.equal(prom.code, 2);
    assert.match(prom.err[0] ?? '', /allowed formats are: table,json,yaml$/);
  });
});
