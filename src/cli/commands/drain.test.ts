// bosun cordon|uncordon|drain|maintain through the CLI without a cluster: every usage error is exit
// 2 with one line and kubectl's "See ... -h" hint, and nothing is attempted. (Runs against a
// cluster are end-to-end tests in test/.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runOffline as bosun } from '../testing/run.ts';

const home = mkdtempSync(path.join(os.tmpdir(), 'bosun-drain-cli-'));
test.after(() => rmSync(home, { recursive: true, force: true }));

for (const tc of [
  { argv: ['drain'], err: 'error: USAGE: drain NODE [flags]', help: 'drain' },
  { argv: ['cordon'], err: 'error: USAGE: cordon NODE [flags]', help: 'cordon' },
  {
    argv: ['uncordon', 'w1', '-l', 'a=b'],
    err: 'error: cannot specify both a node name and a --selector option',
    help: 'uncordon',
  },
  {
    argv: ['drain', 'w1', '--dry-run=maybe'],
    err: 'error: Invalid dry-run value (maybe). Must be "none", "server", or "client".',
    help: 'drain',
  },
  {
    argv: ['cordon', 'w1', '--dry-run', 'later'],
    err: 'error: Invalid dry-run value (later). Must be "none", "server", or "client".',
    help: 'cordon',
  },
  {
    argv: ['drain', 'w1', '--grace-period=abc'],
    err: 'error: invalid argument "abc" for "--grace-period": must be an integer',
    help: 'drain',
  },
  {
    argv: ['drain', 'w1', '--timeout=soon'],
    err: 'error: invalid argument "soon" for "--timeout": expected a duration such as 30s, 5m or 1h',
    help: 'drain',
  },
  {
    argv: ['drain', 'w1', '--timeout=-5s'],
    err: 'error: invalid argument "-5s" for "--timeout": expected a duration such as 30s, 5m or 1h',
    help: 'drain',
  },
  {
    argv: ['drain', 'w1', '--skip-wait-for-delete-timeout=-1'],
    err: 'error: invalid argument "-1" for "--skip-wait-for-delete-timeout": must be an integer of zero or more',
    help: 'drain',
  },
  {
    argv: ['drain', 'w1', '--eviction-concurrency=0'],
    err: 'error: invalid argument "0" for "--eviction-concurrency": must be an integer of at least 1',
    help: 'drain',
  },
  {
    argv: ['drain', 'w1', '--pod-selector', 'app in ('],
    err: /^error: --pod-selector=<pod_selector> must be a valid label selector: unable to parse requirement/,
    help: 'drain',
  },
  {
    argv: ['drain', 'w1', '--escalate', 'after=5m,action=delete'],
    err: 'error: invalid escalation rule "after=5m,action=delete": a rule that deletes pods must name a namespace or a selector',
    help: 'drain',
  },
  {
    argv: ['drain', 'w1', '--check', '--dry-run=client'],
    err: 'error: --check and --dry-run cannot be used together: --check already changes nothing',
    help: 'drain',
  },
  {
    argv: ['drain', 'w1', '--chunk-size', '-1'],
    err: 'error: invalid argument "-1" for "--chunk-size": must be an integer of zero or more',
    help: 'drain',
  },
  {
    argv: ['drain', 'w1', '-o', 'wide'],
    err: 'error: unable to match a printer suitable for the output format "wide", allowed formats are: table,json,yaml',
    help: 'drain',
  },
  { argv: ['maintain', 'w1'], err: /^error: maintain needs a command after --/, help: 'maintain' },
  {
    argv: ['maintain', 'w1', '--health-timeout', '0', '--', 'true'],
    err: 'error: --health-timeout must be greater than zero',
    help: 'maintain',
  },
  {
    argv: ['maintain', 'w1', '--sandbox-dir', '/x', '--', 'true'],
    err: 'error: --sandbox-dir only makes sense with --on-node',
    help: 'maintain',
  },
]) {
  test(`bosun ${tc.argv.join(' ')} is a usage error (exit 2)`, async () => {
    const r = await bosun(tc.argv, home);
    assert.equal(r.code, 2, r.err.join('\n'));
    assert.deepEqual(r.out, []);
    if (typeof tc.err === 'string') assert.equal(r.err[0], tc.err);
    else assert.match(r.err[0] ?? '', tc.err);
    assert.equal(r.err[1], `See 'bosun ${tc.help} -h' for help and examples`);
    assert.equal(r.err.length, 2);
    assert.equal(r.execs, 0);
  });
}

test('--ignore-preflight-errors names the known checks when given an unknown one', async () => {
  const r = await bosun(['drain', 'w1', '--ignore-preflight-errors=pdb-never-allows,bogus'], home);
  assert.equal(r.code, 2);
  assert.deepEqual(r.err, [
    'error: unknown pre-flight check "bogus" in --ignore-preflight-errors',
    'Known checks: all, pdb-never-allows, multiple-pdbs, unschedulable, opt-out, forbidden',
  ]);
});

test('without any kubeconfig, one line says where bosun looked and how to get a cluster', async () => {
  const r = await bosun(['drain', 'worker-1', '--ignore-daemonsets'], home);
  assert.equal(r.code, 1);
  assert.deepEqual(r.err, [
    'error: no kubeconfig found: pass --kubeconfig, set KUBECONFIG, or create ~/.kube/config',
    'To try bosun on a cluster of its own: bosun sandbox up (it prints the KUBECONFIG to use).',
  ]);
});

test('a missing --kubeconfig file is a usage error', async () => {
  const r = await bosun(['--kubeconfig', path.join(home, 'nope'), 'cordon', 'worker-1'], home);
  assert.equal(r.code, 2);
  assert.equal(r.err[0], `error: stat ${path.join(home, 'nope')}: no such file or directory`);
});

test("drain -h uses kubectl's flag wording and lists the pre-flight and escalation", async () => {
  const r = await bosun(['drain', '-h'], home);
  assert.equal(r.code, 0);
  const help = r.out.join('\n');
  for (const s of [
    'Drain node in preparation for maintenance',
    'Continue even if there are pods that do not declare a controller.',
    'Ignore DaemonSet-managed pods.',
    'Continue even if there are pods using emptyDir (local data that will be deleted when the node is drained).',
    'Period of time in seconds given to each pod to terminate gracefully. If negative, the default value specified in the pod will be used.',
    'The length of time to wait before giving up, zero means infinite',
    'Force drain to use delete, even if eviction is supported. This will bypass checking PodDisruptionBudgets, use with caution.',
    'If pod DeletionTimestamp older than N seconds, skip waiting for the pod.  Seconds must be greater than 0 to skip.',
    'Return large lists in chunks rather than all at once. Pass 0 to disable.',
    'If client strategy, only print the object that would be sent, without sending it. If server strategy, submit server-side request without persisting the resource.',
    '--ignore-preflight-errors',
    '--escalate',
    '# Drain node "foo", even if there are pods not managed by a replication controller, replica set, job, daemon set, or stateful set on it',
  ]) {
    assert.ok(help.includes(s), `help lacks: ${s}`);
  }
});
