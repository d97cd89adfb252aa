import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyRbacDefaults,
  bootstrapPolicy,
  validateRbacCreate,
  validateRbacUpdate,
} from './rbac-objects.ts';
import type { KubeObject } from './types.ts';

const binding = (extra: Partial<KubeObject> = {}): KubeObject => ({
  metadata: { name: 'b', namespace: 'ns' },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'r' },
  subjects: [{ kind: 'ServiceAccount', name: 'sa', apiGroup: '' }],
  ...extra,
});

for (const tc of [
  {
    name: 'a role name may hold colons',
    resource: 'clusterroles',
    obj: { metadata: { name: 'system:basic-user' }, rules: [] },
    want: [],
  },
  {
    name: 'a name with a slash is refused',
    resource: 'roles',
    obj: { metadata: { name: 'a/b' }, rules: [] },
    want: ['metadata.name: Invalid value: "a/b": may not contain \'/\''],
  },
  {
    name: 'a rule without verbs is refused',
    resource: 'roles',
    obj: { metadata: { name: 'r' }, rules: [{ apiGroups: [''], resources: ['pods'], verbs: [] }] },
    want: ['rules[0].verbs: Required value: verbs must contain at least one value'],
  },
  {
    name: 'a resource rule needs API groups and resources',
    resource: 'clusterroles',
    obj: { metadata: { name: 'r' }, rules: [{ verbs: ['get'] }] },
    want: [
      'rules[0].apiGroups: Required value: resource rules must supply at least one api group',
      'rules[0].resources: Required value: resource rules must supply at least one resource',
    ],
  },
  {
    name: 'a Role cannot grant non-resource URLs',
    resource: 'roles',
    obj: { metadata: { name: 'r' }, rules: [{ nonResourceURLs: ['/metrics'], verbs: ['get'] }] },
    want: [
      'rules[0].nonResourceURLs: Invalid value: ["/metrics"]: namespaced rules cannot apply to non-resource URLs',
    ],
  },
  {
    name: 'a ClusterRoleBinding cannot reference a Role',
    resource: 'clusterrolebindings',
    obj: binding({ subjects: [] }),
    want: ['roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"'],
  },
  {
    name: 'a ServiceAccount subject of a ClusterRoleBinding needs its namespace',
    resource: 'clusterrolebindings',
    obj: binding({ roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'c' } }),
    want: ['subjects[0].namespace: Required value'],
  },
  {
    name: 'a RoleBinding may leave a ServiceAccount subject without a namespace',
    resource: 'rolebindings',
    obj: binding(),
    want: [],
  },
]) {
  test(tc.name, () => {
    const got = validateRbacCreate(tc.resource, tc.obj as KubeObject).map(
      (c) => `${c.field ?? ''}: ${c.message ?? ''}`,
    );
    assert.deepEqual(got, tc.want);
  });
}

test("a binding's roleRef cannot change", () => {
  const old = binding();
  const changed = binding({
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'other' },
  });
  assert.deepEqual(
    validateRbacUpdate('rolebindings', changed, old).map((c) => c.field),
    ['roleRef'],
  );
  assert.deepEqual(validateRbacUpdate('rolebindings', binding({ subjects: [] }), old), []);
});

test('defaults fill in the API groups of subjects and roleRef', () => {
  const o: KubeObject = {
    metadata: { name: 'b' },
    roleRef: { kind: 'ClusterRole', name: 'view' },
    subjects: [
      { kind: 'User', name: 'u' },
      { kind: 'ServiceAccount', name: 's', namespace: 'n' },
    ],
  };
  applyRbacDefaults('clusterrolebindings', o);
  assert.deepEqual(o['roleRef'], {
    kind: 'ClusterRole',
    name: 'view',
    apiGroup: 'rbac.authorization.k8s.io',
  });
  assert.deepEqual(o['subjects'], [
    { kind: 'User', name: 'u', apiGroup: 'rbac.authorization.k8s.io' },
    { kind: 'ServiceAccount', name: 's', namespace: 'n', apiGroup: '' },
  ]);
});

test('the bootstrap policy is valid and binds what kube-apiserver binds', () => {
  const p = bootstrapPolicy();
  for (const r of p.clusterRoles)
    assert.deepEqual(validateRbacCreate('clusterroles', r), [], r.metadata.name);
  for (const b of p.clusterRoleBindings)
    assert.deepEqual(validateRbacCreate('clusterrolebindings', b), [], b.metadata.name);
  const subjects = Object.fromEntries(
    p.clusterRoleBindings.map((b) => [
      b.metadata.name,
      (b['subjects'] as { name: string }[]).map((s) => s.name),
    ]),
  );
  assert.deepEqual(subjects, {
    'cluster-admin': ['system:masters'],
    'system:discovery': ['system:authenticated'],
    'system:basic-user': ['system:authenticated'],
    'system:public-info-viewer': ['system:authenticated', 'system:unauthenticated'],
  });
});
