// The sandbox's storage: Kubernetes objects as JSON values in a real etcd, under
// /registry/<resource>/<namespace>/<name>, with resourceVersion = the etcd mod revision, optimistic
// concurrency through etcd transactions and watches from a revision (k8s.io/apiserver's etcd3
// store does the same with protobuf values). Knows nothing of Kubernetes semantics beyond that.
import { ConstantBackoff, noop, retry, handleWhen } from 'cockatiel';
import { Etcd3, isRecoverableError, type IKeyValue, type IWatchResponse, type Watcher } from 'etcd3';
import { WatchManager } from 'etcd3/lib/watch.js';
import { readFileSync } from 'node:fs';
import type { KubeObject } from './types.ts';

/** How the store reaches etcd: endpoints and the apiserver-etcd-client credentials. */
export interface EtcdConnection {
  endpoints: string[];
  /** TLS client credentials; without them the store speaks plain http (tests only). */
  tls?: { caFile: string; certFile: string; keyFile: string };
}

/** An object read from etcd with its mod revision. */
export interface Stored {
  key: string;
  obj: KubeObject;
  modRevision: number;
}

/** A change seen by a watch. */
export interface StoreEvent {
  type: 'put' | 'delete';
  key: string;
  /** The object after a put; the last state before a delete. */
  obj: KubeObject;
  /** The previous state (for put: undefined when the key was created). */
  prev: KubeObject | undefined;
  /** True when a put created the key. */
  created: boolean;
  revision: number;
}

/** Raised when a revision has been compacted away (answered as 410 Gone / Expired). */
export class CompactedError extends Error {
  constructor(
    readonly requested: number,
    readonly compacted: number,
  ) {
    super(`too old resource version: ${requested} (${compacted})`);
  }
}

/** Raised for a revision newer than etcd's current one (after a restore rewound the revisions). */
export class FutureRevisionError extends Error {
  constructor(
    readonly requested: number,
    readonly current: number,
  ) {
    super(`required revision ${requested} is a future revision (current ${current})`);
  }
}

/** Raised when etcd cannot be reached (answered as 503 / 504). */
export class StorageUnavailableError extends Error {}

// etcd3 throws from inside its gRPC stream handler when a watch response names a watch id it no
// longer tracks (a response already in flight when the watch was cancelled), which kills the
// process. etcd's own Go client drops such responses; do the same.
interface WatchManagerInternals {
  watchers: { id: string | null }[];
  handleResponse(res: IWatchResponse): void;
}
const wmProto = WatchManager.prototype as unknown as WatchManagerInternals;
const originalHandleResponse = wmProto.handleResponse;
wmProto.handleResponse = function (this: WatchManagerInternals, res: IWatchResponse): void {
  if (!this.watchers.some((w) => w.id === res.watch_id)) return;
  originalHandleResponse.call(this, res);
};

/**
 * gRPC channel options: no receive limit (a list of 2,000 pods is larger than gRPC's 4 MB
 * default), and reconnect back-off capped at 1 s instead of 120 s: etcd is on loopback, and a
 * restarted member (a certificate renewal, a fault) must be used again as soon as it is back.
 */
const GRPC_OPTIONS = {
  'grpc.max_receive_message_length': -1,
  'grpc.initial_reconnect_backoff_ms': 100,
  'grpc.max_reconnect_backoff_ms': 1000,
} as const;

const enc = (s: string): Buffer => Buffer.from(s, 'utf8');

function prefixEnd(prefix: string): Buffer {
  const b = Buffer.from(prefix, 'utf8');
  const end = Buffer.from(b);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] ?? 0) < 0xff) {
      end[i] = (end[i] ?? 0) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

function decode(kv: IKeyValue): Stored {
  const obj = JSON.parse(kv.value.toString('utf8')) as KubeObject;
  const modRevision = Number(kv.mod_revision);
  obj.metadata.resourceVersion = String(modRevision);
  return { key: kv.key.toString('utf8'), obj, modRevision };
}

function serialize(obj: KubeObject): Buffer {
  // resourceVersion is never stored: it is the key's mod revision (as in kube's etcd3 store).
  const { resourceVersion: _rv, ...metadata } = obj.metadata;
  return enc(JSON.stringify({ ...obj, metadata }));
}

function compactedRevision(e: unknown): number | undefined {
  const msg = e instanceof Error ? e.message : String(e);
  if (!/compacted/.test(msg)) return undefined;
  return 0;
}

function isFutureRevision(e: unknown): boolean {
  return /future revision/.test(e instanceof Error ? e.message : String(e));
}

function wrap(e: unknown): never {
  const msg = e instanceof Error ? e.message : String(e);
  if (/UNAVAILABLE|No connection established|ECONNREFUSED|deadline|GRPC|Unavailable|closed/i.test(msg)) {
    throw new StorageUnavailableError(`etcd is unavailable: ${msg}`);
  }
  throw e;
}

/** The etcd-backed object store. */
export class EtcdStore {
  private readonly client: Etcd3;
  private closed = false;

  constructor(conn: EtcdConnection) {
    this.client = new Etcd3({
      hosts: conn.endpoints,
      ...(conn.tls
        ? {
            credentials: {
              rootCertificate: readFileSync(conn.tls.caFile),
              certChain: readFileSync(conn.tls.certFile),
              privateKey: readFileSync(conn.tls.keyFile),
            },
            // etcd's certificates name "localhost" and the node: avoid Node's deprecated IP SNI.
            grpcOptions: { ...GRPC_OPTIONS, 'grpc.ssl_target_name_override': 'localhost', 'grpc.default_authority': 'localhost' },
          }
        : { grpcOptions: GRPC_OPTIONS }),
      dialTimeout: 2000,
      // Each call fails fast while etcd is down; the API layer answers 503 and clients retry.
      // Streams (watches, snapshots) get no deadline: a deadline would end every watch stream
      // after it and make etcd3 re-attach all watchers, which loses events under load.
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: new Date(Date.now() + 5000) }),
      faultHandling: {
        // No circuit breaker: the sandbox's API must reflect etcd's state at once (etcd stopped:
        // errors now; etcd back: works now), and a failed member is retried on the next one.
        host: () => noop,
        global: retry(handleWhen(isRecoverableError), { maxAttempts: 2 }),
        watchBackoff: new ConstantBackoff(100).next(),
      },
    });
  }

  /** Reads one key (linearizable). */
  async get(key: string): Promise<Stored | undefined> {
    try {
      const res = await this.client.kv.range({ key: enc(key) });
      const kv = res.kvs[0];
      return kv ? decode(kv) : undefined;
    } catch (e) {
      return wrap(e);
    }
  }

  /**
   * Reads one key and every key under a prefix in one transaction: one round trip, both read at
   * the same revision (the eviction subresource reads its pod and the namespace's budgets so).
   */
  async getWithPrefix(key: string, prefix: string): Promise<{ obj: Stored | undefined; items: Stored[] }> {
    try {
      const res = await this.client.kv.txn({
        compare: [],
        success: [{ request_range: { key: enc(key) } }, { request_range: { key: enc(prefix), range_end: prefixEnd(prefix) } }],
        failure: [],
      });
      const one = res.responses[0]?.response_range?.kvs[0];
      const many = res.responses[1]?.response_range?.kvs ?? [];
      return { obj: one ? decode(one) : undefined, items: many.map(decode) };
    } catch (e) {
      return wrap(e);
    }
  }

  /**
   * Lists a prefix at a revision (0 = now), from startKey, at most limit keys (0 = all). Returns
   * the revision the list was read at, as a list's resourceVersion.
   */
  async list(
    prefix: string,
    opts: { revision?: number; limit?: number; startKey?: string } = {},
  ): Promise<{ items: Stored[]; revision: number; more: boolean; remaining: number }> {
    try {
      const res = await this.client.kv.range({
        key: enc(opts.startKey ?? prefix),
        range_end: prefixEnd(prefix),
        revision: opts.revision ?? 0,
        limit: opts.limit ?? 0,
      });
      const items = res.kvs.map(decode);
      return { items, revision: Number(res.header.revision), more: res.more, remaining: Number(res.count) - items.length };
    } catch (e) {
      if (compactedRevision(e) !== undefined) throw new CompactedError(opts.revision ?? 0, await this.compactedAt());
      if (isFutureRevision(e)) throw new FutureRevisionError(opts.revision ?? 0, await this.currentRevision());
      return wrap(e);
    }
  }

  /** Creates a key that must not exist. Returns the revision written, or undefined if it exists. */
  async create(key: string, obj: KubeObject): Promise<number | undefined> {
    try {
      const res = await this.client.kv.txn({
        compare: [{ key: enc(key), target: 'Create', result: 'Equal', create_revision: 0 }],
        success: [{ request_put: { key: enc(key), value: serialize(obj) } }],
        failure: [],
      });
      return res.succeeded ? Number(res.header.revision) : undefined;
    } catch (e) {
      return wrap(e);
    }
  }

  /**
   * Replaces a key if its mod revision is still expectedModRevision. Returns the new revision, or
   * 'conflict' with the current state, or 'notfound'.
   */
  async update(
    key: string,
    obj: KubeObject,
    expectedModRevision: number,
  ): Promise<{ revision: number } | { conflict: Stored } | 'notfound'> {
    try {
      const res = await this.client.kv.txn({
        compare: [{ key: enc(key), target: 'Mod', result: 'Equal', mod_revision: expectedModRevision }],
        success: [{ request_put: { key: enc(key), value: serialize(obj) } }],
        failure: [{ request_range: { key: enc(key) } }],
      });
      if (res.succeeded) return { revision: Number(res.header.revision) };
      const kv = res.responses[0]?.response_range?.kvs[0];
      return kv ? { conflict: decode(kv) } : 'notfound';
    } catch (e) {
      return wrap(e);
    }
  }

  /** Deletes a key if its mod revision is still expectedModRevision. */
  async delete(
    key: string,
    expectedModRevision: number,
  ): Promise<{ revision: number; prev: Stored } | { conflict: Stored } | 'notfound'> {
    try {
      const res = await this.client.kv.txn({
        compare: [{ key: enc(key), target: 'Mod', result: 'Equal', mod_revision: expectedModRevision }],
        success: [{ request_delete_range: { key: enc(key), prev_kv: true } }],
        failure: [{ request_range: { key: enc(key) } }],
      });
      if (res.succeeded) {
        const prevKv = res.responses[0]?.response_delete_range?.prev_kvs[0];
        if (!prevKv) return 'notfound';
        return { revision: Number(res.header.revision), prev: decode(prevKv) };
      }
      const kv = res.responses[0]?.response_range?.kvs[0];
      return kv ? { conflict: decode(kv) } : 'notfound';
    } catch (e) {
      return wrap(e);
    }
  }

  /** The current revision of the store. */
  async currentRevision(): Promise<number> {
    try {
      const res = await this.client.kv.range({ key: enc('/registry/'), range_end: prefixEnd('/registry/'), count_only: true });
      return Number(res.header.revision);
    } catch (e) {
      return wrap(e);
    }
  }

  /** Compacts history up to revision (kube-apiserver does this every 5 minutes). */
  async compact(revision: number): Promise<void> {
    try {
      await this.client.kv.compact({ revision, physical: true });
      this.lastCompacted = Math.max(this.lastCompacted, revision);
    } catch (e) {
      if (compactedRevision(e) !== undefined) return;
      wrap(e);
    }
  }

  private lastCompacted = 0;

  /** The highest revision known to be compacted (from this store's own compactions). */
  async compactedAt(): Promise<number> {
    return this.lastCompacted;
  }

  /**
   * Watches a prefix from fromRevision (exclusive: events after it). Calls onEvent in revision
   * order; calls onError once (CompactedError when fromRevision is gone) and stops.
   * Returns a function that cancels the watch.
   */
  async watch(
    prefix: string,
    fromRevision: number,
    onEvent: (ev: StoreEvent) => void,
    onError: (e: Error) => void,
  ): Promise<() => void> {
    // etcd answers a watch on a compacted revision by cancelling it; check first so that the
    // caller gets a precise 410 instead of a generic cancellation.
    if (fromRevision > 0) {
      try {
        await this.client.kv.range({ key: enc(prefix), range_end: prefixEnd(prefix), revision: fromRevision, count_only: true });
      } catch (e) {
        if (compactedRevision(e) !== undefined) throw new CompactedError(fromRevision, await this.compactedAt());
        // A watch from a revision etcd has not reached would silently wait for it.
        if (isFutureRevision(e)) throw new FutureRevisionError(fromRevision, await this.currentRevision());
        wrap(e);
      }
    }
    const builder = this.client.watch().prefix(prefix).withPreviousKV();
    builder.startRevision(String(fromRevision + 1));
    let watcher: Watcher;
    try {
      watcher = await builder.create();
    } catch (e) {
      return wrap(e);
    }
    let stopped = false;
    watcher.on('data', (res) => {
      if (stopped) return;
      for (const ev of res.events) {
        const kv = ev.kv;
        const key = kv.key.toString('utf8');
        const revision = Number(kv.mod_revision);
        if (ev.type === 'Delete') {
          if (!ev.prev_kv) continue;
          const prev = decode(ev.prev_kv).obj;
          // A deleted object carries the deletion's revision as its resourceVersion (kube does this).
          prev.metadata.resourceVersion = String(revision);
          onEvent({ type: 'delete', key, obj: prev, prev, created: false, revision });
        } else {
          const cur = decode(kv).obj;
          const prev = ev.prev_kv ? decode(ev.prev_kv).obj : undefined;
          onEvent({ type: 'put', key, obj: cur, prev, created: kv.create_revision === kv.mod_revision, revision });
        }
      }
    });
    watcher.on('error', (e: Error) => {
      if (stopped) return;
      stopped = true;
      void watcher.cancel().catch(() => undefined);
      if (/compacted/.test(e.message)) onError(new CompactedError(fromRevision, this.lastCompacted));
      else onError(e);
    });
    return () => {
      if (stopped) return;
      stopped = true;
      void watcher.cancel().catch(() => undefined);
    };
  }

  /** Adds a member to the etcd cluster (what `kubeadm join --control-plane` does before starting it). */
  async addMember(peerUrl: string): Promise<void> {
    try {
      const list = await this.client.cluster.memberList({});
      if (list.members.some((m) => m.peerURLs.includes(peerUrl))) return;
      await this.client.cluster.memberAdd({ peerURLs: [peerUrl] });
    } catch (e) {
      wrap(e);
    }
  }

  /** Closes the etcd connection. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.close();
  }
}
