import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  admitServiceAccount,
  SERVICE_ACCOUNT_MOUNT_PATH,
  tokenVolumeSource,
} from './serviceaccount-admission.ts';
import { ApiError } from './status.ts';
import type { KubeObject, Pod } from './types.ts';

const pod = (spec: Partial<Pod['spec']> = {}, annotations?: Record<string, string>): Pod => ({
  metadata: { name: 'p', namespace: 'ns', ...(annotations ? { annotations } : {}) },
  spec: { containers: [{ name: 'c', image: 'x' }], ...spec },
});

const accounts = (sas: Record<string, KubeObject>) => (ns: string, name: string) =>
  Promise.resolve(sas[`${ns}/${name}`]);
const noSleep = () => Promise.resolve();

test('a pod runs as default and gets the projected token volume in every container', async () => {
  const p = pod({ initContainers: [{ name: 'i', image: 'x' }] });
  await admitServiceAccount(p, 'ns', accounts({ 'ns/default': { metadata: { name: 'default' } } }), noSleep);
  assert.equal(p.spec.serviceAccountName, 'default');
  const vol = p.spec.volumes?.[0];
  assert.match(vol?.name ?? '', /^kube-api-access-[a-z0-9]{5}$/);
  assert.deepEqual(vol?.['projected'], tokenVolumeSource());
  for (const c of [...(p.spec.initContainers ?? []), ...p.spec.containers])
    assert.deepEqual(c['volumeMounts'], [
      { name: vol?.name, readOnly: true, mountPath: SERVICE_ACCOUNT_MOUNT_PATH },
    ]);
});

test('automountServiceAccountToken false on the pod, or on the account, mounts nothing', async () => {
  const a = pod({ serviceAccountName: 'agent', automountServiceAccountToken: false });
  await admitServiceAccount(a, 'ns', accounts({ 'ns/agent': { metadata: { name: 'agent' } } }), noSleep);
  assert.equal(a.spec.volumes, undefined);
  const b = pod({ serviceAccountName: 'agent' });
  await admitServiceAccount(
    b,
    'ns',
    accounts({ 'ns/agent': { metadata: { name: 'agent' }, automountServiceAccountToken: false } }),
    noSleep,
  );
  assert.equal(b.spec.volumes, undefined);
});

test('a container that mounts something at the token path keeps its own mount', async () => {
  const p = pod({
    containers: [
      { name: 'c', image: 'x', volumeMounts: [{ name: 'mine', mountPath: SERVICE_ACCOUNT_MOUNT_PATH }] },
    ],
    volumes: [{ name: 'mine', emptyDir: {} }],
  });
  await admitServiceAccount(p, 'ns', accounts({ 'ns/default': { metadata: { name: 'default' } } }), noSleep);
  assert.deepEqual(
    p.spec.volumes?.map((v) => v.name),
    ['mine'],
  );
});

test("a missing ServiceAccount is kube's 403; the default one is looked up ten times first", async () => {
  let calls = 0;
  const lookup = () => {
    calls++;
    return Promise.resolve(undefined);
  };
  await assert.rejects(admitServiceAccount(pod(), 'ns', lookup, noSleep), (e: unknown) => {
    assert.ok(e instanceof ApiError);
    assert.equal(e.code, 403);
    assert.equal(
      e.message,
      'pods "p" is forbidden: error looking up service account ns/default: serviceaccount "default" not found',
    );
    return true;
  });
  assert.equal(calls, 10);
  calls = 0;
  await assert.rejects(admitServiceAccount(pod({ serviceAccountName: 'agent' }), 'ns', lookup, noSleep));
  assert.equal(calls, 1);
});

test('a mirror pod may not name a ServiceAccount and gets no token', async () => {
  const m = pod({}, { 'kubernetes.io/config.mirror': 'h' });
  await admitServiceAccount(m, 'kube-system', accounts({}), noSleep);
  assert.equal(m.spec.volumes, undefined);
  await assert.rejects(
    admitServiceAccount(
      pod({ serviceAccountName: 'x' }, { 'kubernetes.io/config.mirror': 'h' }),
      'ns',
      accounts({}),
      noSleep,
    ),
    /a mirror pod may not reference service accounts/,
  );
});

test("the account's imagePullSecrets fill a pod that has none", async () => {
  const p = pod();
  await admitServiceAccount(
    p,
    'ns',
    accounts({ 'ns/default': { metadata: { name: 'default' }, imagePullSecrets: [{ name: 'reg' }] } }),
    noSleep,
  );
  assert.deepEqual(p.spec['imagePullSecrets'], [{ name: 'reg' }]);
});
