// The sandbox store's etcd client (src/etcd/kv-client.ts) against a real etcd over TLS: every call
// it makes, the errors the store turns into 410s, watches, and moving to the next endpoint.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { EtcdKvClient, isTransportError } from '../src/etcd/kv-client.ts';
import { prefixEnd, type WatchResponse } from '../src/etcd/kv-wire.ts';
import { freePorts } from '../src/common/net.ts';
import { startTestEtcd, type TestEtcd } from './support/etcd-backup.ts';

let etcd: TestEtcd;
let client: EtcdKvClient;
let tls: { ca: Buffer; cert: Buffer; key: Buffer };

before(async () => {
  etcd = await startTestEtcd({ tls: true });
  const pki = etcd.pkiDir ?? '';
  tls = {
    ca: readFileSync(join(pki, 'etcd/ca.crt')),
    cert: readFileSync(join(pki, 'apiserver-etcd-client.crt')),
    key: readFileSync(join(pki, 'apiserver-etcd-client.key')),
  };
  client = new EtcdKvClient([etcd.endpoint], tls);
});

after(async () => {
  client.close();
  await etcd.stop();
});

const v = (s: string): Uint8Array => new TextEncoder().encode(s);
const str = (b: Uint8Array | undefined): string => new TextDecoder().decode(b);

test('create, conditional update and delete in transactions; ranges with limit, count and more', async () => {
  const key = '/t1/a';
  const created = await client.txn({
    compare: [{ key, target: 'create', revision: 0 }],
    success: [{ put: { key, value: v('1') } }],
    failure: [],
  });
  assert.equal(created.succeeded, true);
  const again = await client.txn({
    compare: [{ key, target: 'create', revision: 0 }],
    success: [{ put: { key, value: v('x') } }],
    failure: [],
  });
  assert.equal(again.succeeded, false, 'the key exists');

  const stale = await client.txn({
    compare: [{ key, target: 'mod', revision: created.revision - 1 }],
    success: [{ put: { key, value: v('2') } }],
    failure: [{ range: { key } }],
  });
  assert.equal(stale.succeeded, false);
  const cur = stale.responses[0]?.range?.kvs[0];
  assert.equal(str(cur?.value), '1');
  assert.equal(cur?.modRevision, created.revision);
  assert.equal(cur?.createRevision, created.revision);

  const updated = await client.txn({
    compare: [{ key, target: 'mod', revision: created.revision }],
    success: [{ put: { key, value: v('2') } }],
    failure: [],
  });
  assert.equal(updated.succeeded, true);
  assert.ok(updated.revision > created.revision);

  for (const k of ['b', 'c', 'd'])
    await client.txn({ compare: [], success: [{ put: { key: `/t1/${k}`, value: v(k) } }], failure: [] });
  const page = await client.range({ key: '/t1/', rangeEnd: prefixEnd('/t1/'), limit: 2 });
  assert.deepEqual(
    page.kvs.map((kv) => kv.key),
    ['/t1/a', '/t1/b'],
  );
  assert.equal(page.more, true);
  assert.equal(page.count, 4);
  const counted = await client.range({ key: '/t1/', rangeEnd: prefixEnd('/t1/'), countOnly: true });
  assert.equal(counted.kvs.length, 0);
  assert.equal(counted.count, 4);
  assert.ok(counted.revision >= updated.revision);

  const both = await client.txn({
    compare: [],
    success: [{ range: { key } }, { range: { key: '/t1/', rangeEnd: prefixEnd('/t1/') } }],
    failure: [],
  });
  assert.equal(str(both.responses[0]?.range?.kvs[0]?.value), '2');
  assert.equal(both.responses[1]?.range?.kvs.length, 4);

  const deleted = await client.txn({
    compare: [{ key, target: 'mod', revision: updated.revision }],
    success: [{ deleteRange: { key, prevKv: true } }],
    failure: [],
  });
  assert.equal(deleted.succeeded, true);
  assert.equal(deleted.responses[0]?.deleteRange?.deleted, 1);
  assert.equal(str(deleted.responses[0]?.deleteRange?.prevKvs[0]?.value), '2');
});

test("reads at a compacted or a future revision fail with etcd's messages", async () => {
  const w = await client.txn({
    compare: [],
    success: [{ put: { key: '/t2/a', value: v('1') } }],
    failure: [],
  });
  await client.txn({ compare: [], success: [{ put: { key: '/t2/a', value: v('2') } }], failure: [] });
  await client.compact(w.revision + 1, true);
  await assert.rejects(client.range({ key: '/t2/a', revision: w.revision }), /compacted/);
  await assert.rejects(client.range({ key: '/t2/a', revision: w.revision + 1000 }), /future revision/);
});

test('a watch streams puts and deletes with their previous values from a revision, until cancelled', async () => {
  const start = await client.txn({
    compare: [],
    success: [{ put: { key: '/t3/a', value: v('1') } }],
    failure: [],
  });
  const seen: string[] = [];
  let resolveAll: () => void = () => undefined;
  const all = new Promise<void>((r) => (resolveAll = r));
  const ended: Error[] = [];
  const w = client.watch(
    { key: '/t3/', rangeEnd: prefixEnd('/t3/'), startRevision: start.revision, prevKv: true },
    (res: WatchResponse) => {
      for (const e of res.events)
        seen.push(
          `${e.type} ${e.kv.key} ${str(e.kv.value)} prev=${str(e.prevKv?.value)} created=${e.kv.createRevision === e.kv.modRevision}`,
        );
      if (seen.length === 3) resolveAll();
    },
    (e) => ended.push(e),
  );
  await client.txn({ compare: [], success: [{ put: { key: '/t3/a', value: v('2') } }], failure: [] });
  await client.txn({ compare: [], success: [{ deleteRange: { key: '/t3/a' } }], failure: [] });
  await all;
  w.cancel();
  assert.deepEqual(seen, [
    'put /t3/a 1 prev= created=true',
    'put /t3/a 2 prev=1 created=false',
    'delete /t3/a  prev=2 created=false',
  ]);
  assert.deepEqual(ended, [], 'a cancelled watch does not report an end');
});

test('a watch from a compacted revision is cancelled by etcd with the compaction revision', async () => {
  const w1 = await client.txn({
    compare: [],
    success: [{ put: { key: '/t4/a', value: v('1') } }],
    failure: [],
  });
  const w2 = await client.txn({
    compare: [],
    success: [{ put: { key: '/t4/a', value: v('2') } }],
    failure: [],
  });
  await client.compact(w2.revision, true);
  const res = await new Promise<WatchResponse>((resolve, reject) => {
    const w = client.watch(
      { key: '/t4/', rangeEnd: prefixEnd('/t4/'), startRevision: w1.revision, prevKv: true },
      (r) => {
        if (r.canceled) {
          w.cancel();
          resolve(r);
        }
      },
      reject,
    );
  });
  assert.ok(res.compactRevision >= w2.revision, `compact revision ${res.compactRevision}`);
});

test('a call that cannot reach the first endpoint is made on the next; with none reachable it is a transport error', async () => {
  const [deadPort] = await freePorts(1);
  const dead = `https://127.0.0.1:${deadPort ?? 1}`;
  const c = new EtcdKvClient([dead, etcd.endpoint], tls);
  try {
    const members = await c.memberList();
    assert.equal(members.length, 1);
    assert.equal((await c.range({ key: '/nothing' })).kvs.length, 0);
  } finally {
    c.close();
  }
  const none = new EtcdKvClient([dead], tls);
  try {
    await assert.rejects(none.range({ key: '/x' }), (e: unknown) => isTransportError(e));
  } finally {
    none.close();
  }
});
