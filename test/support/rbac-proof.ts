// The least-privilege proof from the sandbox's audit record: the permissions a ServiceAccount's
// roles grant, one per rule, verb and resource, and the permission each audited request used, in
// the same words ("ClusterRole/bosun#2 create pods/eviction"), so that a test compares the two
// sets: a grant no request used is more than the workload needs.
import type { AuditRecord } from '../../src/sandbox/index.ts';
import type { TestSandbox } from './sandbox.ts';

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}
interface Role {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: Rule[];
}
interface Binding {
  kind: string;
  metadata: { name: string; namespace?: string };
  roleRef: { kind: string; name: string };
  subjects?: { kind: string; name: string; namespace?: string }[];
}

function permission(
  kind: string,
  name: string,
  index: number,
  verb: string,
  group: string,
  resource: string,
): string {
  return `${kind}/${name}#${index} ${verb} ${group ? `${group}/` : ''}${resource}`;
}

/** The permission an audited request was allowed by ("" for one no rule allowed). */
export function permissionOf(r: AuditRecord): string {
  if (!r.role || r.ruleIndex === undefined) return '';
  const resource = r.isResourceRequest ? `${r.resource}${r.subresource ? `/${r.subresource}` : ''}` : r.path;
  return permission(
    r.role.kind,
    r.role.name,
    r.ruleIndex,
    r.verb,
    r.isResourceRequest ? r.apiGroup : '',
    resource,
  );
}

/**
 * Every permission the roles bound to the ServiceAccount user (system:serviceaccount:NS:NAME)
 * grant, sorted. Wildcards are kept as they are written ("*"), so that no request can use them
 * and a test that expects every grant used fails on them.
 */
export async function grantsOf(t: TestSandbox, user: string): Promise<string[]> {
  const [, , ns, name] = user.split(':');
  const bindings = await t.kubectlJson<{ items: Binding[] }>([
    'get',
    'clusterrolebindings,rolebindings',
    '--all-namespaces',
  ]);
  const out = new Set<string>();
  for (const b of bindings.items) {
    if (!(b.subjects ?? []).some((s) => s.kind === 'ServiceAccount' && s.name === name && s.namespace === ns))
      continue;
    const role =
      b.roleRef.kind === 'ClusterRole'
        ? await t.kubectlJson<Role>(['get', 'clusterrole', b.roleRef.name])
        : await t.kubectlJson<Role>(['get', 'role', b.roleRef.name, '-n', b.metadata.namespace ?? '']);
    (role.rules ?? []).forEach((rule, i) => {
      for (const verb of rule.verbs) {
        for (const url of rule.nonResourceURLs ?? [])
          out.add(permission(role.kind, role.metadata.name, i, verb, '', url));
        for (const g of rule.apiGroups ?? [])
          for (const res of rule.resources ?? [])
            out.add(permission(role.kind, role.metadata.name, i, verb, g, res));
      }
    });
  }
  return [...out].sort();
}
