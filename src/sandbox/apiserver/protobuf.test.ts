// Bodies captured from the real kubectl v1.35 (`kubectl create token|namespace|secret|configmap`,
// `kubectl auth can-i|whoami`) and helm v4 (uninstall), decoded as kube-apiserver reads them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeProtobufObject, UnsupportedProtobuf } from './protobuf.ts';

const hex = (s: string): Uint8Array => Buffer.from(s, 'hex');

for (const tc of [
  {
    name: 'kubectl create token default --audience a --audience b --duration 20m --bound-object-kind Pod ...',
    body: '6b3873000a280a1861757468656e7469636174696f6e2e6b38732e696f2f7631120c546f6b656e5265717565737412360a100a0012001a0022002a00320038004200121c0a01610a01621a110a03506f64120276311a0270312202753120b0091a040a0012001a002200',
    want: {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'TokenRequest',
      metadata: {},
      spec: {
        audiences: ['a', 'b'],
        boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'p1', uid: 'u1' },
        expirationSeconds: 1200,
      },
    },
  },
  {
    name: 'kubectl auth can-i list pods/log -n kube-system',
    body: '6b3873000a320a17617574686f72697a6174696f6e2e6b38732e696f2f7631121753656c665375626a65637441636365737352657669657712440a100a0012001a0022002a0032003800420012260a240a0b6b7562652d73797374656d12046c6973741a0022002a04706f647332003a036c6f671a08080012001a0020001a002200',
    want: {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      metadata: {},
      spec: { resourceAttributes: { namespace: 'kube-system', verb: 'list', resource: 'pods', name: 'log' } },
    },
  },
  {
    name: 'kubectl auth can-i get /healthz',
    body: '6b3873000a320a17617574686f72697a6174696f6e2e6b38732e696f2f7631121753656c665375626a656374416363657373526576696577122f0a100a0012001a0022002a003200380042001211120f0a082f6865616c74687a12036765741a08080012001a0020001a002200',
    want: {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectAccessReview',
      metadata: {},
      spec: { nonResourceAttributes: { path: '/healthz', verb: 'get' } },
    },
  },
  {
    name: 'kubectl auth whoami',
    body: '6b3873000a2d0a1861757468656e7469636174696f6e2e6b38732e696f2f7631121153656c665375626a656374526576696577121a0a100a0012001a0022002a0032003800420012060a040a0012001a002200',
    want: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview', metadata: {} },
  },
  {
    name: 'kubectl auth can-i --list -n default',
    body: '6b3873000a310a17617574686f72697a6174696f6e2e6b38732e696f2f7631121653656c665375626a65637452756c657352657669657712230a100a0012001a0022002a0032003800420012090a0764656661756c741a04180022001a002200',
    want: {
      apiVersion: 'authorization.k8s.io/v1',
      kind: 'SelfSubjectRulesReview',
      metadata: {},
      spec: { namespace: 'default' },
    },
  },
  {
    name: 'kubectl create namespace pbns',
    body: '6b3873000a0f0a02763112094e616d657370616365121c0a140a0470626e7312001a0022002a0032003800420012001a020a001a002200',
    want: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'pbns' } },
  },
  {
    name: 'kubectl create secret generic s1 --from-literal=a=b --from-literal=c=d',
    body: '6b3873000a0c0a0276311206536563726574122a0a160a02733112001a0470626e7322002a0032003800420012060a016112016212060a01631201641a001a002200',
    want: {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's1', namespace: 'pbns' },
      data: { a: Buffer.from('b').toString('base64'), c: Buffer.from('d').toString('base64') },
    },
  },
  {
    name: 'kubectl create configmap c1 --from-literal=x=y',
    body: '6b3873000a0f0a0276311209436f6e6669674d617012200a160a02633112001a0470626e7322002a0032003800420012060a01781201791a002200',
    want: {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'c1', namespace: 'pbns' },
      data: { x: 'y' },
    },
  },
  {
    name: 'the DeleteOptions of helm uninstall deleting its release Secret',
    body: '6b3873000a130a027631120d44656c6574654f7074696f6e7312001a002200',
    want: { apiVersion: 'v1', kind: 'DeleteOptions' },
  },
]) {
  test(`decodes ${tc.name}`, () => assert.deepEqual(decodeProtobufObject(hex(tc.body)), tc.want));
}

test('a kind the sandbox does not decode is refused, not guessed', () => {
  // runtime.Unknown{typeMeta: {apps/v1, Deployment}, raw: {}}
  const typeMeta = Buffer.concat([
    Buffer.from([0x0a, 7]),
    Buffer.from('apps/v1'),
    Buffer.from([0x12, 10]),
    Buffer.from('Deployment'),
  ]);
  const body = Buffer.concat([
    Buffer.from('6b387300', 'hex'),
    Buffer.from([0x0a, typeMeta.length]),
    typeMeta,
  ]);
  assert.throws(() => decodeProtobufObject(body), UnsupportedProtobuf);
});

test('a body without the magic is refused', () => {
  assert.throws(() => decodeProtobufObject(Buffer.from('{}')), UnsupportedProtobuf);
});
