import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../common/fake-clock.ts';
import { FakeCluster } from '../kube/testing/fake-cluster.ts';
import { fromStatus } from '../kube/errors.ts';
import {
  CORDONED_AT,
  CORDONED_BY,
  CORDON_REASON,
  DRAIN_STATE,
  MAINTENANCE_STATE,
} from '../kube/annotations.ts';
import { cordonNode, uncordonNode } from './cordon.ts';
import { node } from './testing/fixtures.ts';

function setup(): { clock: FakeClock; kube: FakeCluster } {
  const clock = new FakeClock(Date.UTC(2025, 0, 1, 12));
  const kube = new FakeCluster(clock);
  kube.addNode(node('worker-1'));
  return { clock, kube };
}
const owner = { who: 'alice@laptop (bosun cordon)', why: 'kernel upgrade' };

test('cordon sets unschedulable and who, why and when in one patch', async () => {
  const { clock, kube } = setup();
  const r = await cordonNode('worker-1', { owner, dryRun: 'none' }, { kube, clock });
  assert.equal(r.action, 'cordoned');
  const n = kube.nodes.get('worker-1');
  assert.equal(n?.spec?.unschedulable, true);
  assert.deepEqual(
    [
      n?.metadata.annotations?.[CORDONED_BY],
      n?.metadata.annotations?.[CORDON_REASON],
      n?.metadata.annotations?.[CORDONED_AT],
    ],
    ['alice@laptop (bosun cordon)', 'kernel upgrade', '2025-01-01T12:00:00Z'],
  );
  assert.equal(kube.calls('patch').length, 1);
});

test('cordon of a cordoned node changes nothing and says who owns the cordon', async () => {
  const { clock, kube } = setup();
  await cordonNode('worker-1', { owner, dryRun: 'none' }, { kube, clock });
  const again = await cordonNode(
    'worker-1',
    { owner: { who: 'bob', why: 'x' }, dryRun: 'none' },
    { kube, clock },
  );
  assert.equal(again.action, 'already-cordoned');
  assert.equal(again.ownedByBosun, true);
  assert.equal(again.by, 'alice@laptop (bosun cordon)');
  assert.equal(kube.calls('patch').length, 1);
});

test('uncordon undoes a bosun cordon and removes every bosun annotation', async () => {
  const { clock, kube } = setup();
  await cordonNode('worker-1', { owner, dryRun: 'none' }, { kube, clock });
  kube.updateNode(
    'worker-1',
    (n) =>
      (n.metadata.annotations = {
        ...n.metadata.annotations,
        [DRAIN_STATE]: '{}',
        [MAINTENANCE_STATE]: '{}',
        'other/keep': 'yes',
      }),
  );
  const r = await uncordonNode('worker-1', { force: false, dryRun: 'none' }, { kube, clock });
  assert.equal(r.action, 'uncordoned');
  const n = kube.nodes.get('worker-1');
  assert.equal(n?.spec?.unschedulable, undefined);
  assert.deepEqual(n?.metadata.annotations, { 'other/keep': 'yes' });
});

test('uncordon refuses a node cordoned outside bosun, and --force overrides', async () => {
  const { clock, kube } = setup();
  kube.updateNode('worker-1', (n) => (n.spec = { unschedulable: true }));
  const r = await uncordonNode('worker-1', { force: false, dryRun: 'none' }, { kube, clock });
  assert.equal(r.action, 'refused');
  assert.equal(r.message, 'node/worker-1 was cordoned outside bosun; leaving it cordoned');
  assert.equal(kube.nodes.get('worker-1')?.spec?.unschedulable, true);
  assert.equal(kube.calls('patch').length, 0);
  const f = await uncordonNode('worker-1', { force: true, dryRun: 'none' }, { kube, clock });
  assert.equal(f.action, 'uncordoned');
  assert.equal(kube.nodes.get('worker-1')?.spec?.unschedulable, undefined);
});

test('uncordon of a schedulable node is "already uncordoned"', async () => {
  const { clock, kube } = setup();
  const r = await uncordonNode('worker-1', { force: false, dryRun: 'none' }, { kube, clock });
  assert.equal(r.action, 'already-uncordoned');
  assert.equal(kube.calls('patch').length, 0);
});

test('a 409 from the server is answered by reading the node again and deciding again', async () => {
  const { clock, kube } = setup();
  kube.failNext('patch', 'nodes', () =>
    fromStatus(
      409,
      { kind: 'Status', code: 409, reason: 'Conflict', message: 'the object has been modified' },
      { resource: 'nodes' },
    ),
  );
  const stale = await kube.getNode('worker-1');
  kube.updateNode('worker-1', (n) => (n.spec = { unschedulable: true }));
  const r = await cordonNode('worker-1', { owner, dryRun: 'none', node: stale }, { kube, clock });
  assert.equal(r.action, 'already-cordoned');
  assert.equal(r.ownedByBosun, false);
  assert.equal(
    kube.nodes.get('worker-1')?.metadata.annotations?.[CORDONED_BY],
    undefined,
    'did not claim a cordon it did not make',
  );
});

test('dry runs: client writes nothing, server sends dryRun', async () => {
  const { clock, kube } = setup();
  const c = await cordonNode('worker-1', { owner, dryRun: 'client' }, { kube, clock });
  assert.equal(c.action, 'cordoned');
  assert.equal(kube.calls('patch').length, 0);
  const s = await cordonNode('worker-1', { owner, dryRun: 'server' }, { kube, clock });
  assert.equal(s.action, 'cordoned');
  assert.deepEqual(
    kube.calls('patch').map((a) => a.dryRun),
    [true],
  );
  assert.equal(kube.nodes.get('worker-1')?.spec?.unschedulable, undefined);
});

test('an unknown node is NotFound', async () => {
  const { clock, kube } = setup();
  await assert.rejects(
    cordonNode('worker-9', { owner, dryRun: 'none' }, { kube, clock }),
    /nodes "worker-9" not found/,
  );
});
