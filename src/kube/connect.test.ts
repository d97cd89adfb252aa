// Opening a connection has a deadline and gives way to the request's own (issue 18, "Every request
// has a deadline"): servers that accept and never answer, and a path that drops SYNs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { HttpMethod, RequestContext } from '@kubernetes/client-node';
import { systemClock } from '../common/real.ts';
import { createKubeClients, kubeCall, kubeRequest, type KubeClients } from './client.ts';
import { isKubeApiError, toKubeError, TransportReason } from './errors.ts';
import { Http2Transport } from './http2.ts';
import { selfSignedServing, tokenKubeconfig } from './testing/tls.ts';

interface Silent {
  port: number;
  /** Resolves when the server has accepted a connection. */
  accepted: Promise<net.Socket>;
}

/** A TCP server that accepts connections and never sends a byte. */
async function silentServer(t: { after(fn: () => void): void }): Promise<Silent> {
  const sockets = new Set<net.Socket>();
  let onAccept: (s: net.Socket) => void = () => undefined;
  const accepted = new Promise<net.Socket>((r) => (onAccept = r));
  const srv = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    onAccept(s);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => {
    for (const s of sockets) s.destroy();
    srv.close();
  });
  return { port: (srv.address() as { port: number }).port, accepted };
}

/**
 * A listening port whose accept queue is full and whose process never accepts: the kernel drops
 * further SYNs, so a connect neither succeeds nor fails (a firewall that drops packets).
 */
async function droppingPort(t: { after(fn: () => void): void }): Promise<number> {
  const child = spawn(
    process.execPath,
    [
      '-e',
      `const s = require('node:net').createServer();
       s.listen({ port: 0, host: '127.0.0.1', backlog: 1 }, () => {
         process.stdout.write(s.address().port + '\\n');
         Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); // never accepts again
       });`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.after(() => child.kill('SIGKILL'));
  const port = await new Promise<number>((r) =>
    child.stdout.once('data', (d: Buffer) => r(Number(String(d).trim()))),
  );
  // Fill the queue (backlog 1 holds two) with connections nobody accepts.
  const fillers: net.Socket[] = [];
  t.after(() => fillers.forEach((s) => s.destroy()));
  for (let i = 0; i < 2; i++) {
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    fillers.push(s);
    await new Promise<void>((r) => s.once('connect', () => r()));
  }
  return port;
}

async function kubeconfigFor(t: { after(fn: () => void): void }, port: number): Promise<string> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bosun-connect-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, 'config');
  writeFileSync(file, tokenKubeconfig(port, (await selfSignedServing()).cert));
  return file;
}

function getNode(c: KubeClients, name: string): Promise<unknown> {
  return kubeCall(c, { resource: 'nodes', name, verb: 'get' }, () =>
    kubeRequest(c, { method: 'GET', path: `/api/v1/nodes/${name}` }),
  );
}

/** A GET straight through a transport (its own deadlines), with the agent allowed h2. */
function getThrough(
  transport: Http2Transport,
  agent: https.Agent,
  port: number,
  signal?: AbortSignal,
): Promise<number> {
  const ctx = new RequestContext(`https://127.0.0.1:${port}/api/v1/nodes/n`, HttpMethod.GET);
  ctx.setAgent(agent);
  if (signal) ctx.setSignal(signal);
  return transport
    .library()
    .send(ctx)
    .toPromise()
    .then((r) => r.httpStatusCode);
}

test('a server that accepts and never answers: --request-timeout ends the request, naming the server', async (t) => {
  const s = await silentServer(t);
  const clients = createKubeClients({
    clock: systemClock,
    kubeconfig: await kubeconfigFor(t, s.port),
    home: os.tmpdir(),
    requestTimeoutMs: 300,
  });
  await assert.rejects(getNode(clients, 'worker-1'), (e: unknown) => {
    assert.ok(isKubeApiError(e), String(e));
    assert.equal(e.reason, TransportReason.RequestTimeout);
    assert.equal(
      e.message,
      `get nodes "worker-1" timed out after 0.3s waiting for the API server at https://127.0.0.1:${s.port}`,
    );
    return true;
  });
});

test('Ctrl-C while the TLS handshake hangs cancels at once and abandons the connection', async (t) => {
  const s = await silentServer(t);
  const ctl = new AbortController();
  const clients = createKubeClients({
    clock: systemClock,
    kubeconfig: await kubeconfigFor(t, s.port),
    home: os.tmpdir(),
    signal: ctl.signal,
  });
  const p = getNode(clients, 'worker-1');
  const sock = await s.accepted;
  const closed = new Promise<void>((r) => sock.once('close', () => r()));
  ctl.abort();
  await assert.rejects(p, (e: unknown) => isKubeApiError(e) && e.reason === TransportReason.Aborted);
  await closed; // the half-open connection is not left behind (it would keep the process alive)
});

test('without a request timeout, the TLS handshake deadline ends it as an unreachable server', async (t) => {
  const s = await silentServer(t);
  const agent = new https.Agent({ ca: (await selfSignedServing()).cert });
  const transport = new Http2Transport(new WeakSet([agent]), undefined, {
    dialMs: 30_000,
    tlsHandshakeMs: 200,
  });
  await assert.rejects(getThrough(transport, agent, s.port), (e: unknown) => {
    const k = toKubeError(e, { resource: 'nodes', name: 'n', verb: 'get' });
    assert.ok(isKubeApiError(k), String(e));
    assert.equal(k.reason, TransportReason.Unreachable);
    assert.equal(
      k.message,
      `unable to reach the API server: TLS handshake timeout: 127.0.0.1:${s.port} accepted the connection but did not answer within 0.2s`,
    );
    assert.match(k.hint ?? '', /Is the cluster running/);
    return true;
  });
});

test('a path that drops SYNs: the dial deadline ends it as an unreachable server', async (t) => {
  const port = await droppingPort(t);
  const agent = new https.Agent({ ca: (await selfSignedServing()).cert });
  const transport = new Http2Transport(new WeakSet([agent]), undefined, {
    dialMs: 200,
    tlsHandshakeMs: 10_000,
  });
  await assert.rejects(getThrough(transport, agent, port), (e: unknown) => {
    const k = toKubeError(e, { resource: 'nodes', name: 'n', verb: 'get' });
    assert.ok(isKubeApiError(k), String(e));
    assert.equal(k.reason, TransportReason.Unreachable);
    assert.equal(
      k.message,
      `unable to reach the API server: dial tcp 127.0.0.1:${port}: i/o timeout (no connection within 0.2s)`,
    );
    return true;
  });
});

test('requests waiting on one connection: one giving up leaves the others waiting on it', async (t) => {
  const s = await silentServer(t);
  const agent = new https.Agent({ ca: (await selfSignedServing()).cert });
  const transport = new Http2Transport(new WeakSet([agent]), undefined, {
    dialMs: 30_000,
    tlsHandshakeMs: 300,
  });
  const impatient = new AbortController();
  const first = getThrough(transport, agent, s.port, impatient.signal);
  const second = getThrough(transport, agent, s.port);
  await s.accepted;
  impatient.abort();
  await assert.rejects(first, (e: unknown) => (e as Error).name === 'AbortError');
  // The second still waits for the same attempt, which ends by its own deadline, not the abort.
  await assert.rejects(second, (e: unknown) => /TLS handshake timeout/.test((e as Error).message));
});
