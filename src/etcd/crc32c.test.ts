import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { crc32cCombine, crc32cUpdate } from './crc32c.ts';
import { fastCrc32c } from './crc32c-fast.ts';

for (const tc of [
  { in: '', want: 0 },
  { in: '123456789', want: 0xe3069283 },
  { in: 'a', want: 0xc1d04330 },
  { in: 'The quick brown fox jumps over the lazy dog', want: 0x22620404 },
]) {
  test(`crc32c(${JSON.stringify(tc.in)}) is 0x${tc.want.toString(16)} (Castagnoli check values)`, () => {
    assert.equal(crc32cUpdate(0, Buffer.from(tc.in)), tc.want);
    assert.equal(fastCrc32c().update(0, Buffer.from(tc.in)), tc.want);
  });
}

test('the CRC continues across pieces exactly as over the whole, in both implementations', () => {
  const data = randomBytes(100_003);
  const whole = crc32cUpdate(0, data);
  let a = 0;
  let b = 0;
  for (let i = 0; i < data.length; i += 7919) {
    const piece = data.subarray(i, i + 7919);
    a = crc32cUpdate(a, piece);
    b = fastCrc32c().update(b, piece);
  }
  assert.equal(a, whole);
  assert.equal(b, whole);
});

for (const [lengthA, lengthB] of [
  [0, 0],
  [1, 0],
  [0, 5],
  [4000, 65535],
  [5, 65536],
  [7, 65537],
  [100, 200_000],
  [9, 3_000_001],
]) {
  test(`crc(A || B) combines from crc(A), crc(B) and |B| (${lengthA} + ${lengthB} bytes)`, () => {
    const a = randomBytes(lengthA!);
    const b = randomBytes(lengthB!);
    assert.equal(
      crc32cCombine(crc32cUpdate(0, a), crc32cUpdate(0, b), b.length),
      crc32cUpdate(crc32cUpdate(0, a), b),
    );
  });
}
