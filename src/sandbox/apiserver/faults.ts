// Faults on demand for tests of later capabilities: API errors or latency for chosen requests.
// Rules are matched in order against each request the HTTPS front ends receive (the in-process
// controllers are not affected). A rule can fire a limited number of times.

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
