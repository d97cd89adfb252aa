// End to end: `bosun backup`, `backup status|verify|list` and `bosun restore` through runCli against
// a real etcd 3.4 serving TLS with a kubeadm-layout PKI, compared with the real etcdctl on the same
// files. One etcd for the whole file.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../src/cli/program.ts';
import { decryptToFile } from '../src/etcd/restore.ts';
import { readKeyFile } from '../src/etcd/status.ts';
import { captureCtx, FakeClock, fill, startTestEtcd, type TestEtcd } from './support/etcd-backup.ts';

let etcd: TestEtcd;
let work: string;

before(async () => {
  etcd = await startTestEtcd({ tls: true });
  work = mkdtempSync(join(tmpdir(), 'bosun-backup-e2e-'));
  await fill(etcd.client, '/registry/configmaps/default/cm-', 300, 700);
});

after(async () => {
  await etcd?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Runs bosun with the test etcd's endpoint and PKI. */
async function bosun(
  args: string[],
  opts: { clock?: FakeClock; signal?: AbortSignal } = {},
): Promise<{ code: number; out: string[]; err: string[] }> {
  const c = captureCtx({ cwd: work, clock: opts.clock, signal: opts.signal });
  const code = await runCli(args, c.ctx);
  return { code, out: c.out, err: c.err };
}

function tlsArgs(): string[] {
  return ['--endpoints', etcd.endpoint, '--pki-dir', etcd.pkiDir ?? ''];
}

function etcdctl(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync('etcdctl', args, { env: { ...process.env, ETCDCTL_API: '3' }, encoding: 'utf8' });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

function files(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir).sort() : [];
}

async function currentRevisionAndCount(): Promise<{ revision: number; count: number }> {
  const r = await etcd.client.kv.range({
    key: Buffer.from([0]),
    range_end: Buffer.from([0]),
    count_only: true,
  });
  return { revision: Number(r.header.revision), count: Number(r.count) };
}

test('bosun backup over TLS saves a verified 0600 snapshot with a sidecar, and nothing else', async () => {
  const dir = join(work, 'b1');
  const want = await currentRevisionAndCount();
  const r = await bosun(['backup', ...tlsArgs(), '--dir', dir, '--cluster-name', 'Prod East', '-o', 'json']);
  assert.equal(r.code, 0, r.err.join('\n'));
  const doc = JSON.parse(r.out.join('\n')) as Record<string, unknown>;
  const file = String(doc['file']);
  assert.match(file, /\/etcd-prod-east-\d{8}T\d{6}Z-rev\d+\.db$/);
  assert.deepEqual(files(dir), [file.split('/').pop(), `${file.split('/').pop()}.json`]);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal(statSync(`${file}.json`).mode & 0o777, 0o600);
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  const sidecar = JSON.parse(readFileSync(`${file}.json`, 'utf8')) as Record<string, unknown>;
  assert.equal(sidecar['revision'], want.revision);
  assert.equal(sidecar['liveKeys'], want.count);
  assert.equal(sidecar['verified'], true);
  assert.equal(sidecar['endpoint'], etcd.endpoint);
  assert.equal(sidecar['member'], 'cp-1');
  assert.equal(sidecar['etcdVersion'], '3.4.23');
  assert.equal(sidecar['size'], statSync(file).size);
  assert.equal(sidecar['sha256'], createHash('sha256').update(readFileSync(file)).digest('hex'));
  assert.equal(sidecar['encryption'], null);
});

test('bosun backup status equals etcdctl snapshot status -w json field by field, on its own backup and on an etcdctl snapshot', async () => {
  const dir = join(work, 'b2');
  const r = await bosun(['backup', ...tlsArgs(), '--dir', dir, '-o', 'name']);
  assert.equal(r.code, 0, r.err.join('\n'));
  const ours = r.out[0] ?? '';
  const pki = etcd.pkiDir ?? '';
  const theirs = join(work, 'etcdctl.db');
  const save = etcdctl([
    '--endpoints',
    etcd.endpoint,
    '--cacert',
    join(pki, 'etcd/ca.crt'),
    '--cert',
    join(pki, 'etcd/server.crt'),
    '--key',
    join(pki, 'etcd/server.key'),
    'snapshot',
    'save',
    theirs,
  ]);
  assert.equal(save.status, 0, save.stderr);
  for (const file of [ours, theirs]) {
    const peer = JSON.parse(etcdctl(['snapshot', 'status', file, '-w', 'json']).stdout) as Record<
      string,
      number
    >;
    const s = await bosun(['backup', 'status', file, '-o', 'json']);
    assert.equal(s.code, 0, s.err.join('\n'));
    const mine = JSON.parse(s.out.join('\n')) as Record<string, number>;
    assert.deepEqual(Object.keys(mine).sort(), ['hash', 'revision', 'totalKey', 'totalSize']);
    for (const k of ['hash', 'revision', 'totalKey', 'totalSize'])
      assert.equal(mine[k], peer[k], `${k} of ${file}`);
    const table = await bosun(['backup', 'status', file]);
    assert.equal(
      table.out[0],
      `HASH${' '.repeat(table.out[0]!.indexOf('REVISION') - 4)}REVISION   TOTAL KEYS   TOTAL SIZE`,
    );
    const peerTable = etcdctl(['snapshot', 'status', file, '-w', 'simple']).stdout.trim().split(', ');
    assert.deepEqual(table.out[1]?.split(/\s{3,}/), peerTable, 'table row as etcdctl simple output');
  }
  const v = await bosun(['backup', 'verify', theirs]);
  assert.equal(v.code, 0, v.err.join('\n'));
  assert.match(
    v.out[0] ?? '',
    /: OK \(sha256 trailer ok, bbolt structure ok, revision \d+, \d+ keys, no sidecar\)$/,
  );
});

test("bosun backup verify --trial-restore starts etcd on the restored data and finds the sidecar's revision and key count", async () => {
  const dir = join(work, 'b3');
  const r = await bosun(['backup', ...tlsArgs(), '--dir', dir, '-o', 'name']);
  assert.equal(r.code, 0, r.err.join('\n'));
  const file = r.out[0] ?? '';
  const sidecar = JSON.parse(readFileSync(`${file}.json`, 'utf8')) as { revision: number; liveKeys: number };
  const v = await bosun(['backup', 'verify', file, '--trial-restore', '-o', 'json']);
  assert.equal(v.code, 0, v.err.join('\n'));
  const doc = JSON.parse(v.out.join('\n')) as {
    ok: boolean;
    sidecar: string;
    trialRestore: { revision: number; keys: number; ok: boolean };
  };
  assert.equal(doc.ok, true);
  assert.equal(doc.sidecar, 'matches');
  assert.deepEqual(
    [doc.trialRestore.revision, doc.trialRestore.keys, doc.trialRestore.ok],
    [sidecar.revision, sidecar.liveKeys, true],
  );
  assert.deepEqual(
    readdirSync(tmpdir()).filter((n) => n.startsWith('bosun-trial-')),
    [],
    'trial dir removed',
  );
});

test('backup list shows age, revision, size and verification; retention prunes only verified backups bosun named', async () => {
  const dir = join(work, 'b4');
  // Whole hours from now: the client certificate's validity is checked against this clock too.
  const clock = new FakeClock(new Date(Math.floor(Date.now() / 3_600_000) * 3_600_000));
  const names: string[] = [];
  for (let i = 0; i < 4; i++) {
    const r = await bosun(['backup', ...tlsArgs(), '--dir', dir, '--cluster-name', 'c', '-o', 'name'], {
      clock,
    });
    assert.equal(r.code, 0, r.err.join('\n'));
    names.push((r.out[0] ?? '').split('/').pop() ?? '');
    clock.advance(3_600_000);
  }
  // An unverified backup (no sidecar) and a file bosun did not write must survive any retention.
  const orphan = names[0]!.replace(/\.db$/, '-7.db');
  renameSync(join(dir, names[0]!), join(dir, orphan));
  rmSync(join(dir, `${names[0]}.json`));
  writeFileSync(join(dir, 'notes.txt'), 'mine');

  const list = await bosun(['backup', 'list', '--dir', dir], { clock });
  assert.equal(list.code, 0, list.err.join('\n'));
  assert.deepEqual(list.out[0]?.split(/\s{3,}/), [
    'NAME',
    'AGE',
    'REVISION',
    'SIZE',
    'VERIFIED',
    'ENCRYPTED',
  ]);
  assert.equal(list.out.length, 5);
  assert.match(list.out[1] ?? '', new RegExp(`^${names[3]}\\s+60m\\s+\\d+\\s+\\d+ kB\\s+yes\\s+no$`));
  assert.match(list.out.find((l) => l.startsWith(orphan)) ?? '', /no \(no sidecar\)/);

  // Now +4h; the backups at +1h, +2h, +3h are verified. --keep 2 keeps the new one and +3h.
  const r = await bosun(['backup', ...tlsArgs(), '--dir', dir, '--cluster-name', 'c', '--keep', '2'], {
    clock,
  });
  assert.equal(r.code, 0, r.err.join('\n'));
  const left = files(dir);
  assert.ok(left.includes(orphan) && left.includes('notes.txt'), 'unverified and foreign files kept');
  assert.ok(
    left.includes(names[3]!) && !left.includes(names[1]!) && !left.includes(names[2]!),
    left.join(' '),
  );
  assert.equal(r.out.filter((l) => l.includes('pruned')).length, 2);

  clock.advance(3_600_000);
  const r2 = await bosun(
    ['backup', ...tlsArgs(), '--dir', dir, '--cluster-name', 'c', '--keep-within', '90m'],
    { clock },
  );
  assert.equal(r2.code, 0, r2.err.join('\n'));
  const json = await bosun(['backup', 'list', '--dir', dir, '-o', 'json'], { clock });
  const doc = JSON.parse(json.out.join('\n')) as { backups: { name: string; verified: boolean }[] };
  assert.deepEqual(
    doc.backups.map((b) => b.verified),
    [true, true, false],
    'the last two (within 90m) and the unverified one',
  );
});

test('encrypted backups: status, verify and restore read them with the key; a corrupted or wrong key is named as such', async () => {
  const dir = join(work, 'b5');
  const keyFile = join(work, 'backup.key');
  writeFileSync(
    keyFile,
    Buffer.from(createHash('sha256').update('test key').digest()).toString('base64') + '\n',
    { mode: 0o600 },
  );
  const r = await bosun([
    'backup',
    ...tlsArgs(),
    '--dir',
    dir,
    '--encryption-key-file',
    keyFile,
    '-o',
    'name',
  ]);
  assert.equal(r.code, 0, r.err.join('\n'));
  const file = r.out[0] ?? '';
  assert.match(file, /\.db\.enc$/);
  assert.ok(
    !readFileSync(file).includes(Buffer.from('/registry/configmaps/')),
    'no plaintext keys in the file',
  );

  const plain = join(work, 'decrypted.db');
  decryptToFile(file, readKeyFile(keyFile), plain);
  const peer = JSON.parse(etcdctl(['snapshot', 'status', plain, '-w', 'json']).stdout) as Record<
    string,
    number
  >;
  const s = await bosun(['backup', 'status', file, '--encryption-key-file', keyFile, '-o', 'json']);
  assert.equal(s.code, 0, s.err.join('\n'));
  assert.deepEqual(JSON.parse(s.out.join('\n')), peer);

  const v = await bosun(['backup', 'verify', file, '--encryption-key-file', keyFile]);
  assert.equal(v.code, 0, v.err.join('\n'));
  assert.match(v.out[0] ?? '', /sidecar matches/);

  const noKey = await bosun(['backup', 'status', file]);
  assert.equal(noKey.code, 2);
  assert.match(noKey.err[0] ?? '', /^error: snapshot .* is encrypted$/);

  const corrupted = join(work, 'corrupted.key');
  writeFileSync(corrupted, readFileSync(keyFile, 'utf8').slice(0, 30), { mode: 0o600 });
  for (const args of [
    ['backup', 'verify', file, '--encryption-key-file', corrupted],
    ['backup', ...tlsArgs(), '--dir', join(work, 'b5-bad'), '--encryption-key-file', corrupted],
  ]) {
    const bad = await bosun(args);
    assert.equal(bad.code, 2);
    assert.match(bad.err[0] ?? '', /^error: encryption key file .*corrupted\.key is corrupted: /);
  }
  assert.deepEqual(files(join(work, 'b5-bad')), [], 'no backup with a corrupted key');

  const other = join(work, 'other.key');
  writeFileSync(other, createHash('sha256').update('another key').digest('hex'), { mode: 0o600 });
  const wrong = await bosun(['backup', 'verify', file, '--encryption-key-file', other]);
  assert.equal(wrong.code, 1);
  assert.match(
    wrong.err[0] ?? '',
    /^error: wrong encryption key: .* was encrypted with key id [0-9a-f]{16}, the key in .*other\.key has id [0-9a-f]{16}$/,
  );

  const dataDir = join(work, 'restored-enc');
  const rs = await bosun(['restore', file, '--data-dir', dataDir, '--encryption-key-file', keyFile]);
  assert.equal(rs.code, 0, rs.err.join('\n'));
  assert.ok(existsSync(join(dataDir, 'member', 'snap', 'db')));
});

test('bosun restore makes a data dir etcdctl-compatible, refuses a non-empty one, and prints per-member steps for HA', async () => {
  const dir = join(work, 'b6');
  const r = await bosun(['backup', ...tlsArgs(), '--dir', dir, '-o', 'name']);
  const file = r.out[0] ?? '';
  const dataDir = join(work, 'restored');
  const ic = 'cp-1=https://10.0.0.1:2380,cp-2=https://10.0.0.2:2380,cp-3=https://10.0.0.3:2380';
  const rs = await bosun([
    'restore',
    file,
    '--data-dir',
    dataDir,
    '--name',
    'cp-1',
    '--initial-cluster',
    ic,
    '--initial-advertise-peer-urls',
    'https://10.0.0.1:2380',
  ]);
  assert.equal(rs.code, 0, rs.err.join('\n'));
  assert.match(
    rs.out[0] ?? '',
    /^member cp-1 restored into .*restored with etcd(ctl|utl) \(revision \d+, \d+ keys\)$/,
  );
  assert.match(rs.out[1] ?? '', /restores a 3-member etcd cluster/);
  for (const m of ['cp-1', 'cp-2', 'cp-3'])
    assert.ok(
      rs.out.some((l) => l.includes(`on ${m}: bosun restore`) && l.includes(`--name ${m}`)),
      m,
    );
  assert.equal(statSync(dataDir).mode & 0o777, 0o700);

  const again = await bosun(['restore', file, '--data-dir', dataDir]);
  assert.equal(again.code, 1);
  assert.match(
    again.err[0] ?? '',
    /^error: data dir .* is not empty \(1 entries\): refusing to overwrite it$/,
  );

  const bad = await bosun([
    'restore',
    file,
    '--data-dir',
    join(work, 'r2'),
    '--name',
    'cp-9',
    '--initial-cluster',
    ic,
  ]);
  assert.equal(bad.code, 2);
  assert.match(bad.err[0] ?? '', /has no member named "cp-9"/);
  const missing = await bosun(['restore', file]);
  assert.equal(missing.code, 2);
  assert.match(missing.err[0] ?? '', /--data-dir/);
});

test('several endpoints: an unreachable one is skipped and the choice is said on stderr', async () => {
  const dir = join(work, 'b7');
  const r = await bosun([
    'backup',
    '--endpoints',
    `https://127.0.0.1:1,${etcd.endpoint}`,
    '--pki-dir',
    etcd.pkiDir ?? '',
    '--dir',
    dir,
  ]);
  assert.equal(r.code, 0, r.err.join('\n'));
  assert.ok(
    r.err.some((l) =>
      /^skipping https:\/\/127\.0\.0\.1:1: etcd endpoint https:\/\/127\.0\.0\.1:1 is unreachable \(ECONNREFUSED\)$/.test(
        l,
      ),
    ),
    r.err.join('\n'),
  );
  assert.ok(
    r.err.some((l) => l.startsWith(`using ${etcd.endpoint}: member cp-1 (leader): healthy`)),
    r.err.join('\n'),
  );
});

test('TLS and connection errors are named, and leave no file in the backup directory', async () => {
  const pki = etcd.pkiDir ?? '';
  const cases = [
    {
      name: 'wrong CA',
      args: [
        '--endpoints',
        etcd.endpoint,
        '--cacert',
        etcd.otherCa?.cacert ?? '',
        '--cert',
        join(pki, 'etcd/server.crt'),
        '--key',
        join(pki, 'etcd/server.key'),
      ],
      want: /^error: TLS error talking to https:\/\/127\.0\.0\.1:\d+: the server's certificate is not signed by the given CA \(/,
    },
    {
      name: 'client certificate from another CA',
      args: [
        '--endpoints',
        etcd.endpoint,
        '--cacert',
        join(pki, 'etcd/ca.crt'),
        '--cert',
        etcd.otherCa?.cert ?? '',
        '--key',
        etcd.otherCa?.key ?? '',
      ],
      want: /^error: TLS error talking to https:\/\/127\.0\.0\.1:\d+: etcd (rejected our client certificate|does not trust the CA of our client certificate) \(/,
    },
    {
      name: 'expired client certificate',
      args: [
        '--endpoints',
        etcd.endpoint,
        '--cacert',
        join(pki, 'etcd/ca.crt'),
        '--cert',
        etcd.expired?.cert ?? '',
        '--key',
        etcd.expired?.key ?? '',
      ],
      want: /^error: TLS client certificate .*healthcheck-client\.crt expired on \d{4}-/,
    },
    {
      name: 'unreachable endpoint',
      args: ['--endpoints', 'https://127.0.0.1:1', '--pki-dir', pki],
      want: /^error: etcd endpoint https:\/\/127\.0\.0\.1:1 is unreachable \(ECONNREFUSED\)$/,
    },
    {
      name: 'missing certificate',
      args: ['--endpoints', etcd.endpoint, '--pki-dir', join(work, 'nope')],
      want: /^error: --cacert file .*nope\/etcd\/ca\.crt does not exist$/,
    },
  ];
  for (const tc of cases) {
    const dir = join(work, `err-${tc.name.replace(/\W+/g, '-')}`);
    const r = await bosun(['backup', ...tc.args, '--dir', dir]);
    assert.equal(r.code, 1, `${tc.name}: ${r.err.join('\n')}`);
    assert.match(r.err[0] ?? '', tc.want, tc.name);
    assert.deepEqual(files(dir), [], `${tc.name}: nothing left`);
  }
});

test('an unwritable backup directory is named, and nothing is left behind', async (t) => {
  const mnt = join(work, 'ro');
  mkdirSync(mnt);
  const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', mnt]);
  if (m.status !== 0) {
    t.skip('cannot mount a read-only tmpfs here; the injected EACCES in backup-faults covers this path');
    return;
  }
  t.after(() => spawnSync('umount', [mnt]));
  const r = await bosun(['backup', ...tlsArgs(), '--dir', mnt]);
  assert.equal(r.code, 1);
  assert.match(
    r.err[0] ?? '',
    /^error: backup directory .*\/ro is not writable \(EROFS while creating the temporary file\)$/,
  );
  assert.deepEqual(files(mnt), []);
});

test('usage errors exit 2 with the help hint', async () => {
  for (const tc of [
    { args: ['backup', '--keep', 'x'], want: /^error: invalid value "x" for --keep: want a whole number$/ },
    { args: ['backup', '--keep-within', 'soon'], want: /^error: invalid duration "soon" for --keep-within/ },
    { args: ['backup', '-o', 'xml'], want: /allowed formats are: table,json,yaml,name/ },
    { args: ['backup', '--endpoints', 'ftp://x'], want: /^error: invalid endpoint "ftp:\/\/x"/ },
  ]) {
    const r = await bosun(tc.args);
    assert.equal(r.code, 2, tc.args.join(' '));
    assert.match(r.err[0] ?? '', tc.want);
    assert.match(r.err[1] ?? '', /^See 'bosun backup -h' for help and examples$/);
  }
});
