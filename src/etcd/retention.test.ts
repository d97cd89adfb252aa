import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planRetention, type RetentionEntry } from './retention.ts';

const H = 3_600_000;
const now = new Date('2025-01-02T00:00:00Z');
const at = (hoursAgo: number, file: string, extra: Partial<RetentionEntry> = {}): RetentionEntry => ({
  file,
  cluster: 'c',
  time: new Date(now.getTime() - hoursAgo * H),
  verified: true,
  ...extra,
});
const entries = [
  at(0, 'new'),
  at(1, 'h1'),
  at(2, 'h2'),
  at(30, 'd1'),
  at(50, 'd2'),
  at(3, 'unverified', { verified: false }),
  at(60, 'other', { cluster: 'x' }),
];

for (const tc of [
  { name: 'no policy keeps everything', policy: {}, prune: [] },
  {
    name: '--keep 2 keeps the new one and the next newest per cluster',
    policy: { keep: 2 },
    prune: ['h2', 'd1', 'd2'],
  },
  {
    name: '--keep-within 24h keeps the last day',
    policy: { keepWithinMs: 24 * H },
    prune: ['d1', 'd2', 'other'],
  },
  { name: 'both rules: kept when either keeps it', policy: { keep: 4, keepWithinMs: 24 * H }, prune: ['d2'] },
  {
    name: '--keep counts per cluster',
    policy: { keep: 1, keepWithinMs: 1 },
    prune: ['h1', 'h2', 'd1', 'd2'],
  },
  {
    name: '--keep 1 keeps only the protected new backup',
    policy: { keep: 1 },
    prune: ['h1', 'h2', 'd1', 'd2'],
  },
]) {
  test(`retention: ${tc.name}; unverified backups are never pruned`, () => {
    const plan = planRetention(entries, tc.policy, now, ['new']);
    assert.deepEqual(plan.prune.map((e) => e.file).sort(), [...tc.prune].sort());
    assert.ok(plan.keep.some((e) => e.file === 'unverified'));
    assert.ok(plan.keep.some((e) => e.file === 'new'));
    assert.equal(plan.keep.length + plan.prune.length, entries.length);
  });
}
