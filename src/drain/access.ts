// What the kubeconfig's user may do, asked before the node is touched. `kubectl drain` needs nodes
// get/list/patch, pods get/list, pods/eviction create and daemonsets get; bosun must work with no
// more than that: a pre-flight check it may not make is skipped (and says which permission would
// make it), a watch it may not open becomes a poll, and what it needs after the cordon (the
// evictions) is asked with a SelfSubjectAccessReview first, so a drain never fails half-way for a
// permission it could have checked. Reads kube-apiserver's RBAC refusals, whose message names the
// verb, resource, group and scope (apiserver responsewriters.forbiddenMessage).
import { errorMessage } from '../common/errors.ts';
import { isForbidden } from '../kube/errors.ts';
import type { NodePods, ResourceAttributes } from '../kube/ports.ts';

/** "create on pods/eviction in namespace demo", "list on poddisruptionbudgets.policy at the cluster scope". */
export function describePermission(a: ResourceAttributes): string {
  const what = `${a.resource}${a.subresource ? `/${a.subresource}` : ''}${a.group ? `.${a.group}` : ''}`;
  return `${a.verb} on ${what} ${a.namespace ? `in namespace ${a.namespace}` : 'at the cluster scope'}`;
}

const RBAC =
  /cannot (\S+) resource "([^"/]+)(?:\/([^"]+))?" in API group "([^"]*)"(?: in the namespace "([^"]+)"| at the cluster scope)?/;

/** The permission a 403 from kube-apiserver's authorizer names, or undefined for another refusal. */
export function deniedPermission(e: unknown): ResourceAttributes | undefined {
  if (!isForbidden(e)) return undefined;
  const m = RBAC.exec(errorMessage(e));
  if (!m) return undefined;
  return {
    verb: m[1] ?? '',
    resource: m[2] ?? '',
    ...(m[3] ? { subresource: m[3] } : {}),
    group: m[4] ?? '',
    ...(m[5] ? { namespace: m[5] } : {}),
  };
}

/** "cannot list poddisruptionbudgets (needs list on poddisruptionbudgets.policy at the cluster scope)". */
export function forbiddenReason(e: unknown, fallback: ResourceAttributes): string {
  const p = deniedPermission(e) ?? fallback;
  return `your user may not ${p.verb} ${p.resource}${p.subresource ? `/${p.subresource}` : ''} (it needs ${describePermission(p)})`;
}

/** A SelfSubjectAccessReview's verdict; unknown when the server could not answer one. */
export type Access = 'allowed' | 'denied' | 'unknown';

/**
 * Asks a SelfSubjectAccessReview for each request. A server that cannot answer (none served, the
 * review itself forbidden, an error) makes it unknown: the drain then finds out by trying.
 */
export async function reviewAll(
  kube: Pick<NodePods, 'reviewAccess'>,
  attrs: readonly ResourceAttributes[],
  signal?: AbortSignal,
): Promise<Access[]> {
  return Promise.all(
    attrs.map(async (a) => {
      try {
        const r = await kube.reviewAccess(a, signal ? { signal } : {});
        return r.allowed ? 'allowed' : 'denied';
      } catch {
        return 'unknown';
      }
    }),
  );
}
