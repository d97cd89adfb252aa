import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  authorize,
  forbiddenMessage,
  rulesFor,
  type BindingLike,
  type RbacPolicy,
  type RoleLike,
  type UserInfo,
} from './rbac.ts';
import { requestInfo } from './request-info.ts';

function policy(objs: {
  clusterRoles?: RoleLike[];
  roles?: RoleLike[];
  clusterRoleBindings?: BindingLike[];
  roleBindings?: BindingLike[];
}): RbacPolicy {
  return {
    clusterRoleBindings: () => objs.clusterRoleBindings ?? [],
    roleBindings: (ns) => (objs.roleBindings ?? []).filter((b) => b.metadata.namespace === ns),
    clusterRole: (name) => (objs.clusterRoles ?? []).find((r) => r.metadata.name === name),
    role: (ns, name) =>
      (objs.roles ?? []).find((r) => r.metadata.namespace === ns && r.metadata.name === name),
  };
}

const drainer: UserInfo = { name: 'drainer', groups: ['ops', 'system:authenticated'] };
const agent: UserInfo = {
  name: 'system:serviceaccount:bosun-system:bosun',
  groups: ['system:serviceaccounts', 'system:serviceaccounts:bosun-system', 'system:authenticated'],
};

// kubectl drain's rights, as issue 18 lists them.
const drainRole: RoleLike = {
  metadata: { name: 'drain' },
  rules: [
    { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'patch'] },
    { apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] },
    { apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] },
    { apiGroups: ['apps'], resources: ['daemonsets'], verbs: ['get'] },
  ],
};

const clusterPolicy = policy({
  clusterRoles: [
    drainRole,
    {
      metadata: { name: 'scaler' },
      rules: [{ apiGroups: ['apps'], resources: ['*/scale'], verbs: ['update'] }],
    },
    {
      metadata: { name: 'one-lease' },
      rules: [
        {
          apiGroups: ['coordination.k8s.io'],
          resources: ['leases'],
          resourceNames: ['bosun'],
          verbs: ['get', 'update', 'watch'],
        },
      ],
    },
    { metadata: { name: 'metrics' }, rules: [{ nonResourceURLs: ['/metrics', '/debug/*'], verbs: ['get'] }] },
    { metadata: { name: 'all' }, rules: [{ apiGroups: ['*'], resources: ['*'], verbs: ['*'] }] },
  ],
  roles: [
    {
      metadata: { name: 'cm-reader', namespace: 'shop' },
      rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }],
    },
  ],
  clusterRoleBindings: [
    {
      metadata: { name: 'drainers' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'drain' },
      subjects: [{ kind: 'Group', name: 'ops' }],
    },
    {
      metadata: { name: 'bosun-metrics' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'metrics' },
      subjects: [{ kind: 'ServiceAccount', name: 'bosun', namespace: 'bosun-system' }],
    },
    {
      metadata: { name: 'sa-without-namespace' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'all' },
      subjects: [{ kind: 'ServiceAccount', name: 'bosun' }],
    },
  ],
  roleBindings: [
    {
      metadata: { name: 'scale-in-shop', namespace: 'shop' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'scaler' },
      subjects: [{ kind: 'User', name: 'drainer' }],
    },
    {
      metadata: { name: 'lease', namespace: 'bosun-system' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'one-lease' },
      // No namespace: the binding's own.
      subjects: [{ kind: 'ServiceAccount', name: 'bosun' }],
    },
    {
      metadata: { name: 'cm', namespace: 'shop' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'cm-reader' },
      subjects: [{ kind: 'ServiceAccount', name: 'bosun', namespace: 'bosun-system' }],
    },
  ],
});

function req(method: string, url: string) {
  const u = new URL(url, 'https://x');
  return requestInfo(method, u.pathname, u.searchParams);
}

for (const tc of [
  {
    name: 'list nodes is granted by the drain role',
    user: drainer,
    method: 'GET',
    url: '/api/v1/nodes',
    want: true,
  },
  {
    name: 'watch is not list: watching nodes is refused',
    user: drainer,
    method: 'GET',
    url: '/api/v1/nodes?watch=true',
    want: false,
  },
  {
    name: 'patch of a node is granted',
    user: drainer,
    method: 'PATCH',
    url: '/api/v1/nodes/worker-1',
    want: true,
  },
  {
    name: 'update of a node is not patch',
    user: drainer,
    method: 'PUT',
    url: '/api/v1/nodes/worker-1',
    want: false,
  },
  {
    name: 'nodes does not cover nodes/status',
    user: drainer,
    method: 'PATCH',
    url: '/api/v1/nodes/worker-1/status',
    want: false,
  },
  {
    name: 'pods/eviction create is granted in any namespace',
    user: drainer,
    method: 'POST',
    url: '/api/v1/namespaces/shop/pods/web-1/eviction',
    want: true,
  },
  {
    name: 'deleting a pod is not evicting it',
    user: drainer,
    method: 'DELETE',
    url: '/api/v1/namespaces/shop/pods/web-1',
    want: false,
  },
  {
    name: 'daemonsets are in the apps group, not the core one',
    user: drainer,
    method: 'GET',
    url: '/api/v1/namespaces/kube-system/daemonsets/x',
    want: false,
  },
  {
    name: 'get daemonset in apps is granted',
    user: drainer,
    method: 'GET',
    url: '/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy',
    want: true,
  },
  {
    name: '*/scale matches deployments/scale inside the RoleBinding namespace',
    user: drainer,
    method: 'PUT',
    url: '/apis/apps/v1/namespaces/shop/deployments/web/scale',
    want: true,
  },
  {
    name: 'a RoleBinding grants nothing in another namespace',
    user: drainer,
    method: 'PUT',
    url: '/apis/apps/v1/namespaces/data/deployments/web/scale',
    want: false,
  },
  {
    name: '*/scale does not match the deployment itself',
    user: drainer,
    method: 'PUT',
    url: '/apis/apps/v1/namespaces/shop/deployments/web',
    want: false,
  },
  {
    name: 'resourceNames allows the named lease',
    user: agent,
    method: 'PUT',
    url: '/apis/coordination.k8s.io/v1/namespaces/bosun-system/leases/bosun',
    want: true,
  },
  {
    name: 'resourceNames refuses another lease',
    user: agent,
    method: 'PUT',
    url: '/apis/coordination.k8s.io/v1/namespaces/bosun-system/leases/other',
    want: false,
  },
  {
    name: 'resourceNames cannot allow a list (no name)',
    user: agent,
    method: 'GET',
    url: '/apis/coordination.k8s.io/v1/namespaces/bosun-system/leases',
    want: false,
  },
  {
    name: 'a watch narrowed to the name by a field selector is a watch of that name',
    user: agent,
    method: 'GET',
    url: '/apis/coordination.k8s.io/v1/namespaces/bosun-system/leases?fieldSelector=metadata.name%3Dbosun&watch=1',
    want: true,
  },
  {
    name: 'a list narrowed to the name needs list, not get',
    user: agent,
    method: 'GET',
    url: '/apis/coordination.k8s.io/v1/namespaces/bosun-system/leases?fieldSelector=metadata.name%3Dbosun',
    want: false,
  },
  {
    name: 'a Role binds in its namespace for a ServiceAccount of another namespace',
    user: agent,
    method: 'GET',
    url: '/api/v1/namespaces/shop/configmaps/settings',
    want: true,
  },
  { name: 'non-resource URL exact', user: agent, method: 'GET', url: '/metrics', want: true },
  {
    name: 'non-resource URL prefix with *',
    user: agent,
    method: 'GET',
    url: '/debug/pprof/heap',
    want: true,
  },
  { name: 'non-resource URL verb must match', user: agent, method: 'POST', url: '/metrics', want: false },
  {
    name: 'a ServiceAccount subject of a ClusterRoleBinding needs a namespace',
    user: agent,
    method: 'DELETE',
    url: '/api/v1/namespaces/x/pods/y',
    want: false,
  },
]) {
  test(tc.name, () => {
    assert.equal(authorize(clusterPolicy, tc.user, req(tc.method, tc.url)).allowed, tc.want);
  });
}

test('the reason names the binding, the role and the subject, as kube-apiserver logs it', () => {
  const d = authorize(clusterPolicy, drainer, req('POST', '/api/v1/namespaces/shop/pods/web-1/eviction'));
  assert.equal(
    d.reason,
    'RBAC: allowed by ClusterRoleBinding "drainers" of ClusterRole "drain" to Group "ops"',
  );
  assert.equal(d.ruleIndex, 2);
  assert.deepEqual(d.rule, { apiGroups: [''], resources: ['pods/eviction'], verbs: ['create'] });
  const l = authorize(
    clusterPolicy,
    agent,
    req('GET', '/apis/coordination.k8s.io/v1/namespaces/bosun-system/leases/bosun'),
  );
  assert.equal(
    l.reason,
    'RBAC: allowed by RoleBinding "lease/bosun-system" of ClusterRole "one-lease" to ServiceAccount "bosun/bosun-system"',
  );
});

test('system:masters is allowed before RBAC, without a reason', () => {
  const d = authorize(
    policy({}),
    { name: 'kubernetes-super-admin', groups: ['system:masters'] },
    req('DELETE', '/api/v1/nodes/x'),
  );
  assert.deepEqual(d, { allowed: true, reason: '', authorizer: 'system:masters' });
});

test('a binding to a missing role says so in the reason of the refusal', () => {
  const p = policy({
    clusterRoleBindings: [
      {
        metadata: { name: 'b' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'gone' },
        subjects: [{ kind: 'User', name: 'u' }],
      },
    ],
  });
  const d = authorize(p, { name: 'u', groups: [] }, req('GET', '/api/v1/pods'));
  assert.deepEqual(d, {
    allowed: false,
    reason: 'RBAC: clusterrole.rbac.authorization.k8s.io "gone" not found',
    authorizer: 'none',
  });
});

test('rulesFor lists the cluster-wide rules and those of the namespace', () => {
  const r = rulesFor(clusterPolicy, drainer, 'shop');
  assert.equal(r.rules.length, 5);
  assert.deepEqual(r.rules.at(-1), { apiGroups: ['apps'], resources: ['*/scale'], verbs: ['update'] });
  assert.equal(rulesFor(clusterPolicy, drainer, 'data').rules.length, 4);
});

for (const tc of [
  {
    method: 'GET',
    url: '/api/v1/namespaces/x/pods',
    want: 'User "u" cannot list resource "pods" in API group "" in the namespace "x"',
  },
  {
    method: 'GET',
    url: '/api/v1/nodes?watch=1',
    want: 'User "u" cannot watch resource "nodes" in API group "" at the cluster scope',
  },
  {
    method: 'POST',
    url: '/api/v1/namespaces/x/pods/p/eviction',
    want: 'User "u" cannot create resource "pods/eviction" in API group "" in the namespace "x"',
  },
  {
    method: 'GET',
    url: '/apis/apps/v1/daemonsets',
    want: 'User "u" cannot list resource "daemonsets" in API group "apps" at the cluster scope',
  },
  { method: 'GET', url: '/metrics', want: 'User "u" cannot get path "/metrics"' },
]) {
  test(`forbidden message: ${tc.want}`, () =>
    assert.equal(forbiddenMessage('u', req(tc.method, tc.url)), tc.want));
}
