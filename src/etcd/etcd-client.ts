// The narrow etcd port the backup needs (probe a member, stream a snapshot) and its real
// implementation: gRPC over node:http2 (grpc-h2.ts) with the messages decoded by hand
// (proto-wire.ts). The snapshot stream honours back-pressure and an AbortSignal.
import { BosunError, errorMessage } from '../common/errors.ts';
import { grpcChannel, type GrpcChannel } from './grpc-h2.ts';
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
  /** Per-call timeout for probes (not for the snapshot stream); default 5 s. */
  timeoutMs?: number;
}

const STATUS = 'etcdserverpb.Maintenance/Status';
const MEMBER_LIST = 'etcdserverpb.Cluster/MemberList';
const SNAPSHOT = 'etcdserverpb.Maintenance/Snapshot';
const EMPTY = new Uint8Array(0);

/** The real port: one HTTP/2 connection per endpoint, opened on first use. */
export function etcdGrpcPort(opts: EtcdPortOptions): EtcdPort {
  const channels = new Map<string, GrpcChannel>();
  const timeoutMs = opts.timeoutMs ?? 5000;
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
      const health = await probeHealth(endpoint, opts.tls, timeoutMs);
      if (!health.ok) return { endpoint, ok: false, error: health.message };
      try {
        const c = channel(endpoint);
        const st = decodeStatusResponse(await c.unary(STATUS, EMPTY, timeoutMs));
        let name: string | null = null;
        try {
          const list = decodeMemberListResponse(await c.unary(MEMBER_LIST, EMPTY, timeoutMs));
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
          error: `etcd at ${endpoint} did not answer Maintenance.Status: ${errorMessage(e)}`,
        };
      }
    },

    async snapshot(endpoint, sink, signal) {
      if (signal.aborted) throw interrupted(signal);
      let received = 0;
      let remaining = -1;
      let started = false;
      const pending: Promise<void>[] = [];
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
        await channel(endpoint).serverStream(
          SNAPSHOT,
          EMPTY,
          (chunk) => {
            started = true;
            decoder.push(chunk);
            if (pending.length === 0) return undefined;
            const all = Promise.all(pending.splice(0)).then(() => undefined);
            return all;
          },
          signal,
        );
      } catch (e) {
        if (signal.aborted) throw interrupted(signal);
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
