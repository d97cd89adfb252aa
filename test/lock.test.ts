// Leases and bosun's lock against the sandbox's API server (issue 15 "What proves it"): two clients
// race for one Lease with preconditions and exactly one wins; the loser sees the holder; an expired
// Lease is taken over. Then the lock: N shared slots never exceeded under a race of many clients,
// exclusive and shared exclude each other, a holder whose Node is gone is taken over, and a release
// wakes a waiter at once (awaited, never timed).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { systemClock } from '../src/common/real.ts';
import { createKubeClients } from '../src/kube/client.ts';
import { isAlreadyExists, isConflict, isNotFound } from '../src/kube/errors.ts';
import { BOSUN_NAMESPACE, createLeases } from '../src/kube/leases.ts';
import { createNodePods } from '../src/kube/node-pods.ts';
import { createNodeWatch } from '../src/kube/node-watch.ts';
import type { Leases, Namespaces } from '../src/kube/ports.ts';
import type { Lease } from '../src/kube/types.ts';
import { ClusterLock, nodeExistsVia, type LockRequest } from '../src/lock/index.ts';
import { startTestSandbox, type TestSandbox } from './support/sandbox.ts';

describe('Leases and the lock on the sandbox', () => {
  let t: TestSandbox;
  /** A client of its own (its own connection), as a separate process would have. */
  const client = (): Leases & Namespaces =>
    createLeases(
      createKubeClients({ clock: systemClock, kubeconfig: t.kubeconfig, home: join(t.dir, 'home') }),
    );
  const lockFor = (name: string, extra: { nodeExists?: (n: string) => Promise<boolean> } = {}): ClusterLock =>
    new ClusterLock({ name }, { kube: client(), clock: systemClock, ...extra });
  const shared = (node: string, limit: number, ttlSeconds = 300): LockRequest => ({
    identity: node,
    node,
    mode: 'shared',
    limit,
    operation: 'reboot',
    ttlSeconds,
  });
  const exclusive = (identity: string): LockRequest => ({
    identity,
    mode: 'exclusive',
    operation: 'upgrade',
    ttlSeconds: 300,
  });

  before(async () => {
    t = await startTestSandbox({ controlPlanes: 1, workers: 1, workload: 'none' });
  });
  after(async () => {
    await t?.stop();
  });

  test('two clients race for one Lease with preconditions: exactly one wins, the loser sees the holder', async () => {
    const [a, b] = [client(), client()];
    await a.createNamespace({ metadata: { name: 'race' } });
    const lease = (holder: string): Lease => ({
      metadata: { name: 'contended', namespace: 'race' },
      spec: {
        holderIdentity: holder,
        leaseDurationSeconds: 15,
        renewTime: new Date().toISOString().replace('Z', '000Z'),
      },
    });
    // Both create it at once: one is created, the other is told it already exists.
    const created = await Promise.allSettled([a.createLease(lease('a')), b.createLease(lease('b'))]);
    assert.equal(created.filter((r) => r.status === 'fulfilled').length, 1);
    assert.ok(created.some((r) => r.status === 'rejected' && isAlreadyExists(r.reason)));
    // Both read it, then both take it over at the version they read (each a change: an update
    // that changes nothing writes nothing): one update wins, the other is a 409.
    const [seenA, seenB] = await Promise.all([
      a.getLease('race', 'contended'),
      b.getLease('race', 'contended'),
    ]);
    assert.equal(seenA.metadata.resourceVersion, seenB.metadata.resourceVersion);
    const updated = await Promise.allSettled([
      a.updateLease({ ...seenA, spec: { ...seenA.spec, holderIdentity: 'a-next' } }),
      b.updateLease({ ...seenB, spec: { ...seenB.spec, holderIdentity: 'b-next' } }),
    ]);
    const won = updated.findIndex((r) => r.status === 'fulfilled');
    assert.equal(updated.filter((r) => r.status === 'fulfilled').length, 1);
    const lost = updated[1 - won];
    assert.ok(lost?.status === 'rejected' && isConflict(lost.reason), String(lost));
    const winner = won === 0 ? 'a-next' : 'b-next';
    const loser = won === 0 ? b : a;
    assert.equal((await loser.getLease('race', 'contended')).spec?.holderIdentity, winner);
  });

  test('a watch of one Lease sees its changes, and a delete with a stale resourceVersion is refused', async () => {
    const c = client();
    const first = await c.createLease({
      metadata: { name: 'watched', namespace: 'race' },
      spec: { holderIdentity: 'x' },
    });
    const ctl = new AbortController();
    const seen: string[] = [];
    const watching = c.watchLeases(
      { namespace: 'race', name: 'watched', resourceVersion: first.metadata.resourceVersion ?? '' },
      (e) => {
        seen.push(`${e.type} ${e.object.metadata.name} ${e.object.spec?.holderIdentity ?? ''}`);
        if (e.type === 'DELETED') ctl.abort();
      },
      ctl.signal,
    );
    const second = await c.updateLease({ ...first, spec: { holderIdentity: 'y' } });
    await c.createLease({ metadata: { name: 'other', namespace: 'race' }, spec: { holderIdentity: 'z' } });
    await assert.rejects(
      c.deleteLease('race', 'watched', { resourceVersion: first.metadata.resourceVersion ?? '' }),
      (e: unknown) => isConflict(e),
    );
    await c.deleteLease('race', 'watched', { resourceVersion: second.metadata.resourceVersion ?? '' });
    await watching;
    assert.deepEqual(seen, ['MODIFIED watched y', 'DELETED watched y']);
  });

  test('an expired Lease is taken over; bosun’s namespace is created when absent', async () => {
    const c = client();
    await assert.rejects(c.getNamespace(BOSUN_NAMESPACE), (e: unknown) => isNotFound(e));
    const lock = lockFor('expired');
    // A holder that died an hour ago, in a Lease another tool wrote (no bosun annotation).
    const hourAgo = new Date(Date.now() - 3_600_000).toISOString().replace('Z', '000Z');
    const blocked = await lock.tryAcquire(exclusive('first'));
    assert.ok(blocked.acquired);
    await lock.release('first');
    const l = await c.getLease(BOSUN_NAMESPACE, 'expired');
    await c.updateLease({
      ...l,
      metadata: { ...l.metadata, annotations: {} },
      spec: {
        holderIdentity: 'dead-holder',
        leaseDurationSeconds: 15,
        acquireTime: hourAgo,
        renewTime: hourAgo,
      },
    });
    const got = await lock.tryAcquire(exclusive('alice@laptop'));
    assert.ok(got.acquired);
    assert.deepEqual(
      got.takenOver.map((x) => [x.holder.identity, x.state]),
      [['dead-holder', 'expired']],
    );
    assert.equal((await c.getLease(BOSUN_NAMESPACE, 'expired')).spec?.holderIdentity, 'alice@laptop');
  });

  test('N shared slots are never exceeded when many clients race for them', async () => {
    const clients = Array.from({ length: 8 }, (_, i) => ({ node: `node-${i}`, lock: lockFor('slots') }));
    const results = await Promise.all(clients.map((c) => c.lock.tryAcquire(shared(c.node, 3))));
    assert.equal(results.filter((r) => r.acquired).length, 3);
    const d = await clients[0]?.lock.describe();
    assert.equal(d?.holders.length, 3);
    for (const r of results.filter((x) => !x.acquired))
      assert.match(r.acquired ? '' : r.reason, /^all 3 shared slots are taken: by node-\d \(reboot\) since /);
  });

  test('waiting clients take turns through 2 slots: the Lease never lists more than 2 holders', async () => {
    const c = client();
    const ctl = new AbortController();
    const counts: number[] = [];
    const first = await lockFor('turns').tryAcquire(shared('starter', 2));
    assert.ok(first.acquired);
    const start = await c.getLease(BOSUN_NAMESPACE, 'turns');
    // Every version of the Lease the server writes, as a watcher sees it.
    const watching = c.watchLeases(
      { namespace: BOSUN_NAMESPACE, name: 'turns', resourceVersion: start.metadata.resourceVersion ?? '' },
      (e) => counts.push(e.object.spec?.holderIdentity ? e.object.spec.holderIdentity.split(',').length : 0),
      ctl.signal,
    );
    const workers = Array.from({ length: 6 }, (_, i) => `turn-${i}`).map(async (node) => {
      const lock = lockFor('turns');
      const got = await lock.acquire(shared(node, 2));
      const hold = lock.hold(got.holder);
      await lock.describe(); // some work under the lock
      await hold.release();
    });
    await lockFor('turns').release('starter');
    await Promise.all(workers);
    const end = await c.getLease(BOSUN_NAMESPACE, 'turns');
    assert.equal(end.spec?.holderIdentity, undefined, 'everyone released');
    ctl.abort();
    await watching;
    assert.ok(counts.length >= 12, `every acquisition and release was seen (${counts.length} versions)`);
    assert.ok(Math.max(...counts) <= 2, `at most 2 holders at once: ${counts.join(' ')}`);
  });

  test('an exclusive holder (an upgrade) and shared holders (reboots) exclude each other', async () => {
    const upgrade = lockFor('mixed');
    const agent = lockFor('mixed');
    assert.ok((await upgrade.tryAcquire(exclusive('alice@laptop'))).acquired);
    const refused = await agent.tryAcquire(shared('worker-1', 3));
    assert.ok(!refused.acquired);
    assert.match(
      refused.reason,
      /^the lock is held exclusively by alice@laptop \(upgrade\) since \S+Z \(\d+s ago\)$/,
    );
    assert.ok(await upgrade.release('alice@laptop'));
    assert.ok((await agent.tryAcquire(shared('worker-1', 3))).acquired);
    const second = await upgrade.tryAcquire(exclusive('bob@ci'));
    assert.ok(!second.acquired);
    assert.match(second.reason, /^the lock is held \(shared\) by worker-1 \(reboot\) since /);
    assert.ok(await agent.release('worker-1'));
    assert.ok((await upgrade.tryAcquire(exclusive('bob@ci'))).acquired);
    await upgrade.release('bob@ci');
  });

  test('a holder whose Node no longer exists is taken over (kured#137)', async () => {
    const nodes = createNodePods(
      createKubeClients({ clock: systemClock, kubeconfig: t.kubeconfig, home: t.dir }),
    );
    await lockFor('ghost').tryAcquire(shared('worker-9', 1)); // worker-9 is not (or no longer) a node
    const careful = lockFor('ghost');
    assert.equal(
      (await careful.tryAcquire(shared('worker-1', 1))).acquired,
      false,
      'without the check it waits',
    );
    const got = await lockFor('ghost', { nodeExists: nodeExistsVia(nodes) }).tryAcquire(
      shared('worker-1', 1),
    );
    assert.ok(got.acquired);
    assert.deepEqual(
      got.takenOver.map((x) => [x.holder.identity, x.state]),
      [['worker-9', 'node-gone']],
    );
  });

  test('Nodes are listed with the list’s version and watched from it (NodeWatch)', async () => {
    const clients = createKubeClients({ clock: systemClock, kubeconfig: t.kubeconfig, home: t.dir });
    const nodes = createNodeWatch(clients);
    const list = await nodes.nodeList({ fieldSelector: 'metadata.name=worker-1' });
    assert.deepEqual(
      list.items.map((n) => n.metadata.name),
      ['worker-1'],
    );
    const ctl = new AbortController();
    const watching = nodes.watchNodes(
      { resourceVersion: list.resourceVersion, fieldSelector: 'metadata.name=worker-1' },
      (e) => {
        if (e.object.spec?.unschedulable === true) ctl.abort();
      },
      ctl.signal,
    );
    await createNodePods(clients).patchNode('worker-1', { spec: { unschedulable: true } });
    await watching; // ends only once the cordon was seen
    await createNodePods(clients).patchNode('worker-1', { spec: { unschedulable: null } });
    const leases = await client().listLeases(BOSUN_NAMESPACE);
    assert.ok(leases.resourceVersion !== '');
    assert.ok(leases.items.some((l) => l.metadata.name === 'slots'));
  });

  test('a release wakes the waiting client at once (it watches the Lease)', async () => {
    const holder = lockFor('handoff');
    const held = await holder.tryAcquire(shared('worker-a', 1, 3600));
    assert.ok(held.acquired);
    const waiter = lockFor('handoff');
    let onBlocked: () => void = () => undefined;
    const blocked = new Promise<void>((r) => (onBlocked = r));
    const waiting = waiter.acquire(shared('worker-b', 1, 3600), { onBlocked: () => onBlocked() });
    await blocked;
    await holder.release('worker-a');
    const got = await waiting;
    assert.equal(got.holder.identity, 'worker-b');
    assert.deepEqual(got.takenOver, [], 'released, not expired: the entry had an hour to live');
    await waiter.release('worker-b');
  });
});
