// Parity with the real kubectl v1.35: the same scenario drained by `kubectl drain` and by
// `bosun drain` ends the same way: the same pods refused in the same categories, the same pods
// evicted, the same pod left behind because its budget never allows (kubectl retries it until
// --timeout; bosun's pre-flight predicts it, so bosun is told to insist). Two sandboxes built the
// same way, one per tool. The one deliberate difference is asserted too: on a refusal kubectl has
// already cordoned the node, bosun has not touched it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { bosunOn, getNode, nodeOf, pods } from './support/drain.ts';
import { startTestSandbox, type TestSandbox } from './support/sandbox.ts';
import type { Pod } from '../src/kube/types.ts';

// --chunk-size 2: both tools list the pods page by page (limit and continue) through the sandbox.
const DRAIN_FLAGS = [
  '--ignore-daemonsets',
  '--delete-emptydir-data',
  '--force',
  '--timeout',
  '6s',
  '--chunk-size',
  '2',
];

function appOf(p: Pod): string {
  const l = p.metadata.labels ?? {};
  return `${p.metadata.namespace ?? ''}/${l['app'] ?? l['run'] ?? l['k8s-app'] ?? l['component'] ?? p.metadata.name ?? ''}`;
}

/** The category words without kubectl's "cannot delete " prefix (v1.35 prints it twice for unmanaged pods). */
function category(text: string): string {
  return text.trim().replace(/^(cannot delete )+/, '');
}

/** kubectl's refusal error: "cannot delete <category>: ns/a, ns/b" groups, as category -> sorted pods. */
function kubectlRefusals(stderr: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const re = /cannot delete ([^:]+): (.*?)(?=, cannot delete |\], continuing command|\]$|$)/gm;
  for (let m = re.exec(stderr); m !== null; m = re.exec(stderr)) {
    out.set(
      category(m[1] ?? ''),
      (m[2] ?? '')
        .split(', ')
        .map((s) => s.trim())
        .filter(Boolean)
        .sort(),
    );
  }
  return out;
}

/** Per app on the node before the drain: gone or still there afterwards. */
async function outcomes(t: TestSandbox, node: string, before: Pod[]): Promise<Map<string, string>> {
  const after = (await pods(t, node)).filter(
    (p) => !p.metadata.deletionTimestamp && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed',
  );
  const left = new Set(after.map((p) => p.metadata.uid));
  const m = new Map<string, string>();
  for (const p of before) m.set(appOf(p), left.has(p.metadata.uid) ? 'stayed' : 'gone');
  return m;
}

describe('bosun drain and kubectl drain end in the same state', () => {
  let ka: TestSandbox;
  let bo: TestSandbox;
  before(async () => {
    ka = await startTestSandbox({
      controlPlanes: 1,
      workers: 3,
      workload: 'demo',
      timing: { nodeMonitorGraceMs: 15_000 },
    });
    bo = await startTestSandbox({
      controlPlanes: 1,
      workers: 3,
      workload: 'demo',
      timing: { nodeMonitorGraceMs: 15_000 },
    });
  });
  after(async () => {
    await ka?.stop();
    await bo?.stop();
  });

  test('refusals: the same pods in the same categories, with the same words', async () => {
    const node = await nodeOf(ka, 'debug-shell');
    const k = await ka.kubectl(['drain', node]);
    assert.equal(k.code, 1, k.stderr);
    const b = await bosunOn(ka, ['drain', node]);
    assert.equal(b.code, 1);
    const kubectl = kubectlRefusals(k.stderr);
    const bosun = new Map(
      b.err
        .filter((l) => l.startsWith('cannot delete '))
        .map((l) => {
          const i = l.lastIndexOf(': ');
          return [
            category(l.slice(0, i)),
            l
              .slice(i + 2)
              .split(', ')
              .sort(),
          ] as const;
        }),
    );
    assert.ok(kubectl.size >= 2, `kubectl said: ${k.stderr}`);
    assert.deepEqual(bosun, kubectl, `kubectl said:\n${k.stderr}\nbosun said:\n${b.err.join('\n')}`);
    // The deliberate difference: kubectl cordoned the node before refusing; bosun refuses first.
    assert.equal((await getNode(ka, node)).spec?.unschedulable, true, 'kubectl leaves the node cordoned');
    assert.equal((await ka.kubectl(['uncordon', node])).code, 0);
    const again = await bosunOn(ka, ['drain', node]);
    assert.equal(again.code, 1);
    assert.equal((await getNode(ka, node)).spec?.unschedulable, undefined, 'bosun did not cordon it');
  });

  test('a drain with a budget that never allows: the same pods evicted, the same pod left, the node cordoned', async () => {
    const kn = await nodeOf(ka, 'debug-shell');
    const bn = await nodeOf(bo, 'debug-shell');
    const kBefore = (await pods(ka, kn)).filter(
      (p) => !p.metadata.deletionTimestamp && p.status?.phase === 'Running',
    );
    const bBefore = (await pods(bo, bn)).filter(
      (p) => !p.metadata.deletionTimestamp && p.status?.phase === 'Running',
    );

    const k = await ka.kubectl(['drain', kn, ...DRAIN_FLAGS], { timeoutMs: 60_000 });
    assert.equal(k.code, 1, k.stderr);
    assert.match(k.stderr, /Cannot evict pod as it would violate the pod's disruption budget/);
    const b = await bosunOn(bo, [
      'drain',
      bn,
      ...DRAIN_FLAGS,
      '--ignore-preflight-errors=pdb-never-allows',
      '-o',
      'json',
    ]);
    assert.equal(b.code, 1, b.err.join('\n'));
    const doc = JSON.parse(b.out.join('\n')) as {
      nodes: { outcome: string; pods: { namespace: string; outcome: string; category?: string }[] }[];
    };
    assert.equal(doc.nodes[0]?.outcome, 'timeout');
    assert.deepEqual(
      doc.nodes[0]?.pods.filter((p) => p.outcome === 'blocked').map((p) => [p.namespace, p.category]),
      [['data', 'budget-exhausted']],
    );

    const ko = await outcomes(ka, kn, kBefore);
    const bov = await outcomes(bo, bn, bBefore);
    let compared = 0;
    for (const [app, verdict] of ko) {
      const other = bov.get(app);
      if (other === undefined) continue;
      compared++;
      assert.equal(other, verdict, `${app}: kubectl ${verdict}, bosun ${other}`);
    }
    assert.ok(compared >= 4, `only ${compared} apps were on both nodes`);
    assert.equal(ko.get('data/postgres'), 'stayed');
    assert.equal(ko.get('default/debug-shell'), 'gone');
    assert.equal((await getNode(ka, kn)).spec?.unschedulable, true);
    assert.equal((await getNode(bo, bn)).spec?.unschedulable, true);
  });
});
