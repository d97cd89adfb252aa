// The lock's decisions, table by table: who is live, who may take the lock, what gets written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  LOCK_HOLDERS_ANNOTATION,
  decideAcquire,
  decideRelease,
  decideRenew,
  holderState,
  readRecord,
  rfc3339,
  writeRecord,
  type LockHolder,
  type LockRecord,
  type LockRequest,
} from './decide.ts';

const T0 = Date.UTC(2025, 0, 1, 12, 0, 0);
const at = (s: number): Date => new Date(T0 + s * 1000);

/** A holder that took the lock at T0+acquired s and renewed it at T0+renewed s. */
function holder(
  identity: string,
  o: Partial<LockHolder> & { acquired?: number; renewed?: number } = {},
): LockHolder {
  const { acquired = 0, renewed = o.acquired ?? 0, ...rest } = o;
  return {
    identity,
    mode: 'shared',
    limit: 3,
    operation: 'reboot',
    acquireTime: rfc3339(at(acquired)),
    renewTime: rfc3339(at(renewed)),
    ttlSeconds: 60,
    ...rest,
  };
}

const rec = (...holders: LockHolder[]): LockRecord => ({ holders });
const upgrade: LockRequest = {
  identity: 'alice@laptop',
  mode: 'exclusive',
  operation: 'upgrade',
  ttlSeconds: 60,
};
const reboot = (node: string, limit = 3): LockRequest => ({
  identity: node,
  node,
  mode: 'shared',
  limit,
  operation: 'reboot',
  ttlSeconds: 60,
});

for (const tc of [
  { name: 'renewed 59.999 s ago with a 60 s TTL is live', h: holder('a'), now: at(59.999), want: 'live' },
  { name: 'exactly at renewTime + TTL it has expired', h: holder('a'), now: at(60), want: 'expired' },
  { name: 'a renewal moves the expiry', h: holder('a', { renewed: 50 }), now: at(100), want: 'live' },
  {
    name: 'an unparsable renewTime counts as expired',
    h: { ...holder('a'), renewTime: 'yesterday' },
    now: at(1),
    want: 'expired',
  },
  {
    name: 'a live holder whose Node is gone',
    h: holder('w1', { node: 'w1' }),
    now: at(1),
    gone: ['w1'],
    want: 'node-gone',
  },
  {
    name: 'another Node gone does not matter',
    h: holder('w1', { node: 'w1' }),
    now: at(1),
    gone: ['w2'],
    want: 'live',
  },
]) {
  test(`holderState: ${tc.name}`, () =>
    assert.equal(holderState(tc.h, tc.now, new Set(tc.gone ?? [])), tc.want));
}

for (const tc of [
  {
    name: 'a free lock is taken exclusively',
    record: rec(),
    req: upgrade,
    now: at(5),
    want: { acquired: true },
  },
  {
    name: 'a free lock is taken shared',
    record: rec(),
    req: reboot('w1'),
    now: at(5),
    want: { acquired: true },
  },
  {
    name: 'a live exclusive holder blocks another exclusive request, saying who and since when',
    record: rec(holder('bob@ci', { mode: 'exclusive', limit: 1, operation: 'upgrade', renewed: 100 })),
    req: upgrade,
    now: at(119),
    want: {
      acquired: false,
      blockers: ['bob@ci'],
      reason: 'the lock is held exclusively by bob@ci (upgrade) since 2025-01-01T12:00:00Z (119s ago)',
      retryAt: at(160),
    },
  },
  {
    name: 'a live exclusive holder (an upgrade) blocks a reboot',
    record: rec(holder('bob@ci', { mode: 'exclusive', limit: 1, operation: 'upgrade' })),
    req: reboot('w1'),
    now: at(10),
    want: { acquired: false, blockers: ['bob@ci'] },
  },
  {
    name: 'live shared holders (reboots) block an upgrade until all are gone',
    record: rec(holder('w1', { node: 'w1', renewed: 20 }), holder('w2', { node: 'w2', renewed: 10 })),
    req: upgrade,
    now: at(30),
    want: {
      acquired: false,
      blockers: ['w1', 'w2'],
      reason:
        'the lock is held (shared) by w1 (reboot) since 2025-01-01T12:00:00Z (30s ago), w2 (reboot) since 2025-01-01T12:00:00Z (30s ago); an exclusive holder waits for all of them',
      retryAt: at(70),
    },
  },
  {
    name: 'two of three shared slots taken: the third is free',
    record: rec(holder('w1', { node: 'w1' }), holder('w2', { node: 'w2' })),
    req: reboot('w3'),
    now: at(1),
    want: { acquired: true, holders: ['w1', 'w2', 'w3'] },
  },
  {
    name: 'three of three shared slots taken: a fourth waits',
    record: rec(holder('w1'), holder('w2'), holder('w3')),
    req: reboot('w4'),
    now: at(1),
    want: {
      acquired: false,
      blockers: ['w1', 'w2', 'w3'],
      reason: /^all 3 shared slots are taken: by w1 \(reboot\)/,
    },
  },
  {
    name: 'a holder that agreed to run alone (limit 1) is not joined by a request allowing 3',
    record: rec(holder('w1', { limit: 1 })),
    req: reboot('w2', 3),
    now: at(1),
    want: { acquired: false, blockers: ['w1'], reason: /^all 1 shared slot is taken: by w1/ },
  },
  {
    name: 'a request allowing 1 does not join a holder that allows 3',
    record: rec(holder('w1', { limit: 3 })),
    req: reboot('w2', 1),
    now: at(1),
    want: { acquired: false, blockers: ['w1'] },
  },
  {
    name: 'an expired exclusive holder is taken over',
    record: rec(holder('bob@ci', { mode: 'exclusive', limit: 1, renewed: 0 })),
    req: reboot('w1'),
    now: at(60),
    want: { acquired: true, holders: ['w1'], takenOver: ['bob@ci:expired'] },
  },
  {
    name: 'a live holder whose Node is gone is taken over (kured#137)',
    record: rec(holder('w9', { node: 'w9', limit: 1 })),
    req: reboot('w1'),
    now: at(1),
    gone: ['w9'],
    want: { acquired: true, holders: ['w1'], takenOver: ['w9:node-gone'] },
  },
  {
    name: 'expired slots are freed: a fourth node takes the slot of an expired one',
    record: rec(holder('w1', { renewed: 100 }), holder('w2'), holder('w3', { renewed: 100 })),
    req: reboot('w4'),
    now: at(120),
    want: { acquired: true, holders: ['w1', 'w3', 'w4'], takenOver: ['w2:expired'] },
  },
  {
    name: 'asking again while holding renews the entry and keeps its acquireTime',
    record: rec(holder('w1', { node: 'w1', acquired: 10, renewed: 40 }), holder('w2')),
    req: reboot('w1'),
    now: at(50),
    want: { acquired: true, already: true, holders: ['w2', 'w1'], acquireTime: at(10) },
  },
  {
    name: 'asking again after one’s own entry expired takes the lock afresh',
    record: rec(holder('w1', { node: 'w1', acquired: 10, renewed: 10 })),
    req: reboot('w1'),
    now: at(200),
    want: { acquired: true, already: false, holders: ['w1'], acquireTime: at(200) },
  },
  {
    name: 'an expired holder the caller keeps (its node is down for its reboot) keeps its slot, with no retry time',
    record: rec(holder('w2', { node: 'w2', renewed: 0 })),
    req: reboot('w1', 1),
    now: at(120),
    kept: ['w2'],
    want: { acquired: false, blockers: ['w2'], retryAt: undefined },
  },
  {
    name: 'a kept holder stays in the record when another slot is free',
    record: rec(holder('w2', { node: 'w2', renewed: 0 }), holder('w3', { renewed: 0 })),
    req: reboot('w1', 3),
    now: at(120),
    kept: ['w2'],
    want: { acquired: true, holders: ['w2', 'w1'], takenOver: ['w3:expired'] },
  },
  {
    name: 'a kept holder whose Node is gone is taken over all the same',
    record: rec(holder('w2', { node: 'w2', renewed: 0 })),
    req: reboot('w1', 1),
    now: at(120),
    kept: ['w2'],
    gone: ['w2'],
    want: { acquired: true, holders: ['w1'], takenOver: ['w2:node-gone'] },
  },
  {
    name: 'a shared holder asking for exclusive waits for the other shared holders',
    record: rec(holder('alice@laptop'), holder('w2')),
    req: upgrade,
    now: at(1),
    want: { acquired: false, blockers: ['w2'] },
  },
]) {
  test(`decideAcquire: ${tc.name}`, () => {
    const d = decideAcquire(tc.record, tc.req, tc.now, new Set(tc.gone ?? []), new Set(tc.kept ?? []));
    assert.equal(d.acquired, tc.want.acquired);
    const w = tc.want as Record<string, unknown>;
    if (d.acquired) {
      assert.equal(d.holder.identity, tc.req.identity);
      assert.equal(d.holder.renewTime, rfc3339(tc.now));
      assert.equal(d.holder.mode, tc.req.mode);
      assert.equal(d.holder.limit, tc.req.mode === 'exclusive' ? 1 : (tc.req.limit ?? 1));
      if (w['holders'])
        assert.deepEqual(
          d.record.holders.map((h) => h.identity),
          w['holders'],
        );
      assert.deepEqual(
        d.takenOver.map((t) => `${t.holder.identity}:${t.state}`),
        (w['takenOver'] as string[] | undefined) ?? [],
      );
      if (w['already'] !== undefined) assert.equal(d.already, w['already']);
      if (w['acquireTime']) assert.equal(d.holder.acquireTime, rfc3339(w['acquireTime'] as Date));
    } else {
      assert.deepEqual(
        d.blockers.map((h) => h.identity),
        w['blockers'],
      );
      if (typeof w['reason'] === 'string') assert.equal(d.reason, w['reason']);
      else if (w['reason'] instanceof RegExp) assert.match(d.reason, w['reason']);
      if ('retryAt' in w) assert.deepEqual(d.retryAt, w['retryAt']);
    }
  });
}

test('decideRenew: the holder’s renewTime moves, others’ entries stay (expired ones too: only an acquirer judges them), acquireTime stays', () => {
  const d = decideRenew(
    rec(holder('w1', { acquired: 5 }), holder('w2', { renewed: 0 }), holder('w3', { renewed: 50 })),
    'w1',
    at(70),
  );
  assert.ok(d.renewed);
  assert.deepEqual(
    d.record.holders.map((h) => h.identity),
    ['w2', 'w3', 'w1'],
  );
  assert.equal(d.holder.renewTime, rfc3339(at(70)));
  assert.equal(d.holder.acquireTime, rfc3339(at(5)));
});

test('decideRenew: an entry that is gone (taken over, released) is not renewed', () => {
  const d = decideRenew(rec(holder('w2')), 'w1', at(1));
  assert.deepEqual(d, { renewed: false, reason: 'w1 no longer holds the lock (taken over or released)' });
});

for (const tc of [
  {
    name: 'a holder releases its entry',
    record: rec(holder('w1'), holder('w2')),
    id: 'w1',
    want: { released: true, left: ['w2'] },
  },
  {
    name: 'releasing what one does not hold changes nothing',
    record: rec(holder('w2')),
    id: 'w1',
    want: { released: false, left: ['w2'] },
  },
]) {
  test(`decideRelease: ${tc.name}`, () => {
    const d = decideRelease(tc.record, tc.id, at(1));
    assert.equal(d.released, tc.want.released);
    assert.deepEqual(
      d.record.holders.map((h) => h.identity),
      tc.want.left,
    );
  });
}

test('the record round-trips through the Lease, whose spec any Kubernetes tool can read', () => {
  const before = rec(holder('w1', { acquired: 3, renewed: 20, ttlSeconds: 30 }));
  const after = rec(
    before.holders[0] as LockHolder,
    holder('w2', { acquired: 10, renewed: 10, ttlSeconds: 90 }),
  );
  const view = writeRecord(before, after, 4, at(20));
  assert.deepEqual(view.spec, {
    holderIdentity: 'w1,w2',
    leaseDurationSeconds: 90,
    acquireTime: '2025-01-01T12:00:03.000000Z',
    renewTime: '2025-01-01T12:00:20.000000Z',
    leaseTransitions: 5,
  });
  assert.deepEqual(readRecord(view), after);
});

test('a Lease with no holders has no holderIdentity', () => {
  const view = writeRecord(rec(holder('w1')), rec(), 1, at(9));
  assert.deepEqual(view.spec, {
    leaseDurationSeconds: 1,
    renewTime: '2025-01-01T12:00:09.000000Z',
    leaseTransitions: 1,
  });
  assert.deepEqual(readRecord(view), rec());
});

for (const tc of [
  { name: 'without bosun’s annotation', annotations: undefined },
  { name: 'with an annotation that does not parse', annotations: { [LOCK_HOLDERS_ANNOTATION]: '{not json' } },
  {
    name: 'with an annotation of the wrong shape',
    annotations: { [LOCK_HOLDERS_ANNOTATION]: '{"holders":[{"who":1}]}' },
  },
]) {
  test(`a Lease ${tc.name} stands for its spec’s holder, exclusive until it expires`, () => {
    const r = readRecord({
      annotations: tc.annotations,
      spec: {
        holderIdentity: 'kube-controller-manager-x',
        leaseDurationSeconds: 15,
        acquireTime: '2025-01-01T12:00:00.000000Z',
        renewTime: '2025-01-01T12:00:10.000000Z',
      },
    });
    assert.equal(r.holders.length, 1);
    const h = r.holders[0] as LockHolder;
    assert.equal(h.identity, 'kube-controller-manager-x');
    assert.equal(h.mode, 'exclusive');
    assert.equal(holderState(h, at(24)), 'live');
    assert.equal(holderState(h, at(25)), 'expired');
    assert.equal(decideAcquire(r, reboot('w1'), at(24)).acquired, false);
  });
}

test('times are written as the API’s MicroTime: six fraction digits', () => {
  assert.equal(rfc3339(new Date(Date.UTC(2025, 5, 7, 8, 9, 10, 11))), '2025-06-07T08:09:10.011000Z');
});
