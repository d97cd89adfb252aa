// Faults during `bosun backup`: the disk fills up (an injected ENOSPC, and a real 1 MiB tmpfs where
// mounting is allowed), the directory refuses writes, Ctrl-C mid-stream, and etcd killed
// mid-stream. Each fails with one line naming the cause, and leaves no file behind. One plain-http
// etcd holding ~20 MB, so the stream is long enough to be interrupted; the kill comes last.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isBosunError } from '../src/common/errors.ts';
import { systemClock } from '../src/common/real.ts';
import { nodeBackupFs, type BackupFs } from '../src/etcd/backup-fs.ts';
import { etcdGrpcPort, type EtcdPort } from '../src/etcd/etcd-client.ts';
import { takeBackup, type BackupDeps } from '../src/etcd/save.ts';
import { fill, startTestEtcd, type TestEtcd } from './support/etcd-backup.ts';

let etcd: TestEtcd;
let port: EtcdPort;
let work: string;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'bosun-faults-'));
  etcd = await startTestEtcd({ tls: false });
  await fill(etcd.client, '/registry/configmaps/big/cm-', 2000, 10_000);
  port = etcdGrpcPort({ tls: null });
});

after(async () => {
  port?.close();
  await etcd?.stop();
  rmSync(work, { recursive: true, force: true });
});

function deps(over: Partial<BackupDeps> = {}): BackupDeps {
  return {
    etcd: port,
    fs: nodeBackupFs,
    clock: systemClock,
    signal: new AbortController().signal,
    ...over,
  };
}

function errno(code: string): NodeJS.ErrnoException {
  const e: NodeJS.ErrnoException = new Error(`${code}: injected`);
  e.code = code;
  return e;
}

/** The real file system, except that writes fail with `code` once `limit` bytes are written. */
function failingFs(code: string, limit: number): BackupFs {
  return {
    ...nodeBackupFs,
    async create(path, mode) {
      const f = await nodeBackupFs.create(path, mode);
      let written = 0;
      return {
        ...f,
        async write(chunks) {
          const n = chunks.reduce((a, b) => a + b.length, 0);
          if (written + n > limit) throw errno(code);
          written += n;
          await f.write(chunks);
        },
      };
    },
  };
}

function leftovers(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

async function expectFailure(p: Promise<unknown>, want: RegExp): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(isBosunError(e), String(e));
    assert.match(e.message, want);
    assert.ok(!e.message.includes('\n'), 'one line');
    return true;
  });
}

test('a disk that fills up mid-stream (injected ENOSPC) is named, and the partial file is removed', async () => {
  const dir = join(work, 'enospc');
  await expectFailure(
    takeBackup(
      { endpoints: [etcd.endpoint], dir, encryptionKey: null, retention: {} },
      deps({ fs: failingFs('ENOSPC', 2 << 20) }),
    ),
    /^no space left for the backup in .*enospc \(ENOSPC while writing after \d+(\.\d)? MiB\); the partial file was removed$/,
  );
  assert.deepEqual(leftovers(dir), []);
});

test('a directory that refuses writes (injected EACCES) is named', async () => {
  const dir = join(work, 'eacces');
  const fs: BackupFs = { ...nodeBackupFs, create: () => Promise.reject(errno('EACCES')) };
  await expectFailure(
    takeBackup({ endpoints: [etcd.endpoint], dir, encryptionKey: null, retention: {} }, deps({ fs })),
    /^backup directory .*eacces is not writable \(EACCES while creating the temporary file\)$/,
  );
  assert.deepEqual(leftovers(dir), []);
});

test('a real 1 MiB tmpfs fills up: no space left, nothing left behind', async (t) => {
  const dir = join(work, 'tmpfs');
  mkdirSync(dir);
  if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir]).status !== 0) {
    t.skip('mounting a tmpfs is not permitted here; the injected ENOSPC covers this path');
    return;
  }
  t.after(() => spawnSync('umount', [dir]));
  await expectFailure(
    takeBackup({ endpoints: [etcd.endpoint], dir, encryptionKey: null, retention: {} }, deps()),
    /^no space left for the backup in .*tmpfs \(ENOSPC while /,
  );
  assert.deepEqual(leftovers(dir), []);
});

test('Ctrl-C (the CLI AbortSignal) mid-stream stops it and removes the temp file', async () => {
  const dir = join(work, 'sigint');
  const ac = new AbortController();
  let chunks = 0;
  await expectFailure(
    takeBackup(
      { endpoints: [etcd.endpoint], dir, encryptionKey: null, retention: {} },
      deps({
        signal: ac.signal,
        onBytes: () => (++chunks === 3 ? ac.abort(new Error('interrupted (SIGINT)')) : undefined),
      }),
    ),
    /^interrupted: interrupted \(SIGINT\); nothing was saved$/,
  );
  assert.ok(chunks >= 3);
  assert.deepEqual(leftovers(dir), []);
});

test('etcd killed mid-stream: the broken stream is named and nothing is saved', async () => {
  const dir = join(work, 'killed');
  let killed: Promise<void> | null = null;
  await expectFailure(
    takeBackup(
      { endpoints: [etcd.endpoint], dir, encryptionKey: null, retention: {} },
      deps({
        onBytes: (n) => void (n > 1 << 20 && killed === null ? (killed = etcd.proc.kill()) : undefined),
      }),
    ),
    /^snapshot stream from http:\/\/127\.0\.0\.1:\d+ (broke after \d+ bytes: |ended after \d+ bytes with \d+ bytes still to come)/,
  );
  assert.ok(killed !== null, 'etcd was killed during the stream');
  await killed;
  assert.deepEqual(leftovers(dir), []);
});
