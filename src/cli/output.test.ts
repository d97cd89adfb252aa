import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatTable, parseOutputFormat } from './output.ts';
import { UsageError } from '../common/errors.ts';

test('formatTable pads every column but the last by three spaces, like kubectl', () => {
  assert.deepEqual(
    formatTable(
      ['NAME', 'STATUS'],
      [
        ['worker-1', 'Ready'],
        ['cp-1', 'Ready,SchedulingDisabled'],
      ],
    ),
    ['NAME       STATUS', 'worker-1   Ready', 'cp-1       Ready,SchedulingDisabled'],
  );
});

test('formatTable without headers prints rows only', () => {
  assert.deepEqual(formatTable(null, [['a', 'b']]), ['a   b']);
});

test('parseOutputFormat refuses an unknown format with a usage error naming the allowed ones', () => {
  assert.throws(
    () => parseOutputFormat('xml', ['table', 'json'], 'certs check'),
    (e: unknown) => e instanceof UsageError && /allowed formats are: table,json/.test(e.message),
  );
});
