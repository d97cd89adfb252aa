// One kube-apiserver front end: HTTPS on 127.0.0.1 with the node's apiserver.crt, client
// certificate authentication against ca.crt, REST routing, Table output for kubectl, chunked
// watches, and the fault injector. Like kube-apiserver it offers HTTP/2 by ALPN (client-go and
// bosun take it) and serves HTTP/1.1 to clients that do not ask for h2. Several front ends (one
// per control plane) share one ApiCore.
import http2 from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import type { TLSSocket } from 'node:tls';
import type { Clock } from '../../common/ports.ts';
import { ApiCore, type DeleteOptions, type ListOptions, type PatchType, type WatchEvent } from './api.ts';
import {
  apiGroup,
  apiGroupList,
  apiVersions,
  openApiV3Doc,
  openApiV3Index,
  resourceList,
  versionInfo,
} from './discovery.ts';
import { forbiddenStatus, type FaultInjector, type RequestInfo } from './faults.ts';
import { findResource, groupVersion, RESOURCES, type ResourceType } from './resources.ts';
import {
  ApiError,
  badRequest,
  methodNotSupported,
  pathNotFound,
  unsupportedMediaType,
  type StatusBody,
} from './status.ts';
import { toTable, type IncludeObject } from './tables.ts';
import type { KubeObject } from './types.ts';
import { isRecord } from './types.ts';

/** Files and address of one front end. */
export interface FrontendOptions {
  /** The node this kube-apiserver runs on (for logs). */
  nodeName: string;
  host: string;
  port: number;
  certFile: string;
  keyFile: string;
  /** Client CA (ca.crt). */
  caFile: string;
  /** gitVersion reported by /version, e.g. "v1.34.3". */
  version: string;
}

export interface FrontendDeps {
  api: ApiCore;
  faults: FaultInjector;
  clock: Clock;
  /** Called with one line per failed request (500s), for the sandbox log. */
  log?: (line: string) => void;
  /** /readyz: is the storage behind this front end reachable? */
  ready?: () => Promise<boolean>;
}

interface Route {
  kind: 'resource';
  r: ResourceType;
  namespace: string | undefined;
  name: string | undefined;
  subresource: string | undefined;
}

type Parsed = Route | { kind: 'doc'; body: Record<string, unknown> } | { kind: 'notfound' };

function parsePath(path: string, serverAddress: string, version: string, buildDate: string): Parsed {
  const seg = path.split('/').filter(Boolean).map(decodeURIComponent);
  if (seg.length === 0) {
    return {
      kind: 'doc',
      body: {
        paths: [
          '/api',
          '/api/v1',
          '/apis',
          ...RESOURCES.filter((r) => r.group).map((r) => `/apis/${groupVersion(r)}`),
          '/healthz',
          '/livez',
          '/readyz',
          '/version',
        ],
      },
    };
  }
  if (seg[0] === 'version' && seg.length === 1) return { kind: 'doc', body: versionInfo(version, buildDate) };
  if (seg[0] === 'openapi' && seg[1] === 'v3') {
    if (seg.length === 2) return { kind: 'doc', body: openApiV3Index() };
    const doc = openApiV3Doc(seg.slice(2).join('/'), version);
    return doc ? { kind: 'doc', body: doc } : { kind: 'notfound' };
  }
  let group: string;
  let ver: string;
  let rest: string[];
  if (seg[0] === 'api') {
    if (seg.length === 1) return { kind: 'doc', body: apiVersions(serverAddress) };
    if (seg[1] !== 'v1') return { kind: 'notfound' };
    group = '';
    ver = 'v1';
    rest = seg.slice(2);
  } else if (seg[0] === 'apis') {
    if (seg.length === 1) return { kind: 'doc', body: apiGroupList() };
    if (seg.length === 2) {
      const g = apiGroup(seg[1] ?? '');
      return g ? { kind: 'doc', body: g } : { kind: 'notfound' };
    }
    group = seg[1] ?? '';
    ver = seg[2] ?? '';
    rest = seg.slice(3);
  } else return { kind: 'notfound' };
  if (rest.length === 0) {
    const list = resourceList(group, ver);
    return list ? { kind: 'doc', body: list } : { kind: 'notfound' };
  }
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    const r = findResource(group, ver, rest[2] ?? '');
    if (r && r.namespaced) {
      if (rest.length > 5) return { kind: 'notfound' };
      return { kind: 'resource', r, namespace: rest[1], name: rest[3], subresource: rest[4] };
    }
  }
  const r = findResource(group, ver, rest[0] ?? '');
  if (!r || rest.length > 3) return { kind: 'notfound' };
  return { kind: 'resource', r, namespace: undefined, name: rest[1], subresource: rest[2] };
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/**
 * The request body as JSON. Only JSON is served here (no protobuf, no CBOR): other media types get
 * kube-apiserver's 415. client-go falls back to JSON after a 415 only for CBOR; kubectl's typed
 * generators (`kubectl create namespace|deployment ...`) send protobuf and stop there, so the
 * message says what works instead.
 */
function parseJson(buf: Buffer, contentType?: string): unknown {
  if (buf.length === 0) return undefined;
  const ct = (contentType ?? 'application/json').split(';')[0]?.trim() ?? '';
  if (ct !== '' && ct !== 'application/json' && !ct.endsWith('+json') && ct !== '*/*') {
    throw unsupportedMediaType(
      'application/json (the bosun sandbox reads JSON bodies only; kubectl create <kind> sends protobuf: use kubectl create -f or kubectl apply -f with a manifest)',
    );
  }
  try {
    return JSON.parse(buf.toString('utf8')) as unknown;
  } catch (e) {
    throw badRequest(`error decoding request body: ${(e as Error).message}`);
  }
}

function send(res: ServerResponse, code: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(code, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-cache, private',
    ...headers,
  });
  res.end(text);
}

/** A Status; one that says when to retry also says it in a Retry-After header (apiserver's ErrorNegotiated). */
function sendStatus(res: ServerResponse, s: StatusBody): void {
  const after = s.details?.retryAfterSeconds;
  send(res, s.code, s, after !== undefined && after > 0 ? { 'Retry-After': String(after) } : {});
}

function wantsTable(accept: string | undefined): boolean {
  return /as=Table/.test(accept ?? '');
}

function listKind(
  r: ResourceType,
  items: KubeObject[],
  rv: string,
  extra: { continue?: string; remainingItemCount?: number },
): Record<string, unknown> {
  return {
    kind: r.listKind,
    apiVersion: groupVersion(r),
    metadata: {
      resourceVersion: rv,
      ...(extra.continue ? { continue: extra.continue } : {}),
      ...(extra.remainingItemCount !== undefined ? { remainingItemCount: extra.remainingItemCount } : {}),
    },
    // Items in a list carry no kind/apiVersion on the wire.
    items: items.map(({ kind: _k, apiVersion: _a, ...rest }) => rest),
  };
}

function boolParam(v: string | null): boolean {
  return v === 'true' || v === '1';
}

function numParam(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return undefined;
  if (!/^-?\d+$/.test(v)) throw badRequest(`invalid value for ${name}: ${v}`);
  return Number(v);
}

function listOptions(q: URLSearchParams): ListOptions {
  const o: ListOptions = {};
  const ls = q.get('labelSelector');
  if (ls !== null) o.labelSelector = ls;
  const fs = q.get('fieldSelector');
  if (fs !== null) o.fieldSelector = fs;
  const limit = numParam(q, 'limit');
  if (limit !== undefined) o.limit = limit;
  const cont = q.get('continue');
  if (cont) o.continue = cont;
  const rv = q.get('resourceVersion');
  if (rv !== null) o.resourceVersion = rv;
  const rvm = q.get('resourceVersionMatch');
  if (rvm) o.resourceVersionMatch = rvm;
  return o;
}

function deleteOptions(q: URLSearchParams, body: unknown): DeleteOptions {
  const o: DeleteOptions = {};
  const b = isRecord(body) ? body : {};
  const grace =
    numParam(q, 'gracePeriodSeconds') ??
    (typeof b['gracePeriodSeconds'] === 'number' ? b['gracePeriodSeconds'] : undefined);
  if (grace !== undefined) o.gracePeriodSeconds = grace;
  const policy =
    q.get('propagationPolicy') ??
    (typeof b['propagationPolicy'] === 'string' ? b['propagationPolicy'] : undefined);
  if (policy !== undefined) {
    if (policy !== 'Orphan' && policy !== 'Background' && policy !== 'Foreground')
      throw badRequest(
        `propagationPolicy: Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan"`,
      );
    o.propagationPolicy = policy;
  } else if (q.get('orphanDependents') === 'true' || b['orphanDependents'] === true)
    o.propagationPolicy = 'Orphan';
  if (isRecord(b['preconditions'])) {
    const p = b['preconditions'];
    o.preconditions = {};
    if (typeof p['uid'] === 'string') o.preconditions.uid = p['uid'];
    if (typeof p['resourceVersion'] === 'string') o.preconditions.resourceVersion = p['resourceVersion'];
  }
  const dry = q.getAll('dryRun');
  if (dry.includes('All') || (Array.isArray(b['dryRun']) && b['dryRun'].includes('All'))) o.dryRun = true;
  return o;
}

function patchType(contentType: string | undefined): PatchType {
  const ct = (contentType ?? '').split(';')[0]?.trim();
  if (ct === 'application/json-patch+json') return 'json';
  if (ct === 'application/merge-patch+json') return 'merge';
  if (ct === 'application/strategic-merge-patch+json') return 'strategic';
  throw unsupportedMediaType(
    'application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json',
  );
}

/** The user of each connection: its client certificate cannot change while it is open. */
const connectionUsers = new WeakMap<object, { user: string; groups: string[] } | undefined>();

function authenticate(req: IncomingMessage): { user: string; groups: string[] } | undefined {
  // An h2 request's socket is a fresh proxy per stream; its session stands for the connection.
  const h2 = (req as unknown as Partial<http2.Http2ServerRequest>).stream?.session;
  const conn: object = h2 ?? req.socket;
  if (connectionUsers.has(conn)) return connectionUsers.get(conn);
  const user = certificateUser(req.socket as TLSSocket);
  connectionUsers.set(conn, user);
  return user;
}

/** The user a client certificate authenticates as (CN, O), or anonymous. */
function certificateUser(sock: TLSSocket): { user: string; groups: string[] } | undefined {
  if (!sock.authorized) return undefined;
  const cert = sock.getPeerCertificate();
  if (!cert || !cert.subject) return undefined;
  const o: string | string[] | undefined = cert.subject.O;
  const cn: string | string[] | undefined = cert.subject.CN;
  const groups = o === undefined ? [] : Array.isArray(o) ? o : [o];
  return { user: (Array.isArray(cn) ? cn[0] : cn) ?? '', groups: [...groups, 'system:authenticated'] };
}

const PUBLIC_PATHS = new Set(['/version', '/healthz', '/livez', '/readyz', '/version/']);

/** A running kube-apiserver front end. */
export class ApiFrontend {
  private server: http2.Http2SecureServer | undefined;
  /** Every TLS connection (HTTP/1.1 or h2), to end them on stop. */
  private readonly connections = new Set<TLSSocket>();
  private readonly watches = new Set<() => void>();
  private readonly buildDate = '2025-12-09T00:00:00Z';

  constructor(
    readonly opts: FrontendOptions,
    private readonly deps: FrontendDeps,
  ) {}

  /** Starts listening (reading the certificates from disk now, as a restarted apiserver does). */
  async start(): Promise<void> {
    const server = http2.createSecureServer(
      {
        allowHTTP1: true,
        // k8s.io/apiserver's secure serving: 100 streams per connection unless
        // --http2-max-streams-per-connection says otherwise.
        settings: { maxConcurrentStreams: 100 },
        key: readFileSync(this.opts.keyFile),
        cert: readFileSync(this.opts.certFile),
        ca: readFileSync(this.opts.caFile),
        requestCert: true,
        rejectUnauthorized: false,
      },
      // The compatibility API gives h2 requests the shape of HTTP/1.1's; the handler uses only that.
      (req, res) => void this.handle(req as unknown as IncomingMessage, res as unknown as ServerResponse),
    );
    // For HTTP/1.1 connections (the h2 server reads it like an http.Server).
    Object.assign(server, { keepAliveTimeout: 30_000 });
    server.on('secureConnection', (sock: TLSSocket) => {
      this.connections.add(sock);
      sock.on('close', () => this.connections.delete(sock));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.opts.host, port: this.opts.port, exclusive: true }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
  }

  /** Stops listening and ends every open connection and watch. */
  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    for (const cancel of [...this.watches]) cancel();
    if (!s) return;
    await new Promise<void>((resolve) => {
      s.close(() => resolve());
      for (const sock of this.connections) sock.destroy();
    });
  }

  /** Is it serving? */
  get running(): boolean {
    return this.server !== undefined;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://sandbox');
    const path = url.pathname;
    try {
      if (path === '/healthz' || path === '/livez' || path === '/readyz') {
        const ok = path !== '/readyz' || this.deps.ready === undefined || (await this.deps.ready());
        res.writeHead(ok ? 200 : 500, {
          'Content-Type': 'text/plain; charset=utf-8',
          'X-Content-Type-Options': 'nosniff',
        });
        res.end(ok ? 'ok' : '[-]etcd failed: reason withheld\nreadyz check failed');
        return;
      }
      const user = authenticate(req);
      if (!user && !PUBLIC_PATHS.has(path)) {
        const verb = (req.method ?? 'GET').toLowerCase();
        sendStatus(res, {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          code: 403,
          reason: 'Forbidden',
          message: `forbidden: User "system:anonymous" cannot ${verb} path "${path}"`,
          details: {},
        });
        return;
      }
      const parsed = parsePath(
        path,
        `${this.opts.host}:${this.opts.port}`,
        this.opts.version,
        this.buildDate,
      );
      if (parsed.kind === 'notfound') throw pathNotFound();
      if (parsed.kind === 'doc') {
        if (req.method !== 'GET')
          throw new ApiError({
            kind: 'Status',
            apiVersion: 'v1',
            metadata: {},
            status: 'Failure',
            code: 405,
            reason: 'MethodNotAllowed',
            message: 'the server does not allow this method on the requested resource',
          });
        send(res, 200, parsed.body);
        return;
      }
      await this.serveResource(parsed, req, res, url.searchParams, user?.user ?? 'system:anonymous');
    } catch (e) {
      if (e instanceof ApiError) {
        if (!res.headersSent) sendStatus(res, e.status);
        else res.end();
        return;
      }
      const msg = e instanceof Error ? e.message : String(e);
      this.deps.log?.(`${this.opts.nodeName} ${req.method ?? ''} ${path}: ${msg}`);
      if (!res.headersSent)
        sendStatus(res, {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Failure',
          code: 500,
          reason: 'InternalError',
          message: `Internal error occurred: ${msg}`,
        });
      else res.end();
    }
  }

  /**
   * A SelfSubjectAccessReview: the sandbox authorizes every authenticated user (kube-apiserver's
   * AlwaysAllow), except what a forbid fault takes away.
   */
  private accessReview(body: unknown): Record<string, unknown> {
    const spec = isRecord(body) && isRecord(body['spec']) ? body['spec'] : {};
    const a = isRecord(spec['resourceAttributes']) ? spec['resourceAttributes'] : undefined;
    const str = (v: unknown): string => (typeof v === 'string' ? v : '');
    const denied =
      a !== undefined &&
      this.deps.faults.forbids({
        verb: str(a['verb']),
        resource: str(a['resource']),
        subresource: str(a['subresource']),
        namespace: str(a['namespace']),
        name: str(a['name']),
      });
    return {
      kind: 'SelfSubjectAccessReview',
      apiVersion: 'authorization.k8s.io/v1',
      metadata: { creationTimestamp: null },
      spec,
      status: { allowed: !denied },
    };
  }

  private verbOf(route: Route, method: string, q: URLSearchParams): string {
    switch (method) {
      case 'GET':
        return route.name === undefined ? (boolParam(q.get('watch')) ? 'watch' : 'list') : 'get';
      case 'POST':
        return 'create';
      case 'PUT':
        return 'update';
      case 'PATCH':
        return 'patch';
      case 'DELETE':
        return route.name === undefined ? 'deletecollection' : 'delete';
      default:
        return method.toLowerCase();
    }
  }

  private async serveResource(
    route: Route,
    req: IncomingMessage,
    res: ServerResponse,
    q: URLSearchParams,
    user: string,
  ): Promise<void> {
    const verb = this.verbOf(route, req.method ?? 'GET', q);
    // The request's context: done when the client goes away before the answer. (A stream the
    // client resets closes the response with writableFinished true over h2: only the handler knows.)
    const gone = new AbortController();
    let answered = false;
    res.on('close', () => {
      if (!answered) gone.abort();
    });
    try {
      await this.serveResourceWith(route, req, res, q, user, verb, gone.signal);
    } finally {
      answered = true;
    }
  }

  private async serveResourceWith(
    route: Route,
    req: IncomingMessage,
    res: ServerResponse,
    q: URLSearchParams,
    user: string,
    verb: string,
    gone: AbortSignal,
  ): Promise<void> {
    const { r, namespace: ns } = route;
    const sub = route.subresource ?? '';
    if (
      sub &&
      !(r.subresources as string[]).includes(sub) &&
      !(r.resource === 'namespaces' && sub === 'finalize')
    )
      throw pathNotFound();
    const info: RequestInfo = {
      verb,
      resource: r.resource,
      subresource: sub,
      namespace: ns ?? '',
      name: route.name ?? '',
      group: r.group,
    };
    const fault = this.deps.faults.match(info);
    if (fault?.delayMs) {
      await this.deps.clock.sleep(fault.delayMs, gone).catch(() => undefined);
      if (gone.aborted) return;
    }
    if (fault?.forbid) {
      sendStatus(res, forbiddenStatus(info, fault.forbid.user ?? user));
      return;
    }
    if (r.resource === 'selfsubjectaccessreviews') {
      if (verb !== 'create') throw methodNotSupported(r, verb);
      const body = parseJson(await readBody(req), req.headers['content-type']);
      send(res, 201, this.accessReview(body));
      return;
    }
    if (fault?.error) {
      sendStatus(res, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        code: fault.error.code,
        ...(fault.error.reason ? { reason: fault.error.reason } : {}),
        message: fault.error.message ?? `injected fault for ${verb} ${r.resource}`,
        ...(fault.error.causes || fault.error.retryAfterSeconds
          ? {
              details: {
                ...(fault.error.causes ? { causes: fault.error.causes } : {}),
                ...(fault.error.retryAfterSeconds
                  ? { retryAfterSeconds: fault.error.retryAfterSeconds }
                  : {}),
              },
            }
          : {}),
      });
      return;
    }
    if (fault?.webhookDeny) {
      const w = fault.webhookDeny;
      sendStatus(res, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        code: w.code ?? 400,
        message: `admission webhook "${w.webhook}" denied the request: ${w.message}`,
      });
      return;
    }
    const api = this.deps.api;
    const dryRun = q.getAll('dryRun').includes('All');
    const now = this.deps.clock.now().getTime();
    const include = (q.get('includeObject') ?? 'Metadata') as IncludeObject;
    const table = wantsTable(req.headers.accept);
    const name = route.name;
    switch (verb) {
      case 'get': {
        if (sub === 'scale') {
          send(res, 200, await api.getScale(r, ns, name ?? ''));
          return;
        }
        if (sub && sub !== 'status') throw methodNotSupported(r, 'get');
        const obj = await api.get(r, ns, name ?? '');
        send(res, 200, table ? toTable(r, [obj], obj.metadata.resourceVersion ?? '', include, now) : obj);
        return;
      }
      case 'list': {
        const l = await api.list(r, ns, listOptions(q));
        const extra = {
          ...(l.continue ? { continue: l.continue } : {}),
          ...(l.remainingItemCount !== undefined ? { remainingItemCount: l.remainingItemCount } : {}),
        };
        send(
          res,
          200,
          table
            ? toTable(r, l.items, l.resourceVersion, include, now, extra)
            : listKind(r, l.items, l.resourceVersion, extra),
        );
        return;
      }
      case 'watch':
        await this.serveWatch(r, ns, q, table, include, req, res);
        return;
      case 'create': {
        const body = parseJson(await readBody(req), req.headers['content-type']);
        if (sub === 'eviction' && name) {
          sendStatus(res, await api.evict(ns ?? '', name, body, { dryRun, signal: gone }));
          return;
        }
        if (sub === 'binding' && name) {
          sendStatus(res, await api.bind(ns ?? '', name, body, { dryRun }));
          return;
        }
        if (sub || name) throw methodNotSupported(r, 'create');
        const created = await api.create(r, ns, body as KubeObject, { dryRun });
        send(res, 201, created);
        return;
      }
      case 'update': {
        if (!name) throw methodNotSupported(r, 'update');
        const body = parseJson(await readBody(req), req.headers['content-type']) as KubeObject;
        if (sub === 'scale') {
          send(res, 200, await api.updateScale(r, ns, name, body, { dryRun }));
          return;
        }
        if (sub === 'finalize' && r.resource === 'namespaces') {
          const fin =
            isRecord(body) && isRecord(body['spec']) && Array.isArray(body['spec']['finalizers'])
              ? (body['spec']['finalizers'] as string[])
              : [];
          const out = await api.finalizeNamespace(name, fin);
          send(res, 200, out ?? body);
          return;
        }
        const opts = sub === 'status' ? { dryRun, subresource: 'status' as const } : { dryRun };
        send(res, 200, await api.update(r, ns, name, body, opts));
        return;
      }
      case 'patch': {
        if (!name) throw methodNotSupported(r, 'patch');
        const type = patchType(req.headers['content-type']);
        const body = parseJson(await readBody(req), req.headers['content-type']);
        if (sub === 'scale') {
          send(res, 200, await api.patchScale(r, ns, name, type, body, { dryRun }));
          return;
        }
        const opts = sub === 'status' ? { dryRun, subresource: 'status' as const } : { dryRun };
        send(res, 200, await api.patch(r, ns, name, type, body, opts));
        return;
      }
      case 'delete': {
        if (!name || sub) throw methodNotSupported(r, 'delete');
        const body = parseJson(await readBody(req), req.headers['content-type']);
        const { obj, deleted } = await api.delete(r, ns, name, deleteOptions(q, body));
        if (deleted && r.resource !== 'pods') {
          sendStatus(res, {
            kind: 'Status',
            apiVersion: 'v1',
            metadata: {},
            status: 'Success',
            code: 200,
            details: {
              name,
              ...(r.group ? { group: r.group } : {}),
              kind: r.resource,
              uid: obj.metadata.uid ?? '',
            },
          });
        } else send(res, 200, obj);
        return;
      }
      case 'deletecollection': {
        if (r.resource === 'namespaces') throw methodNotSupported(r, 'deletecollection');
        const body = parseJson(await readBody(req), req.headers['content-type']);
        const items = await api.deleteCollection(r, ns, listOptions(q), deleteOptions(q, body));
        send(res, 200, listKind(r, items, '', {}));
        return;
      }
      default:
        throw methodNotSupported(r, verb);
    }
  }

  private async serveWatch(
    r: ResourceType,
    ns: string | undefined,
    q: URLSearchParams,
    table: boolean,
    include: IncludeObject,
    req: IncomingMessage,
    res: ServerResponse,
  ): Promise<void> {
    const timeoutSeconds = numParam(q, 'timeoutSeconds');
    let closed = false;
    let cancel: (() => void) | undefined;
    let first = true;
    const write = (ev: WatchEvent): void => {
      if (closed) return;
      let object: unknown = ev.object;
      if (table && ev.type !== 'ERROR' && ev.type !== 'BOOKMARK') {
        const o = ev.object as KubeObject;
        const t = toTable(r, [o], o.metadata.resourceVersion ?? '', include, this.deps.clock.now().getTime());
        if (!first) delete t['columnDefinitions'];
        object = t;
        first = false;
      }
      res.write(JSON.stringify({ type: ev.type, object }) + '\n');
    };
    const finish = (): void => {
      if (closed) return;
      closed = true;
      this.watches.delete(finish);
      if (timer) clearTimeout(timer);
      cancel?.();
      res.end();
    };
    const timer =
      timeoutSeconds && timeoutSeconds > 0 ? setTimeout(finish, timeoutSeconds * 1000) : undefined;
    req.on('close', finish);
    res.on('close', finish);
    this.watches.add(finish);
    const opts = { ...listOptions(q), sendInitialEvents: boolParam(q.get('sendInitialEvents')) };
    const started = (): void => {
      if (!res.headersSent) {
        // h2 has no chunked encoding (and forbids the header): the stream's DATA frames carry it.
        res.writeHead(200, {
          'Content-Type': 'application/json',
          ...(req.httpVersionMajor === 1 ? { 'Transfer-Encoding': 'chunked' } : {}),
          'Cache-Control': 'no-cache, private',
        });
        res.flushHeaders();
      }
    };
    try {
      const c = await this.deps.api.watch(
        r,
        ns,
        opts,
        (ev) => {
          started();
          write(ev);
        },
        (err) => {
          started();
          if (err) write({ type: 'ERROR', object: err.status });
          finish();
        },
      );
      if (closed) c();
      else cancel = c;
      started();
    } catch (e) {
      if (e instanceof ApiError && e.code === 410) {
        // kube-apiserver opens the watch and sends the expiry as an ERROR event.
        started();
        write({ type: 'ERROR', object: e.status });
        finish();
        return;
      }
      closed = true;
      this.watches.delete(finish);
      if (timer) clearTimeout(timer);
      throw e;
    }
  }
}
