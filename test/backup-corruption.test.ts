// verify catches damage: a thousand random truncations and single-byte flips of a real etcd
// snapshot, each reported on one line that says what and where; files that are no snapshot at all;
// and the same through `bosun backup verify` (exit 1, one error line). Verify runs in-process on
// in-memory copies, so the thousand cases take a moment, not a minute. Every case is also verified
// with a page index collected from the same bytes in pieces of random sizes (as `bosun backup`
// and `backup status` do): the findings must be exactly those of the plain walk.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../src/cli/program.ts';
import { crc32cUpdate } from '../src/etcd/crc32c.ts';
import { fastCrc32c } from '../src/etcd/crc32c-fast.ts';
import { PageCollector, type PageIndex } from '../src/etcd/page-index.ts';
import { bufferSnapshot } from '../src/etcd/snapshot-file.ts';
import { scanSnapshot } from '../src/etcd/snapshot-scan.ts';
import { verifyOpen } from '../src/etcd/verify.ts';
import { captureCtx, fill, startTestEtcd } from './support/etcd-backup.ts';

let snapshot: Buffer;
let work: string;

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'bosun-corrupt-'));
  const etcd = await startTestEtcd({ tls: false });
  try {
    await fill(etcd.client, '/registry/pods/ns/p-', 400, 300);
    // A few values large enough for overflow pages.
    await fill(etcd.client, '/registry/secrets/ns/s-', 20, 9000);
    const file = join(work, 'snap.db');
    const r = spawnSync('etcdctl', ['--endpoints', etcd.endpoint, 'snapshot', 'save', file], {
      env: { ...process.env, ETCDCTL_API: '3' },
    });
    assert.equal(r.status, 0, String(r.stderr));
    snapshot = readFileSync(file);
  } finally {
    await etcd.stop();
  }
});

after(() => rmSync(work, { recursive: true, force: true }));

/** mulberry32: a small seeded PRNG so a failure can be replayed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A page index of `buf` collected from pieces of random sizes (1 byte to 3 pages), as a stream delivers them. */
function indexOf(
  buf: Buffer,
  rand: () => number,
  opts: { liveKeys: boolean; maxSpanBytes?: number; maxKeptBytes?: number },
): PageIndex {
  const c = new PageCollector({ crc: fastCrc32c().update, ...opts });
  for (let at = 0; at < buf.length;) {
    const n = rand() < 0.1 ? 1 + Math.floor(rand() * 40) : 1 + Math.floor(rand() * 12288);
    c.push(Buffer.from(buf.subarray(at, at + n)));
    at += n;
  }
  return c.finish();
}

function verifyBytes(buf: Buffer, rand?: () => number): ReturnType<typeof verifyOpen> {
  const plain = verifyOpen(bufferSnapshot(buf), 'mem', { key: null, sidecar: null });
  if (rand) {
    const indexed = verifyOpen(bufferSnapshot(buf), 'mem', {
      key: null,
      sidecar: null,
      index: indexOf(buf, rand, { liveKeys: true }),
    });
    assert.deepEqual(indexed, plain, 'the same findings with a page index');
  }
  return plain;
}

test('the pristine snapshot verifies, and the native and pure CRC-32C give the same status', () => {
  const r = verifyBytes(snapshot, prng(1));
  assert.equal(r.ok, true, r.problem ?? '');
  const a = scanSnapshot(bufferSnapshot(snapshot).source, { crc: fastCrc32c().update });
  const b = scanSnapshot(bufferSnapshot(snapshot).source, { crc: crc32cUpdate });
  assert.deepEqual(a.status, b.status);
  assert.ok((a.status?.totalKey ?? 0) > 400);
});

test('with a page index, the status is the same whatever the index could not hold (overflow pages too large, no room to keep pages)', () => {
  const rand = prng(2);
  const want = scanSnapshot(bufferSnapshot(snapshot).source, {
    crc: fastCrc32c().update,
    countLiveKeys: true,
  });
  for (const limits of [
    {},
    { maxSpanBytes: 4096 },
    { maxKeptBytes: 0 },
    { maxSpanBytes: 8192, maxKeptBytes: 20_000 },
  ]) {
    const index = indexOf(snapshot, rand, { liveKeys: true, ...limits });
    const got = scanSnapshot(bufferSnapshot(snapshot).source, {
      crc: fastCrc32c().update,
      countLiveKeys: true,
      index,
    });
    assert.deepEqual(got, want, JSON.stringify(limits));
  }
  // An index collected without live keys still gives etcdctl's four numbers.
  const index = indexOf(snapshot, rand, { liveKeys: false });
  assert.deepEqual(
    scanSnapshot(bufferSnapshot(snapshot).source, { crc: fastCrc32c().update, index }).status,
    want.status,
  );
});

test('a thousand random truncations and byte flips are all caught, each with what and where', () => {
  const rand = prng(4);
  const kinds = new Map<string, number>();
  for (let i = 0; i < 1000; i++) {
    let bad: Buffer;
    let label: string;
    if (i % 2 === 0) {
      const len = Math.floor(rand() * snapshot.length);
      bad = snapshot.subarray(0, len);
      label = `truncated to ${len}`;
    } else {
      const off = Math.floor(rand() * snapshot.length);
      const mask = 1 + Math.floor(rand() * 255);
      bad = Buffer.from(snapshot);
      bad[off] = bad[off]! ^ mask;
      label = `byte ${off} xor ${mask}`;
    }
    const r = verifyBytes(bad, rand);
    assert.equal(r.ok, false, `${label} was not caught`);
    assert.ok(r.problem !== null && !r.problem.includes('\n'), `${label}: one line`);
    assert.match(r.problem, /(page \d+ \(offset \d+\)|offset \d+): /, `${label}: located (${r.problem})`);
    const kind =
      /sha256 trailer mismatch|truncated|checksum|magic|out of order|outside|reached twice|flags|type|overflow|header|not a bucket|unexpected bytes|no sha256 trailer/.exec(
        r.problem,
      )?.[0] ?? r.problem;
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  // Not only the trailer: the structural checks name many flips themselves.
  assert.ok(kinds.size >= 3, [...kinds.entries()].join(' '));
});

test('files that are not snapshots get one precise line', () => {
  const pages = snapshot.subarray(0, snapshot.length - 32);
  for (const tc of [
    {
      name: 'empty file',
      bytes: Buffer.alloc(0),
      want: /^page 0 \(offset 0\): file ends at byte 0, inside meta page 0: not a bbolt database or truncated$/,
    },
    {
      name: 'text',
      bytes: Buffer.from('apiVersion: v1\nkind: Secret\n'.repeat(500)),
      want: /^page 0 \(offset 16\): bad magic 0x[0-9a-f]{8} \(want 0xed0cdaed\): not a bbolt database$/,
    },
    {
      name: 'bbolt file without trailer (a copied data dir db)',
      bytes: pages,
      want: /^offset \d+: no sha256 trailer after the \d+-byte database: a bbolt file copied from a data dir, not a snapshot etcd streamed$/,
    },
    {
      name: 'trailer cut short',
      bytes: snapshot.subarray(0, snapshot.length - 10),
      want: /^offset \d+: the sha256 trailer is cut short: 22 of its 32 bytes are there \(the file should be \d+ bytes, it has \d+: truncated\)$/,
    },
    {
      name: 'extra bytes',
      bytes: Buffer.concat([snapshot, Buffer.from('x')]),
      want: /^offset \d+: 1 unexpected bytes after the database and its sha256 trailer/,
    },
    {
      name: 'flipped trailer',
      bytes: Buffer.concat([pages, Buffer.alloc(32, 7)]),
      want: /^offset \d+: sha256 trailer mismatch: bytes 0\.\.\d+ hash to [0-9a-f]{16}…, the trailer says 0707070707070707… \(altered or corrupted\)$/,
    },
  ]) {
    const r = verifyBytes(tc.bytes, prng(3));
    assert.equal(r.ok, false, tc.name);
    assert.match(r.problem ?? '', tc.want, tc.name);
  }
});

test('bosun backup verify exits 1 with one error line for a damaged file, and status refuses it too', async () => {
  const file = join(work, 'cut.db');
  writeFileSync(file, snapshot.subarray(0, Math.floor(snapshot.length / 2)));
  const c = captureCtx({ cwd: work });
  assert.equal(await runCli(['backup', 'verify', file], c.ctx), 1);
  assert.deepEqual(c.out, []);
  assert.equal(c.err.length, 1);
  assert.match(
    c.err[0] ?? '',
    /^error: snapshot .*cut\.db is invalid: offset \d+: truncated: the database has \d+ pages of 4096 bytes \(\d+ bytes\) but the file ends at byte \d+$/,
  );
  const s = captureCtx({ cwd: work });
  assert.equal(await runCli(['backup', 'status', file], s.ctx), 1);
  assert.match(s.err[0] ?? '', /^error: snapshot .*cut\.db is invalid: /);
  const missing = captureCtx({ cwd: work });
  assert.equal(await runCli(['backup', 'verify', join(work, 'nope.db')], missing.ctx), 1);
  assert.match(missing.err[0] ?? '', /^error: snapshot .*nope\.db does not exist$/);
});
