// Events as kube's controllers and kubelet record them (core/v1 Event, client-go record): one Event
// object per (object, reason, message), its count and lastTimestamp bumped on repeats.
import type { ApiCore } from '../apiserver/api.ts';
import { ApiError } from '../apiserver/status.ts';
import { newUid, timestamp } from '../apiserver/meta.ts';
import { resource } from '../apiserver/resources.ts';
import type { KubeEvent, KubeObject } from '../apiserver/types.ts';
import type { Clock } from '../../common/ports.ts';

/** client-go's maxQueuedEvents: the broadcaster's channel length. */
const MAX_QUEUED_EVENTS = 1000;

/** Records Events on behalf of one component ("default-scheduler", "kubelet" on a host...). */
export class EventRecorder {
  private readonly seen = new Map<string, string>();

  constructor(
    private readonly api: ApiCore,
    private readonly clock: Clock,
    private readonly source: { component: string; host?: string },
    private readonly log: (line: string) => void = () => undefined,
  ) {}

  private readonly queue: (() => Promise<void>)[] = [];
  private writing = false;

  /**
   * Records an event about obj; never throws (events are best effort, as in client-go). Like
   * client-go's broadcaster, the events of one component are written by a single writer in order,
   * behind the work that caused them, and dropped when 1,000 are already queued.
   */
  event(obj: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string): void {
    if (this.queue.length >= MAX_QUEUED_EVENTS) return;
    this.queue.push(() =>
      this.record(obj, type, reason, message).catch((e: unknown) => {
        if (!(e instanceof ApiError && (e.code === 404 || e.code === 403))) this.log(`event ${reason}: ${e instanceof Error ? e.message : String(e)}`);
      }),
    );
    if (!this.writing) void this.drain();
  }

  private async drain(): Promise<void> {
    this.writing = true;
    try {
      for (let next = this.queue.shift(); next; next = this.queue.shift()) await next();
    } finally {
      this.writing = false;
    }
  }

  private async record(obj: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const events = resource('events');
    const ns = obj.metadata.namespace || 'default';
    const now = timestamp(this.clock.now());
    const dedupe = `${obj.metadata.uid ?? ''}|${reason}|${message}`;
    const existing = this.seen.get(dedupe);
    if (existing) {
      const updated = await this.api.guaranteedUpdate(events, ns, existing, (cur) => {
        const e = cur as KubeEvent;
        e.count = (e.count ?? 1) + 1;
        e.lastTimestamp = now;
        return e;
      });
      if (updated) return;
    }
    const name = `${obj.metadata.name ?? 'unknown'}.${(this.clock.now().getTime() * 1_000_000 + Math.floor(Math.random() * 1_000_000)).toString(16)}`;
    const ev: KubeEvent = {
      metadata: { name, namespace: ns },
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
      source: this.source.host ? { component: this.source.component, host: this.source.host } : { component: this.source.component },
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
      type,
      eventTime: null,
      reportingComponent: this.source.component,
      reportingInstance: this.source.host ?? '',
    };
    await this.api.create(events, ns, ev);
    this.seen.set(dedupe, name);
    if (this.seen.size > 5000) this.seen.delete(this.seen.keys().next().value as string);
  }
}
