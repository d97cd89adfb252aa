// bosun maintain killed with SIGKILL, as a crash or an OOM kill would end it, and run again.
// - While the command runs: the command's process runs on, orphaned. The rerun must not run the
//   command again beside it, nor uncordon the node while it runs: it waits for it (issue 18).
// - At any point (during the drain, during the command, during the health wait): the rerun ends
//   where an uninterrupted run ends (node uncordoned, workloads back, no bosun annotation left), and
//   no process is left behind.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bosunOn, getNode, workloadsSettled } from './support/drain.ts';
import { processesMentioning } from './support/cli.ts';
import { eventually, startTestSandbox, type TestSandbox } from './support/sandbox.ts';

const MAIN = join(import.meta.dirname, '..', 'src', 'cli', 'main.ts');
const MAINTENANCE = 'bosun.dev/maintenance';

/** `bosun ARGS` as its own process, its stderr lines followed as they come. */
function startBosun(
  t: TestSandbox,
  args: readonly string[],
  onErr: (line: string) => void = () => undefined,
): { child: ChildProcess; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    env: { ...process.env, KUBECONFIG: t.kubeconfig, BOSUN_DEBUG: '' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let pending = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => {
    pending += d;
    let i: number;
    while ((i = pending.indexOf('\n')) >= 0) {
      onErr(pending.slice(0, i));
      pending = pending.slice(i + 1);
    }
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited };
}

describe('bosun maintain killed with SIGKILL, and run again', () => {
  let t: TestSandbox;
  let work: string;
  const settle = (): Promise<boolean> => eventually('workloads settled', () => workloadsSettled(t), 60_000);

  before(async () => {
    t = await startTestSandbox({
      controlPlanes: 1,
      workers: 2,
      workload: 'none',
      timing: { nodeMonitorGraceMs: 3_000, rebootMs: 4_000 },
    });
    const dep = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'default' },
      spec: {
        replicas: 4,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] },
        },
      },
    };
    const r = await t.kubectl(['create', '--validate=false', '-f', '-'], { input: JSON.stringify(dep) });
    assert.equal(r.code, 0, r.stderr);
    await settle();
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
    const first = startBosun(t, args);
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
});
