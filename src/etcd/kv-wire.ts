// The etcd v3 KV, Watch and Cluster messages the sandbox's store uses (api/etcdserverpb/rpc.proto,
// api/mvccpb/kv.proto), encoded and decoded straight from the protobuf wire format (the reading
// side on proto-wire.ts's FieldReader). Revisions are numbers (exact below 2^53).
// Pure: no I/O, no Node built-ins.
import { FieldReader } from './proto-wire.ts';

// ------------------------------------------------------------------ writing

/** A growing protobuf message. */
class Writer {
  private buf = new Uint8Array(64);
  private n = 0;

  private room(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.n + k));
    next.set(this.buf.subarray(0, this.n));
    this.buf = next;
  }

  private varint(v: number): void {
    this.room(10);
    while (v >= 0x80) {
      this.buf[this.n++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.n++] = v;
  }

  /** A varint field; 0 is left out (proto3) unless `always` (a member of a oneof). */
  uint(field: number, v: number, always = false): this {
    if (v === 0 && !always) return this;
    this.varint(field * 8);
    this.varint(v);
    return this;
  }

  bool(field: number, v: boolean | undefined): this {
    return v ? this.uint(field, 1) : this;
  }

  /** A length-delimited field; an empty one is left out unless `always`. */
  bytes(field: number, v: Uint8Array | undefined, always = false): this {
    if (v === undefined || (v.length === 0 && !always)) return this;
    this.varint(field * 8 + 2);
    this.varint(v.length);
    this.room(v.length);
    this.buf.set(v, this.n);
    this.n += v.length;
    return this;
  }

  finish(): Uint8Array {
    return this.buf.subarray(0, this.n);
  }
}

const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder();
const bytesOf = (s: string | Uint8Array): Uint8Array => (typeof s === 'string' ? utf8Encoder.encode(s) : s);

export interface RangeRequest {
  key: string | Uint8Array;
  rangeEnd?: Uint8Array;
  limit?: number;
  /** 0 = the current revision. */
  revision?: number;
  countOnly?: boolean;
}

export function encodeRangeRequest(r: RangeRequest): Uint8Array {
  return rangeRequest(new Writer(), r).finish();
}

function rangeRequest(w: Writer, r: RangeRequest): Writer {
  return w
    .bytes(1, bytesOf(r.key), true)
    .bytes(2, r.rangeEnd)
    .uint(3, r.limit ?? 0)
    .uint(4, r.revision ?? 0)
    .bool(9, r.countOnly);
}

/** One comparison of a transaction, on the key's create or mod revision. */
export interface Compare {
  key: string;
  target: 'create' | 'mod';
  /** EQUAL only (the store compares revisions for equality). */
  revision: number;
}

export type RequestOp =
  | { range: RangeRequest }
  | { put: { key: string; value: Uint8Array } }
  | { deleteRange: { key: string; prevKv?: boolean } };

export interface TxnRequest {
  compare: Compare[];
  success: RequestOp[];
  failure: RequestOp[];
}

const TARGET_CREATE = 1;
const TARGET_MOD = 2;

function requestOp(op: RequestOp): Uint8Array {
  const w = new Writer();
  if ('range' in op) w.bytes(1, encodeRangeRequest(op.range), true);
  else if ('put' in op)
    w.bytes(2, new Writer().bytes(1, bytesOf(op.put.key), true).bytes(2, op.put.value).finish(), true);
  else
    w.bytes(
      3,
      new Writer().bytes(1, bytesOf(op.deleteRange.key), true).bool(3, op.deleteRange.prevKv).finish(),
      true,
    );
  return w.finish();
}

export function encodeTxnRequest(t: TxnRequest): Uint8Array {
  const w = new Writer();
  for (const c of t.compare) {
    // result EQUAL (0) is the default; the revision is a oneof member, written even when 0.
    const cw = new Writer()
      .uint(2, c.target === 'create' ? TARGET_CREATE : TARGET_MOD)
      .bytes(3, bytesOf(c.key), true)
      .uint(c.target === 'create' ? 5 : 6, c.revision, true);
    w.bytes(1, cw.finish(), true);
  }
  for (const op of t.success) w.bytes(2, requestOp(op), true);
  for (const op of t.failure) w.bytes(3, requestOp(op), true);
  return w.finish();
}

export function encodeCompactionRequest(revision: number, physical: boolean): Uint8Array {
  return new Writer().uint(1, revision).bool(2, physical).finish();
}

export interface WatchCreate {
  key: string;
  rangeEnd?: Uint8Array;
  startRevision: number;
  prevKv: boolean;
}

/** A WatchRequest carrying a create_request. */
export function encodeWatchCreate(c: WatchCreate): Uint8Array {
  const inner = new Writer()
    .bytes(1, bytesOf(c.key), true)
    .bytes(2, c.rangeEnd)
    .uint(3, c.startRevision)
    .bool(6, c.prevKv)
    .finish();
  return new Writer().bytes(1, inner, true).finish();
}

/** A WatchRequest carrying a cancel_request. */
export function encodeWatchCancel(watchId: number): Uint8Array {
  return new Writer().bytes(2, new Writer().uint(1, watchId).finish(), true).finish();
}

export function encodeMemberAddRequest(peerUrls: readonly string[]): Uint8Array {
  const w = new Writer();
  for (const u of peerUrls) w.bytes(1, bytesOf(u), true);
  return w.finish();
}

/** The end of the range of every key with this prefix (etcd's "prefix end"). */
export function prefixEnd(prefix: string): Uint8Array {
  const end = utf8Encoder.encode(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] ?? 0) < 0xff) {
      end[i] = (end[i] ?? 0) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return new Uint8Array([0]);
}

// ------------------------------------------------------------------ reading

/** mvccpb.KeyValue; the value is a view of the bytes received. */
export interface KeyValue {
  key: string;
  createRevision: number;
  modRevision: number;
  value: Uint8Array;
}

export function decodeKeyValue(b: Uint8Array): KeyValue {
  const kv: KeyValue = { key: '', createRevision: 0, modRevision: 0, value: b.subarray(0, 0) };
  const r = new FieldReader(b);
  while (r.next()) {
    if (r.field === 1 && r.wire === 2) kv.key = utf8Decoder.decode(r.bytes());
    else if (r.field === 2 && r.wire === 0) kv.createRevision = r.uint();
    else if (r.field === 3 && r.wire === 0) kv.modRevision = r.uint();
    else if (r.field === 5 && r.wire === 2) kv.value = r.bytes();
    else r.skip();
  }
  return kv;
}

/** The revision of a ResponseHeader: the only field the store uses (decodeResponseHeader would also build the hex ids, with BigInts, on every call). */
function headerRevision(b: Uint8Array): number {
  const r = new FieldReader(b);
  let rev = 0;
  while (r.next()) {
    if (r.field === 3 && r.wire === 0) rev = r.uint();
    else r.skip();
  }
  return rev;
}

export interface RangeResponse {
  revision: number;
  kvs: KeyValue[];
  more: boolean;
  count: number;
}

export function decodeRangeResponse(b: Uint8Array): RangeResponse {
  const res: RangeResponse = { revision: 0, kvs: [], more: false, count: 0 };
  const r = new FieldReader(b);
  while (r.next()) {
    if (r.field === 1 && r.wire === 2) res.revision = headerRevision(r.bytes());
    else if (r.field === 2 && r.wire === 2) res.kvs.push(decodeKeyValue(r.bytes()));
    else if (r.field === 3 && r.wire === 0) res.more = r.uint() !== 0;
    else if (r.field === 4 && r.wire === 0) res.count = r.uint();
    else r.skip();
  }
  return res;
}

export interface ResponseOp {
  range?: RangeResponse;
  deleteRange?: { deleted: number; prevKvs: KeyValue[] };
}

export interface TxnResponse {
  revision: number;
  succeeded: boolean;
  responses: ResponseOp[];
}

function decodeDeleteRangeResponse(b: Uint8Array): { deleted: number; prevKvs: KeyValue[] } {
  const res = { deleted: 0, prevKvs: [] as KeyValue[] };
  const r = new FieldReader(b);
  while (r.next()) {
    if (r.field === 2 && r.wire === 0) res.deleted = r.uint();
    else if (r.field === 3 && r.wire === 2) res.prevKvs.push(decodeKeyValue(r.bytes()));
    else r.skip();
  }
  return res;
}

function decodeResponseOp(b: Uint8Array): ResponseOp {
  const op: ResponseOp = {};
  const r = new FieldReader(b);
  while (r.next()) {
    if (r.field === 1 && r.wire === 2) op.range = decodeRangeResponse(r.bytes());
    else if (r.field === 3 && r.wire === 2) op.deleteRange = decodeDeleteRangeResponse(r.bytes());
    else r.skip();
  }
  return op;
}

export function decodeTxnResponse(b: Uint8Array): TxnResponse {
  const res: TxnResponse = { revision: 0, succeeded: false, responses: [] };
  const r = new FieldReader(b);
  while (r.next()) {
    if (r.field === 1 && r.wire === 2) res.revision = headerRevision(r.bytes());
    else if (r.field === 2 && r.wire === 0) res.succeeded = r.uint() !== 0;
    else if (r.field === 3 && r.wire === 2) res.responses.push(decodeResponseOp(r.bytes()));
    else r.skip();
  }
  return res;
}

export interface WatchEvent {
  type: 'put' | 'delete';
  kv: KeyValue;
  prevKv: KeyValue | undefined;
}

export interface WatchResponse {
  revision: number;
  watchId: number;
  created: boolean;
  canceled: boolean;
  compactRevision: number;
  cancelReason: string;
  events: WatchEvent[];
}

function decodeEvent(b: Uint8Array): WatchEvent {
  const ev: WatchEvent = { type: 'put', kv: decodeKeyValue(b.subarray(0, 0)), prevKv: undefined };
  const r = new FieldReader(b);
  while (r.next()) {
    if (r.field === 1 && r.wire === 0) ev.type = r.uint() === 1 ? 'delete' : 'put';
    else if (r.field === 2 && r.wire === 2) ev.kv = decodeKeyValue(r.bytes());
    else if (r.field === 3 && r.wire === 2) ev.prevKv = decodeKeyValue(r.bytes());
    else r.skip();
  }
  return ev;
}

export function decodeWatchResponse(b: Uint8Array): WatchResponse {
  const res: WatchResponse = {
    revision: 0,
    watchId: 0,
    created: false,
    canceled: false,
    compactRevision: 0,
    cancelReason: '',
    events: [],
  };
  const r = new FieldReader(b);
  while (r.next()) {
    if (r.field === 1 && r.wire === 2) res.revision = headerRevision(r.bytes());
    else if (r.field === 2 && r.wire === 0) res.watchId = r.uint();
    else if (r.field === 3 && r.wire === 0) res.created = r.uint() !== 0;
    else if (r.field === 4 && r.wire === 0) res.canceled = r.uint() !== 0;
    else if (r.field === 5 && r.wire === 0) res.compactRevision = r.uint();
    else if (r.field === 6 && r.wire === 2) res.cancelReason = utf8Decoder.decode(r.bytes());
    else if (r.field === 11 && r.wire === 2) res.events.push(decodeEvent(r.bytes()));
    else r.skip();
  }
  return res;
}
