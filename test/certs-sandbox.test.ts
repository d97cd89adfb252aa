// Issue 5 end to end on the sandbox: a cluster whose certificates expire in days (the sandbox's PKI
// generator with per-certificate notAfter), `bosun certs check` flagging them, a renewal without a
// restart that --served catches, `bosun certs renew all` with the kubeadm-style restart of the
// static pods, and afterwards the API server and etcd serving the new certificates (checked by
// bosun and, independently, by `openssl s_client`), the real kubectl and `bosun backup` still
// working, the old files in the backup directory. Then an HA sandbox: cp-1 renewed, etcd
// restarted last and only while its quorum holds. One sandbox per describe.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { runCli } from '../src/cli/program.ts';
import { captureCtx } from './support/etcd-backup.ts';
import { KUBECTL, eventually, run, startTestSandbox, type TestSandbox } from './support/sandbox.ts';

const DAY = 86_400_000;
/** What the certificates made to expire soon are given: a few days. */
const SOON_MS = 3 * DAY;

interface ServedItem {
  node: string;
  component: string;
  endpoint: string;
  expirationDate: string | null;
  serialNumber: string | null;
  sameAsDisk: boolean | null;
  status: string;
}

interface CheckJson {
  certificates: { name: string; expirationDate: string | null; status: string; missing: boolean }[];
}

/** `bosun ARGS` through the real CLI in this process; no KUBECONFIG from the environment. */
async function bosun(cwd: string, args: string[]): Promise<{ code: number; out: string; err: string }> {
  const c = captureCtx({ cwd });
  c.ctx.env = { ...c.ctx.env, KUBECONFIG: '' };
  const code = await runCli(args, c.ctx);
  return { code, out: c.out.join('\n'), err: c.err.join('\n') };
}

/** The real kubectl with a node's own kubeconfig (not the sandbox's admin.conf), HOME set to home. */
function kubectlWith(kubeconfig: string, home: string, args: string[]): ReturnType<typeof run> {
  return run(KUBECTL, ['--kubeconfig', kubeconfig, '--cache-dir', join(home, 'cache'), ...args], {
    env: { ...process.env, HOME: home, KUBECONFIG: '' },
  });
}

function errorLines(text: string): string[] {
  return text.split('\n').filter((l) => l.startsWith('error: '));
}

/** Serial numbers compared as openssl prints them (upper case hex, no leading zeros). */
function serial(hex: string | null | undefined): string {
  return (hex ?? '').replace(/^(serial=)?0*/i, '').toUpperCase();
}

/** openssl's view of a certificate file: serial and notAfter. */
async function opensslFile(file: string): Promise<{ serial: string; notAfter: Date }> {
  return opensslPem(readFileSync(file, 'utf8'));
}

async function opensslPem(pem: string): Promise<{ serial: string; notAfter: Date }> {
  const r = await run('openssl', ['x509', '-noout', '-serial', '-enddate'], { input: pem });
  assert.equal(r.code, 0, r.stderr);
  const s = /serial=([0-9A-F]+)/i.exec(r.stdout)?.[1];
  const e = /notAfter=(.+)/.exec(r.stdout)?.[1];
  assert.ok(s && e, r.stdout);
  return { serial: serial(s), notAfter: new Date(e) };
}

/** What a server presents in a TLS handshake, seen by `openssl s_client` (not by bosun). */
async function opensslServed(
  port: number,
  client?: { cert: string; key: string },
): Promise<{ serial: string; notAfter: Date }> {
  const r = await run(
    'openssl',
    [
      's_client',
      '-connect',
      `127.0.0.1:${port}`,
      ...(client ? ['-cert', client.cert, '-key', client.key] : []),
    ],
    { input: '', timeoutMs: 20_000 },
  );
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(r.stdout)?.[0];
  assert.ok(pem, `openssl s_client 127.0.0.1:${port} showed no certificate: ${r.stderr}`);
  return opensslPem(pem);
}

function near(actual: string | Date | null | undefined, expected: Date, what: string): void {
  assert.ok(actual, `${what}: no date`);
  const ms = Math.abs(new Date(actual).getTime() - expected.getTime());
  assert.ok(ms < 2000, `${what}: ${String(actual)} is not ${expected.toISOString()}`);
}

function row(items: ServedItem[], node: string, component: string): ServedItem {
  const r = items.find((i) => i.node === node && i.component === component);
  assert.ok(r, `no served row for ${component} on ${node}: ${JSON.stringify(items)}`);
  return r;
}

/** The order of the restart's steps on stderr (not its "waiting for" lines, which depend on timing). */
function restartSteps(err: string): string[] {
  return err
    .split('\n')
    .filter((l) => l.startsWith('[restart] ') && !l.startsWith('[restart] waiting for '))
    .map((l) =>
      l
        .replace(/^\[restart\] /, '')
        .replace(/ out of .*$/, '')
        .replace(/-cp-\d+:/, ':'),
    );
}

const KUBEADM_RESTART = [
  'kube-apiserver: moving kube-apiserver.yaml',
  'kube-apiserver: manifest moved back',
  'kube-apiserver: Ready',
  'kube-controller-manager: moving kube-controller-manager.yaml',
  'kube-controller-manager: manifest moved back',
  'kube-controller-manager: Ready',
  'kube-scheduler: moving kube-scheduler.yaml',
  'kube-scheduler: manifest moved back',
  'kube-scheduler: Ready',
  'etcd: moving etcd.yaml',
  'etcd: manifest moved back',
  'etcd: Ready',
];

/** For a failure message: the sandbox's last log lines and the tail of each etcd member's log. */
function diagnostics(s: TestSandbox, nodes: string[]): string {
  const tail = (f: string): string =>
    existsSync(f) ? readFileSync(f, 'utf8').split('\n').slice(-15).join('\n') : '';
  return [
    '\n--- sandbox log',
    ...s.logs.slice(-30),
    ...nodes.map((n) => `--- etcd on ${n}\n${tail(join(s.sb.layout.nodeLogDir(n), 'etcd.log'))}`),
  ].join('\n');
}

function nodesReady(nodes: {
  items: { status?: { conditions?: { type: string; status: string }[] } }[];
}): boolean {
  return nodes.items.every((n) => n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True');
}

describe('certificates that expire in days, on a one-control-plane sandbox', () => {
  let s: TestSandbox;
  let root = '';
  let etcK = '';
  let soon = new Date();
  const soonNames = ['admin.conf', 'apiserver', 'apiserver-etcd-client', 'etcd-peer', 'etcd-server'];
  let kc: string[] = [];
  const ports = { apiserver: 0, etcdClient: 0 };
  let etcdClient = { cert: '', key: '' };
  /** The API server's certificate as first served. */
  let firstServed = { serial: '', notAfter: new Date() };

  before(async () => {
    soon = new Date(Math.floor((Date.now() + SOON_MS) / 1000) * 1000);
    s = await startTestSandbox({
      controlPlanes: 1,
      workers: 1,
      pkiNotAfterOverrides: Object.fromEntries(soonNames.map((n) => [n, soon])),
    });
    root = join(s.dir, 'nodes/cp-1/host');
    etcK = join(root, 'etc/kubernetes');
    kc = ['--kubeconfig', s.kubeconfig];
    const cp = s.sb.nodes.find((n) => n.name === 'cp-1');
    ports.apiserver = cp?.apiserverPort ?? 0;
    ports.etcdClient = cp?.etcdClientPort ?? 0;
    etcdClient = {
      cert: join(etcK, 'pki/apiserver-etcd-client.crt'),
      key: join(etcK, 'pki/apiserver-etcd-client.key'),
    };
  });
  after(async () => {
    await s?.stop();
  });

  test('certs check flags the certificates that expire in days: exit 3, one line naming them', async () => {
    const r = await bosun(s.dir, ['certs', 'check', '--root', root, '-o', 'json']);
    assert.equal(r.code, 3, r.err);
    assert.deepEqual(errorLines(r.err), [`error: 5 certificates expire within 30d: ${soonNames.join(', ')}`]);
    const doc = JSON.parse(r.out) as CheckJson;
    assert.equal(doc.certificates.length, 14);
    for (const c of doc.certificates) {
      assert.equal(c.missing, false, c.name);
      if (soonNames.includes(c.name)) {
        assert.equal(c.status, 'expiring', c.name);
        near(c.expirationDate, soon, c.name);
      } else {
        assert.equal(c.status, 'ok', c.name);
        assert.ok(new Date(c.expirationDate ?? 0).getTime() - Date.now() > 300 * DAY, c.name);
      }
    }
  });

  test('--served: kube-apiserver and etcd serve the certificates on disk that expire in days (exit 3)', async () => {
    const r = await bosun(s.dir, ['certs', 'check', '--served', '--root', root, ...kc, '-o', 'json']);
    assert.equal(r.code, 3, r.err);
    assert.match(
      errorLines(r.err)[0] ?? '',
      /^error: 3 served certificates expired or expiring: kube-apiserver on cp-1, etcd-client on cp-1, etcd-peer on cp-1$/,
    );
    const items = (JSON.parse(r.out) as { items: ServedItem[] }).items;
    assert.deepEqual(
      items.map((i) => `${i.node} ${i.component}`),
      ['cp-1 kube-apiserver', 'cp-1 etcd-client', 'cp-1 etcd-peer', 'cp-1 kubelet', 'worker-1 kubelet'],
    );
    for (const c of ['kube-apiserver', 'etcd-client', 'etcd-peer']) {
      const i = row(items, 'cp-1', c);
      assert.equal(i.status, 'expiring', c);
      assert.equal(i.sameAsDisk, true, c);
      near(i.expirationDate, soon, c);
    }
    assert.equal(row(items, 'cp-1', 'kube-apiserver').endpoint, `127.0.0.1:${ports.apiserver}`);
    assert.equal(row(items, 'cp-1', 'kubelet').status, 'ok');
    assert.equal(row(items, 'worker-1', 'kubelet').sameAsDisk, null);
    // What openssl sees on the wire is what bosun reported.
    firstServed = await opensslServed(ports.apiserver);
    assert.equal(firstServed.serial, serial(row(items, 'cp-1', 'kube-apiserver').serialNumber));
    near(firstServed.notAfter, soon, 'openssl s_client kube-apiserver');
    const etcd = await opensslServed(ports.etcdClient, etcdClient);
    assert.equal(etcd.serial, serial(row(items, 'cp-1', 'etcd-client').serialNumber));
  });

  test('renewed without a restart: kube-apiserver still serves the old certificate, and --served says so (exit 1)', async () => {
    const renew = await bosun(s.dir, ['certs', 'renew', 'apiserver', '--no-restart', '--root', root]);
    assert.equal(renew.code, 0, renew.err);
    assert.match(renew.out, /^apiserver renewed \(expires /m);
    assert.match(
      renew.out,
      /^Done renewing certificates\. You must restart the kube-apiserver, so that they can use the new certificates\.$/m,
    );

    const r = await bosun(s.dir, ['certs', 'check', '--served', '--root', root, ...kc, '-o', 'json']);
    assert.equal(r.code, 1, r.err);
    assert.deepEqual(errorLines(r.err), [
      'error: 1 served certificate needs attention: kube-apiserver on cp-1 (older than on disk)',
    ]);
    assert.match(r.err, /renewed without a restart: restart that static pod/);
    const items = (JSON.parse(r.out) as { items: ServedItem[] }).items;
    const api = row(items, 'cp-1', 'kube-apiserver');
    assert.equal(api.sameAsDisk, false);
    assert.equal(api.status, 'stale');
    assert.equal(row(items, 'cp-1', 'etcd-client').sameAsDisk, true);
    // Still the first certificate on the wire; a new one on disk.
    assert.equal((await opensslServed(ports.apiserver)).serial, firstServed.serial);
    assert.notEqual((await opensslFile(join(etcK, 'pki/apiserver.crt'))).serial, firstServed.serial);
  });

  test('renew all: new files, static pods restarted the kubeadm way (etcd last), the new certificates served', async () => {
    const old = {
      apiserver: readFileSync(join(etcK, 'pki/apiserver.crt'), 'utf8'),
      etcdServer: readFileSync(join(etcK, 'pki/etcd/server.crt'), 'utf8'),
      etcdServerKey: readFileSync(join(etcK, 'pki/etcd/server.key'), 'utf8'),
      admin: readFileSync(join(etcK, 'admin.conf'), 'utf8'),
    };
    const etcdServedBefore = await opensslServed(ports.etcdClient, etcdClient);

    const r = await bosun(s.dir, ['certs', 'renew', 'all', '--root', root, ...kc]);
    assert.equal(r.code, 0, r.err + diagnostics(s, ['cp-1']));
    const renewed = r.out.split('\n').filter((l) => / renewed \(expires /.test(l));
    assert.equal(renewed.length, 11, r.out);
    assert.deepEqual(restartSteps(r.err), KUBEADM_RESTART);
    assert.match(r.err, /^WARNING: single-member etcd: the API is unavailable while it restarts$/m);
    assert.match(
      r.out,
      /^Certificates renewed and served on cp-1\. Renew the next control plane only after this one is healthy/m,
    );

    // Served now: the files on disk, valid for a year; openssl agrees on the wire.
    const served = await bosun(s.dir, ['certs', 'check', '--served', '--root', root, ...kc, '-o', 'json']);
    assert.equal(served.code, 0, served.err);
    const items = (JSON.parse(served.out) as { items: ServedItem[] }).items;
    for (const c of ['kube-apiserver', 'etcd-client', 'etcd-peer']) {
      const i = row(items, 'cp-1', c);
      assert.equal(i.sameAsDisk, true, c);
      assert.equal(i.status, 'ok', c);
      assert.ok(new Date(i.expirationDate ?? 0).getTime() - Date.now() > 364 * DAY, c);
    }
    const apiWire = await opensslServed(ports.apiserver);
    const apiDisk = await opensslFile(join(etcK, 'pki/apiserver.crt'));
    assert.equal(apiWire.serial, apiDisk.serial);
    assert.equal(apiWire.serial, serial(row(items, 'cp-1', 'kube-apiserver').serialNumber));
    assert.notEqual(apiWire.serial, firstServed.serial);
    const etcdWire = await opensslServed(ports.etcdClient, etcdClient);
    assert.equal(etcdWire.serial, (await opensslFile(join(etcK, 'pki/etcd/server.crt'))).serial);
    assert.notEqual(etcdWire.serial, etcdServedBefore.serial);

    const check = await bosun(s.dir, ['certs', 'check', '--root', root]);
    assert.equal(check.code, 0, check.err);

    // The old files, in the dated backup directory named on stdout (0700, files 0600).
    const backupDir = /^previous files saved in (.+)$/m.exec(r.out)?.[1] ?? '';
    assert.match(
      backupDir,
      new RegExp(`^${join(etcK, 'tmp')}/bosun-certs-backup-\\d{4}-\\d\\d-\\d\\d-\\d\\d-\\d\\d-\\d\\d`),
    );
    assert.equal(statSync(backupDir).mode & 0o777, 0o700);
    assert.equal(readFileSync(join(backupDir, 'pki/apiserver.crt'), 'utf8'), old.apiserver);
    assert.equal(readFileSync(join(backupDir, 'pki/etcd/server.crt'), 'utf8'), old.etcdServer);
    assert.equal(readFileSync(join(backupDir, 'pki/etcd/server.key'), 'utf8'), old.etcdServerKey);
    assert.equal(readFileSync(join(backupDir, 'admin.conf'), 'utf8'), old.admin);
    assert.equal(statSync(join(backupDir, 'pki/etcd/server.key')).mode & 0o777, 0o600);
    assert.ok(!existsSync(join(etcK, 'tmp/bosun-restart/etcd.yaml')), 'no manifest left parked');
    assert.deepEqual(readdirSync(join(etcK, 'manifests')).sort(), [
      'etcd.yaml',
      'kube-apiserver.yaml',
      'kube-controller-manager.yaml',
      'kube-scheduler.yaml',
    ]);
  });

  test('afterwards the real kubectl (old and renewed admin.conf) and bosun backup still work', async () => {
    const nodes = await eventually(
      'every node Ready again',
      async () => {
        const n = await s.kubectlJson<{
          items: { status?: { conditions?: { type: string; status: string }[] } }[];
        }>(['get', 'nodes']);
        return nodesReady(n) && n;
      },
      30_000,
    );
    assert.equal(nodes.items.length, 2);
    const k = await kubectlWith(join(etcK, 'admin.conf'), join(s.dir, 'kubectl-home-renewed'), [
      'get',
      'pods',
      '-n',
      'kube-system',
      '-o',
      'name',
    ]);
    assert.equal(k.code, 0, k.stderr);
    assert.match(k.stdout, /^pod\/etcd-cp-1$/m);
    assert.match(k.stdout, /^pod\/kube-apiserver-cp-1$/m);

    const b = await bosun(s.dir, [
      'backup',
      '--endpoints',
      `https://127.0.0.1:${ports.etcdClient}`,
      '--pki-dir',
      join(etcK, 'pki'),
      '--dir',
      join(s.dir, 'backups'),
      '-o',
      'name',
    ]);
    assert.equal(b.code, 0, b.err);
    assert.ok(existsSync(b.out.trim()), b.out);
  });
});

describe('HA: three control planes, cp-1 renewed on its own', () => {
  let s: TestSandbox;
  let root = '';
  let etcK = '';
  let kc: string[] = [];

  before(async () => {
    const soon = new Date(Date.now() + SOON_MS);
    s = await startTestSandbox({
      controlPlanes: 3,
      workers: 0,
      pkiNotAfterOverrides: { apiserver: soon, 'etcd-server': soon, 'etcd-peer': soon },
    });
    root = join(s.dir, 'nodes/cp-1/host');
    etcK = join(root, 'etc/kubernetes');
    kc = ['--kubeconfig', s.kubeconfig];
  });
  after(async () => {
    await s?.stop();
  });

  const etcdReady = async (node: string): Promise<string> => {
    const p = await s.kubectlJson<{ status?: { conditions?: { type: string; status: string }[] } }>([
      '-n',
      'kube-system',
      'get',
      'pod',
      `etcd-${node}`,
    ]);
    return p.status?.conditions?.find((c) => c.type === 'Ready')?.status ?? '';
  };

  test('with one other etcd member down, a renewal that must restart etcd is refused before anything changes', async (t) => {
    await s.sb.stopEtcd('cp-2');
    t.after(async () => {
      await s.sb.startEtcd('cp-2');
      await eventually('etcd-cp-2 Ready again', async () => (await etcdReady('cp-2')) === 'True', 30_000);
    });
    await eventually('etcd-cp-2 not Ready', async () => (await etcdReady('cp-2')) === 'False', 20_000);
    const before = readFileSync(join(etcK, 'pki/etcd/server.crt'), 'utf8');

    const r = await bosun(s.dir, ['certs', 'renew', 'etcd-server', 'etcd-peer', '--root', root, ...kc]);
    assert.equal(r.code, 1, r.err);
    assert.deepEqual(errorLines(r.err), [
      'error: not renewing: only 1 of the other 2 etcd members are Ready; restarting etcd-cp-1 would lose quorum (2 of 3 needed)',
    ]);
    assert.match(r.err, /Nothing was changed/);
    assert.equal(r.out, '');
    assert.equal(readFileSync(join(etcK, 'pki/etcd/server.crt'), 'utf8'), before);
    assert.ok(
      !existsSync(join(etcK, 'tmp')) ||
        !readdirSync(join(etcK, 'tmp')).some((f) => f.startsWith('bosun-certs-backup-')),
    );
  });

  test('renew all on cp-1: etcd restarted last while its quorum holds; the other control planes still serve their own', async () => {
    await eventually(
      'every etcd member Ready',
      async () => (await Promise.all(['cp-1', 'cp-2', 'cp-3'].map(etcdReady))).every((r) => r === 'True'),
      30_000,
    );
    const r = await bosun(s.dir, ['certs', 'renew', 'all', '--root', root, ...kc]);
    assert.equal(r.code, 0, r.err + diagnostics(s, ['cp-1', 'cp-2', 'cp-3']));
    assert.deepEqual(restartSteps(r.err), KUBEADM_RESTART);
    assert.doesNotMatch(r.err, /single-member|WARNING/);
    assert.match(
      r.out,
      /Renew the next control plane only after this one is healthy \(bosun certs check --served\)\.$/m,
    );

    const served = await bosun(s.dir, ['certs', 'check', '--served', '--root', root, ...kc, '-o', 'json']);
    // cp-2 and cp-3 are renewed on their own nodes: until then they still expire in days.
    assert.equal(served.code, 3, served.err);
    assert.match(
      errorLines(served.err)[0] ?? '',
      /^error: 6 served certificates expired or expiring: kube-apiserver on cp-2, /,
    );
    const items = (JSON.parse(served.out) as { items: ServedItem[] }).items;
    for (const c of ['kube-apiserver', 'etcd-client', 'etcd-peer']) {
      assert.equal(row(items, 'cp-1', c).status, 'ok', c);
      assert.equal(row(items, 'cp-1', c).sameAsDisk, true, c);
      assert.equal(row(items, 'cp-2', c).status, 'expiring', c);
      assert.equal(row(items, 'cp-2', c).sameAsDisk, null, c);
    }

    // The etcd cluster is whole: every member answers etcdctl over TLS with the renewed client cert.
    const endpoints = s.sb.nodes
      .filter((n) => n.role === 'control-plane')
      .map((n) => `https://127.0.0.1:${n.etcdClientPort ?? 0}`);
    const health = await run(
      'etcdctl',
      [
        '--endpoints',
        endpoints.join(','),
        '--cacert',
        join(etcK, 'pki/etcd/ca.crt'),
        '--cert',
        join(etcK, 'pki/etcd/healthcheck-client.crt'),
        '--key',
        join(etcK, 'pki/etcd/healthcheck-client.key'),
        'endpoint',
        'health',
      ],
      { env: { ...process.env, ETCDCTL_API: '3' } },
    );
    assert.equal(health.code, 0, health.stderr + health.stdout);
    assert.equal(
      (health.stdout + health.stderr).match(/is healthy/g)?.length,
      3,
      health.stdout + health.stderr,
    );
    for (const n of ['cp-1', 'cp-2', 'cp-3']) assert.equal(await etcdReady(n), 'True', n);
  });
});

describe("already expired: kube-apiserver's certificate and admin.conf (kubectl is locked out)", () => {
  let s: TestSandbox;
  let root = '';
  let etcK = '';

  before(async () => {
    // Expired a minute ago (the generator's leaves start with their CA, five minutes back).
    const expired = new Date(Date.now() - 60_000);
    s = await startTestSandbox({
      controlPlanes: 1,
      workers: 0,
      pkiNotAfterOverrides: { apiserver: expired, 'admin.conf': expired },
    });
    root = join(s.dir, 'nodes/cp-1/host');
    etcK = join(root, 'etc/kubernetes');
  });
  after(async () => {
    await s?.stop();
  });

  test("renew all with the node's own admin.conf: kube-apiserver restarted with the new certificate, kubectl back", async () => {
    const locked = await s.kubectl(['get', 'nodes']);
    assert.equal(locked.code, 1);
    assert.match(locked.stderr, /x509: certificate has expired/);
    const check = await bosun(s.dir, ['certs', 'check', '--root', root]);
    assert.equal(check.code, 3, check.err);
    assert.deepEqual(errorLines(check.err), ['error: 2 certificates have expired: admin.conf, apiserver']);

    // No --kubeconfig, no KUBECONFIG, no ~/.kube/config: kubeadm's way, the node's admin.conf,
    // expired until the renewal rewrites it.
    const r = await bosun(s.dir, ['certs', 'renew', 'all', '--root', root, '--timeout', '60s']);
    assert.equal(r.code, 0, r.err + diagnostics(s, ['cp-1']));
    assert.match(
      r.err,
      /^WARNING: cannot check etcd's quorum before renewing \(.*certificate has expired\); it is checked again before etcd restarts$/m,
    );
    assert.deepEqual(restartSteps(r.err), KUBEADM_RESTART);

    const k = await kubectlWith(join(etcK, 'admin.conf'), join(s.dir, 'kubectl-home-renewed'), [
      'get',
      'nodes',
      '-o',
      'name',
    ]);
    assert.equal(k.code, 0, k.stderr);
    assert.equal(k.stdout, 'node/cp-1\n');
    const served = await bosun(s.dir, [
      'certs',
      'check',
      '--served',
      '--root',
      root,
      '--kubeconfig',
      join(etcK, 'admin.conf'),
      '-o',
      'json',
    ]);
    assert.equal(served.code, 0, served.err);
    const api = row((JSON.parse(served.out) as { items: ServedItem[] }).items, 'cp-1', 'kube-apiserver');
    assert.equal(api.sameAsDisk, true);
    assert.equal(api.status, 'ok');
  });
});
