// Mistakes a user makes on the command line (issue 18, "Errors that users cause"): each is a usage
// error, exit 2, with one line naming what is wrong and kubectl's help hint, before anything is
// read or changed (no kubeconfig is even looked for: this home has none).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runOffline } from './testing/run.ts';

const home = mkdtempSync(path.join(os.tmpdir(), 'bosun-user-errors-'));
test.after(() => rmSync(home, { recursive: true, force: true }));

for (const tc of [
  {
    argv: ['-v', 'abc', 'version'],
    err: /^error: option '-v, --v <level>' argument 'abc' is invalid\. the log level must be a whole number such as 0 or 4, got "abc"$/,
    help: "See 'bosun -h' for help and examples",
  },
  {
    argv: ['version', '--v=-1'],
    err: /^error: option '-v, --v <level>' argument '-1' is invalid\./,
    help: "See 'bosun version -h' for help and examples",
  },
  {
    argv: ['cordon', ''],
    err: /^error: a node name must not be empty$/,
    help: "See 'bosun cordon -h' for help and examples",
  },
  {
    argv: ['uncordon', 'worker-1', ''],
    err: /^error: a node name must not be empty$/,
    help: "See 'bosun uncordon -h' for help and examples",
  },
  {
    argv: ['drain', '', '--ignore-daemonsets'],
    err: /^error: a node name must not be empty$/,
    help: "See 'bosun drain -h' for help and examples",
  },
  {
    argv: ['maintain', '', '--', 'true'],
    err: /^error: a node name must not be empty$/,
    help: "See 'bosun maintain -h' for help and examples",
  },
  {
    argv: ['cordon', '-l', 'app in ('],
    err: /^error: invalid --selector "app in \(": /,
    help: "See 'bosun cordon -h' for help and examples",
  },
  {
    argv: ['demo', '--control-planes', '1', '--workers', '3'],
    err: /^error: --workers must be at least 4 for the demo: its node maintenance chapter needs a worker without a postgres replica, and postgres runs 3$/,
    help: "See 'bosun demo -h' for help and examples",
  },
]) {
  test(`bosun ${tc.argv.map((a) => (a === '' ? "''" : a)).join(' ')} is a usage error (exit 2)`, async () => {
    const r = await runOffline(tc.argv, home);
    assert.equal(r.code, 2, r.err.join('\n'));
    assert.deepEqual(r.out, []);
    assert.match(r.err[0] ?? '', tc.err);
    assert.equal(r.err[1], tc.help);
    assert.equal(r.err.length, 2, r.err.join('\n'));
    assert.equal(r.execs, 0);
  });
}

test('-v with a whole number is accepted, before or after the command', async () => {
  for (const argv of [
    ['-v', '4', 'version'],
    ['version', '--v=0'],
    ['--v', '2', 'version'],
  ]) {
    const r = await runOffline(argv, home);
    assert.equal(r.code, 0, `${argv.join(' ')}: ${r.err.join('\n')}`);
    assert.match(r.out[0] ?? '', /^bosun version: v/);
  }
});
