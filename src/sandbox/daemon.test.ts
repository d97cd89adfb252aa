import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startFailure } from './daemon.ts';

const LOG = '/sb/sandbox.log';

for (const tc of [
  {
    name: 'a usage error of the daemon is the same usage error, with its hint',
    log: 'progress: generating the kubeadm PKI\nerror: unsupported Kubernetes version "v9.9.9"\nThe sandbox offers v1.30.0 to v1.35.2.\n',
    exitCode: 2,
    want: {
      message: 'unsupported Kubernetes version "v9.9.9"',
      hint: 'The sandbox offers v1.30.0 to v1.35.2.',
      exitCode: 2,
    },
  },
  {
    name: 'another error keeps its message, exit 1, and points to the log when it has no hint',
    log: 'error: etcd did not start on cp-1\n',
    exitCode: 1,
    want: { message: 'etcd did not start on cp-1', hint: `See ${LOG}`, exitCode: 1 },
  },
  {
    name: 'the last error counts',
    log: 'error: first\nerror: second\nprogress: x\n',
    exitCode: 1,
    want: { message: 'second', hint: `See ${LOG}`, exitCode: 1 },
  },
  {
    name: 'a process that died without a word points to the log',
    log: '2025-01-01T00:00:00.000Z starting\n',
    exitCode: null,
    want: { message: 'the sandbox process exited while starting', hint: `See ${LOG}`, exitCode: 1 },
  },
]) {
  test(`startFailure: ${tc.name}`, () => {
    const e = startFailure(tc.log, tc.exitCode, LOG);
    assert.deepEqual({ message: e.message, hint: e.hint, exitCode: e.exitCode }, tc.want);
  });
}
