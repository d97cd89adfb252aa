// bosun upgrade plan end to end on a v1.32.9 sandbox (3 control planes, 4 workers, the demo
// workload): what is available; the plan to v1.34.3 (two hops, the right steps, nodes and batches)
// with its pre-flight (the demo's budget that can never allow an eviction, certificates within
// --window, an object last applied with a removed API); bad input (exit 2, one line); and a kubelet
// made newer on a node by its own shims, reported with the rule it breaks.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { bosunOn, getNode, type CliRun } from './support/drain.ts';
import { eventually, startTestSandbox, type TestSandbox } from './support/sandbox.ts';
import type { UpgradePlanReport } from '../src/upgrade/index.ts';

const DAY = 86_400_000;

describe('bosun upgrade plan on a v1.32.9 sandbox', () => {
  let t: TestSandbox;
  const plan = (...args: string[]): Promise<CliRun> => bosunOn(t, ['upgrade', 'plan', ...args]);
  const planJson = async (...args: string[]): Promise<{ run: CliRun; report: UpgradePlanReport }> => {
    const run = await plan(...args, '-o', 'json');
    return { run, report: JSON.parse(run.out.join('\n')) as UpgradePlanReport };
  };
  /** Runs a shim command on a node, as its recipe would. */
  const onNode = async (node: string, command: string, ...args: string[]): Promise<void> => {
    let err = '';
    const code = await t.sb.runShim(node, command, args, {
      out: () => undefined,
      err: (s) => void (err += s),
    });
    assert.equal(code, 0, `${command} ${args.join(' ')} on ${node}: ${err}`);
  };

  before(async () => {
    t = await startTestSandbox({
      controlPlanes: 3,
      workers: 4,
      version: 'v1.32.9',
      workload: 'demo',
      // Every kube-apiserver serves a certificate that expires in three days.
      pkiNotAfterOverrides: { apiserver: new Date(Date.now() + 3 * DAY) },
    });
  });
  after(async () => {
    await t?.stop();
  });

  test('without --to: the next minor is available; every component is listed; exit 0', async () => {
    const r = await plan();
    assert.equal(r.code, 0, r.err.join('\n'));
    assert.equal(r.out[0], 'Cluster version: v1.32.9 (kubeadm-config), kube-apiserver v1.32.9 answered');
    assert.ok(r.out.includes("Upgrades available in the sandbox's package repository:"));
    assert.ok(r.out.some((l) => /^minor\s+v1\.33\.5\s+bosun upgrade plan --to v1\.33\.5$/.test(l)));
    assert.ok(!r.out.some((l) => /^patch\s/.test(l)), 'v1.32.9 is the newest v1.32 patch');
    for (const node of ['cp-1', 'cp-2', 'cp-3', 'worker-1', 'worker-4'])
      assert.ok(
        r.out.some((l) => new RegExp(`^kubelet\\s+${node}\\s+v1\\.32\\.9$`).test(l)),
        node,
      );
    assert.ok(r.out.some((l) => /^etcd\s+cp-2\s+3\.5\.16-0$/.test(l)));
    assert.ok(
      r.out.some((l) => /^skew\s+ok\s+cluster\s+every component is within the Version Skew Policy$/.test(l)),
    );
    assert.ok(r.out.some((l) => /^etcd\s+ok\s+etcd\s+3 of 3 members Ready \(quorum 2\)/.test(l)));
    assert.ok(
      r.out.some((l) =>
        /^certificates\s+ok\s+certificates\s+\d+ served certificates, none expires within 24h$/.test(l),
      ),
    );
    assert.deepEqual(r.err, []);
  });

  test('--to v1.34.3: two hops; kubelets lag through the first and move once, workers in batches', async () => {
    const { run, report } = await planJson('--to', 'v1.34.3', '--max-unavailable', '2');
    const p = report.plan;
    assert.ok(p);
    assert.deepEqual(
      p.hops.map((h) => [h.from, h.to, h.kubeadmVersion, h.mustMove.length, h.mayLag.length]),
      [
        ['v1.32.9', 'v1.33.5', 'v1.33.5', 0, 7],
        ['v1.33.5', 'v1.34.3', 'v1.34.3', 7, 0],
      ],
    );
    assert.deepEqual(
      p.hops[1]?.steps.map((s) => `${s.id}${s.batch ? ` [${s.batch}]` : ''}`),
      [
        'v1.34.3/etcd-backup',
        'v1.34.3/control-plane/cp-1',
        'v1.34.3/control-plane/cp-2',
        'v1.34.3/control-plane/cp-3',
        'v1.34.3/kubelet/cp-1 [1]',
        'v1.34.3/kubelet/cp-2 [2]',
        'v1.34.3/kubelet/cp-3 [3]',
        'v1.34.3/kubelet/worker-1 [4]',
        'v1.34.3/kubelet/worker-2 [4]',
        'v1.34.3/kubelet/worker-3 [5]',
        'v1.34.3/kubelet/worker-4 [5]',
      ],
    );
    assert.deepEqual(
      p.hops[0]?.steps.map((s) => [s.id, s.kind]),
      [
        ['v1.33.5/etcd-backup', 'etcd-backup'],
        ['v1.33.5/control-plane/cp-1', 'primary-control-plane'],
        ['v1.33.5/control-plane/cp-2', 'control-plane'],
        ['v1.33.5/control-plane/cp-3', 'control-plane'],
      ],
    );
    assert.ok(p.hops.every((h) => h.steps.every((s) => s.skew.legal && !s.done)));
    const primary = p.hops[0]?.steps[1];
    assert.deepEqual(primary?.actions[0], {
      do: 'run',
      recipe: 'apt',
      commands: [
        "sed -i 's#/core:/stable:/v[0-9][0-9.]*/deb/#/core:/stable:/v1.33/deb/#' /etc/apt/sources.list.d/kubernetes.list",
        'apt-get update',
        'apt-mark unhold kubeadm',
        'apt-get install -y kubeadm=1.33.5-1.1',
        'apt-mark hold kubeadm',
        'kubeadm upgrade apply v1.33.5 -y',
      ],
    });
    // The pre-flight: the demo's postgres budget (maxUnavailable: 0) can never allow the drain.
    const f = report.preflight.findings;
    assert.equal(report.preflight.ok, false);
    assert.ok(f.some((x) => x.check === 'skew' && x.severity === 'ok'));
    assert.ok(f.some((x) => x.check === 'etcd' && x.severity === 'ok'));
    assert.ok(f.some((x) => x.check === 'removed-apis' && x.severity === 'ok'));
    assert.ok(f.some((x) => x.check === 'certificates' && x.severity === 'ok'));
    const blocked = f.filter(
      (x) => x.check === 'drain' && x.severity === 'error' && /data\/postgres-\d/.test(x.message),
    );
    assert.ok(blocked.length > 0, JSON.stringify(f, null, 2));
    assert.ok(blocked.every((x) => /^hop 2 batch [45] \(worker-[1-4], worker-[1-4]\)$/.test(x.subject)));
    assert.ok(
      blocked.some((x) =>
        /PodDisruptionBudget data\/postgres \(maxUnavailable: 0\).*can never allow this eviction/.test(
          x.message,
        ),
      ),
    );
    // The control planes' batches drain cleanly.
    assert.ok(
      f.some((x) => x.check === 'drain' && x.severity === 'ok' && x.subject === 'hop 2 batch 1 (cp-1)'),
    );
    assert.equal(run.code, 1);
    assert.deepEqual(run.err.slice(0, 1), [
      `error: the upgrade to v1.34.3 cannot go ahead as the cluster stands: ${f.filter((x) => x.severity === 'error').length} pre-flight errors (see the pre-flight)`,
    ]);
  });

  test('the table shows both hops, their steps and the pre-flight', async () => {
    const r = await plan('--to', 'v1.34.3');
    assert.equal(r.code, 1);
    assert.equal(
      r.out[1],
      'Target: v1.34.3, 2 hops (v1.33.5, v1.34.3); primary control plane cp-1; workers drained 1 at a time',
    );
    assert.ok(r.out.includes('HOP 1: v1.32.9 -> v1.33.5 (kubeadm v1.33.5)'));
    assert.ok(r.out.includes('  kubelets that move: none'));
    assert.ok(r.out.includes('HOP 2: v1.33.5 -> v1.34.3 (kubeadm v1.34.3)'));
    assert.ok(
      r.out.includes('  kubelets that move: cp-1, cp-2, cp-3, worker-1, worker-2, worker-3, worker-4'),
    );
    assert.ok(
      r.out.some((l) =>
        /^v1\.33\.5\/control-plane\/cp-3\s+cp-3\s+-\s+kubeadm upgrade node, kube-proxy and CoreDNS\s+ok$/.test(
          l,
        ),
      ),
    );
    assert.ok(
      r.out.some((l) =>
        /^v1\.34\.3\/kubelet\/worker-4\s+worker-4\s+7\s+drain, kubeadm upgrade node, kubelet and kubectl v1\.34\.3\s+ok$/.test(
          l,
        ),
      ),
    );
    assert.ok(r.out.some((l) => /^PRE-FLIGHT\s+STATUS\s+SUBJECT\s+DETAIL$/.test(l)));
  });

  test('--window 7d reports the kube-apiserver certificates that expire in three days', async () => {
    const { report } = await planJson('--to', 'v1.33.5', '--window', '7d');
    const certs = report.preflight.findings.filter((x) => x.check === 'certificates');
    assert.deepEqual(
      certs.map((x) => [x.severity, x.subject]),
      [
        ['warning', 'kube-apiserver/cp-1'],
        ['warning', 'kube-apiserver/cp-2'],
        ['warning', 'kube-apiserver/cp-3'],
      ],
    );
    assert.match(
      certs[0]?.message ?? '',
      /serves a certificate that expires in 3d \(.*\), within the 7d window$/,
    );
  });

  test('an object last applied with a removed API version is reported', async () => {
    // A Deployment first applied long ago as extensions/v1beta1: its last-applied annotation says so.
    const manifest = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'legacy', namespace: 'default' },
      spec: {
        replicas: 0,
        selector: { matchLabels: { app: 'legacy' } },
        template: {
          metadata: { labels: { app: 'legacy' } },
          spec: { containers: [{ name: 'c', image: 'busybox' }] },
        },
      },
    };
    const old = JSON.stringify({
      apiVersion: 'extensions/v1beta1',
      kind: 'Deployment',
      metadata: { name: 'legacy' },
    });
    const created = await t.kubectl(['create', '-f', '-'], { input: JSON.stringify(manifest) });
    assert.equal(created.code, 0, created.stderr);
    const annotated = await t.kubectl([
      'annotate',
      '--overwrite',
      '-n',
      'default',
      'deployment/legacy',
      `kubectl.kubernetes.io/last-applied-configuration=${old}`,
    ]);
    assert.equal(annotated.code, 0, annotated.stderr);
    try {
      const { report } = await planJson('--to', 'v1.33.5', '--no-certificates');
      const removed = report.preflight.findings.filter((x) => x.check === 'removed-apis');
      assert.deepEqual(
        removed.map((x) => [x.severity, x.subject]),
        [['warning', 'extensions/v1beta1 Deployment']],
      );
      assert.match(
        removed[0]?.message ?? '',
        /1 object was last applied as extensions\/v1beta1 Deployment, not served since v1\.16 \(use apps\/v1\): default\/legacy$/,
      );
    } finally {
      await t.kubectl(['delete', 'deployment', 'legacy', '-n', 'default']);
    }
  });

  for (const tc of [
    {
      args: ['--to', 'v1.99.0'],
      err: "error: --to v1.99.0 is not released: the sandbox's package repository has no v1.99 release (the newest is v1.35.2)",
    },
    { args: ['--to', 'v1.34'], err: 'error: --to "v1.34" is not a Kubernetes version' },
    { args: ['--to', 'v1.31.13'], err: 'error: --to v1.31.13 is older than the cluster (v1.32.9)' },
    {
      args: ['--to', 'v1.33.9'],
      err: "error: --to v1.33.9 is not released: the newest v1.33 release in the sandbox's package repository is v1.33.5",
    },
    {
      args: ['--to', 'v1.33.5', '--max-unavailable', '0%'],
      err: 'error: invalid --max-unavailable "0%": expected a number of workers (1, 3) or a percentage of them (25%)',
    },
  ]) {
    test(`bad input ${tc.args.join(' ')}: one line, exit 2`, async () => {
      const r = await plan(...tc.args);
      assert.equal(r.code, 2);
      assert.deepEqual(r.out, []);
      assert.equal(r.err[0], tc.err);
      assert.equal(r.err.length, 2, r.err.join('\n'));
    });
  }

  test('a malformed recipe file: one line, exit 2', async () => {
    const { writeFileSync } = await import('node:fs');
    const { join } = await import('node:path');
    const file = join(t.dir, 'recipe.yaml');
    writeFileSync(file, 'primary:\n  - kubeadm upgrade apply {version} -y\ncontrolPlane: []\n');
    const r = await plan('--to', 'v1.33.5', '--recipe', file);
    assert.equal(r.code, 2);
    assert.equal(r.err[0], `error: recipe ${file}: "controlPlane" must be a non-empty list of shell lines`);
  });

  test('a kubelet made newer than the control plane is reported with its rule', async () => {
    // What a careless admin does on worker-2: the v1.33 repository, then kubelet 1.33.5.
    await onNode(
      'worker-2',
      'sed',
      '-i',
      's#/core:/stable:/v[0-9][0-9.]*/deb/#/core:/stable:/v1.33/deb/#',
      '/etc/apt/sources.list.d/kubernetes.list',
    );
    await onNode('worker-2', 'apt-get', 'update');
    await onNode('worker-2', 'apt-mark', 'unhold', 'kubelet');
    await onNode('worker-2', 'apt-get', 'install', '-y', 'kubelet=1.33.5-1.1');
    await onNode('worker-2', 'systemctl', 'restart', 'kubelet');
    await eventually(
      'worker-2 reports kubelet v1.33.5',
      async () => (await getNode(t, 'worker-2')).status?.nodeInfo?.kubeletVersion === 'v1.33.5',
      30_000,
    );
    const r = await plan('--no-certificates');
    assert.equal(r.code, 1);
    assert.ok(
      r.out.some((l) =>
        /^skew\s+ERROR\s+kubelet\/worker-2\s+kubelet v1\.33\.5 on worker-2 is newer than kube-apiserver v1\.32\.9 on cp-\d \(kubelet-newer: kubelet must not be newer than kube-apiserver\)$/.test(
          l,
        ),
      ),
      r.out.join('\n'),
    );
    // The plan to v1.33.5 repairs it once every kube-apiserver has moved; worker-2 needs no move.
    const { report } = await planJson('--to', 'v1.33.5', '--no-certificates');
    const steps = report.plan?.hops[0]?.steps ?? [];
    assert.deepEqual(
      steps.slice(1, 4).map((s) => [s.id, s.skew.remaining.map((v) => `${v.rule} ${v.node}`)]),
      [
        ['v1.33.5/control-plane/cp-1', ['kubelet-newer worker-2']],
        ['v1.33.5/control-plane/cp-2', ['kubelet-newer worker-2']],
        ['v1.33.5/control-plane/cp-3', []],
      ],
    );
    assert.ok(!report.plan?.hops[0]?.mustMove.includes('worker-2'));
    assert.equal(report.plan?.legal, true);
  });
});
