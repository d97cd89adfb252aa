import { test } from 'node:test';
import assert from 'node:assert/strict';
import { classifyEviction, type ApiFailure } from './classify.ts';
import { pdb, pod } from './testing/fixtures.ts';

const web = pod('web-1', { labels: { app: 'web' } });
const unready = pod('web-2', { labels: { app: 'web' }, ready: false });
const budget = pdb('web-pdb', 'web', {
  minAvailable: 2,
  currentHealthy: 2,
  desiredHealthy: 2,
  expectedPods: 3,
  disruptionsAllowed: 0,
});
const never = pdb('web-pdb', 'web', {
  maxUnavailable: 0,
  currentHealthy: 3,
  desiredHealthy: 3,
  expectedPods: 3,
  disruptionsAllowed: 0,
});

const f = (
  status: number,
  reason: string,
  message: string,
  causes: { type: string; message: string }[] = [],
  retryAfterSeconds?: number,
): ApiFailure => ({
  status,
  reason,
  message,
  causes,
  retryAfterSeconds,
});
const budget429 = f(
  429,
  'TooManyRequests',
  "Cannot evict pod as it would violate the pod's disruption budget.",
  [
    {
      type: 'DisruptionBudget',
      message: 'The disruption budget web-pdb needs 2 healthy pods and has 2 currently',
    },
  ],
);

for (const tc of [
  {
    name: 'a 429 with a budget cause is an exhausted budget, retried',
    failure: budget429,
    pod: web,
    pdbs: [budget],
    kind: 'budget-exhausted',
    retry: true,
  },
  {
    name: 'an unready pod under IfHealthyBudget is told apart',
    failure: budget429,
    pod: unready,
    pdbs: [budget],
    kind: 'unhealthy-pod-if-healthy-budget',
    retry: true,
  },
  {
    name: 'a budget the controller has not observed yet',
    failure: f(429, 'TooManyRequests', "Cannot evict pod as it would violate the pod's disruption budget.", [
      {
        type: 'DisruptionBudget',
        message: 'The disruption budget web-pdb is still being processed by the server.',
      },
    ]),
    pod: web,
    pdbs: [budget],
    kind: 'budget-not-observed',
    retry: true,
  },
  {
    name: 'a 500 for more than one PDB is never retried',
    failure: f(
      500,
      'InternalError',
      'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.',
    ),
    pod: web,
    pdbs: [budget, pdb('other', 'web')],
    kind: 'multiple-pdbs',
    retry: false,
  },
  {
    name: 'an admission webhook denial is not retried',
    failure: f(
      400,
      'BadRequest',
      'admission webhook "deny-evictions.example.com" denied the request: maintenance freeze',
    ),
    pod: web,
    pdbs: [],
    kind: 'admission-denied',
    retry: false,
  },
  {
    name: 'a ValidatingAdmissionPolicy denial is an admission denial',
    failure: f(
      403,
      'Forbidden',
      "pods \"web-1\" is forbidden: ValidatingAdmissionPolicy 'no-evict' with binding 'no-evict-b' denied request: frozen",
    ),
    pod: web,
    pdbs: [],
    kind: 'admission-denied',
    retry: false,
  },
  {
    name: 'a terminating namespace is retried (kubectl does too)',
    failure: f(
      403,
      'Forbidden',
      'pods "web-1" is forbidden: unable to create new content in namespace demo because it is being terminated',
      [{ type: 'NamespaceTerminating', message: 'namespace demo is being terminated' }],
    ),
    pod: web,
    pdbs: [],
    kind: 'namespace-terminating',
    retry: true,
  },
  {
    name: 'a 429 with no budget around is throttling',
    failure: f(429, 'TooManyRequests', 'Too many requests, please try again later.', [], 2),
    pod: web,
    pdbs: [],
    kind: 'rate-limited',
    retry: true,
  },
  {
    name: 'RBAC forbidden is not retried',
    failure: f(
      403,
      'Forbidden',
      'pods "web-1" is forbidden: User "x" cannot create resource "pods/eviction"',
    ),
    pod: web,
    pdbs: [],
    kind: 'forbidden',
    retry: false,
  },
  {
    name: 'a 503 is a server error, retried',
    failure: f(503, 'ServiceUnavailable', 'the server is currently unable to handle the request'),
    pod: web,
    pdbs: [],
    kind: 'server-error',
    retry: true,
  },
  {
    name: 'no answer at all is retried',
    failure: f(0, 'Unreachable', 'unable to reach the API server'),
    pod: web,
    pdbs: [],
    kind: 'server-error',
    retry: true,
  },
  {
    // kube-apiserver deletes an evicted pod with a resourceVersion precondition (the pod it checked
    // against the budget): a pod that changed in between (another drain, its readiness) is a 409.
    name: 'a 409 Conflict (the pod or its budget changed while the eviction was checked) is retried',
    failure: f(
      409,
      'Conflict',
      'Operation cannot be fulfilled on pods "web-1": the object has been modified; please apply your changes to the latest version and try again',
    ),
    pod: web,
    pdbs: [budget],
    kind: 'conflict',
    retry: true,
  },
  {
    name: 'a 422 is unknown and not retried',
    failure: f(422, 'Invalid', 'Eviction.policy "web-1" is invalid'),
    pod: web,
    pdbs: [],
    kind: 'unknown',
    retry: false,
  },
]) {
  test(tc.name, () => {
    const c = classifyEviction(tc.failure, tc.pod, tc.pdbs);
    assert.equal(c.kind, tc.kind);
    assert.equal(c.retry, tc.retry);
  });
}

test("an exhausted budget says which PDB and its numbers, from the server's cause", () => {
  const c = classifyEviction(budget429, web, [budget]);
  assert.equal(
    c.message,
    'PodDisruptionBudget demo/web-pdb (minAvailable: 2): 2 of 3 pods healthy, needs 2, allows 0 disruptions now',
  );
  assert.deepEqual(c.budget && { d: c.budget.desiredHealthy, c: c.budget.currentHealthy }, { d: 2, c: 2 });
  assert.match(c.hint, /replacement/);
});

test('a budget that can never allow says so in the hint', () => {
  const c = classifyEviction(budget429, web, [never]);
  assert.match(c.hint, /never allows/);
});

test('an unready pod names IfHealthyBudget and how to change it', () => {
  const c = classifyEviction(budget429, unready, [budget]);
  assert.match(c.message, /IfHealthyBudget/);
  assert.match(c.hint, /AlwaysAllow/);
});

test('the webhook name and its reason are quoted', () => {
  const c = classifyEviction(
    f(400, 'BadRequest', 'admission webhook "deny.example.com" denied the request: maintenance freeze'),
    web,
    [],
  );
  assert.equal(c.message, 'eviction denied by admission webhook "deny.example.com": maintenance freeze');
});

test('Retry-After is kept', () => {
  assert.equal(classifyEviction(f(429, 'TooManyRequests', 'slow down', [], 7), web, []).retryAfterSeconds, 7);
});

test('a budget held down by status.disruptedPods entries of evictions that never deleted their pods says so', () => {
  const now = new Date('2025-01-01T00:01:00Z');
  const held = pdb('web-pdb', 'web', {
    maxUnavailable: 1,
    currentHealthy: 2,
    desiredHealthy: 3,
    expectedPods: 3,
    disruptionsAllowed: 0,
  });
  held.status = {
    ...held.status,
    // web-3 was evicted 30 s ago and still runs; web-1's entry is a second old: its eviction is in progress.
    disruptedPods: { 'web-3': '2025-01-01T00:00:30Z', 'web-1': '2025-01-01T00:00:59Z' },
  };
  const live = [web, pod('web-3', { labels: { app: 'web' } })];
  const b = classifyEviction(budget429, web, [held], live, now);
  assert.equal(b.kind, 'budget-exhausted');
  assert.deepEqual(b.budget?.held, [{ pod: 'demo/web-3', since: '2025-01-01T00:00:30Z' }]);
  assert.match(
    b.message,
    /^PodDisruptionBudget demo\/web-pdb \(maxUnavailable: 1\): 2 of 3 pods healthy, needs 2, allows 0 disruptions now; its status.disruptedPods holds 1 running pod \(demo\/web-3\) out of currentHealthy: evictions that never deleted them, dropped by kube-controller-manager 2 minutes after they were made \(until 2025-01-01T00:02:30Z\)$/,
  );
  // Without the time, or once the pod is being deleted, nothing is said.
  assert.equal(classifyEviction(budget429, web, [held], live).budget?.held.length, 0);
  const deleting = [web, pod('web-3', { labels: { app: 'web' }, deletionTimestamp: '2025-01-01T00:00:31Z' })];
  assert.equal(classifyEviction(budget429, web, [held], deleting, now).budget?.held.length, 0);
});
