// An etcd v3 client for the KV, Watch and Cluster calls the sandbox's store makes, on node:http2
// (grpc-h2.ts) with the messages of kv-wire.ts. It replaces the etcd3 library there: per call it
// costs about a third of the CPU of etcd3 with @grpc/grpc-js and protobufjs, and the sandbox's
// API server is single-threaded and makes thousands of these calls in a mass eviction.
//
// Several endpoints (the members of a multi-control-plane sandbox): calls go to one; a call that
// fails in transport (connection refused or lost, UNAVAILABLE) is tried once more on the next.
// Watches are streams of their own; the caller decides what to do when one ends.
import { GrpcError, grpcChannel, type GrpcChannel } from './grpc-h2.ts';
import {
  decodeRangeResponse,
  decodeTxnResponse,
  decodeWatchResponse,
  encodeCompactionRequest,
  encodeMemberAddRequest,
  encodeRangeRequest,
  encodeTxnRequest,
  encodeWatchCancel,
  encodeWatchCreate,
  type RangeRequest,
  type RangeResponse,
  type TxnRequest,
  type TxnResponse,
  type WatchCreate,
  type WatchResponse,
} from './kv-wire.ts';
import { decodeMemberListResponse, type Member } from './proto-wire.ts';
import type { TlsMaterial } from './probe.ts';

/** Per-call time limit, as the sandbox's store always had (etcd3's deadline). */
const CALL_TIMEOUT_MS = 5000;

/** gRPC UNAVAILABLE. */
const UNAVAILABLE = 14;

/** A transport failure (no gRPC status, or UNAVAILABLE): another endpoint may answer. */
export function isTransportError(e: unknown): boolean {
  return e instanceof GrpcError && (e.grpcStatus === null || e.grpcStatus === UNAVAILABLE);
}

/** A watch stream in progress. */
export interface KvWatch {
  cancel(): void;
}

export class EtcdKvClient {
  private readonly channels: (GrpcChannel | undefined)[];
  private current = 0;
  private closed = false;

  constructor(
    private readonly endpoints: readonly string[],
    private readonly tls: TlsMaterial | null,
  ) {
    if (endpoints.length === 0) throw new Error('no etcd endpoints');
    this.channels = endpoints.map(() => undefined);
  }

  private channel(i: number): GrpcChannel {
    let ch = this.channels[i];
    if (!ch) {
      ch = grpcChannel(this.endpoints[i] ?? '', this.tls);
      this.channels[i] = ch;
    }
    return ch;
  }

  /** A unary call on the current endpoint, once more on the next after a transport failure. */
  private async unary(method: string, req: Uint8Array): Promise<Uint8Array> {
    if (this.closed) throw new GrpcError('the etcd client is closed', null);
    const first = this.current;
    try {
      return await this.channel(first).unary(method, req, CALL_TIMEOUT_MS);
    } catch (e) {
      if (!isTransportError(e) || this.closed) throw e;
      this.failed(first);
      return this.channel(this.current).unary(method, req, CALL_TIMEOUT_MS);
    }
  }

  /** Drops endpoint i's connection and moves on to the next endpoint. */
  private failed(i: number): void {
    this.channels[i]?.close();
    this.channels[i] = undefined;
    if (this.current === i) this.current = (i + 1) % this.endpoints.length;
  }

  async range(r: RangeRequest): Promise<RangeResponse> {
    return decodeRangeResponse(await this.unary('etcdserverpb.KV/Range', encodeRangeRequest(r)));
  }

  async txn(t: TxnRequest): Promise<TxnResponse> {
    return decodeTxnResponse(await this.unary('etcdserverpb.KV/Txn', encodeTxnRequest(t)));
  }

  async compact(revision: number, physical: boolean): Promise<void> {
    await this.unary('etcdserverpb.KV/Compact', encodeCompactionRequest(revision, physical));
  }

  async memberList(): Promise<Member[]> {
    return decodeMemberListResponse(await this.unary('etcdserverpb.Cluster/MemberList', new Uint8Array(0)))
      .members;
  }

  async memberAdd(peerUrls: readonly string[]): Promise<void> {
    await this.unary('etcdserverpb.Cluster/MemberAdd', encodeMemberAddRequest(peerUrls));
  }

  /**
   * Opens a watch on the current endpoint. `onResponse` gets every response (the first says
   * created, or canceled with the reason); `onEnd` is called once if the stream fails or ends
   * (never after cancel()). A transport failure also moves later calls to the next endpoint.
   */
  watch(create: WatchCreate, onResponse: (r: WatchResponse) => void, onEnd: (e: Error) => void): KvWatch {
    if (this.closed) throw new GrpcError('the etcd client is closed', null);
    const i = this.current;
    let watchId: number | undefined;
    let ended = false;
    const call = this.channel(i).duplex(
      'etcdserverpb.Watch/Watch',
      (msg) => {
        if (ended) return;
        let res: WatchResponse;
        try {
          res = decodeWatchResponse(msg);
        } catch (e) {
          end(e instanceof Error ? e : new Error(String(e)));
          return;
        }
        if (res.created) watchId = res.watchId;
        onResponse(res);
      },
      (e) => end(e ?? new GrpcError('the watch stream ended', null)),
    );
    const end = (e: Error): void => {
      if (ended) return;
      ended = true;
      call.close();
      if (isTransportError(e) && !this.closed) this.failed(i);
      onEnd(e);
    };
    call.send(encodeWatchCreate(create));
    return {
      cancel: () => {
        if (ended) return;
        ended = true;
        if (watchId !== undefined) call.send(encodeWatchCancel(watchId));
        call.close();
      },
    };
  }

  close(): void {
    this.closed = true;
    for (const ch of this.channels) ch?.close();
    this.channels.fill(undefined);
  }
}
