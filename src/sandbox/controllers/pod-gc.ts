// podgc (pkg/controller/podgc), the part a maintenance tool meets: pods bound to a node that no
// longer exists are marked Failed with DisruptionTarget=True (DeletionByPodGC) and force-deleted
// after a quarantine, so that pods of a deleted node do not stay Terminating forever (nothing
// would ever finish their graceful deletion). kube's quarantine is 40 s; the sandbox uses the
// timing profile's nodeMonitorGraceMs (50 s realistic). The terminated-pod threshold is not done.
import { keyOf } from '../apiserver/meta.ts';
import { resource } from '../apiserver/resources.ts';
import { QueueController } from './base.ts';
import type { ControllerContext } from './context.ts';
import { addConditionAndDeletePod } from './disruption-target.ts';
import { podIndex, type PodIndex } from './pod-index.ts';

const nodes = resource('nodes');

/** The pod garbage collector for orphaned pods. */
export class PodGCController extends QueueController {
  private readonly index: PodIndex;

  constructor(ctx: ControllerContext) {
    super('pod-gc', ctx, { workers: 4 });
    this.index = podIndex(ctx.informers);
  }

  private get quarantineMs(): number {
    return this.ctx.timing.nodeMonitorGraceMs;
  }

  protected register(): void {
    this.ctx.informers.nodes.on((type, node) => {
      if (type !== 'DELETED') return;
      for (const p of this.index.onNode(node.metadata.name ?? ''))
        this.enqueueAfter(keyOf(p), this.quarantineMs);
    });
    this.ctx.informers.pods.on((type, pod, old) => {
      if (type === 'DELETED' || !pod.spec.nodeName || old?.spec.nodeName === pod.spec.nodeName) return;
      if (this.ctx.informers.nodes.hasSynced && !this.ctx.informers.nodes.get(pod.spec.nodeName))
        this.enqueueAfter(keyOf(pod), this.quarantineMs);
    });
  }

  protected async sync(key: string): Promise<void> {
    const pod = this.ctx.informers.pods.get(key);
    const node = pod?.spec.nodeName;
    if (!pod || !node || this.ctx.informers.nodes.get(node)) return;
    if (await this.ctx.api.tryGet(nodes, undefined, node)) return;
    await addConditionAndDeletePod(this.ctx, pod, {
      reason: 'DeletionByPodGC',
      message: 'PodGC: node no longer exists',
      fail: true,
    });
  }
}
