// The review kinds a client asks about itself (pkg/registry/authorization/selfsubjectaccessreview,
// selfsubjectrulesreview, pkg/registry/authentication/selfsubjectreview): may I do this (kubectl
// auth can-i, and bosun before it drains), what may I do in this namespace (kubectl auth can-i
// --list), and who am I (kubectl auth whoami). Each is a create that is answered and never stored.
import { rulesFor, type Decision, type RbacPolicy, type UserInfo } from './rbac.ts';
import { nonResourceAttributes, type RequestAttributes } from './request-info.ts';
import { badRequest, invalid } from './status.ts';
import { isRecord } from './types.ts';

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

function expectKind(body: unknown, kind: string): Record<string, unknown> {
  if (!isRecord(body)) throw badRequest(`Object '${kind}' is missing in '{}'`);
  if (body['kind'] !== undefined && body['kind'] !== kind)
    throw badRequest(
      `the kind in the data (${String(body['kind'])}) does not match the expected kind (${kind})`,
    );
  return body;
}

/** POST selfsubjectaccessreviews: may the requesting user do what spec describes? */
export function selfSubjectAccessReview(
  decide: (a: RequestAttributes) => Decision,
  body: unknown,
): Record<string, unknown> {
  const b = expectKind(body, 'SelfSubjectAccessReview');
  const spec = isRecord(b['spec']) ? b['spec'] : {};
  const ra = isRecord(spec['resourceAttributes']) ? spec['resourceAttributes'] : undefined;
  const nra = isRecord(spec['nonResourceAttributes']) ? spec['nonResourceAttributes'] : undefined;
  if ((ra === undefined) === (nra === undefined))
    throw invalid('SelfSubjectAccessReview', 'authorization.k8s.io', '', [
      {
        reason: 'FieldValueInvalid',
        field: 'spec.resourceAttributes',
        message: `Invalid value: ${JSON.stringify(spec)}: exactly one of nonResourceAttributes or resourceAttributes must be specified`,
      },
    ]);
  const attrs: RequestAttributes = ra
    ? {
        isResourceRequest: true,
        path: '',
        verb: str(ra['verb']),
        apiGroup: str(ra['group']),
        apiVersion: str(ra['version']),
        namespace: str(ra['namespace']),
        resource: str(ra['resource']),
        subresource: str(ra['subresource']),
        name: str(ra['name']),
      }
    : nonResourceAttributes(str(nra?.['verb']), str(nra?.['path']));
  const d = decide(attrs);
  return {
    kind: 'SelfSubjectAccessReview',
    apiVersion: 'authorization.k8s.io/v1',
    metadata: { creationTimestamp: null },
    spec,
    status: { allowed: d.allowed, ...(d.reason ? { reason: d.reason } : {}) },
  };
}

/** POST selfsubjectrulesreviews: the requesting user's rules in spec.namespace. */
export function selfSubjectRulesReview(
  policy: RbacPolicy,
  user: UserInfo,
  body: unknown,
): Record<string, unknown> {
  const b = expectKind(body, 'SelfSubjectRulesReview');
  const spec = isRecord(b['spec']) ? b['spec'] : {};
  const namespace = str(spec['namespace']);
  if (namespace === '') throw badRequest('no namespace on request');
  const { rules, errors } = rulesFor(policy, user, namespace);
  const resourceRules = rules
    .filter((r) => (r.resources ?? []).length > 0)
    .map((r) => ({
      verbs: r.verbs,
      ...(r.apiGroups ? { apiGroups: r.apiGroups } : {}),
      resources: r.resources,
      ...(r.resourceNames && r.resourceNames.length > 0 ? { resourceNames: r.resourceNames } : {}),
    }));
  const nonResourceRules = rules
    .filter((r) => (r.nonResourceURLs ?? []).length > 0)
    .map((r) => ({ verbs: r.verbs, nonResourceURLs: r.nonResourceURLs }));
  return {
    kind: 'SelfSubjectRulesReview',
    apiVersion: 'authorization.k8s.io/v1',
    metadata: { creationTimestamp: null },
    spec,
    status: {
      resourceRules,
      nonResourceRules,
      incomplete: errors.length > 0,
      ...(errors.length > 0 ? { evaluationError: errors.join(', ') } : {}),
    },
  };
}

/** POST selfsubjectreviews: the requesting user as the API server sees it. */
export function selfSubjectReview(user: UserInfo, body: unknown): Record<string, unknown> {
  expectKind(body, 'SelfSubjectReview');
  return {
    kind: 'SelfSubjectReview',
    apiVersion: 'authentication.k8s.io/v1',
    metadata: { creationTimestamp: null },
    status: {
      userInfo: {
        username: user.name,
        ...(user.uid ? { uid: user.uid } : {}),
        groups: user.groups,
        ...(user.extra && Object.keys(user.extra).length > 0 ? { extra: user.extra } : {}),
      },
    },
  };
}
