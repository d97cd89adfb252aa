// The demo's node maintenance chapter: the pre-flight that predicts a drain which could never
// finish (a PodDisruptionBudget that allows no disruption at all) and stops before the node is
// even cordoned, then a whole maintenance cycle on another worker: cordon, drain, reboot through
// the node's own shim, wait until it is healthy, uncordon, wait until its workloads are back.
import { BosunError } from '../../common/errors.ts';
import { createNodePods } from '../../kube/node-pods.ts';
import type { NodePods } from '../../kube/ports.ts';
import type { Pod } from '../../kube/types.ts';
import { demoWorkload } from '../../sandbox/index.ts';
import type { DemoChapter } from './context.ts';

async function workerPods(kube: NodePods): Promise<Map<string, Pod[]>> {
  const pods = await kube.listPods();
  const by = new Map<string, Pod[]>();
  for (const p of pods.items) {
    const n = p.spec?.nodeName;
    if (!n?.startsWith('worker-')) continue;
    by.set(n, [...(by.get(n) ?? []), p]);
  }
  return by;
}

/** The namespace of the demo workload whose PodDisruptionBudget allows no disruption (postgres). */
const GUARDED_NAMESPACE = 'data';
const guarded = (p: Pod): boolean => p.metadata?.namespace === GUARDED_NAMESPACE;

/**
 * How many pods of the demo workload run under the budget that allows no disruption: the chapter
 * needs one worker more than that, one that runs none of them.
 */
export function guardedReplicas(): number {
  let n = 0;
  for (const [resource, namespace, obj] of demoWorkload()) {
    if (namespace !== GUARDED_NAMESPACE) continue;
    const replicas = (obj as { spec?: { replicas?: unknown } }).spec?.replicas;
    if (resource === 'pods') n++;
    else if (typeof replicas === 'number' && resource !== 'poddisruptionbudgets') n += replicas;
  }
  return n;
}
const bare = (p: Pod): boolean => (p.metadata?.ownerReferences ?? []).length === 0;

async function bootId(kube: NodePods, node: string): Promise<string> {
  return (await kube.getNode(node)).status?.nodeInfo?.bootID ?? '';
}

/** The node maintenance chapter. */
export const maintainChapter: DemoChapter = {
  title: 'Node maintenance: cordon, drain, reboot, uncordon',
  async run(d) {
    const kube = createNodePods(d.kube);
    const by = await workerPods(kube);
    const workers = [...by.keys()].sort();
    const blocked = workers.find((w) => (by.get(w) ?? []).some(guarded));
    const target =
      workers.find((w) => !(by.get(w) ?? []).some(guarded) && !(by.get(w) ?? []).some(bare)) ??
      workers.find((w) => !(by.get(w) ?? []).some(guarded));
    if (!blocked || !target)
      throw new BosunError('the demo workload is not spread as the chapter needs', 'INTERNAL');

    d.say(
      `${blocked} runs a postgres replica whose PodDisruptionBudget allows no disruption at all. kubectl drain`,
    );
    d.say(
      'would cordon the node and retry that eviction until its timeout. bosun predicts it before it touches anything:',
    );
    await d.bosun(['drain', blocked, '--ignore-daemonsets', '--delete-emptydir-data', '--check'], {
      allowFailure: true,
    });
    d.say('');
    d.say('Without --check the drain stops at the same prediction, and the node is not even cordoned:');
    const refused = await d.bosun(['drain', blocked, '--ignore-daemonsets', '--delete-emptydir-data'], {
      allowFailure: true,
    });
    const node = await kube.getNode(blocked);
    if (refused.code === 0 || node.spec?.unschedulable)
      throw new BosunError(`the drain of ${blocked} was expected to stop before the cordon`, 'INTERNAL');
    d.say(`(${blocked} is still schedulable: ${node.spec?.unschedulable ? 'no' : 'yes'})`);

    d.say('');
    d.say(
      `${target} is next: a whole maintenance cycle, with the reboot run through the node's own shim (--on-node).`,
    );
    d.say(
      'bosun cordons and drains it, reboots it, waits until it is back with a new boot ID and healthy, uncordons',
    );
    d.say(
      'it, and waits until the workloads it evicted are Ready again, so the next node is never taken too early:',
    );
    const before = await bootId(kube, target);
    await d.bosun([
      'maintain',
      target,
      '--ignore-daemonsets',
      '--delete-emptydir-data',
      '--force',
      '--health-settle',
      '1s',
      '--on-node',
      '--',
      'reboot',
    ]);
    const after = await bootId(kube, target);
    const n = await kube.getNode(target);
    const ready = (n.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
    if (before === after || !ready || n.spec?.unschedulable)
      throw new BosunError(`${target} did not come back rebooted, Ready and schedulable`, 'INTERNAL');
    d.say(`${target}: boot ID ${before.slice(0, 8)}… -> ${after.slice(0, 8)}…, Ready, schedulable again.`);
  },
};
