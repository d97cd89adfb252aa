// metav1.Status bodies with the codes, reasons and messages kube-apiserver uses
// (k8s.io/apimachinery/pkg/api/errors). Handlers throw ApiError; the HTTP layer writes its status.

/** A metav1.StatusCause. */
export interface StatusCause {
  reason?: string;
  message?: string;
  field?: string;
}

/** The wire form of a metav1.Status. */
export interface StatusBody {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message?: string;
  reason?: string;
  details?: {
    name?: string;
    group?: string;
    kind?: string;
    uid?: string;
    causes?: StatusCause[];
    retryAfterSeconds?: number;
  };
  code: number;
}

/** An API failure carrying the Status kube-apiserver would send. */
export class ApiError extends Error {
  readonly status: StatusBody;
  constructor(status: StatusBody) {
    super(status.message ?? status.reason ?? `HTTP ${status.code}`);
    this.status = status;
  }
  get code(): number {
    return this.status.code;
  }
  get reason(): string | undefined {
    return this.status.reason;
  }
}

/** Identifies a resource in messages: "pods" or "deployments.apps". */
export interface QualifiedResource {
  group: string;
  resource: string;
}

function qualified(r: QualifiedResource): string {
  return r.group === '' ? r.resource : `${r.resource}.${r.group}`;
}

function failure(
  code: number,
  reason: string | undefined,
  message: string,
  details?: StatusBody['details'],
): ApiError {
  const body: StatusBody = {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    code,
  };
  if (reason !== undefined) body.reason = reason;
  if (details !== undefined) body.details = details;
  return new ApiError(body);
}

function resourceDetails(r: QualifiedResource, name: string): NonNullable<StatusBody['details']> {
  const d: NonNullable<StatusBody['details']> = { name, kind: r.resource };
  if (r.group !== '') d.group = r.group;
  return d;
}

/** 404 `pods "x" not found`. */
export function notFound(r: QualifiedResource, name: string): ApiError {
  return failure(404, 'NotFound', `${qualified(r)} "${name}" not found`, resourceDetails(r, name));
}

/** 404 for a path the server does not serve. */
export function pathNotFound(): ApiError {
  return failure(404, 'NotFound', 'the server could not find the requested resource', {});
}

/** 409 `pods "x" already exists`. */
export function alreadyExists(r: QualifiedResource, name: string): ApiError {
  return failure(409, 'AlreadyExists', `${qualified(r)} "${name}" already exists`, resourceDetails(r, name));
}

/** 409 optimistic-concurrency failure. */
export function conflict(r: QualifiedResource, name: string, why: string): ApiError {
  return failure(
    409,
    'Conflict',
    `Operation cannot be fulfilled on ${qualified(r)} "${name}": ${why}`,
    resourceDetails(r, name),
  );
}

/** The message kube-apiserver gives for a stale resourceVersion. */
export const MODIFIED_MESSAGE =
  'the object has been modified; please apply your changes to the latest version and try again';

/** 422 `Pod "x" is invalid: spec.containers: Required value`. */
export function invalid(kind: string, group: string, name: string, causes: StatusCause[]): ApiError {
  const list = causes.map((c) => `${c.field ?? ''}: ${c.message ?? ''}`);
  const summary = list.length === 1 ? list[0] : `[${list.join(', ')}]`;
  const details: NonNullable<StatusBody['details']> = { name, kind, causes };
  if (group !== '') details.group = group;
  return failure(
    422,
    'Invalid',
    `${kind}${group ? '.' + group : ''} "${name}" is invalid: ${summary}`,
    details,
  );
}

/** 400 with a message. */
export function badRequest(message: string): ApiError {
  return failure(400, 'BadRequest', message);
}

/** 415 for a request body in a media type the server does not read. */
export function unsupportedMediaType(accepted: string): ApiError {
  return failure(
    415,
    'UnsupportedMediaType',
    `the body of the request was in an unknown format - accepted media types include: ${accepted}`,
  );
}

/** 405 for a verb the resource does not support. */
export function methodNotSupported(r: QualifiedResource, verb: string): ApiError {
  return failure(405, 'MethodNotAllowed', `${verb} is not supported on resources of kind "${qualified(r)}"`, {
    kind: r.resource,
    ...(r.group ? { group: r.group } : {}),
  });
}

/** 403 `pods "x" is forbidden: why`. */
export function forbidden(r: QualifiedResource, name: string, why: string, causes?: StatusCause[]): ApiError {
  const d = resourceDetails(r, name);
  if (causes) d.causes = causes;
  return failure(403, 'Forbidden', `${qualified(r)} "${name}" is forbidden: ${why}`, d);
}

/** 401 for a request without a valid client certificate. */
export function unauthorized(): ApiError {
  return failure(401, 'Unauthorized', 'Unauthorized');
}

/** 429, the eviction API's answer when a PodDisruptionBudget allows no disruption. */
export function tooManyRequests(message: string, retryAfterSeconds: number, causes: StatusCause[]): ApiError {
  const details: NonNullable<StatusBody['details']> = { causes };
  if (retryAfterSeconds > 0) details.retryAfterSeconds = retryAfterSeconds;
  return failure(429, 'TooManyRequests', message, details);
}

/** 410 for a resourceVersion older than the compacted revision. */
export function expired(message: string): ApiError {
  return failure(410, 'Expired', message);
}

/** 500, with or without a reason (the eviction API's "more than one PDB" has none). */
export function internalError(message: string, reason?: string): ApiError {
  return failure(500, reason, message);
}

/** 503, e.g. while etcd is unavailable. */
export function serviceUnavailable(message: string): ApiError {
  return failure(503, 'ServiceUnavailable', message);
}

/** 504: the storage call timed out. */
export function timeout(message: string): ApiError {
  return failure(504, 'Timeout', message);
}

/**
 * 504 for a resourceVersion newer than the store's current revision, as kube-apiserver answers
 * (k8s.io/apiserver storage.NewTooLargeResourceVersionError); client-go's reflector relists on it.
 * It happens after an etcd restore rewound the revisions.
 */
export function tooLargeResourceVersion(requested: number, current: number): ApiError {
  return failure(504, 'Timeout', `Timeout: Too large resource version: ${requested}, current: ${current}`, {
    causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
    retryAfterSeconds: 1,
  });
}

/** Is this the answer to a resourceVersion from the future (see tooLargeResourceVersion)? */
export function isTooLargeResourceVersion(e: unknown): boolean {
  return (
    e instanceof ApiError &&
    e.code === 504 &&
    (e.status.details?.causes ?? []).some((c) => c.reason === 'ResourceVersionTooLarge')
  );
}

/** A success Status (eviction's 201 answer, delete of a collection). */
export function success(details?: StatusBody['details']): StatusBody {
  const body: StatusBody = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 200 };
  if (details) body.details = details;
  return body;
}

/** Guard for ApiError across module boundaries. */
export function isApiError(e: unknown): e is ApiError {
  return e instanceof ApiError;
}
