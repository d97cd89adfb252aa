// Benchmark (not a test): the sandbox at scale. Brings up 3 control planes, 50 workers and 2,000
// pods, and an empty cluster (3 control planes, no workers, no workload) for comparison, each in
// its own process; prints startup time, peak memory (this process plus its etcd members) and the
// time to list all pods (raw HTTPS and the real kubectl), side by side with ratios.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { systemClock } from '../src/common/real.ts';
import { Sandbox, TIMINGS } from '../src/sandbox/index.ts';
import { resource } from '../src/sandbox/apiserver/resources.ts';
import { rawClient } from '../test/support/https-client.ts';
import { KUBECTL, run, scratchDir } from '../test/support/sandbox.ts';

interface Figures {
  pods: number;
  startupMs: number;
  peakRssMb: number;
  listRawMs: number;
  listKubectlMs: number;
}

function vmHwmKb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

async function scenario(kind: 'full' | 'empty'): Promise<Figures> {
  const dir = scratchDir('bosun-bench-');
  const t0 = performance.now();
  const workers = kind === 'full' ? 50 : 0;
  const sb = await Sandbox.start({
    dir,
    controlPlanes: 3,
    workers,
    version: 'v1.34.3',
    workload: 'none',
    timing: TIMINGS.fast,
    keyAlgorithm: 'ecdsa-p256',
    nodeBinary: process.execPath,
    clock: systemClock,
    log: () => undefined,
    readyTimeoutMs: 600_000,
  });
  try {
    if (kind === 'full') {
      // 2,000 workload pods: 20 Deployments of 100 replicas (plus the system pods).
      for (let i = 0; i < 20; i++) {
        await sb.internalApi.create(resource('deployments'), 'default', {
          metadata: { name: `app-${i}` },
          spec: {
            replicas: 100,
            selector: { matchLabels: { app: `app-${i}` } },
            template: {
              metadata: { labels: { app: `app-${i}` } },
              spec: {
                containers: [
                  { name: 'c', image: 'nginx:1.27', resources: { requests: { cpu: '10m', memory: '16Mi' } } },
                ],
              },
            },
          },
        });
      }
      await sb.waitReady(600_000);
    }
    const startupMs = performance.now() - t0;
    const c = rawClient(sb.kubeconfig);
    const l0 = performance.now();
    const list = (await c.request('GET', '/api/v1/pods')).json<{ items: unknown[] }>();
    const listRawMs = performance.now() - l0;
    const home = join(dir, 'kubectl-home');
    await run(
      KUBECTL,
      [
        '--kubeconfig',
        sb.kubeconfig,
        '--cache-dir',
        join(home, 'cache'),
        'get',
        'pods',
        '-A',
        '--no-headers',
      ],
      { env: { ...process.env, HOME: home } },
    );
    const k0 = performance.now();
    const k = await run(
      KUBECTL,
      [
        '--kubeconfig',
        sb.kubeconfig,
        '--cache-dir',
        join(home, 'cache'),
        'get',
        'pods',
        '-A',
        '--no-headers',
      ],
      { env: { ...process.env, HOME: home } },
    );
    const listKubectlMs = performance.now() - k0;
    const kubectlRows = k.stdout.trim().split('\n').filter(Boolean).length;
    if (k.code !== 0 || kubectlRows !== list.items.length)
      throw new Error(`kubectl listed ${kubectlRows} pods, the API ${list.items.length}: ${k.stderr.trim()}`);
    const etcdKb = Object.values(
      (JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { etcdPids: Record<string, number> })
        .etcdPids,
    ).reduce((a, pid) => a + vmHwmKb(pid), 0);
    const peakRssMb = (process.resourceUsage().maxRSS + etcdKb) / 1024;
    return { pods: list.items.length, startupMs, peakRssMb, listRawMs, listKubectlMs };
  } finally {
    await sb.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const which = process.argv[2];
if (which === 'full' || which === 'empty') {
  process.stdout.write(JSON.stringify(await scenario(which)) + '\n');
} else {
  const measure = (kind: string): Figures => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', import.meta.filename, kind], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    if (r.status !== 0) throw new Error(`${kind} scenario failed (${String(r.status)})`);
    return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as Figures;
  };
  const empty = measure('empty');
  const full = measure('full');
  const row = (name: string, a: number, b: number, unit: string): string =>
    `${name.padEnd(28)}${`${b.toFixed(unit === 'MB' ? 0 : 0)} ${unit}`.padStart(12)}${`${a.toFixed(0)} ${unit}`.padStart(12)}${`${(a / b).toFixed(2)}x`.padStart(10)}`;
  console.log(
    `sandbox: 3 control planes + 50 workers + ${full.pods} pods, beside an empty cluster (3 control planes, ${empty.pods} system pods)`,
  );
  console.log(`${''.padEnd(28)}${'empty'.padStart(12)}${'full'.padStart(12)}${'ratio'.padStart(10)}`);
  console.log(row('startup to all ready', full.startupMs, empty.startupMs, 'ms'));
  console.log(row('peak memory (with etcd)', full.peakRssMb, empty.peakRssMb, 'MB'));
  console.log(row('list all pods (HTTPS)', full.listRawMs, empty.listRawMs, 'ms'));
  console.log(row('kubectl get pods -A', full.listKubectlMs, empty.listKubectlMs, 'ms'));
}
