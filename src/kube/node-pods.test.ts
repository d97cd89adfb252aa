import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createKubeClients } from './client.ts';
import { createNodePods } from './node-pods.ts';
import { plainKubeconfig } from './testing/tls.ts';

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
  return createNodePods(createKubeClients({ kubeconfig: path.join(dir, 'config'), home: dir }));
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
