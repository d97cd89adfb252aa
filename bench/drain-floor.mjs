// The drain benchmark's floor: the least any client must do to drain a node, and nothing else, so
// that what remains of bosun's time can be told apart from what the cluster itself takes.
//
// It is started and connected (HTTP/2, the admin's client certificate) before any clock starts, so
// it pays no process start, no module loading and no TLS handshake. On each line `go NODE` from
// stdin it cordons NODE, lists the node's pods, evicts every pod that no DaemonSet owns, 64 at a
// time (bosun's default), follows the node's pods by watch until each evicted one is gone (deleted,
// or its name taken by a new pod), and prints one JSON line: { ms }, timed from the line's arrival.
// No pre-flight, no budget handling, no retries, no output per pod: a floor, not a tool.
//
// Given a NODE argument instead, it is the floor started as a command, as bosun is: it connects,
// drains NODE once and exits, paying Node's start and the TLS handshake like any command would.
//
// Input: FLOOR_CLUSTER, JSON { server, ca, cert, key } (PEM texts). Prints "ready" once connected.
// Usage (from bench/drain.bench.ts): node bench/drain-floor.mjs [NODE]
import http2 from 'node:http2';
import { createInterface } from 'node:readline';

const CONCURRENCY = 64;
const cluster = JSON.parse(process.env.FLOOR_CLUSTER ?? '{}');
const session = http2.connect(cluster.server, { ca: cluster.ca, cert: cluster.cert, key: cluster.key });
session.on('error', (e) => {
  process.stderr.write(`drain-floor: ${e.message}\n`);
  process.exit(1);
});

/** One request; resolves with the parsed JSON answer, rejects on a status >= 300. */
function call(method, path, body, contentType = 'application/json') {
  return new Promise((resolve, reject) => {
    const st = session.request({
      ':method': method,
      ':path': path,
      ...(body !== undefined ? { 'content-type': contentType } : {}),
    });
    let status = 0;
    let text = '';
    st.setEncoding('utf8');
    st.on('response', (h) => (status = Number(h[':status'])));
    st.on('data', (d) => (text += d));
    st.on('end', () =>
      status < 300
        ? resolve(text ? JSON.parse(text) : undefined)
        : reject(new Error(`${method} ${path}: ${status} ${text}`)),
    );
    st.on('error', reject);
    st.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

const podsPath = (node) => `/api/v1/pods?fieldSelector=${encodeURIComponent(`spec.nodeName=${node}`)}`;

async function drain(node) {
  await call(
    'PATCH',
    `/api/v1/nodes/${node}`,
    { spec: { unschedulable: true } },
    'application/merge-patch+json',
  );
  const list = await call('GET', podsPath(node));
  const evict = list.items.filter(
    (p) => !(p.metadata.ownerReferences ?? []).some((o) => o.kind === 'DaemonSet'),
  );
  const left = new Map(evict.map((p) => [`${p.metadata.namespace}/${p.metadata.name}`, p.metadata.uid]));
  const gone = new Promise((resolve, reject) => {
    if (left.size === 0) return resolve();
    const w = session.request({
      ':method': 'GET',
      ':path': `${podsPath(node)}&watch=1&resourceVersion=${list.metadata.resourceVersion}`,
    });
    let buf = '';
    w.setEncoding('utf8');
    w.on('data', (d) => {
      buf += d;
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const ev = JSON.parse(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
        const m = ev.object.metadata;
        const key = `${m.namespace}/${m.name}`;
        if (left.has(key) && (ev.type === 'DELETED' || left.get(key) !== m.uid)) left.delete(key);
      }
      if (left.size === 0) {
        w.close();
        resolve();
      }
    });
    w.on('error', reject);
    // A watch the server ends early would otherwise leave this drain waiting for ever.
    w.on('end', () => {
      if (left.size > 0) reject(new Error(`the watch ended with ${left.size} pod(s) still there`));
    });
  });
  let next = 0;
  const worker = async () => {
    while (next < evict.length) {
      const p = evict[next++];
      await call('POST', `/api/v1/namespaces/${p.metadata.namespace}/pods/${p.metadata.name}/eviction`, {
        apiVersion: 'policy/v1',
        kind: 'Eviction',
        metadata: { name: p.metadata.name, namespace: p.metadata.namespace },
      });
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  await gone;
}

const once = process.argv[2];
if (once) {
  await drain(once).catch((e) => {
    process.stderr.write(`drain-floor: ${e.message}\n`);
    process.exit(1);
  });
  session.close();
} else
  session.once('connect', async () => {
    await call('GET', '/version');
    process.stdout.write('ready\n');
    for await (const line of createInterface({ input: process.stdin })) {
      const [verb, node] = line.split(' ');
      if (verb !== 'go' || !node) continue;
      const t0 = performance.now();
      await drain(node).catch((e) => {
        process.stderr.write(`drain-floor: ${e.message}\n`);
        process.exit(1);
      });
      process.stdout.write(`${JSON.stringify({ ms: performance.now() - t0 })}\n`);
    }
    session.close();
  });
