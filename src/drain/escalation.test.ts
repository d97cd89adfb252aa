import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DEFAULT_POLICY,
  decideEscalation,
  parseEscalationRule,
  type EscalationPolicy,
} from './escalation.ts';
import { pod } from './testing/fixtures.ts';

function policy(...texts: string[]): EscalationPolicy {
  return {
    rules: texts.map((t) => {
      const r = parseEscalationRule(t);
      if (!r.ok) throw new Error(r.error);
      return r.rule;
    }),
  };
}

const batch = pod('etl-1', { namespace: 'batch', labels: { app: 'etl' } });
const db = pod('db-0', { namespace: 'demo', labels: { app: 'db', tier: 'data' } });
const web = pod('web-1', { namespace: 'demo', labels: { app: 'web' } });
const MIN = 60_000;

for (const tc of [
  {
    name: 'the default policy keeps waiting, however long',
    policy: DEFAULT_POLICY,
    pod: web,
    blocked: 10 * 60 * MIN,
    want: 'wait',
  },
  {
    name: 'a give-up rule fires once its wait has elapsed',
    policy: policy('after=10m,action=give-up'),
    pod: web,
    blocked: 10 * MIN,
    want: 'give-up',
  },
  {
    name: 'a give-up rule does not fire early',
    policy: policy('after=10m,action=give-up'),
    pod: web,
    blocked: 9 * MIN,
    want: 'wait',
  },
  {
    name: 'a delete rule applies only in its namespace',
    policy: policy('after=5m,action=delete,namespace=batch'),
    pod: web,
    blocked: 6 * MIN,
    want: 'wait',
  },
  {
    name: 'a delete rule deletes in its namespace',
    policy: policy('after=5m,action=delete,namespace=batch'),
    pod: batch,
    blocked: 6 * MIN,
    want: 'delete',
  },
  {
    name: 'a selector scopes a rule',
    policy: policy('after=1m,action=delete,selector=tier in (data,cache)'),
    pod: db,
    blocked: 2 * MIN,
    want: 'delete',
  },
  {
    name: 'the longest elapsed wait wins: give up at 10m even where delete applied at 5m',
    policy: policy('after=5m,action=delete,namespace=batch', 'after=10m,action=give-up'),
    pod: batch,
    blocked: 11 * MIN,
    want: 'give-up',
  },
  {
    name: 'a later explicit wait overrides an earlier rule for the pods it names',
    policy: policy('after=5m,action=give-up', 'after=6m,action=wait,selector=app=db'),
    pod: db,
    blocked: 7 * MIN,
    want: 'wait',
  },
]) {
  test(tc.name, () => assert.equal(decideEscalation(tc.policy, tc.pod, tc.blocked).action, tc.want));
}

test('the decision says when the next rule falls due', () => {
  const d = decideEscalation(
    policy('after=5m,action=delete,namespace=batch', 'after=10m,action=give-up'),
    batch,
    2 * MIN,
  );
  assert.equal(d.nextInMs, 3 * MIN);
  assert.equal(d.rule, undefined);
});

for (const tc of [
  { in: 'after=5m,action=delete', err: 'must name a namespace or a selector' },
  { in: 'action=give-up', err: 'after=DURATION is required' },
  { in: 'after=soon,action=give-up', err: 'after=DURATION is required' },
  { in: 'after=5m,action=explode', err: 'action must be one of wait, give-up, delete' },
  { in: 'after=5m,action=wait,colour=red', err: 'unknown key "colour"' },
  { in: 'after=5m,after=6m,action=wait', err: '"after" given twice' },
  { in: 'after=5m,action=delete,selector=app in (', err: 'unable to parse requirement' },
  { in: 'nonsense', err: 'expected key=value pairs' },
]) {
  test(`the rule ${JSON.stringify(tc.in)} is refused: ${tc.err}`, () => {
    const r = parseEscalationRule(tc.in);
    assert.equal(r.ok, false);
    assert.ok(!r.ok && r.error.includes(tc.err), r.ok ? '' : r.error);
  });
}

test('selector= takes the rest of the rule, commas included', () => {
  const r = parseEscalationRule('after=1m,action=delete,selector=app=etl,tier in (a,b)');
  assert.ok(r.ok);
  assert.equal(r.ok && r.rule.selector, 'app=etl,tier in (a,b)');
});
