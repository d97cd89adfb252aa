import { test } from 'node:test';
import assert from 'node:assert/strict';
import { KeyInterner } from './page-index.ts';

test('KeyInterner: the same bytes anywhere get the same id, other bytes another, across table growth', () => {
  const keys = new KeyInterner();
  const ids = new Map<string, number>();
  for (let round = 0; round < 2; round++) {
    for (let i = 0; i < 100_000; i++) {
      const key = `/registry/pods/ns${i % 7}/pod-${i}`;
      // Somewhere inside a larger buffer, at an offset that changes between rounds.
      const buf = Buffer.from(`${'x'.repeat(round * 3 + (i % 5))}${key}yy`);
      const start = round * 3 + (i % 5);
      const id = keys.id(buf, start, start + key.length);
      if (round === 0) {
        assert.equal(id, i, 'new keys get the next id');
        ids.set(key, id);
      } else assert.equal(id, ids.get(key), key);
    }
  }
  assert.equal(keys.size, 100_000);
  assert.equal(keys.id(Buffer.alloc(0), 0, 0), 100_000, 'the empty key is a key too');
  assert.equal(keys.id(Buffer.from('a'), 1, 1), 100_000);
});
