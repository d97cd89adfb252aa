import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeClock } from '../common/fake-clock.ts';
import { CORDONED_BY } from '../drain/index.ts';
import { node, pod } from '../drain/testing/fixtures.ts';
import { fromStatus } from '../kube/errors.ts';
import { FakeCluster } from '../kube/testing/fake-cluster.ts';
import {
  agentIdentity,
  alertBlocker,
  alertsUrl,
  annotationBlocker,
  blockingAlertNames,
  checkBlockers,
  cordonBlocker,
  podBlocker,
  quorumBlocker,
  type AlertFilter,
} from './blockers.ts';
import type { Node, Pod } from '../kube/types.ts';
import { fetchHttp } from './http.ts';
import { REBOOT_BLOCKED } from '../kube/annotations.ts';

// ---- node annotations and cordons ----

for (const tc of [
  {
    name: 'no annotation',
    annotations: {} as Record<string, string>,
    blocked: false,
    reason: 'no bosun.dev/reboot-blocked annotation',
  },
  {
    name: '"false"',
    annotations: { [REBOOT_BLOCKED]: 'false' },
    blocked: false,
    reason: 'no bosun.dev/reboot-blocked annotation',
  },
  {
    name: '"true"',
    annotations: { [REBOOT_BLOCKED]: 'true' },
    blocked: true,
    reason: 'node annotated bosun.dev/reboot-blocked',
  },
  {
    name: 'a reason',
    annotations: { [REBOOT_BLOCKED]: 'database migration until Friday' },
    blocked: true,
    reason: 'node annotated bosun.dev/reboot-blocked: database migration until Friday',
  },
]) {
  test(`the annotation blocker with ${tc.name}`, async () => {
    const v = await annotationBlocker().check(node('w1', { annotations: tc.annotations }));
    assert.deepEqual(v, { kind: 'annotation', blocked: tc.blocked, reason: tc.reason });
  });
}

for (const tc of [
  { name: 'a schedulable node', unschedulable: false, by: undefined, blocked: false },
  {
    name: "this agent's own cordon (a restart mid-cycle)",
    unschedulable: true,
    by: agentIdentity('w1'),
    blocked: false,
  },
  { name: 'a cordon by kubectl', unschedulable: true, by: undefined, blocked: true },
  {
    name: "a cordon by an admin's bosun drain",
    unschedulable: true,
    by: 'alice@laptop (bosun drain)',
    blocked: true,
  },
]) {
  test(`the cordon blocker with ${tc.name}`, async () => {
    const n = node('w1', {
      unschedulable: tc.unschedulable,
      ...(tc.by ? { annotations: { [CORDONED_BY]: tc.by } } : {}),
    });
    const v = await cordonBlocker('w1').check(n);
    assert.equal(v.blocked, tc.blocked);
    if (tc.blocked)
      assert.equal(
        v.reason,
        `cordoned by ${tc.by ?? 'someone else'}, not this agent: left alone until uncordoned`,
      );
  });
}

// ---- pods ----

function cluster(): FakeCluster {
  const c = new FakeCluster(new FakeClock());
  c.addNode(node('w1'));
  c.addNode(node('w2'));
  c.addPod(pod('nightly-1', { namespace: 'backup', node: 'w1', labels: { app: 'backup' } }));
  c.addPod(
    pod('nightly-0', { namespace: 'backup', node: 'w1', labels: { app: 'backup' }, phase: 'Succeeded' }),
  );
  c.addPod(pod('report-1', { namespace: 'batch', node: 'w2', labels: { app: 'report', heavy: 'yes' } }));
  c.addPod(pod('web-1', { namespace: 'shop', node: 'w1', labels: { app: 'web' } }));
  return c;
}

for (const tc of [
  {
    name: 'a running pod on this node blocks',
    selectors: ['app=backup'],
    scope: 'node',
    node: 'w1',
    want: {
      blocked: true,
      reason: 'a pod matching app=backup on w1: backup/nightly-1',
      items: ['backup/nightly-1'],
    },
  },
  {
    name: 'finished pods do not block',
    selectors: ['app=backup'],
    scope: 'node',
    node: 'w2',
    want: { blocked: false, reason: 'no pods matching app=backup on w2' },
  },
  {
    name: 'a pod on another node does not block with scope node',
    selectors: ['heavy=yes'],
    scope: 'node',
    node: 'w1',
    want: { blocked: false, reason: 'no pods matching heavy=yes on w1' },
  },
  {
    name: 'a pod anywhere blocks with scope cluster',
    selectors: ['heavy=yes', 'app=backup'],
    scope: 'cluster',
    node: 'w1',
    want: {
      blocked: true,
      reason: '2 pods matching heavy=yes or app=backup in the cluster: backup/nightly-1, batch/report-1',
      items: ['backup/nightly-1', 'batch/report-1'],
    },
  },
] as const) {
  test(`the pod blocker: ${tc.name}`, async () => {
    const c = cluster();
    const b = podBlocker({ selectors: tc.selectors, scope: tc.scope }, { kube: c });
    const v = await b.check(await c.getNode(tc.node));
    assert.deepEqual(v, { kind: 'pods', ...tc.want });
  });
}

test('the pod blocker lists only the node its scope names, with the selector on the server side', async () => {
  const c = cluster();
  await podBlocker({ selectors: ['app=backup'], scope: 'node' }, { kube: c }).check(await c.getNode('w1'));
  assert.equal(c.calls('list', 'pods').length, 1);
});

test('the pod blocker blocks when the API cannot answer, and says why', async () => {
  const c = cluster();
  c.failNext('list', 'pods', () =>
    fromStatus(503, { message: 'the server is currently unable to handle the request' }),
  );
  const v = await podBlocker({ selectors: ['app=backup'], scope: 'node' }, { kube: c }).check(
    await c.getNode('w1'),
  );
  assert.equal(v.blocked, true);
  assert.match(v.reason, /^cannot list blocking pods: .*unable to handle the request/);
});

test('more than ten blocking pods are shown as ten and a count', async () => {
  const c = new FakeCluster(new FakeClock());
  c.addNode(node('w1'));
  for (let i = 0; i < 12; i++)
    c.addPod(
      pod(`job-${String(i).padStart(2, '0')}`, { namespace: 'ci', node: 'w1', labels: { app: 'ci' } }),
    );
  const v = await podBlocker({ selectors: ['app=ci'], scope: 'node' }, { kube: c }).check(
    await c.getNode('w1'),
  );
  assert.equal(v.items?.length, 11);
  assert.equal(v.items?.[10], '... (2 more)');
  assert.match(v.reason, /^12 pods matching app=ci on w1: ci\/job-00, /);
});

// ---- alerts: filtering (Kured's semantics) ----

const alerts = [
  { name: 'KubeNodeNotReady', firing: true },
  { name: 'Watchdog', firing: true },
  { name: 'TargetDown', firing: false },
  { name: 'KubeNodeNotReady', firing: true },
];
for (const tc of [
  {
    name: 'no filter: every active alert',
    filter: { matchOnly: false, firingOnly: false },
    want: ['KubeNodeNotReady', 'TargetDown', 'Watchdog'],
  },
  {
    name: 'firing only',
    filter: { matchOnly: false, firingOnly: true },
    want: ['KubeNodeNotReady', 'Watchdog'],
  },
  {
    name: 'the regexp names alerts to ignore',
    filter: { regexp: /^(Watchdog|TargetDown)$/, matchOnly: false, firingOnly: false },
    want: ['KubeNodeNotReady'],
  },
  {
    name: 'match-only: only matching alerts block',
    filter: { regexp: /^Kube/, matchOnly: true, firingOnly: false },
    want: ['KubeNodeNotReady'],
  },
] satisfies { name: string; filter: AlertFilter; want: string[] }[]) {
  test(`alert filter: ${tc.name}`, () => assert.deepEqual(blockingAlertNames(alerts, tc.filter), tc.want));
}

test('alert URLs keep a path prefix and ask Alertmanager for active, unsilenced alerts', () => {
  assert.equal(
    alertsUrl('prometheus', 'http://prom.monitoring:9090'),
    'http://prom.monitoring:9090/api/v1/alerts',
  );
  assert.equal(
    alertsUrl('prometheus', 'https://example.org/prometheus/'),
    'https://example.org/prometheus/api/v1/alerts',
  );
  assert.equal(
    alertsUrl('alertmanager', 'http://am:9093'),
    'http://am:9093/api/v2/alerts?active=true&silenced=false&inhibited=false',
  );
});

// ---- alerts: against a small Prometheus-compatible server ----

interface PromServer {
  url: string;
  requests: { path: string; authorization: string | undefined }[];
  answer: { status: number; body: unknown; delayMs?: number };
  close(): Promise<void>;
}

async function promServer(): Promise<PromServer> {
  const state: PromServer = {
    url: '',
    requests: [],
    answer: { status: 200, body: { status: 'success', data: { alerts: [] } } },
    close: async () => undefined,
  };
  const server: Server = createServer((req: IncomingMessage, res) => {
    state.requests.push({ path: req.url ?? '', authorization: req.headers.authorization });
    const send = (): void => {
      res.writeHead(state.answer.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(state.answer.body));
    };
    if (state.answer.delayMs) setTimeout(send, state.answer.delayMs);
    else send();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}

const firing = (name: string, state = 'firing') => ({
  labels: { alertname: name, severity: 'critical' },
  annotations: {},
  state,
  activeAt: '2025-01-01T00:00:00Z',
  value: '1e+00',
});
const noFilter: AlertFilter = { matchOnly: false, firingOnly: false };

test('Prometheus: a firing alert blocks; none lets the reboot go', async (t) => {
  const prom = await promServer();
  t.after(() => prom.close());
  const b = alertBlocker(
    { source: 'prometheus', url: prom.url, filter: noFilter, timeoutMs: 5000 },
    { http: fetchHttp },
  );
  const n = node('w1');
  assert.deepEqual(await b.check(n), {
    kind: 'alerts',
    blocked: false,
    reason: 'no blocking alerts in Prometheus',
  });
  prom.answer = {
    status: 200,
    body: {
      status: 'success',
      data: { alerts: [firing('KubeNodeNotReady'), firing('CPUThrottlingHigh', 'pending')] },
    },
  };
  assert.deepEqual(await b.check(n), {
    kind: 'alerts',
    blocked: true,
    reason: '2 alerts firing in Prometheus: CPUThrottlingHigh, KubeNodeNotReady',
    items: ['CPUThrottlingHigh', 'KubeNodeNotReady'],
  });
  const firingOnly = alertBlocker(
    { source: 'prometheus', url: prom.url, filter: { ...noFilter, firingOnly: true }, timeoutMs: 5000 },
    { http: fetchHttp },
  );
  assert.equal((await firingOnly.check(n)).reason, 'an alert firing in Prometheus: KubeNodeNotReady');
  assert.deepEqual(
    prom.requests.map((r) => r.path),
    ['/api/v1/alerts', '/api/v1/alerts', '/api/v1/alerts'],
  );
});

test('Alertmanager: active alerts block, suppressed ones do not', async (t) => {
  const am = await promServer();
  t.after(() => am.close());
  am.answer = {
    status: 200,
    body: [
      {
        labels: { alertname: 'EtcdMembersDown' },
        status: { state: 'active', silencedBy: [], inhibitedBy: [] },
      },
      {
        labels: { alertname: 'Silenced' },
        status: { state: 'suppressed', silencedBy: ['x'], inhibitedBy: [] },
      },
    ],
  };
  const b = alertBlocker(
    { source: 'alertmanager', url: am.url, filter: noFilter, timeoutMs: 5000 },
    { http: fetchHttp },
  );
  const v = await b.check(node('w1'));
  assert.equal(v.reason, 'an alert firing in Alertmanager: EtcdMembersDown');
  assert.equal(am.requests[0]?.path, '/api/v2/alerts?active=true&silenced=false&inhibited=false');
});

test('an alert API that fails, answers garbage or too late blocks, and the reason never shows credentials', async (t) => {
  const prom = await promServer();
  t.after(() => prom.close());
  const withUser = prom.url.replace('http://', 'http://admin:s3cret@');
  const b = alertBlocker(
    { source: 'prometheus', url: withUser, filter: noFilter, timeoutMs: 300 },
    { http: fetchHttp },
  );
  const n = node('w1');

  prom.answer = { status: 500, body: { status: 'error' } };
  let v = await b.check(n);
  assert.equal(v.blocked, true);
  assert.equal(v.reason, `cannot read alerts from Prometheus at ${prom.url}: HTTP 500`);
  assert.equal(prom.requests[0]?.authorization, `Basic ${Buffer.from('admin:s3cret').toString('base64')}`);

  prom.answer = { status: 200, body: { hello: 'world' } };
  v = await b.check(n);
  assert.equal(
    v.reason,
    `cannot read alerts from Prometheus at ${prom.url}: not a Prometheus /api/v1/alerts answer`,
  );

  prom.answer = { status: 200, body: { status: 'success', data: { alerts: [] } }, delayMs: 2000 };
  v = await b.check(n);
  assert.equal(v.blocked, true);
  assert.match(
    v.reason,
    /^cannot read alerts from Prometheus at http:\/\/127\.0\.0\.1:\d+: .*(timeout|aborted)/i,
  );
  for (const r of [v.reason]) assert.ok(!r.includes('s3cret') && !r.includes('admin'), r);
});

test('nothing listening: the alert blocker blocks with the connection error', async () => {
  const prom = await promServer();
  const url = prom.url;
  await prom.close();
  const v = await alertBlocker(
    { source: 'prometheus', url, filter: noFilter, timeoutMs: 2000 },
    { http: fetchHttp },
  ).check(node('w1'));
  assert.equal(v.blocked, true);
  assert.match(
    v.reason,
    /^cannot read alerts from Prometheus at http:\/\/127\.0\.0\.1:\d+: fetch failed: .*ECONNREFUSED/,
  );
});

// ---- all together ----

test('checkBlockers returns every verdict in order, and a checker that throws blocks', async () => {
  const n = node('w1', { annotations: { [REBOOT_BLOCKED]: 'migration' } });
  const verdicts = await checkBlockers(
    [
      annotationBlocker(),
      cordonBlocker('w1'),
      { kind: 'pods', check: () => Promise.reject(new Error('boom')) },
    ],
    n,
  );
  assert.deepEqual(verdicts, [
    { kind: 'annotation', blocked: true, reason: 'node annotated bosun.dev/reboot-blocked: migration' },
    { kind: 'cordon', blocked: false, reason: 'not cordoned' },
    { kind: 'pods', blocked: true, reason: 'cannot check pods: boom' },
  ]);
});

// ---- control planes and etcd's quorum ----

const CP = { 'node-role.kubernetes.io/control-plane': '' };
const cp = (name: string, ready = true): Node => node(name, { labels: CP, ready });
const etcdPod = (n: string, ready = true): Pod => ({
  metadata: { name: `etcd-${n}`, namespace: 'kube-system', labels: { component: 'etcd' } },
  spec: { nodeName: n, containers: [] },
  status: { phase: 'Running', conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
});

for (const tc of [
  { name: 'a worker is never held back', self: node('w1'), cps: [cp('cp-1', false)], etcd: [], want: false },
  {
    name: 'three control planes, all Ready',
    self: cp('cp-1'),
    cps: [cp('cp-1'), cp('cp-2'), cp('cp-3')],
    etcd: [etcdPod('cp-1'), etcdPod('cp-2'), etcdPod('cp-3')],
    want: false,
  },
  {
    name: 'another control plane NotReady',
    self: cp('cp-1'),
    cps: [cp('cp-1'), cp('cp-2', false), cp('cp-3')],
    etcd: [etcdPod('cp-1'), etcdPod('cp-2'), etcdPod('cp-3')],
    want: true,
    reason: /^control plane cp-2 is not Ready/,
  },
  {
    name: 'another etcd member not Ready on a Ready node: quorum would be lost',
    self: cp('cp-1'),
    cps: [cp('cp-1'), cp('cp-2'), cp('cp-3')],
    etcd: [etcdPod('cp-1'), etcdPod('cp-2', false), etcdPod('cp-3')],
    want: true,
    reason: /would lose quorum/,
  },
  {
    name: 'a single control plane (the API is down while it reboots, as with any reboot of it)',
    self: cp('cp-1'),
    cps: [cp('cp-1')],
    etcd: [etcdPod('cp-1')],
    want: false,
  },
]) {
  test(`the quorum blocker: ${tc.name}`, async () => {
    const kube = {
      listNodes: async () => tc.cps,
      listPods: async () => ({ items: tc.etcd, resourceVersion: '1' }),
    };
    const v = await quorumBlocker({ kube }).check(tc.self);
    assert.equal(v.blocked, tc.want, v.reason);
    if (tc.reason) assert.match(v.reason, tc.reason);
  });
}
