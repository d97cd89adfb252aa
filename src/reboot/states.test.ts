import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BlockerVerdict } from './blockers.ts';
import type { WindowState } from './window.ts';
import {
  initialRecord,
  judgeHolder,
  nextAction,
  parseRecord,
  retryDelayMs,
  serializeRecord,
  transition,
  type AgentAction,
  type AgentEvent,
  type MachineOptions,
  type RebootRecord,
} from './states.ts';

const opts: MachineOptions = {
  rebootTimeoutMs: 10 * 60_000,
  healthTimeoutMs: 15 * 60_000,
  retryBaseMs: 5 * 60_000,
  retryMaxMs: 60 * 60_000,
};
const T0 = Date.UTC(2025, 0, 14, 22, 0, 0);
const at = (min: number): Date => new Date(T0 + min * 60_000);

const open: WindowState = { open: true, closesAt: undefined };
const closed = (opensAt: Date): WindowState => ({ open: false, opensAt });
const clear: BlockerVerdict[] = [{ kind: 'pods', blocked: false, reason: 'no pods' }];
const podsBlock = (reason = 'a pod matching app=backup on w1: backup/nightly'): BlockerVerdict[] => [
  { kind: 'pods', blocked: true, reason },
  { kind: 'alerts', blocked: false, reason: 'no alerts' },
];
const ev = {
  required: (verdicts: BlockerVerdict[] = clear, window: WindowState = open): AgentEvent => ({
    type: 'evaluated',
    rebootRequired: true,
    window,
    verdicts,
  }),
  notRequired: { type: 'evaluated', rebootRequired: false, window: open, verdicts: [] } as AgentEvent,
};

interface Step {
  event: AgentEvent;
  min: number;
  state: RebootRecord['state'];
  action: AgentAction['do'];
  notice?: string;
}

function run(steps: Step[], start: RebootRecord = initialRecord(at(0))): RebootRecord {
  let r = start;
  steps.forEach((s, i) => {
    const t = transition(r, s.event, at(s.min), opts);
    assert.equal(t.record.state, s.state, `step ${i} (${s.event.type}): state`);
    assert.equal(nextAction(t.record, opts).do, s.action, `step ${i} (${s.event.type}): next action`);
    assert.equal(t.notice?.kind, s.notice, `step ${i} (${s.event.type}): notice`);
    r = t.record;
  });
  return r;
}

/** The end of a cycle: healthy, uncordoned, released, and the state and notice it ends with. */
function healthyToEnd(min: number, end: RebootRecord['state'], notice: string): Step[] {
  return [
    { event: { type: 'health', healthy: true, problems: [] }, min, state: 'uncordoning', action: 'uncordon' },
    { event: { type: 'uncordoned' }, min, state: 'releasing', action: 'release' },
    { event: { type: 'released' }, min, state: end, action: 'evaluate', notice },
  ];
}

test('a whole cycle: sentinel, lock, cordon, drain, reboot, boot, health, uncordon, release', () => {
  const end = run([
    { event: ev.required(), min: 0, state: 'waiting-lock', action: 'acquire-lock' },
    {
      event: { type: 'lock', acquired: true, holders: ['w1'] },
      min: 0,
      state: 'cordoning',
      action: 'cordon',
    },
    {
      event: { type: 'cordoned', ours: true, bootId: 'boot-1' },
      min: 0,
      state: 'draining',
      action: 'drain',
      notice: 'draining',
    },
    { event: { type: 'drained' }, min: 2, state: 'drained', action: 'evaluate' },
    { event: ev.required(), min: 2, state: 'rebooting', action: 'reboot', notice: 'rebooting' },
    { event: { type: 'reboot-issued' }, min: 2, state: 'rebooting', action: 'wait-boot' },
    {
      event: { type: 'boot', bootId: 'boot-2', rebootRequired: false },
      min: 4,
      state: 'health-gate',
      action: 'health-gate',
      notice: 'back',
    },
    {
      event: { type: 'health', healthy: false, problems: ['Ready is False'] },
      min: 5,
      state: 'health-gate',
      action: 'health-gate',
    },
    ...healthyToEnd(6, 'idle', 'done'),
  ]);
  assert.deepEqual(end, {
    state: 'idle',
    since: '2025-01-14T22:06:00Z',
    cordoned: false,
    lockHeld: false,
    attempt: 0,
  });
});

test('the record names what it holds at each step, so a restarted agent resumes', () => {
  let r = initialRecord(at(0));
  const seen: [string, boolean, boolean][] = [];
  for (const e of [
    ev.required(),
    { type: 'lock', acquired: true, holders: [] },
    { type: 'cordoned', ours: true, bootId: 'b1' },
    { type: 'drained' },
    ev.required(),
    { type: 'reboot-issued' },
  ] as AgentEvent[]) {
    r = transition(r, e, at(1), opts).record;
    seen.push([r.state, r.lockHeld, r.cordoned]);
  }
  assert.deepEqual(seen, [
    ['waiting-lock', false, false],
    ['cordoning', true, false],
    ['draining', true, true],
    ['drained', true, true],
    ['rebooting', true, true],
    ['rebooting', true, true],
  ]);
  assert.equal(r.bootIdBefore, 'b1');
  const resumed = parseRecord(serializeRecord(r));
  assert.deepEqual(resumed, r);
  assert.deepEqual(nextAction(resumed as RebootRecord, opts), { do: 'wait-boot', deadline: at(11) });
});

for (const tc of [
  {
    name: 'no sentinel: idle, nothing recorded',
    event: ev.notRequired,
    want: { state: 'idle', changed: false, notice: undefined },
  },
  {
    name: 'window closed: waiting for its next opening',
    event: ev.required(clear, closed(at(600))),
    want: { state: 'waiting-window', changed: true, notice: undefined, until: '2025-01-15T08:00:00Z' },
  },
  {
    name: 'a blocker: blocked before any lock is taken (kured#792), and people are told',
    event: ev.required(podsBlock()),
    want: { state: 'blocked', changed: true, notice: 'blocked' },
  },
  {
    name: 'all clear: wait for the lock',
    event: ev.required(),
    want: { state: 'waiting-lock', changed: true, notice: undefined },
  },
]) {
  test(`from idle, ${tc.name}`, () => {
    const t = transition(initialRecord(at(0)), tc.event, at(0), opts);
    assert.equal(t.record.state, tc.want.state);
    assert.equal(t.changed, tc.want.changed);
    assert.equal(t.notice?.kind, tc.want.notice);
    if (tc.want.until) {
      assert.equal(t.record.until, tc.want.until);
      assert.deepEqual(nextAction(t.record, opts), {
        do: 'evaluate',
        wait: 'change',
        until: new Date(tc.want.until),
      });
    }
  });
}

test('a blocker notifies once per reason: the same reason again is silent, a new one is told', () => {
  const a = transition(initialRecord(at(0)), ev.required(podsBlock()), at(0), opts);
  const b = transition(a.record, ev.required(podsBlock()), at(1), opts);
  assert.equal(b.changed, false);
  assert.equal(b.notice, undefined);
  const c = transition(
    b.record,
    ev.required(podsBlock('2 pods matching app=backup on w1: a/x, a/y')),
    at(2),
    opts,
  );
  assert.equal(c.notice?.kind, 'blocked');
  assert.equal(c.notice?.message, 'reboot blocked: 2 pods matching app=backup on w1: a/x, a/y');
  assert.deepEqual(c.record.blockers, [
    { kind: 'pods', reason: '2 pods matching app=backup on w1: a/x, a/y' },
  ]);
  assert.equal(c.record.since, a.record.since, 'still blocked since the first time');
});

test('a busy lock waits for a change of the lock, then evaluates again before trying', () => {
  const r1 = transition(initialRecord(at(0)), ev.required(), at(0), opts).record;
  const r2 = transition(r1, { type: 'lock', acquired: false, holders: ['w2', 'w3'] }, at(0), opts).record;
  assert.equal(r2.reason, 'waiting for the lock (held by w2, w3)');
  assert.deepEqual(nextAction(r2, opts), { do: 'evaluate', wait: 'lock' });
  const r3 = transition(r2, ev.required(), at(1), opts).record;
  assert.deepEqual(nextAction(r3, opts), { do: 'acquire-lock' });
  assert.equal(r3.since, r1.since);
});

test('a node someone else cordoned meanwhile is left alone: the lock is released, bosun does not uncordon', () => {
  run(
    [
      {
        event: { type: 'cordoned', ours: false, by: 'alice', bootId: 'b1' },
        min: 0,
        state: 'blocked',
        action: 'release',
        notice: 'blocked',
      },
      { event: { type: 'released' }, min: 0, state: 'blocked', action: 'evaluate' },
    ],
    { ...initialRecord(at(0)), state: 'cordoning', lockHeld: true },
  );
});

test('a failed drain gives the node back (uncordon, release) and retries after a backoff that doubles', () => {
  const draining: RebootRecord = {
    ...initialRecord(at(0)),
    state: 'draining',
    cordoned: true,
    lockHeld: true,
    bootIdBefore: 'b1',
  };
  const failed = transition(
    draining,
    {
      type: 'drain-failed',
      message: 'timed out after 10m',
      diagnosis: ['pod shop/db-0: PDB shop/db allows no disruption'],
    },
    at(10),
    opts,
  );
  assert.equal(failed.notice?.kind, 'failed');
  assert.deepEqual(failed.notice?.diagnosis, ['pod shop/db-0: PDB shop/db allows no disruption']);
  assert.equal(failed.record.until, '2025-01-14T22:15:00Z');
  const back = run(
    [
      { event: { type: 'uncordoned' }, min: 10, state: 'failed', action: 'release' },
      { event: { type: 'released' }, min: 10, state: 'failed', action: 'evaluate' },
      { event: ev.required(), min: 12, state: 'failed', action: 'evaluate' }, // before the retry: nothing
      { event: ev.required(), min: 15, state: 'waiting-lock', action: 'acquire-lock' },
    ],
    failed.record,
  );
  assert.deepEqual(nextAction(failed.record, opts), { do: 'uncordon' });
  assert.equal(back.attempt, 1);
  assert.equal(back.failure?.phase, 'drain', 'the last failure stays visible until a cycle succeeds');
  assert.equal(retryDelayMs(1, opts), 5 * 60_000);
  assert.equal(retryDelayMs(3, opts), 20 * 60_000);
  assert.equal(retryDelayMs(9, opts), 60 * 60_000);
});

test('blockers after the drain hold the drained node (lock kept); cleared, it reboots', () => {
  const drained: RebootRecord = { ...initialRecord(at(0)), state: 'drained', cordoned: true, lockHeld: true };
  run(
    [
      {
        event: ev.required(podsBlock()),
        min: 1,
        state: 'reboot-blocked',
        action: 'evaluate',
        notice: 'blocked',
      },
      { event: ev.required(podsBlock()), min: 2, state: 'reboot-blocked', action: 'evaluate' },
      { event: ev.required(clear), min: 3, state: 'rebooting', action: 'reboot', notice: 'rebooting' },
    ],
    drained,
  );
});

test('the window closing: a drained node still reboots (it finishes), a held-back one is given back', () => {
  const drained: RebootRecord = { ...initialRecord(at(0)), state: 'drained', cordoned: true, lockHeld: true };
  assert.equal(
    transition(drained, ev.required(clear, closed(at(600))), at(1), opts).record.state,
    'rebooting',
  );
  const held: RebootRecord = { ...drained, state: 'reboot-blocked', reason: 'x' };
  run(
    [
      {
        event: ev.required(podsBlock(), closed(at(600))),
        min: 1,
        state: 'waiting-window',
        action: 'uncordon',
      },
      { event: { type: 'uncordoned' }, min: 1, state: 'waiting-window', action: 'release' },
      { event: { type: 'released' }, min: 1, state: 'waiting-window', action: 'evaluate' },
    ],
    held,
  );
});

test('the sentinel gone while drained: nothing to reboot, the node is given back', () => {
  const drained: RebootRecord = {
    ...initialRecord(at(0)),
    state: 'drained',
    cordoned: true,
    lockHeld: true,
    requiredSince: 'x',
  };
  const t = transition(drained, ev.notRequired, at(1), opts);
  assert.equal(t.record.state, 'idle');
  assert.equal(t.record.requiredSince, undefined);
  assert.deepEqual(nextAction(t.record, opts), { do: 'uncordon' });
});

test('no new boot within the reboot timeout: the reboot failed, the node is given back', () => {
  const rebooting: RebootRecord = {
    ...initialRecord(at(0)),
    state: 'rebooting',
    cordoned: true,
    lockHeld: true,
    bootIdBefore: 'b1',
    rebootStartedAt: '2025-01-14T22:00:00Z',
    rebootIssuedAt: '2025-01-14T22:00:00Z',
  };
  assert.equal(
    transition(rebooting, { type: 'boot', bootId: 'b1', rebootRequired: true }, at(9), opts).changed,
    false,
  );
  const t = transition(rebooting, { type: 'boot', bootId: 'b1', rebootRequired: true }, at(10), opts);
  assert.equal(t.record.state, 'failed');
  assert.equal(t.notice?.message, 'the node did not reboot within 10m of the reboot command');
  assert.deepEqual(nextAction(t.record, opts), { do: 'uncordon' });
  const cmd = transition(
    { ...rebooting, rebootIssuedAt: undefined },
    { type: 'reboot-failed', message: 'exit status 1: Failed to connect to bus' },
    at(0),
    opts,
  );
  assert.equal(cmd.record.failure?.phase, 'reboot');
  assert.equal(cmd.notice?.message, 'reboot command failed: exit status 1: Failed to connect to bus');
});

test('not healthy within the health timeout: failed, left cordoned, the lock held, the diagnosis told; recovers later', () => {
  const gate: RebootRecord = {
    ...initialRecord(at(0)),
    state: 'health-gate',
    cordoned: true,
    lockHeld: true,
    bootSeenAt: '2025-01-14T22:00:00Z',
  };
  const waiting = transition(
    gate,
    { type: 'health', healthy: false, problems: ['Ready is Unknown'] },
    at(14),
    opts,
  );
  assert.equal(waiting.record.state, 'health-gate');
  assert.equal(waiting.record.reason, 'waiting until healthy: Ready is Unknown');
  const failed = transition(
    waiting.record,
    { type: 'health', healthy: false, problems: ['Ready is Unknown', 'no heartbeat'] },
    at(15),
    opts,
  );
  assert.equal(failed.record.state, 'failed');
  assert.equal(failed.record.cordoned, true);
  assert.equal(failed.record.lockHeld, true);
  assert.equal(failed.record.until, undefined);
  assert.deepEqual(failed.notice, {
    kind: 'failed',
    message: 'not healthy within 15m after the reboot; left cordoned',
    diagnosis: ['Ready is Unknown', 'no heartbeat'],
  });
  assert.deepEqual(nextAction(failed.record, opts), { do: 'health-gate' });
  const recovered = transition(failed.record, { type: 'health', healthy: true, problems: [] }, at(40), opts);
  assert.equal(recovered.record.state, 'uncordoning');
  assert.equal(recovered.record.failure, undefined);
});

test('a sentinel still there after the boot: the cycle finishes, then waits for the retry instead of rebooting again', () => {
  const rebooting: RebootRecord = {
    ...initialRecord(at(0)),
    state: 'rebooting',
    cordoned: true,
    lockHeld: true,
    bootIdBefore: 'b1',
    rebootStartedAt: '2025-01-14T22:00:00Z',
    rebootIssuedAt: '2025-01-14T22:00:00Z',
  };
  const end = run(
    [
      {
        event: { type: 'boot', bootId: 'b2', rebootRequired: true },
        min: 3,
        state: 'health-gate',
        action: 'health-gate',
        notice: 'back',
      },
      ...healthyToEnd(4, 'failed', 'failed'),
    ],
    rebooting,
  );
  assert.equal(end.failure?.phase, 'sentinel');
  assert.equal(end.lockHeld, false);
  assert.equal(end.until, '2025-01-14T22:09:00Z');
});

test('the lock lost before the reboot gives the node back; after it, the health gate goes on', () => {
  const draining: RebootRecord = {
    ...initialRecord(at(0)),
    state: 'draining',
    cordoned: true,
    lockHeld: true,
  };
  const t = transition(draining, { type: 'lost-lock', holder: 'w4' }, at(1), opts);
  assert.equal(
    t.record.failure?.message,
    'lost the lock before the reboot (now held by w4); giving the node back',
  );
  assert.equal(t.record.lockHeld, false);
  assert.deepEqual(nextAction(t.record, opts), { do: 'uncordon' });
  const gate: RebootRecord = { ...draining, state: 'health-gate', bootSeenAt: '2025-01-14T22:00:00Z' };
  const g = transition(gate, { type: 'lost-lock' }, at(1), opts);
  assert.equal(g.record.state, 'health-gate');
  assert.equal(g.record.lockHeld, false);
});

test('events that do not apply to the state change nothing', () => {
  const idle = initialRecord(at(0));
  for (const e of [
    { type: 'drained' },
    { type: 'reboot-issued' },
    { type: 'boot', bootId: 'x', rebootRequired: false },
    { type: 'health', healthy: true, problems: [] },
    { type: 'uncordoned' },
    { type: 'released' },
    { type: 'lock', acquired: true, holders: [] },
  ] as AgentEvent[]) {
    assert.equal(transition(idle, e, at(1), opts).changed, false, e.type);
  }
});

test('parseRecord refuses what is not a record', () => {
  assert.equal(parseRecord(undefined), undefined);
  assert.equal(parseRecord('{not json'), undefined);
  assert.equal(parseRecord('{"state":"dancing","since":"x"}'), undefined);
  assert.deepEqual(parseRecord('{"state":"idle","since":"2025-01-01T00:00:00Z"}'), {
    state: 'idle',
    since: '2025-01-01T00:00:00Z',
    cordoned: false,
    lockHeld: false,
    attempt: 0,
  });
});

for (const tc of [
  { name: 'no record', record: undefined, ready: true, min: 0, want: 'not-working' },
  {
    name: 'a record without the lock',
    record: { state: 'blocked' },
    ready: true,
    min: 0,
    want: 'not-working',
  },
  {
    name: 'draining (its agent was killed)',
    record: { state: 'draining', lockHeld: true },
    ready: true,
    min: 60,
    want: 'abandoned',
  },
  {
    name: 'rebooting, within the time',
    record: { state: 'rebooting', lockHeld: true },
    ready: false,
    min: 24,
    want: 'working',
  },
  {
    name: 'rebooting, not back in time',
    record: { state: 'rebooting', lockHeld: true },
    ready: false,
    min: 25,
    want: 'stuck',
  },
  {
    name: 'rebooting long ago but Ready',
    record: { state: 'health-gate', lockHeld: true },
    ready: true,
    min: 30,
    want: 'working',
  },
  {
    name: 'failed its health gate',
    record: { state: 'failed', lockHeld: true, failure: { phase: 'health', message: 'm', diagnosis: [] } },
    ready: true,
    min: 0,
    want: 'stuck',
  },
] as {
  name: string;
  record: Partial<RebootRecord> | undefined;
  ready: boolean;
  min: number;
  want: string;
}[]) {
  test(`a lock holder ${tc.name} is ${tc.want}`, () => {
    const record = tc.record && {
      ...initialRecord(at(0)),
      rebootStartedAt: '2025-01-14T22:00:00Z',
      ...tc.record,
    };
    assert.equal(judgeHolder({ record, nodeReady: tc.ready, now: at(tc.min) }, opts).verdict, tc.want);
  });
}
