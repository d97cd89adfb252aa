import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeClock, flushAsync } from '../common/fake-clock.ts';
import type { Exec, ExecResult } from '../common/ports.ts';
import { processExec } from '../common/real.ts';
import { nodeFileEvents, nodeSentinelFiles } from './adapters.ts';
import {
  checkSentinel,
  resolveInRoot,
  watchSentinel,
  type FileEvents,
  type SentinelFiles,
} from './sentinel.ts';

/** A host root laid out like Debian's: /var/run -> /run (absolute link). */
function hostRoot(t: { after(fn: () => void): void }): string {
  const root = mkdtempSync(join(tmpdir(), 'bosun-sentinel-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  mkdirSync(join(root, 'run'));
  mkdirSync(join(root, 'var'));
  symlinkSync('/run', join(root, 'var', 'run'));
  return root;
}

const noExec: Exec = { run: () => Promise.reject(new Error('no exec expected')) };

test("the file sentinel follows the host's absolute /var/run -> /run link inside the host root", async (t) => {
  const root = hostRoot(t);
  const spec = { kind: 'file', path: '/var/run/reboot-required', hostRoot: root } as const;
  const deps = { files: nodeSentinelFiles, exec: noExec };
  assert.deepEqual(await checkSentinel(spec, deps, { timeoutMs: 1000 }), {
    required: false,
    reason: 'no /var/run/reboot-required',
  });
  writeFileSync(join(root, 'run', 'reboot-required'), '*** System restart required ***\n');
  assert.deepEqual(await checkSentinel(spec, deps, { timeoutMs: 1000 }), {
    required: true,
    reason: '/var/run/reboot-required exists',
  });
  assert.equal(
    await resolveInRoot(root, '/var/run/reboot-required', nodeSentinelFiles),
    join(root, 'run', 'reboot-required'),
  );
});

test('relative links, .. and link loops resolve as the kernel would', async () => {
  const links: Record<string, string> = { '/r/a': 'b/c', '/r/b/c': '../d', '/r/loop': '/loop' };
  const files: SentinelFiles = { exists: async () => true, readlink: async (p) => links[p] };
  assert.equal(await resolveInRoot('/r', '/a/x', files), '/r/d/x');
  assert.equal(await resolveInRoot('/r', '/../../etc/x', files), '/r/etc/x', 'never above the host root');
  await assert.rejects(resolveInRoot('/r', '/loop/x', files), /too many levels of symbolic links/);
});

test('a file sentinel that cannot be read is not a reboot, and names the problem', async () => {
  const files: SentinelFiles = {
    readlink: async () => undefined,
    exists: () => Promise.reject(Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' })),
  };
  const r = await checkSentinel(
    { kind: 'file', path: '/var/run/reboot-required', hostRoot: '/host' },
    { files, exec: noExec },
    { timeoutMs: 1000 },
  );
  assert.deepEqual(r, {
    required: false,
    reason: 'cannot read /var/run/reboot-required: EACCES: permission denied',
    problem: 'cannot read /var/run/reboot-required: EACCES: permission denied',
  });
});

// ---- the command sentinel, with real processes ----

for (const tc of [
  {
    argv: ['sh', '-c', 'exit 0'],
    want: { required: true, reason: 'sentinel command "sh -c exit 0" exited 0' },
  },
  {
    argv: ['sh', '-c', 'exit 1'],
    want: { required: false, reason: 'sentinel command "sh -c exit 1" exited 1' },
  },
  {
    argv: ['sh', '-c', 'echo needs-restarting: not found >&2; exit 127'],
    want: {
      required: false,
      reason:
        'sentinel command "sh -c echo needs-restarting: not found >&2; exit 127" exited 127: needs-restarting: not found',
      problem:
        'sentinel command "sh -c echo needs-restarting: not found >&2; exit 127" exited 127: needs-restarting: not found',
    },
  },
  {
    argv: ['/nonexistent/needs-restarting', '-r'],
    want: {
      required: false,
      reason:
        'cannot run sentinel command "/nonexistent/needs-restarting -r": spawn /nonexistent/needs-restarting ENOENT',
      problem:
        'cannot run sentinel command "/nonexistent/needs-restarting -r": spawn /nonexistent/needs-restarting ENOENT',
    },
  },
]) {
  test(`the command sentinel ${tc.argv.join(' ')}`, async () => {
    const r = await checkSentinel(
      { kind: 'command', argv: tc.argv },
      { files: nodeSentinelFiles, exec: processExec },
      { timeoutMs: 5000 },
    );
    assert.deepEqual(r, tc.want);
  });
}

test('a sentinel command that hangs is killed at its timeout and is not a reboot', async () => {
  const r = await checkSentinel(
    { kind: 'command', argv: ['sleep', '30'] },
    { files: nodeSentinelFiles, exec: processExec },
    { timeoutMs: 200 },
  );
  assert.equal(r.required, false);
  assert.equal(r.problem, 'sentinel command "sleep 30" did not finish within 0s');
});

// ---- watching ----

function fakeEvents(): FileEvents & { fire(): void; dirs: string[]; subscribers(): number } {
  const subs = new Set<() => void>();
  const dirs: string[] = [];
  return {
    dirs,
    subscribe(dir, cb) {
      dirs.push(dir);
      subs.add(cb);
      return () => subs.delete(cb);
    },
    fire: () => subs.forEach((cb) => cb()),
    subscribers: () => subs.size,
  };
}

test('watchSentinel reports the first answer and every change: a file event wakes it at once, the period otherwise', async () => {
  const clock = new FakeClock();
  const events = fakeEvents();
  let present = false;
  const files: SentinelFiles = {
    readlink: async (p) => (p === '/host/var/run' ? '/run' : undefined),
    exists: async () => present,
  };
  const seen: boolean[] = [];
  const ac = new AbortController();
  const done = watchSentinel(
    { kind: 'file', path: '/var/run/reboot-required', hostRoot: '/host' },
    { periodMs: 60_000, timeoutMs: 1000 },
    { files, exec: noExec, clock, fileEvents: events },
    (r) => seen.push(r.required),
    ac.signal,
  );
  await flushAsync();
  assert.deepEqual(seen, [false]);
  assert.equal(clock.pending, 1, 'sleeping until the period');
  assert.deepEqual(events.dirs, ['/host/run'], 'the directory the link resolves to is watched');

  present = true;
  events.fire();
  await flushAsync();
  assert.deepEqual(seen, [false, true], 'a file event wakes the watcher before the period');

  present = false;
  await clock.advance(59_000);
  assert.deepEqual(seen, [false, true], 'nothing before the period without an event');
  await clock.advance(1_000);
  assert.deepEqual(seen, [false, true, false], 'the period catches a change without an event');

  await clock.advance(60_000);
  assert.equal(seen.length, 3, 'an unchanged answer is not reported again');
  ac.abort();
  await done;
  assert.equal(events.subscribers(), 0, 'unsubscribed when stopped');
  assert.equal(clock.pending, 0, 'no sleep left behind');
});

test('nodeFileEvents sees a file appear in a real directory', async (t) => {
  const root = hostRoot(t);
  const seen = new Promise<void>((resolve) => {
    const stop = nodeFileEvents.subscribe(join(root, 'run'), () => {
      stop();
      resolve();
    });
  });
  writeFileSync(join(root, 'run', 'reboot-required'), '');
  await seen;
});

// A compile-time check that ExecResult has the fields the sentinel reads.
const _shape: ExecResult = { exitCode: 0, stdout: '', stderr: '', timedOut: false };
void _shape;
