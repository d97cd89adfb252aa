// The watchdog of tied.ts with real processes: a parent (a node process standing in for bosun)
// starts a long-running program tied to it, and is SIGKILLed; the program must be gone soon after,
// in both ways of noticing. Also: exit statuses and forwarded signals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { tiedNodeArgs, TIED_NOT_STARTED, type TiedWatch } from './tied.ts';

/**
 * Pids of live processes whose command line mentions `marker`: with `program`, only the tied
 * program itself (its last argument is the marker; the parent and the watchdog carry it inside a
 * JSON argument).
 */
function pidsWith(marker: string, program = false): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const argv = readFileSync(`/proc/${e}/cmdline`, 'utf8')
        .split('\0')
        .filter((a) => a !== '');
      const state = readFileSync(`/proc/${e}/stat`, 'latin1');
      const zombie = state.slice(state.lastIndexOf(')') + 2)[0] === 'Z';
      const hit = program ? argv[argv.length - 1] === marker : argv.some((a) => a.includes(marker));
      if (hit && !zombie) out.push(Number(e));
    } catch {
      // gone
    }
  }
  return out;
}

/** Waits (bounded) until `fn` holds, polling /proc; throws with `what` when it never does. */
async function until(what: string, fn: () => boolean, boundMs = 10_000): Promise<void> {
  const end = Date.now() + boundMs;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`not within ${boundMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A program that runs until killed, findable by its marker. */
function forever(marker: string): { cmd: string; args: string[] } {
  return { cmd: process.execPath, args: ['-e', 'setInterval(() => undefined, 60000)', marker] };
}

for (const watch of ['stdin', 'parent'] as TiedWatch[]) {
  test(`watch=${watch}: a SIGKILL of the parent takes the tied program with it`, async () => {
    const marker = `tied-${randomBytes(6).toString('hex')}`;
    const spec = { ...forever(marker), watch, parentPid: 0 };
    // The stand-in for bosun: starts the watchdog (stdin a pipe it keeps open, as member.ts does,
    // or closed at once, as the Exec port does) and waits forever.
    const parentScript = `
      const { spawn } = require('node:child_process');
      const args = JSON.parse(process.argv[1]);
      args[2] = JSON.stringify({ ...JSON.parse(args[2]), parentPid: process.pid });
      const c = spawn(process.execPath, args, { stdio: ['pipe', 'inherit', 'inherit'] });
      if (${JSON.stringify(watch)} === 'parent') c.stdin.end();
      setInterval(() => undefined, 60000);`;
    const parent = spawn(process.execPath, ['-e', parentScript, JSON.stringify(tiedNodeArgs(spec))], {
      stdio: 'ignore',
    });
    try {
      await until('the tied program runs', () => pidsWith(marker, true).length === 1);
      parent.kill('SIGKILL');
      await until('the tied program and its watchdog are gone', () => pidsWith(marker).length === 0);
    } finally {
      parent.kill('SIGKILL');
      for (const p of pidsWith(marker)) process.kill(p, 'SIGKILL');
    }
  });
}

test('the watchdog exits with the program status, forwards SIGTERM, and says when the program cannot start', async () => {
  const me = process.pid;
  const ok = spawnSync(
    process.execPath,
    tiedNodeArgs({ cmd: 'sh', args: ['-c', 'exit 3'], watch: 'parent', parentPid: me }),
  );
  assert.equal(ok.status, 3);
  const missing = spawnSync(
    process.execPath,
    tiedNodeArgs({ cmd: 'no-such-program-bosun', args: [], watch: 'parent', parentPid: me }),
    { encoding: 'utf8' },
  );
  assert.equal(missing.status, TIED_NOT_STARTED);
  assert.match(missing.stderr, /^bosun watchdog: cannot run no-such-program-bosun: ENOENT$/m);

  const marker = `tied-${randomBytes(6).toString('hex')}`;
  const w = spawn(process.execPath, tiedNodeArgs({ ...forever(marker), watch: 'stdin', parentPid: me }), {
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  const exited = new Promise<number | null>((r) => w.once('exit', (code) => r(code)));
  await until('the tied program runs', () => pidsWith(marker, true).length === 1);
  w.kill('SIGTERM');
  assert.equal(await exited, 128 + 15);
  await until('the tied program is gone', () => pidsWith(marker).length === 0);
});
