// Issue 18: what sits at a certificate's path need not be a certificate. A FIFO there used to hang
// `certs check` (a read of a FIFO waits for a writer) and a 300 MB file was read whole. Only
// regular files of a sane size are read; anything else is a row that says what it is, and a
// renewal refuses it, changing nothing.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { constants } from 'node:fs';
import { mkdtemp, open, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test, type TestContext } from 'node:test';
import { isBosunError } from '../common/errors.ts';
import { checkCertificates, type CheckedRow } from './check.ts';
import { MAX_PKI_FILE_BYTES, readPkiFile } from './files.ts';
import { resolveCertPaths } from './paths.ts';
import { renewCertificates } from './renew.ts';
import { localNodeName } from './served.ts';
import { writeTestControlPlane } from './testing/node.ts';

const DAY = 86_400_000;
const NOW = new Date(Math.floor(Date.now() / 1000) * 1000);

/** Makes a FIFO; if a read of it ever blocks, the test's end opens it for writing to release it. */
function fifo(t: TestContext, path: string): void {
  execFileSync('mkfifo', [path]);
  t.after(async () => {
    try {
      const fh = await open(path, constants.O_WRONLY | constants.O_NONBLOCK);
      await fh.close();
    } catch {
      // ENXIO: nobody is reading it, as it should be.
    }
  });
}

const row = (rows: readonly CheckedRow[], name: string): CheckedRow => {
  const r = rows.find((x) => x.name === name);
  assert.ok(r, `row ${name}`);
  return r;
};

describe('only regular files of a sane size are read', () => {
  let dir = '';
  let root = '';
  let pki = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bosun-certs-files-'));
    root = join(dir, 'host');
    pki = join(root, 'etc/kubernetes/pki');
    await writeTestControlPlane(root, { now: NOW });
  });
  after(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  test('readPkiFile: a regular file is read; a FIFO, a directory, a huge file and a missing one are not', async (t) => {
    const ok = await readPkiFile(join(pki, 'ca.crt'));
    assert.equal(ok.kind, 'ok');
    const pipe = join(dir, 'pipe');
    fifo(t, pipe);
    assert.deepEqual(await readPkiFile(pipe), {
      kind: 'error',
      message: `cannot read ${pipe}: it is a FIFO, not a regular file`,
    });
    assert.deepEqual(await readPkiFile(dir), {
      kind: 'error',
      message: `cannot read ${dir}: it is a directory`,
    });
    const big = join(dir, 'big');
    await writeFile(big, '');
    await truncate(big, MAX_PKI_FILE_BYTES + 1);
    assert.deepEqual(await readPkiFile(big), {
      kind: 'error',
      message: `cannot read ${big}: it is 1.0 MiB, larger than any certificate, key or kubeconfig (1 MiB at most): not read`,
    });
    assert.deepEqual(await readPkiFile(join(dir, 'nope')), { kind: 'missing' });
    // kubelet-client-current.pem is a symlink: the file it names is what counts.
    const link = join(dir, 'link');
    await symlink(join(pki, 'ca.crt'), link);
    assert.equal((await readPkiFile(link)).kind, 'ok');
  });

  test('certs check: apiserver.crt a FIFO, apiserver-etcd-client.crt 300 MB, admin.conf a FIFO: rows with their reasons', async (t) => {
    const copy = join(dir, 'bad');
    execFileSync('cp', ['-a', root, copy]);
    const bad = join(copy, 'etc/kubernetes');
    await rm(join(bad, 'pki/apiserver.crt'));
    fifo(t, join(bad, 'pki/apiserver.crt'));
    await rm(join(bad, 'admin.conf'));
    fifo(t, join(bad, 'admin.conf'));
    await writeFile(join(bad, 'pki/apiserver-etcd-client.crt'), '');
    await truncate(join(bad, 'pki/apiserver-etcd-client.crt'), 300 * 1024 * 1024);

    const rows = await checkCertificates(resolveCertPaths({ root: copy }, '/'), NOW, 30 * DAY);
    assert.equal(row(rows, 'apiserver').status, 'invalid');
    assert.deepEqual(row(rows, 'apiserver').problems, [
      {
        code: 'unreadable',
        message: `cannot read ${join(bad, 'pki/apiserver.crt')}: it is a FIFO, not a regular file`,
      },
    ]);
    assert.deepEqual(row(rows, 'admin.conf').problems, [
      {
        code: 'unreadable',
        message: `cannot read ${join(bad, 'admin.conf')}: it is a FIFO, not a regular file`,
      },
    ]);
    assert.deepEqual(row(rows, 'apiserver-etcd-client').problems, [
      {
        code: 'unreadable',
        message: `cannot read ${join(bad, 'pki/apiserver-etcd-client.crt')}: it is 300.0 MiB, larger than any certificate, key or kubeconfig (1 MiB at most): not read`,
      },
    ]);
    assert.equal(row(rows, 'front-proxy-client').status, 'ok', 'the other rows are judged as usual');
  });

  test('a CA key or a served file that is a FIFO does not hang either', async (t) => {
    const copy = join(dir, 'bad-ca');
    execFileSync('cp', ['-a', root, copy]);
    const p = join(copy, 'etc/kubernetes/pki');
    await rm(join(p, 'etcd/ca.key'));
    fifo(t, join(p, 'etcd/ca.key'));
    await rm(join(p, 'etcd/server.crt'));
    fifo(t, join(p, 'etcd/server.crt'));
    const rows = await checkCertificates(resolveCertPaths({ root: copy }, '/'), NOW, 30 * DAY);
    assert.match(row(rows, 'etcd-ca').problems[0]?.message ?? '', /etcd\/ca\.key: it is a FIFO/);
    // The node's name then comes from the kubelet's client certificate.
    assert.equal(await localNodeName(resolveCertPaths({ root: copy }, '/')), 'cp-1');
  });

  test('certs renew: a FIFO where the certificate is refuses, changing nothing', async (t) => {
    const copy = join(dir, 'bad-renew');
    execFileSync('cp', ['-a', root, copy]);
    const p = join(copy, 'etc/kubernetes/pki');
    const before = await readFile(join(p, 'apiserver.key'), 'utf8');
    await rm(join(p, 'front-proxy-client.crt'));
    fifo(t, join(p, 'front-proxy-client.crt'));
    await assert.rejects(
      renewCertificates({
        names: ['apiserver', 'front-proxy-client'],
        paths: resolveCertPaths({ root: copy }, '/'),
        backupRoot: join(copy, 'backup'),
        validityMs: 365 * DAY,
        now: NOW,
      }),
      (e: unknown) => {
        assert.ok(isBosunError(e));
        assert.equal(
          e.message,
          `cannot renew front-proxy-client: the current certificate ${join(p, 'front-proxy-client.crt')}: it is a FIFO, not a regular file (renewal copies its subject and SANs)`,
        );
        return true;
      },
    );
    assert.equal(await readFile(join(p, 'apiserver.key'), 'utf8'), before);
  });
});
