// bosun maintain with each executor on the sandbox: the command run where bosun runs (local), on a
// sandbox node's shims (--on-node, see maintain.test.ts for the whole cycle), and through an
// --exec template pointed at a stand-in for ssh that records what it was asked to run and then runs
// it as a remote shell would, on the sandbox node (its shims first on PATH), so a reboot really
// reboots that node. Also the template's usage errors.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bosunOn, getNode } from './support/drain.ts';
import { settle as settled, startMaintainSandbox } from './support/maintain.ts';
import type { TestSandbox } from './support/sandbox.ts';

const MAINTENANCE = 'bosun.dev/maintenance';

describe('bosun maintain with each executor', () => {
  let t: TestSandbox;
  let standIn: { ssh: string; log: string };
  const settle = (): Promise<boolean> => settled(t);

  before(async () => {
    t = await startMaintainSandbox([{ name: 'web', replicas: 3 }]);

    // The stand-ins: `ssh NODE WORDS...` appends its arguments (one per line, then a blank line)
    // to the log, then joins WORDS with spaces, as ssh does, and hands that line to a shell on
    // the node; there `sudo` just runs what follows.
    const bin = join(t.dir, 'stand-in');
    mkdirSync(bin);
    const log = join(bin, 'ssh.log');
    const ssh = join(bin, 'ssh');
    writeFileSync(
      ssh,
      [
        '#!/bin/sh',
        `printf '%s\\n' "$@" '' >> '${log}'`,
        'node=$1; shift',
        `PATH='${t.dir}'/nodes/$node/host/bin:'${bin}'/remote:$PATH exec sh -c "$*"`,
        '',
      ].join('\n'),
    );
    chmodSync(ssh, 0o755);
    mkdirSync(join(bin, 'remote'));
    writeFileSync(join(bin, 'remote', 'sudo'), '#!/bin/sh\nexec "$@"\n');
    chmodSync(join(bin, 'remote', 'sudo'), 0o755);
    standIn = { ssh, log };
  });
  after(async () => {
    await t?.stop();
  });

  test('local: the command runs where bosun runs, with {node} replaced', async () => {
    const out = join(t.dir, 'local-ran');
    const r = await bosunOn(t, [
      'maintain',
      'worker-1',
      '--ignore-daemonsets',
      '--health-settle',
      '0s',
      '--',
      'sh',
      '-c',
      `echo "patched {node}" | tee '${out}'`,
    ]);
    assert.equal(r.code, 0, r.err.join('\n'));
    assert.equal(readFileSync(out, 'utf8'), 'patched worker-1\n');
    assert.ok(r.err.includes('  | patched worker-1'), r.err.join('\n'));
    assert.equal(r.out.at(-1), 'node/worker-1 maintained');
    await settle();
  });

  test("--exec 'STAND-IN {node} sudo {command}': the carrier gets the command as one word, and the node really reboots", async () => {
    const bootBefore = (await getNode(t, 'worker-2')).status?.nodeInfo?.bootID;
    const r = await bosunOn(t, [
      'maintain',
      'worker-2',
      '--ignore-daemonsets',
      '--health-settle',
      '1s',
      '--expect-reboot',
      '--exec',
      `${standIn.ssh} {node} sudo {command}`,
      '--',
      'sh',
      '-c',
      `echo "it's {node}"; reboot`,
    ]);
    assert.equal(r.code, 0, r.err.join('\n'));
    assert.deepEqual(
      r.out.filter((l) => !l.startsWith('pod/') && !l.startsWith('evicting pod ')),
      [
        'node/worker-2 cordoned',
        'node/worker-2 drained',
        'node/worker-2 uncordoned',
        'node/worker-2 maintained',
      ],
    );
    assert.ok(r.err.includes("  | it's worker-2"), r.err.join('\n'));
    assert.deepEqual(readFileSync(standIn.log, 'utf8').split('\n\n')[0]?.split('\n'), [
      'worker-2',
      'sudo',
      `sh -c 'echo "it'\\''s worker-2"; reboot'`,
    ]);
    const n = await getNode(t, 'worker-2');
    assert.notEqual(n.status?.nodeInfo?.bootID, bootBefore, 'the sandbox node rebooted');
    assert.equal(n.spec?.unschedulable, undefined);
    assert.equal(n.metadata.annotations?.[MAINTENANCE], undefined);
    await settle();
  });

  test('--exec usage errors: with --on-node, a template without a place for the command, an unterminated quote', async () => {
    for (const tc of [
      {
        args: ['--exec', 'ssh {node} sudo {command}', '--on-node'],
        err: 'error: --exec and --on-node cannot be used together: choose where COMMAND runs',
      },
      {
        args: ['--exec', 'ssh {node} sudo'],
        err: 'error: invalid --exec template: the template has neither {command} nor {argv}: where does the command go?',
      },
      {
        args: ['--exec', "ssh '{node} {command}"],
        err: "error: invalid --exec template: unterminated ' quote at column 5",
      },
    ]) {
      const r = await bosunOn(t, ['maintain', 'worker-1', ...tc.args, '--', 'true']);
      assert.equal(r.code, 2, tc.err);
      assert.deepEqual(r.err, [tc.err, "See 'bosun maintain -h' for help and examples"]);
    }
    assert.equal((await getNode(t, 'worker-1')).spec?.unschedulable, undefined, 'nothing was touched');
  });
});
