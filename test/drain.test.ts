// bosun cordon / uncordon / drain end to end on the sandbox's demo workload: every kubectl flag and
// every refusal, the pre-flight, blocked evictions explained, escalation, ownership of cordons,
// resume, faults from the sandbox, and bad input. One sandbox for the file; the steps run in order
// and each leaves the cluster settled for the next.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { bosunOn, getNode, nodeOf, pods, workloadsSettled } from './support/drain.ts';
import { eventually, startTestSandbox, type TestSandbox } from './support/sandbox.ts';
import type { Pod } from '../src/kube/types.ts';

const CORDONED_BY = 'bosun.dev/cordoned-by';
const MAIN = join(import.meta.dirname, '..', 'src', 'cli', 'main.ts');

function isDaemon(p: Pod): boolean {
  return p.metadata.ownerReferences?.some((o) => o.kind === 'DaemonSet') === true;
}
function isMirror(p: Pod): boolean {
  return p.metadata.annotations?.['kubernetes.io/config.mirror'] !== undefined;
}
function live(list: Pod[]): Pod[] {
  return list.filter(
    (p) => !p.metadata.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed',
  );
}

describe('bosun drain on the sandbox', () => {
  let t: TestSandbox;
  const settle = (): Promise<boolean> => eventually('workloads settled', () => workloadsSettled(t), 60_000);
  const uncordonAll = async (): Promise<void> => {
    for (const n of ['worker-1', 'worker-2', 'worker-3']) await t.kubectl(['uncordon', n]);
  };

  before(async () => {
    // A generous node-monitor grace period: on a loaded machine the fast profile's 1.5 s can mark
    // nodes NotReady (and their pods unready) in the middle of a drain, which is not what these
    // tests are about.
    t = await startTestSandbox({
      controlPlanes: 1,
      workers: 3,
      workload: 'demo',
      timing: { nodeMonitorGraceMs: 15_000 },
    });
  });
  after(async () => {
    await t?.stop();
  });
  // Each test starts from every worker schedulable and every workload Ready, whatever the one
  // before it left behind.
  beforeEach(async () => {
    await uncordonAll();
    await settle();
  });

  test('without flags: every refusal in kubectl words, every offending pod listed, and the node is not cordoned', async () => {
    const node = await nodeOf(t, 'debug-shell');
    const r = await bosunOn(t, ['drain', node]);
    assert.equal(r.code, 1);
    assert.deepEqual(r.out, []);
    const onNode = live(await pods(t, node));
    const ds = onNode.filter(isDaemon).map((p) => `${p.metadata.namespace}/${p.metadata.name}`);
    const dsLine = r.err.find((l) =>
      l.startsWith('cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): '),
    );
    assert.ok(dsLine, r.err.join('\n'));
    for (const p of ds) assert.ok(dsLine.includes(p), `${p} not listed`);
    assert.ok(
      r.err.includes(
        'cannot delete Pods that declare no controller (use --force to override): default/debug-shell',
      ),
      r.err.join('\n'),
    );
    const cache = onNode.filter((p) => p.metadata.labels?.['app'] === 'cache');
    if (cache.length > 0)
      assert.ok(
        r.err.some((l) =>
          l.startsWith(
            'cannot delete Pods with local storage (use --delete-emptydir-data to override): ops/cache-',
          ),
        ),
      );
    assert.match(
      r.err.at(-2) ?? '',
      /^error: cannot drain node ".*": \d+ pod\(s\) refused by kubectl's rules; the node was not cordoned$/,
    );
    assert.equal((await getNode(t, node)).spec?.unschedulable, undefined);
  });

  test("--check prints every pod's fate and what would block, and changes nothing", async () => {
    const node = await nodeOf(t, 'postgres', 'data');
    const r = await bosunOn(t, [
      'drain',
      node,
      '--ignore-daemonsets',
      '--delete-emptydir-data',
      '--force',
      '--check',
      '-o',
      'json',
    ]);
    assert.equal(r.code, 1);
    const plan = JSON.parse(r.out.join('\n')) as {
      nodes: {
        name: string;
        drainable: boolean;
        pods: { namespace: string; name: string; action: string; blockers: { check: string }[] }[];
      }[];
    };
    const n = plan.nodes[0];
    assert.equal(n?.drainable, false);
    const pg = n?.pods.find((p) => p.namespace === 'data');
    assert.deepEqual(
      pg?.blockers.map((b) => b.check),
      ['pdb-never-allows'],
    );
    assert.ok(
      n?.pods.some((p) => p.action === 'skip'),
      'DaemonSet pods are skipped',
    );
    assert.equal((await getNode(t, node)).spec?.unschedulable, undefined);
  });

  test('a budget that never allows stops the drain before the cordon, naming its numbers', async () => {
    const node = await nodeOf(t, 'postgres', 'data');
    const r = await bosunOn(t, ['drain', node, '--ignore-daemonsets', '--delete-emptydir-data', '--force']);
    assert.equal(r.code, 1);
    assert.ok(
      r.err.some((l) =>
        /^pre-flight: data\/postgres-\d: PodDisruptionBudget data\/postgres \(maxUnavailable: 0\): 3 of 3 pods healthy, needs 3, allows 0 disruptions now: it can never allow this eviction/.test(
          l,
        ),
      ),
      r.err.join('\n'),
    );
    assert.match(r.err.at(-1) ?? '', /--ignore-preflight-errors=pdb-never-allows/);
    assert.equal((await getNode(t, node)).spec?.unschedulable, undefined);
  });

  test('insisting: the blocked eviction is retried until --timeout and explained; everything else is evicted; the node stays cordoned; running again resumes', async () => {
    const node = await nodeOf(t, 'postgres', 'data');
    const r = await bosunOn(t, [
      'drain',
      node,
      '--ignore-daemonsets',
      '--delete-emptydir-data',
      '--force',
      '--ignore-preflight-errors=pdb-never-allows',
      '--timeout',
      '8s',
      '-o',
      'json',
    ]);
    assert.equal(r.code, 1, r.err.join('\n'));
    const doc = JSON.parse(r.out.join('\n')) as {
      nodes: {
        outcome: string;
        cordonOwnedByBosun: boolean;
        pods: { namespace: string; outcome: string; category?: string }[];
      }[];
    };
    assert.equal(doc.nodes[0]?.outcome, 'timeout');
    assert.deepEqual(
      doc.nodes[0]?.pods.filter((p) => p.namespace === 'data').map((p) => [p.outcome, p.category]),
      [['blocked', 'budget-exhausted']],
    );
    assert.ok(
      r.err.some((l) =>
        /^blocked: data\/postgres-\d: PodDisruptionBudget data\/postgres \(maxUnavailable: 0\)/.test(l),
      ),
      r.err.join('\n'),
    );
    assert.match(
      r.err.find((l) => l.startsWith('error: ')) ?? '',
      /timed out after 8s with \d+ pod\(s\) left: .*data\/postgres-\d/,
    );
    const n = await getNode(t, node);
    assert.equal(n.spec?.unschedulable, true);
    assert.match(n.metadata.annotations?.[CORDONED_BY] ?? '', /^tester@.* \(bosun drain\)$/);
    // Everything else was evicted, or is waiting for its own budget on a busy machine.
    const left = live(await pods(t, node)).filter((p) => !isDaemon(p) && !isMirror(p));
    assert.ok(left.some((p) => p.metadata.namespace === 'data'));
    assert.ok(
      !left.some((p) => p.metadata.name === 'debug-shell' || p.metadata.labels?.['app'] === 'checkout'),
      left.map((p) => p.metadata.name).join(', '),
    );

    // Same command plus an escalation that deletes in namespace data: resumes, finishes.
    const again = await bosunOn(t, [
      'drain',
      node,
      '--ignore-daemonsets',
      '--delete-emptydir-data',
      '--force',
      '--ignore-preflight-errors=pdb-never-allows',
      '--escalate',
      'after=1s,action=delete,namespace=data',
    ]);
    assert.equal(again.code, 0, again.err.join('\n'));
    assert.ok(again.err.some((l) => l.startsWith('resuming the drain of node/')));
    assert.ok(again.err.some((l) => /^escalation: deleting pod data\/postgres-\d/.test(l)));
    assert.ok(again.out.includes(`node/${node} drained`));
    assert.deepEqual(
      live(await pods(t, node)).filter((p) => !isDaemon(p) && !isMirror(p)),
      [],
    );

    const u = await bosunOn(t, ['uncordon', node]);
    assert.equal(u.code, 0);
    assert.deepEqual(u.out, [`node/${node} uncordoned`]);
    const back = await getNode(t, node);
    assert.equal(back.spec?.unschedulable, undefined);
    assert.equal(
      Object.keys(back.metadata.annotations ?? {}).filter((k) => k.startsWith('bosun.dev/')).length,
      0,
    );
    await settle();
  });

  test('Ctrl-C leaves the node cordoned and says how to resume or give up; running the command again resumes', async () => {
    const node = await nodeOf(t, 'postgres', 'data');
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        MAIN,
        'drain',
        node,
        '--ignore-daemonsets',
        '--delete-emptydir-data',
        '--force',
        '--ignore-preflight-errors=pdb-never-allows',
      ],
      {
        env: { ...process.env, KUBECONFIG: t.kubeconfig, BOSUN_DEBUG: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const blocked = new Promise<void>((resolve) =>
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
        if (stderr.includes('blocked: data/postgres')) resolve();
      }),
    );
    try {
      await Promise.race([blocked, exited.then(() => assert.fail(`bosun drain exited early: ${stderr}`))]);
      child.kill('SIGINT');
      const code = await exited;
      assert.equal(code, 1, stderr);
      assert.match(
        stderr,
        new RegExp(`error: drain of node "${node}" interrupted with \\d+ pod\\(s\\) left\\n`),
      );
      assert.match(
        stderr,
        new RegExp(
          `The node stays cordoned. Run the same command again to continue, or give up with: bosun uncordon ${node}`,
        ),
      );
      assert.ok(!/\n\s+at /.test(stderr), 'no stack trace');
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    assert.equal((await getNode(t, node)).spec?.unschedulable, true);
    const again = await bosunOn(t, [
      'drain',
      node,
      '--ignore-daemonsets',
      '--delete-emptydir-data',
      '--force',
      '--disable-eviction',
    ]);
    assert.equal(again.code, 0, again.err.join('\n'));
    assert.ok(
      again.err.some((l) => l.startsWith(`resuming the drain of node/${node}`)),
      again.err.join('\n'),
    );
    assert.equal((await bosunOn(t, ['uncordon', node])).code, 0);
    await settle();
  });

  test('--disable-eviction deletes the pods (no budget is consulted) and they are recreated elsewhere', async () => {
    const node = await nodeOf(t, 'frontend', 'shop');
    const before = live(await pods(t, node)).filter((p) => p.metadata.namespace === 'shop');
    const r = await bosunOn(t, [
      'drain',
      node,
      '--ignore-daemonsets',
      '--delete-emptydir-data',
      '--force',
      '--disable-eviction',
    ]);
    assert.equal(r.code, 0, r.err.join('\n'));
    for (const p of before)
      assert.ok(r.out.includes(`pod/${p.metadata.name} deleted`), `${p.metadata.name} not reported`);
    await settle();
    await bosunOn(t, ['uncordon', node]);
  });

  test('with every budget allowing, a drain evicts through the eviction API, waits for the replacements to satisfy the budgets, and finishes', async () => {
    assert.equal(
      (
        await t.kubectl([
          'patch',
          'pdb',
          'postgres',
          '-n',
          'data',
          '--type',
          'merge',
          '-p',
          '{"spec":{"maxUnavailable":1}}',
        ])
      ).code,
      0,
    );
    try {
      await eventually(
        'postgres budget allows 1',
        async () =>
          (
            await t.kubectlJson<{ status?: { disruptionsAllowed?: number } }>([
              'get',
              'pdb',
              'postgres',
              '-n',
              'data',
            ])
          ).status?.disruptionsAllowed === 1,
      );
      const node = await nodeOf(t, 'postgres', 'data');
      const before = live(await pods(t, node)).filter((p) => !isDaemon(p) && !isMirror(p));
      const r = await bosunOn(t, [
        'drain',
        node,
        '--ignore-daemonsets',
        '--delete-emptydir-data',
        '--force',
        '--timeout',
        '60s',
      ]);
      assert.equal(r.code, 0, r.err.join('\n'));
      for (const p of before)
        assert.ok(
          r.out.includes(
            `pod/${p.metadata.name} ${p.metadata.name === 'debug-shell' ? 'evicted' : 'evicted'}`,
          ),
          `${p.metadata.name} not reported: ${r.out.join('\n')}`,
        );
      assert.deepEqual(
        live(await pods(t, node)).filter((p) => !isDaemon(p) && !isMirror(p)),
        [],
      );
      await settle();
      await bosunOn(t, ['uncordon', node]);
    } finally {
      await t.kubectl([
        'patch',
        'pdb',
        'postgres',
        '-n',
        'data',
        '--type',
        'merge',
        '-p',
        '{"spec":{"maxUnavailable":0}}',
      ]);
    }
    await settle();
  });

  test('a pod that uses its whole grace period: the drain waits for it; --grace-period shortens it; --skip-wait-for-delete-timeout stops waiting', async () => {
    const slow = (name: string, grace: number): string =>
      JSON.stringify({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name, namespace: 'default' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: name } },
          template: {
            metadata: { labels: { app: name }, annotations: { 'sandbox.bosun.dev/stop-seconds': 'full' } },
            spec: {
              terminationGracePeriodSeconds: grace,
              nodeSelector: { 'kubernetes.io/hostname': 'worker-1' },
              containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }],
            },
          },
        },
      });
    for (const name of ['stubborn-a', 'stubborn-b', 'stubborn-c'])
      assert.equal(
        (await t.kubectl(['create', '--validate=false', '-f', '-'], { input: slow(name, 3) })).code,
        0,
      );
    await settle();
    const drainOnly = async (
      app: string,
      extra: string[],
    ): Promise<{ ms: number; code: number; err: string[] }> => {
      const t0 = Date.now();
      // Pinned to worker-1, their replacements can go nowhere else: the pre-flight says so; insist.
      const r = await bosunOn(t, [
        'drain',
        'worker-1',
        '--pod-selector',
        `app=${app}`,
        '--ignore-preflight-errors=unschedulable',
        ...extra,
      ]);
      return { ms: Date.now() - t0, code: r.code, err: r.err };
    };
    try {
      const full = await drainOnly('stubborn-a', []);
      assert.equal(full.code, 0, full.err.join('\n'));
      assert.ok(full.ms >= 3000, `returned after ${full.ms} ms, before the 3 s grace period ended`);
      const short = await drainOnly('stubborn-b', ['--grace-period', '1']);
      assert.equal(short.code, 0, short.err.join('\n'));
      assert.ok(short.ms >= 1000, `${short.ms} ms`);
      // A pod on a node whose kubelet is gone stays Terminating past its deletionTimestamp (which
      // kube sets to the end of the grace period); kubectl's skip-wait counts from there.
      t.sb.setNeverReturn('worker-1', true);
      await t.sb.rebootNode('worker-1');
      const skipped = await drainOnly('stubborn-c', ['--skip-wait-for-delete-timeout', '1']);
      assert.equal(skipped.code, 0, skipped.err.join('\n'));
      assert.ok(
        skipped.err.some((l) =>
          /^pod "stubborn-c-.*" has DeletionTimestamp older than 1 seconds, skipping$/.test(l),
        ),
        skipped.err.join('\n'),
      );
      assert.ok(skipped.ms >= 4000, `${skipped.ms} ms`);
    } finally {
      t.sb.setNeverReturn('worker-1', false);
      for (const name of ['stubborn-a', 'stubborn-b', 'stubborn-c'])
        await t.kubectl(['delete', 'deployment', name]);
      await eventually(
        'worker-1 Ready',
        async () =>
          (await getNode(t, 'worker-1')).status?.conditions?.some(
            (c) => c.type === 'Ready' && c.status === 'True',
          ),
        30_000,
      );
      await bosunOn(t, ['uncordon', 'worker-1']);
      await settle();
    }
  });

  test('--pod-selector drains only matching pods', async () => {
    const node = await nodeOf(t, 'checkout', 'shop');
    const r = await bosunOn(t, ['drain', node, '--pod-selector', 'app=checkout']);
    assert.equal(r.code, 0, r.err.join('\n'));
    assert.ok(
      r.out.every((l) => !l.startsWith('pod/') || l.startsWith('pod/checkout-')),
      r.out.join('\n'),
    );
    assert.equal(
      live(await pods(t, node)).filter((p) => p.metadata.labels?.['app'] === 'checkout').length,
      0,
    );
    await bosunOn(t, ['uncordon', node]);
    await settle();
  });

  test('--dry-run=client and --dry-run=server change nothing', async () => {
    const node = await nodeOf(t, 'cart', 'shop');
    const before = live(await pods(t, node))
      .map((p) => p.metadata.uid)
      .sort();
    const c = await bosunOn(t, [
      'drain',
      node,
      '--ignore-daemonsets',
      '--delete-emptydir-data',
      '--force',
      '--ignore-preflight-errors=all',
      '--dry-run=client',
    ]);
    assert.equal(c.code, 0, c.err.join('\n'));
    assert.equal(c.out[0], `node/${node} cordoned (dry run)`);
    assert.ok(c.out.some((l) => / \(dry run\)$/.test(l) && l.startsWith('evicting pod ')));
    const s = await bosunOn(t, ['cordon', node, '--dry-run=server']);
    assert.deepEqual(s.out, [`node/${node} cordoned (server dry run)`]);
    assert.equal((await getNode(t, node)).spec?.unschedulable, undefined);
    assert.deepEqual(
      live(await pods(t, node))
        .map((p) => p.metadata.uid)
        .sort(),
      before,
    );
  });

  test('uncordon leaves alone a node cordoned outside bosun, unless --force', async () => {
    assert.equal((await t.kubectl(['cordon', 'worker-3'])).code, 0);
    const r = await bosunOn(t, ['uncordon', 'worker-3']);
    assert.equal(r.code, 1);
    assert.deepEqual(r.err, [
      'error: node/worker-3 was cordoned outside bosun; leaving it cordoned',
      'bosun uncordons only what it cordoned; use --force to uncordon anyway.',
    ]);
    assert.equal((await getNode(t, 'worker-3')).spec?.unschedulable, true);
    const f = await bosunOn(t, ['uncordon', 'worker-3', '--force']);
    assert.equal(f.code, 0);
    assert.deepEqual(f.out, ['node/worker-3 uncordoned']);
    assert.equal((await getNode(t, 'worker-3')).spec?.unschedulable, undefined);
  });

  test('cordon by --selector, with who and why recorded; -o json, -o yaml', async () => {
    const r = await bosunOn(t, [
      'cordon',
      '-l',
      'kubernetes.io/hostname=worker-2',
      '--reason',
      'disk swap',
      '-o',
      'json',
    ]);
    assert.equal(r.code, 0, r.err.join('\n'));
    const doc = JSON.parse(r.out.join('\n')) as {
      nodes: { name: string; action: string; ownedByBosun: boolean; reason: string }[];
    };
    assert.deepEqual(
      doc.nodes.map((n) => [n.name, n.action, n.ownedByBosun, n.reason]),
      [['worker-2', 'cordoned', true, 'disk swap']],
    );
    const again = await bosunOn(t, ['cordon', 'worker-2']);
    assert.deepEqual(again.out, ['node/worker-2 already cordoned']);
    const un = await bosunOn(t, ['uncordon', 'worker-2', '-o', 'yaml']);
    assert.equal(un.code, 0, un.err.join('\n'));
    const undoc = parseYaml(un.out.join('\n')) as {
      nodes: { name: string; action: string; ownedByBosun: boolean }[];
    };
    assert.deepEqual(
      undoc.nodes.map((n) => [n.name, n.action, n.ownedByBosun]),
      [['worker-2', 'uncordoned', true]],
    );
    assert.deepEqual(un.err, [], 'with -o yaml the notes stay out of the way too');
  });

  test('a cordon reason with control characters reaches the terminal escaped, and -o json keeps it whole', async () => {
    const reason = 'disk\x1b]0;owned\x07\nnode/worker-9 uncordoned\r';
    const c = await bosunOn(t, ['cordon', 'worker-1', '--reason', reason, '-o', 'text']);
    assert.equal(c.code, 0, c.err.join('\n'));
    assert.deepEqual(c.out, ['node/worker-1 cordoned']);
    const j = await bosunOn(t, ['cordon', 'worker-1', '-o', 'json']);
    const doc = JSON.parse(j.out.join('\n')) as { nodes: { reason: string }[] };
    assert.equal(doc.nodes[0]?.reason, reason);
    const u = await bosunOn(t, ['uncordon', 'worker-1']);
    assert.equal(u.code, 0, u.err.join('\n'));
    assert.deepEqual(u.out, ['node/worker-1 uncordoned']);
    assert.equal(u.err.length, 1, u.err.join('\n'));
    assert.match(u.err[0] ?? '', /: disk\^\[\]0;owned\\u0007\\nnode\/worker-9 uncordoned\\r\)$/);
    // No control character may reach the terminal.
    for (const l of [...c.out, ...c.err, ...j.out, ...u.out, ...u.err])
      // eslint-disable-next-line no-control-regex -- matching them is the point
      assert.doesNotMatch(l, /[\x00-\x08\x0b-\x1f\x7f-\x9f]/);
  });

  test('bad input: an unknown node changes nothing; a selector matching nothing says so', async () => {
    const r = await bosunOn(t, ['drain', 'worker-1', 'worker-9', '--ignore-daemonsets']);
    assert.equal(r.code, 1);
    assert.equal(r.err[0], 'error: nodes "worker-9" not found');
    assert.equal((await getNode(t, 'worker-1')).spec?.unschedulable, undefined);
    const s = await bosunOn(t, ['drain', '-l', 'no-such-label=x']);
    assert.equal(s.code, 0);
    assert.deepEqual(s.err, ['No resources found']);
  });

  test('throttled (429 with Retry-After, as API priority and fairness answers): bosun and kubectl both wait and carry on', async () => {
    const throttle = (): number =>
      t.sb.addFault({
        match: { verb: 'patch', resource: 'nodes', name: 'worker-2' },
        error: {
          code: 429,
          reason: 'TooManyRequests',
          message: 'Too many requests, please try again later.',
          retryAfterSeconds: 1,
        },
        times: 2,
      });
    let id = throttle();
    try {
      const b = await bosunOn(t, ['cordon', 'worker-2']);
      assert.equal(b.code, 0, b.err.join('\n'));
      assert.deepEqual(b.out, ['node/worker-2 cordoned']);
      assert.equal(t.sb.listFaults().find((f) => f.id === id)?.fired, 2);
      assert.equal((await bosunOn(t, ['uncordon', 'worker-2'])).code, 0);
      t.sb.clearFaults(id);
      id = throttle();
      const k = await t.kubectl(['cordon', 'worker-2']);
      assert.equal(k.code, 0, k.stderr);
      assert.equal(t.sb.listFaults().find((f) => f.id === id)?.fired, 2);
    } finally {
      t.sb.clearFaults(id);
    }
    assert.equal((await t.kubectl(['uncordon', 'worker-2'])).code, 0);
  });

  test('faults: API errors during eviction are retried; an admission webhook denial is explained', async () => {
    const node = await nodeOf(t, 'frontend', 'shop');
    const id = t.sb.addFault({
      match: { verb: 'create', resource: 'pods', subresource: 'eviction' },
      error: { code: 500, reason: 'InternalError', message: 'etcdserver: request timed out' },
      times: 2,
    });
    const deny = t.sb.addFault({
      match: { resource: 'pods', subresource: 'eviction', namespace: 'ops' },
      webhookDeny: { webhook: 'deny-evictions.example.com', message: 'change freeze', code: 403 },
    });
    try {
      const r = await bosunOn(t, [
        'drain',
        node,
        '--ignore-daemonsets',
        '--delete-emptydir-data',
        '--force',
        '--ignore-preflight-errors=all',
        '--timeout',
        '6s',
      ]);
      const opsOnNode = (await pods(t, node)).some((p) => p.metadata.namespace === 'ops' && !isDaemon(p));
      if (opsOnNode) {
        assert.equal(r.code, 1);
        assert.ok(
          r.err.some((l) =>
            l.includes('eviction denied by admission webhook "deny-evictions.example.com": change freeze'),
          ),
          r.err.join('\n'),
        );
      }
      assert.ok(
        r.out.some((l) => /^pod\/frontend-.* evicted$/.test(l)),
        r.out.join('\n'),
      );
    } finally {
      t.sb.clearFaults(id);
      t.sb.clearFaults(deny);
    }
    await bosunOn(t, [
      'drain',
      node,
      '--ignore-daemonsets',
      '--delete-emptydir-data',
      '--force',
      '--ignore-preflight-errors=all',
      '--disable-eviction',
    ]);
    await bosunOn(t, ['uncordon', node]);
    await settle();
    await uncordonAll();
  });
});
