// bosun maintain killed with SIGKILL, as a crash or an OOM kill would end it, and run again.
// - While the command runs: the command's process runs on, orphaned. The rerun must not run the
//   command again beside it, nor uncordon the node while it runs: it waits for it (issue 18).
// - At any point (during the drain, during the command, during the health wait): the rerun ends
//   where an uninterrupted run ends (node uncordoned, workloads back, no bosun annotation left), and
//   no process is left behind.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bosunOn, getNode, pods, workloadsSettled } from './support/drain.ts';
import { processesMentioning } from './support/cli.ts';
import { killAt, startBosun, type Trigger } from './support/kill-points.ts';
import { settle as settled, startMaintainSandbox } from './support/maintain.ts';
import { eventually, type TestSandbox } from './support/sandbox.ts';

const MAIN = join(import.meta.dirname, '..', 'src', 'cli', 'main.ts');
const MAINTENANCE = 'bosun.dev/maintenance';

describe('bosun maintain killed with SIGKILL, and run again', () => {
  let t: TestSandbox;
  let work: string;
  const settle = (): Promise<boolean> => settled(t);

  before(async () => {
    // slow: two pods that take 3 s to stop after SIGTERM, so a drain waits long enough to be killed.
    t = await startMaintainSandbox([
      { name: 'web', replicas: 4 },
      { name: 'slow', replicas: 2, podAnnotations: { 'sandbox.bosun.dev/stop-seconds': '3' } },
    ]);
    work = join(t.dir, 'kill-work');
    mkdirSync(work);
  });
  after(async () => {
    // Whatever a failed test left running: the commands mention the work directory.
    for (const p of processesMentioning(work)) process.kill(p.pid, 'SIGKILL');
    await t?.stop();
  });

  test('killed while its command runs: the rerun waits for the orphaned command instead of running it beside it or uncordoning', async () => {
    const ready = join(work, 'ready');
    const hold = join(work, 'hold');
    const again = join(work, 'again');
    const mark = join(work, 'mark');
    execFileSync('mkfifo', [ready, hold]);
    // The first time, the command says it started and then holds until the test lets it go; run
    // again (the `again` file exists), it finishes at once.
    const command = [
      'sh',
      '-c',
      `if [ -e '${again}' ]; then echo again >> '${mark}'; exit 0; fi; echo started > '${ready}'; cat '${hold}' > /dev/null; echo orphan-done >> '${mark}'`,
    ];
    const args = ['maintain', 'worker-1', '--ignore-daemonsets', '--health-settle', '0s', '--', ...command];
    const first = startBosun(args, { KUBECONFIG: t.kubeconfig });
    await readFile(ready, 'utf8'); // the command runs
    first.child.kill('SIGKILL');
    await first.exited;
    const orphans = processesMentioning(hold);
    assert.ok(orphans.length > 0, 'the command runs on after bosun was killed');
    writeFileSync(again, '');

    let waitingLine = '';
    let sawWaiting: () => void = () => undefined;
    const waiting = new Promise<void>((resolve) => (sawWaiting = resolve));
    const rerun = bosunOn(t, args, {
      onErr: (l) => {
        if (/still runs; waiting for it to end/.test(l)) {
          waitingLine = l;
          sawWaiting();
        }
      },
    });
    const first2 = await Promise.race([
      rerun.then(() => 'finished' as const),
      waiting.then(() => 'waiting' as const),
    ]);
    assert.equal(first2, 'waiting', 'the rerun went on while the command it had started before still ran');
    assert.match(
      waitingLine,
      /^maintain node\/worker-1: the command an earlier run started \(pid \d+ on .+\) still runs; waiting for it to end/,
    );
    assert.equal(
      (await getNode(t, 'worker-1')).spec?.unschedulable,
      true,
      'still cordoned while the command runs',
    );
    assert.equal(existsSync(mark), false, 'the command was not run again beside it');

    await writeFile(hold, 'go\n'); // the orphaned command ends
    const r = await rerun;
    assert.equal(r.code, 0, r.err.join('\n'));
    assert.deepEqual(
      readFileSync(mark, 'utf8').split('\n'),
      ['orphan-done', 'again', ''],
      'run again only after the orphan ended',
    );
    const n = await getNode(t, 'worker-1');
    assert.equal(n.spec?.unschedulable, undefined);
    assert.equal(n.metadata.annotations?.[MAINTENANCE], undefined);
    assert.deepEqual(processesMentioning(work), [], 'no process left behind');
    await settle();
  });

  test('with --expect-reboot, killed after its reboot command ended but before the new boot ID: the rerun does not reboot the node again', async () => {
    const node = 'worker-2';
    const dir = join(work, 'issued');
    mkdirSync(dir);
    const mark = join(dir, 'mark');
    // The command issues the reboot and ends at once, cut off as `ssh NODE sudo reboot` often is
    // (exit 255): the run that started it waits for a new boot ID to tell, its process recorded.
    const args = [
      'maintain',
      node,
      '--ignore-daemonsets',
      '--health-settle',
      '0s',
      '--expect-reboot',
      // Bounds a rerun that would run the command again (its reboot would never come back).
      '--health-timeout',
      '30s',
      '--on-node',
      '--',
      'sh',
      '-c',
      `echo ran >> '${mark}'; reboot; exit 255`,
    ];
    const heldDown = `node ${node}: does not come back (fault)`;
    const held = t.logs.filter((l) => l === heldDown).length;
    // The node stays down until the rerun has decided, so that the kill comes before the new boot
    // ID for sure, and the rerun finds the boot ID of before.
    t.sb.setNeverReturn(node, true);
    try {
      const first = startBosun(args, { KUBECONFIG: t.kubeconfig });
      const how = await killAt(first, {
        name: 'after the command ended',
        stderr: /as a reboot that cuts it off does; waiting for a new boot ID to tell$/,
      });
      assert.equal(how, 'killed', `bosun ended before its kill point:\n${first.stderr()}`);
      assert.equal((await first.exited).signal, 'SIGKILL');
      assert.deepEqual(readFileSync(mark, 'utf8').split('\n'), ['ran', '']);
      // Down for good (until released): released earlier, the reboot's own boot would come too.
      await eventually(
        'the node held down',
        () => t.logs.filter((l) => l === heldDown).length > held,
        30_000,
      );

      const rerun = await bosunOn(t, args, {
        onErr: (l) => {
          // The rerun waits for the new boot ID instead of running the command again: let it come.
          if (/has ended; not running it again: waiting for a new boot ID to tell$/.test(l))
            t.sb.setNeverReturn(node, false);
        },
      });
      assert.equal(rerun.code, 0, rerun.err.join('\n'));
      assert.match(
        rerun.err.join('\n'),
        new RegExp(
          `^maintain node/${node}: the command an earlier run started \\(pid \\d+ on .+ at .+\\) has ended; not running it again: waiting for a new boot ID to tell$`,
          'm',
        ),
      );
      assert.ok(!rerun.err.some((l) => /: running /.test(l)), rerun.err.join('\n'));
      assert.equal(rerun.out.at(-1), `node/${node} maintained`);
    } finally {
      t.sb.setNeverReturn(node, false);
    }
    assert.deepEqual(readFileSync(mark, 'utf8').split('\n'), ['ran', ''], 'the command ran once');
    const n = await getNode(t, node);
    assert.equal(n.spec?.unschedulable, undefined);
    assert.equal(n.metadata.annotations?.[MAINTENANCE], undefined);
    assert.deepEqual(processesMentioning(dir), [], 'no process left behind');
    await settle();
  });

  /** What an uninterrupted run leaves: the node schedulable, no bosun annotation, every workload Ready. */
  const endState = async (node: string): Promise<unknown> => {
    const n = await getNode(t, node);
    return {
      unschedulable: n.spec?.unschedulable ?? false,
      bosunAnnotations: Object.keys(n.metadata.annotations ?? {}).filter((k) => k.startsWith('bosun.dev/')),
      workloadsReady: await workloadsSettled(t),
    };
  };

  test('killed anywhere (during the drain, the command, the health wait), the rerun ends as an uninterrupted run does', async () => {
    const dir = join(work, 'anywhere');
    mkdirSync(dir);
    const ready = join(dir, 'ready');
    const hold = join(dir, 'hold');
    execFileSync('mkfifo', [ready, hold]);
    // The work: a reboot through the node's shim; asked to, it first says it started and holds
    // until the test lets it go (once).
    const script = join(dir, 'reboot-node.sh');
    writeFileSync(
      script,
      [
        '#!/bin/sh',
        `if [ "$2" = hold ] && [ ! -e '${dir}/held' ]; then : > '${dir}/held'; echo started > '${ready}'; cat '${hold}' > /dev/null; fi`,
        'exec reboot',
        '',
      ].join('\n'),
    );
    chmodSync(script, 0o755);
    const args = (node: string, mode: string): string[] => [
      'maintain',
      node,
      '--ignore-daemonsets',
      '--health-settle',
      '1s',
      '--expect-reboot',
      '--on-node',
      '--',
      script,
      '{node}',
      mode,
    ];
    const slowNode = (await pods(t)).find((p) => p.metadata.labels?.['app'] === 'slow')?.spec?.nodeName;
    assert.ok(slowNode, 'a slow pod is scheduled');

    // killAt: where the killed run is killed; resumes: a line the rerun must print.
    const scenarios: {
      name: string;
      node: string;
      mode: string;
      killAt: Omit<Trigger, 'name'>;
      resumes: RegExp;
    }[] = [
      {
        name: 'during the drain',
        node: slowNode,
        mode: 'go',
        killAt: { stdout: /^evicting pod default\/slow-/ },
        resumes: /^maintain node\/\S+: resuming; cordon and drain$/,
      },
      {
        name: 'during the command',
        node: slowNode,
        mode: 'hold',
        // Once the command itself runs (it marks that, then holds on the FIFO).
        killAt: { dir: { path: dir, when: (e) => e.some((x) => x.name === 'held') } },
        resumes: /still runs; waiting for it to end/,
      },
      {
        name: 'during the health wait',
        node: slowNode,
        mode: 'go',
        // Once the new boot ID is seen (the window between the reboot command's end and the node
        // going down is not this scenario: there a rerun cannot tell whether the command ran).
        killAt: { stderr: /^node\/\S+ (not healthy yet: (?!.*not rebooted yet)|is healthy)/ },
        resumes: /^maintain node\/\S+: (the command already ran|waiting until the node is healthy)$/,
      },
    ];
    for (const sc of scenarios) {
      const run = startBosun(args(sc.node, sc.mode), { KUBECONFIG: t.kubeconfig });
      const [how] = await Promise.all([
        killAt(run, { name: sc.name, ...sc.killAt }),
        // The held command says it started on the FIFO, which blocks until it is read.
        sc.mode === 'hold' ? readFile(ready, 'utf8') : undefined,
      ]);
      assert.equal(how, 'killed', `${sc.name}: bosun ended before its kill point:\n${run.stderr()}`);
      assert.equal((await run.exited).signal, 'SIGKILL', `${sc.name}: bosun was killed`);

      const rerun = await bosunOn(t, args(sc.node, sc.mode), {
        onErr: (l) => {
          // The orphaned command of the killed run still holds: let it go once the rerun waits for it.
          if (/still runs; waiting for it to end/.test(l)) void writeFile(hold, 'go\n');
        },
      });
      assert.equal(rerun.code, 0, `${sc.name}: ${rerun.err.join('\n')}`);
      assert.equal(rerun.out.at(-1), `node/${sc.node} maintained`, sc.name);
      // Killed during the command: the orphaned command reboots the node once it is let go; running
      // it again after it ended would reboot the node a second time.
      if (sc.name !== 'during the drain')
        assert.ok(!rerun.err.some((l) => /: running /.test(l)), `${sc.name}: the command ran again`);
      assert.ok(
        rerun.err.some((l) => sc.resumes.test(l)),
        `${sc.name}: ${rerun.err.join('\n')}`,
      );
      await settle();
      assert.deepEqual(
        await endState(sc.node),
        { unschedulable: false, bosunAnnotations: [], workloadsReady: true },
        sc.name,
      );
      assert.deepEqual(processesMentioning(dir), [], `${sc.name}: no process left behind`);
      assert.deepEqual(
        processesMentioning(MAIN).filter((p) => p.pid === run.pid),
        [],
        sc.name,
      );
    }

    // The same work, never interrupted, ends the same way.
    const r = await bosunOn(t, args(slowNode, 'go'));
    assert.equal(r.code, 0, r.err.join('\n'));
    await settle();
    assert.deepEqual(await endState(slowNode), {
      unschedulable: false,
      bosunAnnotations: [],
      workloadsReady: true,
    });
  });
});
