// Kill anywhere (issue 18): `bosun restore` and `bosun backup verify --trial-restore` are
// SIGKILLed at many points (a line on stderr, a directory appearing, the restore tool or etcd
// starting), then run again. After each kill: no process of theirs (etcdctl, the trial etcd) runs
// on, and no data dir is half made. After the rerun: nothing is left in the parent directory or in
// $TMPDIR, and the end state is that of a run that was never interrupted. Also: while the trial
// restore's etcd runs, it listens on no TCP port and no other user can connect to it.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import http from 'node:http';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { snapshotStatus } from '../src/etcd/status.ts';
import { processesMentioning } from './support/cli.ts';
import type { TestEtcd } from './support/etcd-backup.ts';
import {
  killAt,
  noProcessMentions,
  runBosun,
  startBosun,
  startKillFixture,
  type KillFixture,
  type Trigger,
} from './support/kill-points.ts';

let fx: KillFixture;
let etcd: TestEtcd;
let work: string;
let ref: KillFixture['ref'];

before(async () => {
  fx = await startKillFixture();
  ({ etcd, work, ref } = fx);
});

after(async () => {
  await fx?.stop();
});

/** What is in a $TMPDIR, without tsx's compile cache (bosun runs from source here; the package has no tsx). */
function tmpEntries(dir: string): string[] {
  return readdirSync(dir).filter((n) => !/^tsx-\d+$/.test(n));
}

/** What a complete restore looks like: its files and its db's status numbers. */
function restoredState(dataDir: string): { files: string[]; status: unknown } {
  const files: string[] = [];
  const walk = (d: string, rel: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name), `${rel}${e.name}/`);
      else files.push(`${rel}${e.name}`);
    }
  };
  walk(dataDir, '');
  return { files: files.sort(), status: snapshotStatus(join(dataDir, 'member', 'snap', 'db'), null) };
}

test('bosun restore killed anywhere: the data dir is absent or complete, never half made; the rerun ends as an uninterrupted restore', async (ctx) => {
  const keyFile = join(work, 'restore.key');
  writeFileSync(keyFile, Buffer.alloc(32, 7).toString('base64'), { mode: 0o600 });
  const b = await runBosun([
    'backup',
    '--endpoints',
    etcd.endpoint,
    '--dir',
    join(work, 'enc'),
    '--encryption-key-file',
    keyFile,
    '-o',
    'name',
  ]);
  assert.equal(b.code, 0, b.stderr);
  const file = b.stdout.trim();
  const restoreArgs = (dataDir: string): string[] => [
    'restore',
    file,
    '--data-dir',
    dataDir,
    '--name',
    'm1',
    '--initial-cluster',
    'm1=http://127.0.0.1:2380',
    '--initial-advertise-peer-urls',
    'http://127.0.0.1:2380',
    '--encryption-key-file',
    keyFile,
  ];
  const refTmp = join(work, 'restore-ref-tmp');
  mkdirSync(refTmp);
  const r0 = await runBosun(restoreArgs(join(work, 'restore-ref', 'data')), { TMPDIR: refTmp });
  assert.equal(r0.code, 0, r0.stderr);
  const want = restoredState(join(work, 'restore-ref', 'data'));

  const triggers: Trigger[] = [
    { name: 'progress: verifying', stderr: /^Verifying / },
    {
      name: 'a temporary directory appears',
      dir: { path: '', when: (e) => e.some((x) => x.name !== 'data') },
    },
    { name: 'progress: restoring', stderr: /^Restoring with / },
    {
      name: 'the restore tool runs',
      process: (c) => / snapshot restore /.test(c) && c.includes(`${work}/restore-`),
    },
    { name: 'the data dir appears', dir: { path: '', when: (e) => e.some((x) => x.name === 'data') } },
  ];
  let killed = 0;
  for (const [i, t] of triggers.entries()) {
    const parent = join(work, `restore-${i}`);
    const tmp = join(work, `restore-${i}-tmp`);
    mkdirSync(parent);
    mkdirSync(tmp);
    const dataDir = join(parent, 'data');
    const run = startBosun(restoreArgs(dataDir), { TMPDIR: tmp });
    // Temporary files may go to the parent directory or to $TMPDIR: watch both.
    const how = await killAt(
      run,
      t.dir
        ? {
            ...t,
            dir: {
              path: parent,
              when: (e) => (t.dir?.when(e) ?? false) || tmpEntries(tmp).length > 0,
            },
          }
        : t,
    );
    await run.exited;
    if (how === 'killed') killed++;
    ctx.diagnostic(`${t.name}: ${how}`);
    await noProcessMentions(parent);
    const complete = existsSync(dataDir);
    if (complete)
      assert.deepEqual(restoredState(dataDir), want, `${t.name}: a data dir at the final name is complete`);

    const again = await runBosun(restoreArgs(dataDir), { TMPDIR: tmp });
    if (complete) {
      assert.equal(again.code, 1, `${t.name}: ${again.stderr}`);
      assert.match(again.stderr, /data dir .* is not empty/);
    } else assert.equal(again.code, 0, `${t.name}: rerun: ${again.stderr}`);
    assert.deepEqual(restoredState(dataDir), want, t.name);
    assert.deepEqual(readdirSync(parent), ['data'], `${t.name}: nothing else beside the data dir`);
    assert.deepEqual(tmpEntries(tmp), [], `${t.name}: nothing left in $TMPDIR`);
  }
  assert.ok(
    killed >= triggers.length - 1,
    `only ${killed} of ${triggers.length} runs were killed before they ended`,
  );
});

test('bosun backup verify --trial-restore killed anywhere: its etcd and etcdctl die with it, and the rerun leaves nothing behind', async (ctx) => {
  const refTmp = join(work, 'trial-ref-tmp');
  mkdirSync(refTmp);
  const r0 = await runBosun(['backup', 'verify', ref.file, '--trial-restore'], { TMPDIR: refTmp });
  assert.equal(r0.code, 0, r0.stderr);
  assert.match(r0.stdout, /trial restore ok/);
  assert.deepEqual(tmpEntries(refTmp), []);

  const triggers: Trigger[] = [
    { name: 'progress: trial restore', stderr: /^Trial restore: / },
    { name: 'progress: restoring', stderr: /^Restoring with / },
    {
      name: 'the restore tool runs',
      process: (c) => / snapshot restore /.test(c) && c.includes(`${work}/trial-`),
    },
    { name: 'progress: starting etcd', stderr: /^Starting etcd / },
    { name: 'etcd runs', process: (c) => /^\S*etcd /.test(c) && c.includes(`${work}/trial-`) },
  ];
  let killed = 0;
  for (const [i, t] of triggers.entries()) {
    const tmp = join(work, `trial-${i}`);
    mkdirSync(tmp);
    const run = startBosun(['backup', 'verify', ref.file, '--trial-restore'], { TMPDIR: tmp });
    const how = await killAt(run, t);
    await run.exited;
    if (how === 'killed') killed++;
    ctx.diagnostic(`${t.name}: ${how}`);
    await noProcessMentions(tmp);

    const again = await runBosun(['backup', 'verify', ref.file, '--trial-restore'], { TMPDIR: tmp });
    assert.equal(again.code, 0, `${t.name}: rerun: ${again.stderr}`);
    assert.equal(again.stdout, r0.stdout, t.name);
    assert.deepEqual(tmpEntries(tmp), [], `${t.name}: nothing left in $TMPDIR`);
  }
  assert.ok(
    killed >= triggers.length - 1,
    `only ${killed} of ${triggers.length} runs were killed before they ended`,
  );
});

/** Inodes of the TCP sockets listening on this machine (IPv4 and IPv6). */
function tcpListenInodes(): Set<string> {
  const out = new Set<string>();
  for (const f of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.trim().split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] === '0A') out.add(cols[9] ?? '');
    }
  }
  return out;
}

/** The socket inodes a process holds. */
function socketInodes(pid: number): string[] {
  const out: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m?.[1]) out.push(m[1]);
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

test("the trial restore's etcd listens on no TCP port, no other user can connect to it, and a SIGKILL of bosun takes it down", async (ctx) => {
  const tmp = join(work, 'trial-exposure');
  mkdirSync(tmp);
  const run = startBosun(['backup', 'verify', ref.file, '--trial-restore'], { TMPDIR: tmp });
  let etcdPid = 0;
  try {
    // Freeze bosun as soon as its etcd serves: etcd is then as exposed as it ever gets.
    etcdPid = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        clearInterval(iv);
        reject(new Error(`no trial etcd within 60 s: ${run.stderr()}`));
      }, 60_000);
      const iv = setInterval(() => {
        const p = processesMentioning(`--data-dir=${tmp}/`).find((x) => /^\S*etcd /.test(x.cmd));
        // Serving: its socket is made (etcd binds it once it serves), or it listens on TCP.
        const serving = (pid: number): boolean =>
          readdirSync(tmp).some((d) => existsSync(join(tmp, d, 'client.sock:0'))) ||
          socketInodes(pid).some((i) => tcpListenInodes().has(i));
        if (p && /Starting etcd/.test(run.stderr()) && serving(p.pid)) {
          run.child.kill('SIGSTOP');
          clearInterval(iv);
          clearTimeout(timer);
          resolve(p.pid);
        }
      }, 5);
    });
    const listening = tcpListenInodes();
    assert.deepEqual(
      socketInodes(etcdPid).filter((i) => listening.has(i)),
      [],
      'the trial etcd listens on no TCP port',
    );
    const trialDir = readdirSync(tmp).find((n) => n.startsWith('bosun-trial-')) ?? '';
    assert.equal(statSync(join(tmp, trialDir)).mode & 0o777, 0o700);
    const socket = join(tmp, trialDir, 'client.sock:0');
    // Another user's view: does connect(2) to the socket succeed?
    const connectAs = (uid: number): Promise<string> =>
      new Promise((resolve) => {
        const script = `const s = require('node:net').connect(${JSON.stringify(socket)});
          s.on('connect', () => { console.log('connected'); s.destroy(); });
          s.on('error', (e) => console.log(e.code));`;
        const c = spawn(process.execPath, ['-e', script], {
          uid,
          gid: uid,
          cwd: '/',
          stdio: ['ignore', 'pipe', 'inherit'],
        });
        const bound = setTimeout(() => c.kill('SIGKILL'), 10_000);
        let out = '';
        c.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
        c.on('close', () => {
          clearTimeout(bound);
          resolve(out.trim());
        });
      });
    const health = await new Promise<string>((resolve) => {
      const req = http.get({ socketPath: socket, path: '/health', timeout: 10_000 }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (d: string) => (body += d));
        res.on('end', () => resolve(body));
      });
      req.on('timeout', () => req.destroy(new Error('timeout')));
      req.on('error', (e) => resolve(e.message));
    });
    assert.equal(health, '{"health":"true"}', 'this user reaches it (so the next check means something)');
    if (process.getuid?.() === 0)
      assert.equal(await connectAs(65534), 'EACCES', 'user nobody cannot connect');
    else ctx.diagnostic('not root: cannot run the check as another user');

    run.child.kill('SIGKILL');
    await run.exited;
    await noProcessMentions(tmp);
  } finally {
    run.child.kill('SIGKILL');
    if (etcdPid !== 0 && processesMentioning(`--data-dir=${tmp}/`).length > 0)
      process.kill(etcdPid, 'SIGKILL');
  }
  const again = await runBosun(['backup', 'verify', ref.file, '--trial-restore'], { TMPDIR: tmp });
  assert.equal(again.code, 0, again.stderr);
  assert.match(
    again.stderr,
    /^Removed .*bosun-trial-.*, left by an interrupted trial restore \(bosun \(pid \d+\) is gone\)$/m,
  );
  assert.deepEqual(tmpEntries(tmp), []);
});
