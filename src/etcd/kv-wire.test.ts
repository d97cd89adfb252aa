import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeKeyValue,
  decodeRangeResponse,
  encodeRangeRequest,
  encodeTxnRequest,
  prefixEnd,
} from './kv-wire.ts';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

test('a RangeRequest is key, range_end, limit, revision and count_only, zero values left out', () => {
  // field 1 "/a", field 2 "/b", field 4 = 300 (varint ac 02), field 9 = true
  assert.equal(
    hex(
      encodeRangeRequest({
        key: '/a',
        rangeEnd: new TextEncoder().encode('/b'),
        revision: 300,
        countOnly: true,
      }),
    ),
    '0a022f6112022f6220ac024801',
  );
  assert.equal(hex(encodeRangeRequest({ key: '/a', limit: 0, revision: 0 })), '0a022f61');
});

test('a transaction compares a create revision of 0 explicitly (a oneof member) and carries its ops', () => {
  const b = encodeTxnRequest({
    compare: [{ key: '/k', target: 'create', revision: 0 }],
    success: [{ put: { key: '/k', value: new Uint8Array([1]) } }],
    failure: [{ range: { key: '/k' } }],
  });
  // compare: target CREATE (10 01), key (1a 02 2f6b), create_revision 0 (28 00)
  // success: RequestOp{request_put{key, value}}; failure: RequestOp{request_range{key}}
  assert.equal(
    hex(b),
    '0a081001' + '1a022f6b' + '2800' + '12091207' + '0a022f6b' + '120101' + '1a06' + '0a04' + '0a022f6b',
  );
});

test('revisions past 2^32 survive the varints both ways', () => {
  const rev = 2 ** 40 + 5;
  const req = encodeRangeRequest({ key: 'k', revision: rev });
  // decode the varint of field 4 back by hand through a KeyValue with the same bytes at field 3
  const kvBytes = new Uint8Array([0x18, ...req.subarray(req.indexOf(0x20) + 1)]);
  assert.equal(decodeKeyValue(kvBytes).modRevision, rev);
});

test('a RangeResponse decodes its header revision, kvs, more and count, skipping unknown fields', () => {
  const kv = [0x0a, 0x02, 0x2f, 0x61, 0x10, 0x05, 0x18, 0x07, 0x20, 0x01, 0x2a, 0x02, 0x7b, 0x7d, 0x30, 0x09];
  const header = [0x08, 0x01, 0x10, 0x02, 0x18, 0x2a, 0x20, 0x03];
  const msg = new Uint8Array([
    0x0a,
    header.length,
    ...header,
    0x12,
    kv.length,
    ...kv,
    0x18,
    0x01,
    0x20,
    0x03,
    0x7a,
    0x00,
  ]);
  const r = decodeRangeResponse(msg);
  assert.equal(r.revision, 42);
  assert.equal(r.more, true);
  assert.equal(r.count, 3);
  assert.equal(r.kvs.length, 1);
  assert.deepEqual(
    { ...r.kvs[0], value: hex(r.kvs[0]?.value ?? new Uint8Array()) },
    { key: '/a', createRevision: 5, modRevision: 7, value: '7b7d' },
  );
});

test("a prefix's range end is the prefix with its last byte that can be incremented incremented", () => {
  assert.equal(new TextDecoder().decode(prefixEnd('/registry/pods/')), '/registry/pods0');
  assert.deepEqual([...prefixEnd('\u00ff')], [0xc3, 0xc0]);
});
