// The reboot agent end to end (issue 17): twenty workers flagged at once, rolled by one agent per
// node with concurrency 1 and then 3 on one sandbox. A watcher started by the test sees every Node,
// PodDisruptionBudget and lock change and proves what a patch night must never do: more nodes out
// of service (cordoned, not Ready, or rebooting) than the concurrency at any instant, a budget below
// its minimum, more lock holders than slots, a node rebooted twice or not at all, a node left
// cordoned, NotReady or with its sentinel.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RolloutWatcher } from './support/rollout-watcher.ts';
import { AgentFleet } from './support/reboot-agents.ts';
import {
  FAST_FLAGS,
  allRebooted,
  flag,
  rebooting,
  startRebootSandbox,
  unflagged,
} from './support/reboot-sandbox.ts';
import type { TestSandbox } from './support/sandbox.ts';

const WORKERS = Array.from({ length: 20 }, (_, i) => `worker-${i + 1}`);

describe('the reboot agent rolls twenty flagged workers', { timeout: 600_000 }, () => {
  let t: TestSandbox;
  let w: RolloutWatcher;
  before(async () => {
    t = await startRebootSandbox({
      workers: WORKERS.length,
      apps: [
        { name: 'web', replicas: 20, maxUnavailable: 2 },
        { name: 'api', replicas: 8, maxUnavailable: 1 },
      ],
    });
    w = new RolloutWatcher(t.kubeconfig);
    await w.start();
  });
  after(async () => {
    await w?.stop();
    await t?.stop();
  });

  for (const concurrency of [1, 3]) {
    test(`concurrency ${concurrency}: never more than ${concurrency} out of service, every node rebooted once and back`, async () => {
      const fleet = new AgentFleet({ t, watcher: w, flags: { ...FAST_FLAGS, concurrency } });
      try {
        for (const n of WORKERS) fleet.start(n);
        const boots = new Map([...w.latest()].map(([n, s]) => [n, s.bootId]));
        w.reset();
        flag(t, WORKERS);
        await allRebooted(w, boots, WORKERS, 400_000);

        const out = w.maxOutOfService(WORKERS, rebooting);
        assert.ok(out.count <= concurrency, `${out.count} out of service at once: ${out.nodes.join(', ')}`);
        assert.ok(out.count >= 1);
        if (concurrency > 1) assert.ok(out.count > 1, 'the rollout used more than one slot');
        const holders = w.maxLockHolders();
        assert.ok(holders.count <= concurrency, `the lock listed ${holders.holders.join(', ')}`);
        assert.deepEqual(w.pdbViolations(), [], 'no budget went below its minimum');
        const seen = w.bootIds();
        for (const n of WORKERS) {
          const ids = [boots.get(n), ...(seen.get(n) ?? [])].filter((x, i, a) => x !== a[i - 1]);
          assert.equal(ids.length, 2, `${n} booted ${ids.length - 1} times: ${ids.join(' ')}`);
          assert.ok(unflagged(t, n), `${n} still has its sentinel`);
        }
        const last = w.latest();
        for (const n of WORKERS) {
          assert.equal(last.get(n)?.unschedulable, false, `${n} uncordoned`);
          assert.equal(last.get(n)?.ready, true, `${n} Ready`);
        }
        assert.deepEqual(
          fleet.exits.filter((e) => e.how !== 'ok'),
          [],
          'no agent failed',
        );
      } finally {
        await fleet.stopAll();
      }
    });
  }
});
