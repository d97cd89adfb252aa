import { systemClock } from '../common/real.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createKubeClients, MAX_RETRIES } from './client.ts';
import { isKubeApiError, TransportReason } from './errors.ts';
import { createNodePods } from './node-pods.ts';
import { plainKubeconfig, selfSignedServing, tokenKubeconfig } from './testing/tls.ts';

/**
 * A server with five pods that pages its lists as kube-apiserver does: `limit` items per
 * response and a `continue` token for the rest. Records every list's query.
 */
async function pagingServer(t: { after(fn: () => void): void }): Promise<{ url: string; queries: string[] }> {
  const names = ['a', 'b', 'c', 'd', 'e'];
  const queries: string[] = [];
  const srv = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    queries.push(url.search);
    const start = Number(url.searchParams.get('continue') ?? '0');
    const limit = Number(url.searchParams.get('limit') ?? '0');
    const end = limit > 0 ? Math.min(names.length, start + limit) : names.length;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        kind: 'PodList',
        apiVersion: 'v1',
        metadata: { resourceVersion: '7', ...(end < names.length ? { continue: String(end) } : {}) },
        items: names.slice(start, end).map((name) => ({ metadata: { name, namespace: 'demo' } })),
      }),
    );
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => {
    srv.closeAllConnections();
    srv.close();
  });
  return { url: `http://127.0.0.1:${(srv.address() as { port: number }).port}`, queries };
}

function nodePodsFor(t: { after(fn: () => void): void }, server: string): ReturnType<typeof createNodePods> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bosun-node-pods-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(path.join(dir, 'config'), plainKubeconfig(server));
  return createNodePods(
    createKubeClients({ clock: systemClock, kubeconfig: path.join(dir, 'config'), home: dir }),
  );
}

test("listPods follows `continue` in chunks of --chunk-size (kubectl's default 500; 0: one response)", async (t) => {
  const srv = await pagingServer(t);
  const kube = nodePodsFor(t, srv.url);
  const names = (l: { items: { metadata: { name?: string } }[] }): (string | undefined)[] =>
    l.items.map((p) => p.metadata.name);

  const chunked = await kube.listPods({ chunkSize: 2, fieldSelector: 'spec.nodeName=w1' });
  assert.deepEqual(names(chunked), ['a', 'b', 'c', 'd', 'e']);
  assert.equal(chunked.resourceVersion, '7');
  assert.deepEqual(srv.queries.splice(0), [
    '?fieldSelector=spec.nodeName%3Dw1&limit=2',
    '?fieldSelector=spec.nodeName%3Dw1&limit=2&continue=2',
    '?fieldSelector=spec.nodeName%3Dw1&limit=2&continue=4',
  ]);

  assert.deepEqual(names(await kube.listPods({ chunkSize: 0 })), ['a', 'b', 'c', 'd', 'e']);
  assert.deepEqual(srv.queries.splice(0), ['']);

  assert.deepEqual(names(await kube.listPods()), ['a', 'b', 'c', 'd', 'e']);
  assert.deepEqual(srv.queries.splice(0), ['?limit=500']);
});

/** A Status answer, as kube-apiserver writes it. */
function status(code: number, reason: string, message: string): string {
  return JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message });
}

/**
 * An HTTPS server offering HTTP/2 (as kube-apiserver does) whose answers come from `answer`, called
 * with the request's method and path and how often that path was asked before (or that closes the
 * connection under the request). Returns the
 * NodePods port on it and every request seen.
 */
async function h2Server(
  t: { after(fn: () => void): void },
  answer: (
    method: string,
    path: string,
    seen: number,
  ) => { code: number; body: string; retryAfter?: string } | 'drop the connection',
  opts: { signal?: AbortSignal; requestTimeoutMs?: number } = {},
): Promise<{ kube: ReturnType<typeof createNodePods>; requests: string[] }> {
  const { cert, key } = await selfSignedServing();
  const requests: string[] = [];
  const srv = http2.createSecureServer({ cert, key, allowHTTP1: true }, (req, res) => {
    const line = `${req.method} ${req.url}`;
    const a = answer(req.method, req.url, requests.filter((r) => r === line).length);
    requests.push(line);
    if (a === 'drop the connection') return void req.stream.session?.destroy();
    res.writeHead(a.code, {
      'content-type': 'application/json',
      ...(a.retryAfter !== undefined ? { 'retry-after': a.retryAfter } : {}),
    });
    res.end(a.body);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const sessions = new Set<http2.ServerHttp2Session>();
  srv.on('session', (s: http2.ServerHttp2Session) => sessions.add(s));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bosun-node-pods-'));
  t.after(() => {
    for (const s of sessions) s.destroy();
    srv.close();
    rmSync(dir, { recursive: true, force: true });
  });
  writeFileSync(path.join(dir, 'config'), tokenKubeconfig((srv.address() as { port: number }).port, cert));
  const clients = createKubeClients({
    clock: systemClock,
    kubeconfig: path.join(dir, 'config'),
    home: dir,
    ...(opts.signal ? { signal: opts.signal } : {}),
    ...(opts.requestTimeoutMs ? { requestTimeoutMs: opts.requestTimeoutMs } : {}),
  });
  return { kube: createNodePods(clients), requests };
}

const NODE = JSON.stringify({ kind: 'Node', apiVersion: 'v1', metadata: { name: 'n' } });
const THROTTLED = status(429, 'TooManyRequests', 'Too many requests, please try again later.');

test('an answer with Retry-After is sent again, as client-go does: a 429 or a 5xx, up to 10 times', async (t) => {
  const { kube, requests } = await h2Server(t, (method, path, seen) => {
    if (path === '/api/v1/nodes/busy')
      return seen < 2 ? { code: 429, body: THROTTLED, retryAfter: '0' } : { code: 200, body: NODE };
    if (path === '/api/v1/nodes/restarting')
      return seen < 1
        ? { code: 503, body: status(503, 'ServiceUnavailable', 'shutting down'), retryAfter: '0' }
        : { code: 200, body: NODE };
    if (path === '/api/v1/nodes/broken')
      return { code: 500, body: status(500, 'InternalError', 'etcdserver: request timed out') };
    if (path.endsWith('/eviction')) return { code: 429, body: THROTTLED, retryAfter: '0' };
    return { code: 429, body: THROTTLED, retryAfter: '0' }; // /api/v1/nodes/never
  });

  assert.equal((await kube.getNode('busy')).metadata.name, 'n');
  assert.equal((await kube.getNode('restarting')).metadata.name, 'n');
  assert.deepEqual(requests.splice(0), [
    'GET /api/v1/nodes/busy',
    'GET /api/v1/nodes/busy',
    'GET /api/v1/nodes/busy',
    'GET /api/v1/nodes/restarting',
    'GET /api/v1/nodes/restarting',
  ]);

  // Without Retry-After a server error is the caller's, at once.
  await assert.rejects(kube.getNode('broken'), (e: unknown) => isKubeApiError(e) && e.status === 500);
  assert.deepEqual(requests.splice(0), ['GET /api/v1/nodes/broken']);

  // The first answer and 10 retries, then the error.
  await assert.rejects(
    kube.getNode('never'),
    (e: unknown) => isKubeApiError(e) && e.reason === 'TooManyRequests',
  );
  assert.equal(requests.splice(0).length, 1 + MAX_RETRIES);

  // Evictions are left to the drain, which retries and explains them.
  await assert.rejects(
    kube.evictPod('demo', 'web'),
    (e: unknown) => isKubeApiError(e) && e.status === 429 && e.retryAfterSeconds === 0,
  );
  assert.deepEqual(requests.splice(0), ['POST /api/v1/namespaces/demo/pods/web/eviction']);
});

test('the retry waits as long as the server asked, a cancellation ends the wait, and --request-timeout bounds it', async (t) => {
  const { kube } = await h2Server(t, (_method, _path, seen) =>
    seen < 1 ? { code: 429, body: THROTTLED, retryAfter: '1' } : { code: 200, body: NODE },
  );
  const started = Date.now();
  await kube.getNode('busy');
  assert.ok(Date.now() - started >= 900, `sent again after ${Date.now() - started} ms`);

  const ctl = new AbortController();
  const patient = await h2Server(t, () => ({ code: 429, body: THROTTLED, retryAfter: '3600' }), {
    signal: ctl.signal,
  });
  const pending = patient.kube.getNode('busy');
  await new Promise<void>((r) => {
    const check = (): void => void (patient.requests.length > 0 ? r() : setTimeout(check, 5));
    check();
  });
  ctl.abort();
  await assert.rejects(pending, (e: unknown) => isKubeApiError(e) && e.reason === 'Aborted');
  assert.equal(patient.requests.length, 1);

  // --request-timeout 1.5s: one retry after a second fits, a second one would not.
  const bounded = await h2Server(t, () => ({ code: 429, body: THROTTLED, retryAfter: '1' }), {
    requestTimeoutMs: 1500,
  });
  await assert.rejects(
    bounded.kube.getNode('busy'),
    (e: unknown) => isKubeApiError(e) && e.reason === 'TooManyRequests',
  );
  assert.equal(bounded.requests.length, 2);
});

test('a GET whose connection goes away under it is sent again after a second; a PATCH is not', async (t) => {
  const { kube, requests } = await h2Server(t, (method, _path, seen) =>
    method === 'GET' && seen > 0 ? { code: 200, body: NODE } : 'drop the connection',
  );
  const started = Date.now();
  assert.equal((await kube.getNode('n')).metadata.name, 'n');
  assert.ok(Date.now() - started >= 900, `sent again after ${Date.now() - started} ms`);
  assert.deepEqual(requests.splice(0), ['GET /api/v1/nodes/n', 'GET /api/v1/nodes/n']);

  await assert.rejects(
    kube.patchNode('n', { spec: { unschedulable: true } }),
    (e: unknown) => isKubeApiError(e) && e.reason === TransportReason.Unreachable,
  );
  assert.deepEqual(requests.splice(0), ['PATCH /api/v1/nodes/n']);
});
