import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolveSandboxDir, sandboxShimDir } from './sandbox.ts';

test('the sandbox dir comes from --sandbox-dir, else from a kubeconfig named admin.conf with nodes/ beside it', () => {
  const isDir = (p: string): boolean => p === '/sb/nodes';
  assert.equal(resolveSandboxDir({ sandboxDir: '/x', kubeconfigFiles: ['/sb/admin.conf'], isDir }), '/x');
  assert.equal(resolveSandboxDir({ kubeconfigFiles: ['/sb/admin.conf'], isDir }), '/sb');
  assert.equal(resolveSandboxDir({ kubeconfigFiles: ['/home/a/.kube/config'], isDir }), undefined);
  assert.equal(resolveSandboxDir({ kubeconfigFiles: ['/other/admin.conf'], isDir }), undefined);
});

test("a node's shims are DIR/nodes/NODE/host/bin", () => {
  assert.equal(sandboxShimDir('/sb/', 'worker-2'), '/sb/nodes/worker-2/host/bin');
});
