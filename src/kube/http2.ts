// HTTP/2 for bosun's API requests and watches, as client-go speaks it: kube-apiserver offers h2 by
// ALPN, and one connection then carries every request and watch as its own stream. A drain's
// evictions and its watch share one TLS connection instead of opening one each (each handshake
// costs both ends CPU at the moment the API server is busiest), and the connection's health check
// covers the watch too.
//
// It plugs into client-node 1.x's documented transport seam (createConfiguration's httpApi). A
// request goes over h2 only when it would have used keepAliveAuth's shared agent (a direct TLS
// connection with the kubeconfig's CA and client certificate); anything else (proxies, plain http)
// goes to client-node's own fetch library unchanged. A server that does not pick h2 by ALPN is
// remembered and served by that library too, over HTTP/1.1.
import http2 from 'node:http2';
import type https from 'node:https';
import { isIP } from 'node:net';
import tls from 'node:tls';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import {
  IsomorphicFetchHttpLibrary,
  ResponseContext,
  wrapHttpLibrary,
  type HttpLibrary,
  type RequestContext,
} from '@kubernetes/client-node';

/** Headers HTTP/2 forbids (RFC 9113 8.2.2); Host becomes :authority. */
const CONNECTION_HEADERS = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
  'host',
]);

const gunzip = promisify(zlib.gunzip);
const inflate = promisify(zlib.inflate);

/** One origin's connection: an h2 session, or "this server speaks HTTP/1.1 only". */
type Connection = http2.ClientHttp2Session | 'http/1.1';

/**
 * When a connection with requests waiting on it has received nothing for readIdleMs, it is pinged,
 * and closed if no answer comes within pingTimeoutMs (its requests fail as unreachable instead of
 * waiting on a dead connection). client-go's values: ReadIdleTimeout 30 s, PingTimeout 15 s
 * (k8s.io/apimachinery/pkg/util/net's HTTP/2 health check).
 */
export interface Http2HealthCheck {
  readIdleMs: number;
  pingTimeoutMs: number;
}

const CLIENT_GO_HEALTH_CHECK: Http2HealthCheck = { readIdleMs: 30_000, pingTimeoutMs: 15_000 };

/**
 * How long opening a connection may take: the TCP connect (dialMs), then the TLS handshake
 * (tlsHandshakeMs). A server that accepts and never answers, or a path that drops SYNs, fails the
 * requests waiting on it as unreachable instead of leaving them waiting forever. client-go's values
 * (k8s.io/apimachinery/pkg/util/net's SetTransportDefaults: a 30 s dialer timeout, a 10 s
 * TLSHandshakeTimeout).
 */
export interface ConnectDeadlines {
  dialMs: number;
  tlsHandshakeMs: number;
}

const CLIENT_GO_CONNECT_DEADLINES: ConnectDeadlines = { dialMs: 30_000, tlsHandshakeMs: 10_000 };

/**
 * A connection being opened, shared by every request to its origin. Each request waits on it with
 * its own signal (--request-timeout, Ctrl-C) and gives up at once when that aborts; when the last
 * one has given up, the attempt itself is abandoned (its socket destroyed).
 */
interface Opening {
  promise: Promise<Connection>;
  waiters: number;
  settled: boolean;
  cancel(): void;
}

/**
 * A session's requests in flight and when it last received anything. Times are the monotonic
 * performance.now() of the timers that check them (real sockets, real timers: a wall clock that
 * steps must not make a connection look idle or alive); retries, which wait, take a Clock instead.
 */
interface SessionState {
  active: number;
  lastRead: number;
  checker: NodeJS.Timeout | undefined;
  pinging: boolean;
}

/**
 * The transport of kube/client.ts's configuration: h2 over `h2Agents`' TLS options where the server
 * offers it, client-node's fetch library otherwise.
 */
export class Http2Transport {
  private readonly fallback = new IsomorphicFetchHttpLibrary();
  /** Per agent (one TLS identity), per origin. */
  private readonly connections = new WeakMap<https.Agent, Map<string, Opening>>();
  private readonly states = new WeakMap<http2.ClientHttp2Session, SessionState>();

  /**
   * @param h2Agents the agents whose requests may go over h2 (keepAliveAuth's shared agents).
   * @param health the HTTP/2 health check of open connections.
   * @param deadlines how long a connection may take to open.
   */
  constructor(
    readonly h2Agents = new WeakSet<https.Agent>(),
    private readonly health: Http2HealthCheck = CLIENT_GO_HEALTH_CHECK,
    private readonly deadlines: ConnectDeadlines = CLIENT_GO_CONNECT_DEADLINES,
  ) {}

  /** The client-node HttpLibrary. */
  library(): HttpLibrary {
    return wrapHttpLibrary({ send: (c) => this.send(c) });
  }

  private async send(c: RequestContext): Promise<ResponseContext> {
    const url = new URL(c.getUrl());
    const session = await this.sessionFor(c, url);
    if (session === undefined) return this.fallback.send(c).toPromise();
    return this.request(session, c, url);
  }

  /**
   * Sends a request whose answer is a stream (a watch) over h2, and gives the answer's body to
   * `sink` as it arrives; the returned answer comes when the stream ends (with the body only when
   * its status is not 2xx). Like a request, it is covered by the connection's health check: a watch
   * on a connection that went dead fails instead of waiting for events forever. Undefined where
   * send() would not use h2: the caller watches another way.
   */
  async stream(c: RequestContext, sink: (chunk: Buffer) => void): Promise<ResponseContext | undefined> {
    const url = new URL(c.getUrl());
    const session = await this.sessionFor(c, url);
    return session === undefined ? undefined : this.request(session, c, url, sink);
  }

  /** The h2 session for a request, or undefined when it goes to client-node's fetch library. */
  private async sessionFor(c: RequestContext, url: URL): Promise<http2.ClientHttp2Session | undefined> {
    const agent = c.getAgent() as https.Agent | undefined;
    const body = c.getBody();
    // Bodies other than text (client-node's FormData) are left to fetch.
    if (
      url.protocol !== 'https:' ||
      agent === undefined ||
      !this.h2Agents.has(agent) ||
      (body !== undefined && typeof body !== 'string')
    )
      return undefined;
    const conn = await this.connection(url, agent, c.getSignal() as AbortSignal | undefined);
    return conn === 'http/1.1' ? undefined : conn;
  }

  /** The origin's connection, opened if needed; waiting for it ends when `signal` aborts. */
  private async connection(
    url: URL,
    agent: https.Agent,
    signal: AbortSignal | undefined,
  ): Promise<Connection> {
    let byOrigin = this.connections.get(agent);
    if (byOrigin === undefined) this.connections.set(agent, (byOrigin = new Map()));
    const origins = byOrigin;
    let opening = origins.get(url.origin);
    if (opening === undefined) {
      const attempt = connect(url, agent.options, this.deadlines);
      const o: Opening = {
        promise: attempt.promise.then(
          (conn) => {
            o.settled = true;
            if (conn !== 'http/1.1') {
              // A session that ends (GOAWAY, error, close) is replaced by the next request.
              const forget = (): void => {
                if (origins.get(url.origin) === o) origins.delete(url.origin);
              };
              conn.on('close', forget);
              conn.on('goaway', forget);
              conn.on('error', forget);
              conn.unref();
            }
            return conn;
          },
          (e: unknown) => {
            o.settled = true;
            if (origins.get(url.origin) === o) origins.delete(url.origin);
            throw e;
          },
        ),
        waiters: 0,
        settled: false,
        cancel: () => {
          if (origins.get(url.origin) === o) origins.delete(url.origin);
          attempt.cancel();
        },
      };
      o.promise.catch(() => undefined);
      origins.set(url.origin, o);
      opening = o;
    }
    const conn = await waitFor(opening, signal);
    // A session known to be closing takes no new streams; open another.
    if (conn === 'http/1.1' || (!conn.closed && !conn.destroyed)) return conn;
    if (origins.get(url.origin) === opening) origins.delete(url.origin);
    return this.connection(url, agent, signal);
  }

  private request(
    session: http2.ClientHttp2Session,
    c: RequestContext,
    url: URL,
    sink?: (chunk: Buffer) => void,
  ): Promise<ResponseContext> {
    const body = c.getBody() as string | undefined;
    const headers: http2.OutgoingHttpHeaders = {
      ':method': c.getHttpMethod(),
      ':path': `${url.pathname}${url.search}`,
      // A stream is read as it comes (kube-apiserver does not compress watches either).
      ...(sink ? {} : { 'accept-encoding': 'gzip, deflate' }),
    };
    for (const [k, v] of Object.entries(c.getHeaders())) {
      const name = k.toLowerCase();
      if (!CONNECTION_HEADERS.has(name)) headers[name] = v;
    }
    const signal = c.getSignal() as AbortSignal | undefined;
    return new Promise<ResponseContext>((resolve, reject) => {
      if (signal?.aborted) {
        reject(abortError());
        return;
      }
      this.hold(session, +1);
      let done = false;
      const finish = (): boolean => {
        if (done) return false;
        done = true;
        this.hold(session, -1);
        signal?.removeEventListener('abort', onAbort);
        return true;
      };
      // Node ends a DELETE's request side at once unless told otherwise; Kubernetes DELETEs carry
      // DeleteOptions (preconditions, grace period) in their body.
      let stream: http2.ClientHttp2Stream;
      try {
        stream = session.request(headers, { endStream: body === undefined || body === '' });
      } catch (e) {
        // The session closed between lookup and use (GOAWAY, destroyed).
        finish();
        reject(e);
        return;
      }
      const onAbort = (): void => {
        if (finish()) reject(abortError());
        stream.close(http2.constants.NGHTTP2_CANCEL);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const chunks: Buffer[] = [];
      let status = 0;
      let resHeaders: Record<string, string> = {};
      const st = this.state(session);
      stream.on('response', (h) => {
        st.lastRead = performance.now();
        status = Number(h[':status']);
        resHeaders = plainHeaders(h);
      });
      stream.on('data', (d: Buffer) => {
        st.lastRead = performance.now();
        if (sink === undefined || status < 200 || status >= 300) {
          chunks.push(d);
          return;
        }
        if (done) return;
        try {
          sink(d);
        } catch (e) {
          // What the sink throws ends the stream and is the outcome.
          if (finish()) reject(e);
          stream.close(http2.constants.NGHTTP2_CANCEL);
        }
      });
      stream.on('end', () => {
        if (status === 0) {
          // Ended without an answer: the connection went away under the request, or the server
          // cancelled the stream.
          if (finish())
            reject(
              session.destroyed || session.closed
                ? Object.assign(streamError('the connection closed before the server answered'), {
                    connectionLost: true,
                  })
                : streamError('the server closed the stream without answering'),
            );
          return;
        }
        if (!finish()) return;
        const raw = Buffer.concat(chunks);
        const encoding = resHeaders['content-encoding'];
        const decoded =
          encoding === 'gzip' ? gunzip(raw) : encoding === 'deflate' ? inflate(raw) : Promise.resolve(raw);
        resolve(
          new ResponseContext(status, resHeaders, {
            text: () => decoded.then((b) => b.toString('utf8')),
            binary: () => decoded,
          }),
        );
      });
      stream.on('error', (e) => {
        if (finish()) reject(e);
      });
      stream.on('close', () => {
        // Closed without an end or error event (RST_STREAM with NO_ERROR before the body ended).
        if (finish()) reject(streamError(`stream closed (code ${stream.rstCode})`));
      });
      if (body !== undefined && body !== '') stream.end(body);
    });
  }

  private state(session: http2.ClientHttp2Session): SessionState {
    let st = this.states.get(session);
    if (st === undefined)
      this.states.set(
        session,
        (st = { active: 0, lastRead: performance.now(), checker: undefined, pinging: false }),
      );
    return st;
  }

  /**
   * Counts the session's streams in flight: while there are any, its socket is referenced (an idle
   * session must not keep the process alive) and its health is checked.
   */
  private hold(session: http2.ClientHttp2Session, delta: number): void {
    const st = this.state(session);
    st.active += delta;
    if (session.destroyed) {
      clearInterval(st.checker);
      return;
    }
    if (st.active > 0 && st.active - delta === 0) {
      session.ref();
      st.lastRead = performance.now();
      st.checker = setInterval(() => this.check(session, st), Math.max(10, this.health.readIdleMs / 3));
      st.checker.unref();
    } else if (st.active === 0) {
      session.unref();
      clearInterval(st.checker);
      st.checker = undefined;
    }
  }

  private check(session: http2.ClientHttp2Session, st: SessionState): void {
    if (st.pinging || session.destroyed || performance.now() - st.lastRead < this.health.readIdleMs) return;
    st.pinging = true;
    const dead = setTimeout(() => {
      const e = Object.assign(
        new Error(`the API server did not answer an HTTP/2 ping within ${this.health.pingTimeoutMs / 1000}s`),
        { code: 'ETIMEDOUT', connectionLost: true },
      );
      session.destroy(e);
    }, this.health.pingTimeoutMs);
    session.ping((err) => {
      clearTimeout(dead);
      st.pinging = false;
      if (err) session.destroy(err);
      else st.lastRead = performance.now();
    });
  }
}

/**
 * Waits for a connection being opened, giving up when the signal aborts; the last waiter to give
 * up abandons the attempt (nobody else would use it, and its socket would keep the process alive).
 */
function waitFor(o: Opening, signal: AbortSignal | undefined): Promise<Connection> {
  if (o.settled) return o.promise;
  if (signal?.aborted) return Promise.reject(abortError());
  o.waiters++;
  return new Promise<Connection>((resolve, reject) => {
    let waiting = true;
    const leave = (): void => {
      waiting = false;
      o.waiters--;
      signal?.removeEventListener('abort', onAbort);
    };
    const onAbort = (): void => {
      if (!waiting) return;
      leave();
      if (o.waiters === 0 && !o.settled) o.cancel();
      reject(abortError());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    o.promise.then(
      (c) => {
        if (!waiting) return;
        leave();
        resolve(c);
      },
      (e: unknown) => {
        if (!waiting) return;
        leave();
        reject(e);
      },
    );
  });
}

/** A connection attempt failed by its own deadline: the server named, and unreachable to errors.ts. */
function connectTimeout(message: string): Error {
  return Object.assign(new Error(message), { code: 'ETIMEDOUT' });
}

/**
 * Opens a TLS connection offering h2 and http/1.1; an h2 session if the server picked h2. The TCP
 * connect and the TLS handshake each have their deadline; cancel() abandons the attempt.
 */
function connect(
  url: URL,
  o: https.AgentOptions,
  deadlines: ConnectDeadlines,
): { promise: Promise<Connection>; cancel(): void } {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port || 443);
  const address = `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
  let cancel = (): void => undefined;
  const promise = new Promise<Connection>((resolve, reject) => {
    const socket = tls.connect({
      host,
      port,
      ...(o.secureContext
        ? { secureContext: o.secureContext }
        : { ca: o.ca, cert: o.cert, key: o.key, pfx: o.pfx, passphrase: o.passphrase }),
      servername: o.servername ?? (isIP(host) ? undefined : host),
      // Unset unless the kubeconfig says so: then Node's default applies (NODE_TLS_REJECT_UNAUTHORIZED), as for fetch.
      ...(o.rejectUnauthorized !== undefined ? { rejectUnauthorized: o.rejectUnauthorized } : {}),
      ALPNProtocols: ['h2', 'http/1.1'],
    });
    let timer: NodeJS.Timeout | undefined;
    const fail = (e: Error): void => {
      clearTimeout(timer);
      socket.off('error', fail);
      socket.destroy();
      reject(e);
    };
    cancel = () => fail(abortError());
    timer = setTimeout(
      () =>
        fail(
          connectTimeout(
            `dial tcp ${address}: i/o timeout (no connection within ${deadlines.dialMs / 1000}s)`,
          ),
        ),
      deadlines.dialMs,
    );
    socket.once('connect', () => {
      clearTimeout(timer);
      timer = setTimeout(
        () =>
          fail(
            connectTimeout(
              `TLS handshake timeout: ${address} accepted the connection but did not answer within ${deadlines.tlsHandshakeMs / 1000}s`,
            ),
          ),
        deadlines.tlsHandshakeMs,
      );
    });
    socket.once('error', fail);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      socket.off('error', fail);
      cancel = () => undefined;
      if (socket.alpnProtocol !== 'h2') {
        socket.destroy();
        resolve('http/1.1');
        return;
      }
      const session = http2.connect(url.origin, { createConnection: () => socket });
      session.on('error', () => undefined); // surfaced on each stream
      resolve(session);
    });
  });
  return { promise, cancel: () => cancel() };
}

function plainHeaders(h: http2.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (k.startsWith(':') || v === undefined) continue;
    out[k] = Array.isArray(v) ? v.join(', ') : String(v);
  }
  return out;
}

/** What node-fetch rejects with on abort; errors.ts tells cancellation from timeout by context. */
function abortError(): Error {
  return Object.assign(new Error('The operation was aborted.'), { name: 'AbortError', code: 'ABORT_ERR' });
}

/** A stream that ended without its answer; errors.ts maps the code to an unreachable server. */
function streamError(message: string): Error {
  return Object.assign(new Error(message), { code: 'ERR_HTTP2_STREAM_ERROR' });
}
