// The agent's composition root in a container of bosun's sandbox: the configuration as the
// container's view of this machine maps it (host root, sentinel, /metrics and /healthz port).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { SandboxContainer } from '../common/sandbox-container.ts';
import { inSandboxContainer, ownPodOf } from './agent-main.ts';
import { resolveAgentConfig } from './config.ts';

const view: SandboxContainer = {
  node: 'worker-1',
  mounts: [
    { containerPath: '/host', hostPath: '/tmp/sb/nodes/worker-1/host', readOnly: true },
    {
      containerPath: '/var/run/secrets/kubernetes.io/serviceaccount',
      hostPath:
        '/tmp/sb/nodes/worker-1/host/var/lib/kubelet/pods/u/volumes/kubernetes.io~projected/kube-api-access-x',
      readOnly: true,
    },
  ],
  ports: { '8080': 41234 },
  hostRoot: '/tmp/sb/nodes/worker-1/host',
  hostPID: true,
};

const cases: {
  name: string;
  flags: Record<string, unknown>;
  want: { hostRoot: string; sentinelRoot?: string; metricsHost: string; metricsPort: number };
}[] = [
  {
    name: "the chart's flags: /host is the node's directory, the container port its mapped port on 127.0.0.1",
    flags: { hostRoot: '/host', metricsPort: '8080' },
    want: {
      hostRoot: '/tmp/sb/nodes/worker-1/host',
      sentinelRoot: '/tmp/sb/nodes/worker-1/host',
      metricsHost: '127.0.0.1',
      metricsPort: 41234,
    },
  },
  {
    name: 'an address asked for is kept; a port no container port maps stays as it is',
    flags: { hostRoot: '/host', metricsHost: '0.0.0.0', metricsPort: '9090' },
    want: {
      hostRoot: '/tmp/sb/nodes/worker-1/host',
      sentinelRoot: '/tmp/sb/nodes/worker-1/host',
      metricsHost: '0.0.0.0',
      metricsPort: 9090,
    },
  },
  {
    name: "a host root under no mount is the image's own path",
    flags: { hostRoot: '/', metricsPort: '0' },
    want: { hostRoot: '/', sentinelRoot: '/', metricsHost: '127.0.0.1', metricsPort: 0 },
  },
  {
    name: 'a sentinel command has no root to map',
    flags: { hostRoot: '/host', rebootSentinelCommand: 'test -e /run/reboot-needed' },
    want: { hostRoot: '/tmp/sb/nodes/worker-1/host', metricsHost: '127.0.0.1', metricsPort: 41234 },
  },
];

for (const c of cases)
  test(c.name, () => {
    const cfg = resolveAgentConfig({ flags: { nodeName: 'worker-1', ...c.flags }, env: {} });
    const got = inSandboxContainer(cfg, view);
    assert.equal(got.hostRoot, c.want.hostRoot);
    assert.equal(got.metricsHost, c.want.metricsHost);
    assert.equal(got.metricsPort, c.want.metricsPort);
    if (c.want.sentinelRoot === undefined) assert.equal(got.sentinel.kind, 'command');
    else
      assert.deepEqual(got.sentinel, {
        kind: 'file',
        path: '/var/run/reboot-required',
        hostRoot: c.want.sentinelRoot,
      });
    // Nothing else changes.
    assert.deepEqual(
      { ...got, hostRoot: 0, sentinel: 0, metricsHost: 0, metricsPort: 0 },
      {
        ...cfg,
        hostRoot: 0,
        sentinel: 0,
        metricsHost: 0,
        metricsPort: 0,
      },
    );
  });

test("the agent's own pod is the downward API's POD_NAME and POD_NAMESPACE, only when both are set", () => {
  assert.deepEqual(ownPodOf({ POD_NAME: 'bosun-x7k2p', POD_NAMESPACE: 'bosun-system' }), {
    namespace: 'bosun-system',
    name: 'bosun-x7k2p',
  });
  assert.equal(ownPodOf({ POD_NAME: 'bosun-x7k2p' }), undefined);
  assert.equal(ownPodOf({ POD_NAME: '', POD_NAMESPACE: 'bosun-system' }), undefined);
  assert.equal(ownPodOf({}), undefined);
});
