// The lock's I/O on an in-memory Leases port and a FakeClock: creation, preconditions, renewal and
// its loss, waiting by watching. (test/lock.test.ts runs the same against the sandbox.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isBosunError } from '../common/errors.ts';
import { FakeClock, flushAsync } from '../common/fake-clock.ts';
import { fromStatus } from '../kube/errors.ts';
import { FakeLeases } from '../kube/testing/fake-leases.ts';
import { LOCK_HOLDERS_ANNOTATION, type LockRequest } from './decide.ts';
import { ClusterLock, LockHeldError, LockLostError, type Blocked } from './lock.ts';

const NS = 'bosun-system';
const upgrade: LockRequest = {
  identity: 'alice@laptop',
  mode: 'exclusive',
  operation: 'upgrade',
  ttlSeconds: 30,
};
const reboot = (node: string, limit = 2): LockRequest => ({
  identity: node,
  node,
  mode: 'shared',
  limit,
  operation: 'reboot',
  ttlSeconds: 30,
});

function setup(namespaces: string[] = [NS]): { kube: FakeLeases; clock: FakeClock; lock: ClusterLock } {
  const kube = new FakeLeases(namespaces);
  const clock = new FakeClock();
  return { kube, clock, lock: new ClusterLock({}, { kube, clock }) };
}

const holders = (kube: FakeLeases): string | undefined =>
  kube.leases.get(`${NS}/bosun-lock`)?.spec?.holderIdentity;

test('the namespace and the Lease are created when absent; the Lease names its holder', async () => {
  const { kube, lock, clock } = setup([]);
  const got = await lock.tryAcquire(upgrade);
  assert.ok(got.acquired);
  assert.ok(kube.namespaces.has(NS));
  const lease = kube.leases.get(`${NS}/bosun-lock`);
  assert.deepEqual(lease?.spec, {
    holderIdentity: 'alice@laptop',
    leaseDurationSeconds: 30,
    acquireTime: '2025-01-01T00:00:00.000000Z',
    renewTime: '2025-01-01T00:00:00.000000Z',
    leaseTransitions: 1,
  });
  assert.ok(lease?.metadata.annotations?.[LOCK_HOLDERS_ANNOTATION]);
  await clock.advance(1000);
  const d = await lock.describe();
  assert.deepEqual(
    d.holders.map((h) => [h.identity, h.state, h.text]),
    [['alice@laptop', 'live', 'alice@laptop (upgrade) since 2025-01-01T00:00:00Z (1s ago)']],
  );
});

test('a write that loses a race (409) reads again and decides again', async () => {
  const { kube, lock } = setup();
  await lock.tryAcquire(reboot('w1'));
  kube.failNext('update', () =>
    fromStatus(409, {
      reason: 'Conflict',
      message: 'Operation cannot be fulfilled: the object has been modified',
    }),
  );
  const got = await lock.tryAcquire(reboot('w2'));
  assert.ok(got.acquired);
  assert.equal(holders(kube), 'w1,w2');
  assert.deepEqual(kube.actions.slice(-4), [
    `get ${NS}/bosun-lock`,
    `update ${NS}/bosun-lock`,
    `get ${NS}/bosun-lock`,
    `update ${NS}/bosun-lock`,
  ]);
});

test('a blocked request says who holds the lock and since when, and writes nothing', async () => {
  const { kube, lock, clock } = setup();
  await lock.tryAcquire(upgrade);
  await clock.advance(5000);
  const writes = kube.actions.filter((a) => !a.startsWith('get')).length;
  const got = await lock.tryAcquire(reboot('w1'));
  assert.equal(got.acquired, false);
  const err = new LockHeldError(got as Blocked, 'cannot start the reboot of w1');
  assert.equal(
    err.message,
    'cannot start the reboot of w1: the lock is held exclusively by alice@laptop (upgrade) since 2025-01-01T00:00:00Z (5s ago)',
  );
  assert.equal(err.exitCode, 1);
  assert.equal(kube.actions.filter((a) => !a.startsWith('get')).length, writes);
});

test('a blocker whose Node is gone is taken over at once when the caller can tell', async () => {
  const kube = new FakeLeases([NS]);
  const clock = new FakeClock();
  await new ClusterLock({}, { kube, clock }).tryAcquire(reboot('w9', 1));
  const asked: string[] = [];
  const lock = new ClusterLock(
    {},
    {
      kube,
      clock,
      nodeExists: (n) => {
        asked.push(n);
        return Promise.resolve(n !== 'w9');
      },
    },
  );
  const got = await lock.tryAcquire(reboot('w1', 1));
  assert.ok(got.acquired);
  assert.deepEqual(
    got.takenOver.map((t) => [t.holder.identity, t.state]),
    [['w9', 'node-gone']],
  );
  assert.deepEqual(asked, ['w9']);
  assert.equal(holders(kube), 'w1');
});

test('hold() renews on the clock and stops when told; release() frees the entry', async () => {
  const { kube, lock, clock } = setup();
  const got = await lock.tryAcquire(upgrade);
  assert.ok(got.acquired);
  const hold = lock.hold(got.holder);
  await clock.advance(10_000); // a third of the TTL
  assert.equal(kube.leases.get(`${NS}/bosun-lock`)?.spec?.renewTime, '2025-01-01T00:00:10.000000Z');
  await clock.advance(10_000);
  assert.equal(kube.leases.get(`${NS}/bosun-lock`)?.spec?.renewTime, '2025-01-01T00:00:20.000000Z');
  await hold.release();
  assert.equal(await hold.lost, undefined);
  assert.ok(hold.signal.aborted);
  assert.equal(holders(kube), undefined);
  const before = kube.actions.length;
  await clock.advance(60_000);
  assert.equal(kube.actions.length, before, 'no renewal after release');
});

test('hold(): a failed renewal is tried again, and a renewal in time keeps the lock', async () => {
  const { kube, lock, clock } = setup();
  const got = await lock.tryAcquire(upgrade);
  assert.ok(got.acquired);
  const hold = lock.hold(got.holder);
  kube.failNext('get', () => fromStatus(503, { reason: 'ServiceUnavailable', message: 'etcd is down' }));
  await clock.advance(10_000);
  assert.equal(kube.leases.get(`${NS}/bosun-lock`)?.spec?.renewTime, '2025-01-01T00:00:00.000000Z');
  await clock.advance(1_000);
  assert.equal(kube.leases.get(`${NS}/bosun-lock`)?.spec?.renewTime, '2025-01-01T00:00:11.000000Z');
  assert.equal(hold.signal.aborted, false);
  await hold.stop();
});

test('hold(): no renewal for two thirds of the TTL is a loss, reported before the entry can expire', async () => {
  const { kube, lock, clock } = setup();
  const got = await lock.tryAcquire(upgrade);
  assert.ok(got.acquired);
  const hold = lock.hold(got.holder);
  kube.hang('get'); // the API server stops answering
  await clock.advance(20_000);
  const lost = await hold.lost;
  assert.ok(lost);
  assert.match(lost.reason, /^not renewed for 20s \(its TTL is 30s\)/);
  assert.ok(hold.signal.aborted);
  assert.ok(hold.signal.reason instanceof LockLostError);
  kube.hang(undefined);
  kube.releaseHung();
  await hold.stop();
});

test('hold(): an entry taken over is a loss at the next renewal', async () => {
  const { kube, lock, clock } = setup();
  const got = await lock.tryAcquire(reboot('w1', 1));
  assert.ok(got.acquired);
  const hold = lock.hold(got.holder);
  await lock.release('w1'); // as if another holder had taken it over
  await clock.advance(10_000);
  const lost = await hold.lost;
  assert.match(lost?.reason ?? '', /w1 no longer holds the lock/);
  assert.ok(hold.signal.aborted);
  void kube;
});

test('acquire() waits on the Lease: a release wakes the waiter at once, with no time passing', async () => {
  const { kube, lock, clock } = setup();
  const first = await lock.tryAcquire(reboot('w1', 1));
  assert.ok(first.acquired);
  const blocked: string[] = [];
  const waiting = lock.acquire(reboot('w2', 1), { onBlocked: (b) => blocked.push(b.reason) });
  while (kube.watching === 0) await flushAsync();
  assert.equal(blocked.length, 1);
  await lock.release('w1');
  const got = await waiting;
  assert.equal(got.holder.identity, 'w2');
  assert.equal(clock.now().getTime(), Date.UTC(2025, 0, 1), 'woken by the watch, not by the clock');
  assert.equal(holders(kube), 'w2');
});

test('acquire() takes over a holder that stopped renewing when its entry expires', async () => {
  const { kube, lock, clock } = setup();
  await lock.tryAcquire(upgrade); // never renewed: its holder died
  const waiting = clock.runUntilSettled(lock.acquire(reboot('w1')));
  const got = await waiting;
  assert.equal(got.takenOver[0]?.holder.identity, 'alice@laptop');
  assert.equal(got.takenOver[0]?.state, 'expired');
  assert.equal(clock.now().getTime(), Date.UTC(2025, 0, 1) + 30_001, 'woken when the entry expired');
  assert.equal(holders(kube), 'w1');
});

test('acquire() stops waiting when its signal aborts', async () => {
  const { kube, lock } = setup();
  await lock.tryAcquire(upgrade);
  const ctl = new AbortController();
  const waiting = lock.acquire(reboot('w1'), { signal: ctl.signal });
  while (kube.watching === 0) await flushAsync();
  ctl.abort();
  await assert.rejects(waiting, (e: unknown) => isBosunError(e) && e.code === 'INTERRUPTED');
  assert.equal(kube.watching, 0, 'its watch is closed');
});

test('a waiter spends no request on the holder’s renewals, and hears of it once', async () => {
  const { kube, lock, clock } = setup();
  const got = await lock.tryAcquire(upgrade);
  assert.ok(got.acquired);
  const hold = lock.hold(got.holder);
  const calls: string[] = [];
  // The waiter's own view of the same fake, counting what it asks.
  const counted = new Proxy(kube, {
    get(target, prop, receiver) {
      const v: unknown = Reflect.get(target, prop, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        calls.push(String(prop));
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  const waiter = new ClusterLock({}, { kube: counted, clock });
  const heard: string[] = [];
  const waiting = waiter.acquire(reboot('w1'), { onBlocked: (b) => heard.push(b.reason) });
  while (kube.watching === 0) await flushAsync();
  const asked = calls.length;
  await clock.advance(45_000); // four renewals: the holder's entry never expires
  assert.equal(calls.length, asked, `the waiter asked nothing more: ${calls.slice(asked).join(' ')}`);
  assert.equal(heard.length, 1);
  await hold.release();
  const mine = await waiting;
  assert.equal(mine.holder.identity, 'w1');
  assert.deepEqual(mine.takenOver, []);
});

test('an expired holder the caller keeps is not taken over; awaitAvailable wakes when it releases', async () => {
  const { kube, clock } = setup();
  const a = new ClusterLock({}, { kube, clock });
  const got = await a.tryAcquire(reboot('w1', 1));
  assert.ok(got.acquired);
  await clock.advance(60_000); // w1's node is down for its reboot: its entry expired
  const keep = new Set(['w1']);
  const b = new ClusterLock({}, { kube, clock, keepExpired: async () => keep });
  const tried = await b.tryAcquire(reboot('w2', 1));
  assert.equal(tried.acquired, false);
  assert.equal(holders(kube), 'w1');
  let available = false;
  const waiting = b.awaitAvailable(reboot('w2', 1)).then(() => (available = true));
  while (kube.watching === 0) await flushAsync();
  await clock.advance(60_000);
  assert.equal(available, false, 'a kept holder is waited for, not timed out');
  await a.release('w1');
  await waiting;
  assert.equal(holders(kube), undefined, 'awaitAvailable takes nothing');
  keep.clear();
  const again = await b.tryAcquire(reboot('w2', 1));
  assert.ok(again.acquired);
});
