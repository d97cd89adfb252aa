import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../../common/fake-clock.ts';
import type { Output } from '../../common/ports.ts';
import { FakeCluster, rbacForbidden } from '../../kube/testing/fake-cluster.ts';
import { DEFAULT_DRAIN_OPTIONS, drainNode, type DrainOptions } from '../../drain/index.ts';
import { node, pdb, pod } from '../../drain/testing/fixtures.ts';
import { Reporter } from './drain-progress.ts';

function capture(
  isTTY: boolean,
  raw: boolean,
): Output & { stdout: string[]; stderr: string[]; screen: string[] } {
  const o = {
    stdout: [] as string[],
    stderr: [] as string[],
    screen: [] as string[],
    isTTY,
    out(line: string) {
      o.stdout.push(line);
      o.screen.push(line);
    },
    err(line: string) {
      o.stderr.push(line);
      o.screen.push(line);
    },
    ...(raw
      ? {
          errRaw(text: string) {
            // Interpret "ESC[nA ESC[J": drop the last n lines of the screen.
            const ESC = String.fromCharCode(27);
            const n = Number(text.slice(2, text.length - 4));
            if (!text.startsWith(ESC + '[') || !text.endsWith('A' + ESC + '[J') || !Number.isInteger(n))
              throw new Error(`unexpected raw write ${JSON.stringify(text)}`);
            o.screen.splice(o.screen.length - n);
          },
        }
      : {}),
  };
  return o;
}

async function drain(
  out: Output,
  live: boolean,
  o: Partial<DrainOptions>,
  seed: (k: FakeCluster) => void,
): Promise<void> {
  const clock = new FakeClock(0);
  const kube = new FakeCluster(clock);
  for (const n of ['worker-1', 'worker-2']) kube.addNode(node(n));
  seed(kube);
  const rep = new Reporter(out, { format: 'text', live });
  await clock.runUntilSettled(
    drainNode('worker-1', { ...DEFAULT_DRAIN_OPTIONS, ...o }, { kube, clock, observer: rep.drain }),
  );
}

test('plain lines: results and kubectl\'s "evicting pod" lines on stdout in kubectl words, warnings and progress on stderr', async () => {
  const out = capture(false, false);
  await drain(out, false, { ignoreDaemonSets: true }, (k) => {
    k.addDaemonSet({ metadata: { name: 'kube-proxy', namespace: 'kube-system' } });
    k.addPod(
      pod('kube-proxy-1', { namespace: 'kube-system', owner: { kind: 'DaemonSet', name: 'kube-proxy' } }),
    );
    k.addPod(pod('web-1', { terminationGracePeriodSeconds: 1 }));
  });
  assert.deepEqual(out.stdout, [
    'node/worker-1 cordoned',
    'evicting pod demo/web-1',
    'pod/web-1 evicted',
    'node/worker-1 drained',
  ]);
  assert.deepEqual(out.stderr, ['Warning: ignoring DaemonSet-managed Pods: kube-system/kube-proxy-1']);
});

test('a client dry run prints what it would do on stdout with the dry-run suffix', async () => {
  const out = capture(false, false);
  await drain(out, false, { dryRun: 'client' }, (k) => k.addPod(pod('web-1')));
  assert.deepEqual(out.stdout, [
    'node/worker-1 cordoned (dry run)',
    'evicting pod demo/web-1 (dry run)',
    'node/worker-1 drained (dry run)',
  ]);
});

test('a blocked eviction is explained once in plain mode, with the retry', async () => {
  const out = capture(false, false);
  await drain(out, false, { timeoutMs: 3000 }, (k) => {
    k.addPod(pod('web-1', { labels: { app: 'web' } }));
    k.addPdb(
      pdb('web', 'web', {
        minAvailable: 2,
        currentHealthy: 2,
        desiredHealthy: 2,
        expectedPods: 3,
        disruptionsAllowed: 0,
      }),
    );
  });
  assert.deepEqual(
    out.stderr.filter((l) => l.startsWith('blocked:')),
    [
      'blocked: demo/web-1: PodDisruptionBudget demo/web (minAvailable: 2): 2 of 3 pods healthy, needs 2, allows 0 disruptions now (will retry after 1s)',
    ],
  );
});

test('on a terminal the live block is redrawn in place and the results stay above it', async () => {
  const out = capture(true, true);
  await drain(out, true, { timeoutMs: 3000 }, (k) => {
    k.addPod(pod('web-1', { labels: { app: 'web' } }));
    k.addPod(pod('api-1', { terminationGracePeriodSeconds: 1 }));
    k.addPdb(
      pdb('web', 'web', {
        minAvailable: 2,
        currentHealthy: 2,
        desiredHealthy: 2,
        expectedPods: 3,
        disruptionsAllowed: 0,
      }),
    );
  });
  assert.deepEqual(out.screen, [
    'node/worker-1 cordoned',
    'evicting pod demo/web-1',
    'evicting pod demo/api-1',
    'pod/api-1 evicted',
    'worker-1: 1/2 gone, 0 terminating, 1 blocked, 0 waiting',
    '  demo/web-1: PodDisruptionBudget demo/web (minAvailable: 2): 2 of 3 pods healthy, needs 2, allows 0 disruptions now',
  ]);
  assert.ok(!out.stderr.some((l) => l.startsWith('evicting pod')), 'the evicting lines are results (stdout)');
});

test('-o json and -o yaml keep stdout empty for the final document: the evicting lines go to stderr', async () => {
  const out = capture(false, false);
  const clock = new FakeClock(0);
  const kube = new FakeCluster(clock);
  kube.addNode(node('worker-1'));
  kube.addNode(node('worker-2'));
  kube.addPod(pod('web-1', { terminationGracePeriodSeconds: 1 }));
  const rep = new Reporter(out, { format: 'document', live: false });
  await clock.runUntilSettled(
    drainNode('worker-1', DEFAULT_DRAIN_OPTIONS, { kube, clock, observer: rep.drain }),
  );
  assert.deepEqual(out.stdout, []);
  assert.deepEqual(out.stderr, ['evicting pod demo/web-1']);
});

test('a check or a watch the user may not make: one line each, naming the permission', async () => {
  const out = capture(false, false);
  await drain(out, false, {}, (k) => {
    k.addPod(pod('web-1', { terminationGracePeriodSeconds: 1 }));
    k.failNext('list', 'poddisruptionbudgets', () =>
      rbacForbidden({ verb: 'list', resource: 'poddisruptionbudgets', group: 'policy' }),
    );
    k.failNext('watch', 'pods', () => rbacForbidden({ verb: 'watch', resource: 'pods' }), {
      times: Infinity,
    });
    k.forbidden.add('watch nodes');
  });
  assert.deepEqual(out.stderr, [
    'pre-flight: skipped pdb-never-allows, multiple-pdbs: your user may not list poddisruptionbudgets (it needs list on poddisruptionbudgets.policy at the cluster scope)',
    'Warning: your user may not watch nodes (it needs watch on nodes at the cluster scope); polling node/worker-1 every second instead',
    "Warning: your user may not watch pods (it needs watch on pods at the cluster scope); polling the node's pods every second instead, as kubectl does",
  ]);
  assert.equal(out.stdout.at(-1), 'node/worker-1 drained');
});

test('--recordon says so when it cordons the node again', async () => {
  const out = capture(false, false);
  let uncordoned = false;
  await drain(out, false, { recordon: true }, (k) => {
    k.addPod(pod('web-1', { terminationGracePeriodSeconds: 1 }));
    k.patchNode = (
      (patch) =>
      async (...a: Parameters<FakeCluster['patchNode']>) => {
        const n = await patch(...a);
        // Someone uncordons it right after bosun's first cordon.
        if (a[1].spec?.unschedulable === true && !uncordoned) {
          uncordoned = true;
          k.updateNode('worker-1', (x) => delete x.spec?.unschedulable);
        }
        return n;
      }
    )(k.patchNode.bind(k));
  });
  assert.ok(
    out.stderr.includes(
      'Warning: node/worker-1 was uncordoned outside this drain (the Node does not say by whom: no managedFields entry changed) during the drain; cordoning it again (--recordon)',
    ),
    out.stderr.join('\n'),
  );
  assert.equal(out.stdout.at(-1), 'node/worker-1 drained');
});
