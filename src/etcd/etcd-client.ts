// The narrow etcd port the backup needs (probe a member, stream a snapshot) and its real
// implementation on the `etcd3` library (gRPC Maintenance service). All knowledge of etcd3's
// shapes stays here. The snapshot stream honours back-pressure and an AbortSignal.
import { Etcd3, type IOptions } from 'etcd3';
import { BosunError, errorMessage } from '../common/errors.ts';
import type { MemberProbe } from './member-select.ts';
import { probeHealth, tlsServerName, type TlsMaterial } from './probe.ts';

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
export interface Etcd3PortOptions {
  tls: TlsMaterial | null;
  /** Per-call timeout for probes (not for the snapshot stream); default 5 s. */
  timeoutMs?: number;
}

/** A 16 MiB HTTP/2 window: grpc-js defaults to 64 KiB, which halves snapshot throughput. */
const GRPC_OPTIONS = { 'grpc-node.flow_control_window': 16 << 20, 'grpc.max_receive_message_length': -1 };

/** Decimal uint64 string (as etcd3 returns ids) to hex, as etcdctl prints member and cluster ids. */
export function idHex(id: string | undefined): string {
  if (!id) return '0';
  try {
    return BigInt(id).toString(16);
  } catch {
    return id;
  }
}

/** The real port: one etcd3 client per endpoint, created on first use. */
export function etcd3Port(opts: Etcd3PortOptions): EtcdPort {
  const clients = new Map<string, Etcd3>();
  const serverNames = new Map<string, string>();
  const timeoutMs = opts.timeoutMs ?? 5000;
  const client = (endpoint: string): Etcd3 => {
    let c = clients.get(endpoint);
    if (!c) {
      const name = serverNames.get(endpoint);
      const grpcOptions = name ? { ...GRPC_OPTIONS, 'grpc.ssl_target_name_override': name, 'grpc.default_authority': name } : GRPC_OPTIONS;
      const o: IOptions = { hosts: [endpoint], grpcOptions, dialTimeout: timeoutMs };
      if (opts.tls) o.credentials = { rootCertificate: opts.tls.ca, certChain: opts.tls.cert, privateKey: opts.tls.key };
      c = new Etcd3(o);
      clients.set(endpoint, c);
    }
    return c;
  };
  // A timer rather than a gRPC deadline: deadlines are wall-clock instants, and time comes in
  // through ports (a test's clock may be anywhere).
  const timed = <T>(p: Promise<T>, what: string): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`${what} timed out after ${timeoutMs} ms`)), timeoutMs);
      p.then(
        (v) => {
          clearTimeout(t);
          resolve(v);
        },
        (e: unknown) => {
          clearTimeout(t);
          reject(e instanceof Error ? e : new Error(String(e)));
        },
      );
    });

  return {
    async probe(endpoint) {
      const health = await probeHealth(endpoint, opts.tls, timeoutMs);
      if (!health.ok) return { endpoint, ok: false, error: health.message };
      const name = tlsServerName(endpoint, health.serverDnsNames);
      if (name !== undefined && !clients.has(endpoint)) serverNames.set(endpoint, name);
      try {
        const c = client(endpoint);
        const st = await timed(c.maintenance.status(), 'Maintenance.Status');
        let name: string | null = null;
        try {
          const members = await timed(c.cluster.memberList({}), 'Cluster.MemberList');
          name = members.members.find((m) => m.ID === st.header.member_id)?.name ?? null;
        } catch {
          name = null;
        }
        return {
          endpoint,
          ok: true,
          memberId: idHex(st.header.member_id),
          name: name === '' ? null : name,
          clusterId: idHex(st.header.cluster_id),
          isLeader: st.leader === st.header.member_id,
          isLearner: st.isLearner === true,
          raftIndex: Number(st.raftIndex),
          raftAppliedIndex: Number(st.raftAppliedIndex ?? st.raftIndex),
          revision: Number(st.header.revision),
          version: st.version,
          errors: st.errors ?? [],
        };
      } catch (e) {
        return { endpoint, ok: false, error: `etcd at ${endpoint} did not answer Maintenance.Status: ${errorMessage(e)}` };
      }
    },

    async snapshot(endpoint, sink, signal) {
      if (signal.aborted) throw interrupted(signal);
      let stream: Awaited<ReturnType<Etcd3['maintenance']['snapshot']>>;
      try {
        stream = await client(endpoint).maintenance.snapshot();
      } catch (e) {
        throw new BosunError(`cannot open a snapshot stream from ${endpoint}: ${errorMessage(e)}`, 'ETCD', { cause: e });
      }
      const ctl = stream as unknown as { pause?: () => void; resume?: () => void; cancel?: () => void };
      await new Promise<void>((resolve, reject) => {
        let received = 0;
        let remaining = -1;
        let pending: Promise<void> | null = null;
        let finished = false;
        let failed = false;
        const fail = (e: BosunError): void => {
          if (failed) return;
          failed = true;
          signal.removeEventListener('abort', onAbort);
          ctl.cancel?.();
          reject(e);
        };
        const onAbort = (): void => fail(interrupted(signal));
        signal.addEventListener('abort', onAbort, { once: true });
        const finish = (): void => {
          if (failed) return;
          if (remaining !== 0) {
            fail(new BosunError(`snapshot stream from ${endpoint} ended after ${received} bytes with ${Math.max(remaining, 0)} bytes still to come`, 'ETCD'));
            return;
          }
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
        stream.on('data', (msg) => {
          if (failed) return;
          const blob = msg.blob;
          received += blob.length;
          remaining = Number(msg.remaining_bytes);
          let r: void | Promise<void>;
          try {
            r = sink(blob, remaining);
          } catch (e) {
            fail(asBosun(e));
            return;
          }
          if (r instanceof Promise) {
            ctl.pause?.();
            const p = r.then(
              () => {
                if (pending === p) pending = null;
                ctl.resume?.();
                if (finished && pending === null) finish();
              },
              (e: unknown) => fail(asBosun(e)),
            );
            pending = p;
          }
        });
        stream.on('error', (e) => {
          fail(
            new BosunError(`snapshot stream from ${endpoint} broke after ${received} bytes: ${errorMessage(e)}`, 'ETCD', {
              cause: e,
              hint: 'Is the etcd member still running? Try again, or pick another member with --endpoints.',
            }),
          );
        });
        stream.on('end', () => {
          finished = true;
          if (pending === null) finish();
        });
      });
    },

    close() {
      for (const c of clients.values()) c.close();
      clients.clear();
    },
  };
}

function interrupted(signal: AbortSignal): BosunError {
  return new BosunError(`interrupted: ${errorMessage(signal.reason ?? 'aborted')}`, 'INTERRUPTED', { exitCode: 1 });
}

function asBosun(e: unknown): BosunError {
  if (e instanceof BosunError) return e;
  return new BosunError(errorMessage(e), 'IO', { cause: e });
}
