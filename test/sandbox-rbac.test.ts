// Authentication and RBAC of the sandbox's kube-apiserver, seen through the real kubectl: the 401
// of a bad credential, the 403 of a user RBAC does not allow (kube's exact message), ServiceAccount
// tokens from the TokenRequest API, kubectl auth can-i / whoami, and issue 18's user with exactly
// the rights `kubectl drain` needs, who drains a node with kubectl and can do nothing more. The
// audit record shows every request of that user allowed, and by which rule.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { bosun } from './support/cli.ts';
import { rawClient } from './support/https-client.ts';
import {
  eventually,
  KUBECTL,
  run,
  startTestSandbox,
  type RunResult,
  type TestSandbox,
} from './support/sandbox.ts';

/** A multi-document YAML stream of JSON objects (kubectl validates a List against OpenAPI v2, which the sandbox does not serve). */
function manifests(...objs: unknown[]): string {
  return objs.map((o) => JSON.stringify(o)).join('\n---\n');
}

const DRAIN_ROLE = {
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'ClusterRole',
  metadata: { name: 'kubectl-drain' },
  rules: [
    { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'patch'] },
    { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
    { apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] },
    { apiGroups: ['apps'], resources: ['daemonsets'], verbs: ['get'] },
  ],
};

describe('sandbox authentication and RBAC with the real kubectl', () => {
  let s: TestSandbox;
  let drainerConf: string;
  before(async () => {
    s = await startTestSandbox({ controlPlanes: 1, workers: 2 });
    drainerConf = await s.sb.userKubeconfig('drainer', ['ops']);
  });
  after(() => s?.stop());

  /** A kubeconfig with the admin's cluster and a bearer token as the user. */
  const tokenKubeconfig = (token: string): string => {
    const admin = parse(readFileSync(s.kubeconfig, 'utf8')) as { clusters: unknown[] };
    const file = join(s.dir, `token-${createHash('sha256').update(token).digest('hex').slice(0, 12)}.conf`);
    writeFileSync(
      file,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: admin.clusters,
        users: [{ name: 'token', user: { token } }],
        contexts: [{ name: 'token', context: { cluster: 'kubernetes', user: 'token' } }],
        'current-context': 'token',
      }),
      { mode: 0o600 },
    );
    return file;
  };

  /** kubectl as another user (a kubeconfig, or a bearer token against the admin's cluster entry). */
  const kubectlAs = (
    auth: { kubeconfig: string } | { token: string },
    args: readonly string[],
  ): Promise<RunResult> => {
    const home = join(s.dir, 'kubectl-home');
    const base = ['--kubeconfig', 'kubeconfig' in auth ? auth.kubeconfig : tokenKubeconfig(auth.token)];
    return run(KUBECTL, [...base, '--cache-dir', join(home, 'cache'), ...args], {
      env: { ...process.env, HOME: home, KUBECONFIG: '' },
    });
  };

  test('kubectl lists the RBAC objects and service accounts kube-apiserver and kubeadm bootstrap', async () => {
    const r = await s.kubectl(['get', 'clusterroles,clusterrolebindings,rolebindings,sa', '-A']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^clusterrole\.rbac\.authorization\.k8s\.io\/cluster-admin\s+\d{4}-\d\d-\d\dT/m);
    assert.match(r.stdout, /^clusterrole\.rbac\.authorization\.k8s\.io\/system:public-info-viewer\s/m);
    assert.match(
      r.stdout,
      /^clusterrolebinding\.rbac\.authorization\.k8s\.io\/kubeadm:cluster-admins\s+ClusterRole\/cluster-admin\s+\S+$/m,
    );
    assert.match(r.stdout, /^kube-system\s+serviceaccount\/kube-proxy\s+0\s+\S+$/m);
    const whoami = await s.kubectl(['auth', 'whoami', '-o', 'json']);
    assert.equal(whoami.code, 0, whoami.stderr);
    assert.deepEqual(JSON.parse(whoami.stdout).status.userInfo, {
      username: 'kubernetes-admin',
      groups: ['kubeadm:cluster-admins', 'system:authenticated'],
    });
  });

  test("anonymous requests get kube-apiserver's 403 except the public paths", async () => {
    const anon = rawClient(s.kubeconfig, { anonymous: true });
    const r = await anon.request('GET', '/api/v1/namespaces/default/pods');
    assert.equal(r.status, 403);
    assert.deepEqual(r.json(), {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message:
        'pods is forbidden: User "system:anonymous" cannot list resource "pods" in API group "" in the namespace "default"',
      reason: 'Forbidden',
      details: { kind: 'pods' },
      code: 403,
    });
    const api = await anon.request('GET', '/api');
    assert.equal(api.json().message, 'forbidden: User "system:anonymous" cannot get path "/api"');
    for (const p of ['/version', '/healthz', '/readyz', '/livez'])
      assert.equal((await anon.request('GET', p)).status, 200, p);
  });

  test('a bearer token that is not a valid ServiceAccount token is 401 Unauthorized, as kubectl reports it', async () => {
    const raw = rawClient(s.kubeconfig, { anonymous: true });
    const r = await raw.request('GET', '/api/v1/pods', undefined, { authorization: 'Bearer not-a-token' });
    assert.equal(r.status, 401);
    assert.deepEqual(r.json(), {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'Unauthorized',
      reason: 'Unauthorized',
      code: 401,
    });
    const k = await kubectlAs({ token: 'not-a-token' }, ['get', 'pods']);
    assert.equal(k.code, 1);
    assert.equal(k.stderr.trim(), 'error: You must be logged in to the server (Unauthorized)');
  });

  test("a user RBAC does not bind is refused with kube's message", async () => {
    const conf = await s.sb.userKubeconfig('alice', ['developers']);
    const r = await kubectlAs({ kubeconfig: conf }, ['get', 'pods', '-n', 'default']);
    assert.equal(r.code, 1);
    assert.equal(
      r.stderr.trim(),
      'Error from server (Forbidden): pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "default"',
    );
    const who = await kubectlAs({ kubeconfig: conf }, [
      'auth',
      'whoami',
      '-o',
      'jsonpath={.status.userInfo.groups}',
    ]);
    assert.equal(who.stdout, '["developers","system:authenticated"]');
  });

  test('system:masters is allowed everything before RBAC is asked, as super-admin.conf is', async () => {
    const conf = await s.sb.userKubeconfig('root', ['system:masters']);
    const since = s.sb.auditLog.lastSeq;
    const r = await kubectlAs({ kubeconfig: conf }, ['get', 'secrets', '-A']);
    assert.equal(r.code, 0, r.stderr);
    const recs = s.sb.audit({ user: 'root', since }).filter((x) => x.resource === 'secrets');
    assert.deepEqual(
      recs.map((x) => [x.verb, x.allowed, x.authorizer, x.reason]),
      [['list', true, 'system:masters', '']],
    );
  });

  test('TokenRequest is validated and bound as kube-apiserver does', async () => {
    const admin = rawClient(s.kubeconfig);
    const post = (sa: string, spec: unknown) =>
      admin.request('POST', `/api/v1/namespaces/default/serviceaccounts/${sa}/token`, {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec,
      });
    const short = await post('default', { expirationSeconds: 60 });
    assert.equal(short.status, 422);
    assert.equal(
      short.json().message,
      'TokenRequest.authentication.k8s.io "default" is invalid: spec.expirationSeconds: Invalid value: 60: may not specify a duration less than 10 minutes',
    );
    const apply = await s.kubectl(['apply', '-f', '-'], {
      input: manifests(
        { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'other', namespace: 'default' } },
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'holder', namespace: 'default' },
          spec: { containers: [{ name: 'c', image: 'nginx:1.27' }] },
        },
      ),
    });
    assert.equal(apply.code, 0, apply.stderr);
    const pod = await s.kubectlJson<{ metadata: { uid: string } }>(['get', 'pod', 'holder', '-n', 'default']);
    const wrongSa = await post('other', {
      boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: 'holder' },
    });
    assert.equal(wrongSa.status, 400);
    assert.equal(
      wrongSa.json().message,
      'cannot bind token for serviceaccount "other" to pod running with serviceaccount "default"',
    );
    const wrongUid = await post('default', {
      boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: 'holder', uid: 'not-its-uid' },
    });
    assert.equal(wrongUid.status, 409);
    const ok = await post('default', {
      boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: 'holder', uid: pod.metadata.uid },
      expirationSeconds: 600,
    });
    assert.equal(ok.status, 201, ok.body);
    const tr = ok.json<{
      spec: { expirationSeconds: number; audiences: string[] };
      status: { token: string };
    }>();
    assert.equal(tr.spec.expirationSeconds, 600);
    assert.deepEqual(tr.spec.audiences, ['https://kubernetes.default.svc.cluster.local']);
    const who = await kubectlAs({ token: tr.status.token }, ['auth', 'whoami', '-o', 'json']);
    assert.deepEqual(JSON.parse(who.stdout).status.userInfo.extra['authentication.kubernetes.io/pod-name'], [
      'holder',
    ]);
    assert.equal((await s.kubectl(['delete', 'pod', 'holder', '-n', 'default'])).code, 0);
    const revoked = await kubectlAs({ token: tr.status.token }, ['auth', 'whoami']);
    assert.equal(revoked.stderr.trim(), 'error: You must be logged in to the server (Unauthorized)');
  });

  test('a ServiceAccount token from kubectl create token authenticates; its Role decides; deleting the account revokes it', async () => {
    const apply = await s.kubectl(['apply', '-f', '-'], {
      input: manifests(
        { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'reader', namespace: 'default' } },
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'Role',
          metadata: { name: 'cm-reader', namespace: 'default' },
          rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'] }],
        },
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'RoleBinding',
          metadata: { name: 'reader', namespace: 'default' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'cm-reader' },
          subjects: [{ kind: 'ServiceAccount', name: 'reader' }],
        },
      ),
    });
    assert.equal(apply.code, 0, apply.stderr);
    const tok = await s.kubectl(['create', 'token', 'reader', '-n', 'default']);
    assert.equal(tok.code, 0, tok.stderr);
    const token = tok.stdout.trim();
    const ok = await kubectlAs({ token }, ['get', 'configmaps', '-n', 'default']);
    assert.equal(ok.code, 0, ok.stderr);
    const can = await kubectlAs({ token }, ['auth', 'can-i', 'list', 'configmaps', '-n', 'default']);
    assert.equal(can.stdout.trim(), 'yes');
    const cannot = await kubectlAs({ token }, ['auth', 'can-i', 'list', 'secrets', '-n', 'default']);
    assert.equal(cannot.stdout.trim(), 'no');
    const refused = await kubectlAs({ token }, ['get', 'configmaps', '-n', 'kube-system']);
    assert.match(
      refused.stderr,
      /configmaps is forbidden: User "system:serviceaccount:default:reader" cannot list resource "configmaps" in API group "" in the namespace "kube-system"/,
    );
    assert.equal((await s.kubectl(['delete', 'sa', 'reader', '-n', 'default'])).code, 0);
    const gone = await kubectlAs({ token }, ['get', 'configmaps', '-n', 'default']);
    assert.equal(gone.stderr.trim(), 'error: You must be logged in to the server (Unauthorized)');
  });

  test("a user with exactly kubectl drain's rights drains with the real kubectl, and nothing more", async () => {
    const setup = await s.kubectl(['apply', '-f', '-'], {
      input: manifests(
        DRAIN_ROLE,
        {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'ClusterRoleBinding',
          metadata: { name: 'ops-drain' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'kubectl-drain' },
          subjects: [{ kind: 'Group', name: 'ops' }],
        },
        {
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: { name: 'web', namespace: 'default' },
          spec: {
            replicas: 4,
            selector: { matchLabels: { app: 'web' } },
            template: {
              metadata: { labels: { app: 'web' } },
              spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] },
            },
          },
        },
      ),
    });
    assert.equal(setup.code, 0, setup.stderr);
    await eventually('web running on worker-1', async () => {
      const pods = await s.kubectlJson<{
        items: { spec: { nodeName?: string }; status: { phase: string } }[];
      }>(['get', 'pods', '-n', 'default', '-l', 'app=web']);
      return (
        pods.items.filter((p) => p.status.phase === 'Running').length === 4 &&
        pods.items.some((p) => p.spec.nodeName === 'worker-1')
      );
    });
    const since = s.sb.auditLog.lastSeq;
    const list = await kubectlAs({ kubeconfig: drainerConf }, ['auth', 'can-i', '--list', '-n', 'default']);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^pods\/eviction\s+\[\]\s+\[\]\s+\[create\]$/m);
    assert.match(list.stdout, /^daemonsets\.apps\s+\[\]\s+\[\]\s+\[get\]$/m);
    const canEvict = await kubectlAs({ kubeconfig: drainerConf }, [
      'auth',
      'can-i',
      'create',
      'pods',
      '--subresource=eviction',
      '-n',
      'default',
    ]);
    assert.equal(canEvict.stdout.trim(), 'yes');
    const drain = await kubectlAs({ kubeconfig: drainerConf }, [
      'drain',
      'worker-1',
      '--ignore-daemonsets',
      '--delete-emptydir-data',
      '--timeout',
      '60s',
    ]);
    assert.equal(drain.code, 0, drain.stderr);
    assert.match(drain.stdout, /node\/worker-1 drained/);
    const node = await s.kubectlJson<{ spec: { unschedulable?: boolean } }>(['get', 'node', 'worker-1']);
    assert.equal(node.spec.unschedulable, true);
    // Nothing more: no delete, no secrets, no scale, no uncordon of another kind (update).
    for (const args of [
      ['delete', 'pod', '-n', 'default', '-l', 'app=web'],
      ['get', 'secrets', '-A'],
      ['scale', 'deployment', 'web', '-n', 'default', '--replicas', '1'],
      ['get', 'deployments', '-n', 'default'],
    ]) {
      const r = await kubectlAs({ kubeconfig: drainerConf }, args);
      assert.notEqual(r.code, 0, `${args.join(' ')} should be refused`);
      assert.match(r.stderr, /Forbidden|forbidden/, args.join(' '));
    }
    const uncordon = await kubectlAs({ kubeconfig: drainerConf }, ['uncordon', 'worker-1']);
    assert.equal(uncordon.code, 0, uncordon.stderr);

    // The audit record: the drain's requests were all allowed, each by a rule of kubectl-drain
    // (or the discovery and basic-user roles every authenticated user has).
    const records = s.sb.audit({ user: 'drainer', since });
    const drainReqs = records.filter((r) => r.allowed);
    assert.ok(drainReqs.length > 5, JSON.stringify(records.length));
    for (const r of drainReqs)
      assert.ok(
        ['kubectl-drain', 'system:discovery', 'system:basic-user'].includes(r.role?.name ?? ''),
        JSON.stringify(r),
      );
    const used = new Set(drainReqs.filter((r) => r.role?.name === 'kubectl-drain').map((r) => r.ruleIndex));
    assert.deepEqual([...used].sort(), [0, 1, 2, 3], 'every rule of the drain role was used');
    const evictions = drainReqs.filter((r) => r.subresource === 'eviction');
    assert.ok(evictions.length >= 1);
    assert.equal(
      evictions[0]?.reason,
      'RBAC: allowed by ClusterRoleBinding "ops-drain" of ClusterRole "kubectl-drain" to Group "ops"',
    );
    const refused = new Set(records.filter((r) => !r.allowed).map((r) => `${r.verb} ${r.resource}`));
    for (const want of ['delete pods', 'list secrets', 'list deployments'])
      assert.ok(refused.has(want), [...refused].join(', '));
  });

  // Issue 18: bosun needs no more than kubectl drain. Runs after the test above, whose drain moved
  // the four web pods to worker-2 and whose role and binding it reuses.
  test('bosun drains as that user too: what it may not check is said and skipped, watches become polls, nothing refused after the cordon', async () => {
    const since = s.sb.auditLog.lastSeq;
    const home = join(s.dir, 'bosun-home');
    const r = await bosun(
      [
        'drain',
        'worker-2',
        '--kubeconfig',
        drainerConf,
        '--ignore-daemonsets',
        '--delete-emptydir-data',
        '--timeout',
        '60s',
      ],
      { env: { HOME: home, KUBECONFIG: '' } },
    );
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /node\/worker-2 drained/);
    const records = s.sb.audit({ user: 'drainer', since });
    // The budgets are listed cluster-wide by the pre-flight: this user may not, and is told which
    // permission would enable the check, once.
    const skipped = r.stderr.split('\n').filter((l) => l.includes('skipped'));
    assert.equal(skipped.length, 1, r.stderr);
    assert.match(skipped[0] ?? '', /poddisruptionbudgets/);
    // No watch on pods or nodes: both are polled, as kubectl does, and said so.
    assert.match(r.stderr, /may not watch pods.*polling the node's pods every second/);
    assert.match(r.stderr, /may not watch nodes.*polling node\/worker-2 every second/);
    assert.ok(!records.some((x) => x.verb === 'watch' && x.allowed), 'no watch was opened');
    const pods = await s.kubectlJson<{ items: { spec: { nodeName?: string }; status: { phase: string } }[] }>(
      ['get', 'pods', '-n', 'default', '-l', 'app=web'],
    );
    assert.equal(pods.items.filter((p) => p.spec.nodeName === 'worker-2').length, 0);

    const cordon = records.find((x) => x.verb === 'patch' && x.resource === 'nodes' && x.allowed);
    assert.ok(cordon, 'the cordon is in the audit record');
    const refusedAfter = records.filter((x) => x.seq > cordon.seq && !x.allowed);
    assert.deepEqual(
      refusedAfter.map((x) => `${x.verb} ${x.resource}/${x.subresource}`),
      [],
      'nothing refused after the cordon',
    );
    const evictions = records.filter((x) => x.subresource === 'eviction' && x.allowed);
    assert.ok(evictions.length >= 4, String(evictions.length));
    const uncordon = await bosun(['uncordon', 'worker-2', '--kubeconfig', drainerConf], {
      env: { HOME: home, KUBECONFIG: '' },
    });
    assert.equal(uncordon.code, 0, uncordon.stderr);
  });
});
