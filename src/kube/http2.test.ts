import { systemClock } from '../common/real.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { createKubeClients, kubeCall, kubeRequest, type KubeClients } from './client.ts';
import { isKubeApiError, toKubeError, TransportReason } from './errors.ts';
import { Http2Transport } from './http2.ts';
import { HttpMethod, RequestContext } from '@kubernetes/client-node';
import { selfSignedServing, tokenKubeconfig } from './testing/tls.ts';

const NODE = JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'n' } });

/** GET /api/v1/nodes/NAME through kubeRequest. */
function readNode(c: Pick<KubeClients, 'config'>, name: string): Promise<{ metadata?: { name?: string } }> {
  return kubeRequest(c, { method: 'GET', path: `/api/v1/nodes/${name}` });
}

interface Served {
  port: number;
  kubeconfig: string;
  /** TLS connections accepted, and the HTTP version of every request. */
  connections: () => number;
  versions: string[];
  /** Stops listening and ends every connection. */
  close: () => Promise<void>;
  /** The server's certificate (PEM), its own CA. */
  cert: string;
}

/** An h2 server (HTTP/1.1 too) on a free loopback port with a kubeconfig for it; stopped after the test. */
async function serve(
  t: { after(fn: () => void): void },
  handler: (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void,
): Promise<Served> {
  const { cert, key } = await selfSignedServing();
  const versions: string[] = [];
  let connections = 0;
  const sockets = new Set<{ destroy(): void }>();
  const srv = http2.createSecureServer({ cert, key, allowHTTP1: true }, (req, res) => {
    versions.push(req.httpVersion);
    handler(req, res);
  });
  srv.on('secureConnection', (s: { destroy(): void }) => {
    connections++;
    sockets.add(s);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const close = (): Promise<void> =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      if (!srv.listening) r();
      else srv.close(() => r());
    });
  t.after(close);
  const port = (srv.address() as { port: number }).port;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bosun-h2-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = path.join(dir, 'config');
  writeFileSync(kubeconfig, tokenKubeconfig(port, cert));
  return { port, kubeconfig, connections: () => connections, versions, close, cert };
}

function clientsFor(s: Served, extra: { requestTimeoutMs?: number; signal?: AbortSignal } = {}): KubeClients {
  return createKubeClients({ clock: systemClock, kubeconfig: s.kubeconfig, home: os.tmpdir(), ...extra });
}

test('a server offering h2 gets every request as a stream of one connection, with the credentials', async (t) => {
  const auth: string[] = [];
  const s = await serve(t, (req, res) => {
    auth.push(String(req.headers.authorization));
    // Chunked in HTTP/1.1 terms: the body comes in several DATA frames.
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write(NODE.slice(0, 10));
    setTimeout(() => res.end(NODE.slice(10)), 2);
  });
  const clients = clientsFor(s);
  const names = await Promise.all(
    Array.from({ length: 40 }, async () => (await readNode(clients, 'n')).metadata?.name),
  );
  assert.deepEqual(new Set(names), new Set(['n']));
  assert.equal(s.connections(), 1);
  assert.deepEqual(new Set(s.versions), new Set(['2.0']));
  assert.deepEqual(new Set(auth), new Set(['Bearer t']));
});

test('over h2 a DELETE carries its DeleteOptions body', async (t) => {
  const bodies: string[] = [];
  const s = await serve(t, (req, res) => {
    let b = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (b += d));
    req.on('end', () => {
      bodies.push(`${req.method} ${b}`);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Success' }));
    });
  });
  const clients = clientsFor(s);
  await kubeRequest(clients, {
    method: 'DELETE',
    path: '/api/v1/namespaces/ns/pods/p',
    body: { preconditions: { uid: 'u1' } },
  });
  await kubeRequest(clients, { method: 'DELETE', path: '/api/v1/namespaces/ns/pods/p' });
  assert.equal(bodies.length, 2);
  assert.match(bodies[0] ?? '', /^DELETE .*"uid":"u1"/);
  assert.deepEqual(s.versions, ['2.0', '2.0']);
});

test('over h2 a JSON Status error still becomes the API error, and gzip answers are decoded', async (t) => {
  const s = await serve(t, (req, res) => {
    if (req.url.includes('missing')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({
          kind: 'Status',
          apiVersion: 'v1',
          status: 'Failure',
          message: 'nodes "missing" not found',
          reason: 'NotFound',
          code: 404,
        }),
      );
      return;
    }
    assert.match(String(req.headers['accept-encoding']), /gzip/);
    res.writeHead(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' });
    res.end(gzipSync(NODE));
  });
  const clients = clientsFor(s);
  assert.equal((await readNode(clients, 'n')).metadata?.name, 'n');
  await assert.rejects(
    kubeCall(clients, { resource: 'nodes', name: 'missing', verb: 'get' }, () =>
      readNode(clients, 'missing'),
    ),
    (e: unknown) => isKubeApiError(e) && e.status === 404 && e.message === 'nodes "missing" not found',
  );
  assert.equal(s.versions[0], '2.0');
});

test('over h2: Ctrl-C is a cancellation, --request-timeout a timeout, a reset stream an unreachable server', async (t) => {
  const s = await serve(t, (req, res) => {
    if (req.url.includes('reset')) res.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
    // Anything else never answers.
  });
  const ac = new AbortController();
  const cancelled = clientsFor(s, { signal: ac.signal, requestTimeoutMs: 60_000 });
  const p = kubeCall(cancelled, { resource: 'nodes', verb: 'list' }, () =>
    kubeRequest(cancelled, { method: 'GET', path: '/api/v1/nodes' }),
  );
  setTimeout(() => ac.abort(), 50);
  await assert.rejects(p, (e: unknown) => isKubeApiError(e) && e.reason === TransportReason.Aborted);

  const impatient = clientsFor(s, { requestTimeoutMs: 200 });
  await assert.rejects(
    kubeCall(impatient, { resource: 'nodes', name: 'slow', verb: 'get' }, () => readNode(impatient, 'slow')),
    (e: unknown) => isKubeApiError(e) && e.reason === TransportReason.RequestTimeout,
  );

  const plain = clientsFor(s);
  await assert.rejects(
    kubeCall(plain, { resource: 'nodes', name: 'reset', verb: 'get' }, () => readNode(plain, 'reset')),
    (e: unknown) => isKubeApiError(e) && e.reason === TransportReason.Unreachable,
  );
  // The connection survives a reset stream: the next request is served on it.
  s.versions.length = 0;
  await assert.rejects(
    kubeCall(plain, { resource: 'nodes', name: 'reset', verb: 'get' }, () => readNode(plain, 'reset')),
  );
  assert.deepEqual(s.versions, ['2.0']);
});

test('a closed h2 connection is replaced by the next request', async (t) => {
  const sessions = new Set<http2.Http2Session>();
  const s = await serve(t, (req, res) => {
    if (req.stream.session) sessions.add(req.stream.session);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(NODE);
  });
  const clients = clientsFor(s);
  await readNode(clients, 'n');
  for (const x of sessions) x.goaway();
  await new Promise((r) => setTimeout(r, 50));
  await readNode(clients, 'n');
  assert.equal(s.connections(), 2);
});

test('an idle h2 connection does not keep a process alive', async (t) => {
  const s = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(NODE);
  });
  const script = [
    `import { createKubeClients, kubeRequest } from ${JSON.stringify(path.join(import.meta.dirname, 'client.ts'))};`,
    `const c = createKubeClients({ kubeconfig: ${JSON.stringify(s.kubeconfig)}, home: '/' });`,
    `const n = await kubeRequest(c, { method: 'GET', path: '/api/v1/nodes/n' });`,
    `console.log(n.metadata.name);`,
  ].join('\n');
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const killer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  t.after(() => clearTimeout(killer));
  const [code, signal] = (await new Promise((r) => child.on('exit', (c, sig) => r([c, sig])))) as [
    number | null,
    string | null,
  ];
  assert.equal(signal, null, `the process had to be killed: it stayed alive after its request\n${out}`);
  assert.equal(code, 0, out);
  assert.equal(out.trim(), 'n');
  assert.deepEqual(s.versions, ['2.0']);
});

test('over h2 a server that has gone away is unreachable, with the hint', async (t) => {
  const s = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(NODE);
  });
  const clients = clientsFor(s);
  await readNode(clients, 'n');
  await s.close();
  await assert.rejects(
    kubeCall(clients, { resource: 'nodes', name: 'n', verb: 'get' }, () => readNode(clients, 'n')),
    (e: unknown) =>
      isKubeApiError(e) &&
      e.reason === TransportReason.Unreachable &&
      /Is the cluster running/.test(e.hint ?? ''),
  );
});

/** A TCP pass-through to the server that can be frozen (a dead network path: nothing gets through). */
async function freezableProxy(
  t: { after(fn: () => void): void },
  port: number,
): Promise<{ port: number; freeze: () => void }> {
  let frozen = false;
  const sockets = new Set<net.Socket>();
  const proxy = net.createServer((c) => {
    const u = net.connect(port, '127.0.0.1');
    for (const [from, to] of [
      [c, u],
      [u, c],
    ] as const) {
      sockets.add(from);
      from.on('data', (d: Buffer) => {
        if (!frozen) to.write(d);
      });
      from.on('error', () => undefined);
      from.on('close', () => to.destroy());
    }
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const x of sockets) x.destroy();
    proxy.close();
  });
  return { port: (proxy.address() as { port: number }).port, freeze: () => (frozen = true) };
}

function getThrough(transport: Http2Transport, agent: https.Agent, port: number): Promise<number> {
  const ctx = new RequestContext(`https://127.0.0.1:${port}/api/v1/nodes/n`, HttpMethod.GET);
  ctx.setAgent(agent);
  return transport
    .library()
    .send(ctx)
    .toPromise()
    .then((r) => r.httpStatusCode);
}

test(
  'a connection that stops answering is pinged, then closed: the request fails as unreachable',
  { timeout: 20_000 },
  async (t) => {
    const onRequest = { freeze: (): void => undefined };
    const s = await serve(t, () => onRequest.freeze()); // the request gets in, then nothing more passes
    const proxy = await freezableProxy(t, s.port);
    onRequest.freeze = proxy.freeze;
    const agent = new https.Agent({ ca: s.cert });
    const transport = new Http2Transport(new WeakSet([agent]), { readIdleMs: 100, pingTimeoutMs: 100 });
    await assert.rejects(getThrough(transport, agent, proxy.port), (e: unknown) => {
      const k = toKubeError(e, { resource: 'nodes', name: 'n', verb: 'get' });
      return isKubeApiError(k) && k.reason === TransportReason.Unreachable && /ping/.test(k.message);
    });
  },
);

test('a slow answer on a live connection is waited for: its pings are answered', async (t) => {
  const s = await serve(t, (_req, res) => {
    setTimeout(() => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(NODE);
    }, 600);
  });
  const agent = new https.Agent({ ca: s.cert });
  const transport = new Http2Transport(new WeakSet([agent]), { readIdleMs: 100, pingTimeoutMs: 100 });
  assert.equal(await getThrough(transport, agent, s.port), 200);
});

test('over h2 the server certificate is verified against the kubeconfig CA, unless insecure-skip-tls-verify says not to', async (t) => {
  const s = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(NODE);
  });
  const other = await selfSignedServing(); // a CA that did not sign the server's certificate
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bosun-h2-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const wrongCa = path.join(dir, 'wrong-ca');
  writeFileSync(wrongCa, tokenKubeconfig(s.port, other.cert));
  const untrusting = createKubeClients({ clock: systemClock, kubeconfig: wrongCa, home: dir });
  await assert.rejects(
    kubeCall(untrusting, { resource: 'nodes', name: 'n', verb: 'get' }, () => readNode(untrusting, 'n')),
    (e: unknown) => isKubeApiError(e) && e.reason === TransportReason.TLS,
  );
  assert.deepEqual(s.versions, [], 'nothing was sent to an unverified server');
  const insecure = path.join(dir, 'insecure');
  writeFileSync(
    insecure,
    tokenKubeconfig(s.port, other.cert).replace(
      /certificate-authority-data: \S+/,
      'insecure-skip-tls-verify: true',
    ),
  );
  assert.equal(
    (await readNode(createKubeClients({ clock: systemClock, kubeconfig: insecure, home: dir }), 'n')).metadata
      ?.name,
    'n',
  );
  assert.deepEqual(s.versions, ['2.0']);
});

/** `n` pod events as a watch sends them, one JSON object a line. */
function watchLines(n: number): string {
  return Array.from({ length: n }, (_, i) =>
    JSON.stringify({
      type: 'MODIFIED',
      object: { kind: 'Pod', metadata: { name: `p${i}`, resourceVersion: String(i + 1) } },
    }),
  )
    .map((l) => `${l}\n`)
    .join('');
}

test('a watch goes over the h2 connection of the other requests, its events read across DATA frames', async (t) => {
  const urls: string[] = [];
  const s = await serve(t, (req, res) => {
    urls.push(String(req.url));
    res.writeHead(200, { 'content-type': 'application/json' });
    if (!String(req.url).includes('watch=true')) return void res.end(NODE);
    // A line cut in two, a frame holding several lines, and a multi-byte character cut in two.
    const text = watchLines(3).replace('p1', 'p1é');
    const bytes = Buffer.from(text);
    const cut = bytes.indexOf(Buffer.from('é')) + 1;
    res.write(bytes.subarray(0, 20));
    setTimeout(() => res.write(bytes.subarray(20, cut)), 2);
    setTimeout(() => res.end(bytes.subarray(cut)), 4);
  });
  const clients = clientsFor(s);
  await readNode(clients, 'n');
  const seen: string[] = [];
  await clients.watch(
    {
      path: '/api/v1/pods',
      query: { fieldSelector: 'spec.nodeName=w', labelSelector: undefined, allowWatchBookmarks: true },
    },
    (type, obj) => seen.push(`${type} ${(obj as { metadata: { name: string } }).metadata.name}`),
    new AbortController().signal,
  );
  assert.deepEqual(seen, ['MODIFIED p0', 'MODIFIED p1é', 'MODIFIED p2']);
  assert.equal(s.connections(), 1);
  assert.deepEqual(s.versions, ['2.0', '2.0']);
  assert.equal(urls[1], '/api/v1/pods?fieldSelector=spec.nodeName%3Dw&allowWatchBookmarks=true&watch=true');
});

test('over h2 a watch refused with a Status is the API error; what its handler throws ends it; an abort ends it quietly', async (t) => {
  const cancelled: string[] = [];
  const s = await serve(t, (req, res) => {
    const url = String(req.url);
    if (url.includes('gone')) {
      res.writeHead(410, { 'content-type': 'application/json' });
      return void res.end(
        JSON.stringify({
          kind: 'Status',
          status: 'Failure',
          reason: 'Expired',
          code: 410,
          message: 'too old resource version',
        }),
      );
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write(watchLines(2)); // and then nothing: the watch stays open
    req.on('close', () => cancelled.push(url));
  });
  const clients = clientsFor(s);
  const never = new AbortController().signal;
  await assert.rejects(
    clients
      .watch({ path: '/api/v1/gone' }, () => undefined, never)
      .catch((e: unknown) => {
        throw toKubeError(e, { resource: 'pods', verb: 'watch' });
      }),
    (e: unknown) => isKubeApiError(e) && e.status === 410,
  );
  const boom = new Error('handler failed');
  await assert.rejects(
    clients.watch(
      { path: '/api/v1/throws' },
      () => {
        throw boom;
      },
      never,
    ),
    (e: unknown) => e === boom,
  );
  const ctl = new AbortController();
  let events = 0;
  await clients.watch(
    { path: '/api/v1/aborted' },
    () => {
      if (++events === 2) ctl.abort();
    },
    ctl.signal,
  );
  assert.equal(events, 2);
  await waitFor(() => cancelled.length === 2);
  assert.deepEqual(cancelled.sort(), ['/api/v1/aborted?watch=true', '/api/v1/throws?watch=true']);
});

test(
  'a watch on a connection that stops answering is pinged, then closed: it fails as unreachable',
  { timeout: 20_000 },
  async (t) => {
    const onRequest = { freeze: (): void => undefined };
    const s = await serve(t, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write(watchLines(1));
      setTimeout(() => onRequest.freeze(), 20); // one event gets through, then nothing more
    });
    const proxy = await freezableProxy(t, s.port);
    onRequest.freeze = proxy.freeze;
    const agent = new https.Agent({ ca: s.cert });
    const transport = new Http2Transport(new WeakSet([agent]), { readIdleMs: 100, pingTimeoutMs: 100 });
    const ctx = new RequestContext(`https://127.0.0.1:${proxy.port}/api/v1/pods?watch=true`, HttpMethod.GET);
    ctx.setAgent(agent);
    let received = '';
    await assert.rejects(
      transport.stream(ctx, (c) => (received += c.toString())),
      (e: unknown) => {
        const k = toKubeError(e, { resource: 'pods', verb: 'watch' });
        return isKubeApiError(k) && k.reason === TransportReason.Unreachable && /ping/.test(k.message);
      },
    );
    assert.equal(received, watchLines(1));
  },
);

test('a server that speaks only HTTP/1.1 is watched through client-node: the same events, the same errors', async (t) => {
  const { cert, key } = await selfSignedServing();
  const srv = https.createServer({ cert, key }, (req, res) => {
    if (String(req.url).includes('gone')) {
      res.writeHead(410, { 'content-type': 'application/json' });
      return void res.end(
        JSON.stringify({ kind: 'Status', status: 'Failure', reason: 'Expired', code: 410 }),
      );
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(watchLines(2));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => srv.close());
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bosun-h1-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = path.join(dir, 'config');
  writeFileSync(kubeconfig, tokenKubeconfig((srv.address() as { port: number }).port, cert));
  const clients = createKubeClients({ clock: systemClock, kubeconfig, home: dir });
  const seen: string[] = [];
  await clients.watch({ path: '/api/v1/pods' }, (type) => seen.push(type), new AbortController().signal);
  assert.deepEqual(seen, ['MODIFIED', 'MODIFIED']);
  await assert.rejects(
    clients
      .watch({ path: '/api/v1/gone' }, () => undefined, new AbortController().signal)
      .catch((e: unknown) => {
        throw toKubeError(e, { resource: 'pods', verb: 'watch' });
      }),
    (e: unknown) => isKubeApiError(e) && e.status === 410,
  );
});

/** Polls cond (for what the server sees after the client has moved on), for at most 5 s. */
async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond());
}
