// kube-apiserver's authorizer for the sandbox: the privileged group system:masters first (as
// kubeadm clusters run it), then RBAC exactly as plugin/pkg/auth/authorizer/rbac does it: every
// ClusterRoleBinding, then the RoleBindings of the request's namespace, each subject matched
// against the user (User by name, Group by membership, ServiceAccount by its username), and each
// rule of the bound role matched by verb, API group, resource (with "*/subresource" and "*"),
// resourceName and non-resource URL (a trailing "*" is a prefix). The first rule that allows
// decides; nothing ever denies, so a request no rule allows is "no opinion", which is a 403.
// Also the rule lists of SelfSubjectRulesReview and kube-apiserver's 403 message. Pure: the
// policy objects are passed in.
import type { RequestAttributes } from './request-info.ts';

/** rbacv1.PolicyRule. */
export interface PolicyRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

/** rbacv1.Subject. */
export interface Subject {
  kind: string;
  name: string;
  namespace?: string;
  apiGroup?: string;
}

/** rbacv1.RoleRef. */
export interface RoleRef {
  apiGroup: string;
  kind: string;
  name: string;
}

/** A Role or ClusterRole as the authorizer reads it. */
export interface RoleLike {
  metadata: { name?: string; namespace?: string };
  rules?: PolicyRule[] | null;
}

/** A RoleBinding or ClusterRoleBinding as the authorizer reads it. */
export interface BindingLike {
  metadata: { name?: string; namespace?: string };
  subjects?: Subject[] | null;
  roleRef: RoleRef;
}

/** What the authorizer reads the policy from (kube's listers). */
export interface RbacPolicy {
  clusterRoleBindings(): Iterable<BindingLike>;
  roleBindings(namespace: string): Iterable<BindingLike>;
  clusterRole(name: string): RoleLike | undefined;
  role(namespace: string, name: string): RoleLike | undefined;
}

/** user.Info. */
export interface UserInfo {
  name: string;
  groups: string[];
  uid?: string;
  extra?: Record<string, string[]>;
}

/** The group whose members kube-apiserver authorizes before any other authorizer. */
export const SYSTEM_MASTERS = 'system:masters';

/** Where an allowing rule came from. */
export interface RuleSource {
  bindingKind: 'ClusterRoleBinding' | 'RoleBinding';
  bindingName: string;
  /** The RoleBinding's namespace; "" for a ClusterRoleBinding. */
  bindingNamespace: string;
  roleKind: string;
  roleName: string;
  /** The subject of the binding that matched the user. */
  subject: Subject;
}

/** An authorizer's answer. */
export interface Decision {
  allowed: boolean;
  /**
   * kube's reason: `RBAC: allowed by ClusterRoleBinding "x" of ClusterRole "y" to User "z"` when
   * allowed, or the role lookup errors (`RBAC: clusterrole.rbac.authorization.k8s.io "y" not
   * found`) when not; "" otherwise (and for system:masters, whose authorizer gives none).
   */
  reason: string;
  /** Which authorizer decided: 'system:masters', 'RBAC', or 'none' (denied). */
  authorizer: 'system:masters' | 'RBAC' | 'AlwaysAllow' | 'none';
  source?: RuleSource;
  /** The allowing rule, and its index in the role's rules. */
  rule?: PolicyRule;
  ruleIndex?: number;
}

/** rbacv1helpers.VerbMatches. */
export function verbMatches(rule: PolicyRule, verb: string): boolean {
  return rule.verbs.some((v) => v === '*' || v === verb);
}

/** rbacv1helpers.APIGroupMatches. */
export function apiGroupMatches(rule: PolicyRule, group: string): boolean {
  return (rule.apiGroups ?? []).some((g) => g === '*' || g === group);
}

/** rbacv1helpers.ResourceMatches: "*", an exact "resource/subresource", or "*\/subresource". */
export function resourceMatches(rule: PolicyRule, combined: string, subresource: string): boolean {
  for (const r of rule.resources ?? []) {
    if (r === '*' || r === combined) return true;
    if (subresource === '') continue;
    if (r.length === subresource.length + 2 && r.startsWith('*/') && r.endsWith(subresource)) return true;
  }
  return false;
}

/** rbacv1helpers.ResourceNameMatches: no names means every name. */
export function resourceNameMatches(rule: PolicyRule, name: string): boolean {
  const names = rule.resourceNames ?? [];
  return names.length === 0 || names.includes(name);
}

/** rbacv1helpers.NonResourceURLMatches. */
export function nonResourceURLMatches(rule: PolicyRule, path: string): boolean {
  for (const u of rule.nonResourceURLs ?? []) {
    if (u === '*' || u === path) return true;
    if (u.endsWith('*') && path.startsWith(u.replace(/\*+$/, ''))) return true;
  }
  return false;
}

/** rbac.RuleAllows. */
export function ruleAllows(req: RequestAttributes, rule: PolicyRule): boolean {
  if (req.isResourceRequest) {
    const combined = req.subresource ? `${req.resource}/${req.subresource}` : req.resource;
    return (
      verbMatches(rule, req.verb) &&
      apiGroupMatches(rule, req.apiGroup) &&
      resourceMatches(rule, combined, req.subresource) &&
      resourceNameMatches(rule, req.name)
    );
  }
  return verbMatches(rule, req.verb) && nonResourceURLMatches(rule, req.path);
}

/** The username of a ServiceAccount: system:serviceaccount:NAMESPACE:NAME. */
export function serviceAccountUsername(namespace: string, name: string): string {
  return `system:serviceaccount:${namespace}:${name}`;
}

function appliesToUser(user: UserInfo, s: Subject, namespace: string): boolean {
  switch (s.kind) {
    case 'User':
      return user.name === s.name;
    case 'Group':
      return user.groups.includes(s.name);
    case 'ServiceAccount': {
      // A subject without a namespace means the binding's own namespace.
      const ns = s.namespace || namespace;
      if (!ns) return false;
      return user.name === serviceAccountUsername(ns, s.name);
    }
    default:
      return false;
  }
}

function describeSubject(s: Subject, bindingNamespace: string): string {
  if (s.kind === 'ServiceAccount') return `${s.kind} "${s.name}/${s.namespace || bindingNamespace}"`;
  return `${s.kind} "${s.name}"`;
}

/** `ClusterRoleBinding "x" of ClusterRole "y" to Group "z"`, as kube's describers print a source. */
export function describeSource(src: RuleSource): string {
  const binding =
    src.bindingKind === 'RoleBinding' ? `${src.bindingName}/${src.bindingNamespace}` : src.bindingName;
  return `${src.bindingKind} "${binding}" of ${src.roleKind} "${src.roleName}" to ${describeSubject(src.subject, src.bindingNamespace)}`;
}

type Visitor = (
  src: RuleSource | undefined,
  rule: PolicyRule | undefined,
  index: number,
  err?: string,
) => boolean;

function roleRules(
  policy: RbacPolicy,
  ref: RoleRef,
  bindingNamespace: string,
): { rules: PolicyRule[] } | { err: string } {
  if (ref.kind === 'Role') {
    const r = policy.role(bindingNamespace, ref.name);
    return r ? { rules: r.rules ?? [] } : { err: `role.rbac.authorization.k8s.io "${ref.name}" not found` };
  }
  if (ref.kind === 'ClusterRole') {
    const r = policy.clusterRole(ref.name);
    return r
      ? { rules: r.rules ?? [] }
      : { err: `clusterrole.rbac.authorization.k8s.io "${ref.name}" not found` };
  }
  return { err: `unsupported role reference kind: "${ref.kind}"` };
}

/** DefaultRuleResolver.VisitRulesFor: every rule that applies to the user in the namespace. */
function visitRulesFor(policy: RbacPolicy, user: UserInfo, namespace: string, visit: Visitor): void {
  const walk = (bindings: Iterable<BindingLike>, kind: RuleSource['bindingKind'], ns: string): boolean => {
    for (const b of bindings) {
      const subjects = b.subjects ?? [];
      const subject = subjects.find((s) => appliesToUser(user, s, ns));
      if (!subject) continue;
      const got = roleRules(policy, b.roleRef, ns);
      if ('err' in got) {
        if (!visit(undefined, undefined, -1, got.err)) return false;
        continue;
      }
      const src: RuleSource = {
        bindingKind: kind,
        bindingName: b.metadata.name ?? '',
        bindingNamespace: ns,
        roleKind: b.roleRef.kind,
        roleName: b.roleRef.name,
        subject,
      };
      for (let i = 0; i < got.rules.length; i++) if (!visit(src, got.rules[i], i)) return false;
    }
    return true;
  };
  if (!walk(policy.clusterRoleBindings(), 'ClusterRoleBinding', '')) return;
  if (namespace) walk(policy.roleBindings(namespace), 'RoleBinding', namespace);
}

/**
 * Authorizes one request as kube-apiserver with `--authorization-mode=Node,RBAC` does for anyone
 * but a kubelet: members of system:masters are allowed outright, then RBAC decides.
 */
export function authorize(policy: RbacPolicy, user: UserInfo, req: RequestAttributes): Decision {
  if (user.groups.includes(SYSTEM_MASTERS))
    return { allowed: true, reason: '', authorizer: 'system:masters' };
  let found: Decision | undefined;
  const errors: string[] = [];
  visitRulesFor(policy, user, req.namespace, (src, rule, index, err) => {
    if (rule && src && ruleAllows(req, rule)) {
      found = {
        allowed: true,
        reason: `RBAC: allowed by ${describeSource(src)}`,
        authorizer: 'RBAC',
        source: src,
        rule,
        ruleIndex: index,
      };
      return false;
    }
    if (err) errors.push(err);
    return true;
  });
  if (found) return found;
  const reason =
    errors.length === 0 ? '' : `RBAC: ${errors.length === 1 ? errors[0] : `[${errors.join(', ')}]`}`;
  return { allowed: false, reason, authorizer: 'none' };
}

/** The rules that apply to the user in the namespace (SelfSubjectRulesReview), and resolution errors. */
export function rulesFor(
  policy: RbacPolicy,
  user: UserInfo,
  namespace: string,
): { rules: PolicyRule[]; errors: string[] } {
  const rules: PolicyRule[] = [];
  const errors: string[] = [];
  visitRulesFor(policy, user, namespace, (_src, rule, _i, err) => {
    if (rule) rules.push(rule);
    if (err) errors.push(err);
    return true;
  });
  return { rules, errors };
}

/**
 * responsewriters.forbiddenMessage: `User "u" cannot list resource "pods" in API group "" in the
 * namespace "x"` (or `at the cluster scope`), or `User "u" cannot get path "/x"`.
 */
export function forbiddenMessage(user: string, req: RequestAttributes): string {
  if (!req.isResourceRequest) return `User "${user}" cannot ${req.verb} path "${req.path}"`;
  const resource = req.subresource ? `${req.resource}/${req.subresource}` : req.resource;
  const scope = req.namespace ? `in the namespace "${req.namespace}"` : 'at the cluster scope';
  return `User "${user}" cannot ${req.verb} resource "${resource}" in API group "${req.apiGroup}" ${scope}`;
}
