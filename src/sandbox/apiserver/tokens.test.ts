import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import {
  InvalidToken,
  issueToken,
  keyId,
  NotOurToken,
  tokenKeys,
  validateBinding,
  verifyToken,
  type BoundObject,
  type TokenGetter,
  type TokenKeys,
} from './tokens.ts';

const ISSUER = 'https://kubernetes.default.svc.cluster.local';

function keysFor(type: 'ec' | 'rsa', issuer = ISSUER): TokenKeys {
  const pair =
    type === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
      : generateKeyPairSync('rsa', { modulusLength: 2048 });
  return tokenKeys({
    issuers: [issuer],
    signingKeyPem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }),
    publicKeyPems: [pair.publicKey.export({ type: 'spki', format: 'pem' })],
  });
}

const ec = keysFor('ec');
const NOW = 1_800_000_000;
const sa = { name: 'bosun', uid: 'sa-uid' };

function issue(keys: TokenKeys, extra: Partial<Parameters<typeof issueToken>[1]> = {}): string {
  return issueToken(keys, {
    namespace: 'bosun-system',
    serviceAccount: sa,
    audiences: keys.audiences,
    expirationSeconds: 3600,
    now: NOW,
    ...extra,
  }).token;
}

function payload(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}

test("an ES256 token carries kube's header, claims in sorted order and verifies", () => {
  const t = issue(ec, {
    pod: { name: 'bosun-x', uid: 'pod-uid' },
    node: { name: 'worker-1', uid: 'node-uid' },
  });
  const header = JSON.parse(Buffer.from(t.split('.')[0] ?? '', 'base64url').toString('utf8')) as Record<
    string,
    string
  >;
  assert.deepEqual(header, { alg: 'ES256', kid: keyId(ec.signingKey) });
  const p = payload(t);
  assert.deepEqual(Object.keys(p), ['aud', 'exp', 'iat', 'iss', 'jti', 'kubernetes.io', 'nbf', 'sub']);
  assert.equal(p['sub'], 'system:serviceaccount:bosun-system:bosun');
  assert.deepEqual(p['aud'], [ISSUER]);
  assert.equal(p['exp'], NOW + 3600);
  assert.deepEqual(p['kubernetes.io'], {
    namespace: 'bosun-system',
    node: { name: 'worker-1', uid: 'node-uid' },
    pod: { name: 'bosun-x', uid: 'pod-uid' },
    serviceaccount: sa,
  });
  assert.equal(verifyToken(ec, t, NOW + 10).sub, 'system:serviceaccount:bosun-system:bosun');
});

test('an RS256 token verifies with an RSA sa.pub', () => {
  const rsa = keysFor('rsa');
  const t = issue(rsa);
  assert.equal(JSON.parse(Buffer.from(t.split('.')[0] ?? '', 'base64url').toString()).alg, 'RS256');
  assert.equal(verifyToken(rsa, t, NOW).iss, ISSUER);
});

for (const tc of [
  {
    name: 'a token of another issuer is not ours',
    token: () => issue(keysFor('ec', 'https://elsewhere')),
    err: NotOurToken,
  },
  { name: 'a random string is not ours', token: () => 'abc.def', err: NotOurToken },
  {
    name: 'a token signed by another key of our issuer is invalid',
    token: () => issue(keysFor('ec')),
    err: InvalidToken,
    message: 'invalid signature, no keys found',
  },
  {
    name: 'a tampered payload fails the signature',
    token: () => {
      const [h, , s] = issue(ec).split('.');
      const p = Buffer.from(
        JSON.stringify({ ...payload(issue(ec)), sub: 'system:serviceaccount:kube-system:admin' }),
      ).toString('base64url');
      return `${h ?? ''}.${p}.${s ?? ''}`;
    },
    err: InvalidToken,
  },
  {
    name: 'an expired token (past the minute of leeway) is refused',
    token: () => issue(ec, { expirationSeconds: 600, now: NOW - 600 - 61 }),
    err: InvalidToken,
    message: 'service account token has expired',
  },
  {
    name: 'a token for another audience is refused',
    token: () => issue(ec, { audiences: ['vault'] }),
    err: InvalidToken,
    message:
      'token audiences ["vault"] is invalid for the target audiences ["https://kubernetes.default.svc.cluster.local"]',
  },
]) {
  test(tc.name, () => {
    const t = tc.token();
    assert.throws(
      () => verifyToken(ec, t, NOW),
      (e: unknown) => {
        assert.ok(e instanceof tc.err, String(e));
        if (tc.message) assert.equal((e as Error).message, tc.message);
        return true;
      },
    );
  });
}

test('a token inside the minute of leeway after exp still verifies', () => {
  assert.ok(verifyToken(ec, issue(ec, { expirationSeconds: 600, now: NOW - 600 - 30 }), NOW));
});

function getter(objs: { sa?: BoundObject; pod?: BoundObject; node?: BoundObject }): TokenGetter {
  return {
    serviceAccount: () => Promise.resolve(objs.sa),
    pod: () => Promise.resolve(objs.pod),
    secret: () => Promise.resolve(undefined),
    node: () => Promise.resolve(objs.node),
  };
}

const podRef = { name: 'bosun-x', uid: 'pod-uid' };
const nodeRef = { name: 'worker-1', uid: 'node-uid' };

test('a pod-bound token authenticates as the ServiceAccount with the pod and node in extra', async () => {
  const claims = verifyToken(ec, issue(ec, { pod: podRef, node: nodeRef }), NOW);
  const user = await validateBinding(claims, getter({ sa: { uid: 'sa-uid' }, pod: { uid: 'pod-uid' } }), NOW);
  assert.equal(user.name, 'system:serviceaccount:bosun-system:bosun');
  assert.deepEqual(user.groups, ['system:serviceaccounts', 'system:serviceaccounts:bosun-system']);
  assert.deepEqual(user.extra?.['authentication.kubernetes.io/pod-name'], ['bosun-x']);
  assert.deepEqual(user.extra?.['authentication.kubernetes.io/node-name'], ['worker-1']);
  assert.match(user.extra?.['authentication.kubernetes.io/credential-id']?.[0] ?? '', /^JTI=[0-9a-f-]{36}$/);
});

for (const tc of [
  {
    name: 'the bound pod is gone',
    objs: { sa: { uid: 'sa-uid' } },
    message: 'service account token has been invalidated',
  },
  {
    name: 'the bound pod was deleted more than a minute ago',
    objs: {
      sa: { uid: 'sa-uid' },
      pod: { uid: 'pod-uid', deletionTimestamp: new Date((NOW - 61) * 1000).toISOString() },
    },
    message: 'service account token has been invalidated',
  },
  {
    name: 'a pod of the same name is another pod',
    objs: { sa: { uid: 'sa-uid' }, pod: { uid: 'other' } },
    message: 'pod UID (other) does not match service account pod ref claim (pod-uid)',
  },
  {
    name: 'the ServiceAccount was recreated',
    objs: { sa: { uid: 'new' }, pod: { uid: 'pod-uid' } },
    message: 'service account UID (new) does not match claim (sa-uid)',
  },
  {
    name: 'the ServiceAccount is gone',
    objs: { pod: { uid: 'pod-uid' } },
    message: 'serviceaccounts "bosun" not found',
  },
]) {
  test(`a pod-bound token is refused when ${tc.name}`, async () => {
    const claims = verifyToken(ec, issue(ec, { pod: podRef, node: nodeRef }), NOW);
    await assert.rejects(validateBinding(claims, getter(tc.objs), NOW), (e: unknown) => {
      assert.ok(e instanceof InvalidToken);
      assert.equal(e.message, tc.message);
      return true;
    });
  });
}

test('a pod being deleted gracefully keeps its token valid', async () => {
  const claims = verifyToken(ec, issue(ec, { pod: podRef }), NOW);
  const pod = { uid: 'pod-uid', deletionTimestamp: new Date((NOW + 30) * 1000).toISOString() };
  assert.ok(await validateBinding(claims, getter({ sa: { uid: 'sa-uid' }, pod }), NOW));
});
