import { FakeClock } from '../common/fake-clock.ts';
import { systemClock } from '../common/real.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import {
  createKubeClients,
  kubeCall,
  kubeconfigCandidates,
  kubeRequest,
  type KubeClients,
  loadKubeConfig,
  parseRequestTimeout,
} from './client.ts';
import { isKubeApiError, isNotFound, toKubeError, TransportReason } from './errors.ts';
import { UsageError, isBosunError } from '../common/errors.ts';
import { selfSignedServing, tokenKubeconfig } from './testing/tls.ts';

/** GET /api/v1/nodes/NAME through kubeRequest. */
function readNode(c: Pick<KubeClients, 'config'>, name: string): Promise<{ metadata?: { name?: string } }> {
  return kubeRequest(c, { method: 'GET', path: `/api/v1/nodes/${name}` });
}

function kubeconfig(server: string, contexts: string[], current: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    ...contexts.map(
      (c) => `- name: ${c}\n  cluster:\n    server: ${server}\n    insecure-skip-tls-verify: true`,
    ),
    'users:',
    ...contexts.map((c) => `- name: ${c}\n  user:\n    token: t-${c}`),
    'contexts:',
    ...contexts.map((c) => `- name: ${c}\n  context:\n    cluster: ${c}\n    user: ${c}`),
    `current-context: ${current}`,
    '',
  ].join('\n');
}

/** Listens on a free loopback port until the test ends; returns the port. */
async function listen(t: { after(fn: () => void): void }, srv: http.Server): Promise<number> {
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => {
    srv.closeAllConnections();
    srv.close();
  });
  return (srv.address() as { port: number }).port;
}

function tmpdir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bosun-kube-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('--kubeconfig wins over KUBECONFIG and ~/.kube/config', () => {
  const c = kubeconfigCandidates({ kubeconfig: '/a/b', envKubeconfig: '/c:/d', home: '/h' });
  assert.deepEqual(c, { files: ['/a/b'], explicit: true });
  assert.deepEqual(kubeconfigCandidates({ envKubeconfig: '/c::/d', home: '/h' }).files, ['/c', '/d']);
  assert.deepEqual(kubeconfigCandidates({ home: '/h' }).files, ['/h/.kube/config']);
});

test('KUBECONFIG files merge with the first file winning, missing files ignored', (t) => {
  const dir = tmpdir(t);
  writeFileSync(path.join(dir, 'a'), kubeconfig('http://127.0.0.1:1', ['one', 'shared'], 'one'));
  writeFileSync(path.join(dir, 'b'), kubeconfig('http://127.0.0.1:2', ['two', 'shared'], 'two'));
  const env = [path.join(dir, 'a'), path.join(dir, 'missing'), path.join(dir, 'b')].join(':');
  const loaded = loadKubeConfig({ envKubeconfig: env, home: dir });
  assert.equal(loaded.contextName, 'one');
  assert.deepEqual(loaded.files, [path.join(dir, 'a'), path.join(dir, 'b')]);
  assert.deepEqual(loaded.kc.contexts.map((c) => c.name).sort(), ['one', 'shared', 'two']);
  const shared = loadKubeConfig({ envKubeconfig: env, home: dir, context: 'shared' });
  assert.equal(shared.server, 'http://127.0.0.1:1');
  assert.equal(
    loadKubeConfig({ envKubeconfig: env, home: dir, context: 'two' }).server,
    'http://127.0.0.1:2',
  );
});

test('a missing --kubeconfig file is a usage error naming the path', (t) => {
  const dir = tmpdir(t);
  const p = path.join(dir, 'nope.conf');
  assert.throws(
    () => loadKubeConfig({ kubeconfig: p, home: dir }),
    (e: unknown) => e instanceof UsageError && e.message === `stat ${p}: no such file or directory`,
  );
});

test('no kubeconfig anywhere says where bosun looked and how to get one', (t) => {
  const dir = tmpdir(t);
  assert.throws(
    () => loadKubeConfig({ home: dir }),
    (e: unknown) =>
      isBosunError(e) && /no kubeconfig found/.test(e.message) && /bosun sandbox up/.test(e.hint ?? ''),
  );
});

test('an unknown --context is a usage error listing the known ones', (t) => {
  const dir = tmpdir(t);
  writeFileSync(path.join(dir, 'c'), kubeconfig('http://127.0.0.1:1', ['one'], 'one'));
  assert.throws(
    () => loadKubeConfig({ kubeconfig: path.join(dir, 'c'), home: dir, context: 'zzz' }),
    (e: unknown) =>
      e instanceof UsageError &&
      e.message === 'context was not found for specified context: zzz' &&
      /one/.test(e.hint ?? ''),
  );
});

test('a malformed kubeconfig names the file', (t) => {
  const dir = tmpdir(t);
  writeFileSync(path.join(dir, 'bad'), 'clusters:\n- cluster: {}\n');
  assert.throws(
    () => loadKubeConfig({ kubeconfig: path.join(dir, 'bad'), home: dir }),
    (e: unknown) =>
      isBosunError(e) && e.message.startsWith(`error loading kubeconfig ${path.join(dir, 'bad')}`),
  );
});

for (const tc of [
  { in: '0', want: 0 },
  { in: '5', want: 5000 },
  { in: '2m', want: 120_000 },
  { in: '1h30m', want: 5_400_000 },
  { in: '250ms', want: 250 },
]) {
  test(`--request-timeout ${tc.in} is ${tc.want} ms`, () =>
    assert.equal(parseRequestTimeout(tc.in), tc.want));
}

test('--request-timeout rejects what kubectl rejects', () => {
  for (const v of ['abc', '-1', '1.5s', ''])
    assert.throws(
      () => parseRequestTimeout(v),
      (e: unknown) => e instanceof UsageError && /invalid timeout value/.test(e.message),
      v,
    );
});

test('a real request: a 404 Status from the server becomes NotFound; the token is sent', async (t) => {
  const seen: string[] = [];
  const srv = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url} ${req.headers.authorization ?? ''}`);
    if (req.url?.startsWith('/api/v1/nodes/slow')) return; // never answers
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        kind: 'Status',
        apiVersion: 'v1',
        status: 'Failure',
        message: 'nodes "worker-9" not found',
        reason: 'NotFound',
        details: { name: 'worker-9', kind: 'nodes' },
        code: 404,
      }),
    );
  });
  const port = await listen(t, srv);
  const dir = tmpdir(t);
  writeFileSync(path.join(dir, 'c'), kubeconfig(`http://127.0.0.1:${port}`, ['one'], 'one'));
  const clients = createKubeClients({ clock: systemClock, kubeconfig: path.join(dir, 'c'), home: dir });
  const impatient = createKubeClients({
    clock: systemClock,
    kubeconfig: path.join(dir, 'c'),
    home: dir,
    requestTimeoutMs: 500,
  });
  await assert.rejects(
    kubeCall(clients, { resource: 'nodes', name: 'worker-9' }, () => readNode(clients, 'worker-9')),
    (e: unknown) => isNotFound(e) && (e as Error).message === 'nodes "worker-9" not found',
  );
  assert.deepEqual(seen, ['GET /api/v1/nodes/worker-9 Bearer t-one']);
  await assert.rejects(
    kubeCall(impatient, { resource: 'nodes', name: 'slow', verb: 'get' }, () => readNode(impatient, 'slow')),
    (e: unknown) => isKubeApiError(e) && e.reason === TransportReason.RequestTimeout,
  );
});

test('a real request to a closed port is Unreachable with a hint', async (t) => {
  const srv = http.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  const dir = tmpdir(t);
  writeFileSync(path.join(dir, 'c'), kubeconfig(`http://127.0.0.1:${port}`, ['one'], 'one'));
  const clients = createKubeClients({ clock: systemClock, kubeconfig: path.join(dir, 'c'), home: dir });
  await assert.rejects(
    kubeRequest(clients, { method: 'GET', path: '/api/v1/nodes' }).catch((e: unknown) => {
      throw toKubeError(e, { resource: 'nodes', verb: 'list' });
    }),
    (e: unknown) =>
      isKubeApiError(e) &&
      e.reason === TransportReason.Unreachable &&
      /Is the cluster running/.test(e.hint ?? ''),
  );
});

test("cancelling through the clients' signal is a cancellation, not a timeout", async (t) => {
  const srv = http.createServer(() => undefined);
  const port = await listen(t, srv);
  const dir = tmpdir(t);
  writeFileSync(path.join(dir, 'c'), kubeconfig(`http://127.0.0.1:${port}`, ['one'], 'one'));
  const ac = new AbortController();
  const clients = createKubeClients({
    clock: systemClock,
    kubeconfig: path.join(dir, 'c'),
    home: dir,
    requestTimeoutMs: 60_000,
    signal: ac.signal,
  });
  const p = kubeCall(clients, { resource: 'nodes', verb: 'list' }, () =>
    kubeRequest(clients, { method: 'GET', path: '/api/v1/nodes' }),
  );
  srv.once('request', () => ac.abort());
  await assert.rejects(
    p,
    (e: unknown) => isKubeApiError(e) && e.reason === TransportReason.Aborted && e.code === 'INTERRUPTED',
  );
});

test('kept-alive connections are reused, and chunked answers on them are read whole (no false "Premature close")', async (t) => {
  const { cert, key } = await selfSignedServing();
  // The connections that carried requests (the first one also offered h2, which this server lacks).
  const used = new Set<unknown>();
  const srv = https.createServer({ cert, key }, (req, res) => {
    used.add(req.socket);
    setTimeout(() => {
      // No content-length: chunked, as kube-apiserver answers large bodies.
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n' } }).slice(0, 10));
      res.end(JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n' } }).slice(10));
    }, 5);
  });
  const port = await listen(t, srv);
  const dir = tmpdir(t);
  writeFileSync(path.join(dir, 'c'), tokenKubeconfig(port, cert));
  const clients = createKubeClients({ clock: systemClock, kubeconfig: path.join(dir, 'c'), home: dir });
  const read = async (): Promise<void> => {
    const n = await readNode(clients, 'n');
    assert.equal(n.metadata?.name, 'n');
  };
  for (let round = 0; round < 5; round++) await Promise.all(Array.from({ length: 20 }, read));
  assert.equal(used.size, 20, 'each later round reuses the connections of the first');
  // Each next request at once from the answer of the one before (as a drain's evictions go out).
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      for (let i = 0; i < 10; i++) await read();
    }),
  );
});

/** A FakeClock that tells the test each time something starts sleeping on it, and for how long. */
class SleepWatchingClock extends FakeClock {
  private waiting: ((ms: number) => void)[] = [];
  readonly sleeps: number[] = [];
  /** Resolves with the length of the next sleep started on this clock. */
  nextSleep(): Promise<number> {
    return new Promise((r) => this.waiting.push(r));
  }
  override sleep(ms: number, signal?: AbortSignal): Promise<void> {
    this.sleeps.push(ms);
    const p = super.sleep(ms, signal);
    for (const w of this.waiting.splice(0)) w(ms);
    return p;
  }
}

/** A plain-http API server answering 429 Retry-After: 5 first, then the node; counts requests. */
async function throttlingServer(
  t: { after(fn: () => void): void },
  onFirst: () => Promise<void> = () => Promise.resolve(),
): Promise<{ kubeconfig: string; dir: string; calls: () => number }> {
  let calls = 0;
  const srv = http.createServer((_req, res) => {
    calls++;
    if (calls === 1) {
      void onFirst().then(() => {
        res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '5' });
        res.end(
          JSON.stringify({ kind: 'Status', code: 429, reason: 'TooManyRequests', message: 'slow down' }),
        );
      });
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Node', metadata: { name: 'n' } }));
  });
  const port = await listen(t, srv);
  const dir = tmpdir(t);
  writeFileSync(path.join(dir, 'c'), kubeconfig(`http://127.0.0.1:${port}`, ['one'], 'one'));
  return { kubeconfig: path.join(dir, 'c'), dir, calls: () => calls };
}

test('a retry waits on the clock passed in: Retry-After 5 is a 5 s sleep of that clock, then the request again', async (t) => {
  const s = await throttlingServer(t);
  const clock = new SleepWatchingClock();
  const clients = createKubeClients({ clock, kubeconfig: s.kubeconfig, home: s.dir });
  const slept = clock.nextSleep();
  const p = kubeCall(clients, { resource: 'nodes', name: 'n', verb: 'get' }, () => readNode(clients, 'n'), {
    method: 'GET',
  });
  assert.equal(await slept, 5000);
  assert.equal(s.calls(), 1);
  await clock.advance(5000);
  assert.equal((await p).metadata?.name, 'n');
  assert.equal(s.calls(), 2);
});

test('--request-timeout bounds the retries by the clock passed in: time spent on the first attempt counts', async (t) => {
  const clock = new SleepWatchingClock();
  // The first answer comes 6 s (of the clock) after the request: 6 s + a 5 s wait reach past 10 s.
  const s = await throttlingServer(t, () => clock.advance(6000));
  const clients = createKubeClients({
    clock,
    kubeconfig: s.kubeconfig,
    home: s.dir,
    requestTimeoutMs: 10_000,
  });
  await assert.rejects(
    kubeCall(clients, { resource: 'nodes', name: 'n', verb: 'get' }, () => readNode(clients, 'n'), {
      method: 'GET',
    }),
    (e: unknown) => isKubeApiError(e) && e.status === 429,
  );
  assert.deepEqual(clock.sleeps, []);
  assert.equal(s.calls(), 1);
});
