// One kube-apiserver front end: HTTPS on 127.0.0.1 with the node's apiserver.crt, client
// certificate authentication against ca.crt, REST routing, Table output for kubectl, chunked
// watches, and the fault injector. Like kube-apiserver it offers HTTP/2 by ALPN (client-go and
// bosun take it) and serves HTTP/1.1 to clients that do not ask for h2. Several front ends (one
// per control plane) share one ApiCore.
import http2 from 'node:http2';
import https from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { Socket } from 'node:net';
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
import type { FaultInjector, RequestInfo } from './faults.ts';
import { AuthorizationGate, type Admitted, type FrontendAuth } from './gate.ts';
import { selfSubjectAccessReview, selfSubjectReview, selfSubjectRulesReview } from './reviews.ts';
import { createTokenRequest } from './token-request.ts';
import { decodeProtobufObject, isProtobufContentType, UnsupportedProtobuf } from './protobuf.ts';
import { findResource, groupVersion, resource, RESOURCES, type ResourceType } from './resources.ts';
import {
  ApiError,
  badRequest,
  internalError,
  invalid,
  methodNotSupported,
  pathNotFound,
  unsupportedMediaType,
  type StatusBody,
} from './status.ts';
import { toTable, type IncludeObject } from './tables.ts';
import type { AuditLog } from './audit.ts';
import type { KubeObject, Node, Pod } from './types.ts';
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
  /** Authentication and authorization flags of the manifest (ServiceAccount keys, --authorization-mode). */
  auth?: FrontendAuth;
}

export interface FrontendDeps {
  api: ApiCore;
  faults: FaultInjector;
  clock: Clock;
  /** Called with one line per failed request (500s), for the sandbox log. */
  log?: (line: string) => void;
  /** /readyz: is the storage behind this front end reachable? */
  ready?: () => Promise<boolean>;
  /** Where every request is recorded (shared by a sandbox's front ends). */
  audit?: AuditLog;
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
 * The request body as JSON. JSON is read, and protobuf for the few kinds protobuf.ts decodes (what
 * helm's release storage and kubectl's typed clients send); other media types get kube-apiserver's
 * 415. client-go falls back to JSON after a 415 only for CBOR; kubectl's other typed generators
 * (`kubectl create deployment ...`) send protobuf and stop there, so the message says what works.
 */
function parseJson(buf: Buffer, contentType?: string): unknown {
  if (buf.length === 0) return undefined;
  const ct = (contentType ?? 'application/json').split(';')[0]?.trim() ?? '';
  if (isProtobufContentType(ct)) {
    try {
      return decodeProtobufObject(buf);
    } catch (e) {
      if (!(e instanceof UnsupportedProtobuf)) throw e;
    }
  }
  if (ct !== '' && ct !== 'application/json' && !ct.endsWith('+json') && ct !== '*/*') {
    throw unsupportedMediaType(
      'application/json (the bosun sandbox reads protobuf only for Secrets, ConfigMaps, Namespaces, TokenRequests and the self reviews; kubectl create <kind> sends protobuf: use kubectl create -f or kubectl apply -f with a manifest)',
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

/** The body of an apply patch: YAML (JSON is YAML too). */
function parseApplyBody(buf: Buffer): unknown {
  try {
    return parseYaml(buf.toString('utf8')) as unknown;
  } catch (e) {
    throw badRequest(`error decoding YAML: ${(e as Error).message}`);
  }
}

function patchType(contentType: string | undefined): PatchType {
  const ct = (contentType ?? '').split(';')[0]?.trim();
  if (ct === 'application/json-patch+json') return 'json';
  if (ct === 'application/merge-patch+json') return 'merge';
  if (ct === 'application/strategic-merge-patch+json') return 'strategic';
  throw unsupportedMediaType(
    'application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json, application/apply-patch+yaml',
  );
}

/** A running kube-apiserver front end. */
export class ApiFrontend {
  private server: http2.Http2SecureServer | undefined;
  /** Every TLS connection (HTTP/1.1 or h2), to end them on stop. */
  private readonly connections = new Set<Socket>();
  private readonly watches = new Set<() => void>();
  private readonly buildDate = '2025-12-09T00:00:00Z';
  private gate: AuthorizationGate | undefined;

  constructor(
    readonly opts: FrontendOptions,
    private readonly deps: FrontendDeps,
  ) {}

  /** This kube-apiserver's authentication and authorization (after start()). */
  get authorization(): AuthorizationGate | undefined {
    return this.gate;
  }

  /** Starts listening (reading the certificates from disk now, as a restarted apiserver does). */
  async start(): Promise<void> {
    const gate = new AuthorizationGate(this.opts.auth, {
      api: this.deps.api,
      clock: this.deps.clock,
      ...(this.deps.audit ? { audit: this.deps.audit } : {}),
      server: this.opts.nodeName,
      retryMs: 100,
      log: this.deps.log ?? (() => undefined),
    });
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
    // Every TCP connection, from its accept: one still in its TLS handshake when stop() runs
    // would otherwise complete it afterwards and hold server.close() open for as long as its
    // client keeps it (a kubelet's restart of kube-apiserver then never ends).
    server.on('connection', (sock: Socket) => {
      if (this.server !== server) {
        sock.destroy();
        return;
      }
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
    this.gate = gate;
    gate.start();
  }

  /** Stops listening and ends every open connection and watch. */
  async stop(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    for (const cancel of [...this.watches]) cancel();
    this.gate?.stop();
    this.gate = undefined;
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
      const gate = this.gate;
      if (!gate) throw pathNotFound();
      const admitted = await gate.check(req, url);
      if ('status' in admitted) {
        sendStatus(res, admitted.status);
        return;
      }
      const record = admitted.record;
      if (record) res.once('finish', () => (record.code ??= res.statusCode));
      if (path === '/healthz' || path === '/livez' || path === '/readyz') {
        const etcdOk = path !== '/readyz' || this.deps.ready === undefined || (await this.deps.ready());
        const rbacOk = path !== '/readyz' || gate.ready;
        const ok = etcdOk && rbacOk;
        res.writeHead(ok ? 200 : 500, {
          'Content-Type': 'text/plain; charset=utf-8',
          'X-Content-Type-Options': 'nosniff',
        });
        res.end(
          ok
            ? 'ok'
            : `${etcdOk ? '' : '[-]etcd failed: reason withheld\n'}${rbacOk ? '' : '[-]poststarthook/rbac/bootstrap-roles failed: reason withheld\n'}readyz check failed`,
        );
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
      await this.serveResource(parsed, req, res, url.searchParams, admitted);
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
    admitted: Admitted,
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
      await this.serveResourceWith(route, req, res, q, admitted, verb, gone.signal);
    } finally {
      answered = true;
    }
  }

  private async serveResourceWith(
    route: Route,
    req: IncomingMessage,
    res: ServerResponse,
    q: URLSearchParams,
    admitted: Admitted,
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
    };
    const fault = this.deps.faults.match(info);
    if (fault?.delayMs) {
      await this.deps.clock.sleep(fault.delayMs, gone).catch(() => undefined);
      if (gone.aborted) return;
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
    if (r.verbs && !r.verbs.includes(verb)) throw methodNotSupported(r, verb);
    const dryRun = q.getAll('dryRun').includes('All');
    const now = this.deps.clock.now().getTime();
    const include = (q.get('includeObject') ?? 'Metadata') as IncludeObject;
    const table = wantsTable(req.headers.accept);
    const name = route.name;
    switch (verb) {
      case 'get': {
        if (sub === 'log' && r.resource === 'pods' && name) {
          await this.podLog(ns ?? '', name, q, res);
          return;
        }
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
        if (sub === 'token' && name) {
          const keys = this.gate?.keys;
          if (!keys) throw pathNotFound();
          send(res, 201, await createTokenRequest(api, keys, ns ?? '', name, body, this.deps.clock.now()));
          return;
        }
        if (r.verbs && !name && !sub) {
          send(res, 201, this.review(r.resource, admitted, body));
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
        if ((req.headers['content-type'] ?? '').split(';')[0]?.trim() === 'application/apply-patch+yaml') {
          if (sub) throw methodNotSupported(r, 'apply');
          const fieldManager = q.get('fieldManager') ?? '';
          if (!fieldManager)
            throw invalid('PatchOptions', 'meta.k8s.io', '', [
              {
                reason: 'FieldValueRequired',
                field: 'fieldManager',
                message: 'Required value: is required for apply patch',
              },
            ]);
          const out = await api.apply(r, ns, name, parseApplyBody(await readBody(req)), {
            dryRun,
            fieldManager,
            force: boolParam(q.get('force')),
          });
          send(res, out.created ? 201 : 200, out.obj);
          return;
        }
        if (q.has('force'))
          throw invalid('PatchOptions', 'meta.k8s.io', '', [
            {
              reason: 'FieldValueForbidden',
              field: 'force',
              message: 'Forbidden: may not be specified for non-apply patch',
            },
          ]);
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

  /**
   * GET pods/NAME/log, as kube-apiserver serves it: the container is checked here, then the
   * request goes to the kubelet of the pod's node (/containerLogs) and its answer streams back.
   */
  private async podLog(ns: string, name: string, q: URLSearchParams, res: ServerResponse): Promise<void> {
    const api = this.deps.api;
    const pod = (await api.get(resource('pods'), ns, name)) as Pod;
    const names = pod.spec.containers.map((c) => c.name);
    const container = q.get('container') || (names.length === 1 ? (names[0] ?? '') : '');
    if (!container)
      throw badRequest(
        `a container name must be specified for pod ${name}, choose one of: [${names.join(' ')}]`,
      );
    if (!names.includes(container)) throw badRequest(`container ${container} is not valid for pod ${name}`);
    const st = pod.status?.containerStatuses?.find((c) => c.name === container);
    const previous = boolParam(q.get('previous'));
    if (!pod.spec.nodeName || !st || (!previous && st.state.waiting && !st.lastState?.terminated))
      throw badRequest(
        `container "${container}" in pod "${name}" is waiting to start: ${st?.state.waiting?.reason ?? 'ContainerCreating'}`,
      );
    const node = (await api.get(resource('nodes'), undefined, pod.spec.nodeName)) as Node;
    const ip = node.status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? '127.0.0.1';
    const port = node.status?.daemonEndpoints?.kubeletEndpoint?.Port ?? 10250;
    const params = new URLSearchParams();
    for (const k of ['follow', 'previous', 'timestamps', 'tailLines', 'limitBytes']) {
      const v = q.get(k);
      if (v !== null) params.set(k, v);
    }
    await new Promise<void>((resolve, reject) => {
      const upstream = https.get(
        {
          host: ip,
          port,
          path: `/containerLogs/${encodeURIComponent(ns)}/${encodeURIComponent(name)}/${encodeURIComponent(container)}?${params.toString()}`,
          // kube-apiserver does not verify kubelet serving certificates unless told to.
          rejectUnauthorized: false,
          agent: false,
        },
        (up) => {
          if ((up.statusCode ?? 500) !== 200) {
            let text = '';
            up.setEncoding('utf8');
            up.on('data', (d: string) => (text += d));
            up.on('end', () => reject(badRequest(text.trim())));
            return;
          }
          res.writeHead(200, { 'Content-Type': 'text/plain', 'Cache-Control': 'no-cache, private' });
          res.flushHeaders();
          up.on('data', (d: Buffer) => res.write(d));
          up.on('end', () => {
            res.end();
            resolve();
          });
          res.on('close', () => up.destroy());
        },
      );
      upstream.on('error', (e) =>
        reject(internalError(`Get "https://${ip}:${port}/containerLogs/...": ${e.message}`)),
      );
    });
  }

  /** The answer to a review kind (SelfSubjectAccessReview, SelfSubjectRulesReview, SelfSubjectReview). */
  private review(kind: string, admitted: Admitted, body: unknown): Record<string, unknown> {
    const gate = this.gate;
    if (!gate) throw pathNotFound();
    if (kind === 'selfsubjectaccessreviews')
      return selfSubjectAccessReview((a) => gate.decide(admitted.user, a), body);
    if (kind === 'selfsubjectrulesreviews') return selfSubjectRulesReview(gate.policy, admitted.user, body);
    return selfSubjectReview(admitted.user, body);
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
