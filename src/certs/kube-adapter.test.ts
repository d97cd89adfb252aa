// Which API failures the static-pod restart may read as "the API server is gone" (it restarts),
// and which mean a server still answers (an expired serving certificate, a refused client).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KubeApiError, TransportReason } from '../kube/errors.ts';
import { isApiUnavailable } from './kube-adapter.ts';

const err = (status: number, reason: string): KubeApiError => new KubeApiError('x', { status, reason });

for (const tc of [
  { name: 'connection refused or reset', e: err(0, TransportReason.Unreachable), want: true },
  { name: 'our own request timeout', e: err(0, TransportReason.RequestTimeout), want: true },
  { name: '503 while its etcd is unavailable', e: err(503, 'ServiceUnavailable'), want: true },
  { name: '500 etcdserver: request timed out', e: err(500, 'InternalError'), want: true },
  { name: '504 gateway timeout', e: err(504, 'Timeout'), want: true },
  {
    name: 'TLS: the server still serves an expired certificate',
    e: err(0, TransportReason.TLS),
    want: false,
  },
  { name: 'cancelled by the user', e: err(0, TransportReason.Aborted), want: false },
  { name: '401: the client certificate is refused', e: err(401, 'Unauthorized'), want: false },
  { name: '404', e: err(404, 'NotFound'), want: false },
  { name: 'not a KubeApiError', e: new Error('connect ECONNREFUSED'), want: false },
]) {
  test(`isApiUnavailable: ${tc.name} -> ${tc.want}`, () => assert.equal(isApiUnavailable(tc.e), tc.want));
}
