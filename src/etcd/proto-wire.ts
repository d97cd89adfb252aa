// The few etcd gRPC messages bosun reads, decoded straight from the protobuf wire format (etcd
// 3.4's api/etcdserverpb/rpc.proto: ResponseHeader, StatusResponse, MemberListResponse, Member,
// SnapshotResponse), and a streaming decoder of gRPC's length-prefixed messages for the snapshot
// stream that hands out the blob bytes as views of the bytes received, without copying them.
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

/** A uint64 varint as a bigint (for ids, printed in hex), or null when malformed. */
function readVarint64(b: Uint8Array, i: number): { value: bigint; next: number } | null {
  let v = 0n;
  let shift = 0n;
  for (let n = 0; n < 10 && i < b.length; n++) {
    const byte = b[i++]!;
    v |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return { value: v & 0xffff_ffff_ffff_ffffn, next: i };
    shift += 7n;
  }
  return null;
}

/** One field of a message: varints as number and bigint, length-delimited fields as a view. */
export interface WireField {
  field: number;
  wire: number;
  /** Varint value (wire type 0). */
  num: number;
  /** Varint value as uint64 (wire type 0). */
  big: bigint;
  /** Bytes of a length-delimited field (wire type 2); empty otherwise. */
  bytes: Uint8Array;
}

/** Calls `visit` for each field of a message; throws on a malformed message. */
export function forEachField(msg: Uint8Array, visit: (f: WireField) => void): void {
  const empty = msg.subarray(0, 0);
  let i = 0;
  while (i < msg.length) {
    const tag = readVarint(msg, i);
    if (tag.next < 0) throw new Error('malformed protobuf tag');
    const field = Math.floor(tag.value / 8);
    const wire = tag.value & 7;
    i = tag.next;
    if (wire === 0) {
      const v = readVarint64(msg, i);
      if (v === null) throw new Error(`malformed varint in field ${field}`);
      visit({ field, wire, num: Number(v.value), big: v.value, bytes: empty });
      i = v.next;
    } else if (wire === 2) {
      const len = readVarint(msg, i);
      if (len.next < 0 || len.next + len.value > msg.length) throw new Error(`field ${field} runs past the message`);
      visit({ field, wire, num: 0, big: 0n, bytes: msg.subarray(len.next, len.next + len.value) });
      i = len.next + len.value;
    } else if (wire === 1 || wire === 5) {
      i += wire === 1 ? 8 : 4;
      if (i > msg.length) throw new Error(`field ${field} runs past the message`);
    } else {
      throw new Error(`unsupported protobuf wire type ${wire}`);
    }
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
  forEachField(msg, (f) => {
    if (f.wire !== 0) return;
    if (f.field === 1) h.clusterId = f.big.toString(16);
    else if (f.field === 2) h.memberId = f.big.toString(16);
    else if (f.field === 3) h.revision = f.num;
    else if (f.field === 4) h.raftTerm = f.num;
  });
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
  forEachField(msg, (f) => {
    switch (f.field) {
      case 1:
        if (f.wire === 2) s.header = decodeResponseHeader(f.bytes);
        break;
      case 2:
        if (f.wire === 2) s.version = utf8.decode(f.bytes);
        break;
      case 3:
        s.dbSize = f.num;
        break;
      case 4:
        if (f.wire === 0) s.leader = f.big.toString(16);
        break;
      case 5:
        s.raftIndex = f.num;
        break;
      case 6:
        s.raftTerm = f.num;
        break;
      case 7:
        s.raftAppliedIndex = f.num;
        break;
      case 8:
        if (f.wire === 2) s.errors.push(utf8.decode(f.bytes));
        break;
      case 10:
        s.isLearner = f.num !== 0;
        break;
    }
  });
  return s;
}

function decodeMember(msg: Uint8Array): Member {
  const m: Member = { id: '0', name: '', peerURLs: [], clientURLs: [], isLearner: false };
  forEachField(msg, (f) => {
    if (f.field === 1 && f.wire === 0) m.id = f.big.toString(16);
    else if (f.field === 2 && f.wire === 2) m.name = utf8.decode(f.bytes);
    else if (f.field === 3 && f.wire === 2) m.peerURLs.push(utf8.decode(f.bytes));
    else if (f.field === 4 && f.wire === 2) m.clientURLs.push(utf8.decode(f.bytes));
    else if (f.field === 5) m.isLearner = f.num !== 0;
  });
  return m;
}

/** etcdserverpb.MemberListResponse: the members. */
export function decodeMemberListResponse(msg: Uint8Array): { header: ResponseHeader | null; members: Member[] } {
  let header: ResponseHeader | null = null;
  const members: Member[] = [];
  forEachField(msg, (f) => {
    if (f.field === 1 && f.wire === 2) header = decodeResponseHeader(f.bytes);
    else if (f.field === 2 && f.wire === 2) members.push(decodeMember(f.bytes));
  });
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
  if (5 + len !== body.length) throw new Error(`gRPC answer has ${body.length - 5} bytes after its prefix, the prefix says ${len}`);
  return body.subarray(5);
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
export function findKvKey(b: Uint8Array, start: number, end: number, key: { start: number; end: number }): boolean {
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
