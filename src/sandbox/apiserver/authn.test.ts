import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { ANONYMOUS, authenticate, AuthenticationError, type AuthnDeps } from './authn.ts';
import { issueToken, tokenKeys } from './tokens.ts';

const pair = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const keys = tokenKeys({
  issuers: ['https://kubernetes.default.svc.cluster.local'],
  signingKeyPem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }),
  publicKeyPems: [pair.publicKey.export({ type: 'spki', format: 'pem' })],
});
const NOW = 1_800_000_000;
const deps: AuthnDeps = {
  keys,
  getter: {
    serviceAccount: () => Promise.resolve({ uid: 'sa-uid' }),
    pod: () => Promise.resolve(undefined),
    secret: () => Promise.resolve(undefined),
    node: () => Promise.resolve(undefined),
  },
  nowSeconds: () => NOW,
};
const token = issueToken(keys, {
  namespace: 'ns',
  serviceAccount: { name: 'sa', uid: 'sa-uid' },
  audiences: keys.audiences,
  expirationSeconds: 3600,
  now: NOW,
}).token;
const admin = { authorized: true, commonName: 'kubernetes-admin', organizations: ['kubeadm:cluster-admins'] };
const stranger = { authorized: false, error: 'CERT_HAS_EXPIRED', commonName: 'old', organizations: [] };

for (const tc of [
  {
    name: 'a client certificate of the CA is its CN in its O groups, and authenticated',
    cred: { certificate: admin },
    want: {
      via: 'x509',
      name: 'kubernetes-admin',
      groups: ['kubeadm:cluster-admins', 'system:authenticated'],
    },
  },
  {
    name: 'a valid ServiceAccount token is the account',
    cred: { authorization: `Bearer ${token}` },
    want: {
      via: 'serviceaccount',
      name: 'system:serviceaccount:ns:sa',
      groups: ['system:serviceaccounts', 'system:serviceaccounts:ns', 'system:authenticated'],
    },
  },
  {
    name: 'a bad certificate does not stop a good token (the union takes the first that holds)',
    cred: { certificate: stranger, authorization: `Bearer ${token}` },
    want: { via: 'serviceaccount', name: 'system:serviceaccount:ns:sa' },
  },
  {
    name: 'no credentials is anonymous',
    cred: {},
    want: { via: 'anonymous', name: ANONYMOUS.name, groups: ANONYMOUS.groups },
  },
  {
    name: 'an Authorization header that is not Bearer is no credential',
    cred: { authorization: 'Basic eDp5' },
    want: { via: 'anonymous' },
  },
]) {
  test(tc.name, async () => {
    const got = await authenticate(tc.cred, deps);
    assert.equal(got.via, tc.want.via);
    if (tc.want.name) assert.equal(got.user.name, tc.want.name);
    if (tc.want.groups) assert.deepEqual(got.user.groups, tc.want.groups);
  });
}

for (const tc of [
  {
    name: 'a certificate of another CA or expired is a 401, never anonymous',
    cred: { certificate: stranger },
  },
  { name: 'a bearer token that is not a JWT of ours is a 401', cred: { authorization: 'Bearer abc' } },
  {
    name: 'a token without keys to check it is a 401',
    cred: { authorization: `Bearer ${token}` },
    noKeys: true,
  },
]) {
  test(tc.name, async () => {
    const d: AuthnDeps = tc.noKeys ? { getter: deps.getter, nowSeconds: deps.nowSeconds } : deps;
    await assert.rejects(authenticate(tc.cred, d), AuthenticationError);
  });
}
