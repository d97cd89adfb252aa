import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  decodeMemberListResponse,
  decodeStatusResponse,
  findKvKey,
  GrpcMessageReader,
  grpcFrame,
  SnapshotStreamDecoder,
  unaryMessage,
} from './proto-wire.ts';

function kvKey(b: Buffer, start = 0, end = b.length): string | null {
  const key = { start: 0, end: 0 };
  return findKvKey(b, start, end, key) ? b.toString('latin1', key.start, key.end) : null;
}

// A tiny protobuf writer for building test messages.
function varint(n: bigint | number): number[] {
  let v = BigInt(n);
  const out: number[] = [];
  do {
    let b = Number(v & 0x7fn);
    v >>= 7n;
    if (v > 0n) b |= 0x80;
    out.push(b);
  } while (v > 0n);
  return out;
}
const num = (field: number, v: bigint | number): number[] => [...varint(field * 8), ...varint(v)];
const bytes = (field: number, b: Uint8Array | number[] | string): number[] => {
  const arr = typeof b === 'string' ? [...Buffer.from(b)] : [...b];
  return [...varint(field * 8 + 2), ...varint(arr.length), ...arr];
};

const header = bytes(1, [
  ...num(1, 0xcdef0123456789abn),
  ...num(2, 0x8e9e05c52164694dn),
  ...num(3, 102465),
  ...num(4, 2),
]);

test('StatusResponse: ids in hex as etcdctl prints them, indexes, alarms, learner flag', () => {
  const msg = Uint8Array.from([
    ...header,
    ...bytes(2, '3.4.23'),
    ...num(3, 640323584),
    ...num(4, 0x8e9e05c52164694dn),
    ...num(5, 102470),
    ...num(6, 2),
    ...num(7, 102469),
    ...bytes(8, 'NOSPACE'),
    ...num(9, 1000),
    ...num(10, 1),
  ]);
  const s = decodeStatusResponse(msg);
  assert.deepEqual(s, {
    header: { clusterId: 'cdef0123456789ab', memberId: '8e9e05c52164694d', revision: 102465, raftTerm: 2 },
    version: '3.4.23',
    dbSize: 640323584,
    leader: '8e9e05c52164694d',
    raftIndex: 102470,
    raftTerm: 2,
    raftAppliedIndex: 102469,
    errors: ['NOSPACE'],
    isLearner: true,
  });
});

test('MemberListResponse: every member with its names and URLs', () => {
  const m1 = bytes(2, [
    ...num(1, 0x8e9e05c52164694dn),
    ...bytes(2, 'cp-1'),
    ...bytes(3, 'https://10.0.0.1:2380'),
    ...bytes(4, 'https://10.0.0.1:2379'),
  ]);
  const m2 = bytes(2, [...num(1, 1), ...bytes(3, 'https://10.0.0.2:2380'), ...num(5, 1)]);
  const r = decodeMemberListResponse(Uint8Array.from([...header, ...m1, ...m2]));
  assert.deepEqual(r.members, [
    {
      id: '8e9e05c52164694d',
      name: 'cp-1',
      peerURLs: ['https://10.0.0.1:2380'],
      clientURLs: ['https://10.0.0.1:2379'],
      isLearner: false,
    },
    { id: '1', name: '', peerURLs: ['https://10.0.0.2:2380'], clientURLs: [], isLearner: true },
  ]);
});

test('a malformed message is an error, not a wrong answer', () => {
  assert.throws(
    () => decodeStatusResponse(Uint8Array.from([...bytes(2, 'abc')].slice(0, 4))),
    /runs past the message/,
  );
  assert.throws(() => decodeStatusResponse(Uint8Array.from([0x0b])), /wire type 3/);
});

test('unary answers: exactly one uncompressed message', () => {
  const msg = Uint8Array.from([1, 2, 3]);
  assert.deepEqual(unaryMessage(grpcFrame(msg)), msg);
  assert.throws(() => unaryMessage(Uint8Array.from([1, 0, 0, 0, 0])), /compressed/);
  assert.throws(() => unaryMessage(Uint8Array.from([0, 0, 0, 0, 5, 1])), /the prefix says 5/);
  assert.throws(() => unaryMessage(Uint8Array.from([0, 0, 0])), /no message/);
});

/** The snapshot stream etcd sends for `data`: 32 KiB blobs counting down, then the 32-byte trailer. */
function snapshotStream(data: Buffer, trailer: Buffer, order: 'go' | 'blob-first' = 'go'): Buffer {
  const frames: number[][] = [];
  for (let at = 0; at < data.length; at += 32768) {
    const blob = data.subarray(at, at + 32768);
    const remaining = data.length - at - blob.length;
    const fields =
      order === 'go'
        ? [...header, ...num(2, remaining), ...bytes(3, blob)]
        : [...bytes(3, blob), ...num(2, remaining), ...header];
    frames.push([...grpcFrame(Uint8Array.from(fields))]);
  }
  frames.push([...grpcFrame(Uint8Array.from([...header, ...bytes(3, trailer)]))]);
  return Buffer.from(frames.flat());
}

test('the snapshot stream decoder passes the blobs on in order whatever the pieces, with what remains', () => {
  const data = Buffer.alloc(100_000);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7919) & 0xff;
  const trailer = Buffer.alloc(32, 0xab);
  for (const order of ['go', 'blob-first'] as const) {
    const stream = snapshotStream(data, trailer, order);
    for (const pieceSize of [1, 3, 5, 16384, 16375, stream.length]) {
      const got: Buffer[] = [];
      const remaining: number[] = [];
      const d = new SnapshotStreamDecoder({
        piece(p, rest) {
          got.push(Buffer.from(p));
          remaining.push(rest);
        },
      });
      for (let at = 0; at < stream.length; at += pieceSize) d.push(stream.subarray(at, at + pieceSize));
      assert.ok(d.atMessageBoundary, `${order}/${pieceSize}`);
      assert.equal(d.messages, 5);
      assert.deepEqual(Buffer.concat(got), Buffer.concat([data, trailer]), `${order}/${pieceSize}`);
      // What remains never grows, and is 0 from the last data byte on.
      for (let i = 1; i < remaining.length; i++)
        assert.ok(remaining[i]! <= remaining[i - 1]! || remaining[i - 1] === 0, `${order}/${pieceSize}`);
      assert.equal(remaining.at(-1), 0);
      let seen = 0;
      for (let i = 0; i < got.length && seen < data.length; i++) {
        seen += got[i]!.length;
        assert.equal(remaining[i], data.length - seen, `${order}/${pieceSize}: piece ${i}`);
      }
    }
  }
  const cut = snapshotStream(data, trailer);
  const d = new SnapshotStreamDecoder({ piece: () => undefined });
  d.push(cut.subarray(0, cut.length - 10));
  assert.equal(d.atMessageBoundary, false, 'a stream cut mid-message is noticed');
  assert.throws(
    () => new SnapshotStreamDecoder({ piece: () => undefined }).push(Uint8Array.from([1, 0, 0, 0, 1, 0])),
    /compressed/,
  );
});

test('findKvKey finds the user key of an mvccpb.KeyValue wherever the field is', () => {
  const kv = Buffer.from([
    ...bytes(1, '/registry/pods/ns/p'),
    ...num(2, 5),
    ...num(3, 7),
    ...num(4, 1),
    ...bytes(5, '{"x":1}'),
  ]);
  assert.equal(kvKey(kv), '/registry/pods/ns/p');
  const later = Buffer.from([...num(2, 5), ...bytes(5, 'v'), ...bytes(1, 'k')]);
  assert.equal(kvKey(later), 'k');
  const framed = Buffer.concat([Buffer.from('xx'), kv, Buffer.from('yy')]);
  assert.equal(kvKey(framed, 2, 2 + kv.length), '/registry/pods/ns/p');
  assert.equal(kvKey(Buffer.from([...num(2, 5)])), null);
  assert.equal(kvKey(Buffer.from([0x0a, 0x05, 0x61])), null);
});

test('the message reader splits a stream of gRPC messages cut at any byte', () => {
  const msgs = [new Uint8Array([1, 2, 3]), new Uint8Array(0), new Uint8Array(300).fill(7)];
  const stream = Buffer.concat(msgs.map((m) => grpcFrame(m)));
  for (const size of [1, 2, 5, 7, 64, stream.length]) {
    const r = new GrpcMessageReader();
    const out: Uint8Array[] = [];
    for (let i = 0; i < stream.length; i += size) out.push(...r.push(stream.subarray(i, i + size)));
    assert.deepEqual(
      out.map((m) => Buffer.from(m).toString('hex')),
      msgs.map((m) => Buffer.from(m).toString('hex')),
      `pieces of ${size}`,
    );
  }
  assert.throws(() => new GrpcMessageReader().push(new Uint8Array([1, 0, 0, 0, 0])), /compressed/);
});
