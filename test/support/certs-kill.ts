// Kill-anywhere for `bosun certs renew` (issue 18), shared by test/certs-kill-*.test.ts: on a
// one-control-plane sandbox, `certs renew apiserver etcd-server` (files, backup, then the
// kubeadm-style restart of kube-apiserver and etcd) runs as its own process and is SIGKILLed at a
// point. After the kill nothing at a final name is partial (every certificate, key, kubeconfig and
// manifest is whole). Then it runs again, uninterrupted: it says what it recovered, exits 0, and
// leaves no temporary file, no unfinished backup, no parked manifest, no lock and no process
// behind, and the node ends as a run that was never interrupted ends (the same files, manifests
// and verdicts; the new certificates served).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, watch, type FSWatcher } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { readCertPem, readPrivateKey } from '../../src/certs/inspect.ts';
import { readKubeconfigCredentials } from '../../src/certs/kubeconfig.ts';
import { runCli } from '../../src/cli/program.ts';
import { processesMentioning } from './cli.ts';
import { captureCtx } from './etcd-backup.ts';
import { startTestSandbox, type TestSandbox } from './sandbox.ts';

const MAIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
const DAY = 86_400;
const COMPONENTS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'];

interface Run {
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  out: string;
  err: string;
  /** The trigger fired and the process was killed by it. */
  killed: boolean;
}

/** Where a run is killed: at once, on a line it prints, or when a file it makes appears. */
export type KillPoint =
  | { name: string; at: 'start' }
  | { name: string; line: RegExp }
  | { name: string; file: RegExp; dirs: (etcK: string) => string[] };

/** Runs `bosun ARGS` as its own process; kills it with SIGKILL when `kill` fires. */
function runBosun(args: string[], home: string, kill?: KillPoint, etcK = ''): Promise<Run> {
  return new Promise((resolve, reject) => {
    // From this checkout, where --import tsx resolves; HOME elsewhere, so no ~/.kube/config is read.
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
      env: { ...process.env, BOSUN_DEBUG: '', KUBECONFIG: '', HOME: home },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let killed = false;
    const watchers: FSWatcher[] = [];
    const fire = (): void => {
      if (killed || child.exitCode !== null || child.signalCode !== null) return;
      killed = child.kill('SIGKILL');
    };
    const onText = (text: string): void => {
      if (kill && 'line' in kill && text.split('\n').some((l) => kill.line.test(l))) fire();
    };
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      onText(out);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      onText(err);
    });
    if (kill && 'file' in kill) {
      for (const dir of kill.dirs(etcK)) {
        if (!existsSync(dir)) continue;
        watchers.push(
          watch(dir, (_event, name) => {
            if (name !== null && kill.file.test(name)) fire();
          }),
        );
      }
    }
    if (kill && 'at' in kill) fire();
    const timer = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      for (const w of watchers) w.close();
      resolve({ pid: child.pid ?? 0, code, signal, out, err, killed: killed && signal === 'SIGKILL' });
    });
  });
}

/** Every file under dir, as paths relative to it. */
function walk(dir: string, base = dir): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(`${relative(base, p)}/`, ...walk(p, base));
    else out.push(relative(base, p));
  }
  return out.sort();
}

function sha(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

/** bosun's own leftovers under etc/kubernetes: temporary files, unfinished backups, the lock, parked manifests. */
function leftovers(etcK: string): string[] {
  return walk(etcK).filter(
    (p) =>
      /(^|\/)\.[^/]+\.[0-9a-f]{12}\.tmp$/.test(p) ||
      /(^|\/)\.bosun-certs-backup-[^/]*\.part\/$/.test(p) ||
      /^\.bosun-certs-renew\.lock$/.test(p) ||
      /^tmp\/bosun-restart\/[^/]+$/.test(p),
  );
}

/** Nothing at a final name is partial: every certificate, key and kubeconfig reads whole; every manifest is the original. */
function assertNothingPartial(etcK: string, manifests: Record<string, string>, what: string): void {
  for (const rel of walk(join(etcK, 'pki'))) {
    const file = join(etcK, 'pki', rel);
    if (/(^|\/)\./.test(rel) || rel.endsWith('/')) continue;
    const text = readFileSync(file, 'utf8');
    if (rel.endsWith('.crt')) assert.ok(readCertPem(text).ok, `${what}: ${rel} is a whole certificate`);
    if (rel.endsWith('.key')) assert.ok(readPrivateKey(text), `${what}: ${rel} is a whole key`);
  }
  for (const name of ['admin.conf', 'super-admin.conf', 'controller-manager.conf', 'scheduler.conf']) {
    const creds = readKubeconfigCredentials(readFileSync(join(etcK, name), 'utf8'));
    assert.equal(creds.auth.kind, 'embedded', `${what}: ${name} is whole`);
  }
  for (const c of COMPONENTS) {
    const at = [join(etcK, 'manifests', `${c}.yaml`), join(etcK, 'tmp/bosun-restart', `${c}.yaml`)].filter(
      existsSync,
    );
    assert.equal(at.length, 1, `${what}: ${c}.yaml is in manifests/ or parked, once`);
    assert.equal(sha(at[0] ?? ''), manifests[c], `${what}: ${c}.yaml is the original`);
  }
}

/**
 * Runs `certs renew apiserver etcd-server` on a fresh one-control-plane sandbox once without
 * interruption, then once per kill point: killed there, run again, checked against the first end.
 * mustSee: a leftover at least one of the kills must have made (that the reruns then recovered).
 */
export function describeKillAnywhere(
  title: string,
  points: readonly KillPoint[],
  mustSee: { description: string; pattern: RegExp },
): void {
  describe(title, () => {
    let s: TestSandbox;
    let root = '';
    let etcK = '';
    let args: string[] = [];
    const manifests: Record<string, string> = {};
    /** The leftovers the kills made, names generalised. */
    const seen = new Set<string>();
    let baseline: ReturnType<typeof endState> | undefined;

    /** `bosun ARGS` in this process. */
    async function bosun(argv: string[]): Promise<{ code: number; out: string; err: string }> {
      const c = captureCtx({ cwd: s.dir });
      c.ctx.env = { ...c.ctx.env, KUBECONFIG: '' };
      const code = await runCli(argv, c.ctx);
      return { code, out: c.out.join('\n'), err: c.err.join('\n') };
    }

    /** What a finished renewal leaves: the files (backups aside), the manifests, and every verdict. */
    function endState(): { files: string[]; manifests: Record<string, string> } {
      const files = walk(etcK).filter((p) => !p.startsWith('tmp/'));
      const m: Record<string, string> = {};
      for (const c of COMPONENTS) m[c] = sha(join(etcK, 'manifests', `${c}.yaml`));
      return { files, manifests: m };
    }

    /** The checks every uninterrupted end must pass; returns the end state. */
    async function assertFinished(what: string): Promise<ReturnType<typeof endState>> {
      assert.deepEqual(leftovers(etcK), [], `${what}: no leftovers`);
      const tmp = walk(join(etcK, 'tmp'));
      assert.ok(
        tmp.every((p) => p === 'bosun-restart/' || /^bosun-certs-backup-[0-9-]+\//.test(p)),
        `${what}: only finished backups in tmp/: ${tmp.join(', ')}`,
      );
      for (const b of tmp.filter((p) => /^bosun-certs-backup-[^/]+\/$/.test(p))) {
        for (const f of [
          'pki/apiserver.crt',
          'pki/apiserver.key',
          'pki/etcd/server.crt',
          'pki/etcd/server.key',
        ])
          assert.ok(statSync(join(etcK, 'tmp', b, f)).size > 0, `${what}: backup ${b} holds ${f}`);
      }
      const check = await bosun(['certs', 'check', '--root', root, '-o', 'json']);
      assert.equal(check.code, 0, `${what}: certs check: ${check.err}`);
      const doc = JSON.parse(check.out) as { certificates: { name: string; residualTime: number }[] };
      for (const n of ['apiserver', 'etcd-server'])
        assert.ok(
          (doc.certificates.find((c) => c.name === n)?.residualTime ?? 0) > 364 * DAY,
          `${what}: ${n} renewed for a year`,
        );
      const served = await bosun([
        'certs',
        'check',
        '--served',
        '--root',
        root,
        '--kubeconfig',
        s.kubeconfig,
        '-o',
        'json',
      ]);
      assert.equal(served.code, 0, `${what}: certs check --served: ${served.err}`);
      const items = (JSON.parse(served.out) as { items: { component: string; sameAsDisk: boolean | null }[] })
        .items;
      for (const c of ['kube-apiserver', 'etcd-client', 'etcd-peer'])
        assert.equal(
          items.find((i) => i.component === c)?.sameAsDisk,
          true,
          `${what}: ${c} serves the file on disk`,
        );
      assert.deepEqual(
        processesMentioning(root).filter((p) => p.cmd.includes('certs')),
        [],
        `${what}: no bosun left running`,
      );
      return endState();
    }

    before(async () => {
      s = await startTestSandbox({ controlPlanes: 1, workers: 0 });
      root = join(s.dir, 'nodes/cp-1/host');
      etcK = join(root, 'etc/kubernetes');
      args = [
        'certs',
        'renew',
        'apiserver',
        'etcd-server',
        '--root',
        root,
        '--kubeconfig',
        s.kubeconfig,
        '--timeout',
        '60s',
      ];
      for (const c of COMPONENTS) manifests[c] = sha(join(etcK, 'manifests', `${c}.yaml`));
    });
    after(async () => {
      await s?.stop();
    });

    test('a run never interrupted: the end state the others must reach', async () => {
      const r = await runBosun(args, s.dir);
      assert.equal(r.code, 0, r.err);
      assert.doesNotMatch(r.err, /\[recover\]/);
      baseline = await assertFinished('uninterrupted');
    });

    for (const point of points) {
      test(`killed ${point.name}`, async () => {
        assert.ok(baseline, 'the uninterrupted run ran first');
        const k = await runBosun(args, s.dir, point, etcK);
        // The last point may come after the run has ended; every other one is a kill.
        assert.ok(
          k.killed || (point.name === 'at the end' && k.code === 0),
          `killed ${point.name}: code ${k.code} ${k.signal ?? ''}\n${k.err}`,
        );
        assertNothingPartial(etcK, manifests, `after the kill ${point.name}`);
        const left = leftovers(etcK);
        for (const l of left)
          seen.add(
            l.replace(/\.[0-9a-f]{12}\.(tmp|part)/, '.HEX.$1').replace(/backup-[0-9-]+/, 'backup-STAMP'),
          );

        const r = await runBosun(args, s.dir);
        assert.equal(r.code, 0, `the rerun after a kill ${point.name}: ${r.err}`);
        assert.match(r.out, /^Certificates renewed and served on cp-1\./m);
        for (const l of left) {
          const name = l.replace(/\/$/, '').split('/').at(-1) ?? l;
          assert.ok(
            r.err.split('\n').some((line) => line.startsWith('[recover] ') && line.includes(name)),
            `the rerun says it recovered ${l}:\n${r.err}`,
          );
        }
        const end = await assertFinished(`after a kill ${point.name} and a rerun`);
        assert.deepEqual(end, baseline);
        assert.throws(() => process.kill(k.pid, 0), /ESRCH/, 'the killed process is gone');
      });
    }

    test(`the kills left ${mustSee.description}, and the reruns recovered them`, () => {
      assert.ok(
        [...seen].some((l) => mustSee.pattern.test(l)),
        `leftovers seen: ${[...seen].join(', ')}`,
      );
    });
  });
}
