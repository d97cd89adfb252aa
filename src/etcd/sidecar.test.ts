import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatSidecar, parseSidecar, readSidecar, type Sidecar } from './sidecar.ts';

const good: Sidecar = {
  kind: 'EtcdBackup',
  version: 1,
  file: 'etcd-prod-20250101T020000Z-rev12.db',
  cluster: 'prod',
  time: '2025-01-01T02:00:00.000Z',
  endpoint: 'https://127.0.0.1:2379',
  member: 'cp-1',
  etcdVersion: '3.4.23',
  revision: 12,
  hash: 3735928559,
  totalKey: 40,
  totalSize: 24576,
  liveKeys: 9,
  size: 24608,
  sha256: 'a'.repeat(64),
  encryption: null,
  verified: true,
};

test('a sidecar survives formatSidecar and parseSidecar unchanged', () =>
  assert.deepEqual(parseSidecar(formatSidecar(good)), good));

test('an encrypted backup sidecar parses with its key id', () => {
  const enc = { ...good, encryption: { algorithm: 'AES-256-GCM' as const, keyId: '0123456789abcdef' } };
  assert.deepEqual(parseSidecar(JSON.stringify(enc)), enc);
});

test('unknown extra fields are dropped, not kept', () =>
  assert.deepEqual(parseSidecar(JSON.stringify({ ...good, extra: 1 })), good));

for (const tc of [
  { name: 'text that is not JSON', why: /^not JSON \(.+\)$/, text: '{"kind":' },
  { name: 'an array', why: /^not a JSON object$/, text: '[]' },
  {
    name: 'another kind',
    why: /^field "kind" is not "EtcdBackup" \(it is "Other"\)$/,
    text: JSON.stringify({ ...good, kind: 'Other' }),
  },
  {
    name: 'version 2',
    why: /^field "version" is not 1 \(it is 2\): written by a newer bosun\?$/,
    text: JSON.stringify({ ...good, version: 2 }),
  },
  {
    name: 'a missing field',
    why: /^field "sha256" is missing$/,
    text: JSON.stringify({ ...good, sha256: undefined }),
  },
  {
    name: 'a negative revision',
    why: /^field "revision" is not a whole number \(it is -1\)$/,
    text: JSON.stringify({ ...good, revision: -1 }),
  },
  {
    name: 'a fractional size',
    why: /^field "size" is not a whole number \(it is 1\.5\)$/,
    text: JSON.stringify({ ...good, size: 1.5 }),
  },
  {
    name: 'a revision as a string',
    why: /^field "revision" is not a whole number \(it is "12"\)$/,
    text: JSON.stringify({ ...good, revision: '12' }),
  },
  {
    name: 'a short sha256',
    why: /^field "sha256" is not 64 lower-case hex digits \(it is "abc"\)$/,
    text: JSON.stringify({ ...good, sha256: 'abc' }),
  },
  {
    name: 'an upper-case sha256',
    why: /^field "sha256" is not 64 lower-case hex digits/,
    text: JSON.stringify({ ...good, sha256: 'A'.repeat(64) }),
  },
  {
    name: 'another cipher',
    why: /^field "encryption" is not null or \{ algorithm: "AES-256-GCM", keyId: 16 hex digits \}/,
    text: JSON.stringify({ ...good, encryption: { algorithm: 'AES-128-GCM', keyId: '0123456789abcdef' } }),
  },
  {
    name: 'a bad key id',
    why: /^field "encryption" is not null or/,
    text: JSON.stringify({ ...good, encryption: { algorithm: 'AES-256-GCM', keyId: 'xyz' } }),
  },
  {
    name: 'verified as a string',
    why: /^field "verified" is not true or false \(it is "yes"\)$/,
    text: JSON.stringify({ ...good, verified: 'yes' }),
  },
  {
    name: 'member missing (null is fine, absent is not)',
    why: /^field "member" is missing$/,
    text: JSON.stringify({ ...good, member: undefined }),
  },
]) {
  test(`parseSidecar refuses ${tc.name}, and readSidecar says why`, () => {
    assert.equal(parseSidecar(tc.text), null);
    const r = readSidecar(tc.text);
    assert.ok('problem' in r, 'a problem');
    assert.match(r.problem, tc.why);
  });
}
