import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock, flushAsync } from '../../common/fake-clock.ts';
import type { ApiCore } from '../apiserver/api.ts';
import type { KubeEvent, KubeObject } from '../apiserver/types.ts';
import { EventRecorder, type RateLimit } from './recorder.ts';

/** An events API in memory: create and guaranteedUpdate, each write stamped with the clock. */
function eventsApi(clock: FakeClock): {
  api: Pick<ApiCore, 'create' | 'guaranteedUpdate'>;
  events: Map<string, KubeEvent>;
  writes: { at: number; name: string; count: number }[];
} {
  const events = new Map<string, KubeEvent>();
  const writes: { at: number; name: string; count: number }[] = [];
  const api: Pick<ApiCore, 'create' | 'guaranteedUpdate'> = {
    create: (_r, _ns, body) => {
      const e = structuredClone(body) as KubeEvent;
      events.set(e.metadata.name ?? '', e);
      writes.push({ at: clock.now().getTime(), name: e.metadata.name ?? '', count: e.count ?? 0 });
      return Promise.resolve(e);
    },
    guaranteedUpdate: (_r, _ns, name, fn) => {
      const cur = events.get(name);
      if (!cur) return Promise.resolve(undefined);
      const next = fn(structuredClone(cur)) as KubeEvent;
      events.set(name, next);
      writes.push({ at: clock.now().getTime(), name, count: next.count ?? 0 });
      return Promise.resolve(next);
    },
  };
  return { api, events, writes };
}

const T0 = Date.UTC(2025, 0, 1);

function setup(limit?: RateLimit): ReturnType<typeof eventsApi> & { clock: FakeClock; rec: EventRecorder } {
  const clock = new FakeClock(T0);
  const e = eventsApi(clock);
  return {
    ...e,
    clock,
    rec: new EventRecorder(e.api, clock, { component: 'replicaset-controller' }, () => undefined, limit),
  };
}

const obj = (name: string): KubeObject => ({
  kind: 'ReplicaSet',
  apiVersion: 'apps/v1',
  metadata: { name, namespace: 'shop', uid: `uid-${name}` },
});

test('the same event again bumps the count of one Event', async () => {
  const s = setup();
  for (let i = 0; i < 3; i++) s.rec.event(obj('web'), 'Normal', 'SuccessfulCreate', 'Created pod: web-1');
  await flushAsync();
  assert.equal(s.events.size, 1);
  assert.equal([...s.events.values()][0]?.count, 3);
});

test('events recorded in the same millisecond get names of their own', async () => {
  // The clock does not move: client-go's names carry nanoseconds, the sandbox's clock milliseconds.
  // Eight objects named web (a name reused, new UIDs), 25 events each (the spam filter's burst).
  const s = setup();
  for (let i = 0; i < 200; i++) {
    const o = obj('web');
    o.metadata.uid = `uid-${i % 8}`;
    s.rec.event(o, 'Normal', `Reason${i}`, 'message');
  }
  await flushAsync(40);
  assert.equal(s.writes.length, 200);
  assert.equal(new Set(s.writes.map((w) => w.name)).size, 200);
});

test('past 10 different messages about one object and reason, one combined event is kept up to date', async () => {
  const s = setup();
  for (let i = 1; i <= 15; i++)
    s.rec.event(obj('web'), 'Normal', 'SuccessfulCreate', `Created pod: web-${i}`);
  await flushAsync(20);
  const all = [...s.events.values()];
  assert.equal(all.length, 10, '9 events as they are, then one combined event');
  const combined = all.filter((e) => e.message?.startsWith('(combined from similar events): '));
  assert.equal(combined.length, 1);
  assert.equal(combined[0]?.message, '(combined from similar events): Created pod: web-15');
  assert.equal(combined[0]?.count, 6);
});

test('a source writes 25 events about one object, then one more every 5 minutes; other objects are not affected', async () => {
  const s = setup();
  for (let i = 0; i < 40; i++) s.rec.event(obj('web'), 'Normal', `Reason${i}`, 'same message');
  s.rec.event(obj('db'), 'Normal', 'SuccessfulCreate', 'Created pod: db-0');
  await flushAsync(20);
  assert.equal(s.writes.length, 26, '25 about web, 1 about db');
  await s.clock.advance(300_000);
  s.rec.event(obj('web'), 'Normal', 'Later', 'one more');
  s.rec.event(obj('web'), 'Normal', 'Later2', 'and another');
  await flushAsync(20);
  assert.equal(s.writes.length, 27, 'one token refilled in 5 minutes');
});

test("the event client's rate limit: a burst, then writes wait for tokens (in order, none dropped)", async () => {
  const s = setup({ qps: 50, burst: 100 });
  for (let i = 0; i < 150; i++) s.rec.event(obj(`rs-${i}`), 'Normal', 'SuccessfulCreate', 'Created pod');
  await flushAsync(20);
  assert.equal(s.writes.length, 100, 'the burst at once');
  await s.clock.advance(1000);
  await flushAsync(20);
  assert.equal(s.writes.length, 150);
  assert.equal((s.writes.at(-1)?.at ?? 0) - T0, 1000, '50 more at 50 per second');
  assert.deepEqual(
    s.writes.map((w) => w.name.split('.')[0]),
    Array.from({ length: 150 }, (_, i) => `rs-${i}`),
  );
});
