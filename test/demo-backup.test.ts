// The demo's backup chapter (src/cli/demo/backup.ts) against a small sandbox: it shows the real
// commands and their output, leaves one verified 0600 backup under DIR/backups, and a failing
// step ends the chapter with one clear error instead of carrying on.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { backupChapter, DEMO_BACKUP_DIR } from '../src/cli/demo/backup.ts';
import { createDemoContext, type DemoContext } from '../src/cli/demo/run.ts';
import { runCli } from '../src/cli/program.ts';
import { captureCtx } from './support/etcd-backup.ts';
import { startTestSandbox, type TestSandbox } from './support/sandbox.ts';

let s: TestSandbox;

before(async () => {
  s = await startTestSandbox({ controlPlanes: 1, workers: 1 });
});
after(async () => {
  await s?.stop();
});

function demoContext(): { d: DemoContext; shown: string[] } {
  const shown: string[] = [];
  const { ctx } = captureCtx({ cwd: s.dir });
  const d: DemoContext = createDemoContext({
    cli: ctx,
    runCli,
    sandbox: s.sb,
    heading: (t) => void shown.push(`== ${t}`),
    say: (l) => void shown.push(l),
    show: (l) => void shown.push(l),
  });
  return { d, shown };
}

test('the backup chapter takes a backup, verifies it with a trial restore, and lists it', async () => {
  const { d, shown } = demoContext();
  await backupChapter.run(d);
  const text = shown.join('\n');
  // The commands as a user would type them, from the sandbox directory.
  assert.match(
    text,
    /^\$ bosun backup --endpoints https:\/\/127\.0\.0\.1:\d+ --pki-dir nodes\/cp-1\/host\/etc\/kubernetes\/pki --dir backups$/m,
  );
  assert.match(
    text,
    /^backup \/\S+\/backups\/etcd-\S+-rev\d+\.db saved \(revision \d+, \d+ keys, verified\)$/m,
  );
  assert.match(text, /^\$ bosun backup verify backups\/etcd-[^ ]+-rev\d+\.db --trial-restore$/m);
  assert.match(text, /^\$ bosun backup list --dir backups$/m);
  // Their results: verified with a trial restore, listed as verified.
  assert.match(
    text,
    /: OK \(sha256 trailer ok, bbolt structure ok, revision \d+, \d+ keys, sidecar matches, trial restore ok \(revision \d+, \d+ keys\)\)$/m,
  );
  assert.match(text, /^NAME +AGE +REVISION +SIZE +VERIFIED +ENCRYPTED$/m);
  assert.match(text, /^etcd-\S+\.db +\S+ +\d+ +\S+ \S+ +yes +no$/m);
  const dir = join(s.dir, DEMO_BACKUP_DIR);
  const dbs = readdirSync(dir).filter((f) => f.endsWith('.db'));
  assert.equal(dbs.length, 1);
  assert.equal(statSync(join(dir, dbs[0] ?? '')).mode & 0o777, 0o600);
});

test('a step that fails ends the chapter with one error naming the command', async () => {
  await s.sb.stopEtcd('cp-1');
  try {
    const { d } = demoContext();
    await assert.rejects(backupChapter.run(d), (e: Error) => {
      assert.match(e.message, /^bosun backup exited with 1: /);
      return true;
    });
  } finally {
    await s.sb.startEtcd('cp-1');
  }
});
