// Events as kube's controllers and kubelet record them (core/v1 Event, client-go tools/record):
// - one writer per component, in order, behind the work that caused them; beyond 1,000 queued
//   events new ones are dropped (the broadcaster's channel);
// - the EventCorrelator (events_cache.go): a repeat of the same event bumps count and
//   lastTimestamp; more than 10 different messages for the same object and reason within 10
//   minutes become one "(combined from similar events)" event; a source may write 25 events about
//   one object, then one every 5 minutes (the spam filter: the rest are dropped);
// - the component's API client for events limits its write rate (a token bucket: the kubelet's
//   eventRecordQPS/eventBurst, the scheduler's client connection). Writes wait for a token.
import type { ApiCore } from '../apiserver/api.ts';
import { ApiError } from '../apiserver/status.ts';
import { newUid, timestamp } from '../apiserver/meta.ts';
import { resource } from '../apiserver/resources.ts';
import type { KubeEvent, KubeObject } from '../apiserver/types.ts';
import type { Clock } from '../../common/ports.ts';

/** client-go's maxQueuedEvents: the broadcaster's channel length. */
const MAX_QUEUED_EVENTS = 1000;
/** events_cache.go: maxLruCacheEntries. */
const LRU_ENTRIES = 4096;
/** events_cache.go: defaultAggregateMaxEvents, defaultAggregateIntervalInSeconds. */
const AGGREGATE_MAX_EVENTS = 10;
const AGGREGATE_INTERVAL_MS = 600_000;
/** events_cache.go: defaultSpamBurst, defaultSpamQPS. */
const SPAM_BURST = 25;
const SPAM_QPS = 1 / 300;

/** A client's rate limit: queries per second and burst (client-go's token bucket). */
export interface RateLimit {
  qps: number;
  burst: number;
}

/**
 * The components whose events go through a client of their own, with its own rate limit: the
 * kubelet's eventRecordQPS/eventBurst, and the scheduler's event client (its clientConnection's
 * qps/burst). kube-controller-manager's controllers write events through their main client, whose
 * limits the sandbox does not model for any request, so their events are not limited either.
 */
export const EVENT_CLIENT_LIMITS: Readonly<Record<string, RateLimit>> = {
  kubelet: { qps: 50, burst: 100 },
  'default-scheduler': { qps: 50, burst: 100 },
};

/** flowcontrol's token bucket: starts full, refills at qps, holds at most burst. */
class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly limit: RateLimit,
    now: number,
  ) {
    this.tokens = limit.burst;
    this.last = now;
  }

  private refill(now: number): void {
    this.tokens = Math.min(this.limit.burst, this.tokens + ((now - this.last) / 1000) * this.limit.qps);
    this.last = now;
  }

  /** Takes a token if there is one (TryAccept). */
  tryTake(now: number): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Takes a token, possibly borrowed from the future; returns how long to wait for it (Wait). */
  reserve(now: number): number {
    this.refill(now);
    this.tokens -= 1;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens / this.limit.qps) * 1000);
  }
}

/** A Map used as an LRU cache of at most LRU_ENTRIES. */
function lruGet<V>(m: Map<string, V>, k: string): V | undefined {
  const v = m.get(k);
  if (v !== undefined) {
    m.delete(k);
    m.set(k, v);
  }
  return v;
}
function lruSet<V>(m: Map<string, V>, k: string, v: V): void {
  m.delete(k);
  m.set(k, v);
  if (m.size > LRU_ENTRIES) m.delete(m.keys().next().value as string);
}

type Source = { component: string; host?: string };

/** Records Events on behalf of one component ("default-scheduler", "kubelet" on a host...). */
export class EventRecorder {
  private readonly queue: KubeEvent[] = [];
  private writing = false;
  /** eventLogger: the Event written for a key, to bump instead of writing again. */
  private readonly written = new Map<string, { name: string; count: number; firstTimestamp: string }>();
  /** EventAggregator: the messages seen per aggregate key. */
  private readonly similar = new Map<string, { messages: Set<string>; last: number }>();
  /** EventSourceObjectSpamFilter: a token bucket per source and object. */
  private readonly spam = new Map<string, TokenBucket>();
  private readonly client: TokenBucket | undefined;
  private lastNanos = 0n;

  constructor(
    private readonly api: Pick<ApiCore, 'create' | 'guaranteedUpdate'>,
    private readonly clock: Clock,
    private readonly source: Source,
    private readonly log: (line: string) => void = () => undefined,
    /** The event client's rate limit; none when undefined. */
    rateLimit?: RateLimit,
  ) {
    this.client = rateLimit ? new TokenBucket(rateLimit, clock.now().getTime()) : undefined;
  }

  /** Records an event about obj; never throws (events are best effort, as in client-go). */
  event(obj: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string): void {
    if (this.queue.length >= MAX_QUEUED_EVENTS) return;
    const now = timestamp(this.clock.now());
    this.queue.push({
      metadata: { name: '', namespace: obj.metadata.namespace || 'default' },
      involvedObject: {
        kind: obj.kind ?? '',
        namespace: obj.metadata.namespace ?? '',
        name: obj.metadata.name ?? '',
        uid: obj.metadata.uid ?? newUid(),
        apiVersion: obj.apiVersion ?? 'v1',
        resourceVersion: obj.metadata.resourceVersion ?? '',
      },
      reason,
      message,
      source: this.source.host
        ? { component: this.source.component, host: this.source.host }
        : { component: this.source.component },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
      type,
      eventTime: null,
      reportingComponent: this.source.component,
      reportingInstance: this.source.host ?? '',
    });
    if (!this.writing) void this.drain();
  }

  private async drain(): Promise<void> {
    this.writing = true;
    try {
      for (let next = this.queue.shift(); next; next = this.queue.shift()) {
        const ev = next;
        await this.record(ev).catch((e: unknown) => {
          if (!(e instanceof ApiError && (e.code === 404 || e.code === 403)))
            this.log(`event ${ev.reason ?? ''}: ${e instanceof Error ? e.message : String(e)}`);
        });
      }
    } finally {
      this.writing = false;
    }
  }

  /** EventCorrelator.EventCorrelate, then the write (a bump of an existing Event, or a create). */
  private async record(ev0: KubeEvent): Promise<void> {
    const nowMs = this.clock.now().getTime();
    const { event: ev, key } = this.aggregate(ev0, nowMs);
    const seen = lruGet(this.written, key);
    if (seen) {
      ev.metadata.name = seen.name;
      ev.count = seen.count + 1;
      ev.firstTimestamp = seen.firstTimestamp;
    } else {
      ev.metadata.name = `${ev.involvedObject.name || 'unknown'}.${this.nanos(nowMs).toString(16)}`;
    }
    lruSet(this.written, key, {
      name: ev.metadata.name ?? '',
      count: ev.count ?? 1,
      firstTimestamp: ev.firstTimestamp ?? '',
    });
    if (this.spammed(ev, nowMs)) return;
    if (this.client) {
      const wait = this.client.reserve(nowMs);
      if (wait > 0) await this.clock.sleep(wait);
    }
    const events = resource('events');
    const ns = ev.metadata.namespace ?? 'default';
    if (seen) {
      const updated = await this.api.guaranteedUpdate(events, ns, seen.name, (cur) => {
        const e = cur as KubeEvent;
        e.count = ev.count;
        e.message = ev.message;
        e.lastTimestamp = ev.lastTimestamp;
        return e;
      });
      if (updated) return;
    }
    await this.api.create(events, ns, ev);
  }

  /**
   * The nanosecond stamp in an Event's name, as client-go's `%v.%x` of t.UnixNano(). The clock has
   * milliseconds: the rest is random, and kept in a BigInt (a double holds only 16 digits, so
   * milliseconds times a million plus a random part took about 3,900 values in one millisecond,
   * and events written together got the same name). One recorder never repeats a stamp.
   */
  private nanos(nowMs: number): bigint {
    let n = BigInt(nowMs) * 1_000_000n + BigInt(Math.floor(Math.random() * 1_000_000));
    if (n <= this.lastNanos) n = this.lastNanos + 1n;
    this.lastNanos = n;
    return n;
  }

  /** EventAggregate: past 10 different messages for one object and reason, one combined event. */
  private aggregate(ev: KubeEvent, nowMs: number): { event: KubeEvent; key: string } {
    const o = ev.involvedObject;
    const s = ev.source ?? {};
    const aggregateKey = [
      s.component,
      s.host,
      o.kind,
      o.namespace,
      o.name,
      o.uid,
      o.apiVersion,
      ev.type,
      ev.reason,
      ev.reportingComponent,
      ev.reportingInstance,
    ].join('\u0000');
    const eventKey = [
      s.component,
      s.host,
      o.kind,
      o.namespace,
      o.name,
      o.fieldPath,
      o.uid,
      o.apiVersion,
      ev.type,
      ev.reason,
      ev.message,
    ].join('\u0000');
    let rec = lruGet(this.similar, aggregateKey);
    if (!rec || nowMs - rec.last > AGGREGATE_INTERVAL_MS) rec = { messages: new Set(), last: nowMs };
    rec.messages.add(ev.message ?? '');
    rec.last = nowMs;
    lruSet(this.similar, aggregateKey, rec);
    if (rec.messages.size < AGGREGATE_MAX_EVENTS) return { event: ev, key: eventKey };
    // Keep the set at its maximum (PopAny), and write the combined event under the aggregate key.
    rec.messages.delete(rec.messages.values().next().value as string);
    return {
      event: { ...ev, message: `(combined from similar events): ${ev.message ?? ''}` },
      key: aggregateKey,
    };
  }

  /** EventSourceObjectSpamFilter.Filter: true when this source has used up its events for the object. */
  private spammed(ev: KubeEvent, nowMs: number): boolean {
    const o = ev.involvedObject;
    const s = ev.source ?? {};
    const key = [s.component, s.host, o.kind, o.namespace, o.name, o.uid, o.apiVersion].join('\u0000');
    let bucket = lruGet(this.spam, key);
    if (!bucket) bucket = new TokenBucket({ qps: SPAM_QPS, burst: SPAM_BURST }, nowMs);
    lruSet(this.spam, key, bucket);
    return !bucket.tryTake(nowMs);
  }
}
