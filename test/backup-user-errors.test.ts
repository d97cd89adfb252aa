// Mistakes a user makes with `bosun backup` and its subcommands (issue 18): each is one line that
// names the file or flag and says what is wrong, with the right exit code, and never "a bug in
// bosun". One etcd with TLS from a kubeadm-layout PKI for the whole file.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../src/cli/program.ts';
import { captureCtx, fill, startTestEtcd, type TestEtcd } from './support/etcd-backup.ts';

let etcd: TestEtcd;
let work: string;
let pki: string;

before(async () => {
  etcd = await startTestEtcd({ tls: true });
  pki = join(etcd.pkiDir ?? '', 'etcd');
  work = mkdtempSync(join(tmpdir(), 'bosun-user-errors-'));
  await fill(etcd.client, '/registry/configmaps/default/cm-', 50, 100);
});

after(async () => {
  await etcd?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

async function bosun(args: string[]): Promise<{ code: number; out: string[]; err: string[] }> {
  const c = captureCtx({ cwd: work });
  const code = await runCli(args, c.ctx);
  return { code, out: c.out, err: c.err };
}

function noBug(r: { err: string[] }): void {
  assert.doesNotMatch(r.err.join('\n'), /bug/i);
}

/** `bosun backup` of the test etcd into `dir`, with kubeadm's PKI layout. */
function backupArgs(dir: string): string[] {
  return ['backup', '--endpoints', etcd.endpoint, '--pki-dir', etcd.pkiDir ?? '', '--dir', dir];
}

async function takeBackup(dir: string, extra: string[] = []): Promise<string> {
  const r = await bosun([...backupArgs(dir), '-o', 'name', ...extra]);
  assert.equal(r.code, 0, r.err.join('\n'));
  return r.out[0] ?? '';
}

test('a --key that does not belong to --cert names both files, exit 1; a --key that is no private key, exit 2', async () => {
  const dir = join(work, 'mismatch');
  const base = [
    'backup',
    '--endpoints',
    etcd.endpoint,
    '--cacert',
    join(pki, 'ca.crt'),
    '--cert',
    join(pki, 'server.crt'),
    '--dir',
    dir,
  ];
  const r = await bosun([...base, '--key', etcd.otherCa?.key ?? '']);
  assert.equal(r.code, 1, r.err.join('\n'));
  noBug(r);
  assert.equal(
    r.err[0],
    `error: --key file ${etcd.otherCa?.key ?? ''} does not belong to --cert file ${join(pki, 'server.crt')}: the certificate was issued for another private key`,
  );
  assert.match(r.err[1] ?? '', /Pass the key that was created with the certificate/);
  assert.deepEqual(readdirSync(work).includes('mismatch') ? readdirSync(dir) : [], []);

  const notKey = await bosun([...base, '--key', join(pki, 'ca.crt')]);
  assert.equal(notKey.code, 2, notKey.err.join('\n'));
  noBug(notKey);
  assert.match(
    notKey.err[0] ?? '',
    new RegExp(`^error: --key file ${join(pki, 'ca.crt')} holds no private key \\(`),
  );
});

test('--dial-timeout 0s is refused with exit 2, as is --command-timeout 0s', async () => {
  for (const flag of ['--dial-timeout', '--command-timeout']) {
    const r = await bosun([...backupArgs(join(work, 'zero')), flag, '0s']);
    assert.equal(r.code, 2, r.err.join('\n'));
    assert.equal(r.err[0], `error: ${flag} must be more than 0 (e.g. 5s)`);
    assert.equal(r.err[1], "See 'bosun backup -h' for help and examples");
  }
});

test('backup list of a directory that does not exist, or is a file, exits 1 as its help says', async () => {
  const missing = join(work, 'nonexistent');
  const r = await bosun(['backup', 'list', '--dir', missing]);
  assert.equal(r.code, 1);
  assert.equal(r.err[0], `error: backup directory ${missing} does not exist`);
  const file = join(work, 'a-file');
  writeFileSync(file, 'x');
  const f = await bosun(['backup', 'list', '--dir', file]);
  assert.equal(f.code, 1);
  assert.equal(f.err[0], `error: backup directory ${file} is not a directory`);
});

test('a sidecar that does not parse is reported unreadable, with why, by verify and list', async () => {
  const dir = join(work, 'sidecar');
  const file = await takeBackup(dir);
  const sidecar = `${file}.json`;
  const good = readFileSync(sidecar, 'utf8');
  for (const tc of [
    { text: good.slice(0, 40), why: /^not JSON \(.+\)$/ },
    { text: '[1, 2]', why: /^not a JSON object$/ },
    {
      text: JSON.stringify({ ...JSON.parse(good), revision: 'ten' }),
      why: /^field "revision" is not a whole number \(it is "ten"\)$/,
    },
    { text: JSON.stringify({ ...JSON.parse(good), kind: undefined }), why: /^field "kind" is missing$/ },
  ]) {
    writeFileSync(sidecar, tc.text);
    const v = await bosun(['backup', 'verify', file]);
    assert.equal(v.code, 1, v.err.join('\n'));
    const prefix = `error: the sidecar ${sidecar} of ${file} is unreadable: `;
    assert.ok(v.err[0]?.startsWith(prefix), v.err[0]);
    assert.match(v.err[0]?.slice(prefix.length) ?? '', tc.why);
    const l = await bosun(['backup', 'list', '--dir', dir, '-o', 'json']);
    const doc = JSON.parse(l.out.join('\n')) as { backups: { verified: boolean; reason: string }[] };
    assert.equal(doc.backups[0]?.verified, false);
    assert.match(doc.backups[0]?.reason ?? '', /^sidecar is unreadable: /);
    assert.match((doc.backups[0]?.reason ?? '').slice('sidecar is unreadable: '.length), tc.why);
  }
});

test('a snapshot whose sha256 trailer is cut short says so in words', async () => {
  const file = await takeBackup(join(work, 'cut'));
  rmSync(`${file}.json`);
  const size = readFileSync(file).length;
  truncateSync(file, size - 10);
  const v = await bosun(['backup', 'verify', file]);
  assert.equal(v.code, 1);
  assert.doesNotMatch(v.err[0] ?? '', /-\d+ unexpected/);
  assert.match(
    v.err[0] ?? '',
    new RegExp(
      `: offset ${size - 32}: the sha256 trailer is cut short: 22 of its 32 bytes are there \\(the file should be ${size} bytes, it has ${size - 10}: truncated\\)$`,
    ),
  );
});

test('an encryption key file that group or others may read is refused, as ssh refuses such keys', async () => {
  const key = join(work, 'open.key');
  writeFileSync(key, Buffer.alloc(32, 3).toString('base64'));
  const backup = await takeBackup(join(work, 'enc'));
  for (const mode of [0o644, 0o640, 0o604]) {
    chmodSync(key, mode);
    for (const args of [
      [...backupArgs(join(work, 'enc-open')), '--encryption-key-file', key],
      ['backup', 'status', backup, '--encryption-key-file', key],
      ['restore', backup, '--data-dir', join(work, 'enc-restore'), '--encryption-key-file', key],
    ]) {
      const r = await bosun(args);
      assert.equal(r.code, 2, `${args[1] ?? ''}: ${r.err.join('\n')}`);
      assert.equal(
        r.err[0],
        `error: permissions 0${mode.toString(8)} for encryption key file ${key} are too open: a key must not be accessible by group or others`,
      );
      assert.equal(r.err[1], `Run: chmod 600 ${key}`);
    }
  }
  assert.deepEqual(
    readdirSync(work).filter((n) => n.startsWith('enc-')),
    [],
  );
  for (const mode of [0o600, 0o400]) {
    chmodSync(key, mode);
    await takeBackup(join(work, `enc-${mode.toString(8)}`), ['--encryption-key-file', key]);
  }
});

test('restore names a data dir an interrupted restore left (member/snap/db, no WAL) instead of only "not empty"', async () => {
  const file = await takeBackup(join(work, 'half'));
  const dataDir = join(work, 'half-restored');
  mkdirSync(join(dataDir, 'member', 'snap'), { recursive: true });
  writeFileSync(join(dataDir, 'member', 'snap', 'db'), 'half');
  const r = await bosun(['restore', file, '--data-dir', dataDir]);
  assert.equal(r.code, 1);
  assert.equal(
    r.err[0],
    `error: data dir ${dataDir} holds an incomplete etcd data dir (member/snap/db but no WAL): a restore that was interrupted`,
  );
  assert.equal(r.err[1], `Nothing can use it: remove it (rm -rf ${dataDir}) and restore again.`);
});

test('restore into a data dir that is a mount point says so, exit 1, and leaves nothing beside it', async (t) => {
  const file = await takeBackup(join(work, 'mnt-backup'));
  const parent = join(work, 'mnt-parent');
  const dataDir = join(parent, 'data');
  mkdirSync(dataDir, { recursive: true });
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', dataDir]).status !== 0) {
    t.skip('mounting a tmpfs is not permitted here');
    return;
  }
  t.after(() => spawnSync('umount', [dataDir]));
  const r = await bosun(['restore', file, '--data-dir', dataDir]);
  assert.equal(r.code, 1, r.err.join('\n'));
  noBug(r);
  const at = r.err.findIndex((l) => l.startsWith('error: '));
  assert.match(
    r.err[at] ?? '',
    new RegExp(`^error: cannot restore into ${dataDir} while moving the restored data dir into place: `),
  );
  assert.equal(
    r.err[at + 1],
    `${dataDir} is a mount point: restore into a new directory inside it, and point etcd there.`,
  );
  assert.deepEqual(readdirSync(parent), ['data']);
  assert.deepEqual(readdirSync(dataDir), []);
});

test('a trial restore with a $TMPDIR that does not exist names it, exit 1', async () => {
  const file = await takeBackup(join(work, 'tmpdir-backup'));
  const missing = join(work, 'no-such-tmp');
  const c = captureCtx({ cwd: work });
  c.ctx.env = { ...c.ctx.env, TMPDIR: missing };
  const code = await runCli(['backup', 'verify', file, '--trial-restore'], c.ctx);
  assert.equal(code, 1, c.err.join('\n'));
  noBug({ err: c.err });
  const at = c.err.findIndex((l) => l.startsWith('error: '));
  assert.match(
    c.err[at] ?? '',
    new RegExp(`^error: cannot make a directory for the trial restore in ${missing}: ENOENT`),
  );
  assert.equal(c.err[at + 1], 'Set TMPDIR to a directory this user may write to.');
});
