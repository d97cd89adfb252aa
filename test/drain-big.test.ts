// A node with 300 pods: the sandbox's kubelets take as many pods as their KubeletConfiguration's
// maxPods says (the kubelet's default, 110, only when it says nothing), and bosun drains them all.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { bosunOn, getNode, pods } from './support/drain.ts';
import { eventually, startTestSandbox, type TestSandbox } from './support/sandbox.ts';
import type { Pod } from '../src/kube/types.ts';

const REPLICAS = 300;

function running(list: Pod[], app: string): Pod[] {
  return list.filter(
    (p) =>
      p.metadata.labels?.['app'] === app && !p.metadata.deletionTimestamp && p.status?.phase === 'Running',
  );
}

describe('a node with 300 pods (KubeletConfiguration maxPods: 320)', () => {
  let t: TestSandbox;
  before(async () => {
    t = await startTestSandbox({
      controlPlanes: 1,
      workers: 2,
      workload: 'none',
      maxPods: 320,
      timing: { nodeMonitorGraceMs: 30_000 },
    });
  });
  after(async () => {
    await t?.stop();
  });

  test('every kubelet reports its maxPods as the pods it takes, and bosun drains all 300 pods of a node', async () => {
    for (const n of ['cp-1', 'worker-1', 'worker-2']) {
      const node = await getNode(t, n);
      assert.equal(node.status?.capacity?.['pods'], '320', n);
      assert.equal(node.status?.allocatable?.['pods'], '320', n);
    }
    assert.equal((await t.kubectl(['cordon', 'worker-2'])).code, 0);
    const deployment = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'many', namespace: 'default' },
      spec: {
        replicas: REPLICAS,
        selector: { matchLabels: { app: 'many' } },
        template: {
          metadata: { labels: { app: 'many' } },
          spec: {
            terminationGracePeriodSeconds: 1,
            containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }],
          },
        },
      },
    };
    const c = await t.kubectl(['create', '--validate=false', '-f', '-'], {
      input: JSON.stringify(deployment),
    });
    assert.equal(c.code, 0, c.stderr);
    await eventually(
      `${REPLICAS} pods running on worker-1`,
      async () => running(await pods(t, 'worker-1'), 'many').length === REPLICAS,
      240_000,
    );
    assert.equal((await t.kubectl(['uncordon', 'worker-2'])).code, 0);

    const r = await bosunOn(t, ['drain', 'worker-1', '--ignore-daemonsets', '--timeout', '180s']);
    assert.equal(r.code, 0, r.err.join('\n'));
    assert.equal(r.out.filter((l) => /^pod\/many-\S+ evicted$/.test(l)).length, REPLICAS);
    assert.equal(r.out.at(-1), 'node/worker-1 drained');
    assert.deepEqual(running(await pods(t, 'worker-1'), 'many'), []);
    await eventually(
      `${REPLICAS} pods running on worker-2`,
      async () => running(await pods(t, 'worker-2'), 'many').length === REPLICAS,
      240_000,
    );
    assert.equal((await bosunOn(t, ['uncordon', 'worker-1'])).code, 0);
  });

  test('an admin who edits maxPods in config.yaml and restarts the kubelet changes what the node takes', async () => {
    const file = join(t.dir, 'nodes', 'cp-1', 'host', 'var', 'lib', 'kubelet', 'config.yaml');
    const doc = parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    writeFileSync(file, stringify({ ...doc, maxPods: 150 }));
    const errs: string[] = [];
    const code = await t.sb.runShim('cp-1', 'systemctl', ['restart', 'kubelet'], {
      out: () => undefined,
      err: (s) => void errs.push(s),
    });
    assert.equal(code, 0, errs.join(''));
    await eventually(
      'cp-1 takes 150 pods',
      async () => (await getNode(t, 'cp-1')).status?.allocatable?.['pods'] === '150',
      30_000,
    );
  });
});
