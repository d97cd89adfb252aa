// taint-eviction-controller (pkg/controller/tainteviction, the former NoExecuteTaintManager): a
// pod on a node with NoExecute taints it does not tolerate is deleted at once; one that tolerates
// them all with tolerationSeconds is deleted that many (real) seconds after the controller first
// saw it so, unless the taints go first; a toleration without tolerationSeconds keeps it forever.
// Before deleting it marks the pod with DisruptionTarget=True (DeletionByTaintManager) and records
// TaintManagerEviction, as kube does.
import { keyOf } from '../apiserver/meta.ts';
import type { Node, Pod } from '../apiserver/types.ts';
import type { Taint, Toleration } from '../../kube/types.ts';
import { QueueController } from './base.ts';
import type { ControllerContext } from './context.ts';
import { addConditionAndDeletePod } from './disruption-target.ts';
import { isPodDeleting, isPodTerminal } from './pod-util.ts';
import { podIndex, type PodIndex } from './pod-index.ts';
import type { EventRecorder } from './recorder.ts';
import { toleratesTaint } from '../../kube/scheduling.ts';

/**
 * GetMatchingTolerations + getMinTolerationTime: 'now' when some NoExecute taint is not
 * tolerated, 'never' when every used toleration is unlimited (or there are no taints), else the
 * seconds of the shortest tolerationSeconds among the tolerations used.
 */
export function evictionDelay(
  taints: readonly Taint[],
  tolerations: readonly Toleration[] | undefined,
): 'now' | 'never' | number {
  if (taints.length === 0) return 'never';
  const used: Toleration[] = [];
  for (const t of taints) {
    const tol = (tolerations ?? []).find((x) => toleratesTaint(x, t));
    if (!tol) return 'now';
    used.push(tol);
  }
  let min = Infinity;
  for (const t of used) {
    if (t.tolerationSeconds === undefined || t.tolerationSeconds === null) continue;
    if (t.tolerationSeconds <= 0) return 0;
    min = Math.min(min, t.tolerationSeconds);
  }
  return min === Infinity ? 'never' : min;
}

interface Scheduled {
  uid: string;
  createdAt: number;
  at: number;
  timer: NodeJS.Timeout;
}

const noExecute = (n: Node | undefined): Taint[] =>
  (n?.spec?.taints ?? []).filter((t) => t.effect === 'NoExecute');

/** The taint eviction controller. */
export class TaintEvictionController extends QueueController {
  private readonly index: PodIndex;
  private readonly recorder: EventRecorder;
  private readonly scheduled = new Map<string, Scheduled>();

  constructor(ctx: ControllerContext) {
    super('taint-eviction', ctx, { workers: 4 });
    this.index = podIndex(ctx.informers);
    this.recorder = ctx.recorder('taint-eviction-controller');
  }

  protected register(): void {
    this.ctx.informers.nodes.on((type, node, old) => {
      if (type === 'DELETED') return;
      if (old && JSON.stringify(noExecute(old)) === JSON.stringify(noExecute(node))) return;
      for (const p of this.index.onNode(node.metadata.name ?? '')) this.enqueue(keyOf(p));
    });
    this.ctx.informers.pods.on((type, pod, old) => {
      const key = keyOf(pod);
      if (type === 'DELETED') {
        this.cancel(key, false);
        return;
      }
      if (!pod.spec.nodeName) return;
      if (
        !old ||
        old.spec.nodeName !== pod.spec.nodeName ||
        JSON.stringify(old.spec.tolerations) !== JSON.stringify(pod.spec.tolerations)
      )
        this.enqueue(key);
    });
  }

  override stop(): void {
    for (const s of this.scheduled.values()) clearTimeout(s.timer);
    this.scheduled.clear();
    super.stop();
  }

  private cancel(key: string, record: boolean): void {
    const s = this.scheduled.get(key);
    if (!s) return;
    clearTimeout(s.timer);
    this.scheduled.delete(key);
    const pod = this.ctx.informers.pods.get(key);
    if (record && pod)
      this.recorder.event(pod, 'Normal', 'TaintManagerEviction', `Cancelling deletion of Pod ${key}`);
  }

  protected async sync(key: string): Promise<void> {
    const pod = this.ctx.informers.pods.get(key);
    if (!pod?.spec.nodeName || isPodDeleting(pod) || isPodTerminal(pod)) {
      this.cancel(key, false);
      return;
    }
    const taints = noExecute(this.ctx.informers.nodes.get(pod.spec.nodeName));
    const delay = evictionDelay(taints, pod.spec.tolerations);
    if (delay === 'never') {
      this.cancel(key, true);
      return;
    }
    if (delay === 'now' || delay === 0) {
      this.cancel(key, false);
      await this.evict(pod);
      return;
    }
    const now = this.ctx.clock.now().getTime();
    const prev = this.scheduled.get(key);
    const start = prev && prev.uid === pod.metadata.uid ? prev.createdAt : now;
    const at = start + delay * 1000;
    if (prev && prev.uid === pod.metadata.uid && prev.at <= at) return;
    if (prev) clearTimeout(prev.timer);
    const timer = setTimeout(() => {
      this.scheduled.delete(key);
      const cur = this.ctx.informers.pods.get(key);
      if (cur && cur.metadata.uid === pod.metadata.uid)
        void this.evict(cur).catch((e: unknown) => this.ctx.log(`taint-eviction: ${key}: ${String(e)}`));
    }, at - now);
    this.scheduled.set(key, { uid: pod.metadata.uid ?? '', createdAt: start, at, timer });
  }

  /** addConditionAndDeletePod. */
  private async evict(pod: Pod): Promise<void> {
    if (this.stopped) return;
    this.recorder.event(pod, 'Normal', 'TaintManagerEviction', `Marking for deletion Pod ${keyOf(pod)}`);
    await addConditionAndDeletePod(this.ctx, pod, {
      reason: 'DeletionByTaintManager',
      message: 'Taint manager: deleting due to NoExecute taint',
      fail: false,
    });
  }
}
