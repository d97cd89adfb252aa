// Kill anywhere (issue 18): `bosun backup` is SIGKILLed at many points (a line on stderr, its
// temporary file appearing or growing, the sidecar being written, the backup renamed into place,
// the old backup pruned), then run again. After each kill: no process of it runs on, nothing
// incomplete sits at a final name, and `backup list` counts the leftovers. After the rerun: no
// temporary file is left, and the directory holds what a run that was never interrupted leaves.
// Also: a backup that is stopped, not dead, keeps its temporary file while another one runs.
// One plain-http etcd holding ~20 MB, so that a backup streams long enough to be killed mid-stream.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../src/cli/program.ts';
import { verifySnapshotFile } from '../src/etcd/verify.ts';
import { processesMentioning } from './support/cli.ts';
import { captureCtx } from './support/etcd-backup.ts';
import {
  entries,
  killAt,
  noProcessMentions,
  runBosun,
  startBosun,
  type Entry,
  startKillFixture,
  type KillFixture,
  type Trigger,
} from './support/kill-points.ts';

let fx: KillFixture;
let work: string;
let ref: KillFixture['ref'];
let backupArgs: KillFixture['backupArgs'];

const MiB = 1 << 20;

before(async () => {
  fx = await startKillFixture();
  ({ work, ref, backupArgs } = fx);
});

after(async () => {
  await fx?.stop();
});

const isBackup = (n: string): boolean => /^etcd-t-\d{8}T\d{6}Z-rev\d+(-\d+)?\.db$/.test(n);

/** `backup list -o json` in-process. */
async function list(dir: string): Promise<{
  code: number;
  doc: { backups: { name: string; verified: boolean }[]; temporaries?: { name: string; state: string }[] };
}> {
  const c = captureCtx({ cwd: work });
  const code = await runCli(['backup', 'list', '--dir', dir, '-o', 'json'], c.ctx);
  return { code, doc: JSON.parse(c.out.join('\n') || '{"backups":[]}') as never };
}

test('bosun backup killed anywhere: no partial backup, leftovers counted, and the rerun removes them and ends as an uninterrupted run', async (ctx) => {
  const old = ref.file.split('/').pop() ?? '';
  const part = (e: Entry[], min = 0): boolean =>
    e.some((x) => /^\.bosun-backup-.*[^n]\.part$/.test(x.name) && x.size >= min);
  const triggers: (Trigger & { dirOf?: true })[] = [
    { name: 'progress: taking a snapshot', stderr: /^Taking a snapshot from / },
    { name: 'temporary file created', dir: { path: '', when: (e) => part(e) } },
    { name: '2 MiB streamed', dir: { path: '', when: (e) => part(e, 2 * MiB) } },
    { name: '8 MiB streamed', dir: { path: '', when: (e) => part(e, 8 * MiB) } },
    { name: '16 MiB streamed', dir: { path: '', when: (e) => part(e, 16 * MiB) } },
    { name: 'progress: verifying', stderr: /; verifying$/ },
    {
      name: 'sidecar being written',
      dir: { path: '', when: (e) => e.some((x) => x.name.endsWith('.json.part')) },
    },
    {
      name: 'backup renamed into place',
      dir: { path: '', when: (e) => e.some((x) => isBackup(x.name) && x.name !== old) },
    },
    { name: 'progress: saved', stderr: /^Saved / },
    { name: 'pruning: old backup removed', dir: { path: '', when: (e) => !e.some((x) => x.name === old) } },
  ];
  let killed = 0;
  for (const [i, t] of triggers.entries()) {
    const dir = join(work, `backup-${i}`);
    // Yesterday's backup, which --keep 1 prunes.
    mkdirSync(dir, { mode: 0o700 });
    copyFileSync(ref.file, join(dir, old));
    copyFileSync(`${ref.file}.json`, join(dir, `${old}.json`));
    const run = startBosun(backupArgs(dir));
    const how = await killAt(run, t.dir ? { ...t, dir: { ...t.dir, path: dir } } : t);
    await run.exited;
    if (how === 'killed') killed++;
    ctx.diagnostic(`${t.name}: ${how}`);
    await noProcessMentions(dir);
    for (const name of readdirSync(dir).filter(isBackup)) {
      const v = verifySnapshotFile(join(dir, name), { key: null });
      assert.ok(v.ok, `${t.name}: ${name} at a final name is complete and verified: ${v.problem ?? ''}`);
    }
    const hidden = readdirSync(dir).filter((n) => n.startsWith('.'));
    if (hidden.length > 0) {
      const l = await list(dir);
      assert.equal(l.code, 0);
      assert.deepEqual(
        (l.doc.temporaries ?? []).map((x) => `${x.name} ${x.state}`),
        hidden.map((n) => `${n} stale`),
        `${t.name}: backup list counts the leftovers`,
      );
    }

    const again = await runBosun(backupArgs(dir).concat(['-o', 'json']));
    assert.equal(again.code, 0, `${t.name}: rerun: ${again.stderr}`);
    if (hidden.length > 0)
      assert.match(
        again.stderr,
        /^(Removed \d+ leftover temporary files? of interrupted backups|Completed .*: an interrupted backup had verified it but not yet named its sidecar$)/m,
        t.name,
      );
    const doc = JSON.parse(again.stdout) as {
      file: string;
      revision: number;
      liveKeys: number;
      hash: number;
    };
    const name = doc.file.split('/').pop() ?? '';
    assert.deepEqual(
      readdirSync(dir).sort(),
      [name, `${name}.json`],
      `${t.name}: one backup and its sidecar, nothing else`,
    );
    assert.deepEqual([doc.revision, doc.liveKeys, doc.hash], [ref.revision, ref.liveKeys, ref.hash], t.name);
    const l = await list(dir);
    assert.deepEqual(
      l.doc.backups.map((b) => [b.name, b.verified]),
      [[name, true]],
      t.name,
    );
  }
  assert.ok(
    killed >= triggers.length - 3,
    `only ${killed} of ${triggers.length} runs were killed before they ended`,
  );
});

test('a stopped (not dead) backup keeps its temporary file while another backup runs in the same directory, then completes', async () => {
  const dir = join(work, 'concurrent');
  const a = startBosun(backupArgs(dir));
  try {
    // Freeze it mid-stream: it is alive, and its temporary file must be left alone.
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no temporary file within 60 s')), 60_000);
      const check = (): void => {
        if (entries(dir).some((e) => e.name.endsWith('.part') && e.size > MiB)) {
          a.child.kill('SIGSTOP');
          clearTimeout(timer);
          clearInterval(iv);
          resolve();
        }
      };
      const iv = setInterval(check, 5);
    });
    const mine = readdirSync(dir).filter((n) => n.startsWith('.'));
    assert.equal(mine.length, 1);
    // A leftover of an older bosun (no owner in its name): removed once untouched for an hour.
    const legacyOld = join(dir, '.bosun-backup-0123456789ab.part');
    const legacyNew = join(dir, '.bosun-backup-ba9876543210.part');
    writeFileSync(legacyOld, 'x'.repeat(1000));
    writeFileSync(legacyNew, 'y');
    const twoHoursAgo = new Date(Date.now() - 2 * 3600_000);
    utimesSync(legacyOld, twoHoursAgo, twoHoursAgo);

    const l = await list(dir);
    assert.deepEqual(
      (l.doc.temporaries ?? []).map((x) => `${x.name} ${x.state}`).sort(),
      [
        `${mine[0]} live`,
        '.bosun-backup-0123456789ab.part stale',
        '.bosun-backup-ba9876543210.part live',
      ].sort(),
    );
    const table = captureCtx({ cwd: work });
    assert.equal(await runCli(['backup', 'list', '--dir', dir], table.ctx), 0);
    assert.match(
      table.err.join('\n'),
      /3 temporary files of bosun backups in .*concurrent: 1 left over by an interrupted backup \(1000 B\), removed by the next backup there; 2 of backups that may still be running/,
    );

    const b = await runBosun(backupArgs(dir));
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stderr, /^Removed 1 leftover temporary file of interrupted backups \(1000 B\)/m);
    assert.ok(existsSync(join(dir, mine[0] ?? '')), "the stopped backup's temporary file is still there");
    assert.ok(existsSync(legacyNew), 'a recent file of unknown owner is kept');
    assert.ok(!existsSync(legacyOld), 'an old file of unknown owner is removed');
    rmSync(legacyNew);

    a.child.kill('SIGCONT');
    const done = await a.exited;
    assert.equal(done.code, 0, a.stderr());
    assert.deepEqual(
      readdirSync(dir).filter((n) => n.startsWith('.')),
      [],
    );
  } finally {
    a.child.kill('SIGKILL');
  }
});

test('a backup running in another pid namespace (a container sharing the directory) keeps its temporary file', async (t) => {
  if (spawnSync('unshare', ['--pid', '--fork', '--mount-proc', 'true']).status !== 0) {
    t.skip('unshare --pid is not permitted here');
    return;
  }
  const dir = join(work, 'pidns');
  const a = startBosun(backupArgs(dir), {}, ['unshare', '--pid', '--fork', '--mount-proc']);
  // The bosun inside is pid 1 there; here it has another pid.
  let inner = 0;
  try {
    inner = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        clearInterval(iv);
        reject(new Error(`no temporary file within 60 s: ${a.stderr()}`));
      }, 60_000);
      const iv = setInterval(() => {
        const p = processesMentioning(dir).find((x) => x.cmd.startsWith(process.execPath));
        if (p && entries(dir).some((e) => e.name.endsWith('.part') && e.size > MiB)) {
          process.kill(p.pid, 'SIGSTOP');
          clearInterval(iv);
          clearTimeout(timer);
          resolve(p.pid);
        }
      }, 5);
    });
    const theirs = readdirSync(dir).filter((n) => n.startsWith('.'));
    assert.equal(theirs.length, 1);
    const l = await list(dir);
    assert.deepEqual(
      (l.doc.temporaries ?? []).map((x) => `${x.name} ${x.state}`),
      [`${theirs[0]} live`],
    );
    const b = await runBosun(backupArgs(dir));
    assert.equal(b.code, 0, b.stderr);
    assert.doesNotMatch(b.stderr, /Removed/);
    assert.ok(existsSync(join(dir, theirs[0] ?? '')), "the other namespace's temporary file is still there");
    process.kill(inner, 'SIGCONT');
    const done = await a.exited;
    assert.equal(done.code, 0, a.stderr());
  } finally {
    if (inner !== 0) {
      try {
        process.kill(inner, 'SIGKILL');
      } catch {
        // gone
      }
    }
    a.child.kill('SIGKILL');
  }
  await noProcessMentions(dir);
});
