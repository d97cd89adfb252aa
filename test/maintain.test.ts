// bosun maintain end to end on the sandbox: a full cycle with the node's own reboot shim, a node
// that never comes back (stays cordoned, diagnosis, exit 1, and the same command resumes once it is
// back), a reboot that cuts its command off, a failing command, a node cordoned by someone else, bad
// input, and the reboot of the only control plane, which takes the API server with it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { bosunOn, getNode, nodeOf, pods, workloadsSettled } from './support/drain.ts';
import { settle as settled, startMaintainSandbox } from './support/maintain.ts';
import { KUBECTL, type TestSandbox } from './support/sandbox.ts';

const MAINTENANCE = 'bosun.dev/maintenance';

describe('bosun maintain on the sandbox', () => {
  let t: TestSandbox;
  const settle = (): Promise<boolean> => settled(t);
  /** `maintain NODE --on-node -- reboot`, settling for 1 s, with more flags before the `--`. */
  const rebootArgs = (node: string, ...flags: string[]): string[] => [
    'maintain',
    node,
    '--ignore-daemonsets',
    '--health-settle',
    '1s',
    ...flags,
    '--on-node',
    '--',
    'reboot',
  ];
  /**
   * `bosun maintain NODE --on-node -- reboot` through a whole cycle: exit 0, kubectl's result lines,
   * a new boot ID, the node schedulable and without maintenance state. Returns stderr's lines.
   */
  const maintainReboot = async (node: string): Promise<string[]> => {
    const bootBefore = (await getNode(t, node)).status?.nodeInfo?.bootID;
    const r = await bosunOn(t, rebootArgs(node));
    assert.equal(r.code, 0, r.err.join('\n'));
    assert.deepEqual(
      r.out.filter((l) => !l.startsWith('pod/') && !l.startsWith('evicting pod ')),
      [`node/${node} cordoned`, `node/${node} drained`, `node/${node} uncordoned`, `node/${node} maintained`],
    );
    const n = await getNode(t, node);
    assert.notEqual(n.status?.nodeInfo?.bootID, bootBefore);
    assert.equal(n.spec?.unschedulable, undefined);
    assert.equal(n.metadata.annotations?.[MAINTENANCE], undefined);
    return r.err;
  };

  before(async () => {
    t = await startMaintainSandbox([{ name: 'web', replicas: 4 }]);
  });
  after(async () => {
    await t?.stop();
  });

  test('--on-node reboot: cordon, drain, reboot, wait for a new boot ID and a healthy node, uncordon, workloads Ready again', async () => {
    const err = await maintainReboot('worker-2');
    assert.ok(
      err.some((l) => l.startsWith('node/worker-2 not healthy yet:') && l.includes('not rebooted yet')),
      err.join('\n'),
    );
    assert.equal(await workloadsSettled(t), true, 'the web pods are all Ready again when maintain returns');
  });

  test('a reboot that cuts its command off (exit 255, as ssh does): the new boot ID tells, and maintain goes on', async () => {
    const bootBefore = (await getNode(t, 'worker-1')).status?.nodeInfo?.bootID;
    const r = await bosunOn(t, [
      'maintain',
      'worker-1',
      '--ignore-daemonsets',
      '--health-settle',
      '1s',
      '--expect-reboot',
      '--on-node',
      '--',
      'sh',
      '-c',
      'reboot; exit 255',
    ]);
    assert.equal(r.code, 0, r.err.join('\n'));
    assert.ok(
      r.err.includes(
        'maintain node/worker-1: sh -c reboot; exit 255 exited with 255, as a reboot that cuts it off does; waiting for a new boot ID to tell',
      ),
      r.err.join('\n'),
    );
    assert.equal(r.out.at(-1), 'node/worker-1 maintained');
    assert.notEqual((await getNode(t, 'worker-1')).status?.nodeInfo?.bootID, bootBefore);
    await settle();
  });

  test('a node that never comes back stays cordoned with a diagnosis; once back, the same command finishes without rebooting again', async () => {
    t.sb.setNeverReturn('worker-1', true);
    const r = await bosunOn(t, rebootArgs('worker-1', '--health-timeout', '8s'));
    assert.equal(r.code, 1);
    const errLine = r.err.find((l) => l.startsWith('error: '));
    assert.match(errLine ?? '', /^error: node\/worker-1 is not healthy after 8s: /);
    assert.ok(r.err.includes('node/worker-1 is not healthy:'), r.err.join('\n'));
    assert.ok(
      r.err.some((l) => /^ {2}Ready=Unknown/.test(l)),
      'conditions in the diagnosis',
    );
    assert.ok(
      r.err.some((l) => l.startsWith('Taints: ') && l.includes('node.kubernetes.io/unreachable')),
      'taints in the diagnosis',
    );
    assert.ok(r.err.includes('Recent events:'));
    assert.match(r.err.at(-1) ?? '', /The node stays cordoned/);
    const n = await getNode(t, 'worker-1');
    assert.equal(n.spec?.unschedulable, true);
    assert.match(n.metadata.annotations?.[MAINTENANCE] ?? '', /"phase":"worked"/);

    t.sb.setNeverReturn('worker-1', false); // it boots now
    const again = await bosunOn(t, rebootArgs('worker-1'));
    assert.equal(again.code, 0, again.err.join('\n'));
    assert.ok(again.err.includes('maintain node/worker-1: the command already ran'), again.err.join('\n'));
    assert.equal((await getNode(t, 'worker-1')).spec?.unschedulable, undefined);
    await settle();
  });

  test('a failing command leaves the node cordoned and says how to go on', async () => {
    const r = await bosunOn(t, [
      'maintain',
      'worker-2',
      '--ignore-daemonsets',
      '--',
      'sh',
      '-c',
      'echo "E: could not lock {node}" >&2; exit 3',
    ]);
    assert.equal(r.code, 1);
    assert.ok(r.err.includes('  | E: could not lock worker-2'), r.err.join('\n'));
    assert.equal(
      r.err.find((l) => l.startsWith('error: ')),
      'error: sh -c echo "E: could not lock worker-2" >&2; exit 3 exited with 3',
    );
    assert.equal((await getNode(t, 'worker-2')).spec?.unschedulable, true);
    const fixed = await bosunOn(t, [
      'maintain',
      'worker-2',
      '--ignore-daemonsets',
      '--health-settle',
      '0s',
      '--',
      'true',
    ]);
    assert.equal(fixed.code, 0, fixed.err.join('\n'));
    assert.equal((await getNode(t, 'worker-2')).spec?.unschedulable, undefined);
    await settle();
  });

  test('a node cordoned by someone else is refused and left as it was', async () => {
    assert.equal((await t.kubectl(['cordon', 'worker-2'])).code, 0);
    const before = (await pods(t, 'worker-2')).map((p) => p.metadata.uid).sort();
    const r = await bosunOn(t, ['maintain', 'worker-2', '--ignore-daemonsets', '--', 'true']);
    assert.equal(r.code, 1);
    assert.deepEqual(r.err.slice(-2), [
      'error: node/worker-2 was cordoned outside bosun; bosun maintain will not take it over',
      "Uncordon it first if that cordon is stale, or use bosun drain worker-2 (which leaves someone else's cordon alone).",
    ]);
    assert.deepEqual((await pods(t, 'worker-2')).map((p) => p.metadata.uid).sort(), before);
    assert.equal((await t.kubectl(['uncordon', 'worker-2'])).code, 0);
  });

  test('bad input: an unknown node, --on-node on a node without shims, a zero --health-timeout', async () => {
    const unknown = await bosunOn(t, ['maintain', 'worker-9', '--', 'true']);
    assert.equal(unknown.code, 1);
    assert.equal(unknown.err[0], 'error: nodes "worker-9" not found');
    const noShims = await bosunOn(t, [
      'maintain',
      'worker-2',
      '--on-node',
      '--sandbox-dir',
      t.dir + '/nope',
      '--',
      'reboot',
    ]);
    assert.equal(noShims.code, 1);
    assert.match(
      noShims.err[0] ?? '',
      /^error: --on-node: no host shims for node "worker-2" at .*\/nope\/nodes\/worker-2\/host\/bin$/,
    );
    const zero = await bosunOn(t, ['maintain', 'worker-2', '--health-timeout', '0s', '--', 'true']);
    assert.equal(zero.code, 2);
    assert.equal((await getNode(t, 'worker-2')).spec?.unschedulable, undefined);
  });

  test('an API server gone silent after the command: --health-timeout ends the wait, the node stays cordoned', async () => {
    // The command itself makes the API server slow to answer anything about nodes (the sandbox's
    // latency fault, through its control endpoint): bosun's next requests get no answer in time.
    const silence = [
      `const s = JSON.parse(require('fs').readFileSync(${JSON.stringify(`${t.dir}/state.json`)}, 'utf8'));`,
      "fetch('http://127.0.0.1:' + s.controlPort + '/v1/faults', { method: 'POST',",
      "headers: { authorization: 'Bearer ' + s.token, 'content-type': 'application/json' },",
      "body: JSON.stringify({ match: { resource: 'nodes' }, delayMs: 8000 }) })",
      '.then((r) => process.exit(r.ok ? 0 : 1));',
    ].join(' ');
    let r;
    try {
      r = await bosunOn(t, [
        'maintain',
        'worker-2',
        '--ignore-daemonsets',
        '--health-timeout',
        '2s',
        '--',
        process.execPath,
        '-e',
        silence,
      ]);
    } finally {
      t.sb.clearFaults();
    }
    assert.equal(r.code, 1, r.err.join('\n'));
    assert.match(
      r.err.find((l) => l.startsWith('error: ')) ?? '',
      /^error: .* finished, but the API server did not answer for 2s: no answer within the health timeout \(2s\)$/,
    );
    assert.equal((await getNode(t, 'worker-2')).spec?.unschedulable, true);
    const again = await bosunOn(t, [
      'maintain',
      'worker-2',
      '--ignore-daemonsets',
      '--health-settle',
      '0s',
      '--',
      'true',
    ]);
    assert.equal(again.code, 0, again.err.join('\n'));
    await settle();
  });

  test('a workload scaled down during the maintenance is waited for only up to what it wants now', async () => {
    // The command scales web from 4 to 1 (as a rollout scales its old ReplicaSet down to 0): the
    // 4 Ready pods it had before the drain never come back, and the wait must not hold the node's
    // maintenance until --restore-timeout for them.
    const node = await nodeOf(t, 'web');
    const r = await bosunOn(t, [
      'maintain',
      node,
      '--ignore-daemonsets',
      '--health-settle',
      '0s',
      '--restore-timeout',
      '30s',
      '--',
      KUBECTL,
      '--kubeconfig',
      t.kubeconfig,
      'scale',
      'deployment/web',
      '--replicas=1',
    ]);
    assert.equal(r.code, 0, r.err.join('\n'));
    assert.equal(r.out.at(-1), `node/${node} maintained`);
    const web = await t.kubectlJson<{ spec: { replicas: number }; status?: { readyReplicas?: number } }>([
      'get',
      'deployment',
      'web',
    ]);
    assert.equal(web.spec.replicas, 1);
    const scaled = await t.kubectl(['scale', 'deployment/web', '--replicas=4']);
    assert.equal(scaled.code, 0, scaled.stderr);
    await settle();
  });

  test('the only control plane rebooted: the API server goes with it, and maintain waits for it, then for the node', async () => {
    const err = await maintainReboot('cp-1');
    assert.ok(
      err.some((l) => l.startsWith('node/cp-1 not healthy yet: the API server is not answering: ')),
      err.join('\n'),
    );
  });
});
