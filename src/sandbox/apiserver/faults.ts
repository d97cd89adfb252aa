// Faults on demand for tests of later capabilities: API errors or latency for chosen requests.
// Rules are matched in order against each request the HTTPS front ends receive (the in-process
// controllers are not affected). A rule can fire a limited number of times.
import type { StatusBody } from './status.ts';

/** Which requests a rule applies to; every field given must match. */
export interface FaultMatch {
  /** get, list, watch, create, update, patch, delete, deletecollection. */
  verb?: string;
  resource?: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

/** What happens to a matching request. */
export interface FaultRule {
  match: FaultMatch;
  /** Answer with this HTTP status and a Status body instead of serving the request. */
  error?: {
    code: number;
    reason?: string;
    message?: string;
    causes?: { reason?: string; message?: string; field?: string }[];
    /** Seconds to come back after, in the Status and its Retry-After header (API priority and fairness's 429). */
    retryAfterSeconds?: number;
  };
  /**
   * Answer as an admission webhook that denies the request (code 400 unless given), with
   * kube's message `admission webhook "NAME" denied the request: MESSAGE`.
   */
  webhookDeny?: { webhook: string; message: string; code?: number };
  /**
   * Refuse as kube-apiserver's RBAC authorizer refuses a request the user has no permission for:
   * 403 Forbidden with its message (`pods is forbidden: User "U" cannot watch resource "pods" in
   * API group "" at the cluster scope`), U the request's user unless given. A
   * SelfSubjectAccessReview of a matching request answers allowed: false.
   */
  forbid?: { user?: string };
  /**
   * Delay the request by this many milliseconds before serving (or failing) it. A client that
   * goes away meanwhile ends it (a silent API server that never answers: a long delay).
   */
  delayMs?: number;
  /** Fire at most this many times (unset: until removed). */
  times?: number;
}

/** A request as the fault injector sees it. */
export interface RequestInfo {
  verb: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  /** The resource's API group ('' for core): only for the messages, rules do not match on it. */
  group?: string;
}

/**
 * kube-apiserver's answer to a request its authorizer denies (responsewriters.Forbidden with
 * forbiddenMessage, as apierrors.NewForbidden shapes it).
 */
export function forbiddenStatus(req: RequestInfo, user: string): StatusBody {
  const group = req.group ?? '';
  const what = req.subresource ? `${req.resource}/${req.subresource}` : req.resource;
  const scope = req.namespace ? `in the namespace "${req.namespace}"` : 'at the cluster scope';
  const qualified = group ? `${req.resource}.${group}` : req.resource;
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: `${qualified}${req.name ? ` "${req.name}"` : ''} is forbidden: User "${user}" cannot ${req.verb} resource "${what}" in API group "${group}" ${scope}`,
    reason: 'Forbidden',
    details: { ...(req.name ? { name: req.name } : {}), ...(group ? { group } : {}), kind: req.resource },
    code: 403,
  };
}

interface ActiveRule extends FaultRule {
  id: number;
  fired: number;
}

/** Holds the active fault rules. */
export class FaultInjector {
  private rules: ActiveRule[] = [];
  private nextId = 1;

  /** Adds a rule; returns its id. */
  add(rule: FaultRule): number {
    const id = this.nextId++;
    this.rules.push({ ...rule, id, fired: 0 });
    return id;
  }

  /** Removes one rule, or all when id is undefined. */
  clear(id?: number): void {
    this.rules = id === undefined ? [] : this.rules.filter((r) => r.id !== id);
  }

  /** The active rules with how often each fired. */
  list(): (FaultRule & { id: number; fired: number })[] {
    return this.rules.map((r) => ({ ...r }));
  }

  /** Whether a forbid rule denies the request (a SelfSubjectAccessReview's question); fires nothing. */
  forbids(req: RequestInfo): boolean {
    return this.rules.some((r) => r.forbid !== undefined && matchesRule(r, req));
  }

  /** The first rule that matches the request (and counts the firing), if any. */
  match(req: RequestInfo): FaultRule | undefined {
    for (const r of this.rules) {
      const m = r.match;
      if (m.verb !== undefined && m.verb !== req.verb) continue;
      if (m.resource !== undefined && m.resource !== req.resource) continue;
      if (m.subresource !== undefined && m.subresource !== req.subresource) continue;
      if (m.namespace !== undefined && m.namespace !== req.namespace) continue;
      if (m.name !== undefined && m.name !== req.name) continue;
      if (r.times !== undefined && r.fired >= r.times) continue;
      r.fired++;
      return r;
    }
    return undefined;
  }
}

function matchesRule(r: ActiveRule, req: RequestInfo): boolean {
  const m = r.match;
  return (
    (m.verb === undefined || m.verb === req.verb) &&
    (m.resource === undefined || m.resource === req.resource) &&
    (m.subresource === undefined || m.subresource === req.subresource) &&
    (m.namespace === undefined || m.namespace === req.namespace) &&
    (m.name === undefined || m.name === req.name) &&
    (r.times === undefined || r.fired < r.times)
  );
}
