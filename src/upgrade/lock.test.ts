// The upgrade's use of the cluster lock: who is in the way is named before anything is read; an
// entry whose process on this machine is gone is released at once, one of another machine or of a
// live process is not.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../common/fake-clock.ts';
import { FakeLeases } from '../kube/testing/fake-leases.ts';
import { ClusterLock } from '../lock/index.ts';
import { clusterUpgradeLock, upgradeProcessOf } from './lock.ts';

const DEAD = 'alice@ops-1 (bosun upgrade apply) pid 4242/3f9a1c';

async function setup(): Promise<{ lock: ClusterLock; clock: FakeClock }> {
  const clock = new FakeClock(new Date('2026-12-07T10:00:00Z'));
  const lock = new ClusterLock({}, { kube: new FakeLeases(['bosun-system']), clock });
  const r = await lock.tryAcquire({
    identity: DEAD,
    mode: 'exclusive',
    operation: 'upgrade',
    ttlSeconds: 60,
  });
  assert.ok(r.acquired);
  return { lock, clock };
}

for (const tc of [
  { id: DEAD, want: { host: 'ops-1', pid: 4242 } },
  { id: 'bob@laptop.lan (bosun upgrade apply) pid 7/00aa11', want: { host: 'laptop.lan', pid: 7 } },
  { id: 'worker-1', want: undefined },
  { id: 'alice@ops-1 (bosun drain) pid 4242/3f9a1c', want: undefined },
])
  test(`upgradeProcessOf(${tc.id})`, () => assert.deepEqual(upgradeProcessOf(tc.id), tc.want));

test("an entry of this machine's process that is gone is released at once, and said so", async () => {
  const { lock, clock } = await setup();
  const up = clusterUpgradeLock(lock, {
    identity: 'alice@ops-1 (bosun upgrade apply) pid 5000/aaaaaa',
    ttlSeconds: 60,
    clock,
    host: 'ops-1',
    processAlive: (pid) => pid !== 4242,
  });
  await up.check();
  const h = await up.acquire({ wait: false });
  assert.equal(h.takenOver.length, 1);
  assert.match(
    h.takenOver[0] ?? '',
    /^alice@ops-1 \(bosun upgrade apply\) pid 4242\/3f9a1c \(upgrade\) since .*, its process 4242 on ops-1 is gone$/,
  );
  await h.release();
});

for (const tc of [
  { name: 'of another machine', host: 'ops-2', alive: false },
  { name: 'whose process still runs', host: 'ops-1', alive: true },
])
  test(`an entry ${tc.name} stays: check names who holds the lock and since when`, async () => {
    const { lock, clock } = await setup();
    const up = clusterUpgradeLock(lock, {
      identity: 'alice@ops-1 (bosun upgrade apply) pid 5000/aaaaaa',
      ttlSeconds: 60,
      clock,
      host: tc.host,
      processAlive: () => tc.alive,
    });
    await assert.rejects(
      up.check(),
      /^BosunError: another bosun operation holds the cluster lock: the lock is held exclusively by alice@ops-1 \(bosun upgrade apply\) pid 4242\/3f9a1c \(upgrade\) since 2026-12-07T10:00:00Z/,
    );
    await assert.rejects(up.acquire({ wait: false }), /another bosun operation holds the cluster lock/);
  });
