// The filters every request of one kube-apiserver passes before it is served, in kube's order:
// authentication (client certificate, ServiceAccount bearer token, else anonymous; a bad
// credential is a 401), RequestInfo, authorization (--authorization-mode: system:masters first,
// then RBAC over the RBAC informers; a refusal is a 403 with kube's message), and one audit record
// per request. At start it reconciles kube-apiserver's bootstrap ClusterRoles and
// ClusterRoleBindings (the rbac/bootstrap-roles post-start hook); /readyz fails until that is done
// and the informers have listed.
import { readFileSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import type http2 from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { Clock } from '../../common/ports.ts';
import type { ApiCore } from './api.ts';
import type { AuditLog, AuditRecord } from './audit.ts';
import {
  apiTokenGetter,
  authenticate,
  AuthenticationError,
  type Authenticated,
  type ClientCertificate,
} from './authn.ts';
import { authorize, forbiddenMessage, type Decision, type RbacPolicy, type UserInfo } from './rbac.ts';
import { RbacInformers } from './rbac-cache.ts';
import { bootstrapPolicy } from './rbac-objects.ts';
import { requestInfo, type RequestAttributes } from './request-info.ts';
import { resource } from './resources.ts';
import { ApiError, type StatusBody } from './status.ts';
import { tokenKeys, type TokenKeys } from './tokens.ts';

/** The authentication and authorization flags of a kube-apiserver manifest. */
export interface FrontendAuth {
  /** --authorization-mode, in order ("Node", "RBAC", "AlwaysAllow"); kube's default is AlwaysAllow. */
  authorizationModes: string[];
  /** The ServiceAccount token flags; none: tokens are neither issued nor accepted. */
  serviceAccount?: {
    /** --service-account-issuer (repeatable; the first signs). */
    issuers: string[];
    /** --api-audiences (default: the first issuer). */
    audiences?: string[];
    /** --service-account-signing-key-file. */
    signingKeyFile: string;
    /** --service-account-key-file (repeatable). */
    keyFiles: string[];
  };
}

function flagValues(command: readonly string[], flag: string): string[] {
  const prefix = `--${flag}=`;
  return command.filter((a) => a.startsWith(prefix)).flatMap((a) => a.slice(prefix.length).split(','));
}

/** The authentication and authorization flags of a kube-apiserver command line (paths already on the host). */
export function frontendAuth(command: readonly string[]): FrontendAuth {
  const modes = flagValues(command, 'authorization-mode');
  const issuers = flagValues(command, 'service-account-issuer');
  const signing = flagValues(command, 'service-account-signing-key-file')[0];
  const audiences = flagValues(command, 'api-audiences');
  return {
    authorizationModes: modes.length > 0 ? modes : ['AlwaysAllow'],
    ...(issuers.length > 0 && signing
      ? {
          serviceAccount: {
            issuers,
            ...(audiences.length > 0 ? { audiences } : {}),
            signingKeyFile: signing,
            keyFiles: flagValues(command, 'service-account-key-file'),
          },
        }
      : {}),
  };
}

export interface GateDeps {
  api: ApiCore;
  clock: Clock;
  audit?: AuditLog;
  /** The node this kube-apiserver runs on (for the audit record). */
  server: string;
  retryMs: number;
  log: (line: string) => void;
}

/** A request that may go on. */
export interface Admitted {
  user: UserInfo;
  attrs: RequestAttributes;
  /** Its audit record (its code is set when the answer is sent), if a log is kept. */
  record?: AuditRecord;
}

/** The client certificate of each connection: it cannot change while the connection is open. */
const connectionCerts = new WeakMap<object, ClientCertificate | undefined>();

function clientCertificate(req: IncomingMessage): ClientCertificate | undefined {
  // An h2 request's socket is a fresh proxy per stream; its session stands for the connection.
  const h2 = (req as unknown as Partial<http2.Http2ServerRequest>).stream?.session;
  const conn: object = h2 ?? req.socket;
  if (connectionCerts.has(conn)) return connectionCerts.get(conn);
  const sock = req.socket as TLSSocket;
  let cert: ClientCertificate | undefined;
  const peer = typeof sock.getPeerCertificate === 'function' ? sock.getPeerCertificate() : undefined;
  if (peer && peer.subject) {
    const o: string | string[] | undefined = peer.subject.O;
    const cn: string | string[] | undefined = peer.subject.CN;
    const err = sock.authorizationError;
    cert = {
      authorized: sock.authorized,
      ...(err ? { error: String(err) } : {}),
      commonName: (Array.isArray(cn) ? cn[0] : cn) ?? '',
      organizations: o === undefined ? [] : Array.isArray(o) ? o : [o],
    };
  }
  connectionCerts.set(conn, cert);
  return cert;
}

function status(code: number, reason: string, message: string, details?: StatusBody['details']): StatusBody {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  };
}

/** How long a request waits for the RBAC informers' first list before it is judged on what is there. */
const SYNC_WAIT_MS = 5000;

/** Authentication, authorization and audit for one kube-apiserver. */
export class AuthorizationGate {
  readonly keys: TokenKeys | undefined;
  private readonly rbac: RbacInformers;
  private readonly modes: string[];
  private bootstrapped = false;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;

  constructor(
    auth: FrontendAuth | undefined,
    private readonly deps: GateDeps,
  ) {
    this.modes = auth?.authorizationModes ?? ['AlwaysAllow'];
    const sa = auth?.serviceAccount;
    this.keys = sa
      ? tokenKeys({
          issuers: sa.issuers,
          ...(sa.audiences ? { audiences: sa.audiences } : {}),
          signingKeyPem: readFileSync(sa.signingKeyFile),
          publicKeyPems: sa.keyFiles.map((f) => readFileSync(f)),
        })
      : undefined;
    this.rbac = new RbacInformers(deps.api, deps.retryMs, deps.log);
  }

  /** The policy the RBAC authorizer reads. */
  get policy(): RbacPolicy {
    return this.rbac;
  }

  /** Starts the informers and the bootstrap-roles reconciliation. */
  start(): void {
    if (!this.modes.includes('RBAC')) {
      this.bootstrapped = true;
      return;
    }
    this.rbac.start();
    void this.reconcile();
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.rbac.stop();
  }

  /** Has the rbac/bootstrap-roles hook finished and have the informers listed (a /readyz check)? */
  get ready(): boolean {
    return this.bootstrapped && (!this.modes.includes('RBAC') || this.rbac.hasSynced);
  }

  private async reconcile(): Promise<void> {
    const p = bootstrapPolicy();
    try {
      for (const [res, objs] of [
        ['clusterroles', p.clusterRoles],
        ['clusterrolebindings', p.clusterRoleBindings],
      ] as const) {
        for (const o of objs) {
          try {
            await this.deps.api.create(resource(res), undefined, o);
          } catch (e) {
            if (!(e instanceof ApiError && e.code === 409)) throw e;
          }
        }
      }
      this.bootstrapped = true;
    } catch (e) {
      if (this.stopped) return;
      this.deps.log(
        `kube-apiserver ${this.deps.server}: rbac/bootstrap-roles: ${e instanceof Error ? e.message : String(e)}`,
      );
      this.retryTimer = setTimeout(() => void this.reconcile(), Math.max(this.deps.retryMs * 5, 200));
    }
  }

  /** The authorizers of --authorization-mode, in order (Node has no opinion on anyone but kubelets). */
  decide(user: UserInfo, attrs: RequestAttributes): Decision {
    const reasons: string[] = [];
    for (const m of this.modes) {
      if (m === 'AlwaysAllow') return { allowed: true, reason: '', authorizer: 'AlwaysAllow' };
      if (m === 'AlwaysDeny') break;
      if (m === 'RBAC') {
        const d = authorize(this.rbac, user, attrs);
        if (d.allowed) return d;
        if (d.reason) reasons.push(d.reason);
      }
    }
    return { allowed: false, reason: reasons.join('\n'), authorizer: 'none' };
  }

  private async authenticate(req: IncomingMessage): Promise<Authenticated> {
    const certificate = clientCertificate(req);
    return authenticate(
      {
        ...(certificate ? { certificate } : {}),
        ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      },
      {
        ...(this.keys ? { keys: this.keys } : {}),
        getter: apiTokenGetter(this.deps.api),
        nowSeconds: () => Math.floor(this.deps.clock.now().getTime() / 1000),
      },
    );
  }

  /**
   * Authenticates and authorizes a request and records it. Returns who asked and what, or the
   * Status to answer with (401 or 403).
   */
  async check(req: IncomingMessage, url: URL): Promise<Admitted | { status: StatusBody }> {
    const attrs = requestInfo(req.method ?? 'GET', url.pathname, url.searchParams);
    const time = this.deps.clock.now().toISOString();
    const base = {
      time,
      server: this.deps.server,
      verb: attrs.verb,
      isResourceRequest: attrs.isResourceRequest,
      apiGroup: attrs.apiGroup,
      resource: attrs.resource,
      subresource: attrs.subresource,
      namespace: attrs.namespace,
      name: attrs.name,
      path: attrs.path,
    };
    let who: Authenticated;
    try {
      who = await this.authenticate(req);
    } catch (e) {
      if (!(e instanceof AuthenticationError)) throw e;
      this.deps.audit?.add({
        ...base,
        user: '',
        groups: [],
        authentication: 'none',
        allowed: false,
        authorizer: 'none',
        reason: e.message,
        code: 401,
      });
      return { status: status(401, 'Unauthorized', 'Unauthorized') };
    }
    if (!this.rbac.hasSynced && this.modes.includes('RBAC'))
      await Promise.race([this.rbac.synced(), new Promise((r) => setTimeout(r, SYNC_WAIT_MS))]);
    const d = this.decide(who.user, attrs);
    const pod = who.user.extra?.['authentication.kubernetes.io/pod-name']?.[0];
    const record = this.deps.audit?.add({
      ...base,
      user: who.user.name,
      groups: who.user.groups,
      authentication: who.via,
      ...(pod ? { pod: `${who.user.name.split(':')[2] ?? ''}/${pod}` } : {}),
      allowed: d.allowed,
      authorizer: d.authorizer,
      reason: d.reason,
      ...(d.source
        ? {
            binding: {
              kind: d.source.bindingKind,
              name: d.source.bindingName,
              namespace: d.source.bindingNamespace,
            },
            role: { kind: d.source.roleKind, name: d.source.roleName },
          }
        : {}),
      ...(d.rule ? { rule: d.rule, ruleIndex: d.ruleIndex ?? 0 } : {}),
    });
    if (!d.allowed) {
      if (record) record.code = 403;
      const msg = forbiddenMessage(who.user.name, attrs) + (d.reason ? `: ${d.reason}` : '');
      if (!attrs.isResourceRequest) return { status: status(403, 'Forbidden', `forbidden: ${msg}`, {}) };
      const gr = attrs.apiGroup ? `${attrs.resource}.${attrs.apiGroup}` : attrs.resource;
      return {
        status: status(
          403,
          'Forbidden',
          `${gr}${attrs.name ? ` "${attrs.name}"` : ''} is forbidden: ${msg}`,
          {
            ...(attrs.name ? { name: attrs.name } : {}),
            ...(attrs.apiGroup ? { group: attrs.apiGroup } : {}),
            kind: attrs.resource,
          },
        ),
      };
    }
    return { user: who.user, attrs, ...(record ? { record } : {}) };
  }
}
