// The executors against real processes: streaming, exit codes, timeouts, aborts, the gate that
// keeps a command from running before it is recorded, and the /proc probe of a recorded process.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { ExecError } from '../common/errors.ts';
import type { StartedProcess } from './executor.ts';
import { LocalExecutor } from './local.ts';
import { createSandboxExecutor } from './sandbox.ts';
import { parseExecTemplate } from './shell.ts';
import { TemplateExecutor } from './template.ts';

const dir = mkdtempSync(join(os.tmpdir(), 'bosun-host-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const env = { PATH: process.env['PATH'] };
const local = new LocalExecutor({ env, cwd: dir });

function fifo(name: string): string {
  const p = join(dir, name);
  execFileSync('mkfifo', [p]);
  return p;
}

describe('LocalExecutor', () => {
  test('streams stdout and stderr line by line as they come, and returns the exit code', async () => {
    const lines: string[] = [];
    const r = await local.run(
      'w1',
      { shell: 'echo one; echo two >&2; printf "three"; exit 3' },
      { onOutput: (s, l) => lines.push(`${s}:${l}`) },
    );
    assert.equal(r.exitCode, 3);
    assert.equal(r.timedOut, false);
    assert.deepEqual(lines.sort(), ['stderr:two', 'stdout:one', 'stdout:three']);
    assert.equal(r.stderrTail, 'two\n');
  });

  test('argv is passed as is, without a shell', async () => {
    const lines: string[] = [];
    await local.run(
      'w1',
      { argv: ['printf', '%s|', 'a b', '$HOME', "c'd"] },
      { onOutput: (_, l) => lines.push(l) },
    );
    assert.deepEqual(lines, ["a b|$HOME|c'd|"]);
  });

  test('a recorded process runs until the command ends; the probe says so, and gone afterwards', async () => {
    const hold = fifo('hold');
    let started: StartedProcess | undefined;
    let release: Promise<void> | undefined;
    const states: string[] = [];
    const r = await local.run(
      'w1',
      { shell: `echo started; cat ${hold}` },
      {
        onStart: (p) => {
          started = p;
          return Promise.resolve();
        },
        onOutput: (_, l) => {
          if (l !== 'started' || !started) return;
          const p = started;
          release = local.probe(p).then((s) => {
            states.push(s);
            return writeFile(hold, 'done\n');
          });
        },
      },
    );
    await release;
    assert.equal(r.exitCode, 0);
    assert.ok(started && started.pid > 0 && started.startTicks !== '', JSON.stringify(started));
    assert.equal(started.host, os.hostname());
    assert.equal(started.bootId, readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
    assert.deepEqual(states, ['running']);
    assert.equal(await local.probe(started), 'gone');
  });

  test('the command does not run before onStart resolves, and never when it rejects', async () => {
    const marker = join(dir, 'ran');
    let existedAtStart: boolean | undefined;
    await assert.rejects(
      local.run(
        'w1',
        { argv: ['touch', marker] },
        {
          onStart: () => {
            existedAtStart = existsSync(marker);
            return Promise.reject(new Error('could not record'));
          },
        },
      ),
      /could not record/,
    );
    assert.equal(existedAtStart, false);
    assert.equal(existsSync(marker), false, 'the command ran although it was never recorded');
  });

  test('a program that is not on PATH cannot start', async () => {
    const e = await local.run('w1', { argv: ['no-such-program-bosun'] }).catch((x: unknown) => x);
    assert.ok(e instanceof ExecError);
    assert.equal(e.message, 'spawn no-such-program-bosun ENOENT');
  });

  test('a timeout kills the command', async () => {
    const r = await local.run('w1', { argv: ['cat', fifo('never')] }, { timeoutMs: 200 });
    assert.deepEqual([r.exitCode, r.timedOut], [null, true]);
  });

  test('an abort ends the command with SIGTERM', async () => {
    const ac = new AbortController();
    const r = await local.run(
      'w1',
      { shell: `echo started; exec cat ${fifo('forever')}` },
      { signal: ac.signal, onOutput: () => ac.abort(new Error('interrupted')) },
    );
    assert.equal(r.exitCode, null);
  });

  test('the probe: another host cannot be told, another boot or a reused pid is gone', async () => {
    const self = { pid: process.pid, startTicks: '', host: os.hostname(), bootId: '' };
    const stat = readFileSync(`/proc/${process.pid}/stat`, 'utf8');
    self.startTicks = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
    assert.equal(await local.probe(self), 'running');
    assert.equal(await local.probe({ ...self, host: 'elsewhere' }), 'unknown');
    assert.equal(await local.probe({ ...self, bootId: 'an-older-boot' }), 'gone');
    assert.equal(await local.probe({ ...self, startTicks: '1' }), 'gone');
  });
});

describe('the sandbox and template executors', () => {
  test("a sandbox node's shims come first on PATH, for that node only", async () => {
    for (const n of ['w1', 'w2']) {
      const bin = join(dir, 'sb', 'nodes', n, 'host', 'bin');
      mkdirSync(bin, { recursive: true });
      writeFileSync(join(bin, 'whoami-node'), `#!/bin/sh\necho ${n}\n`);
      chmodSync(join(bin, 'whoami-node'), 0o755);
    }
    const sb = createSandboxExecutor({ sandboxDir: join(dir, 'sb'), env, cwd: dir });
    const seen: string[] = [];
    await sb.run('w2', { shell: 'whoami-node' }, { onOutput: (_, l) => seen.push(l) });
    assert.deepEqual(seen, ['w2']);
    assert.equal(
      sb.describe('w2', { argv: ['reboot'] }),
      `PATH=${join(dir, 'sb/nodes/w2/host/bin')}:$PATH reboot`,
    );
  });

  test('a template runs its carrier, which hands the remote shell the same words', async () => {
    // A stand-in for ssh: records its arguments, then does what ssh does with them on the far side.
    const log = join(dir, 'ssh.log');
    const ssh = join(dir, 'fake-ssh');
    writeFileSync(ssh, `#!/bin/sh\nprintf '%s\\n' "$@" >> ${log}\nshift\nexec sh -c "$*"\n`);
    chmodSync(ssh, 0o755);
    const t = parseExecTemplate(`${ssh} {node} {command}`);
    assert.ok(t.ok);
    const ex = new TemplateExecutor({ template: t.template, env, cwd: dir });
    const out: string[] = [];
    const r = await ex.run(
      'worker-2',
      { shell: `printf '%s|' "it's" 'a  b'; exit 4` },
      { onOutput: (_, l) => out.push(l) },
    );
    assert.equal(r.exitCode, 4);
    assert.deepEqual(out, ["it's|a  b|"]);
    assert.deepEqual(readFileSync(log, 'utf8').split('\n').slice(0, 2), [
      'worker-2',
      `sh -c 'printf '\\''%s|'\\'' "it'\\''s" '\\''a  b'\\''; exit 4'`,
    ]);
    assert.equal(
      ex.describe('worker-2', { argv: ['apt-get', 'upgrade', '-y'] }),
      `${ssh} worker-2 'apt-get upgrade -y'`,
    );
  });
});
