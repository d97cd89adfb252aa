// bosun upgrade apply when things go wrong, on a v1.32.9 sandbox (1 control plane, 3 workers):
// - a recipe that fails on one worker (its package source points at a mirror the recipe does not
//   know): the rollout stops with that node cordoned, a diagnosis (the command's output, the node's
//   conditions and events) and exit 1; fixed and run again, it resumes at that node;
// - a node that never comes back from the reboot its recipe ends with: stop, node cordoned,
//   diagnosis, exit 1; brought back and run again, it resumes;
// - the API server failing requests under the rollout (503s on the journal's writes and on the
//   reads apply waits with), on top of the kube-apiserver restarts of kubeadm's own steps: ridden out.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RolloutJournal } from '../src/journal/index.ts';
import { APT_RECIPE } from '../src/upgrade/index.ts';
import { bosunOn, getNode, type CliRun } from './support/drain.ts';
import { applyOnNodes, kubeletVersions, upgradeJournal } from './support/upgrade.ts';
import { RolloutWatcher } from './support/rollout-watcher.ts';
import { eventually, startTestSandbox, type TestSandbox } from './support/sandbox.ts';

describe('bosun upgrade apply: a failing recipe, a node that never comes back, a flaky API server', () => {
  let t: TestSandbox;
  const apply = (...args: string[]): Promise<CliRun> => applyOnNodes(t, ...args);
  const journal = (): Promise<RolloutJournal> => upgradeJournal(t);
  const sources = (node: string): string =>
    join(t.dir, 'nodes', node, 'host', 'etc', 'apt', 'sources.list.d', 'kubernetes.list');
  const kubelets = (): Promise<Record<string, string>> => kubeletVersions(t);

  before(async () => {
    t = await startTestSandbox({
      controlPlanes: 1,
      workers: 3,
      version: 'v1.32.9',
      workload: 'none',
      // The fast profile's 1.5 s grace: the nodes miss heartbeats while the only kube-apiserver
      // restarts under kubeadm, and apply must wait for them to report again before it drains one.
    });
  });
  after(async () => {
    t?.sb.setNeverReturn('worker-3', false);
    await t?.stop();
  });

  test('a recipe that fails on one worker stops the rollout there, cordoned, with a diagnosis; fixed, the rerun resumes', async () => {
    // worker-2 installs from a mirror of its own: the recipe's repository line does not match it.
    const original = readFileSync(sources('worker-2'), 'utf8');
    writeFileSync(
      sources('worker-2'),
      `deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] https://mirror.example/kubernetes/v1.32/deb/ /\n`,
    );
    const r = await apply('--to', 'v1.33.5');
    assert.equal(r.code, 1, r.err.join('\n'));
    const errLine = r.err.find((l) => l.startsWith('error: '));
    assert.equal(errLine, 'error: worker-2: apt-get install -y kubeadm=1.33.5-1.1 exited with 100');
    // The diagnosis: the command's output, the node's conditions and events.
    assert.ok(r.err.includes("! E: Version '1.33.5-1.1' for 'kubeadm' was not found"), r.err.join('\n'));
    assert.ok(
      r.err.some((l) => /^Conditions:$/.test(l)),
      r.err.join('\n'),
    );
    assert.ok(
      r.err.some((l) => /^ {2}Ready=True/.test(l)),
      r.err.join('\n'),
    );
    assert.ok(
      r.err.some((l) => /^Recent events:/.test(l)),
      r.err.join('\n'),
    );
    assert.match(
      r.err.at(-1) ?? '',
      /worker-2 is left cordoned\. Fix the cause, then run bosun upgrade apply --to v1\.33\.5 again/,
    );
    // worker-2 stays cordoned by bosun; worker-1 was done before it, worker-3 was not touched.
    const w2 = await getNode(t, 'worker-2');
    assert.equal(w2.spec?.unschedulable, true);
    assert.match(w2.metadata.annotations?.['bosun.dev/cordoned-by'] ?? '', /bosun upgrade apply/);
    assert.deepEqual(await kubelets(), {
      'cp-1': 'v1.33.5',
      'worker-1': 'v1.33.5',
      'worker-2': 'v1.32.9',
      'worker-3': 'v1.32.9',
    });
    assert.equal((await getNode(t, 'worker-3')).spec?.unschedulable, undefined);
    const j = await journal();
    assert.equal(j.phase, 'failed');
    assert.equal(j.outcome?.node, 'worker-2');
    assert.equal(j.outcome?.step, 'v1.33.5/kubelet/worker-2');
    assert.equal(j.outcome?.message, 'worker-2: apt-get install -y kubeadm=1.33.5-1.1 exited with 100');
    assert.deepEqual(
      j.hops.flatMap((h) => h.steps).map((s) => [s.id, s.state]),
      [
        ['v1.33.5/etcd-backup', 'done'],
        ['v1.33.5/control-plane/cp-1', 'done'],
        ['v1.33.5/kubelet/cp-1', 'done'],
        ['v1.33.5/kubelet/worker-1', 'done'],
        ['v1.33.5/kubelet/worker-2', 'failed'],
        ['v1.33.5/kubelet/worker-3', 'pending'],
      ],
    );
    const status = await bosunOn(t, ['upgrade', 'status']);
    assert.ok(
      status.out.some((l) =>
        /^Stopped: worker-2: apt-get install -y kubeadm=1\.33\.5-1\.1 exited with 100$/.test(l),
      ),
      status.out.join('\n'),
    );

    // Fixed: the admin points worker-2 back at pkgs.k8s.io. The rerun resumes at worker-2.
    writeFileSync(sources('worker-2'), original);
    const again = await apply('--to', 'v1.33.5');
    assert.equal(again.code, 0, again.err.join('\n'));
    assert.ok(again.err.some((l) => /resuming the upgrade v1\.32\.9 -> v1\.33\.5/.test(l)));
    assert.ok(
      !again.err.some((l) => /(control-plane\/cp-1|kubelet\/cp-1|kubelet\/worker-1): started/.test(l)),
      again.err.join('\n'),
    );
    assert.deepEqual(await kubelets(), {
      'cp-1': 'v1.33.5',
      'worker-1': 'v1.33.5',
      'worker-2': 'v1.33.5',
      'worker-3': 'v1.33.5',
    });
    const done = await journal();
    assert.equal(done.phase, 'succeeded');
    const attempts = Object.fromEntries(done.hops.flatMap((h) => h.steps).map((s) => [s.id, s.attempts]));
    assert.deepEqual(attempts, {
      'v1.33.5/etcd-backup': 1,
      'v1.33.5/control-plane/cp-1': 1,
      'v1.33.5/kubelet/cp-1': 1,
      'v1.33.5/kubelet/worker-1': 1,
      'v1.33.5/kubelet/worker-2': 2,
      'v1.33.5/kubelet/worker-3': 1,
    });
    assert.equal(
      (await getNode(t, 'worker-2')).spec?.unschedulable,
      undefined,
      'worker-2 uncordoned by the rerun',
    );
  });

  test('a node that never comes back stops the rollout with a diagnosis; brought back, the rerun finishes; 503s are ridden out', async () => {
    // A recipe that also reboots each node after its kubelet (a kernel came with the packages).
    const recipeFile = join(t.dir, 'recipe-reboot.yaml');
    const yaml = (lines: readonly string[]): string =>
      lines.map((l) => `  - ${JSON.stringify(l)}`).join('\n');
    writeFileSync(
      recipeFile,
      `primary:\n${yaml(APT_RECIPE.primary)}\ncontrolPlane:\n${yaml(APT_RECIPE.controlPlane)}\nworker:\n${yaml(APT_RECIPE.worker)}\nkubelet:\n${yaml([...APT_RECIPE.kubelet, 'reboot'])}\n`,
    );
    t.sb.setNeverReturn('worker-3', true);
    const watcher = await RolloutWatcher.start(t.kubeconfig, { pods: true });
    // The API server fails some of the journal's writes and some reads under the rollout.
    t.sb.addFault({
      match: { verb: 'update', resource: 'configmaps', namespace: 'bosun-system' },
      error: {
        code: 503,
        reason: 'ServiceUnavailable',
        message: 'the server is currently unable to handle the request',
      },
      times: 3,
    });
    t.sb.addFault({
      match: { verb: 'list', resource: 'pods', namespace: 'kube-system' },
      error: {
        code: 503,
        reason: 'ServiceUnavailable',
        message: 'the server is currently unable to handle the request',
      },
      times: 3,
    });
    let r: CliRun;
    try {
      r = await apply(
        '--to',
        'v1.34.3',
        '--recipe',
        recipeFile,
        '--health-timeout',
        '8s',
        '--kubelet-timeout',
        '8s',
      );
    } finally {
      await watcher.stop();
    }
    assert.equal(r.code, 1, r.err.join('\n'));
    const errLine = r.err.find((l) => l.startsWith('error: ')) ?? '';
    assert.match(errLine, /^error: worker-3: /);
    assert.ok(
      r.err.some((l) => /^node\/worker-3 is not healthy:$/.test(l)),
      r.err.join('\n'),
    );
    assert.ok(
      r.err.some((l) => /^ {2}Ready=(Unknown|False)/.test(l)),
      r.err.join('\n'),
    );
    const w3 = await getNode(t, 'worker-3');
    assert.equal(w3.spec?.unschedulable, true, 'worker-3 left cordoned');
    const faults = t.sb.listFaults();
    assert.ok(
      faults.every((f) => f.fired === 3),
      `every fault fired: ${JSON.stringify(faults)}`,
    );
    const report = watcher.report();
    assert.deepEqual(report.skew, []);

    // Brought back, it resumes at worker-3 and finishes.
    t.sb.clearFaults();
    t.sb.setNeverReturn('worker-3', false);
    await eventually(
      'worker-3 is back and Ready',
      async () =>
        ((await getNode(t, 'worker-3')).status?.conditions ?? []).some(
          (c) => c.type === 'Ready' && c.status === 'True',
        ),
      60_000,
    );
    const again = await apply('--to', 'v1.34.3', '--recipe', recipeFile);
    assert.equal(again.code, 0, again.err.join('\n'));
    assert.ok(
      !again.err.some((l) => /(control-plane\/cp-1|kubelet\/cp-1|kubelet\/worker-[12]): started/.test(l)),
      again.err.join('\n'),
    );
    assert.deepEqual(await kubelets(), {
      'cp-1': 'v1.34.3',
      'worker-1': 'v1.34.3',
      'worker-2': 'v1.34.3',
      'worker-3': 'v1.34.3',
    });
    for (const n of ['cp-1', 'worker-1', 'worker-2', 'worker-3'])
      assert.equal((await getNode(t, n)).spec?.unschedulable, undefined, `${n} uncordoned`);
  });
});
