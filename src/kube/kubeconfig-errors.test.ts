// Kubeconfigs a user got wrong (issue 18, "Errors that users cause are never a bug in bosun"): each
// is one BosunError (exit code 1) naming the file and what is wrong.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { isBosunError, type BosunError } from '../common/errors.ts';
import { FakeClock } from '../common/fake-clock.ts';
import { systemClock } from '../common/real.ts';
import { clientCertificateProblem } from './client-cert.ts';
import { createKubeClients, kubeCall, kubeRequest, loadKubeConfig } from './client.ts';
import { isKubeApiError } from './errors.ts';
import { testPki } from './testing/tls.ts';

const pki = await testPki();

function tmpdir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bosun-kcerr-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A kubeconfig with the given cluster and user fields (YAML lines under `cluster:` and `user:`). */
function kubeconfig(cluster: string[], user: string[]): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: c',
    '  cluster:',
    ...cluster.map((l) => `    ${l}`),
    'users:',
    '- name: u',
    '  user:',
    ...(user.length ? user.map((l) => `    ${l}`) : ['    {}']),
    'contexts:',
    '- name: c',
    '  context: {cluster: c, user: u}',
    'current-context: c',
    '',
  ].join('\n');
}

function write(dir: string, name: string, text: string): string {
  const p = path.join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** The error is a user's error (exit code 1, not reported as a bug) with exactly this message. */
function userError(message: string | RegExp): (e: unknown) => boolean {
  return (e: unknown) => {
    assert.ok(isBosunError(e), `not a BosunError: ${String(e)}`);
    const b = e as BosunError;
    assert.equal(b.exitCode, 1);
    if (typeof message === 'string') assert.equal(b.message, message);
    else assert.match(b.message, message);
    assert.ok(b.hint, 'a hint says what to do');
    return true;
  };
}

for (const tc of [
  {
    name: 'a client-key file that does not exist',
    field: 'client-key',
    make: (_d: string) => 'missing.key',
    why: 'no such file or directory',
  },
  {
    name: 'a client-key that is a directory',
    field: 'client-key',
    make: (d: string) => {
      mkdirSync(path.join(d, 'keydir'));
      return 'keydir';
    },
    why: 'is a directory',
  },
  {
    name: 'a certificate-authority that is a directory',
    field: 'certificate-authority',
    make: (d: string) => {
      mkdirSync(path.join(d, 'cadir'));
      return 'cadir';
    },
    why: 'is a directory',
  },
]) {
  test(`${tc.name} is named with the kubeconfig and what is wrong`, (t) => {
    const dir = tmpdir(t);
    const rel = tc.make(dir);
    write(dir, 'client.crt', pki.client.cert);
    write(dir, 'client.key', pki.client.key);
    write(dir, 'ca.crt', pki.ca.cert);
    const cluster = [
      'server: https://127.0.0.1:1',
      `certificate-authority: ${tc.field === 'certificate-authority' ? rel : 'ca.crt'}`,
    ];
    const user = [
      'client-certificate: client.crt',
      `client-key: ${tc.field === 'client-key' ? rel : 'client.key'}`,
    ];
    const file = write(dir, 'config', kubeconfig(cluster, user));
    const owner = tc.field === 'certificate-authority' ? 'cluster "c"' : 'user "u"';
    assert.throws(
      () => loadKubeConfig({ kubeconfig: file, home: dir }),
      userError(
        `kubeconfig ${file}: unable to read ${tc.field} ${path.join(dir, rel)} for ${owner}: ${tc.why}`,
      ),
    );
  });
}

test('an empty kubeconfig says it is empty (not "reading \'clusters\'")', (t) => {
  const dir = tmpdir(t);
  for (const text of ['', '\n\n', '# nothing here\n']) {
    const file = write(dir, 'empty', text);
    assert.throws(
      () => loadKubeConfig({ kubeconfig: file, home: dir }),
      userError(`the kubeconfig ${file} is empty`),
    );
  }
});

test('an exec credential plugin that is not installed is named, with the kubeconfig', async (t) => {
  const dir = tmpdir(t);
  const file = write(
    dir,
    'config',
    kubeconfig(
      ['server: https://127.0.0.1:1', 'insecure-skip-tls-verify: true'],
      [
        'exec:',
        '  apiVersion: client.authentication.k8s.io/v1',
        '  command: bosun-no-such-credential-plugin',
        '  interactiveMode: Never',
      ],
    ),
  );
  const clients = createKubeClients({ clock: systemClock, kubeconfig: file, home: dir });
  await assert.rejects(
    kubeCall(clients, { resource: 'nodes', verb: 'list' }, () =>
      kubeRequest(clients, { method: 'GET', path: '/api/v1/nodes' }),
    ),
    userError(
      `kubeconfig ${file}: the exec credential plugin "bosun-no-such-credential-plugin" of user "u" was not found`,
    ),
  );
});

test('a client key that does not belong to its certificate is named, with the kubeconfig', async (t) => {
  const dir = tmpdir(t);
  const file = write(
    dir,
    'config',
    kubeconfig(
      ['server: https://127.0.0.1:1', `certificate-authority-data: ${b64(pki.ca.cert)}`],
      [`client-certificate-data: ${b64(pki.client.cert)}`, `client-key-data: ${b64(pki.expired.key)}`],
    ),
  );
  const clients = createKubeClients({ clock: systemClock, kubeconfig: file, home: dir });
  await assert.rejects(
    kubeCall(clients, { resource: 'nodes', verb: 'list' }, () =>
      kubeRequest(clients, { method: 'GET', path: '/api/v1/nodes' }),
    ),
    userError(
      new RegExp(
        `^kubeconfig ${esc(file)}: the credentials of user "u" for cluster "c" cannot be used: .*key values mismatch`,
      ),
    ),
  );
});

function b64(s: string): string {
  return Buffer.from(s).toString('base64');
}
function esc(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * An API server that trusts pki.ca for clients and refuses anything else: 401 as kube-apiserver
 * answers an invalid certificate, or (anonymous: true) 403 for system:anonymous as the sandbox does.
 */
async function apiServer(t: { after(fn: () => void): void }, anonymous: boolean): Promise<number> {
  const srv = https.createServer(
    {
      cert: pki.serving.cert,
      key: pki.serving.key,
      ca: pki.ca.cert,
      requestCert: true,
      rejectUnauthorized: false,
    },
    (req, res) => {
      const ok = (req.socket as import('node:tls').TLSSocket).authorized;
      const code = ok ? 200 : anonymous ? 403 : 401;
      res.writeHead(code, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify(
          ok
            ? { kind: 'NodeList', items: [] }
            : {
                kind: 'Status',
                status: 'Failure',
                code,
                reason: anonymous ? 'Forbidden' : 'Unauthorized',
                message: anonymous
                  ? 'forbidden: User "system:anonymous" cannot get path "/api/v1/nodes"'
                  : 'Unauthorized',
              },
        ),
      );
    },
  );
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => {
    srv.closeAllConnections();
    srv.close();
  });
  return (srv.address() as { port: number }).port;
}

for (const tc of [
  {
    name: 'an expired client certificate',
    anonymous: true,
    pair: pki.expired,
    why: /: it expired on \d{4}-\d\d-\d\dT[\d:.]+Z \(403 Forbidden\)$/,
  },
  {
    name: 'a self-signed client certificate',
    anonymous: false,
    pair: pki.selfSigned,
    why: /: it is self-signed \(401 Unauthorized\)$/,
  },
  {
    name: 'a client certificate of another CA',
    anonymous: false,
    pair: pki.foreign,
    why: /: it was not signed by the cluster's CA \(issuer "CN=other-ca"\) \(401 Unauthorized\)$/,
  },
]) {
  test(`${tc.name} refused by the API server says why, naming the kubeconfig`, async (t) => {
    const dir = tmpdir(t);
    const port = await apiServer(t, tc.anonymous);
    write(dir, 'admin.crt', tc.pair.cert);
    write(dir, 'admin.key', tc.pair.key);
    const file = write(
      dir,
      'config',
      kubeconfig(
        [`server: https://127.0.0.1:${port}`, `certificate-authority-data: ${b64(pki.ca.cert)}`],
        ['client-certificate: admin.crt', 'client-key: admin.key'],
      ),
    );
    const clients = createKubeClients({ clock: systemClock, kubeconfig: file, home: dir });
    await assert.rejects(
      kubeCall(clients, { resource: 'nodes', verb: 'list' }, () =>
        kubeRequest(clients, { method: 'GET', path: '/api/v1/nodes' }),
      ),
      (e: unknown) => {
        assert.ok(isKubeApiError(e), String(e));
        assert.equal(e.exitCode, 1);
        assert.ok(
          e.message.startsWith(
            `the API server did not accept the client certificate of user "u" (${path.join(dir, 'admin.crt')}) in kubeconfig ${file}`,
          ),
          e.message,
        );
        assert.match(e.message, tc.why);
        return true;
      },
    );
  });
}

test('the valid client certificate is accepted (the server above is not refusing everything)', async (t) => {
  const dir = tmpdir(t);
  const port = await apiServer(t, false);
  const file = write(
    dir,
    'config',
    kubeconfig(
      [`server: https://127.0.0.1:${port}`, `certificate-authority-data: ${b64(pki.ca.cert)}`],
      [`client-certificate-data: ${b64(pki.client.cert)}`, `client-key-data: ${b64(pki.client.key)}`],
    ),
  );
  const clients = createKubeClients({ clock: systemClock, kubeconfig: file, home: dir });
  assert.deepEqual(await kubeRequest(clients, { method: 'GET', path: '/api/v1/nodes' }), {
    kind: 'NodeList',
    items: [],
  });
});

for (const tc of [
  { name: 'valid and signed by the CA', cert: pki.client, at: 0, want: undefined },
  { name: 'expired', cert: pki.expired, at: 0, want: /^it expired on / },
  { name: 'not yet valid', cert: pki.client, at: -3 * 86_400_000, want: /^it is not valid before / },
  { name: 'self-signed', cert: pki.selfSigned, at: 0, want: /^it is self-signed$/ },
  { name: 'another CA', cert: pki.foreign, at: 0, want: /^it was not signed by the cluster's CA/ },
]) {
  test(`a client certificate ${tc.name}: ${tc.want ? String(tc.want) : 'no problem found'}`, () => {
    const now = new FakeClock(Date.now() + tc.at).now();
    const got = clientCertificateProblem(
      { cert: Buffer.from(tc.cert.cert), ca: Buffer.from(pki.ca.cert) },
      now,
    );
    if (tc.want === undefined) assert.equal(got, undefined);
    else assert.match(got ?? '', tc.want);
  });
}

test('the CLI prints such an error as one line and its hint, exit code 1, never as a bug', async (t) => {
  const dir = tmpdir(t);
  const empty = write(dir, 'empty', '');
  const missingKey = write(
    dir,
    'config',
    kubeconfig(['server: https://127.0.0.1:1'], ['client-certificate: client.crt', 'client-key: nope.key']),
  );
  write(dir, 'client.crt', pki.client.cert);
  const main = path.join(import.meta.dirname, '..', 'cli', 'main.ts');
  for (const [file, first] of [
    [empty, `error: the kubeconfig ${empty} is empty`],
    [
      missingKey,
      `error: kubeconfig ${missingKey}: unable to read client-key ${path.join(dir, 'nope.key')} for user "u": no such file or directory`,
    ],
  ] as const) {
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', main, '--kubeconfig', file, 'cordon', 'worker-1'],
      {
        encoding: 'utf8',
        env: { ...process.env, BOSUN_DEBUG: '', HOME: dir, KUBECONFIG: '' },
        timeout: 120_000,
      },
    );
    assert.equal(r.status, 1, r.stderr);
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines[0], first);
    assert.equal(lines.length, 2, r.stderr);
    assert.doesNotMatch(r.stderr, /bug/);
  }
});
