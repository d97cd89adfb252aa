import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BOSUN_IMAGE,
  containerCommand,
  expandVars,
  fieldRefValue,
  isImageOf,
  probePort,
  resourceFieldValue,
  serviceEnv,
  tokenRefreshAt,
} from './container-spec.ts';
import type { Container, Pod } from '../apiserver/types.ts';

const opts = { root: '/repo', nodeBinary: '/usr/bin/node20', env: { NODE: 'worker-1' } };

for (const tc of [
  { image: 'ghcr.io/bosun-dev/bosun:0.1.0', want: true },
  { image: 'ghcr.io/bosun-dev/bosun@sha256:abcd', want: true },
  { image: 'ghcr.io/bosun-dev/bosun', want: true },
  { image: 'ghcr.io/bosun-dev/bosun-sidecar:1', want: false },
  { image: 'nginx:1.27', want: false },
]) {
  test(`isImageOf ${tc.image}`, () => assert.equal(isImageOf(tc.image, BOSUN_IMAGE.repository), tc.want));
}

for (const tc of [
  {
    name: "the image's entrypoint and CMD when the pod sets neither",
    c: { name: 'a', image: 'x' },
    want: { argv: ['/usr/bin/node20', '/repo/bin/bosun.js', 'agent'], cwd: '/repo' },
  },
  {
    name: 'args replace CMD and keep the entrypoint, with $(VAR) expanded',
    c: { name: 'a', image: 'x', args: ['agent', '--node-name=$(NODE)', '--config=/opt/bosun/etc/c.yaml'] },
    want: {
      argv: [
        '/usr/bin/node20',
        '/repo/bin/bosun.js',
        'agent',
        '--node-name=worker-1',
        '--config=/repo/etc/c.yaml',
      ],
      cwd: '/repo',
    },
  },
  {
    name: 'command replaces the entrypoint; node scripts of the image run from the checkout',
    c: { name: 'a', image: 'x', command: ['node', '/opt/bosun/test/fixtures/probe.mjs'], args: ['--once'] },
    want: { argv: ['/usr/bin/node20', '/repo/test/fixtures/probe.mjs', '--once'], cwd: '/repo' },
  },
  {
    name: 'a bosun command runs bin/bosun.js',
    c: { name: 'a', image: 'x', command: ['bosun', 'reboot', 'status'], workingDir: '/tmp' },
    want: { argv: ['/usr/bin/node20', '/repo/bin/bosun.js', 'reboot', 'status'], cwd: '/tmp' },
  },
]) {
  test(`containerCommand: ${tc.name}`, () =>
    assert.deepEqual(containerCommand(tc.c as Container, BOSUN_IMAGE, opts), tc.want));
}

test('expandVars follows kube: $$ escapes, unknown references stay', () => {
  assert.equal(expandVars('$(A)-$$(A)-$(B)-$', { A: 'x' }), 'x-$(A)-$(B)-$');
});

test('fieldRef values of the downward API', () => {
  const pod: Pod = {
    metadata: { name: 'p', namespace: 'ns', uid: 'u', labels: { app: 'bosun' } },
    spec: { nodeName: 'worker-1', serviceAccountName: 'bosun', containers: [] },
  };
  assert.equal(fieldRefValue(pod, 'spec.nodeName', '127.0.0.1', '10.244.1.2'), 'worker-1');
  assert.equal(fieldRefValue(pod, 'status.podIP', '127.0.0.1', '10.244.1.2'), '10.244.1.2');
  assert.equal(fieldRefValue(pod, "metadata.labels['app']", '', ''), 'bosun');
  assert.equal(fieldRefValue(pod, 'spec.unknown', '', ''), undefined);
});

test('the kubernetes Service variables point at the API server', () => {
  const e = serviceEnv('127.0.0.1', 6443);
  assert.equal(e['KUBERNETES_SERVICE_HOST'], '127.0.0.1');
  assert.equal(e['KUBERNETES_SERVICE_PORT'], '6443');
  assert.equal(e['KUBERNETES_PORT_6443_TCP_ADDR'], '127.0.0.1');
});

test('a probe port by number or by the name of a container port', () => {
  const c: Container = { name: 'a', ports: [{ name: 'metrics', containerPort: 8080 }] };
  assert.equal(probePort(c, 'metrics'), 8080);
  assert.equal(probePort(c, 9090), 9090);
  assert.equal(probePort(c, 'nope'), undefined);
});

for (const tc of [
  {
    name: "the kubelet's 3607 s token: 80% into it",
    exp: 3_607_000,
    ttl: 3607,
    jitter: 0,
    want: 3_607_000 - 721_400,
  },
  { name: 'the jitter comes off', exp: 3_607_000, ttl: 3607, jitter: 5000, want: 3_607_000 - 721_400 - 5000 },
  {
    name: 'a week-long token: a day after it was issued',
    exp: 7 * 86_400_000,
    ttl: 7 * 86_400,
    jitter: 0,
    want: 86_400_000,
  },
]) {
  test(`tokenRefreshAt: ${tc.name}`, () => assert.equal(tokenRefreshAt(tc.exp, tc.ttl, tc.jitter), tc.want));
}

test('resourceFieldRef: limits default to the node, requests to 0, divisors round up', () => {
  const c: Container = {
    name: 'a',
    resources: { requests: { cpu: '250m', memory: '64Mi' }, limits: { memory: '128Mi' } },
  };
  const node = { cpu: '4', memory: '8148424Ki' };
  assert.equal(resourceFieldValue(c, 'limits.memory', undefined, node), String(128 * 2 ** 20));
  assert.equal(resourceFieldValue(c, 'limits.memory', '1Mi', node), '128');
  assert.equal(resourceFieldValue(c, 'limits.cpu', undefined, node), '4');
  assert.equal(resourceFieldValue(c, 'requests.cpu', undefined, node), '1');
  assert.equal(resourceFieldValue(c, 'requests.cpu', '1m', node), '250');
  assert.equal(resourceFieldValue({ name: 'b' }, 'requests.memory', undefined, node), '0');
  assert.equal(resourceFieldValue(c, 'limits.pods', undefined, node), undefined);
});
