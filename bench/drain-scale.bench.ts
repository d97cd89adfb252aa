// Benchmark (not a test): does a drain's memory grow with the cluster? On a sandbox of 50 workers,
// `bosun drain worker-1 --check` (the whole pre-flight: every pod of the cluster read, in chunks of
// --chunk-size, 500 by default) runs with 2,000 and then with 5,000 pods in the cluster (each
// worker holding about 40, then 100). Each run is a process of its own, the bundle users run
// (dist/bosun.mjs, built first), through a TCP proxy that counts the bytes the API server sent it;
// its peak RSS comes from the process itself (bench/drain-rss.mjs). Prints peak RSS and API bytes for both sizes and their ratios; the
// target (issue 18) is peak RSS within 1.2x. For contrast, the same with --chunk-size 0 (the
// whole list in one response). Medians of five runs (with their range). Never asserts.
// Usage: npm run bench -- drain-scale
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { processExec, systemClock } from '../src/common/real.ts';
import { Sandbox, TIMINGS } from '../src/sandbox/index.ts';
import { resource } from '../src/sandbox/apiserver/resources.ts';
import { eventually, run, scratchDir } from '../test/support/sandbox.ts';

const WORKERS = 50;
const DEPLOYMENTS = 20;
const SIZES = [2000, 5000];
const RUNS = 5;
const root = join(import.meta.dirname, '..');

interface Figures {
  rssMb: number;
  rssRange: [number, number];
  apiBytes: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

/** A TCP proxy to the API server that counts what the server sends back. */
async function countingProxy(
  target: number,
): Promise<{ port: number; bytes: () => number; reset: () => void; close: () => Promise<void> }> {
  let bytes = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    upstream.on('data', (d: Buffer) => (bytes += d.length));
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    bytes: () => bytes,
    reset: () => (bytes = 0),
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

async function runningPods(sb: Sandbox): Promise<number> {
  const list = await sb.internalApi.list(resource('pods'), undefined, {});
  return list.items.filter((p) => (p as { status?: { phase?: string } }).status?.phase === 'Running').length;
}

async function measure(
  kubeconfig: string,
  rssFile: string,
  chunkSize: string,
  proxy: { bytes: () => number; reset: () => void },
): Promise<Figures> {
  const rss: number[] = [];
  const bytes: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    writeFileSync(rssFile, '');
    proxy.reset();
    const r = await run(
      process.execPath,
      [
        '--import',
        join(root, 'bench', 'drain-rss.mjs'),
        join(root, 'dist', 'bosun.mjs'),
        'drain',
        'worker-1',
        '--check',
        '--ignore-daemonsets',
        '--chunk-size',
        chunkSize,
        '--kubeconfig',
        kubeconfig,
      ],
      { env: { ...process.env, KUBECONFIG: '', BOSUN_BENCH_RSS_FILE: rssFile }, timeoutMs: 300_000 },
    );
    if (r.code !== 0 && r.code !== 1) throw new Error(`bosun drain --check failed (${r.code}): ${r.stderr}`);
    rss.push(Number(readFileSync(rssFile, 'utf8').trim().split('\n').at(-1)) / 1024);
    bytes.push(proxy.bytes());
  }
  return { rssMb: median(rss), rssRange: [Math.min(...rss), Math.max(...rss)], apiBytes: median(bytes) };
}

const built = await run(process.execPath, [join(root, 'scripts', 'build.mjs')], { timeoutMs: 300_000 });
if (built.code !== 0) throw new Error(`npm run build failed: ${built.stderr}`);
const dir = scratchDir('bosun-bench-drain-');
const sb = await Sandbox.start({
  dir,
  controlPlanes: 1,
  workers: WORKERS,
  version: 'v1.34.3',
  workload: 'none',
  timing: { ...TIMINGS.fast, nodeMonitorGraceMs: 120_000 },
  keyAlgorithm: 'ecdsa-p256',
  nodeBinary: process.execPath,
  clock: systemClock,
  exec: processExec,
  env: process.env,
  log: () => undefined,
  readyTimeoutMs: 600_000,
});
const rssFile = join(dir, 'rss');
const proxyKubeconfig = join(dir, 'proxied.conf');
let proxy: Awaited<ReturnType<typeof countingProxy>> | undefined;
try {
  const server = /server: https:\/\/127\.0\.0\.1:(\d+)/.exec(readFileSync(sb.kubeconfig, 'utf8'));
  if (!server?.[1]) throw new Error('no server in the sandbox kubeconfig');
  proxy = await countingProxy(Number(server[1]));
  writeFileSync(
    proxyKubeconfig,
    readFileSync(sb.kubeconfig, 'utf8').replace(
      `https://127.0.0.1:${server[1]}`,
      `https://127.0.0.1:${proxy.port}`,
    ),
  );
  const deployments = resource('deployments');
  const results: { pods: number; chunked: Figures; whole: Figures }[] = [];
  for (const size of SIZES) {
    const replicas = size / DEPLOYMENTS;
    for (let i = 0; i < DEPLOYMENTS; i++) {
      const spec = {
        replicas,
        selector: { matchLabels: { app: `app-${i}` } },
        template: {
          metadata: { labels: { app: `app-${i}` } },
          spec: {
            containers: [
              { name: 'c', image: 'nginx:1.27', resources: { requests: { cpu: '10m', memory: '16Mi' } } },
            ],
          },
        },
      };
      const existing = await sb.internalApi.tryGet(deployments, 'default', `app-${i}`);
      if (existing) await sb.internalApi.update(deployments, 'default', `app-${i}`, { ...existing, spec });
      else await sb.internalApi.create(deployments, 'default', { metadata: { name: `app-${i}` }, spec });
    }
    await eventually(`${size} workload pods running`, async () => (await runningPods(sb)) >= size, 900_000);
    const pods = (await sb.internalApi.list(resource('pods'), undefined, {})).items.length;
    const chunked = await measure(proxyKubeconfig, rssFile, '500', proxy);
    const whole = await measure(proxyKubeconfig, rssFile, '0', proxy);
    results.push({ pods, chunked, whole });
  }
  const [a, b] = results;
  if (!a || !b) throw new Error('no results');
  const mb = (x: number): string => `${x.toFixed(1)} MB`;
  const kb = (x: number): string => `${(x / 1024).toFixed(0)} KiB`;
  const ratio = (x: number, y: number): string => `${(y / x).toFixed(2)}x`;
  console.log(`bosun drain worker-1 --check on ${WORKERS} workers, median of ${RUNS} runs each`);
  console.log(
    `${''.padEnd(38)}${`${a.pods} pods`.padStart(16)}${`${b.pods} pods`.padStart(16)}${'ratio'.padStart(8)}`,
  );
  const row = (name: string, x: string, y: string, r: string): void =>
    console.log(`${name.padEnd(38)}${x.padStart(16)}${y.padStart(16)}${r.padStart(8)}`);
  row(
    'peak RSS, --chunk-size 500',
    mb(a.chunked.rssMb),
    mb(b.chunked.rssMb),
    ratio(a.chunked.rssMb, b.chunked.rssMb),
  );
  row(
    'API bytes read, --chunk-size 500',
    kb(a.chunked.apiBytes),
    kb(b.chunked.apiBytes),
    ratio(a.chunked.apiBytes, b.chunked.apiBytes),
  );
  row('peak RSS, --chunk-size 0', mb(a.whole.rssMb), mb(b.whole.rssMb), ratio(a.whole.rssMb, b.whole.rssMb));
  row(
    'API bytes read, --chunk-size 0',
    kb(a.whole.apiBytes),
    kb(b.whole.apiBytes),
    ratio(a.whole.apiBytes, b.whole.apiBytes),
  );
  const range = (f: Figures): string => `${f.rssRange[0].toFixed(1)}-${f.rssRange[1].toFixed(1)} MB`;
  row('  range of the runs, --chunk-size 500', range(a.chunked), range(b.chunked), '');
  row('  range of the runs, --chunk-size 0', range(a.whole), range(b.whole), '');
  console.log('target (issue 18): peak RSS with chunks within 1.2x between the two sizes');
} finally {
  await proxy?.close();
  await sb.stop();
  rmSync(dir, { recursive: true, force: true });
}
