import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromLabelSelector, isEverything, matches, parseSelector, selectorString } from './labels.ts';

const cases: { sel: string; labels: Record<string, string>; want: boolean }[] = [
  { sel: '', labels: { a: '1' }, want: true },
  { sel: 'app=web', labels: { app: 'web' }, want: true },
  { sel: 'app==web', labels: { app: 'api' }, want: false },
  { sel: 'app!=web', labels: {}, want: true },
  { sel: 'app!=web', labels: { app: 'web' }, want: false },
  { sel: 'tier in (a, b)', labels: { tier: 'b' }, want: true },
  { sel: 'tier notin (a,b)', labels: { tier: 'b' }, want: false },
  { sel: 'tier notin (a,b)', labels: {}, want: true },
  { sel: 'legacy', labels: { legacy: '' }, want: true },
  { sel: '!legacy', labels: { legacy: '' }, want: false },
  { sel: 'app=web,!legacy,env in (prod)', labels: { app: 'web', env: 'prod' }, want: true },
  { sel: 'example.com/role=db', labels: { 'example.com/role': 'db' }, want: true },
  { sel: 'gen>3', labels: { gen: '4' }, want: true },
  { sel: 'gen<3', labels: { gen: 'x' }, want: false },
  { sel: 'app=', labels: { app: '' }, want: true },
];
for (const tc of cases) {
  test(`selector ${JSON.stringify(tc.sel)} on ${JSON.stringify(tc.labels)} is ${tc.want}`, () => {
    const r = parseSelector(tc.sel);
    assert.ok(r.ok, r.ok ? '' : r.error);
    assert.equal(matches(r.selector, tc.labels), tc.want);
  });
}

for (const bad of [
  'app=we b',
  'app in a,b',
  'app in (a',
  '=x',
  'a,',
  'bad key!=x',
  '-x=1',
  'gen>a',
  'a/b/c=1',
  'app=' + 'x'.repeat(64),
]) {
  test(`selector ${JSON.stringify(bad)} is refused with a reason`, () => {
    const r = parseSelector(bad);
    assert.equal(r.ok, false);
    assert.match(r.ok ? '' : r.error, /unable to parse requirement|unexpected character/);
  });
}

test('the object form: nil matches nothing, {} matches everything, expressions AND with labels', () => {
  assert.equal(matches(fromLabelSelector(undefined), { a: '1' }), false);
  assert.equal(isEverything(fromLabelSelector({})), true);
  const s = fromLabelSelector({
    matchLabels: { app: 'web' },
    matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['cache'] }],
  });
  assert.equal(matches(s, { app: 'web', tier: 'front' }), true);
  assert.equal(matches(s, { app: 'web', tier: 'cache' }), false);
  assert.equal(
    matches(fromLabelSelector({ matchExpressions: [{ key: 'x', operator: 'Bogus' }] }), {}),
    false,
  );
});

test('selectorString round-trips through parseSelector', () => {
  const text = 'app=web,tier in (a,b),!legacy,env!=dev,gpu';
  const r = parseSelector(text);
  assert.ok(r.ok);
  assert.equal(selectorString(r.selector), text);
});
