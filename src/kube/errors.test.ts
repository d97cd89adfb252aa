import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ApiException } from '@kubernetes/client-node';
import {
  KubeApiError,
  TransportReason,
  fromStatus,
  hasStatusCause,
  isConflict,
  isForbidden,
  isGone,
  isKubeApiError,
  isNotFound,
  isRetryable,
  isTooManyRequests,
  isAlreadyExists,
  isInternalError,
  isTimeout,
  isTransportError,
  toKubeError,
} from './errors.ts';
import { isBosunError } from '../common/errors.ts';

function status(
  code: number,
  reason: string,
  message: string,
  details: Record<string, unknown> = {},
): string {
  return JSON.stringify({
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    details,
    code,
  });
}

function apiEx(code: number, body: unknown, headers: Record<string, string> = {}): ApiException<unknown> {
  return new ApiException(code, 'Unknown API Status Code!', body, headers);
}

for (const tc of [
  {
    name: 'a 404 Status becomes NotFound with the server message and the object named',
    thrown: apiEx(
      404,
      status(404, 'NotFound', 'nodes "worker-9" not found', { name: 'worker-9', kind: 'nodes' }),
    ),
    want: {
      status: 404,
      reason: 'NotFound',
      message: 'nodes "worker-9" not found',
      resource: 'nodes',
      resourceName: 'worker-9',
      code: 'NOT_FOUND',
    },
    preds: { isNotFound: true, isConflict: false },
  },
  {
    name: 'a 409 Conflict is a conflict, not AlreadyExists',
    thrown: apiEx(
      409,
      status(409, 'Conflict', 'Operation cannot be fulfilled on nodes "a": the object has been modified'),
    ),
    want: { status: 409, reason: 'Conflict', code: 'CONFLICT' },
    preds: { isConflict: true, isAlreadyExists: false },
  },
  {
    name: 'a 409 AlreadyExists is not a conflict',
    thrown: apiEx(409, status(409, 'AlreadyExists', 'leases "x" already exists')),
    want: { status: 409, reason: 'AlreadyExists' },
    preds: { isConflict: false, isAlreadyExists: true },
  },
  {
    name: 'an eviction 429 keeps the DisruptionBudget cause',
    thrown: apiEx(
      429,
      status(429, 'TooManyRequests', "Cannot evict pod as it would violate the pod's disruption budget.", {
        causes: [
          {
            reason: 'DisruptionBudget',
            message: 'The disruption budget web needs 2 healthy pods and has 2 currently',
          },
        ],
      }),
    ),
    want: { status: 429, reason: 'TooManyRequests' },
    preds: { isTooManyRequests: true, isRetryable: true, budgetCause: true },
  },
  {
    name: 'a 429 without a Status body still reads as TooManyRequests with Retry-After',
    thrown: apiEx(429, undefined, { 'retry-after': '3' }),
    want: { status: 429, reason: 'TooManyRequests', retryAfterSeconds: 3 },
    preds: { isTooManyRequests: true, budgetCause: false },
  },
  {
    name: 'a 410 Expired is Gone',
    thrown: apiEx(410, status(410, 'Expired', 'too old resource version: 5 (10)')),
    want: { status: 410, reason: 'Expired' },
    preds: { isGone: true, isRetryable: false },
  },
  {
    name: 'a 403 in a terminating namespace carries the NamespaceTerminating cause',
    thrown: apiEx(
      403,
      status(
        403,
        'Forbidden',
        'pods "p" is forbidden: unable to create new content in namespace demo because it is being terminated',
        {
          causes: [
            {
              reason: 'NamespaceTerminating',
              message: 'namespace demo is being terminated',
              field: 'metadata.namespace',
            },
          ],
        },
      ),
    ),
    want: { status: 403, reason: 'Forbidden' },
    preds: { isForbidden: true, terminating: true },
  },
  {
    name: 'a 500 for two PDBs is an internal error and not retryable',
    thrown: apiEx(
      500,
      status(
        500,
        'InternalError',
        'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.',
      ),
    ),
    want: { status: 500, reason: 'InternalError' },
    preds: { isInternalError: true, isRetryable: false },
  },
  {
    name: 'a 401 without a body says Unauthorized with a hint',
    thrown: apiEx(401, undefined),
    want: { status: 401, reason: 'Unauthorized', message: 'Unauthorized' },
    preds: {},
  },
  {
    name: 'a watch answering 410 before streaming (statusCode on a plain Error) is Gone',
    thrown: Object.assign(new Error('Gone'), { statusCode: 410 }),
    want: { status: 410, reason: 'Expired' },
    preds: { isGone: true },
  },
  {
    name: 'connection refused is a transport error, retryable',
    thrown: Object.assign(
      new Error('request to https://127.0.0.1:1/api failed, reason: connect ECONNREFUSED 127.0.0.1:1'),
      { name: 'FetchError', type: 'system', code: 'ECONNREFUSED' },
    ),
    want: { status: 0, reason: TransportReason.Unreachable },
    preds: { isTransport: true, isRetryable: true },
  },
  {
    name: 'a request-timeout abort is a timeout',
    thrown: Object.assign(new Error('The operation was aborted due to timeout'), { name: 'TimeoutError' }),
    want: { status: 0, reason: TransportReason.RequestTimeout, code: 'TIMEOUT' },
    preds: { isTimeout: true, isRetryable: true },
  },
  {
    name: 'a user abort is a cancellation, not retryable',
    thrown: Object.assign(new Error('The user aborted a request.'), { name: 'AbortError' }),
    want: { status: 0, reason: TransportReason.Aborted, code: 'INTERRUPTED' },
    preds: { isRetryable: false },
  },
]) {
  test(tc.name, () => {
    const e = toKubeError(tc.thrown, { resource: 'nodes', name: 'worker-9', verb: 'get' });
    assert.ok(isKubeApiError(e), `not a KubeApiError: ${String(e)}`);
    assert.ok(isBosunError(e));
    assert.ok(e instanceof KubeApiError);
    for (const [k, v] of Object.entries(tc.want))
      assert.deepEqual((e as unknown as Record<string, unknown>)[k], v, k);
    const p = tc.preds as Record<string, boolean | undefined>;
    if (p['isNotFound'] !== undefined) assert.equal(isNotFound(e), p['isNotFound']);
    if (p['isConflict'] !== undefined) assert.equal(isConflict(e), p['isConflict']);
    if (p['isAlreadyExists'] !== undefined) assert.equal(isAlreadyExists(e), p['isAlreadyExists']);
    if (p['isTooManyRequests'] !== undefined) assert.equal(isTooManyRequests(e), p['isTooManyRequests']);
    if (p['isGone'] !== undefined) assert.equal(isGone(e), p['isGone']);
    if (p['isForbidden'] !== undefined) assert.equal(isForbidden(e), p['isForbidden']);
    if (p['isInternalError'] !== undefined) assert.equal(isInternalError(e), p['isInternalError']);
    if (p['isRetryable'] !== undefined) assert.equal(isRetryable(e), p['isRetryable']);
    if (p['isTimeout'] !== undefined) assert.equal(isTimeout(e), p['isTimeout']);
    if (p['isTransport'] !== undefined) assert.equal(isTransportError(e), p['isTransport']);
    if (p['budgetCause'] !== undefined) assert.equal(hasStatusCause(e, 'DisruptionBudget'), p['budgetCause']);
    if (p['terminating'] !== undefined)
      assert.equal(hasStatusCause(e, 'NamespaceTerminating'), p['terminating']);
  });
}

test('a watch ERROR event Status becomes the same error as a response would', () => {
  const e = fromStatus(
    200,
    { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' },
    { resource: 'pods', verb: 'watch' },
  );
  assert.equal(e.status, 410);
  assert.ok(isGone(e));
});

test('an error that is not about the API passes through unchanged (it is a bug, not a cluster answer)', () => {
  const bug = new TypeError('x is undefined');
  assert.equal(toKubeError(bug), bug);
});

test('an already mapped error passes through unchanged', () => {
  const e = fromStatus(404, undefined, { resource: 'pods', name: 'p' });
  assert.equal(toKubeError(e), e);
  assert.equal(e.message, 'pods "p" not found');
});

test('predicates are false for things that are not KubeApiErrors', () => {
  for (const v of [undefined, null, 'x', new Error('x'), { status: 404 }]) {
    assert.equal(isNotFound(v), false);
    assert.equal(isRetryable(v), false);
  }
});
