import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  MAX_ACTIONS,
  findStep,
  mergeHops,
  newJournal,
  parseJournal,
  runEnded,
  runStarted,
  stepAction,
  stepCounts,
  stepDone,
  stepFailed,
  stepStarted,
  type PlannedHop,
} from './rollout.ts';

const T0 = new Date('2026-12-07T10:15:00.123Z');
const at = (s: number): Date => new Date(T0.getTime() + s * 1000);

const hop = (to: string, from: string, ids: string[]): PlannedHop => ({
  index: 0,
  from,
  to,
  steps: ids.map((id) => ({
    id: `${to}/${id}`,
    kind: id.split('/')[0] ?? id,
    node: id.split('/')[1],
    batch: undefined,
  })),
});

const fresh = () =>
  newJournal({
    from: 'v1.32.9',
    to: 'v1.34.3',
    maxUnavailable: '1',
    batchSize: 1,
    hops: [
      hop('v1.33.5', 'v1.32.9', ['etcd-backup', 'control-plane/cp-1']),
      hop('v1.34.3', 'v1.33.5', ['etcd-backup', 'control-plane/cp-1', 'kubelet/worker-1']),
    ],
    by: 'alice@ops (bosun upgrade apply)',
    now: T0,
  });

test('a new journal: id from target and time, every step pending, one run', () => {
  const j = fresh();
  assert.equal(j.id, 'upgrade-v1.34.3-20261207T101500Z');
  assert.deepEqual(
    j.hops.map((h) => [h.index, h.from, h.to, h.steps.map((s) => `${s.id}:${s.state}`)]),
    [
      [1, 'v1.32.9', 'v1.33.5', ['v1.33.5/etcd-backup:pending', 'v1.33.5/control-plane/cp-1:pending']],
      [
        2,
        'v1.33.5',
        'v1.34.3',
        [
          'v1.34.3/etcd-backup:pending',
          'v1.34.3/control-plane/cp-1:pending',
          'v1.34.3/kubelet/worker-1:pending',
        ],
      ],
    ],
  );
  assert.equal(j.phase, 'running');
  assert.equal(j.runs.length, 1);
});

test('a step started, acted on and done keeps its first start and counts its attempts', () => {
  let j = fresh();
  j = stepStarted(j, 'v1.34.3/kubelet/worker-1', at(1));
  j = stepAction(j, 'v1.34.3/kubelet/worker-1', 'drain', at(2));
  j = stepStarted(j, 'v1.34.3/kubelet/worker-1', at(3));
  j = stepDone(j, 'v1.34.3/kubelet/worker-1', 'ran', at(4));
  const s = findStep(j, 'v1.34.3/kubelet/worker-1');
  assert.equal(s?.state, 'done');
  assert.equal(s?.attempts, 2);
  assert.equal(s?.startedAt, at(1).toISOString());
  assert.equal(s?.finishedAt, at(4).toISOString());
  assert.equal(s?.doneBy, 'ran');
  assert.deepEqual(s?.actions, [{ what: 'drain', at: at(2).toISOString() }]);
});

test('a step found done records that no run did it', () => {
  const j = stepDone(fresh(), 'v1.33.5/control-plane/cp-1', 'found', at(1));
  assert.equal(findStep(j, 'v1.33.5/control-plane/cp-1')?.doneBy, 'found');
  assert.deepEqual(stepCounts(j), { pending: 4, running: 0, done: 1, failed: 0 });
});

test('a failed step keeps its message until it is started again', () => {
  let j = stepFailed(fresh(), 'v1.34.3/kubelet/worker-1', 'apt-get exited with 100', at(1));
  assert.equal(findStep(j, 'v1.34.3/kubelet/worker-1')?.message, 'apt-get exited with 100');
  j = stepStarted(j, 'v1.34.3/kubelet/worker-1', at(2));
  assert.equal(findStep(j, 'v1.34.3/kubelet/worker-1')?.message, undefined);
  assert.equal(findStep(j, 'v1.34.3/kubelet/worker-1')?.state, 'running');
});

test('an unknown step is a bug, not a silent no-op', () => {
  assert.throws(() => stepStarted(fresh(), 'v9.9.9/nothing', at(1)), /has no step v9\.9\.9\/nothing/);
});

test('actions are capped so the journal stays small', () => {
  let j = fresh();
  for (let i = 0; i < MAX_ACTIONS + 5; i++) j = stepAction(j, 'v1.34.3/kubelet/worker-1', `a${i}`, at(i));
  const a = findStep(j, 'v1.34.3/kubelet/worker-1')?.actions ?? [];
  assert.equal(a.length, MAX_ACTIONS);
  assert.equal(a.at(-1)?.what, `a${MAX_ACTIONS + 4}`);
});

for (const tc of [
  {
    name: 'a resumed plan without the finished hop keeps that hop as it was',
    planned: [hop('v1.34.3', 'v1.33.5', ['etcd-backup', 'control-plane/cp-1', 'kubelet/worker-1'])],
    want: [
      ['v1.33.5', ['v1.33.5/etcd-backup', 'v1.33.5/control-plane/cp-1']],
      ['v1.34.3', ['v1.34.3/etcd-backup', 'v1.34.3/control-plane/cp-1', 'v1.34.3/kubelet/worker-1']],
    ],
  },
  {
    name: 'a step the new plan adds goes in the plan order; a step it drops stays after',
    planned: [hop('v1.34.3', 'v1.33.5', ['etcd-backup', 'kubelet/worker-2', 'kubelet/worker-1'])],
    want: [
      ['v1.33.5', ['v1.33.5/etcd-backup', 'v1.33.5/control-plane/cp-1']],
      [
        'v1.34.3',
        [
          'v1.34.3/etcd-backup',
          'v1.34.3/kubelet/worker-2',
          'v1.34.3/kubelet/worker-1',
          'v1.34.3/control-plane/cp-1',
        ],
      ],
    ],
  },
  {
    name: 'a hop the new plan puts first (an interrupted hop finished again) sorts by version',
    planned: [hop('v1.33.4', 'v1.32.9', ['etcd-backup'])],
    want: [
      ['v1.33.4', ['v1.33.4/etcd-backup']],
      ['v1.33.5', ['v1.33.5/etcd-backup', 'v1.33.5/control-plane/cp-1']],
      ['v1.34.3', ['v1.34.3/etcd-backup', 'v1.34.3/control-plane/cp-1', 'v1.34.3/kubelet/worker-1']],
    ],
  },
])
  test(`mergeHops: ${tc.name}`, () => {
    const base = stepDone(fresh(), 'v1.33.5/control-plane/cp-1', 'ran', at(1));
    const merged = mergeHops(base.hops, tc.planned);
    assert.deepEqual(
      merged.map((h) => [h.to, h.steps.map((s) => s.id)]),
      tc.want,
    );
    assert.deepEqual(
      merged.map((h) => h.index),
      tc.want.map((_, i) => i + 1),
    );
    assert.equal(merged.find((h) => h.to === 'v1.33.5')?.steps[1]?.state, 'done');
  });

test('a resumed run marks the run that never ended as interrupted; the end records the outcome', () => {
  let j = runStarted(fresh(), 'bob@ops-2 (bosun upgrade apply)', at(60));
  assert.deepEqual(
    j.runs.map((r) => [r.by, r.outcome]),
    [
      ['alice@ops (bosun upgrade apply)', 'interrupted'],
      ['bob@ops-2 (bosun upgrade apply)', undefined],
    ],
  );
  j = runEnded(j, 'failed', { message: 'worker-1 did not come back', diagnosis: ['Ready=Unknown'] }, at(70));
  assert.equal(j.phase, 'failed');
  assert.equal(j.runs[1]?.outcome, 'failed');
  assert.equal(j.outcome?.message, 'worker-1 did not come back');
  assert.equal(j.finishedAt, undefined);
  j = runStarted(j, 'bob@ops-2 (bosun upgrade apply)', at(80));
  assert.equal(j.outcome, undefined, 'a new run clears the last outcome');
  j = runEnded(j, 'succeeded', undefined, at(90));
  assert.equal(j.phase, 'succeeded');
  assert.equal(j.finishedAt, at(90).toISOString());
});

for (const tc of [
  { name: 'not JSON', text: '{', ok: false },
  {
    name: 'another kind',
    text: JSON.stringify({ kind: 'Other', id: 'x', to: 'v1', hops: [], runs: [], backups: [] }),
    ok: false,
  },
  { name: 'hops without steps', text: JSON.stringify({ ...fresh(), hops: [{ index: 1 }] }), ok: false },
  { name: 'a journal', text: JSON.stringify(fresh()), ok: true },
])
  test(`parseJournal: ${tc.name}`, () => assert.equal(parseJournal(tc.text) !== undefined, tc.ok));
