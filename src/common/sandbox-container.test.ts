import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  hostPathOf,
  hostPortOf,
  isReadOnly,
  parseSandboxContainer,
  SandboxContainerError,
  type SandboxContainer,
} from './sandbox-container.ts';

const view: SandboxContainer = {
  node: 'worker-1',
  mounts: [
    { containerPath: '/host', hostPath: '/sb/nodes/worker-1/host', readOnly: true },
    {
      containerPath: '/var/run/secrets/kubernetes.io/serviceaccount',
      hostPath: '/sb/vol/sa',
      readOnly: true,
    },
    {
      containerPath: '/host/var/lib/bosun',
      hostPath: '/sb/nodes/worker-1/host/var/lib/bosun',
      readOnly: false,
    },
  ],
  ports: { '8080': 41234 },
};

for (const tc of [
  {
    name: 'a file under a mount',
    path: '/host/var/run/reboot-required',
    want: '/sb/nodes/worker-1/host/var/run/reboot-required',
  },
  { name: 'the mount point itself', path: '/host', want: '/sb/nodes/worker-1/host' },
  {
    name: 'the longest mount wins',
    path: '/host/var/lib/bosun/state',
    want: '/sb/nodes/worker-1/host/var/lib/bosun/state',
  },
  {
    name: 'the token',
    path: '/var/run/secrets/kubernetes.io/serviceaccount/token',
    want: '/sb/vol/sa/token',
  },
  { name: 'a path that only starts like a mount is not under it', path: '/hostname', want: '/hostname' },
  { name: "a path under no mount is the image's own", path: '/etc/os-release', want: '/etc/os-release' },
  {
    name: 'dot-dot cannot climb out of a mount into another',
    path: '/host/../etc/passwd',
    want: '/etc/passwd',
  },
  { name: 'a relative path is left alone', path: 'config.yaml', want: 'config.yaml' },
]) {
  test(`hostPathOf: ${tc.name}`, () => assert.equal(hostPathOf(view, tc.path), tc.want));
}

test('a root mount maps every path', () => {
  const root: SandboxContainer = {
    node: 'n',
    mounts: [{ containerPath: '/', hostPath: '/sb/root', readOnly: false }],
    ports: {},
  };
  assert.equal(hostPathOf(root, '/etc/kubernetes/admin.conf'), '/sb/root/etc/kubernetes/admin.conf');
});

test('read-only follows the longest mount', () => {
  assert.equal(isReadOnly(view, '/host/etc/hosts'), true);
  assert.equal(isReadOnly(view, '/host/var/lib/bosun/x'), false);
  assert.equal(isReadOnly(view, '/tmp/x'), false);
});

test('ports map, unmapped ones stay', () => {
  assert.equal(hostPortOf(view, 8080), 41234);
  assert.equal(hostPortOf(view, 9090), 9090);
});

test('parse: unset is not in the sandbox; JSON round-trips; garbage is an error', () => {
  assert.equal(parseSandboxContainer(undefined), undefined);
  assert.equal(parseSandboxContainer(''), undefined);
  assert.deepEqual(parseSandboxContainer(JSON.stringify(view)), view);
  assert.throws(() => parseSandboxContainer('{'), SandboxContainerError);
  assert.throws(() => parseSandboxContainer('{"node":"n","mounts":[{}],"ports":{}}'), SandboxContainerError);
});
