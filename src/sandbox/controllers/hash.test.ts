import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalJson, computeHash, fnv32a, safeEncodeString } from './hash.ts';

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

for (const tc of [
  { name: 'FNV-1a of the empty input is the offset basis', input: '', want: 0x811c9dc5 },
  { name: 'FNV-1a of "a" (published test vector)', input: 'a', want: 0xe40c292c },
  { name: 'FNV-1a of "foobar" (published test vector)', input: 'foobar', want: 0xbf9cf968 },
]) {
  test(tc.name, () => assert.equal(fnv32a(bytes(tc.input)), tc.want));
}

test('SafeEncodeString maps decimal digits onto consonants and digits as kube does', () => {
  // "0123456789" -> alphanums[48%27 .. 57%27]
  assert.equal(safeEncodeString('0123456789'), '456789bcdf');
});

test('a template hash looks like a pod-template-hash and is stable under key order', () => {
  const a = computeHash({
    metadata: { labels: { app: 'web' } },
    spec: { containers: [{ name: 'c', image: 'nginx' }] },
  });
  const b = computeHash({
    spec: { containers: [{ image: 'nginx', name: 'c' }] },
    metadata: { labels: { app: 'web' } },
  });
  assert.equal(a, b);
  assert.match(a, /^[456789bcdf]{1,10}$/);
});

test('a collision count salts the hash', () => {
  const t = { spec: { containers: [{ name: 'c' }] } };
  assert.notEqual(computeHash(t), computeHash(t, 1));
  assert.notEqual(computeHash(t, 1), computeHash(t, 2));
});

test('canonicalJson sorts keys and drops undefined members', () => {
  assert.equal(canonicalJson({ b: 1, a: [{ d: undefined, c: 'x' }] }), '{"a":[{"c":"x"}],"b":1}');
});
