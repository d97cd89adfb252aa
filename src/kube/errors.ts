// Turns whatever a Kubernetes call threw into one KubeApiError, and answers questions about it the
// way apimachinery's `k8s.io/apimachinery/pkg/api/errors` does (IsNotFound, IsConflict, ...).
//
// This is the only module that knows how @kubernetes/client-node 1.x reports failures:
// - requests (kube/client.ts's kubeRequest, as client-node's typed APIs) throw `ApiException<T>`
//   with `code` (HTTP status) and `body` (the response text, usually a JSON `Status`);
// - `Watch` reports a non-200 answer as a plain Error carrying `statusCode`, and a failure inside
//   an open watch as an `ERROR` event whose object is a `Status`;
// - transport failures are node-fetch `FetchError`s (`type: 'system'`, `code: 'ECONNREFUSED'`) or
//   `AbortError`s (request timeout or cancellation); over h2 (kube/http2.ts) the socket's own
//   errors, `ERR_HTTP2_*` stream and session errors, and the same `AbortError`.
// It never retries, logs or swallows anything: callers decide.
import { ApiException } from '@kubernetes/client-node';
import { BosunError, errorMessage, isBosunError } from '../common/errors.ts';

/** One entry of a Status's details.causes (field validation errors, DisruptionBudget, ...). */
export interface StatusCause {
  type: string;
  message: string;
  field: string;
}

/** What a failed request was about, so the message can name it as kube-apiserver does. */
export interface RequestTarget {
  /** Plural resource, e.g. "pods", "nodes", "poddisruptionbudgets". */
  resource?: string;
  /** API group, "" for core. */
  group?: string;
  name?: string;
  namespace?: string;
  /** What we were doing, for transport errors: "get", "list", "patch", "evict", "watch"... */
  verb?: string;
}

/** Fields of a KubeApiError (all but message). */
export interface KubeApiErrorFields {
  /** HTTP status; 0 when no response came back (connection refused, timeout, TLS failure). */
  status: number;
  /** The Status reason (NotFound, Conflict, TooManyRequests, ...), or a transport reason. */
  reason: string;
  resource: string;
  group: string;
  name: string;
  namespace: string;
  causes: readonly StatusCause[];
  /** Seconds the server asked us to wait before retrying (Status details or Retry-After), if any. */
  retryAfterSeconds: number | undefined;
}

/** Reasons for failures where no HTTP response came back (not kube-apiserver reasons). */
export const TransportReason = {
  /** The connection was refused, reset or the host was unreachable. */
  Unreachable: 'Unreachable',
  /** --request-timeout elapsed. */
  RequestTimeout: 'RequestTimeout',
  /** The caller aborted (Ctrl-C). */
  Aborted: 'Aborted',
  /** The TLS handshake failed (bad CA, expired certificate, ...). */
  TLS: 'TLS',
} as const;

/** A failed Kubernetes API request, with the server's Status when there was one. */
export class KubeApiError extends BosunError implements KubeApiErrorFields {
  override readonly name = 'KubeApiError';
  readonly status: number;
  readonly reason: string;
  readonly resource: string;
  readonly group: string;
  readonly resourceName: string;
  readonly namespace: string;
  readonly causes: readonly StatusCause[];
  readonly retryAfterSeconds: number | undefined;
  constructor(
    message: string,
    fields: Partial<KubeApiErrorFields> & { status: number; reason: string },
    options: { hint?: string; cause?: unknown } = {},
  ) {
    super(message, codeFor(fields.status, fields.reason), options);
    this.status = fields.status;
    this.reason = fields.reason;
    this.resource = fields.resource ?? '';
    this.group = fields.group ?? '';
    this.resourceName = fields.name ?? '';
    this.namespace = fields.namespace ?? '';
    this.causes = fields.causes ?? [];
    this.retryAfterSeconds = fields.retryAfterSeconds;
  }
}

function codeFor(
  status: number,
  reason: string,
): 'NOT_FOUND' | 'CONFLICT' | 'TLS' | 'TIMEOUT' | 'INTERRUPTED' | 'KUBE_API' {
  if (status === 404) return 'NOT_FOUND';
  if (status === 409) return 'CONFLICT';
  if (reason === TransportReason.TLS) return 'TLS';
  if (reason === TransportReason.RequestTimeout) return 'TIMEOUT';
  if (reason === TransportReason.Aborted) return 'INTERRUPTED';
  return 'KUBE_API';
}

/** Guard that works across module copies. */
export function isKubeApiError(e: unknown): e is KubeApiError {
  return (
    e instanceof Error && e.name === 'KubeApiError' && typeof (e as { status?: unknown }).status === 'number'
  );
}

// kube-apiserver's default reasons per status code (apimachinery errors.go, NewGenericServerResponse).
const REASON_BY_STATUS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  405: 'MethodNotAllowed',
  406: 'NotAcceptable',
  409: 'Conflict',
  410: 'Expired',
  413: 'RequestEntityTooLarge',
  415: 'UnsupportedMediaType',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function str(v: unknown): string {
  return typeof v === 'string' ? v : '';
}

/** Reads a Status object from a response body that may be text, an object, or nothing. */
export function parseStatus(body: unknown): Record<string, unknown> | undefined {
  let v: unknown = body;
  if (typeof v === 'string') {
    if (v.trim() === '') return undefined;
    try {
      v = JSON.parse(v);
    } catch {
      return undefined;
    }
  }
  if (Buffer.isBuffer(v)) return parseStatus(v.toString('utf8'));
  if (
    isRecord(v) &&
    (v['kind'] === 'Status' || typeof v['reason'] === 'string' || typeof v['message'] === 'string')
  )
    return v;
  return undefined;
}

function causesOf(details: Record<string, unknown> | undefined): StatusCause[] {
  const raw = details?.['causes'];
  if (!Array.isArray(raw)) return [];
  return raw.filter(isRecord).map((c) => ({
    type: str(c['reason']) || str(c['type']),
    message: str(c['message']),
    field: str(c['field']),
  }));
}

/** Builds a KubeApiError from an HTTP status and a Status body (as a watch ERROR event carries). */
export function fromStatus(
  status: number,
  statusBody: Record<string, unknown> | undefined,
  target: RequestTarget = {},
  headers: Record<string, string> = {},
  cause?: unknown,
): KubeApiError {
  const details = isRecord(statusBody?.['details'])
    ? (statusBody['details'] as Record<string, unknown>)
    : undefined;
  const code =
    typeof statusBody?.['code'] === 'number' && statusBody['code'] !== 0 ? statusBody['code'] : status;
  const reason =
    str(statusBody?.['reason']) || REASON_BY_STATUS[code] || (code >= 500 ? 'InternalError' : 'Unknown');
  const resource = str(details?.['kind']) || target.resource || '';
  const name = str(details?.['name']) || target.name || '';
  const group = str(details?.['group']) || target.group || '';
  const retryHeader = headers['retry-after'];
  const retryAfterSeconds =
    typeof details?.['retryAfterSeconds'] === 'number'
      ? details['retryAfterSeconds']
      : retryHeader !== undefined && /^\d+$/.test(retryHeader)
        ? Number(retryHeader)
        : undefined;
  let message = str(statusBody?.['message']);
  if (message === '') message = genericMessage(code, reason, target);
  return new KubeApiError(
    message,
    {
      status: code,
      reason,
      resource,
      group,
      name,
      namespace: target.namespace ?? '',
      causes: causesOf(details),
      retryAfterSeconds,
    },
    { cause, hint: hintFor(code, reason) },
  );
}

function qualified(target: RequestTarget): string {
  const res = target.resource
    ? target.group
      ? `${target.resource}.${target.group}`
      : target.resource
    : 'resource';
  return target.name ? `${res} "${target.name}"` : res;
}

function genericMessage(code: number, reason: string, target: RequestTarget): string {
  switch (code) {
    case 401:
      return 'Unauthorized';
    case 403:
      return `${qualified(target)} is forbidden`;
    case 404:
      return `${qualified(target)} not found`;
    case 409:
      return `Operation cannot be fulfilled on ${qualified(target)}: the object has been modified; please apply your changes to the latest version and try again`;
    default:
      return `the server responded with ${code} (${reason})${target.verb ? ` to ${target.verb} ${qualified(target)}` : ''}`;
  }
}

function hintFor(code: number, reason: string): string | undefined {
  if (code === 401)
    return 'The credentials in your kubeconfig were rejected; check --kubeconfig and --context.';
  if (code === 403) return 'Your kubeconfig user is not allowed to do this; check its RBAC permissions.';
  if (reason === 'ServiceUnavailable' || code === 503)
    return 'The API server is not ready; try again in a moment.';
  return undefined;
}

function transportError(e: Error, target: RequestTarget, how: AbortContext): KubeApiError | undefined {
  const errno = str((e as { code?: unknown }).code);
  const what = target.verb ? `${target.verb} ${qualified(target)}` : 'the request';
  if (e.name === 'AbortError' || errno === 'ABORT_ERR' || e.name === 'TimeoutError') {
    // node-fetch drops the abort reason, so the caller tells us whether it cancelled.
    const timedOut =
      e.name === 'TimeoutError' ||
      (how.cancelled === false && how.timeoutMs !== undefined && how.timeoutMs > 0);
    return timedOut
      ? new KubeApiError(
          `${what} timed out after ${how.timeoutMs ? `${how.timeoutMs / 1000}s` : 'the request timeout'}${how.server ? ` waiting for the API server at ${how.server}` : ''}`,
          { status: 0, reason: TransportReason.RequestTimeout, ...fieldsOf(target) },
          { cause: e, hint: 'Raise --request-timeout, or check that the API server is responding.' },
        )
      : new KubeApiError(
          `${what} was cancelled`,
          { status: 0, reason: TransportReason.Aborted, ...fieldsOf(target) },
          { cause: e },
        );
  }
  const msg = errorMessage(e);
  const at = how.server ? ` at ${how.server}` : '';
  // A connection that timed out (kube/http2.ts's dial and handshake deadlines among them) is an
  // unreachable server, whatever its message says about TLS.
  if (errno !== 'ETIMEDOUT' && /certificate|self[- ]signed|tls|ssl|CERT_|ERR_TLS/i.test(errno + ' ' + msg)) {
    return new KubeApiError(
      `TLS handshake with the API server${at} failed: ${msg}`,
      { status: 0, reason: TransportReason.TLS, ...fieldsOf(target) },
      {
        cause: e,
        hint: "Check the cluster's certificate-authority data in your kubeconfig and that the client certificate has not expired.",
      },
    );
  }
  if (
    /^(ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EPIPE|UND_ERR_SOCKET)$/.test(
      errno,
    ) ||
    // kube/http2.ts: the stream was reset or its connection went away (GOAWAY, session error).
    /^ERR_HTTP2_(STREAM_ERROR|STREAM_CANCEL|GOAWAY_SESSION|SESSION_ERROR|INVALID_SESSION|ERROR)$/.test(
      errno,
    ) ||
    (e.name === 'FetchError' && str((e as { type?: unknown }).type) === 'system')
  ) {
    return new KubeApiError(
      `unable to reach the API server${at}: ${msg}`,
      { status: 0, reason: TransportReason.Unreachable, ...fieldsOf(target) },
      {
        cause: e,
        hint: 'Is the cluster running? Check the server address in your kubeconfig (--kubeconfig, --context).',
      },
    );
  }
  return undefined;
}

function fieldsOf(target: RequestTarget): Partial<KubeApiErrorFields> {
  return {
    resource: target.resource ?? '',
    group: target.group ?? '',
    name: target.name ?? '',
    namespace: target.namespace ?? '',
  };
}

/** What the caller knows about an aborted request (node-fetch does not say why it aborted). */
export interface AbortContext {
  /** True when the caller's own signal was aborted (Ctrl-C); false when it was not. */
  cancelled?: boolean;
  /** The request timeout in force, if any: an abort without cancellation is that timeout. */
  timeoutMs?: number;
  /** The API server's URL, named in messages about a server that did not answer. */
  server?: string;
}

/**
 * Maps anything a client-node call threw to a KubeApiError. Already-mapped errors pass through;
 * errors that are not about the API at all (a bug) come back as they are, wrapped only if they are
 * not Errors.
 */
export function toKubeError(
  e: unknown,
  target: RequestTarget = {},
  how: AbortContext = {},
): KubeApiError | Error {
  if (isKubeApiError(e)) return e;
  // Already one line for the user (a kubeconfig that cannot be used, a credential plugin that failed).
  if (isBosunError(e)) return e;
  if (
    e instanceof ApiException ||
    (isRecord(e) && typeof e['code'] === 'number' && 'body' in e && e instanceof Error)
  ) {
    const ex = e as ApiException<unknown>;
    return fromStatus(ex.code, parseStatus(ex.body), target, ex.headers ?? {}, e);
  }
  if (e instanceof Error && typeof (e as { statusCode?: unknown }).statusCode === 'number') {
    // Watch: a non-200 answer to the initial request (the body is not read by client-node).
    return fromStatus((e as unknown as { statusCode: number }).statusCode, undefined, target, {}, e);
  }
  if (e instanceof Error) {
    const t =
      transportError(e, target, how) ??
      (e.cause instanceof Error ? transportError(e.cause, target, how) : undefined);
    if (t) return t;
    return e;
  }
  return new Error(String(e));
}

function statusOf(e: unknown): number {
  return isKubeApiError(e) ? e.status : -1;
}
function reasonOf(e: unknown): string {
  return isKubeApiError(e) ? e.reason : '';
}

/**
 * Did the connection go away under the request (reset, GOAWAY, a failed health-check ping), as
 * opposed to a refused connection or a stream the server reset? client-go sends a GET again then
 * (net.IsConnectionReset, IsProbableEOF, IsHTTP2ConnectionLost). Reads the raw error, or its cause.
 */
export function isConnectionLost(e: unknown): boolean {
  for (let x: unknown = e, depth = 0; x instanceof Error && depth < 3; x = x.cause, depth++) {
    if ((x as { connectionLost?: unknown }).connectionLost === true) return true;
    const code = str((x as { code?: unknown }).code);
    if (
      /^(ECONNRESET|EPIPE|ERR_HTTP2_GOAWAY_SESSION|ERR_HTTP2_INVALID_SESSION|ERR_HTTP2_SESSION_ERROR)$/.test(
        code,
      )
    )
      return true;
  }
  return false;
}

/** 404, or reason NotFound. */
export function isNotFound(e: unknown): boolean {
  return statusOf(e) === 404 || reasonOf(e) === 'NotFound';
}
/** 409 Conflict: the object changed since it was read; re-read and retry. (AlreadyExists is also 409 but not this.) */
export function isConflict(e: unknown): boolean {
  return reasonOf(e) === 'Conflict' || (statusOf(e) === 409 && reasonOf(e) !== 'AlreadyExists');
}
/** 409 AlreadyExists. */
export function isAlreadyExists(e: unknown): boolean {
  return reasonOf(e) === 'AlreadyExists';
}
/** 429: a PodDisruptionBudget refused an eviction, or the server is throttling; back off and retry. */
export function isTooManyRequests(e: unknown): boolean {
  return statusOf(e) === 429 || reasonOf(e) === 'TooManyRequests';
}
/** 410 Gone / reason Expired: a watch's resourceVersion was compacted; relist. */
export function isGone(e: unknown): boolean {
  return statusOf(e) === 410 || reasonOf(e) === 'Expired' || reasonOf(e) === 'Gone';
}
/**
 * The resourceVersion asked for is newer than the server's store: etcd was restored to an older
 * revision (k8s.io/apiserver's NewTooLargeResourceVersionError, a 504 with this cause). client-go's
 * reflector relists on it; retrying the same version would never succeed.
 */
export function isTooLargeResourceVersion(e: unknown): boolean {
  return hasStatusCause(e, 'ResourceVersionTooLarge');
}
/** 403 Forbidden (RBAC, or e.g. an eviction in a terminating namespace). */
export function isForbidden(e: unknown): boolean {
  return statusOf(e) === 403 || reasonOf(e) === 'Forbidden';
}
/** 401 Unauthorized. */
export function isUnauthorized(e: unknown): boolean {
  return statusOf(e) === 401 || reasonOf(e) === 'Unauthorized';
}
/** 422 Invalid. */
export function isInvalid(e: unknown): boolean {
  return statusOf(e) === 422 || reasonOf(e) === 'Invalid';
}
/** 400 BadRequest. */
export function isBadRequest(e: unknown): boolean {
  return statusOf(e) === 400 || reasonOf(e) === 'BadRequest';
}
/** 500 InternalError (e.g. an eviction of a pod covered by more than one PDB). */
export function isInternalError(e: unknown): boolean {
  return statusOf(e) === 500 || reasonOf(e) === 'InternalError';
}
/** 503 ServiceUnavailable. */
export function isServiceUnavailable(e: unknown): boolean {
  return statusOf(e) === 503 || reasonOf(e) === 'ServiceUnavailable';
}
/** 504 / reason Timeout or ServerTimeout, or our own --request-timeout. */
export function isTimeout(e: unknown): boolean {
  return (
    statusOf(e) === 504 ||
    reasonOf(e) === 'Timeout' ||
    reasonOf(e) === 'ServerTimeout' ||
    reasonOf(e) === TransportReason.RequestTimeout
  );
}
/** No response at all: connection refused/reset, DNS, TLS. */
export function isTransportError(e: unknown): boolean {
  return isKubeApiError(e) && e.status === 0;
}
/** Whether the Status carries a cause of this type (apimachinery HasStatusCause). */
export function hasStatusCause(e: unknown, type: string): boolean {
  return isKubeApiError(e) && e.causes.some((c) => c.type === type);
}
/**
 * Worth retrying the same request later: throttling, server busy or restarting, a timeout, a
 * dropped connection. Not: 4xx answers about the request itself, or a cancelled request.
 */
export function isRetryable(e: unknown): boolean {
  if (!isKubeApiError(e)) return false;
  if (e.reason === TransportReason.Aborted || e.reason === TransportReason.TLS) return false;
  return e.status === 0 || e.status === 429 || e.status === 502 || e.status === 503 || e.status === 504;
}
