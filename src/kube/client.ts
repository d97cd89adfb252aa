// Loads a kubeconfig the way kubectl does and builds the @kubernetes/client-node 1.x configuration
// (authentication, transport, request timeout, cancellation) every feature's kube port is built on.
// kubeRequest sends through it and returns the API's JSON as it came (kube/types.ts's shapes).
//
// Precedence (kubectl's clientcmd loading rules): --kubeconfig (one file, must exist), else
// KUBECONFIG (a list of files joined by ':'; missing ones ignored; merged with the first file to
// set a value winning), else ~/.kube/config. --context picks a context; otherwise current-context.
// --request-timeout bounds every request (0 = no limit); watches are never cut by it.
//
// In a pod, createInClusterClients builds the same clients from kube/in-cluster.ts's configuration.
//
// It never reads process.env itself: the composition root passes KUBECONFIG and HOME in, and the
// clock its retries wait on. It never prints: errors are BosunErrors with a hint, and a kubeconfig a
// user got wrong (a missing key file, an empty file, a certificate the server refused) is said so,
// naming the file (kube/kubeconfig-files.ts, kube/client-cert.ts).
import { setMaxListeners } from 'node:events';
import { StringDecoder } from 'node:string_decoder';
import { existsSync, readFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { createSecureContext } from 'node:tls';
import {
  ApiException,
  type HttpMethod,
  KubeConfig,
  ServerConfiguration,
  Watch,
  createConfiguration,
  type Configuration,
  type RequestContext,
  type ResponseContext,
} from '@kubernetes/client-node';
import { BosunError, UsageError, errorMessage } from '../common/errors.ts';
import type { Clock } from '../common/ports.ts';
import { clientCertificateProblem, isRejectedCredential } from './client-cert.ts';
import {
  isConnectionLost,
  isKubeApiError,
  KubeApiError,
  toKubeError,
  type AbortContext,
  type RequestTarget,
} from './errors.ts';
import { Http2Transport } from './http2.ts';
import { FileTokenSource, type InClusterConfig, type ReadFile } from './in-cluster.ts';
import { checkReferencedFiles, credentialError, type KubeconfigOrigins } from './kubeconfig-files.ts';

/** Where to find the kubeconfig and how to talk to the cluster. */
export interface KubeClientOptions {
  /** --kubeconfig: one file; it must exist. */
  kubeconfig?: string | undefined;
  /** The KUBECONFIG environment variable as the composition root read it (path-list). */
  envKubeconfig?: string | undefined;
  /** Home directory, for ~/.kube/config. */
  home: string;
  /** --context: the kubeconfig context to use instead of current-context. */
  context?: string | undefined;
  /** --request-timeout in milliseconds; 0 or undefined means requests never time out. */
  requestTimeoutMs?: number | undefined;
  /** Aborting it cancels every request and watch made through these clients (Ctrl-C). */
  signal?: AbortSignal | undefined;
  /** What retries wait on and token rotation is timed by (the composition root's clock). */
  clock: Clock;
}

/** A loaded kubeconfig and which files it came from. */
export interface LoadedKubeConfig {
  kc: KubeConfig;
  /** The files read, in precedence order. The first is the one kubectl would write to. */
  files: string[];
  /** The context in use. */
  contextName: string;
  /** The API server URL of that context's cluster. */
  server: string;
  /** Which file defined each cluster and user, for messages that name the file. */
  origins: KubeconfigOrigins;
}

/** One kubeconfig's clients, sharing one request timeout and abort signal. */
export interface KubeClients extends LoadedKubeConfig {
  /** client-node's configuration: server, authentication, transport, middleware. */
  config: Configuration;
  /** Watches (see kube/watch.ts for list+watch with relist). */
  watch: KubeWatch;
  requestTimeoutMs: number;
  signal: AbortSignal | undefined;
  clock: Clock;
  /**
   * Says why the server refused the kubeconfig's credentials when it can tell (an expired or
   * self-signed client certificate, ...): a clearer error for a 401 or an anonymous 403, or undefined.
   */
  explainRejection?: (e: KubeApiError) => KubeApiError | undefined;
}

/** The kubeconfig files kubectl would read, in precedence order (they may not exist). */
export function kubeconfigCandidates(
  opts: Pick<KubeClientOptions, 'kubeconfig' | 'envKubeconfig' | 'home'>,
): { files: string[]; explicit: boolean } {
  if (opts.kubeconfig !== undefined && opts.kubeconfig !== '')
    return { files: [path.resolve(opts.kubeconfig)], explicit: true };
  if (opts.envKubeconfig !== undefined && opts.envKubeconfig !== '') {
    const files = opts.envKubeconfig.split(path.delimiter).filter((f) => f !== '');
    return { files: [...new Set(files.map((f) => path.resolve(f)))], explicit: false };
  }
  return { files: [path.join(opts.home, '.kube', 'config')], explicit: false };
}

/** True when a kubeconfig file holds nothing but blank lines and comments (kubectl reads it as empty). */
function isEmptyYaml(file: string): boolean {
  try {
    return readFileSync(file, 'utf8')
      .split('\n')
      .every((l) => l.trim() === '' || l.trim().startsWith('#') || l.trim() === '---');
  } catch {
    return false; // loadFromFile says why
  }
}

function loadFile(file: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (!isEmptyYaml(file)) kc.loadFromFile(file);
  } catch (e) {
    throw new BosunError(`error loading kubeconfig ${file}: ${errorMessage(e)}`, 'USAGE', {
      cause: e,
      hint: 'Fix the file, or point --kubeconfig or KUBECONFIG at a valid one.',
    });
  }
  // Tolerate files without some sections (kubectl does).
  kc.clusters ??= [];
  kc.users ??= [];
  kc.contexts ??= [];
  return kc;
}

/** Merges kubeconfigs with kubectl's rule: the first file to define a name or current-context wins. */
function mergeFirstWins(configs: { file: string; kc: KubeConfig }[]): {
  kc: KubeConfig;
  origins: KubeconfigOrigins;
} {
  const out = new KubeConfig();
  out.clusters = [];
  out.users = [];
  out.contexts = [];
  out.currentContext = '';
  const origins = { clusters: new Map<string, string>(), users: new Map<string, string>() };
  for (const { file, kc } of configs) {
    if (!out.currentContext && kc.currentContext) out.currentContext = kc.currentContext;
    for (const c of kc.clusters)
      if (!out.clusters.some((x) => x.name === c.name)) {
        out.clusters.push(c);
        origins.clusters.set(c.name, file);
      }
    for (const u of kc.users)
      if (!out.users.some((x) => x.name === u.name)) {
        out.users.push(u);
        origins.users.set(u.name, file);
      }
    for (const c of kc.contexts) if (!out.contexts.some((x) => x.name === c.name)) out.contexts.push(c);
  }
  return { kc: out, origins };
}

/**
 * Loads the kubeconfig with kubectl's precedence and selects the context.
 * @throws UsageError when --kubeconfig names a missing file or --context names an unknown context;
 *   BosunError when no kubeconfig is found or a file is malformed.
 */
export function loadKubeConfig(
  opts: Pick<KubeClientOptions, 'kubeconfig' | 'envKubeconfig' | 'home' | 'context'>,
): LoadedKubeConfig {
  const { files, explicit } = kubeconfigCandidates(opts);
  const present = files.filter((f) => existsSync(f));
  if (explicit && present.length === 0) {
    throw new UsageError(`stat ${files[0]}: no such file or directory`, {
      hint: 'Check the path given to --kubeconfig.',
    });
  }
  if (present.length === 0) {
    throw new BosunError(
      'no kubeconfig found: pass --kubeconfig, set KUBECONFIG, or create ~/.kube/config',
      'USAGE',
      {
        hint: 'To try bosun on a cluster of its own: bosun sandbox up (it prints the KUBECONFIG to use).',
      },
    );
  }
  const { kc, origins } = mergeFirstWins(present.map((file) => ({ file, kc: loadFile(file) })));
  const named = present.join(', ');
  if (kc.clusters.length === 0 && kc.users.length === 0 && kc.contexts.length === 0 && !kc.currentContext)
    throw new BosunError(`the kubeconfig ${named} is empty`, 'USAGE', {
      hint: 'Point --kubeconfig or KUBECONFIG at a kubeconfig with a cluster, a user and a context (bosun sandbox up writes one).',
    });
  if (opts.context !== undefined && opts.context !== '') {
    if (!kc.contexts.some((c) => c.name === opts.context)) {
      throw new UsageError(`context was not found for specified context: ${opts.context}`, {
        hint: `Contexts in ${present.join(', ')}: ${kc.contexts.map((c) => c.name).join(', ') || '(none)'}`,
      });
    }
    kc.setCurrentContext(opts.context);
  }
  if (!kc.currentContext) {
    throw new BosunError(
      `the kubeconfig ${named} has no current-context and --context was not given`,
      'USAGE',
      {
        hint: `Pass --context with one of: ${kc.contexts.map((c) => c.name).join(', ') || '(no contexts defined)'}`,
      },
    );
  }
  const ctx = kc.getContextObject(kc.currentContext);
  if (ctx === null)
    throw new BosunError(
      `context "${kc.currentContext}" is not defined in the kubeconfig ${named}`,
      'USAGE',
      {
        hint: 'Pass --context with a defined context.',
      },
    );
  const cluster = kc.getCluster(ctx.cluster);
  if (cluster === null)
    throw new BosunError(
      `context "${ctx.name}" refers to cluster "${ctx.cluster}", which is not defined in the kubeconfig ${named}`,
      'USAGE',
    );
  checkReferencedFiles(kc, origins);
  return { kc, files: present, contextName: ctx.name, server: cluster.server, origins };
}

/** Adds the request timeout and the caller's abort signal to every request. */
function requestMiddleware(
  timeoutMs: number,
  signal: AbortSignal | undefined,
): { pre(c: RequestContext): Promise<RequestContext>; post(r: ResponseContext): Promise<ResponseContext> } {
  return {
    pre: (c) => {
      const signals: AbortSignal[] = [];
      if (signal) signals.push(signal);
      if (timeoutMs > 0) signals.push(AbortSignal.timeout(timeoutMs));
      const existing = c.getSignal();
      if (existing) signals.push(existing as AbortSignal);
      if (signals.length > 0)
        c.setSignal(signals.length === 1 && signals[0] ? signals[0] : AbortSignal.any(signals));
      return Promise.resolve(c);
    },
    post: (r) => Promise.resolve(r),
  };
}

/**
 * client-node 1.x gives every request a new https.Agent, so every request pays a TLS handshake
 * (client certificate included) on both ends: a drain's hundred evictions paid a hundred. This
 * keeps one keep-alive agent per set of TLS options, as client-go keeps one transport per config.
 * Headers (tokens, exec credentials) are still applied per request by the kubeconfig, and the
 * in-cluster token (`token`) by its source. What the kubeconfig's credentials fail with (a key file
 * gone, a credential plugin missing, a key that does not match its certificate) is a BosunError
 * naming the kubeconfig file.
 */
function keepAliveAuth(
  loaded: Pick<LoadedKubeConfig, 'kc' | 'origins'>,
  shareable: WeakSet<https.Agent>,
  token?: FileTokenSource,
): { getName(): string; applySecurityAuthentication(c: RequestContext): Promise<void> } {
  const { kc } = loaded;
  let shared: { key: string; agent: https.Agent } | undefined;
  const fail = (e: unknown): never => {
    throw credentialError(e, kc.getCurrentUser(), kc.getCurrentCluster(), loaded.origins);
  };
  return {
    getName: () => kc.getName(),
    async applySecurityAuthentication(c) {
      await kc.applySecurityAuthentication(c).catch(fail);
      if (token) c.setHeaderParam('Authorization', `Bearer ${await token.token()}`);
      const fresh = c.getAgent();
      // Proxy agents and plain http are left as client-node makes them.
      if (!(fresh instanceof https.Agent) || fresh.constructor !== https.Agent) return;
      const o = fresh.options;
      const key = JSON.stringify(
        [o.ca, o.cert, o.key, o.pfx, o.passphrase, o.servername, o.rejectUnauthorized].map((v) =>
          Buffer.isBuffer(v) ? v.toString('base64') : v,
        ),
      );
      if (shared?.key !== key) {
        // One TLS context for every connection (the agent would parse the key again for each).
        let secureContext;
        try {
          secureContext = createSecureContext({
            ca: o.ca,
            cert: o.cert,
            key: o.key,
            pfx: o.pfx,
            passphrase: o.passphrase,
          });
        } catch (e) {
          fail(e);
        }
        // No maxSockets: a request queued for a busy socket trips node-fetch 2's check for cut-off
        // chunked bodies (node-fetch#1767, a false "Premature close"). Callers bound their concurrency.
        shared = { key, agent: new https.Agent({ ...o, secureContext, keepAlive: true }) };
        shareable.add(shared.agent);
      }
      c.setAgent(shared.agent);
    },
  };
}

/** After a 401, the in-cluster token is read again before the next request (client-go does). */
function tokenResetMiddleware(token: FileTokenSource): {
  pre(c: RequestContext): Promise<RequestContext>;
  post(r: ResponseContext): Promise<ResponseContext>;
} {
  return {
    pre: (c) => Promise.resolve(c),
    post: (r) => {
      if (r.httpStatusCode === 401) token.reset();
      return Promise.resolve(r);
    },
  };
}

/** Builds the client-node Configuration used by the typed APIs. */
export function apiConfiguration(
  loaded: Pick<LoadedKubeConfig, 'kc' | 'origins' | 'server'>,
  opts: Pick<KubeClientOptions, 'requestTimeoutMs' | 'signal'> = {},
  transport = new Http2Transport(),
  token?: FileTokenSource,
): Configuration {
  return createConfiguration({
    baseServer: new ServerConfiguration(loaded.server, {}),
    httpApi: transport.library(),
    authMethods: { default: keepAliveAuth(loaded, transport.h2Agents, token) },
    promiseMiddleware: [
      requestMiddleware(opts.requestTimeoutMs ?? 0, opts.signal),
      ...(token ? [tokenResetMiddleware(token)] : []),
    ],
  });
}

/** A watch's request: the path and query of the list it watches. */
export interface KubeWatchRequest {
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
}

/**
 * Watches `r` (its GET with watch=true): each event goes to onEvent(type, object) until the server
 * ends the watch or the signal aborts (both resolve), or it fails (rejects with what kubeRequest
 * would throw, or with what onEvent threw). Over the h2 connection of the other requests where
 * they use one, with its health check (a watch on a connection gone dead fails instead of waiting
 * for events forever), as client-go watches; elsewhere (proxies, plain http, HTTP/1.1-only servers)
 * through client-node's Watch. --request-timeout does not apply to watches.
 */
export type KubeWatch = (
  r: KubeWatchRequest,
  onEvent: (type: string, object: unknown) => void,
  signal: AbortSignal,
) => Promise<void>;

function kubeWatch(config: Configuration, transport: Http2Transport, fallback: Watch): KubeWatch {
  return async (r, onEvent, signal) => {
    if (signal.aborted) return;
    const ctx = await requestContext(config, 'GET', r.path, { ...r.query, watch: true }, 'application/json');
    ctx.setSignal(signal);
    const decoder = new StringDecoder('utf8');
    let pending = '';
    let res;
    try {
      res = await transport.stream(ctx, (chunk) => {
        pending += decoder.write(chunk);
        for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
          const line = pending.slice(0, nl).trim();
          pending = pending.slice(nl + 1);
          if (line === '') continue;
          const ev = JSON.parse(line) as { type: string; object: unknown };
          onEvent(ev.type, ev.object);
        }
      });
    } catch (e) {
      if (signal.aborted) return;
      throw e;
    }
    if (res === undefined) return fallbackWatch(fallback, r.path, r.query ?? {}, onEvent, signal);
    if (res.httpStatusCode < 200 || res.httpStatusCode >= 300)
      throw new ApiException<string>(
        res.httpStatusCode,
        `HTTP ${res.httpStatusCode}`,
        await res.body.text(),
        res.headers,
      );
  };
}

/**
 * The same watch through client-node's Watch (which adds watch=true, leaves out undefined query
 * values, and drops what its callback throws: kept here).
 */
function fallbackWatch(
  w: Watch,
  path: string,
  query: NonNullable<KubeWatchRequest['query']>,
  onEvent: (type: string, object: unknown) => void,
  signal: AbortSignal,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    let controller: AbortController | undefined;
    const finish = (err: unknown): void => {
      if (settled) return;
      settled = true;
      signal.removeEventListener('abort', onAbort);
      controller?.abort();
      if (err === null || err === undefined || signal.aborted) resolve();
      else reject(err);
    };
    const onAbort = (): void => finish(null);
    signal.addEventListener('abort', onAbort, { once: true });
    w.watch(
      path,
      query,
      (type: string, obj: unknown) => {
        if (settled) return;
        try {
          onEvent(type, obj);
        } catch (e) {
          finish(e);
        }
      },
      (err: unknown) => finish(err),
    )
      .then((c) => {
        controller = c;
        if (settled) c.abort();
      })
      .catch((e: unknown) => finish(e));
  });
}

/** Loads the kubeconfig and builds the clients. No request is made. */
export function createKubeClients(opts: KubeClientOptions): KubeClients {
  return clientsFor(loadKubeConfig(opts), opts);
}

/** What a pod's clients are built from, beyond its in-cluster configuration. */
export type InClusterClientOptions = Pick<KubeClientOptions, 'requestTimeoutMs' | 'signal' | 'clock'> & {
  /** Reads the token again as it rotates. */
  readFile: ReadFile;
};

/**
 * Builds the clients a pod uses (kube/in-cluster.ts's inClusterConfig): the ServiceAccount token,
 * read again as it rotates, and its CA. No request is made.
 */
export function createInClusterClients(cfg: InClusterConfig, opts: InClusterClientOptions): KubeClients {
  const kc = new KubeConfig();
  kc.loadFromClusterAndUser(
    {
      name: 'in-cluster',
      server: cfg.server,
      skipTLSVerify: false,
      ...(cfg.caFile ? { caFile: cfg.caFile } : {}),
    },
    { name: 'in-cluster' },
  );
  const origins = {
    clusters: new Map([['in-cluster', cfg.tokenFile]]),
    users: new Map([['in-cluster', cfg.tokenFile]]),
  };
  const loaded: LoadedKubeConfig = {
    kc,
    files: [],
    contextName: kc.currentContext,
    server: cfg.server,
    origins,
  };
  return clientsFor(loaded, opts, new FileTokenSource(cfg.tokenFile, opts));
}

function clientsFor(
  loaded: LoadedKubeConfig,
  opts: Pick<KubeClientOptions, 'requestTimeoutMs' | 'signal' | 'clock'>,
  token?: FileTokenSource,
): KubeClients {
  // One listener on the caller's signal; every request listens on ours (a drain has many in flight).
  let signal: AbortSignal | undefined;
  if (opts.signal) {
    const inner = new AbortController();
    setMaxListeners(0, inner.signal);
    if (opts.signal.aborted) inner.abort(opts.signal.reason);
    else opts.signal.addEventListener('abort', () => inner.abort(opts.signal?.reason), { once: true });
    signal = inner.signal;
  }
  const transport = new Http2Transport();
  const config = apiConfiguration(loaded, { ...opts, signal }, transport, token);
  return {
    ...loaded,
    config,
    watch: kubeWatch(config, transport, new Watch(loaded.kc)),
    requestTimeoutMs: opts.requestTimeoutMs ?? 0,
    signal,
    clock: opts.clock,
    explainRejection: (e) => explainRejection(loaded, opts.clock.now(), e),
  };
}

/**
 * A clearer error for credentials the server refused, when the kubeconfig's user has a client
 * certificate: which certificate, from which file, and why it would not be accepted.
 */
function explainRejection(
  loaded: Pick<LoadedKubeConfig, 'kc' | 'origins'>,
  now: Date,
  e: KubeApiError,
): KubeApiError | undefined {
  if (!isRejectedCredential(e.status, e.message)) return undefined;
  const user = loaded.kc.getCurrentUser();
  const cluster = loaded.kc.getCurrentCluster();
  if (!user || (!user.certFile && !user.certData)) return undefined;
  let problem: string | undefined;
  try {
    const cert = user.certFile ? readFileSync(user.certFile) : Buffer.from(user.certData ?? '', 'base64');
    const ca = cluster?.caFile
      ? readFileSync(cluster.caFile)
      : cluster?.caData
        ? Buffer.from(cluster.caData, 'base64')
        : undefined;
    problem = clientCertificateProblem({ cert, ca }, now);
  } catch (err) {
    problem = `it cannot be read: ${errorMessage(err)}`;
  }
  const file = loaded.origins.users.get(user.name);
  const which = `the client certificate of user "${user.name}"${user.certFile ? ` (${user.certFile})` : ''}${file ? ` in kubeconfig ${file}` : ''}`;
  return new KubeApiError(
    `the API server did not accept ${which}: ${problem ?? "it is valid and signed by the kubeconfig's CA, so the API server trusts another client CA"} (${e.status} ${e.reason})`,
    {
      status: e.status,
      reason: e.reason,
      resource: e.resource,
      group: e.group,
      name: e.resourceName,
      namespace: e.namespace,
      causes: e.causes,
      retryAfterSeconds: e.retryAfterSeconds,
    },
    {
      cause: e,
      hint: problem?.startsWith('it expired')
        ? "Renew it (bosun certs renew, or kubeadm certs renew for kubeadm's kubeconfigs), or use a current kubeconfig."
        : "Use a client certificate signed by the cluster's CA (kubeadm kubeconfig user, or bosun certs renew).",
    },
  );
}

/** A request to `path` with `query` (undefined values left out) and the kubeconfig's credentials. */
async function requestContext(
  config: Configuration,
  method: KubeRequest['method'],
  path: string,
  query: KubeRequest['query'],
  accept: string,
): Promise<RequestContext> {
  const ctx = config.baseServer.makeRequestContext(path, method as HttpMethod);
  ctx.setHeaderParam('Accept', accept);
  for (const [k, v] of Object.entries(query ?? {})) if (v !== undefined) ctx.setQueryParam(k, String(v));
  await config.authMethods.default?.applySecurityAuthentication(ctx);
  return ctx;
}

/** A request for kubeRequest. */
export interface KubeRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** The path under the server, e.g. /api/v1/namespaces/NS/pods/NAME/eviction (already escaped). */
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  /** Sent as JSON. */
  body?: unknown;
  /** The body's media type; application/json unless a patch type is named. */
  contentType?: string;
  /** Aborts this request alone (a caller's deadline), on top of --request-timeout and the clients' signal. */
  signal?: AbortSignal | undefined;
}

/**
 * Sends one request through the clients' configuration (authentication, timeout, cancellation,
 * transport, as client-node's typed APIs send theirs) and returns the answer's JSON as the API
 * server wrote it. The typed APIs turn every answer into model classes (Dates, `_continue`) that
 * bosun's ports would only turn back into JSON (kube/types.ts), at a cost a drain's lists noticed.
 * A non-2xx answer throws client-node's ApiException with the response text, as the typed APIs
 * do, for toKubeError to read.
 */
export async function kubeRequest<T>(clients: Pick<KubeClients, 'config'>, r: KubeRequest): Promise<T> {
  const config = clients.config;
  let ctx = await requestContext(config, r.method, r.path, r.query, 'application/json, */*;q=0.8');
  if (r.body !== undefined) {
    ctx.setHeaderParam('Content-Type', r.contentType ?? 'application/json');
    ctx.setBody(JSON.stringify(r.body));
  }
  // The middleware adds the request timeout and the clients' signal to this one.
  if (r.signal) ctx.setSignal(r.signal);
  for (const m of config.middleware) ctx = await m.pre(ctx).toPromise();
  let res = await config.httpApi.send(ctx).toPromise();
  for (const m of config.middleware) res = await m.post(res).toPromise();
  const text = await res.body.text();
  if (res.httpStatusCode >= 200 && res.httpStatusCode < 300)
    return (text === '' ? undefined : JSON.parse(text)) as T;
  throw new ApiException<string>(res.httpStatusCode, `HTTP ${res.httpStatusCode}`, text, res.headers);
}

/**
 * Parses --request-timeout as kubectl does: "0" (no limit), a bare number of seconds, or a duration
 * with units ("1s", "2m", "3h"). Returns milliseconds.
 */
export function parseRequestTimeout(text: string | undefined): number {
  const v = (text ?? '0').trim();
  const m = /^(\d+)(ms|s|m|h)?$/.exec(v) ?? /^((?:\d+(?:ms|s|m|h))+)$/.exec(v);
  if (m) {
    let total = 0;
    const re = /(\d+)(ms|s|m|h)?/g;
    for (let p = re.exec(v); p !== null; p = re.exec(v)) {
      const n = Number(p[1]);
      total += p[2] === 'ms' ? n : p[2] === 'm' ? n * 60_000 : p[2] === 'h' ? n * 3_600_000 : n * 1000;
    }
    return total;
  }
  throw new UsageError(
    'invalid timeout value. Timeout must be a single integer in seconds, or an integer followed by a corresponding time unit (e.g. 1s | 2m | 3h)',
  );
}

/** How often client-go sends a request again (rest.Request's maxRetries). */
export const MAX_RETRIES = 10;

/**
 * Runs one typed-client call and maps what it throws to a KubeApiError (see kube/errors.ts),
 * telling a --request-timeout apart from a cancellation.
 *
 * As client-go does for every request kubectl makes (rest/with_retry.go), a request is sent again,
 * up to 10 times in all:
 * - when the answer says when to come back: a 429 (API priority and fairness, an API server
 *   shutting down) or any 5xx with a Retry-After header of whole seconds, after that long;
 *   `retryAfter: false` leaves that to the caller (the drain retries refused evictions itself, and
 *   shows why);
 * - when it is a GET (`method`) and the connection went away under it (an API server restarting
 *   behind a load balancer), after a second. Other verbs are not sent twice: they may have been
 *   applied.
 * A --request-timeout bounds the retries too, as client-go's does: none is made whose wait would
 * reach past it, counted from the first attempt.
 */
export async function kubeCall<T>(
  clients: Pick<KubeClients, 'signal' | 'requestTimeoutMs' | 'clock'> &
    Partial<Pick<KubeClients, 'server' | 'explainRejection'>>,
  target: RequestTarget,
  fn: () => Promise<T>,
  opts: { retryAfter?: boolean; method?: string } = {},
): Promise<T> {
  const { clock } = clients;
  const started = clock.now().getTime();
  const limit = clients.requestTimeoutMs > 0 ? clients.requestTimeoutMs : Infinity;
  const fail = (e: unknown, how: AbortContext): Error => {
    const k = toKubeError(e, target, { ...how, ...(clients.server ? { server: clients.server } : {}) });
    return (isKubeApiError(k) && clients.explainRejection?.(k)) || k;
  };
  for (let retries = 0; ; retries++) {
    try {
      return await fn();
    } catch (e) {
      const how = { cancelled: clients.signal?.aborted === true, timeoutMs: clients.requestTimeoutMs };
      const wait =
        retries >= MAX_RETRIES || how.cancelled
          ? undefined
          : opts.method === 'GET' && isConnectionLost(e)
            ? 1
            : opts.retryAfter === false
              ? undefined
              : retryAfterSeconds(e);
      if (wait === undefined || clock.now().getTime() - started + wait * 1000 >= limit) throw fail(e, how);
      try {
        await clock.sleep(wait * 1000, clients.signal);
      } catch {
        throw fail(new DOMException('The operation was aborted', 'AbortError'), { cancelled: true });
      }
    }
  }
}

/** client-go's checkWait: the Retry-After seconds of a 429 or 5xx answer, if it has the header. */
function retryAfterSeconds(e: unknown): number | undefined {
  if (!(e instanceof ApiException) || (e.code !== 429 && e.code < 500)) return undefined;
  const h = (e.headers as Record<string, string> | undefined)?.['retry-after']?.trim();
  return h !== undefined && /^\d+$/.test(h) ? Number(h) : undefined;
}
