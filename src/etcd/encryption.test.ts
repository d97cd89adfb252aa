import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { isBosunError } from '../common/errors.ts';
import { ChunkEncryptor, DecryptingSource, HEADER_SIZE, TAG_SIZE, parseKeyFile } from './encryption.ts';

const key = parseKeyFile(Buffer.alloc(32, 1), 'k');

function encrypt(plain: Buffer, chunk: number, pieces = 3): Buffer {
  const e = new ChunkEncryptor(key, chunk);
  const out: Buffer[] = [];
  const step = Math.max(1, Math.ceil(plain.length / pieces));
  for (let i = 0; i < plain.length; i += step) out.push(...e.push(plain.subarray(i, i + step)));
  out.push(...e.finish());
  return Buffer.concat(out);
}

function source(cipher: Buffer, k = key): DecryptingSource {
  return new DecryptingSource((o, l) => cipher.subarray(o, o + l), cipher.length, k, 'f');
}

for (const len of [0, 1, 99, 100, 101, 1000]) {
  test(`encrypt then decrypt ${len} bytes in 100-byte chunks gives them back, with random access`, () => {
    const plain = randomBytes(len);
    const cipher = encrypt(plain, 100);
    assert.equal(cipher.length, HEADER_SIZE + len + TAG_SIZE * Math.max(1, Math.ceil(len / 100)));
    const src = source(cipher);
    assert.equal(src.size, len);
    assert.deepEqual(Buffer.from(src.read(0, len)), plain);
    if (len > 150) assert.deepEqual(Buffer.from(src.read(90, 60)), plain.subarray(90, 150));
  });
}

test('a flipped byte anywhere, a cut at a chunk boundary, or a wrong key is caught', () => {
  const plain = randomBytes(1000);
  const cipher = encrypt(plain, 100);
  const readAll = (c: Buffer, k = key): void => void source(c, k).read(0, 1000);
  for (const off of [HEADER_SIZE, HEADER_SIZE + 50, HEADER_SIZE + 115, cipher.length - 1, 24]) {
    const bad = Buffer.from(cipher);
    bad[off] = bad[off]! ^ 0x40;
    assert.throws(
      () => readAll(bad),
      (e: unknown) =>
        isBosunError(e) &&
        /is corrupted: chunk \d+ of \d+ \(offset \d+\) fails authentication/.test(e.message),
      `offset ${off}`,
    );
  }
  const cut = cipher.subarray(0, HEADER_SIZE + 5 * (100 + TAG_SIZE));
  assert.throws(
    () => void source(cut).read(0, 500),
    (e: unknown) => isBosunError(e) && /fails authentication/.test(e.message),
  );
  assert.throws(
    () => readAll(cipher, parseKeyFile(Buffer.alloc(32, 2), 'other')),
    (e: unknown) =>
      isBosunError(e) &&
      /^wrong encryption key: f was encrypted with key id [0-9a-f]{16}, the key in other has id [0-9a-f]{16}$/.test(
        e.message,
      ),
  );
});

for (const tc of [
  { name: '32 raw bytes', content: Buffer.alloc(32, 7), ok: true },
  { name: '64 hex digits with a newline', content: Buffer.from('ab'.repeat(32) + '\n'), ok: true },
  {
    name: 'base64 of 32 bytes',
    content: Buffer.from(Buffer.alloc(32, 9).toString('base64') + '\n'),
    ok: true,
  },
  {
    name: 'a truncated base64 key',
    content: Buffer.from(Buffer.alloc(32, 9).toString('base64').slice(0, 30)),
    ok: false,
  },
  { name: 'a key with one hex digit missing', content: Buffer.from('ab'.repeat(31) + 'a'), ok: false },
  { name: 'an empty file', content: Buffer.alloc(0), ok: false },
]) {
  test(`parseKeyFile: ${tc.name} ${tc.ok ? 'is a key' : 'is a corrupted key (exit 2)'}`, () => {
    if (tc.ok) assert.equal(parseKeyFile(tc.content, 'k').key.length, 32);
    else
      assert.throws(
        () => parseKeyFile(tc.content, 'k'),
        (e: unknown) =>
          isBosunError(e) && e.exitCode === 2 && /^encryption key file k is corrupted: /.test(e.message),
      );
  });
}
