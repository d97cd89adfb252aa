import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ServedRow } from '../certs/index.ts';
import type { NodePlan } from '../drain/index.ts';
import type { Node } from '../kube/types.ts';
import { assessPreflight, type PreflightInput } from './preflight.ts';
import { versionsOf } from './testing/fixtures.ts';

const NOW = new Date('2025-06-01T00:00:00Z');
const DAY = 86_400_000;

function input(o: Partial<PreflightInput> = {}): PreflightInput {
  return {
    versions: versionsOf({ controlPlanes: 3, workers: 2 }),
    nodes: [],
    plan: undefined,
    batches: [],
    removedApis: undefined,
    certificates: undefined,
    windowMs: DAY,
    now: NOW,
    ...o,
  };
}

const lines = (o: Partial<PreflightInput>): string[] =>
  assessPreflight(input(o)).findings.map((f) => `${f.check} ${f.severity} ${f.subject}: ${f.message}`);

test('a healthy cluster: ok lines only', () => {
  const r = assessPreflight(input());
  assert.equal(r.ok, true);
  assert.deepEqual(
    r.findings.map((f) => `${f.check} ${f.severity}`),
    ['skew ok', 'nodes ok', 'etcd ok'],
  );
});

test('the skew already broken today is an error naming the rule', () => {
  const r = assessPreflight(
    input({ versions: versionsOf({ workers: 2, kubelets: { 'worker-2': 'v1.33.5' } }) }),
  );
  assert.equal(r.ok, false);
  assert.deepEqual(
    r.findings.filter((f) => f.check === 'skew').map((f) => f.message),
    [
      'kubelet v1.33.5 on worker-2 is newer than kube-apiserver v1.32.9 on cp-1 (kubelet-newer: kubelet must not be newer than kube-apiserver)',
    ],
  );
});

test('NotReady nodes are errors; nodes cordoned by someone else, or by bosun, are warnings', () => {
  const versions = versionsOf({
    workers: 3,
    nodes: {
      'worker-1': { ready: false },
      'worker-2': { unschedulable: true },
      'worker-3': { unschedulable: true },
    },
  });
  const nodes: Node[] = [
    { metadata: { name: 'worker-2' }, spec: { unschedulable: true } },
    {
      metadata: {
        name: 'worker-3',
        annotations: { 'bosun.dev/cordoned-by': 'bosun', 'bosun.dev/cordon-reason': 'maintain' },
      },
      spec: { unschedulable: true },
    },
  ];
  assert.deepEqual(
    lines({ versions, nodes }).filter((l) => l.startsWith('nodes')),
    [
      'nodes error worker-1: node worker-1 is NotReady',
      'nodes warning worker-2: node worker-2 is cordoned by someone else: bosun upgrades it and leaves it cordoned',
      'nodes warning worker-3: node worker-3 is cordoned by bosun (bosun: maintain)',
    ],
  );
});

test('etcd: a member down is an error; two down of three is a lost quorum', () => {
  const one = versionsOf();
  if (one.controlPlanes[2]?.etcd) one.controlPlanes[2].etcd.ready = false;
  assert.deepEqual(
    lines({ versions: one }).filter((l) => l.startsWith('etcd')),
    [
      'etcd error etcd/cp-3: etcd member on cp-3 is not Ready',
      'etcd error etcd: a control plane step restarts its etcd member: only 1 of the other 2 etcd members are Ready; restarting cp-1 would lose quorum (2 of 3 needed)',
    ],
  );
  const two = versionsOf();
  for (const c of two.controlPlanes.slice(1)) if (c.etcd) c.etcd.ready = false;
  assert.ok(
    lines({ versions: two }).includes('etcd error etcd: etcd has no quorum: 1 of 3 members Ready, 2 needed'),
  );
  const single = versionsOf({ controlPlanes: 1 });
  assert.match(
    lines({ versions: single }).find((l) => l.startsWith('etcd')) ?? '',
    /^etcd warning etcd: each control plane step restarts its etcd member: single-member etcd/,
  );
});

test('drain: every batch is judged with the drain pre-flight; blockers and refusals are errors', () => {
  const pod = { namespace: 'data', name: 'postgres-0', uid: 'u1' };
  const plan = (
    node: string,
    o: Partial<NodePlan['preflight']> = {},
    refusals: NodePlan['refusals'] = [],
  ): NodePlan =>
    ({
      node: { metadata: { name: node } },
      verdicts: [{ pod, action: 'evict', category: null, message: null, warnings: [] }],
      pods: [],
      listedAt: { resourceVersion: '1', time: 0 },
      pdbs: [],
      preflight: {
        node,
        predictions: [],
        blockers: [],
        ignored: [],
        skipped: [],
        longestGraceSeconds: 30,
        ...o,
      },
      refusals,
      warnings: [{ message: 'ignoring DaemonSet-managed Pods', category: 'daemonset-managed', pods: [pod] }],
      daemonSets: new Map(),
      access: { watchPods: 'allowed', watchNodes: 'allowed' },
    }) as NodePlan;
  const batches = [
    { hop: 1, batch: 1, nodes: ['worker-1'], plans: [plan('worker-1')] },
    {
      hop: 1,
      batch: 2,
      nodes: ['worker-2'],
      plans: [
        plan(
          'worker-2',
          {
            blockers: [
              {
                pod,
                blocker: {
                  check: 'pdb-never-allows',
                  message: 'it can never allow this eviction',
                  hint: 'h',
                },
              },
            ],
          },
          [
            {
              message: 'cannot delete Pods that declare no controller (use --force to override)',
              category: 'no-controller',
              pods: [{ namespace: 'default', name: 'debug', uid: 'u2' }],
            },
          ],
        ),
      ],
    },
  ];
  assert.deepEqual(
    lines({ batches }).filter((l) => l.startsWith('drain')),
    [
      'drain ok hop 1 batch 1 (worker-1): 1 pod to evict, every one can go (longest grace period 30s)',
      'drain error hop 1 batch 2 (worker-2): data/postgres-0 on worker-2: it can never allow this eviction',
      'drain error hop 1 batch 2 (worker-2): worker-2: cannot delete Pods that declare no controller (use --force to override): default/debug',
    ],
  );
});

test('removed APIs: in the window an error, already removed a warning, served a warning', () => {
  const out = lines({
    removedApis: [
      {
        groupVersion: 'flowcontrol.apiserver.k8s.io/v1beta3',
        kind: 'FlowSchema',
        removedIn: 'v1.32',
        how: 'served',
        objects: [],
        replacement: 'flowcontrol.apiserver.k8s.io/v1',
        alreadyRemoved: false,
      },
      {
        groupVersion: 'flowcontrol.apiserver.k8s.io/v1beta3',
        kind: 'FlowSchema',
        removedIn: 'v1.32',
        how: 'last-applied',
        objects: ['exempt'],
        replacement: 'flowcontrol.apiserver.k8s.io/v1',
        alreadyRemoved: false,
      },
      {
        groupVersion: 'apps/v1beta1',
        kind: 'Deployment',
        removedIn: 'v1.16',
        how: 'last-applied',
        objects: ['shop/a', 'shop/b'],
        replacement: 'apps/v1',
        alreadyRemoved: true,
      },
    ],
  }).filter((l) => l.startsWith('removed-apis'));
  assert.deepEqual(
    out.map((l) => l.split(':')[0]),
    [
      'removed-apis warning flowcontrol.apiserver.k8s.io/v1beta3 FlowSchema',
      'removed-apis error flowcontrol.apiserver.k8s.io/v1beta3 FlowSchema',
      'removed-apis warning apps/v1beta1 Deployment',
    ],
  );
  assert.match(
    out[2] ?? '',
    /2 objects were last applied as apps\/v1beta1 Deployment, not served since v1\.16 \(use apps\/v1\): shop\/a, shop\/b$/,
  );
});

test('certificates: expiring within the window warns, expired is an error, unreachable warns', () => {
  const row = (
    node: string,
    component: ServedRow['component'],
    status: ServedRow['status'],
    notAfter: Date,
  ): ServedRow => ({
    node,
    component,
    endpoint: `127.0.0.1:${component === 'kubelet' ? 10250 : 6443}`,
    facts: { notAfter, notBefore: new Date(0) } as ServedRow['facts'],
    onDisk: 'unknown',
    diskPath: undefined,
    signedByCa: undefined,
    error: status === 'unreachable' ? 'connect ECONNREFUSED' : undefined,
    status,
  });
  const out = lines({
    windowMs: 7 * DAY,
    certificates: {
      rows: [
        row('cp-1', 'kube-apiserver', 'expiring', new Date(NOW.getTime() + 3 * DAY)),
        row('worker-1', 'kubelet', 'expired', new Date(NOW.getTime() - DAY)),
        row('worker-2', 'kubelet', 'unreachable', new Date(0)),
        row('worker-3', 'kubelet', 'ok', new Date(NOW.getTime() + 300 * DAY)),
      ],
    },
  }).filter((l) => l.startsWith('certificates'));
  assert.deepEqual(out, [
    'certificates warning kube-apiserver/cp-1: 127.0.0.1:6443 serves a certificate that expires in 3d (2025-06-04T00:00:00.000Z), within the 7d window',
    'certificates error kubelet/worker-1: 127.0.0.1:10250 serves a certificate that is expired',
    'certificates warning kubelet/worker-2: 127.0.0.1:10250: could not read its certificate: connect ECONNREFUSED',
  ]);
});
