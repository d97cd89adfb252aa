// Benchmark (not a test): `bosun upgrade apply` of one hop (v1.33.5 -> v1.34.3) on a sandbox of 3
// control planes and 20 workers, with --max-unavailable 1 and 3, each on its own sandbox, the
// command run as its own process with -o json. Prints, per run:
// - the wall time beside the physical limit measured in the same run: per step or batch, the
//   slowest evicted pod's termination (a watcher's deletionTimestamp -> DELETED), plus the recipe's
//   own time (its first line to its last line's end, from apply's events), plus the time the node
//   takes to report the new version and Ready after its recipe (the watcher's Node events), summed
//   over the sequence; the control planes count their recipe and the time their static pods take
//   to show the new version, and the etcd backup its own time. Target: within 1.10x.
// - the API requests bosun sent per node (the sandbox's request counters, the watcher's own
//   subtracted), with 2 and with 8 pods per worker (one worker at a time: three workers' evictions
//   of 24 pods under one budget at once exhaust the eviction handler's conflict retries, kube-apiserver's
//   EvictionsRetry as the sandbox's, and the 409s bosun then retries would count as requests the pod
//   count did not cause): they must not grow with the pod count.
// Never asserts on time.
// Usage: npm run bench -- upgrade
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Node, Pod } from '../src/kube/types.ts';
import { RolloutWatcher, type Recorded } from '../test/support/rollout-watcher.ts';
import { eventually, startTestSandbox, type TestSandbox } from '../test/support/sandbox.ts';
import { workloadsSettled } from '../test/support/drain.ts';

const MAIN = join(import.meta.dirname, '..', 'src', 'cli', 'main.ts');
/** 20 as the issue asks; BOSUN_BENCH_WORKERS makes a quicker run while working on it. */
const WORKERS = Number(process.env['BOSUN_BENCH_WORKERS'] ?? 20);
const TARGET = 'v1.34.3';
const VERBS = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'];

interface Event {
  type: string;
  time: string;
  id?: string;
  node?: string;
  phase?: string;
  what?: string;
  batch?: number;
}

async function prepare(podsPerWorker: number): Promise<TestSandbox> {
  const t = await startTestSandbox({
    controlPlanes: 3,
    workers: WORKERS,
    version: 'v1.33.5',
    workload: 'none',
    timing: { nodeMonitorGraceMs: 30_000 },
  });
  try {
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        replicas: WORKERS * podsPerWorker,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' }, annotations: { 'sandbox.bosun.dev/stop-seconds': '1' } },
          spec: {
            containers: [
              { name: 'c', image: 'registry.k8s.io/pause:3.10', resources: { requests: { cpu: '10m' } } },
            ],
          },
        },
      },
    };
    const pdb = {
      apiVersion: 'policy/v1',
      kind: 'PodDisruptionBudget',
      metadata: { name: 'web', namespace: 'default' },
      spec: { maxUnavailable: '25%', selector: { matchLabels: { app: 'web' } } },
    };
    for (const m of [deployment, pdb]) {
      const r = await t.kubectl(['create', '--validate=false', '-f', '-'], { input: JSON.stringify(m) });
      if (r.code !== 0) throw new Error(r.stderr);
    }
    await eventually('the workload is Ready', () => workloadsSettled(t), 120_000);
  } catch (e) {
    await t.stop();
    throw e;
  }
  return t;
}

/** Runs apply as its own process; its JSON events, and its wall time. */
function applyRun(
  t: TestSandbox,
  maxUnavailable: number,
): Promise<{ events: Event[]; ms: number; code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        MAIN,
        'upgrade',
        'apply',
        '--to',
        TARGET,
        '--on-node',
        '--yes',
        '--max-unavailable',
        String(maxUnavailable),
        '--backup-dir',
        join(t.dir, 'backups'),
        '--no-certificates',
        '-o',
        'json',
      ],
      {
        env: { ...process.env, KUBECONFIG: t.kubeconfig, BOSUN_DEBUG: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.on('exit', (code) => {
      const events = out
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => JSON.parse(l) as Event);
      resolve({ events, ms: performance.now() - started, code, stderr: err });
    });
  });
}

const ms = (iso: string): number => Date.parse(iso);

function ready(n: Node): boolean {
  return (n.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/** The physical limit of the run, from apply's events and the watcher's recording. */
function physicalLimit(
  events: readonly Event[],
  recorded: readonly Recorded[],
): { limitMs: number; parts: string[] } {
  // Per step: the recipe's start and end (its first line's action; the wait that follows its last).
  const steps = new Map<
    string,
    { node: string; start?: number; recipeEnd?: number; done?: number; begun?: number }
  >();
  for (const e of events) {
    if (!e.id || e.id === 'api') continue;
    const s = steps.get(e.id) ?? { node: e.node ?? '' };
    if (e.type === 'step' && e.phase === 'start') s.begun = ms(e.time);
    if (e.type === 'step' && e.phase === 'done') s.done = ms(e.time);
    if (e.type === 'action' && e.what && /^waiting for the (kubelet|static pods)/.test(e.what))
      s.recipeEnd = ms(e.time);
    if (e.type === 'command' && s.start === undefined) s.start = ms(e.time);
    steps.set(e.id, s);
  }
  // When each node first showed the target and Ready; when each pod's deletion began and ended.
  const shown = new Map<string, number[]>();
  const deleting = new Map<string, { node: string; from: number; to?: number }>();
  for (const r of recorded) {
    if (r.kind === 'node' && r.object) {
      const n = r.object as Node;
      if (n.status?.nodeInfo?.kubeletVersion === TARGET && ready(n))
        shown.set(r.name, [...(shown.get(r.name) ?? []), r.at]);
    }
    if (r.kind === 'pod' && r.object) {
      const p = r.object as Pod;
      if (p.metadata.namespace !== 'default') continue;
      const d = deleting.get(r.name);
      if (p.metadata.deletionTimestamp && !d)
        deleting.set(r.name, { node: p.spec?.nodeName ?? '', from: r.at });
      if (r.type === 'DELETED' && d) d.to = r.at;
    }
  }
  const parts: string[] = [];
  let limit = 0;
  // Steps in the order they ran; the kubelet steps of one batch together.
  const groups = new Map<string, string[]>();
  for (const e of events) {
    if (e.type !== 'step' || e.phase !== 'start' || !e.id) continue;
    const key = e.batch !== undefined ? `batch ${e.batch}` : e.id;
    groups.set(key, [...(groups.get(key) ?? []), e.id]);
  }
  for (const [key, ids] of groups) {
    if (ids[0]?.endsWith('/etcd-backup')) {
      const s = steps.get(ids[0]);
      const t = (s?.done ?? 0) - (s?.begun ?? 0);
      limit += t;
      parts.push(`backup ${t}ms`);
      continue;
    }
    let termination = 0;
    let recipe = 0;
    let report = 0;
    for (const id of ids) {
      const s = steps.get(id);
      if (!s?.start || !s.recipeEnd) continue;
      recipe = Math.max(recipe, s.recipeEnd - s.start);
      if (id.includes('/kubelet/')) {
        const at = (shown.get(s.node) ?? []).find((x) => x >= s.recipeEnd!);
        if (at !== undefined) report = Math.max(report, at - s.recipeEnd);
        for (const d of deleting.values())
          if (d.node === s.node && d.to !== undefined && d.from >= (s.begun ?? 0) && d.from <= s.start)
            termination = Math.max(termination, d.to - d.from);
      } else if (s.done) report = Math.max(report, s.done - s.recipeEnd);
    }
    limit += termination + recipe + report;
    parts.push(
      `${key.startsWith('batch ') ? `${key} (${ids.map((i) => i.split('/').pop()).join(',')})` : key}: ${termination}+${recipe}+${report}ms`,
    );
  }
  return { limitMs: limit, parts };
}

/** The mean time between the phases of the kubelet steps, and between steps. */
function phases(events: readonly Event[]): string {
  const marks = new Map<string, [string, number][]>();
  let lastDone: number | undefined;
  const gaps: number[] = [];
  for (const e of events) {
    if (!e.id?.includes('/kubelet/')) continue;
    const l = marks.get(e.id) ?? [];
    const t = ms(e.time);
    if (e.type === 'step' && e.phase === 'start') {
      if (lastDone !== undefined) gaps.push(t - lastDone);
      l.push(['start', t]);
    } else if (e.type === 'action' && e.what)
      l.push([e.what.split(':')[0]?.split(' ').slice(0, 3).join(' ') ?? '', t]);
    else if (e.type === 'command' && !l.some(([k]) => k === 'recipe')) l.push(['recipe', t]);
    else if (e.type === 'step' && e.phase === 'done') {
      l.push(['done', t]);
      lastDone = t;
    }
    marks.set(e.id, l);
  }
  const sums = new Map<string, { total: number; n: number }>();
  for (const l of marks.values())
    for (let i = 1; i < l.length; i++) {
      const k = `${l[i - 1]?.[0] ?? ''}->${l[i]?.[0] ?? ''}`;
      const x = sums.get(k) ?? { total: 0, n: 0 };
      x.total += (l[i]?.[1] ?? 0) - (l[i - 1]?.[1] ?? 0);
      x.n++;
      sums.set(k, x);
    }
  const out = [...sums].map(([k, v]) => `${k} ${Math.round(v.total / v.n)}`);
  if (gaps.length > 0) out.push(`between steps ${Math.round(gaps.reduce((a, b) => a + b, 0) / gaps.length)}`);
  return out.join(', ');
}

async function one(maxUnavailable: number, podsPerWorker: number): Promise<void> {
  const t = await prepare(podsPerWorker);
  try {
    const counters = VERBS.map((verb) => ({ verb, id: t.sb.addFault({ match: { verb } }) }));
    const watcher = await RolloutWatcher.start(t.kubeconfig, { pods: true });
    let r;
    try {
      r = await applyRun(t, maxUnavailable);
    } finally {
      await watcher.stop();
    }
    if (r.code !== 0) throw new Error(`apply failed (${r.code}): ${r.stderr.slice(-2000)}`);
    const fired = t.sb.listFaults();
    const byVerb = counters.map((c) => ({ verb: c.verb, n: fired.find((f) => f.id === c.id)?.fired ?? 0 }));
    const total = byVerb.reduce((a, b) => a + b.n, 0) - watcher.requests;
    const nodes = 3 + WORKERS;
    const { limitMs, parts } = physicalLimit(r.events, watcher.events);
    const first = r.events.find((e) => e.type === 'plan');
    const end = r.events.find((e) => e.type === 'end');
    const rolloutMs = first && end ? ms(end.time) - ms(first.time) : r.ms;
    console.log(
      `--max-unavailable ${maxUnavailable}, ${podsPerWorker} pods per worker: wall ${(r.ms / 1000).toFixed(1)}s (rollout ${(rolloutMs / 1000).toFixed(1)}s), physical limit ${(limitMs / 1000).toFixed(1)}s, ratio ${(rolloutMs / limitMs).toFixed(2)}x (target <= 1.10x)`,
    );
    console.log(
      `  API requests: ${total} in all, ${(total / nodes).toFixed(1)} per node (${byVerb
        .filter((b) => b.n > 0)
        .map((b) => `${b.verb} ${b.n}`)
        .join(', ')}; the watcher's ${watcher.requests} not counted)`,
    );
    console.log(`  limit parts (termination+recipe+report): ${parts.join('; ')}`);
    console.log(`  where a kubelet step's time goes (mean ms): ${phases(r.events)}`);
  } finally {
    await t.stop();
  }
}

const only = process.env['BOSUN_BENCH_ONLY'];
for (const [mu, pods] of [
  [1, 2],
  [3, 2],
  [1, 8],
] as const)
  if (only === undefined || only === `${mu}/${pods}`) await one(mu, pods);
