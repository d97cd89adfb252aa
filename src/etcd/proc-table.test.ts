// The real process table against real processes: a child is running with its own start time and
// not with another (a reused pid), and not once it has exited.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { procTable, processStartTicks } from './proc-table.ts';

test('a running child is running with its start time, not with another; an exited one is not', async () => {
  const self = procTable.self();
  assert.equal(self.pid, process.pid);
  assert.match(self.boot, /^[0-9a-f]{12}$/);
  assert.ok(procTable.isRunning(self));

  const child = spawn(process.execPath, ['-e', 'process.stdin.resume()'], {
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  const pid = child.pid ?? 0;
  const exited = new Promise((r) => child.once('exit', r));
  const start = processStartTicks(pid);
  assert.equal(typeof start, 'number');
  const owner = { pid, startTicks: Number(start), boot: self.boot };
  assert.ok(procTable.isRunning(owner));
  assert.ok(
    !procTable.isRunning({ ...owner, startTicks: owner.startTicks + 1 }),
    'a reused pid is not the owner',
  );
  child.stdin?.end();
  await exited;
  assert.ok(!procTable.isRunning(owner), 'gone once it exited');
});
