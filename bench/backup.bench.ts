// Benchmark (not a test): `bosun backup` against `etcdctl snapshot save`, and `bosun backup status`
// against `etcdctl snapshot status`, on a TLS etcd filled with about 500 MB, each measured as whole
// processes in the same run, alternating, median of three. Targets (issue 4): save at most 1.1x
// etcdctl, status at most 1.5x. Prints ratios; never asserts on time.
// Usage: npm run bench -- backup   [BOSUN_BENCH_MB=500]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestEtcd } from '../test/support/etcd-backup.ts';

const targetMb = Number(process.env.BOSUN_BENCH_MB ?? 500);
const rounds = 3;
const statusRounds = 9;

function run(cmd: string, args: string[]): { ms: number; stdout: string } {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, {
    encoding: 'utf8',
    env: { ...process.env, ETCDCTL_API: '3' },
    maxBuffer: 64 << 20,
  });
  const ms = performance.now() - t0;
  if (r.status !== 0)
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr.slice(-500)}`);
  return { ms, stdout: r.stdout };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? 0;
}

const work = mkdtempSync(join(tmpdir(), 'bosun-bench-'));
const etcd = await startTestEtcd({ tls: true, quotaBytes: 8 * 1024 * 1024 * 1024 });
try {
  // Build the bundle and run it directly, as an installed bosun runs (bin/bosun.js would switch to
  // tsx as soon as a source file is newer than the bundle, e.g. while someone edits the tree). If
  // the tree does not bundle right now, bosun runs through tsx and its times include compiling
  // TypeScript: say so.
  let bosunCmd = [process.execPath, 'dist/bosun.mjs'];
  let bundled = true;
  try {
    run(process.execPath, ['scripts/build.mjs']);
  } catch {
    bundled = false;
    bosunCmd = [process.execPath, '--import', 'tsx', 'src/cli/main.ts'];
    process.stderr.write(
      'WARNING: the bundle did not build; bosun runs through tsx, its times include TypeScript compilation\n',
    );
  }
  const bosun = (args: string[]): { ms: number; stdout: string } =>
    run(bosunCmd[0] ?? process.execPath, [...bosunCmd.slice(1), ...args]);
  process.stderr.write(`filling etcd with ~${targetMb} MB ...\n`);
  const value = Buffer.alloc(9 * 1024, 'x');
  let written = 0;
  let i = 0;
  while (written < targetMb * 1024 * 1024) {
    const ops: Promise<unknown>[] = [];
    for (let j = 0; j < 64; j++, i++) {
      const size = 1024 + ((i * 7919) % 8192);
      ops.push(
        etcd.client
          .put(`/registry/pods/ns${i % 50}/pod-${i}`)
          .value(value.subarray(0, size))
          .exec(),
      );
      written += size;
    }
    await Promise.all(ops);
  }
  const pki = etcd.pkiDir ?? '';
  const tlsCtl = [
    '--endpoints',
    etcd.endpoint,
    '--cacert',
    join(pki, 'etcd/ca.crt'),
    '--cert',
    join(pki, 'etcd/server.crt'),
    '--key',
    join(pki, 'etcd/server.key'),
  ];
  const save = { etcdctl: [] as number[], bosun: [] as number[] };
  const status = { etcdctl: [] as number[], bosun: [] as number[] };
  let bosunFile = '';
  for (let r = 0; r < rounds; r++) {
    const ctlFile = join(work, `etcdctl-${r}.db`);
    save.etcdctl.push(run('etcdctl', [...tlsCtl, 'snapshot', 'save', ctlFile]).ms);
    rmSync(ctlFile, { force: true });
    const dir = join(work, `bosun-${r}`);
    const b = bosun(['backup', '--endpoints', etcd.endpoint, '--pki-dir', pki, '--dir', dir, '-o', 'name']);
    save.bosun.push(b.ms);
    if (bosunFile !== '') rmSync(join(bosunFile, '..'), { recursive: true, force: true });
    bosunFile = b.stdout.trim();
  }
  const peer = run('etcdctl', ['snapshot', 'status', bosunFile, '-w', 'json']).stdout.trim();
  // Status is cheap to repeat: more rounds, alternating which one goes first.
  for (let r = 0; r < statusRounds; r++) {
    const peerFirst = r % 2 === 0;
    if (peerFirst) status.etcdctl.push(run('etcdctl', ['snapshot', 'status', bosunFile, '-w', 'json']).ms);
    const mine = bosun(['backup', 'status', bosunFile, '-o', 'json']);
    if (!peerFirst) status.etcdctl.push(run('etcdctl', ['snapshot', 'status', bosunFile, '-w', 'json']).ms);
    status.bosun.push(mine.ms);
    if (mine.stdout.trim() !== peer)
      throw new Error(`status differs: bosun ${mine.stdout.trim()} etcdctl ${peer}`);
  }
  const size = JSON.parse(peer) as { totalSize: number; totalKey: number };
  const line = (name: string, m: { etcdctl: number[]; bosun: number[] }, target: number): string => {
    const a = median(m.bosun);
    const b = median(m.etcdctl);
    const ratio = a / b;
    // Each pair's ratio too: on a busy machine their spread says how far to trust the median.
    const pairs = m.bosun.map((x, i) => x / (m.etcdctl[i] ?? x)).sort((p, q) => p - q);
    const spread = `pairs ${(pairs[0] ?? 0).toFixed(2)}..${(pairs.at(-1) ?? 0).toFixed(2)}x`;
    return `${name.padEnd(8)} bosun ${(a / 1000).toFixed(2)} s   etcdctl ${(b / 1000).toFixed(2)} s   ratio ${ratio.toFixed(2)}x (${spread})   target <= ${target}x   ${ratio <= target ? 'met' : 'MISSED'}`;
  };
  const load = (await import('node:os')).loadavg()[0] ?? 0;
  console.log(
    `snapshot: ${(size.totalSize / 1e6).toFixed(0)} MB, ${size.totalKey} keys, TLS, median of ${rounds} saves and ${statusRounds} statuses (same run, alternating)${bundled ? '' : ', bosun NOT bundled (tsx)'}; load average ${load.toFixed(1)} on ${(await import('node:os')).availableParallelism()} cores`,
  );
  console.log(line('save', save, 1.1));
  console.log(line('status', status, 1.5));
  // What starting node costs here, in every bosun run (etcdctl is a Go binary and starts in ~20
  // ms); with NODE_EXTRA_CA_CERTS set, node parses that bundle at every start.
  const start = (env: NodeJS.ProcessEnv): number =>
    median(
      [0, 1, 2, 3, 4].map(() => {
        const t0 = performance.now();
        spawnSync(process.execPath, ['-e', '0'], { env });
        return performance.now() - t0;
      }),
    );
  const extra = process.env['NODE_EXTRA_CA_CERTS'];
  const plain = { ...process.env };
  delete plain['NODE_EXTRA_CA_CERTS'];
  console.log(
    `node -e 0: ${start(process.env).toFixed(0)} ms${extra ? ` (${start(plain).toFixed(0)} ms without NODE_EXTRA_CA_CERTS=${extra})` : ''}`,
  );
} finally {
  await etcd.stop();
  rmSync(work, { recursive: true, force: true });
}
