// A minimal gRPC client on node:http2, enough for the three etcd calls a backup makes (two unary
// calls and the server-streaming Maintenance.Snapshot). gRPC over HTTP/2 is a POST with
// content-type application/grpc, length-prefixed protobuf messages in the body, and the status in
// the trailers (grpc-status, grpc-message). Doing it here instead of through @grpc/grpc-js and
// protobufjs (via the etcd3 library) saves a third of a second of module loading on every
// `bosun backup`, and lets the snapshot's bytes go from the HTTP/2 frames to the file without
// being copied into messages and objects first.
import http2 from 'node:http2';
import net from 'node:net';
import type { TlsMaterial } from './probe.ts';
import { GrpcMessageReader, grpcFrame, unaryMessage } from './proto-wire.ts';

/** A failed gRPC call: the grpc-status when the server sent one, null for transport failures. */
export class GrpcError extends Error {
  override readonly name = 'GrpcError';
  constructor(
    message: string,
    readonly grpcStatus: number | null,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Receives the response body of a streaming call; a returned promise pauses the stream until it settles. */
export type BodySink = (chunk: Buffer) => void | Promise<void>;

/** One HTTP/2 connection to one endpoint, opened on first use. */
export interface GrpcChannel {
  /** Calls a unary method (`package.Service/Method`) and returns the response message's bytes. */
  unary(method: string, request: Uint8Array, timeoutMs: number): Promise<Uint8Array>;
  /**
   * Calls a server-streaming method and passes the response body (gRPC-framed messages, in
   * arbitrary pieces) to `sink`. Resolves when the call ends with status OK; rejects with a
   * GrpcError, with what the sink threw, or with the signal's reason.
   */
  serverStream(method: string, request: Uint8Array, sink: BodySink, signal: AbortSignal): Promise<void>;
  /**
   * Opens a bidirectional stream: `send` writes a message, `onMessage` gets each message received,
   * `onEnd` is called once when the stream ends (null: ended with status OK, or closed by us).
   */
  duplex(method: string, onMessage: (msg: Uint8Array) => void, onEnd: (e: Error | null) => void): DuplexCall;
  close(): void;
}

/** A bidirectional call in progress. */
export interface DuplexCall {
  send(msg: Uint8Array): void;
  /** Ends the call from our side (onEnd is not called). */
  close(): void;
}

/** Stream and connection windows: large, so that etcd never waits for a window update on loopback or a LAN. */
const STREAM_WINDOW = 16 << 20;
const SESSION_WINDOW = 64 << 20;

const GRPC_CODES: Record<number, string> = {
  1: 'CANCELLED',
  2: 'UNKNOWN',
  3: 'INVALID_ARGUMENT',
  4: 'DEADLINE_EXCEEDED',
  5: 'NOT_FOUND',
  7: 'PERMISSION_DENIED',
  8: 'RESOURCE_EXHAUSTED',
  9: 'FAILED_PRECONDITION',
  12: 'UNIMPLEMENTED',
  13: 'INTERNAL',
  14: 'UNAVAILABLE',
  16: 'UNAUTHENTICATED',
};

function header(h: http2.IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The call's outcome from its trailers (or from the headers of a trailers-only answer); null when absent. */
function grpcOutcome(h: http2.IncomingHttpHeaders): GrpcError | 'ok' | null {
  const status = header(h, 'grpc-status');
  if (status === undefined) return null;
  const code = Number(status);
  if (code === 0) return 'ok';
  let message = header(h, 'grpc-message') ?? '';
  try {
    message = decodeURIComponent(message);
  } catch {
    // keep it as sent
  }
  return new GrpcError(`${code} ${GRPC_CODES[code] ?? 'error'}: ${message || 'no message'}`, code);
}

/** A failure below gRPC (refused, reset, TLS): a GrpcError without status, the original as its cause. */
function transportError(e: Error): GrpcError {
  return e instanceof GrpcError ? e : new GrpcError(e.message, null, { cause: e });
}

/**
 * A channel to `endpoint` (http:// or https://), with client TLS material for https; with
 * `socketPath`, over that unix socket instead (plain HTTP/2, `endpoint` only names it).
 */
export function grpcChannel(
  endpoint: string,
  tls: TlsMaterial | null,
  opts: { socketPath?: string } = {},
): GrpcChannel {
  let session: http2.ClientHttp2Session | null = null;
  let sessionError: Error | null = null;

  const connect = (): http2.ClientHttp2Session => {
    if (session !== null && !session.closed && !session.destroyed) return session;
    sessionError = null;
    const socketPath = opts.socketPath;
    const s = http2.connect(socketPath !== undefined ? 'http://localhost' : endpoint, {
      ...(tls ? { ca: tls.ca, cert: tls.cert, key: tls.key } : {}),
      ...(socketPath !== undefined ? { createConnection: () => net.connect(socketPath) } : {}),
      settings: { enablePush: false, initialWindowSize: STREAM_WINDOW },
    });
    s.on('error', (e: Error) => {
      sessionError = e;
    });
    s.once('connect', () => s.setLocalWindowSize(SESSION_WINDOW));
    session = s;
    return s;
  };

  /** Starts a call; with a body, that one message is the whole request. */
  const request = (method: string, body: Uint8Array | undefined): http2.ClientHttp2Stream => {
    const req = connect().request({
      ':method': 'POST',
      ':path': `/${method}`,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    if (body !== undefined) req.end(grpcFrame(body));
    return req;
  };

  /** Follows one call to its end: headers checked, body to `onData`, status from the trailers. */
  const follow = (
    req: http2.ClientHttp2Stream,
    onData: (chunk: Buffer) => void,
    done: (e: Error | null) => void,
  ): void => {
    let outcome: GrpcError | 'ok' | null = null;
    let settled = false;
    const finish = (e: Error | null): void => {
      if (settled) return;
      settled = true;
      done(e);
    };
    req.on('response', (h) => {
      const status = Number(h[':status']);
      if (status !== 200) {
        finish(new GrpcError(`HTTP ${status} instead of a gRPC answer`, null));
        req.close(http2.constants.NGHTTP2_CANCEL);
        return;
      }
      outcome = grpcOutcome(h);
    });
    req.on('data', (chunk: Buffer) => {
      if (!settled) onData(chunk);
    });
    req.on('trailers', (h) => {
      outcome = grpcOutcome(h) ?? outcome;
    });
    req.on('end', () => {
      if (outcome === 'ok') finish(null);
      else finish(outcome ?? new GrpcError('the answer ended without a gRPC status', null));
    });
    req.on('error', (e: Error) => finish(transportError(sessionError ?? e)));
    req.on('close', () => {
      // After 'end' this is the normal close: build no error (with its stack) for nothing.
      if (settled) return;
      const why =
        sessionError ??
        new GrpcError(`the connection closed mid-call (HTTP/2 code ${req.rstCode ?? '?'})`, null);
      finish(transportError(why));
    });
  };

  return {
    unary(method, body, timeoutMs) {
      return new Promise<Uint8Array>((resolve, reject) => {
        const chunks: Buffer[] = [];
        const req = request(method, body);
        const timer = setTimeout(() => {
          req.close(http2.constants.NGHTTP2_CANCEL);
          reject(new GrpcError(`${method} timed out after ${timeoutMs} ms`, 4));
        }, timeoutMs);
        follow(
          req,
          (c) => chunks.push(c),
          (e) => {
            clearTimeout(timer);
            if (e !== null) {
              reject(e);
              return;
            }
            try {
              resolve(unaryMessage(Buffer.concat(chunks)));
            } catch (err) {
              reject(new GrpcError(`${method}: ${err instanceof Error ? err.message : String(err)}`, null));
            }
          },
        );
      });
    },

    serverStream(method, body, sink, signal) {
      return new Promise<void>((resolve, reject) => {
        if (signal.aborted) {
          reject(signal.reason);
          return;
        }
        const req = request(method, body);
        let failed = false;
        let ended = false;
        let pending = 0;
        const fail = (e: unknown): void => {
          if (failed) return;
          failed = true;
          signal.removeEventListener('abort', onAbort);
          if (!req.closed) req.close(http2.constants.NGHTTP2_CANCEL);
          reject(e);
        };
        const onAbort = (): void => fail(signal.reason);
        signal.addEventListener('abort', onAbort, { once: true });
        const succeed = (): void => {
          if (failed) return;
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
        follow(
          req,
          (chunk) => {
            if (failed) return;
            let r: void | Promise<void>;
            try {
              r = sink(chunk);
            } catch (e) {
              fail(e);
              return;
            }
            if (r instanceof Promise) {
              pending++;
              req.pause();
              r.then(
                () => {
                  pending--;
                  if (pending === 0) {
                    if (ended) succeed();
                    else req.resume();
                  }
                },
                (e: unknown) => fail(e),
              );
            }
          },
          (e) => {
            if (e !== null) fail(e);
            else {
              ended = true;
              if (pending === 0) succeed();
            }
          },
        );
      });
    },

    duplex(method, onMessage, onEnd) {
      const req = request(method, undefined);
      const reader = new GrpcMessageReader();
      let closed = false;
      follow(
        req,
        (chunk) => {
          if (closed) return;
          let msgs: Uint8Array[];
          try {
            msgs = reader.push(chunk);
          } catch (e) {
            closed = true;
            req.close(http2.constants.NGHTTP2_CANCEL);
            onEnd(e instanceof Error ? e : new Error(String(e)));
            return;
          }
          for (const m of msgs) if (!closed) onMessage(m);
        },
        (e) => {
          if (closed) return;
          closed = true;
          onEnd(e);
        },
      );
      return {
        send(msg) {
          if (!closed && !req.closed) req.write(grpcFrame(msg));
        },
        close() {
          if (closed) return;
          closed = true;
          if (!req.closed) req.close(http2.constants.NGHTTP2_CANCEL);
        },
      };
    },

    close() {
      if (session !== null) session.close();
      session = null;
    },
  };
}
