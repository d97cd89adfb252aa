import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock, flushAsync } from '../common/fake-clock.ts';
import { FakeCluster } from './testing/fake-cluster.ts';
import { fromStatus, isKubeApiError } from './errors.ts';
import { listWatch, type ListWatchOptions } from './watch.ts';
import type { Pod, WatchEvent } from './types.ts';

function mkPod(name: string): Pod {
  return {
    metadata: { name, namespace: 'demo' },
    spec: { nodeName: 'worker-1' },
    status: { phase: 'Running' },
  };
}

function start(
  kube: FakeCluster,
  clock: FakeClock,
  opts: ListWatchOptions<Pod> = {},
): { lists: string[][]; events: string[]; ac: AbortController; done: Promise<void> } {
  const lists: string[][] = [];
  const events: string[] = [];
  const ac = new AbortController();
  const done = listWatch<Pod>(
    {
      list: () => kube.listPods({ fieldSelector: 'spec.nodeName=worker-1' }),
      watch: (rv, onEvent, signal) =>
        kube.watchPods({ fieldSelector: 'spec.nodeName=worker-1', resourceVersion: rv }, onEvent, signal),
    },
    {
      onList: (items) => lists.push(items.map((p) => p.metadata.name ?? '')),
      onEvent: (e: WatchEvent<Pod>) => events.push(`${e.type} ${e.object.metadata.name ?? ''}`),
    },
    { clock, signal: ac.signal },
    opts,
  );
  return { lists, events, ac, done };
}

test('lists, then streams the events after the list, in order', async () => {
  const clock = new FakeClock(0);
  const kube = new FakeCluster(clock);
  kube.addPod(mkPod('a'));
  const w = start(kube, clock);
  await flushAsync();
  kube.addPod(mkPod('b'));
  kube.finishTermination('demo', 'a');
  await flushAsync();
  w.ac.abort();
  await w.done;
  assert.deepEqual(w.lists, [['a']]);
  assert.deepEqual(w.events, ['ADDED b', 'DELETED a']);
  assert.equal(kube.openWatches, 0);
});

test('an initial list is used as the first list: no list request, the watch starts from its version', async () => {
  const clock = new FakeClock(0);
  const kube = new FakeCluster(clock);
  kube.addPod(mkPod('a'));
  const initial = await kube.listPods({});
  kube.addPod(mkPod('b'));
  const w = start(kube, clock, { initial });
  assert.deepEqual(w.lists, [['a']], 'onList at once, before any request');
  await flushAsync();
  w.ac.abort();
  await w.done;
  assert.equal(kube.calls('list', 'pods').length, 1, 'only the caller listed');
  assert.deepEqual(w.events, ['ADDED b'], 'what changed after the initial list arrives as events');
});

test('a watch the server ends is resumed from the last resourceVersion, without a relist', async () => {
  const clock = new FakeClock(0);
  const kube = new FakeCluster(clock);
  const w = start(kube, clock);
  await flushAsync();
  kube.addPod(mkPod('a'));
  await clock.advance(2000);
  kube.endWatches();
  kube.addPod(mkPod('b'));
  await clock.advance(2000);
  w.ac.abort();
  await w.done;
  assert.deepEqual(w.lists, [[]]);
  assert.deepEqual(w.events, ['ADDED a', 'ADDED b']);
});

test('410 Gone relists and the handler gets the whole current set', async () => {
  const clock = new FakeClock(0);
  const kube = new FakeCluster(clock);
  kube.addPod(mkPod('a'));
  const w = start(kube, clock);
  await flushAsync();
  kube.endWatches();
  kube.addPod(mkPod('b'));
  kube.compact();
  await clock.advance(1000);
  w.ac.abort();
  await w.done;
  assert.deepEqual(w.lists, [['a'], ['a', 'b']]);
});

test('a resourceVersion from the future (etcd restored to an older revision) relists instead of retrying it', async () => {
  const clock = new FakeClock(0);
  const kube = new FakeCluster(clock);
  kube.addPod(mkPod('a'));
  const w = start(kube, clock);
  await flushAsync();
  kube.failNext('watch', 'pods', () =>
    fromStatus(
      504,
      {
        kind: 'Status',
        code: 504,
        reason: 'Timeout',
        message: 'Timeout: Too large resource version: 900, current: 12',
        details: {
          causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
          retryAfterSeconds: 1,
        },
      },
      { resource: 'pods', verb: 'watch' },
    ),
  );
  kube.endWatches();
  kube.addPod(mkPod('b'));
  await clock.advance(1000);
  w.ac.abort();
  await w.done;
  assert.deepEqual(w.lists, [['a'], ['a', 'b']]);
});

test('a transient error is retried with backoff; a permanent one ends the watch with the error', async () => {
  const clock = new FakeClock(0);
  const kube = new FakeCluster(clock);
  kube.failNext('watch', 'pods', () => fromStatus(503, undefined, { resource: 'pods' }), { times: 2 });
  const w = start(kube, clock);
  await clock.advance(1000);
  assert.equal(kube.calls('watch').length, 3, 'two retries after 200ms and 400ms');
  assert.deepEqual(
    kube.calls('watch').map((a) => a.at),
    [0, 200, 600],
  );
  kube.failNext('watch', 'pods', () => fromStatus(403, undefined, { resource: 'pods', verb: 'watch' }));
  const rejected = assert.rejects(w.done, (e: unknown) => isKubeApiError(e) && e.status === 403);
  kube.endWatches();
  await clock.advance(5000);
  await rejected;
});

test('an error thrown by the handler ends the watch with that error (never swallowed)', async () => {
  const clock = new FakeClock(0);
  const kube = new FakeCluster(clock);
  const ac = new AbortController();
  const done = listWatch<Pod>(
    {
      list: () => kube.listPods({}),
      watch: (rv, onEvent, signal) => kube.watchPods({ resourceVersion: rv }, onEvent, signal),
    },
    {
      onList: () => undefined,
      onEvent: () => {
        throw new Error('handler bug');
      },
    },
    { clock, signal: ac.signal },
  );
  await flushAsync();
  kube.addPod(mkPod('a'));
  await assert.rejects(done, /handler bug/);
  assert.equal(kube.openWatches, 0);
});
