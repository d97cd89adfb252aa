// bosun upgrade apply end to end on a v1.32.9 sandbox (3 control planes, 4 workers, the demo
// workload) to v1.34.3: two hops, by `bosun upgrade apply --to v1.34.3 --on-node --yes`, with a
// watcher that records every Node, Pod and PodDisruptionBudget event and judges every instant (the
// Version Skew Policy, the budgets' minimums, how many workers were out at once), a second apply
// racing the first (the lock holds), the API servers restarting under it as kubeadm replaces their
// static pods, and `bosun upgrade status -o json` afterwards. Bad input first: one line, exit 2,
// nothing touched.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Node } from '../src/kube/types.ts';
import type { RolloutJournal } from '../src/journal/index.ts';
import type { UpgradeStatus } from '../src/upgrade/index.ts';
import { bosunOn, type CliRun } from './support/drain.ts';
import { RolloutWatcher, leftovers } from './support/rollout-watcher.ts';
import { startTestSandbox, type TestSandbox } from './support/sandbox.ts';

const TARGET = 'v1.34.3';
const NODES = ['cp-1', 'cp-2', 'cp-3', 'worker-1', 'worker-2', 'worker-3', 'worker-4'];
const MAX_UNAVAILABLE = 2;

describe('bosun upgrade apply on a v1.32.9 sandbox, to v1.34.3', () => {
  let t: TestSandbox;
  const apply = (...args: string[]): Promise<CliRun> =>
    bosunOn(t, ['upgrade', 'apply', ...args, '--backup-dir', join(t.dir, 'backups')]);
  const journalCm = async (): Promise<{ data?: Record<string, string> } | undefined> => {
    const r = await t.kubectl(['get', 'configmap', '-n', 'bosun-system', 'bosun-upgrade', '-o', 'json']);
    return r.code === 0 ? (JSON.parse(r.stdout) as { data?: Record<string, string> }) : undefined;
  };
  const nodes = async (): Promise<Node[]> => (await t.kubectlJson<{ items: Node[] }>(['get', 'nodes'])).items;
  /** Nothing was touched: no journal, no lock entry, every node schedulable and at v1.32.9. */
  const untouched = async (): Promise<void> => {
    assert.equal(await journalCm(), undefined, 'no journal');
    const lease = await t.kubectl(['get', 'lease', '-n', 'bosun-system', 'bosun-lock', '-o', 'json']);
    if (lease.code === 0) assert.doesNotMatch(lease.stdout, /upgrade/, 'no upgrade holds the lock');
    for (const n of await nodes()) {
      assert.notEqual(n.spec?.unschedulable, true, `${n.metadata.name ?? ''} is not cordoned`);
      assert.equal(n.status?.nodeInfo?.kubeletVersion, 'v1.32.9');
    }
  };

  before(async () => {
    t = await startTestSandbox({ controlPlanes: 3, workers: 4, version: 'v1.32.9', workload: 'demo' });
  });
  after(async () => {
    await t?.stop();
  });

  for (const tc of [
    { args: ['--to', 'v1.31.13'], err: 'error: --to v1.31.13 is older than the cluster (v1.32.9)' },
    { args: ['--to', 'v1.34'], err: 'error: --to "v1.34" is not a Kubernetes version' },
    { args: ['--to', 'latest'], err: 'error: --to "latest" is not a Kubernetes version' },
    {
      args: ['--to', 'v1.99.0'],
      err: "error: --to v1.99.0 is not released: the sandbox's package repository has no v1.99 release (the newest is v1.35.2)",
    },
    {
      args: ['--to', TARGET, '--max-unavailable', '-1'],
      err: 'error: invalid --max-unavailable "-1": expected a number of workers (1, 3) or a percentage of them (25%)',
    },
    {
      args: ['--to', TARGET, '--backup-max-age', 'soon'],
      err: 'error: invalid argument "soon" for "--backup-max-age": expected a duration such as 30s, 5m or 1h',
    },
  ])
    test(`bad input ${tc.args.join(' ')}: one line, exit 2, nothing touched`, async () => {
      const r = await apply(...tc.args, '--on-node', '--yes');
      assert.equal(r.code, 2, r.err.join('\n'));
      assert.deepEqual(r.out, []);
      assert.equal(r.err[0], tc.err);
      assert.equal(r.err.length, 2, r.err.join('\n'));
      await untouched();
    });

  test('a malformed recipe file: one line, exit 2, nothing touched', async () => {
    const file = join(t.dir, 'bad-recipe.yaml');
    writeFileSync(
      file,
      'primary:\n  - kubeadm upgrade apply {version} -y\n  - echo {release}\ncontrolPlane: [x]\nworker: [x]\nkubelet: [x]\n',
    );
    const r = await apply('--to', TARGET, '--on-node', '--yes', '--recipe', file);
    assert.equal(r.code, 2);
    assert.equal(
      r.err[0],
      `error: recipe ${file}: primary[1] uses the unknown placeholder {release} (known: {version} {minor} {debVersion} {rpmVersion} {node})`,
    );
    await untouched();
  });

  test('--dry-run prints the commands each node would run through --exec, and touches nothing', async () => {
    const r = await bosunOn(t, [
      'upgrade',
      'apply',
      '--to',
      TARGET,
      '--exec',
      'ssh {node} sudo {command}',
      '--dry-run',
    ]);
    assert.equal(r.code, 0, r.err.join('\n'));
    assert.equal(r.out[0], '# hop 1: v1.32.9 -> v1.33.5');
    // Each line is `sh -c LINE` on the node, the whole command one shell-quoted word for ssh.
    const viaSsh = (node: string, line: string): string => `ssh ${node} sudo 'sh -c '\\''${line}'\\'''`;
    for (const want of [
      viaSsh('cp-1', 'kubeadm upgrade apply v1.33.5 -y'),
      viaSsh('cp-2', 'kubeadm upgrade node'),
      '# v1.34.3/kubelet/worker-4 (cordoned and drained around it)',
      viaSsh('worker-4', 'apt-get install -y kubelet=1.34.3-1.1 kubectl=1.34.3-1.1'),
    ])
      assert.ok(r.out.includes(want), `${want}\n${r.out.join('\n')}`);
    await untouched();
  });

  test('without a terminal and without --yes it refuses, as kubeadm upgrade apply without -y does', async () => {
    // The demo's postgres budget allows no eviction at all: the DBA agrees to one at a time for the
    // upgrade window (without it the pre-flight stops the upgrade, as upgrade plan shows).
    const patched = await t.kubectl([
      'patch',
      'pdb',
      '-n',
      'data',
      'postgres',
      '--type',
      'merge',
      '-p',
      '{"spec":{"maxUnavailable":1}}',
    ]);
    assert.equal(patched.code, 0, patched.stderr);
    const r = await apply('--to', TARGET, '--on-node', '--force', '--delete-emptydir-data');
    assert.equal(r.code, 1);
    assert.equal(
      r.err.at(-2),
      'error: the upgrade to v1.34.3 needs a confirmation, and there is no terminal to ask on',
    );
    assert.equal(r.err.at(-1), 'Pass --yes to confirm it (as kubeadm upgrade apply -y).');
    await untouched();
  });

  let journal: RolloutJournal;
  test('two hops, every instant within the skew policy and the budgets, every node upgraded once; a racing apply is refused', async () => {
    const watcher = await RolloutWatcher.start(t.kubeconfig, { pods: true });
    let race: Promise<CliRun> | undefined;
    const args = [
      'upgrade',
      'apply',
      '--to',
      TARGET,
      '--on-node',
      '--yes',
      '--force',
      '--delete-emptydir-data',
    ];
    let r: CliRun;
    try {
      r = await bosunOn(
        t,
        [
          ...args,
          '--max-unavailable',
          String(MAX_UNAVAILABLE),
          '--backup-dir',
          join(t.dir, 'backups'),
          '-o',
          'json',
        ],
        {
          onOut: (line) => {
            // Once the first holds the lock, a second apply starts beside it.
            if (race === undefined && /"type":"lock","state":"acquired"/.test(line))
              race = bosunOn(t, [...args]);
          },
        },
      );
    } finally {
      await watcher.stop();
    }
    assert.equal(r.code, 0, r.err.join('\n'));
    // -o json: one event per line on stdout, for scripts; every step started and done once.
    const events = r.out.map(
      (l) => JSON.parse(l) as { type: string; id?: string; phase?: string; time: string },
    );
    assert.ok(events.every((e) => typeof e.time === 'string'));
    assert.deepEqual(events.at(-1), { type: 'end', phase: 'succeeded', time: events.at(-1)?.time });
    const done = events.filter((e) => e.type === 'step' && e.phase === 'done').map((e) => e.id);
    assert.equal(done.length, 15, done.join(', '));
    assert.equal(new Set(done).size, 15, 'no step done twice');

    // The second apply said who holds the lock and since when, and did nothing.
    assert.ok(race, 'the second apply was started');
    const second = await race;
    assert.equal(second.code, 1, second.err.join('\n'));
    assert.match(
      second.err[0] ?? '',
      /^error: another bosun operation holds the cluster lock: the lock is held exclusively by tester@\S+ \(bosun upgrade apply\) pid \d+\/[0-9a-f]{6} \(upgrade\) since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/,
    );

    const report = watcher.report();
    assert.ok(report.events > 100, `recorded ${report.events} events`);
    assert.deepEqual(report.skew, [], 'at no instant was the Version Skew Policy broken');
    assert.deepEqual(report.budgets, [], 'no budget ever fell below its minimum');
    assert.ok(
      report.maxWorkersOut <= MAX_UNAVAILABLE,
      `at most ${MAX_UNAVAILABLE} workers out at once: ${report.maxWorkersOutAt.join(', ')}`,
    );
    assert.equal(report.maxWorkersOut, MAX_UNAVAILABLE, 'the batches did run in parallel');
    for (const n of NODES)
      assert.deepEqual(
        report.kubeletVersions.get(n),
        ['v1.32.9', TARGET],
        `${n}'s kubelet moved once, straight to the target`,
      );
    for (const cp of ['cp-1', 'cp-2', 'cp-3'])
      assert.deepEqual(
        report.apiserverVersions.get(cp),
        ['v1.32.9', 'v1.33.5', TARGET],
        `${cp}'s kube-apiserver went through each minor once`,
      );

    // The end state: every node at the target, schedulable, no bosun annotation left; workloads Ready.
    const after = await nodes();
    assert.deepEqual(
      after.map((n) => n.status?.nodeInfo?.kubeletVersion),
      NODES.map(() => TARGET),
    );
    assert.deepEqual(leftovers(after), []);
    const workloads = await t.kubectlJson<{
      items: {
        kind: string;
        metadata: { name: string };
        spec: { replicas?: number };
        status?: { readyReplicas?: number; numberReady?: number; desiredNumberScheduled?: number };
      }[];
    }>(['get', 'deployments,statefulsets,daemonsets', '-A']);
    for (const w of workloads.items) {
      const want = w.kind === 'DaemonSet' ? (w.status?.desiredNumberScheduled ?? 0) : (w.spec.replicas ?? 1);
      const got = w.kind === 'DaemonSet' ? (w.status?.numberReady ?? 0) : (w.status?.readyReplicas ?? 0);
      assert.equal(got, want, `${w.kind} ${w.metadata.name} ready`);
    }
    const config = await t.kubectlJson<{ data: { ClusterConfiguration: string } }>([
      'get',
      'configmap',
      '-n',
      'kube-system',
      'kubeadm-config',
    ]);
    assert.match(config.data.ClusterConfiguration, /kubernetesVersion: v1\.34\.3/);

    // The journal: every step done once, by this run; the backup it took is named.
    const cm = await journalCm();
    journal = JSON.parse(cm?.data?.['journal.json'] ?? '') as RolloutJournal;
    assert.equal(journal.phase, 'succeeded');
    assert.deepEqual(
      journal.hops.map((h) => [h.from, h.to, h.steps.length]),
      [
        ['v1.32.9', 'v1.33.5', 4],
        ['v1.33.5', TARGET, 11],
      ],
    );
    for (const s of journal.hops.flatMap((h) => h.steps)) {
      assert.equal(s.state, 'done', s.id);
      assert.equal(s.attempts, 1, `${s.id} ran once`);
      assert.equal(s.doneBy, 'ran', s.id);
    }
    assert.equal(journal.runs.length, 1);
    assert.ok(journal.backups.length >= 1);
    assert.match(journal.backups[0]?.file ?? '', /backups\/etcd-.*\.db$/);
  });

  test('upgrade status -o json shows it finished, per hop and per node', async () => {
    const r = await bosunOn(t, ['upgrade', 'status', '-o', 'json']);
    assert.equal(r.code, 0, r.err.join('\n'));
    const s = JSON.parse(r.out.join('\n')) as UpgradeStatus;
    assert.equal(s.kind, 'UpgradeStatus');
    assert.equal(s.rollout?.id, journal.id);
    assert.equal(s.rollout?.phase, 'succeeded');
    assert.equal(s.rollout?.to, TARGET);
    assert.deepEqual(
      s.hops.map((h) => [h.index, h.to, h.state, h.done, h.total]),
      [
        [1, 'v1.33.5', 'done', 4, 4],
        [2, TARGET, 'done', 11, 11],
      ],
    );
    assert.deepEqual(
      s.nodes.map((n) => [n.name, n.version, n.state]),
      NODES.map((n) => [n, TARGET, 'done']),
    );
    assert.deepEqual(
      s.nodes.find((n) => n.name === 'cp-2')?.steps.map((x) => x.id),
      ['v1.33.5/control-plane/cp-2', 'v1.34.3/control-plane/cp-2', 'v1.34.3/kubelet/cp-2'],
    );
    assert.deepEqual('holders' in s.lock ? s.lock.holders : s.lock, [], 'the lock was released');
  });

  test('apply again: nothing to do, nothing touched', async () => {
    const before = await journalCm();
    const r = await apply('--to', TARGET, '--on-node', '--yes', '--force', '--delete-emptydir-data');
    assert.equal(r.code, 0, r.err.join('\n'));
    assert.deepEqual(r.out, ['upgrade to v1.34.3: nothing to do, the cluster runs it everywhere']);
    assert.deepEqual(await journalCm(), before, 'the journal of the rollout is kept as it was');
  });
});
