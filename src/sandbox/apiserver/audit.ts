// The sandbox's audit record: one entry per request the kube-apiservers received, with who made
// it, what it asked for (kube's RequestInfo terms), whether it was allowed, and which rule of which
// role allowed it (the binding, the role, the rule and its index: what kube-apiserver's audit log
// carries as the authorization.k8s.io/reason annotation, in parts), then the answer's status code.
// A test reads it to prove that every request a workload made was allowed and that its Roles grant
// nothing it never used. Kept in memory, shared by every front end of a sandbox, bounded.
import type { PolicyRule, RuleSource } from './rbac.ts';

/** One request. */
export interface AuditRecord {
  /** Increasing from 1 across the sandbox's front ends. */
  seq: number;
  /** When the request arrived (RFC 3339 with milliseconds). */
  time: string;
  /** The control plane whose kube-apiserver served it. */
  server: string;
  user: string;
  groups: string[];
  /** How the user authenticated; 'none' for a 401. */
  authentication: 'x509' | 'serviceaccount' | 'anonymous' | 'none';
  /** A pod-bound ServiceAccount token's pod ("namespace/name"). */
  pod?: string;
  verb: string;
  isResourceRequest: boolean;
  apiGroup: string;
  resource: string;
  subresource: string;
  namespace: string;
  name: string;
  /** The URL path (what non-resource rules match). */
  path: string;
  allowed: boolean;
  /** Who allowed it: 'system:masters', 'RBAC', 'AlwaysAllow', or 'none'. */
  authorizer: string;
  /** kube's authorization reason (`RBAC: allowed by ...`), or why authentication failed. */
  reason: string;
  /** The binding and role that allowed it, and the rule (with its index in the role). */
  binding?: { kind: RuleSource['bindingKind']; name: string; namespace: string };
  role?: { kind: string; name: string };
  rule?: PolicyRule;
  ruleIndex?: number;
  /** The HTTP status of the answer (for a watch: of its start); unset while in flight. */
  code?: number;
}

/** Which records to return. */
export interface AuditQuery {
  /** Only this user's. */
  user?: string;
  /** Only allowed (true) or refused (false) ones. */
  allowed?: boolean;
  /** Only records with a larger seq. */
  since?: number;
}

/** The most records kept; older ones are dropped first. */
export const AUDIT_CAPACITY = 200_000;

/** The audit record of one sandbox. */
export class AuditLog {
  private records: AuditRecord[] = [];
  private seq = 0;

  constructor(private readonly capacity = AUDIT_CAPACITY) {}

  /** Records a request; returns the entry (its code is filled in when the answer goes out). */
  add(r: Omit<AuditRecord, 'seq'>): AuditRecord {
    const rec: AuditRecord = { seq: ++this.seq, ...r };
    this.records.push(rec);
    if (this.records.length > this.capacity) this.records.splice(0, this.records.length - this.capacity);
    return rec;
  }

  /** The records matching the query, oldest first (copies). */
  list(q: AuditQuery = {}): AuditRecord[] {
    return this.records
      .filter(
        (r) =>
          (q.user === undefined || r.user === q.user) &&
          (q.allowed === undefined || r.allowed === q.allowed) &&
          (q.since === undefined || r.seq > q.since),
      )
      .map((r) => structuredClone(r));
  }

  /** The seq of the last record (0 when none): a test's starting point for `since`. */
  get lastSeq(): number {
    return this.seq;
  }
}
