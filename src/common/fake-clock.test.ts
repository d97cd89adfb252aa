import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from './fake-clock.ts';

test('sleeps wake in deadline order when time is advanced past them', async () => {
  const clock = new FakeClock(0);
  const woke: number[] = [];
  void clock.sleep(300).then(() => woke.push(300));
  void clock.sleep(100).then(() => woke.push(100));
  await clock.advance(99);
  assert.deepEqual(woke, []);
  await clock.advance(250);
  assert.deepEqual(woke, [100, 300]);
  assert.equal(clock.now().getTime(), 349);
});

test('an aborted sleep rejects with the reason and is forgotten', async () => {
  const clock = new FakeClock(0);
  const ac = new AbortController();
  const p = clock.sleep(1000, ac.signal);
  ac.abort(new Error('stop'));
  await assert.rejects(p, /stop/);
  assert.equal(clock.pending, 0);
});

test('runUntilSettled jumps over waits until the promise settles', async () => {
  const clock = new FakeClock(0);
  const work = async (): Promise<number> => {
    for (let i = 0; i < 10; i++) await clock.sleep(60_000);
    return clock.now().getTime();
  };
  assert.equal(await clock.runUntilSettled(work()), 600_000);
});

test('runUntilSettled says so when the promise waits on something other than the clock', async () => {
  const clock = new FakeClock(0);
  await assert.rejects(clock.runUntilSettled(new Promise(() => undefined)), /other than the clock/);
});
