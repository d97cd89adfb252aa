// The rbac.authorization.k8s.io/v1 objects as kube-apiserver stores them: their defaults
// (pkg/apis/rbac/v1/defaults.go: a Subject's apiGroup, a binding's roleRef.apiGroup), their
// validation (pkg/apis/rbac/validation: names are path segments, so "system:masters" is fine;
// rules need verbs and either resources with API groups or non-resource URLs, the latter only in
// a ClusterRole; a binding's roleRef is immutable and names a Role or ClusterRole; a
// ServiceAccount subject of a ClusterRoleBinding names its namespace), and the default policy
// kube-apiserver reconciles at start (plugin/pkg/auth/authorizer/rbac/bootstrappolicy) as far as
// the sandbox's clients meet it: cluster-admin for system:masters, discovery, basic-user and
// public-info-viewer. Pure: no I/O.
import type { StatusCause } from './status.ts';
import { isRecord, type KubeObject } from './types.ts';

/** The RBAC resources. */
export const RBAC_RESOURCES = new Set(['roles', 'clusterroles', 'rolebindings', 'clusterrolebindings']);

/** The API group of RBAC. */
export const RBAC_GROUP = 'rbac.authorization.k8s.io';

/** SetDefaults_Subject and SetDefaults_*Binding. Mutates obj. */
export function applyRbacDefaults(resource: string, obj: KubeObject): void {
  if (resource !== 'rolebindings' && resource !== 'clusterrolebindings') return;
  const ref = obj['roleRef'];
  if (isRecord(ref) && (ref['apiGroup'] === undefined || ref['apiGroup'] === ''))
    ref['apiGroup'] = RBAC_GROUP;
  const subjects = obj['subjects'];
  if (!Array.isArray(subjects)) return;
  for (const s of subjects) {
    if (!isRecord(s) || (typeof s['apiGroup'] === 'string' && s['apiGroup'] !== '')) continue;
    if (s['kind'] === 'User' || s['kind'] === 'Group') s['apiGroup'] = RBAC_GROUP;
    else if (s['kind'] === 'ServiceAccount') s['apiGroup'] = '';
  }
}

function pathSegmentCauses(field: string, name: string): StatusCause[] {
  const why =
    name === '.'
      ? "may not be '.'"
      : name === '..'
        ? "may not be '..'"
        : name.includes('/')
          ? "may not contain '/'"
          : name.includes('%')
            ? "may not contain '%'"
            : undefined;
  if (name === '')
    return [
      { reason: 'FieldValueRequired', field, message: 'Required value: name or generateName is required' },
    ];
  return why ? [{ reason: 'FieldValueInvalid', field, message: `Invalid value: "${name}": ${why}` }] : [];
}

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function ruleCauses(rules: unknown, clusterScoped: boolean): StatusCause[] {
  const causes: StatusCause[] = [];
  if (!Array.isArray(rules)) return causes;
  rules.forEach((r: unknown, i) => {
    const f = `rules[${i}]`;
    const rule = isRecord(r) ? r : {};
    if (strings(rule['verbs']).length === 0)
      causes.push({
        reason: 'FieldValueRequired',
        field: `${f}.verbs`,
        message: 'Required value: verbs must contain at least one value',
      });
    const urls = strings(rule['nonResourceURLs']);
    if (urls.length > 0) {
      if (!clusterScoped) {
        causes.push({
          reason: 'FieldValueInvalid',
          field: `${f}.nonResourceURLs`,
          message: `Invalid value: ${JSON.stringify(urls)}: namespaced rules cannot apply to non-resource URLs`,
        });
      }
      if (strings(rule['apiGroups']).length > 0 || strings(rule['resources']).length > 0)
        causes.push({
          reason: 'FieldValueInvalid',
          field: `${f}.nonResourceURLs`,
          message: `Invalid value: ${JSON.stringify(urls)}: rules cannot apply to both regular resources and non-resource URLs`,
        });
      return;
    }
    if (strings(rule['apiGroups']).length === 0)
      causes.push({
        reason: 'FieldValueRequired',
        field: `${f}.apiGroups`,
        message: 'Required value: resource rules must supply at least one api group',
      });
    if (strings(rule['resources']).length === 0)
      causes.push({
        reason: 'FieldValueRequired',
        field: `${f}.resources`,
        message: 'Required value: resource rules must supply at least one resource',
      });
  });
  return causes;
}

function bindingCauses(obj: KubeObject, cluster: boolean): StatusCause[] {
  const causes: StatusCause[] = [];
  const ref = isRecord(obj['roleRef']) ? obj['roleRef'] : {};
  if (ref['apiGroup'] !== RBAC_GROUP)
    causes.push({
      reason: 'FieldValueNotSupported',
      field: 'roleRef.apiGroup',
      message: `Unsupported value: "${String(ref['apiGroup'] ?? '')}": supported values: "${RBAC_GROUP}"`,
    });
  const kinds = cluster ? ['ClusterRole'] : ['Role', 'ClusterRole'];
  if (typeof ref['kind'] !== 'string' || !kinds.includes(ref['kind']))
    causes.push({
      reason: 'FieldValueNotSupported',
      field: 'roleRef.kind',
      message: `Unsupported value: "${String(ref['kind'] ?? '')}": supported values: ${kinds.map((k) => `"${k}"`).join(', ')}`,
    });
  if (typeof ref['name'] !== 'string' || ref['name'] === '')
    causes.push({ reason: 'FieldValueRequired', field: 'roleRef.name', message: 'Required value' });
  const subjects = Array.isArray(obj['subjects']) ? obj['subjects'] : [];
  subjects.forEach((s: unknown, i) => {
    const f = `subjects[${i}]`;
    const sub = isRecord(s) ? s : {};
    const name = typeof sub['name'] === 'string' ? sub['name'] : '';
    if (name === '')
      causes.push({ reason: 'FieldValueRequired', field: `${f}.name`, message: 'Required value' });
    switch (sub['kind']) {
      case 'ServiceAccount':
        if (sub['apiGroup'] !== '' && sub['apiGroup'] !== undefined)
          causes.push({
            reason: 'FieldValueNotSupported',
            field: `${f}.apiGroup`,
            message: `Unsupported value: "${String(sub['apiGroup'])}": supported values: ""`,
          });
        if (cluster && (typeof sub['namespace'] !== 'string' || sub['namespace'] === ''))
          causes.push({ reason: 'FieldValueRequired', field: `${f}.namespace`, message: 'Required value' });
        break;
      case 'User':
      case 'Group':
        if (sub['apiGroup'] !== RBAC_GROUP)
          causes.push({
            reason: 'FieldValueNotSupported',
            field: `${f}.apiGroup`,
            message: `Unsupported value: "${String(sub['apiGroup'] ?? '')}": supported values: "${RBAC_GROUP}"`,
          });
        break;
      default:
        causes.push({
          reason: 'FieldValueNotSupported',
          field: `${f}.kind`,
          message: `Unsupported value: "${String(sub['kind'] ?? '')}": supported values: "ServiceAccount", "User", "Group"`,
        });
    }
  });
  return causes;
}

/** Validation of an RBAC object on create; empty when valid. */
export function validateRbacCreate(resource: string, obj: KubeObject): StatusCause[] {
  const causes = pathSegmentCauses('metadata.name', obj.metadata.name ?? '');
  if (resource === 'roles' || resource === 'clusterroles')
    causes.push(...ruleCauses(obj['rules'], resource === 'clusterroles'));
  else causes.push(...bindingCauses(obj, resource === 'clusterrolebindings'));
  return causes;
}

/** Validation on update: create's, and a binding's roleRef cannot change. */
export function validateRbacUpdate(resource: string, obj: KubeObject, old: KubeObject): StatusCause[] {
  const causes = validateRbacCreate(resource, obj).filter((c) => c.field !== 'metadata.name');
  if (
    (resource === 'rolebindings' || resource === 'clusterrolebindings') &&
    JSON.stringify(obj['roleRef']) !== JSON.stringify(old['roleRef'])
  ) {
    const r = isRecord(obj['roleRef']) ? obj['roleRef'] : {};
    causes.push({
      reason: 'FieldValueInvalid',
      field: 'roleRef',
      message: `Invalid value: rbac.RoleRef{APIGroup:"${String(r['apiGroup'] ?? '')}", Kind:"${String(r['kind'] ?? '')}", Name:"${String(r['name'] ?? '')}"}: cannot change roleRef`,
    });
  }
  return causes;
}

const BOOTSTRAP_META = {
  labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' },
  annotations: { 'rbac.authorization.kubernetes.io/autoupdate': 'true' },
};

function clusterRole(name: string, rules: KubeObject['rules']): KubeObject {
  return {
    apiVersion: `${RBAC_GROUP}/v1`,
    kind: 'ClusterRole',
    metadata: { name, ...structuredClone(BOOTSTRAP_META) },
    rules,
  };
}

function clusterRoleBinding(name: string, role: string, groups: string[]): KubeObject {
  return {
    apiVersion: `${RBAC_GROUP}/v1`,
    kind: 'ClusterRoleBinding',
    metadata: { name, ...structuredClone(BOOTSTRAP_META) },
    roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: role },
    subjects: groups.map((g) => ({ apiGroup: RBAC_GROUP, kind: 'Group', name: g })),
  };
}

/**
 * The ClusterRoles and ClusterRoleBindings of kube-apiserver's bootstrap policy that the
 * sandbox's clients meet. kube-apiserver creates many more (controller roles, system:node, the
 * aggregated admin/edit/view); the sandbox's controllers and kubelets do not go through HTTP.
 */
export function bootstrapPolicy(): { clusterRoles: KubeObject[]; clusterRoleBindings: KubeObject[] } {
  return {
    clusterRoles: [
      clusterRole('cluster-admin', [
        { apiGroups: ['*'], resources: ['*'], verbs: ['*'] },
        { nonResourceURLs: ['*'], verbs: ['*'] },
      ]),
      clusterRole('system:discovery', [
        {
          nonResourceURLs: [
            '/api',
            '/api/*',
            '/apis',
            '/apis/*',
            '/healthz',
            '/livez',
            '/openapi',
            '/openapi/*',
            '/readyz',
            '/version',
            '/version/',
          ],
          verbs: ['get'],
        },
      ]),
      clusterRole('system:basic-user', [
        {
          apiGroups: ['authorization.k8s.io'],
          resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'],
          verbs: ['create'],
        },
        { apiGroups: ['authentication.k8s.io'], resources: ['selfsubjectreviews'], verbs: ['create'] },
      ]),
      clusterRole('system:public-info-viewer', [
        { nonResourceURLs: ['/healthz', '/livez', '/readyz', '/version', '/version/'], verbs: ['get'] },
      ]),
    ],
    clusterRoleBindings: [
      clusterRoleBinding('cluster-admin', 'cluster-admin', ['system:masters']),
      clusterRoleBinding('system:discovery', 'system:discovery', ['system:authenticated']),
      clusterRoleBinding('system:basic-user', 'system:basic-user', ['system:authenticated']),
      clusterRoleBinding('system:public-info-viewer', 'system:public-info-viewer', [
        'system:authenticated',
        'system:unauthenticated',
      ]),
    ],
  };
}

/**
 * kubeadm's binding of its admin group (admin.conf's certificate is in kubeadm:cluster-admins
 * since v1.29; before, admin.conf was in system:masters and needed none).
 */
export function kubeadmClusterAdminsBinding(): KubeObject {
  return {
    apiVersion: `${RBAC_GROUP}/v1`,
    kind: 'ClusterRoleBinding',
    metadata: { name: 'kubeadm:cluster-admins' },
    roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: 'cluster-admin' },
    subjects: [{ apiGroup: RBAC_GROUP, kind: 'Group', name: 'kubeadm:cluster-admins' }],
  };
}
