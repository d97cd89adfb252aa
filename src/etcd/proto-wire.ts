// The few etcd gRPC messages bosun reads, decoded straight from the protobuf wire format (etcd
// 3.4's api/etcdserverpb/rpc.proto: ResponseHeader, StatusResponse, MemberListResponse, Member,
// SnapshotResponse) with the field reader the other etcd messages (kv-wire.ts) use too; gRPC's
// length-prefixed framing (one message, or a stream of them); and a streaming decoder of the
// snapshot stream that hands out the blob bytes as views of the bytes received, without copying.
// Pure: no I/O, no Node built-ins.

/** A protobuf varint at `i`: the value (exact below 2^53) and the index after it; next = -1 when malformed. */
export function readVarint(b: ArrayLike<number>, i: number): { value: number; next: number } {
  let v = 0;
  let mul = 1;
  for (let n = 0; n < 10 && i < b.length; n++) {
    const byte = b[i++]!;
    v += (byte & 0x7f) * mul;
    if ((byte & 0x80) === 0) return { value: v, next: i };
    mul *= 128;
  }
  return { value: 0, next: -1 };
}

/**
 * Walks the fields of one message: `next()` moves to a field, then one of `uint`, `uint64`, `bytes`
 * or `skip` reads its value. Throws on a malformed message.
 */
export class FieldReader {
  private i = 0;
  field = 0;
  wire = 0;

  constructor(private readonly b: Uint8Array) {}

  /** Moves to the next field; false at the end. */
  next(): boolean {
    if (this.i >= this.b.length) return false;
    const tag = readVarint(this.b, this.i);
    if (tag.next < 0) throw new Error('malformed protobuf tag');
    this.field = Math.floor(tag.value / 8);
    this.wire = tag.value & 7;
    this.i = tag.next;
    return true;
  }

  uint(): number {
    const v = readVarint(this.b, this.i);
    if (v.next < 0) throw new Error(`malformed varint in field ${this.field}`);
    this.i = v.next;
    return v.value;
  }

  /** A uint64 varint exactly (ids, printed in hex). */
  uint64(): bigint {
    let v = 0n;
    let shift = 0n;
    for (let n = 0; n < 10 && this.i < this.b.length; n++) {
      const byte = this.b[this.i++]!;
      v |= BigInt(byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return v & 0xffff_ffff_ffff_ffffn;
      shift += 7n;
    }
    throw new Error(`malformed varint in field ${this.field}`);
  }

  bytes(): Uint8Array {
    const len = this.uint();
    if (this.i + len > this.b.length) throw new Error(`field ${this.field} runs past the message`);
    const v = this.b.subarray(this.i, this.i + len);
    this.i += len;
    return v;
  }

  skip(): void {
    if (this.wire === 0) this.uint();
    else if (this.wire === 2) this.bytes();
    else if (this.wire === 1 || this.wire === 5) this.i += this.wire === 1 ? 8 : 4;
    else throw new Error(`unsupported protobuf wire type ${this.wire}`);
    if (this.i > this.b.length) throw new Error(`field ${this.field} runs past the message`);
  }
}

const utf8 = new TextDecoder();

/** etcdserverpb.ResponseHeader, ids in hex as etcdctl prints them. */
export interface ResponseHeader {
  clusterId: string;
  memberId: string;
  revision: number;
  raftTerm: number;
}

/** etcdserverpb.StatusResponse (the fields bosun uses). */
export interface StatusResponse {
  header: ResponseHeader;
  version: string;
  dbSize: number;
  /** Member id of the leader, hex. */
  leader: string;
  raftIndex: number;
  raftTerm: number;
  raftAppliedIndex: number;
  errors: string[];
  isLearner: boolean;
}

/** etcdserverpb.Member (the fields bosun uses). */
export interface Member {
  /** Member id, hex. */
  id: string;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

export function decodeResponseHeader(msg: Uint8Array): ResponseHeader {
  const h: ResponseHeader = { clusterId: '0', memberId: '0', revision: 0, raftTerm: 0 };
  const r = new FieldReader(msg);
  while (r.next()) {
    if (r.wire !== 0) r.skip();
    else if (r.field === 1) h.clusterId = r.uint64().toString(16);
    else if (r.field === 2) h.memberId = r.uint64().toString(16);
    else if (r.field === 3) h.revision = r.uint();
    else if (r.field === 4) h.raftTerm = r.uint();
    else r.skip();
  }
  return h;
}

export function decodeStatusResponse(msg: Uint8Array): StatusResponse {
  const s: StatusResponse = {
    header: decodeResponseHeader(new Uint8Array(0)),
    version: '',
    dbSize: 0,
    leader: '0',
    raftIndex: 0,
    raftTerm: 0,
    raftAppliedIndex: 0,
    errors: [],
    isLearner: false,
  };
  const r = new FieldReader(msg);
  while (r.next()) {
    if (r.wire === 2 && r.field === 1) s.header = decodeResponseHeader(r.bytes());
    else if (r.wire === 2 && r.field === 2) s.version = utf8.decode(r.bytes());
    else if (r.wire === 2 && r.field === 8) s.errors.push(utf8.decode(r.bytes()));
    else if (r.wire !== 0) r.skip();
    else if (r.field === 3) s.dbSize = r.uint();
    else if (r.field === 4) s.leader = r.uint64().toString(16);
    else if (r.field === 5) s.raftIndex = r.uint();
    else if (r.field === 6) s.raftTerm = r.uint();
    else if (r.field === 7) s.raftAppliedIndex = r.uint();
    else if (r.field === 10) s.isLearner = r.uint() !== 0;
    else r.skip();
  }
  return s;
}

function decodeMember(msg: Uint8Array): Member {
  const m: Member = { id: '0', name: '', peerURLs: [], clientURLs: [], isLearner: false };
  const r = new FieldReader(msg);
  while (r.next()) {
    if (r.field === 1 && r.wire === 0) m.id = r.uint64().toString(16);
    else if (r.field === 2 && r.wire === 2) m.name = utf8.decode(r.bytes());
    else if (r.field === 3 && r.wire === 2) m.peerURLs.push(utf8.decode(r.bytes()));
    else if (r.field === 4 && r.wire === 2) m.clientURLs.push(utf8.decode(r.bytes()));
    else if (r.field === 5 && r.wire === 0) m.isLearner = r.uint() !== 0;
    else r.skip();
  }
  return m;
}

/** etcdserverpb.MemberListResponse: the members. */
export function decodeMemberListResponse(msg: Uint8Array): {
  header: ResponseHeader | null;
  members: Member[];
} {
  let header: ResponseHeader | null = null;
  const members: Member[] = [];
  const r = new FieldReader(msg);
  while (r.next()) {
    if (r.field === 1 && r.wire === 2) header = decodeResponseHeader(r.bytes());
    else if (r.field === 2 && r.wire === 2) members.push(decodeMember(r.bytes()));
    else r.skip();
  }
  return { header, members };
}

/** A gRPC message prefix: flag byte 0 (not compressed) and the big-endian length. */
export function grpcFrame(msg: Uint8Array): Uint8Array {
  const out = new Uint8Array(5 + msg.length);
  new DataView(out.buffer).setUint32(1, msg.length);
  out.set(msg, 5);
  return out;
}

/**
 * Decodes the unary answer of a gRPC call: exactly one length-prefixed message. Throws when the
 * bytes are not that (compressed, cut short, or more than one message).
 */
export function unaryMessage(body: Uint8Array): Uint8Array {
  if (body.length < 5) throw new Error(`gRPC answer of ${body.length} bytes has no message`);
  if (body[0] !== 0) throw new Error('gRPC answer is compressed, which was not asked for');
  const len = new DataView(body.buffer, body.byteOffset, body.length).getUint32(1);
  if (5 + len !== body.length)
    throw new Error(`gRPC answer has ${body.length - 5} bytes after its prefix, the prefix says ${len}`);
  return body.subarray(5);
}

/**
 * Splits a gRPC stream's body (arriving in arbitrary pieces) into its length-prefixed messages.
 * Throws on a compressed message, which is never asked for.
 */
export class GrpcMessageReader {
  private pending: Uint8Array[] = [];
  private size = 0;

  /** Adds received bytes; returns the messages now complete, in order. */
  push(chunk: Uint8Array): Uint8Array[] {
    this.pending.push(chunk);
    this.size += chunk.length;
    const out: Uint8Array[] = [];
    while (this.size >= 5) {
      const head = this.peek(5);
      if (head[0] !== 0) throw new Error('gRPC message is compressed, which was not asked for');
      const len = new DataView(head.buffer, head.byteOffset, 5).getUint32(1);
      if (this.size < 5 + len) break;
      out.push(this.take(5 + len).subarray(5));
    }
    return out;
  }

  private peek(n: number): Uint8Array {
    const first = this.pending[0];
    if (first && first.length >= n) return first.subarray(0, n);
    return this.flatten().subarray(0, n);
  }

  private take(n: number): Uint8Array {
    const first = this.flatten(n);
    const msg = first.subarray(0, n);
    const rest = first.subarray(n);
    this.pending[0] = rest;
    if (rest.length === 0) this.pending.shift();
    this.size -= n;
    return msg;
  }

  /** Joins pending pieces until the first holds at least n bytes (all of them by default). */
  private flatten(n = this.size): Uint8Array {
    const first = this.pending[0];
    if (first && first.length >= n) return first;
    const all = new Uint8Array(this.size);
    let o = 0;
    for (const p of this.pending) {
      all.set(p, o);
      o += p.length;
    }
    this.pending = [all];
    return all;
  }
}

/** Receives the snapshot: pieces of blob (views of received bytes) in order, with what remains. */
export interface SnapshotPieceSink {
  /**
   * `piece` is a view of bytes passed to push (valid as long as those are); `remaining` is the
   * snapshot bytes still to come after it, as etcd counts them (its sha256 trailer not included).
   */
  piece(piece: Uint8Array, remaining: number): void;
}

// States of the snapshot stream decoder.
const PREFIX = 0; // reading the 5-byte gRPC prefix
const TAG = 1; // reading a field tag (or the message ended)
const SCALAR = 2; // reading a varint value, or a fixed-size value
const SKIP = 3; // skipping (collecting) a length-delimited field that is not the blob
const BLOB = 4; // passing blob bytes through
const LENGTH = 5; // reading the length of a length-delimited field

/**
 * Decodes a stream of gRPC-framed SnapshotResponse messages fed in arbitrary pieces (HTTP/2 DATA
 * frames), without assembling messages: the blob's bytes go to the sink as views of the input.
 * etcd (Go) writes remaining_bytes (field 2) before blob (field 3); in the other order, the blob is
 * held back until the message ends, so `remaining` is always that message's.
 */
export class SnapshotStreamDecoder {
  /** Messages completely decoded. */
  messages = 0;
  private state = PREFIX;
  /** Bytes left in the current message (after its prefix). */
  private msgLeft = 0;
  /** Bytes left in the current field value. */
  private fieldLeft = 0;
  private field = 0;
  private wire = 0;
  private small: number[] = [];
  private remaining = -1;
  /** Blob bytes of this message not passed on yet (held back while remaining is unknown). */
  private held: Uint8Array[] = [];
  private blobLeftInMsg = 0;

  constructor(private readonly sink: SnapshotPieceSink) {}

  /** True when the input ended exactly between messages. */
  get atMessageBoundary(): boolean {
    return this.state === PREFIX && this.small.length === 0;
  }

  push(buf: Uint8Array): void {
    let i = 0;
    const n = buf.length;
    while (i < n) {
      switch (this.state) {
        case PREFIX: {
          this.small.push(buf[i++]!);
          if (this.small.length === 5) {
            const [flag, a, b, c, d] = this.small as [number, number, number, number, number];
            this.small = [];
            if (flag !== 0) throw new Error('snapshot message is compressed, which was not asked for');
            this.msgLeft = ((a << 24) >>> 0) + (b << 16) + (c << 8) + d;
            this.startMessage();
          }
          break;
        }
        case TAG:
        case LENGTH:
        case SCALAR: {
          if (this.state === SCALAR && this.wire !== 0) {
            // fixed64 / fixed32: skip.
            const take = Math.min(this.fieldLeft, n - i);
            i += take;
            this.fieldLeft -= take;
            this.msgLeft -= take;
            if (this.fieldLeft === 0) this.state = TAG;
            break;
          }
          const byte = buf[i++]!;
          this.msgLeft--;
          this.small.push(byte);
          if (this.small.length > 10) throw new Error('malformed varint in a snapshot message');
          if ((byte & 0x80) === 0) {
            const v = readVarint(this.small, 0).value;
            this.small = [];
            this.onVarint(v);
          } else if (this.msgLeft <= 0) {
            throw new Error('snapshot message ends inside a varint');
          }
          break;
        }
        case SKIP:
        case BLOB: {
          const take = Math.min(this.fieldLeft, n - i);
          if (this.state === BLOB && take > 0) this.blob(buf.subarray(i, i + take));
          i += take;
          this.fieldLeft -= take;
          this.msgLeft -= take;
          if (this.fieldLeft === 0) this.state = TAG;
          break;
        }
      }
      if (this.state === TAG && this.msgLeft === 0) this.endMessage();
      else if (this.msgLeft < 0) throw new Error('snapshot message field runs past the message');
    }
  }

  private startMessage(): void {
    this.remaining = -1;
    this.held = [];
    this.blobLeftInMsg = 0;
    this.state = TAG;
    if (this.msgLeft === 0) this.endMessage();
  }

  private endMessage(): void {
    if (this.held.length > 0) {
      const held = this.held;
      this.held = [];
      let left = held.reduce((a, b) => a + b.length, 0);
      for (const h of held) {
        left -= h.length;
        this.sink.piece(h, Math.max(this.remaining, 0) + left);
      }
    }
    this.messages++;
    this.state = PREFIX;
  }

  private onVarint(v: number): void {
    if (this.state === TAG) {
      this.field = Math.floor(v / 8);
      this.wire = v & 7;
      if (this.wire === 0) this.state = SCALAR;
      else if (this.wire === 2) this.state = LENGTH;
      else if (this.wire === 1 || this.wire === 5) {
        this.state = SCALAR;
        this.fieldLeft = this.wire === 1 ? 8 : 4;
      } else throw new Error(`unsupported protobuf wire type ${this.wire} in a snapshot message`);
      return;
    }
    if (this.state === LENGTH) {
      this.fieldLeft = v;
      if (v > this.msgLeft) throw new Error('snapshot message field runs past the message');
      if (this.field === 3) {
        this.state = BLOB;
        this.blobLeftInMsg = v;
      } else this.state = SKIP;
      if (v === 0) this.state = TAG;
      return;
    }
    // SCALAR varint
    if (this.field === 2) this.remaining = v;
    this.state = TAG;
  }

  private blob(piece: Uint8Array): void {
    this.blobLeftInMsg -= piece.length;
    if (this.remaining < 0) this.held.push(piece.slice());
    else this.sink.piece(piece, this.remaining + this.blobLeftInMsg);
  }
}

/**
 * Finds the user key (field 1) of the mvccpb.KeyValue protobuf in b[start, end) and sets
 * `key.start`/`key.end` to its bytes; false if malformed or absent. etcd writes the key first,
 * which is the fast path. (The caller's `key` is reused, so the hot loop allocates nothing.)
 */
export function findKvKey(
  b: Uint8Array,
  start: number,
  end: number,
  key: { start: number; end: number },
): boolean {
  let i = start;
  while (i < end) {
    const tag = readVarint(b, i);
    if (tag.next < 0 || tag.next > end) return false;
    const wire = tag.value & 7;
    i = tag.next;
    if (wire === 2) {
      const len = readVarint(b, i);
      if (len.next < 0 || len.next + len.value > end) return false;
      if (Math.floor(tag.value / 8) === 1) {
        key.start = len.next;
        key.end = len.next + len.value;
        return true;
      }
      i = len.next + len.value;
    } else if (wire === 0) {
      const v = readVarint(b, i);
      if (v.next < 0) return false;
      i = v.next;
    } else if (wire === 1) i += 8;
    else if (wire === 5) i += 4;
    else return false;
  }
  return false;
}
