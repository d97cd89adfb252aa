import { test } from 'node:test';
import assert from 'node:assert/strict';
import { humanDuration, parseDuration } from './duration.ts';

for (const tc of [
  { in: '90s', want: 90_000 },
  { in: '5m', want: 300_000 },
  { in: '1h30m', want: 5_400_000 },
  { in: '250ms', want: 250 },
  { in: '30d', want: 30 * 86_400_000 },
  { in: '1y', want: 365 * 86_400_000 },
  { in: '15', want: 15_000 },
  { in: '0', want: 0 },
  { in: '0s', want: 0 },
  { in: '', want: undefined },
  { in: '5 minutes', want: undefined },
  { in: '1h-', want: undefined },
  { in: '-5s', want: undefined },
]) {
  test(`parseDuration(${JSON.stringify(tc.in)}) is ${tc.want}`, () =>
    assert.equal(parseDuration(tc.in), tc.want));
}

for (const tc of [
  { ms: 5_000, want: '5s' },
  { ms: 119_000, want: '119s' },
  { ms: 130_000, want: '2m10s' },
  { ms: 600_000, want: '10m' },
  { ms: 3 * 3_600_000 + 5 * 60_000, want: '3h5m' },
  { ms: 30 * 3_600_000, want: '30h' },
  { ms: 3 * 86_400_000 + 2 * 3_600_000, want: '3d2h' },
  { ms: 364 * 86_400_000, want: '364d' },
  { ms: -1_500, want: '0s' },
  { ms: -5_000, want: '<invalid>' },
]) {
  test(`humanDuration(${tc.ms}) is ${tc.want} as kubectl prints it`, () =>
    assert.equal(humanDuration(tc.ms), tc.want));
}
