// The bundle that bin/bosun.js runs after `npm ci` (scripts/build.mjs, esbuild): every other test
// runs the TypeScript through tsx, so what only bundling can break (CommonJS interop of a lazily
// loaded library, chunks found at run time) is checked here, on a fresh build.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { join } from 'node:path';
import { selfSignedServing, tokenKubeconfig } from '../src/kube/testing/tls.ts';

const root = join(import.meta.dirname, '..');
// Inside the repository, so the bundle's external packages resolve from its node_modules.
const outdir = `.test-bundle-${process.pid}`;
const entry = join(root, outdir, 'bosun.mjs');

function bosun(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [entry, ...args], {
    encoding: 'utf8',
    env: { ...process.env, KUBECONFIG: '' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

before(() => {
  const r = spawnSync(process.execPath, ['scripts/build.mjs', '--outdir', outdir], {
    cwd: root,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
});

after(() => rmSync(join(root, outdir), { recursive: true, force: true }));

test('the bundle prints its version as text, json and yaml (yaml is loaded lazily)', () => {
  assert.match(bosun('version').stdout, /^bosun version: v\d+\.\d+\.\d+\n$/);
  assert.equal(JSON.parse(bosun('version', '-o', 'json').stdout).nodeVersion, process.versions.node);
  const y = bosun('version', '-o', 'yaml');
  assert.equal(y.code, 0, y.stderr);
  assert.match(y.stdout, /^bosunVersion: \d+\.\d+\.\d+\nnodeVersion: /);
});

test("the bundle's commands load: help, and a drain that cannot reach its cluster says so", () => {
  const help = bosun('drain', '--help');
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /--eviction-concurrency <n>/);
  const r = bosun('drain', 'worker-1', '--kubeconfig', join(root, outdir, 'missing.conf'));
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /missing\.conf/);
});

/** Runs the bundle without blocking this process, which serves the cluster it talks to. */
function bosunAsync(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [entry, ...args], { env: { ...process.env, KUBECONFIG: '' } });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    c.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test('the lazily loaded HTTP/1.1 path and proxy agent work in the bundle (a proxy-url to an HTTP/1.1 server)', async (t) => {
  // An API server that offers only HTTP/1.1, so the request goes through client-node's fetch
  // library (node-fetch, loaded on first use), through an HTTP CONNECT proxy named by proxy-url
  // (hpagent's agent, loaded on first use).
  const { cert, key } = await selfSignedServing();
  const api = https.createServer({ cert, key }, (req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.method === 'GET' && req.url === '/api/v1/nodes/worker-1') {
      res.end(JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'worker-1' }, spec: {} }));
      return;
    }
    res.statusCode = 404;
    res.end(
      JSON.stringify({ apiVersion: 'v1', kind: 'Status', status: 'Failure', reason: 'NotFound', code: 404 }),
    );
  });
  const tunnels: string[] = [];
  const proxy = http.createServer((_req, res) => res.writeHead(405).end());
  proxy.on('connect', (req: http.IncomingMessage, client: net.Socket, head: Buffer) => {
    tunnels.push(req.url ?? '');
    const [host, port] = (req.url ?? '').split(':');
    const upstream = net.connect(Number(port), host, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      upstream.write(head);
      upstream.pipe(client).pipe(upstream);
    });
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  });
  const listen = (s: net.Server): Promise<number> =>
    new Promise((r) => s.listen(0, '127.0.0.1', () => r((s.address() as net.AddressInfo).port)));
  const [apiPort, proxyPort] = [await listen(api), await listen(proxy)];
  t.after(() => {
    api.closeAllConnections();
    proxy.closeAllConnections();
    api.close();
    proxy.close();
  });
  const kubeconfig = join(root, outdir, 'proxied.conf');
  writeFileSync(
    kubeconfig,
    tokenKubeconfig(apiPort, cert).replace(
      `server: https://127.0.0.1:${apiPort}`,
      `server: https://127.0.0.1:${apiPort}\n    proxy-url: http://127.0.0.1:${proxyPort}`,
    ),
  );
  const r = await bosunAsync('cordon', 'worker-1', '--dry-run=client', '--kubeconfig', kubeconfig);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'node/worker-1 cordoned (dry run)\n');
  assert.deepEqual(tunnels, [`127.0.0.1:${apiPort}`]);
});
