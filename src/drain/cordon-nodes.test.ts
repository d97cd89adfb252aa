import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../common/fake-clock.ts';
import { FakeCluster } from '../kube/testing/fake-cluster.ts';
import { fromStatus } from '../kube/errors.ts';
import type { CordonResult } from './cordon.ts';
import { cordonNodes, uncordonNodes } from './cordon-nodes.ts';
import { node } from './testing/fixtures.ts';

const owner = { who: 'alice@laptop (bosun cordon)', why: 'kernel upgrade' };

function setup(): { clock: FakeClock; kube: FakeCluster } {
  const clock = new FakeClock(Date.UTC(2025, 0, 1, 12));
  const kube = new FakeCluster(clock);
  kube.addNode(node('worker-1'));
  kube.addNode(node('worker-2', { unschedulable: true }));
  kube.addNode(node('worker-3'));
  return { clock, kube };
}

test('cordonNodes cordons each node in order and tells each result as it comes', async () => {
  const { clock, kube } = setup();
  const seen: string[] = [];
  const nodes = await kube.listNodes();
  const results = await cordonNodes(
    nodes,
    { owner, dryRun: 'none', onResult: (r) => void seen.push(`${r.node}:${r.action}`) },
    { kube, clock },
  );
  assert.deepEqual(
    results.map((r) => [r.node, r.action, r.ownedByBosun]),
    [
      ['worker-1', 'cordoned', true],
      ['worker-2', 'already-cordoned', false],
      ['worker-3', 'cordoned', true],
    ],
  );
  assert.deepEqual(seen, ['worker-1:cordoned', 'worker-2:already-cordoned', 'worker-3:cordoned']);
  assert.equal(kube.nodes.get('worker-3')?.spec?.unschedulable, true);
});

test('uncordonNodes refuses a node cordoned outside bosun and goes on with the others', async () => {
  const { clock, kube } = setup();
  await cordonNodes(await kube.listNodes(), { owner, dryRun: 'none' }, { kube, clock });
  const results = await uncordonNodes(
    await kube.listNodes(),
    { force: false, dryRun: 'none' },
    { kube, clock },
  );
  assert.deepEqual(
    results.map((r) => [r.node, r.action]),
    [
      ['worker-1', 'uncordoned'],
      ['worker-2', 'refused'],
      ['worker-3', 'uncordoned'],
    ],
  );
  assert.equal(kube.nodes.get('worker-2')?.spec?.unschedulable, true);
  assert.notEqual(kube.nodes.get('worker-3')?.spec?.unschedulable, true);
});

test('uncordonNodes with force uncordons a node cordoned outside bosun', async () => {
  const { clock, kube } = setup();
  const results = await uncordonNodes(
    await kube.listNodes(),
    { force: true, dryRun: 'none' },
    { kube, clock },
  );
  assert.deepEqual(
    results.map((r) => r.action),
    ['already-uncordoned', 'uncordoned', 'already-uncordoned'],
  );
});

test('an API error stops at that node: the ones before keep their cordon, the ones after are untouched', async () => {
  const { clock, kube } = setup();
  kube.failNext(
    'patch',
    'nodes',
    () =>
      fromStatus(
        500,
        { kind: 'Status', code: 500, reason: 'InternalError', message: 'etcd down' },
        { resource: 'nodes' },
      ),
    { name: 'worker-3' },
  );
  kube.addNode(node('worker-4'));
  const seen: CordonResult[] = [];
  const nodes = [node('worker-1'), node('worker-3'), node('worker-4')];
  await assert.rejects(
    cordonNodes(nodes, { owner, dryRun: 'none', onResult: (r) => void seen.push(r) }, { kube, clock }),
    /etcd down/,
  );
  assert.deepEqual(
    seen.map((r) => r.node),
    ['worker-1'],
  );
  assert.equal(kube.nodes.get('worker-1')?.spec?.unschedulable, true);
  assert.notEqual(kube.nodes.get('worker-3')?.spec?.unschedulable, true);
  assert.notEqual(kube.nodes.get('worker-4')?.spec?.unschedulable, true);
  assert.equal(kube.calls('patch', 'nodes').length, 2);
});

test('a client dry run cordons nothing and says what it would do', async () => {
  const { clock, kube } = setup();
  const results = await cordonNodes(await kube.listNodes(), { owner, dryRun: 'client' }, { kube, clock });
  assert.deepEqual(
    results.map((r) => [r.action, r.dryRun]),
    [
      ['cordoned', 'client'],
      ['already-cordoned', 'client'],
      ['cordoned', 'client'],
    ],
  );
  assert.equal(kube.calls('patch').length, 0);
  assert.notEqual(kube.nodes.get('worker-1')?.spec?.unschedulable, true);
});
