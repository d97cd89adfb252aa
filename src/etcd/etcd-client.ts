// The narrow etcd port the backup needs (probe a member, stream a snapshot) and its real
// implementation: gRPC over node:http2 (grpc-h2.ts) with the messages decoded by hand
// (proto-wire.ts). The snapshot stream honours back-pressure and an AbortSignal.
import { BosunError, errorMessage } from '../common/errors.ts';
import { GrpcError, grpcChannel, type GrpcChannel } from './grpc-h2.ts';
import { humanBytes } from './human-bytes.ts';
import type { MemberProbe } from './member-select.ts';
import { probeHealth, type TlsMaterial } from './probe.ts';
import { decodeMemberListResponse, decodeStatusResponse, SnapshotStreamDecoder } from './proto-wire.ts';

/** Called with each piece of the snapshot; a returned promise pauses the stream until it settles. */
export type ChunkSink = (blob: Buffer, remainingBytes: number) => void | Promise<void>;

/** What the backup needs from etcd. */
export interface EtcdPort {
  /** Health, raft position and identity of the member behind one endpoint; never throws. */
  probe(endpoint: string): Promise<MemberProbe>;
  /**
   * Streams the member's snapshot (Maintenance.Snapshot) into `sink`; resolves when the stream
   * ended cleanly with no bytes remaining, rejects with a BosunError otherwise or on abort.
   */
  snapshot(endpoint: string, sink: ChunkSink, signal: AbortSignal): Promise<void>;
  /** Closes every connection. */
  close(): void;
}

/** Options of the real port. */
export interface EtcdPortOptions {
  tls: TlsMaterial | null;
  /** Deadline of a whole probe (connect, TLS, /health, Status, MemberList); default 5 s. */
  timeoutMs?: number;
  /**
   * The snapshot stream fails when etcd sends nothing for this long (while bosun is not the one
   * pausing it), including before the first byte; default 30 s.
   */
  idleTimeoutMs?: number;
}

const STATUS = 'etcdserverpb.Maintenance/Status';
const MEMBER_LIST = 'etcdserverpb.Cluster/MemberList';
const SNAPSHOT = 'etcdserverpb.Maintenance/Snapshot';
const EMPTY = new Uint8Array(0);
/** gRPC DEADLINE_EXCEEDED: what grpc-h2.ts's unary calls fail with when their time is up. */
const DEADLINE_EXCEEDED = 4;

/** The real port: one HTTP/2 connection per endpoint, opened on first use. */
export function etcdGrpcPort(opts: EtcdPortOptions): EtcdPort {
  const channels = new Map<string, GrpcChannel>();
  const timeoutMs = opts.timeoutMs ?? 5000;
  const idleTimeoutMs = opts.idleTimeoutMs ?? 30_000;
  const channel = (endpoint: string): GrpcChannel => {
    let c = channels.get(endpoint);
    if (!c) {
      c = grpcChannel(endpoint, opts.tls);
      channels.set(endpoint, c);
    }
    return c;
  };

  return {
    async probe(endpoint) {
      // One deadline for the whole probe: each step gets what is left of it.
      const deadline = Date.now() + timeoutMs;
      const left = (): number => Math.max(1, deadline - Date.now());
      const health = await probeHealth(endpoint, opts.tls, timeoutMs);
      if (!health.ok) return { endpoint, ok: false, error: health.message };
      try {
        const c = channel(endpoint);
        const st = decodeStatusResponse(await c.unary(STATUS, EMPTY, left()));
        let name: string | null = null;
        try {
          const list = decodeMemberListResponse(await c.unary(MEMBER_LIST, EMPTY, left()));
          name = list.members.find((m) => m.id === st.header.memberId)?.name ?? null;
        } catch {
          name = null;
        }
        return {
          endpoint,
          ok: true,
          memberId: st.header.memberId,
          name: name === '' ? null : name,
          clusterId: st.header.clusterId,
          isLeader: st.leader === st.header.memberId,
          isLearner: st.isLearner,
          raftIndex: st.raftIndex,
          // etcd before 3.4 does not send raftAppliedIndex.
          raftAppliedIndex: st.raftAppliedIndex || st.raftIndex,
          revision: st.header.revision,
          version: st.version,
          errors: st.errors,
        };
      } catch (e) {
        return {
          endpoint,
          ok: false,
          error:
            e instanceof GrpcError && e.grpcStatus === DEADLINE_EXCEEDED
              ? `etcd endpoint ${endpoint} did not answer Maintenance.Status within ${timeoutMs} ms`
              : `etcd at ${endpoint} did not answer Maintenance.Status: ${errorMessage(e)}`,
        };
      }
    },

    async snapshot(endpoint, sink, signal) {
      if (signal.aborted) throw interrupted(signal);
      let received = 0;
      let remaining = -1;
      let started = false;
      const pending: Promise<void>[] = [];
      // Fails the stream when etcd goes silent; stopped while bosun itself pauses it (back-pressure).
      const stall = new AbortController();
      const onAbort = (): void => stall.abort(signal.reason);
      signal.addEventListener('abort', onAbort, { once: true });
      let idle: NodeJS.Timeout | undefined;
      const silent = (): void =>
        stall.abort(
          new BosunError(
            received === 0
              ? `etcd at ${endpoint} did not start sending the snapshot within ${idleTimeoutMs} ms`
              : `etcd at ${endpoint} stopped sending the snapshot: nothing for ${idleTimeoutMs} ms after ${humanBytes(received)}`,
            'TIMEOUT',
            {
              hint: 'Is the etcd member overloaded or its disk stalled? Try again, or another member with --endpoints.',
            },
          ),
        );
      const watch = (): void => {
        clearTimeout(idle);
        idle = setTimeout(silent, idleTimeoutMs);
      };
      const decoder = new SnapshotStreamDecoder({
        piece(p, rest) {
          const blob = Buffer.isBuffer(p) ? p : Buffer.from(p.buffer, p.byteOffset, p.length);
          received += blob.length;
          remaining = rest;
          const r = sink(blob, rest);
          if (r instanceof Promise) pending.push(r);
        },
      });
      try {
        watch();
        await channel(endpoint).serverStream(
          SNAPSHOT,
          EMPTY,
          (chunk) => {
            started = true;
            decoder.push(chunk);
            if (pending.length === 0) {
              watch();
              return undefined;
            }
            clearTimeout(idle);
            return Promise.all(pending.splice(0)).then(() => watch());
          },
          stall.signal,
        );
      } catch (e) {
        if (signal.aborted) throw interrupted(signal);
        if (stall.signal.aborted) throw stall.signal.reason;
        if (e instanceof BosunError) throw e;
        if (!started)
          throw new BosunError(`cannot open a snapshot stream from ${endpoint}: ${errorMessage(e)}`, 'ETCD', {
            cause: e,
          });
        throw new BosunError(
          `snapshot stream from ${endpoint} broke after ${received} bytes: ${errorMessage(e)}`,
          'ETCD',
          {
            cause: e,
            hint: 'Is the etcd member still running? Try again, or pick another member with --endpoints.',
          },
        );
      } finally {
        clearTimeout(idle);
        signal.removeEventListener('abort', onAbort);
      }
      if (remaining !== 0 || !decoder.atMessageBoundary) {
        throw new BosunError(
          `snapshot stream from ${endpoint} ended after ${received} bytes with ${Math.max(remaining, 0)} bytes still to come`,
          'ETCD',
        );
      }
    },

    close() {
      for (const c of channels.values()) c.close();
      channels.clear();
    },
  };
}

function interrupted(signal: AbortSignal): BosunError {
  return new BosunError(`interrupted: ${errorMessage(signal.reason ?? 'aborted')}`, 'INTERRUPTED', {
    exitCode: 1,
  });
}
