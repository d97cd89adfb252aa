// In-cluster configuration as client-go's rest.InClusterConfig: a fake ServiceAccount directory, a
// TLS test server, and a FakeClock for the token's rotation.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { isBosunError } from '../common/errors.ts';
import { FakeClock } from '../common/fake-clock.ts';
import { createInClusterClients, kubeCall, kubeRequest, type KubeClients } from './client.ts';
import { isKubeApiError, TransportReason } from './errors.ts';
import { inClusterConfig, NOT_IN_CLUSTER, TOKEN_REREAD_MS } from './in-cluster.ts';
import { selfSignedServing } from './testing/tls.ts';

const read = (f: string): Promise<Buffer> => readFile(f);

/** A ServiceAccount directory as the kubelet mounts it. */
function saDir(
  t: { after(fn: () => void): void },
  files: { token?: string; ca?: string; namespace?: string },
): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'bosun-sa-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const dir = path.join(root, 'serviceaccount');
  mkdirSync(dir);
  if (files.token !== undefined) writeFileSync(path.join(dir, 'token'), files.token);
  if (files.ca !== undefined) writeFileSync(path.join(dir, 'ca.crt'), files.ca);
  if (files.namespace !== undefined) writeFileSync(path.join(dir, 'namespace'), files.namespace);
  return dir;
}

const ENV = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };

test('outside a pod (no service variables) it says so, as client-go does', async (t) => {
  const dir = saDir(t, { token: 'x' });
  for (const env of [{}, { KUBERNETES_SERVICE_HOST: '10.96.0.1' }, { KUBERNETES_SERVICE_PORT: '443' }])
    await assert.rejects(
      inClusterConfig({ env, serviceAccountDir: dir }, read),
      (e: unknown) => isBosunError(e) && e.message === NOT_IN_CLUSTER && e.exitCode === 1,
    );
});

test('the server, token file, CA and namespace come from the environment and the ServiceAccount directory', async (t) => {
  const { cert } = await selfSignedServing();
  const dir = saDir(t, { token: 'tok\n', ca: cert, namespace: 'bosun-system' });
  assert.deepEqual(await inClusterConfig({ env: ENV, serviceAccountDir: dir }, read), {
    server: 'https://10.96.0.1:443',
    tokenFile: path.join(dir, 'token'),
    caFile: path.join(dir, 'ca.crt'),
    namespace: 'bosun-system',
    warnings: [],
  });
  const v6 = await inClusterConfig(
    {
      env: { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '6443', POD_NAMESPACE: 'mine' },
      serviceAccountDir: dir,
    },
    read,
  );
  assert.equal(v6.server, 'https://[fd00::1]:6443');
  assert.equal(v6.namespace, 'mine', 'POD_NAMESPACE wins over the namespace file');
});

test('without a namespace file the namespace is "default"; without ca.crt a warning, and the system CAs', async (t) => {
  const dir = saDir(t, { token: 'tok' });
  const cfg = await inClusterConfig({ env: ENV, serviceAccountDir: dir }, read);
  assert.equal(cfg.namespace, 'default');
  assert.equal(cfg.caFile, undefined);
  assert.equal(cfg.warnings.length, 1);
  assert.match(
    cfg.warnings[0] ?? '',
    new RegExp(`^expected to load root CA config from ${path.join(dir, 'ca.crt')}`),
  );
});

test('a token that cannot be read, or is empty, is an error naming the file', async (t) => {
  const none = saDir(t, {});
  await assert.rejects(
    inClusterConfig({ env: ENV, serviceAccountDir: none }, read),
    (e: unknown) =>
      isBosunError(e) &&
      e.message.startsWith(`unable to read the ServiceAccount token ${path.join(none, 'token')}: `),
  );
  const empty = saDir(t, { token: '  \n' });
  await assert.rejects(
    inClusterConfig({ env: ENV, serviceAccountDir: empty }, read),
    (e: unknown) =>
      isBosunError(e) && e.message === `read empty token from file "${path.join(empty, 'token')}"`,
  );
});

/** A TLS API server on 127.0.0.1 that records each request's bearer token; 401 when told to. */
async function apiServer(t: { after(fn: () => void): void }): Promise<{
  port: number;
  cert: string;
  tokens: string[];
  refuseNext: () => void;
}> {
  const { cert, key } = await selfSignedServing();
  const tokens: string[] = [];
  let refuse = false;
  const srv = http2.createSecureServer({ cert, key, allowHTTP1: true }, (req, res) => {
    tokens.push(String(req.headers.authorization ?? ''));
    const code = refuse ? 401 : 200;
    refuse = false;
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify(
        code === 200
          ? { kind: 'Node', metadata: { name: 'n' } }
          : { kind: 'Status', code: 401, reason: 'Unauthorized', message: 'Unauthorized' },
      ),
    );
  });
  const sockets = new Set<{ destroy(): void }>();
  srv.on('secureConnection', (s: { destroy(): void }) => sockets.add(s));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const s of sockets) s.destroy();
    srv.close();
  });
  return { port: (srv.address() as { port: number }).port, cert, tokens, refuseNext: () => (refuse = true) };
}

function getNode(c: KubeClients): Promise<unknown> {
  return kubeCall(c, { resource: 'nodes', name: 'n', verb: 'get' }, () =>
    kubeRequest(c, { method: 'GET', path: '/api/v1/nodes/n' }),
  );
}

test('requests carry the ServiceAccount token, read again as it rotates and after a 401', async (t) => {
  const s = await apiServer(t);
  const dir = saDir(t, { token: 'first', ca: s.cert, namespace: 'bosun-system' });
  const clock = new FakeClock();
  const cfg = await inClusterConfig(
    {
      env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(s.port) },
      serviceAccountDir: dir,
    },
    read,
  );
  const clients = createInClusterClients(cfg, { clock, readFile: read });
  await getNode(clients);
  writeFileSync(path.join(dir, 'token'), 'second'); // the kubelet rotated it
  await getNode(clients);
  await clock.advance(TOKEN_REREAD_MS);
  await getNode(clients);
  assert.deepEqual(s.tokens, ['Bearer first', 'Bearer first', 'Bearer second']);

  writeFileSync(path.join(dir, 'token'), 'third');
  s.refuseNext();
  await assert.rejects(getNode(clients), (e: unknown) => isKubeApiError(e) && e.status === 401);
  await getNode(clients); // no time passed: the 401 alone makes it read the file again
  assert.deepEqual(s.tokens.slice(3), ['Bearer second', 'Bearer third']);
});

test('the API server is verified against ca.crt', async (t) => {
  const s = await apiServer(t);
  const other = await selfSignedServing();
  const dir = saDir(t, { token: 'tok', ca: other.cert });
  const cfg = await inClusterConfig(
    {
      env: { KUBERNETES_SERVICE_HOST: '127.0.0.1', KUBERNETES_SERVICE_PORT: String(s.port) },
      serviceAccountDir: dir,
    },
    read,
  );
  const clients = createInClusterClients(cfg, { clock: new FakeClock(), readFile: read });
  await assert.rejects(
    getNode(clients),
    (e: unknown) => isKubeApiError(e) && e.reason === TransportReason.TLS,
  );
  assert.deepEqual(s.tokens, [], 'no request (and no token) reached a server the CA does not vouch for');
});
