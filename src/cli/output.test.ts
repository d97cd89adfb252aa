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

test("formatTable pads to minWidth, as kubeadm's tabwriter (minwidth 10) does", () => {
  assert.deepEqual(formatTable(['CA', 'EXPIRES'], [['ca', 'Jan 01, 2030 00:00 UTC']], { minWidth: 10 }), [
    'CA        EXPIRES',
    'ca        Jan 01, 2030 00:00 UTC',
  ]);
});

test('formatTable shows a control character or newline in a cell escaped, and keeps the columns', () => {
  assert.deepEqual(
    formatTable(
      ['NODE', 'REASON'],
      [
        ['worker-1', 'disk\x1b[2J'],
        ['w\n2', 'ok'],
      ],
    ),
    ['NODE       REASON', 'worker-1   disk^[[2J', 'w\\n2       ok'],
  );
});

test('parseOutputFormat reads the old name text as table, where the command prints a table', () => {
  assert.equal(parseOutputFormat('text', ['table', 'json', 'yaml'], 'cordon'), 'table');
  assert.equal(parseOutputFormat(undefined, ['table', 'json', 'yaml'], 'cordon'), 'table');
  assert.throws(
    () => parseOutputFormat('text', ['json', 'yaml'], 'x'),
    (e: unknown) =>
      e instanceof UsageError &&
      e.message ===
        'unable to match a printer suitable for the output format "text", allowed formats are: json,yaml',
  );
});
