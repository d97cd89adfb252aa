// The sandbox's storage: Kubernetes objects as JSON values in a real etcd, under
// /registry/<resource>/<namespace>/<name>, with resourceVersion = the etcd mod revision, optimistic
// concurrency through etcd transactions and watches from a revision (k8s.io/apiserver's etcd3
// store does the same with protobuf values). Knows nothing of Kubernetes semantics beyond that.
import { readFileSync } from 'node:fs';
import { EtcdKvClient, isTransportError, type KvWatch } from '../../etcd/kv-client.ts';
import { prefixEnd, type KeyValue, type WatchResponse } from '../../etcd/kv-wire.ts';
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

function decode(kv: KeyValue): Stored {
  const obj = JSON.parse(
    Buffer.from(kv.value.buffer, kv.value.byteOffset, kv.value.byteLength).toString('utf8'),
  ) as KubeObject;
  obj.metadata.resourceVersion = String(kv.modRevision);
  return { key: kv.key, obj, modRevision: kv.modRevision };
}

function serialize(obj: KubeObject): Buffer {
  // resourceVersion is never stored: it is the key's mod revision (as in kube's etcd3 store).
  const { resourceVersion: _rv, ...metadata } = obj.metadata;
  return Buffer.from(JSON.stringify({ ...obj, metadata }), 'utf8');
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
  if (isTransportError(e) || /UNAVAILABLE|ECONNREFUSED|ECONNRESET|timed out|deadline|closed/i.test(msg)) {
    throw new StorageUnavailableError(`etcd is unavailable: ${msg}`);
  }
  throw e;
}

/** etcd3's watch backoff: a watch whose stream failed is opened again after this long. */
const WATCH_RETRY_MS = 100;

/** The etcd-backed object store. */
export class EtcdStore {
  private readonly client: EtcdKvClient;
  private closed = false;

  constructor(conn: EtcdConnection) {
    this.client = new EtcdKvClient(
      conn.endpoints,
      conn.tls
        ? {
            ca: readFileSync(conn.tls.caFile),
            cert: readFileSync(conn.tls.certFile),
            key: readFileSync(conn.tls.keyFile),
          }
        : null,
    );
  }

  /** Reads one key (linearizable). */
  async get(key: string): Promise<Stored | undefined> {
    try {
      const kv = (await this.client.range({ key })).kvs[0];
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
      const res = await this.client.txn({
        compare: [],
        success: [{ range: { key } }, { range: { key: prefix, rangeEnd: prefixEnd(prefix) } }],
        failure: [],
      });
      const one = res.responses[0]?.range?.kvs[0];
      const many = res.responses[1]?.range?.kvs ?? [];
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
      const res = await this.client.range({
        key: opts.startKey ?? prefix,
        rangeEnd: prefixEnd(prefix),
        revision: opts.revision ?? 0,
        limit: opts.limit ?? 0,
      });
      const items = res.kvs.map(decode);
      return { items, revision: res.revision, more: res.more, remaining: res.count - items.length };
    } catch (e) {
      if (compactedRevision(e) !== undefined)
        throw new CompactedError(opts.revision ?? 0, await this.compactedAt());
      if (isFutureRevision(e))
        throw new FutureRevisionError(opts.revision ?? 0, await this.currentRevision());
      return wrap(e);
    }
  }

  /** Creates a key that must not exist. Returns the revision written, or undefined if it exists. */
  async create(key: string, obj: KubeObject): Promise<number | undefined> {
    try {
      const res = await this.client.txn({
        compare: [{ key, target: 'create', revision: 0 }],
        success: [{ put: { key, value: serialize(obj) } }],
        failure: [],
      });
      return res.succeeded ? res.revision : undefined;
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
      const res = await this.client.txn({
        compare: [{ key, target: 'mod', revision: expectedModRevision }],
        success: [{ put: { key, value: serialize(obj) } }],
        failure: [{ range: { key } }],
      });
      if (res.succeeded) return { revision: res.revision };
      const kv = res.responses[0]?.range?.kvs[0];
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
      const res = await this.client.txn({
        compare: [{ key, target: 'mod', revision: expectedModRevision }],
        success: [{ deleteRange: { key, prevKv: true } }],
        failure: [{ range: { key } }],
      });
      if (res.succeeded) {
        const prevKv = res.responses[0]?.deleteRange?.prevKvs[0];
        if (!prevKv) return 'notfound';
        return { revision: res.revision, prev: decode(prevKv) };
      }
      const kv = res.responses[0]?.range?.kvs[0];
      return kv ? { conflict: decode(kv) } : 'notfound';
    } catch (e) {
      return wrap(e);
    }
  }

  /** The current revision of the store. */
  async currentRevision(): Promise<number> {
    try {
      return (
        await this.client.range({ key: '/registry/', rangeEnd: prefixEnd('/registry/'), countOnly: true })
      ).revision;
    } catch (e) {
      return wrap(e);
    }
  }

  /** Compacts history up to revision (kube-apiserver does this every 5 minutes). */
  async compact(revision: number): Promise<void> {
    try {
      await this.client.compact(revision, true);
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

  /** Fails with CompactedError or FutureRevisionError when a watch could not start from fromRevision. */
  private async checkWatchable(prefix: string, fromRevision: number): Promise<void> {
    // etcd answers a watch on a compacted revision by cancelling it; check first so that the
    // caller gets a precise 410 instead of a generic cancellation.
    try {
      await this.client.range({
        key: prefix,
        rangeEnd: prefixEnd(prefix),
        revision: fromRevision,
        countOnly: true,
      });
    } catch (e) {
      if (compactedRevision(e) !== undefined)
        throw new CompactedError(fromRevision, await this.compactedAt());
      // A watch from a revision etcd has not reached would silently wait for it.
      if (isFutureRevision(e)) throw new FutureRevisionError(fromRevision, await this.currentRevision());
      wrap(e);
    }
  }

  /**
   * Watches a prefix from fromRevision (exclusive: events after it). Calls onEvent in revision
   * order; calls onError once (CompactedError when fromRevision is gone) and stops. A stream that
   * fails in transport (etcd restarted, a member lost) is opened again from the last revision seen,
   * every 100 ms until it works, as etcd's clients do; the caller sees no gap.
   * Returns a function that cancels the watch.
   */
  async watch(
    prefix: string,
    fromRevision: number,
    onEvent: (ev: StoreEvent) => void,
    onError: (e: Error) => void,
  ): Promise<() => void> {
    if (fromRevision > 0) await this.checkWatchable(prefix, fromRevision);
    let last = fromRevision;
    let stopped = false;
    let stream: KvWatch | undefined;
    let retry: NodeJS.Timeout | undefined;
    const fail = (e: Error): void => {
      if (stopped) return;
      stopped = true;
      stream?.cancel();
      onError(e);
    };
    const onResponse = (res: WatchResponse): void => {
      if (stopped) return;
      if (res.canceled) {
        const reason = res.cancelReason || 'the watch was cancelled by etcd';
        fail(
          res.compactRevision > 0 || /compacted/.test(reason)
            ? new CompactedError(fromRevision, Math.max(this.lastCompacted, res.compactRevision))
            : new Error(reason),
        );
        return;
      }
      for (const ev of res.events) {
        const kv = ev.kv;
        const revision = kv.modRevision;
        last = revision;
        if (ev.type === 'delete') {
          if (!ev.prevKv) continue;
          const prev = decode(ev.prevKv).obj;
          // A deleted object carries the deletion's revision as its resourceVersion (kube does this).
          prev.metadata.resourceVersion = String(revision);
          onEvent({ type: 'delete', key: kv.key, obj: prev, prev, created: false, revision });
        } else {
          const cur = decode(kv).obj;
          const prev = ev.prevKv ? decode(ev.prevKv).obj : undefined;
          onEvent({
            type: 'put',
            key: kv.key,
            obj: cur,
            prev,
            created: kv.createRevision === kv.modRevision,
            revision,
          });
        }
      }
    };
    const open = (): void => {
      retry = undefined;
      if (stopped || this.closed) return;
      try {
        stream = this.client.watch(
          { key: prefix, rangeEnd: prefixEnd(prefix), startRevision: last + 1, prevKv: true },
          onResponse,
          (e) => {
            if (stopped || this.closed) return;
            if (isTransportError(e)) retry = setTimeout(open, WATCH_RETRY_MS);
            else fail(e);
          },
        );
      } catch (e) {
        fail(e instanceof Error ? e : new Error(String(e)));
      }
    };
    open();
    return () => {
      if (stopped) return;
      stopped = true;
      if (retry) clearTimeout(retry);
      stream?.cancel();
    };
  }

  /** Adds a member to the etcd cluster (what `kubeadm join --control-plane` does before starting it). */
  async addMember(peerUrl: string): Promise<void> {
    try {
      const members = await this.client.memberList();
      if (members.some((m) => m.peerURLs.includes(peerUrl))) return;
      await this.client.memberAdd([peerUrl]);
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
