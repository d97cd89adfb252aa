import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseQuantity } from './quantity.ts';

for (const tc of [
  { in: '100m', want: 0.1 },
  { in: '2', want: 2 },
  { in: '1.5', want: 1.5 },
  { in: '128Mi', want: 128 * 2 ** 20 },
  { in: '1Gi', want: 2 ** 30 },
  { in: '1G', want: 1e9 },
  { in: '1e3', want: 1000 },
  { in: '500k', want: 500_000 },
  { in: ' 3 ', want: 3 },
  { in: 'abc', want: undefined },
  { in: '1Xi', want: undefined },
  { in: '12Qi', want: undefined },
  { in: 4, want: 4 },
  { in: Number.NaN, want: undefined },
  { in: undefined, want: undefined },
]) {
  test(`quantity ${String(tc.in)} is ${tc.want}`, () => assert.equal(parseQuantity(tc.in), tc.want));
}
