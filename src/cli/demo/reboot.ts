// The demo's rolling-reboot chapter: three workers are flagged as an OS upgrade flags them (the
// reboot sentinel), and the bosun agent rolls them one at a time: lock, cordon, drain, reboot,
// healthy, uncordon, release, the next node starting as soon as the lock is free. One of them runs
// a pod the agents are told not to interrupt (blockingPodSelector): it waits, without holding the
// lock, until that pod is gone. The agent is installed as on a real cluster: bosun's Helm chart
// (deploy/helm/bosun) with the real helm, as `bosun sandbox up --agent` installs it; the sandbox's
// kubelets run its DaemonSet's pods as real agent processes, one per node, restarted after each
// reboot. Progress is printed live from a watch of the Nodes.
import { writeFileSync } from 'node:fs';
import { BosunError } from '../../common/errors.ts';
import { REBOOT_STATE } from '../../kube/annotations.ts';
import { createNodePods } from '../../kube/node-pods.ts';
import { createNodeWatch } from '../../kube/node-watch.ts';
import type { Node, Pod, PodDisruptionBudget } from '../../kube/types.ts';
import { listWatch } from '../../kube/watch.ts';
import type { DemoChapter } from './context.ts';

const HOLD_LABEL = 'demo.bosun.dev/hold';
/** The demo workload's namespace whose budget allows no disruption (postgres). */
const GUARDED_NAMESPACE = 'data';

function stateOf(n: Node): { state: string; reason?: string } {
  try {
    const r = JSON.parse(n.metadata.annotations?.[REBOOT_STATE] ?? '{}') as {
      state?: string;
      reason?: string;
    };
    return { state: r.state ?? 'idle', ...(r.reason ? { reason: r.reason } : {}) };
  } catch {
    return { state: 'idle' };
  }
}

/** The rolling-reboot chapter. */
export const rebootChapter: DemoChapter = {
  title: 'Rolling reboots: the bosun agent',
  async run(d) {
    const kube = createNodePods(d.kube);
    const { kubeRequest } = await import('../../kube/client.ts');
    const pods = (await kube.listPods()).items;
    const guarded = new Set(
      pods.filter((p: Pod) => p.metadata.namespace === GUARDED_NAMESPACE).map((p) => p.spec?.nodeName),
    );
    const workers = (await kube.listNodes())
      .map((n) => n.metadata.name ?? '')
      .filter((n) => n.startsWith('worker-'))
      .sort((a, b) => Number(guarded.has(a)) - Number(guarded.has(b)) || a.localeCompare(b))
      .slice(0, 3)
      .sort();
    if (workers.length < 2) throw new BosunError('the chapter needs two workers', 'INTERNAL');
    const held = workers.find((n) => !guarded.has(n)) ?? (workers[0] as string);

    // postgres's budget allows no disruption at all (chapter 3 showed the drain it stops). For the
    // patch night its owners allow one replica down at a time, which one node at a time keeps.
    const budgets = `/apis/policy/v1/namespaces/${GUARDED_NAMESPACE}/poddisruptionbudgets`;
    const strict = (
      (await kubeRequest<{ items?: PodDisruptionBudget[] }>(d.kube, { method: 'GET', path: budgets }))
        .items ?? []
    ).filter((b) => b.spec?.maxUnavailable === 0);
    const setBudgets = async (maxUnavailable: number): Promise<void> => {
      for (const b of strict)
        await kubeRequest(d.kube, {
          method: 'PATCH',
          path: `${budgets}/${b.metadata.name ?? ''}`,
          body: { spec: { maxUnavailable } },
          contentType: 'application/merge-patch+json',
        });
    };
    if (strict.length > 0) {
      d.say(
        `For the patch night, ${strict.map((b) => `${GUARDED_NAMESPACE}/${b.metadata.name ?? ''}`).join(', ')} allows one replica down at a time (maxUnavailable: 1).`,
      );
      await setBudgets(1);
    }

    d.say(
      `An OS upgrade left ${workers.join(', ')} needing a reboot (/var/run/reboot-required on each host).`,
    );
    d.say(
      `${held} also runs a backup job the agents must not interrupt (pods labelled ${HOLD_LABEL}=reboot):`,
    );
    const blocker = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'nightly-backup', namespace: 'default', labels: { [HOLD_LABEL]: 'reboot' } },
      spec: { nodeName: held, containers: [{ name: 'backup', image: 'registry.k8s.io/pause:3.10' }] },
    };
    await kubeRequest(d.kube, { method: 'POST', path: '/api/v1/namespaces/default/pods', body: blocker });

    // The chart, with the sandbox's fast timings (as `sandbox up --agent` installs it) and the
    // demo's settings: one node at a time, the backup's pods block, and the demo's workloads (pods
    // with emptyDir volumes, bare pods) may be drained.
    const { AGENT_CHART, installAgentChart } = await import('../../sandbox/index.ts');
    d.say('');
    d.say(
      "The agent is installed as on a real cluster: bosun's Helm chart, a DaemonSet with one agent per node.",
    );
    const chart = {
      ...AGENT_CHART,
      values: [
        ...AGENT_CHART.values,
        'concurrency=1',
        `blockingPodSelector={${HOLD_LABEL}=reboot}`,
        'deleteEmptydirData=true',
        'force=true',
      ],
    };
    await installAgentChart(
      { dir: d.sandbox.layout.dir, kubeconfig: d.sandbox.kubeconfig, chart },
      { exec: d.cli.exec, env: d.cli.env, progress: (l) => d.show(`$ ${l}`), signal: d.cli.signal },
    );
    // helm --wait counts a DaemonSet ready with maxUnavailable of its pods not Ready yet: the
    // chapter waits for every node's agent, so that each flag below is seen by its agent at once.
    const nodeCount = (await kube.listNodes()).length;
    const readyAgents = async (): Promise<Pod[]> =>
      (await kube.listPods({ namespace: AGENT_CHART.namespace })).items.filter((p) =>
        p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      );
    const podsDeadline = d.cli.clock.now().getTime() + 120_000;
    let agentPods = await readyAgents();
    while (agentPods.length < nodeCount) {
      if (d.cli.signal.aborted) throw new BosunError('interrupted', 'INTERRUPTED');
      if (d.cli.clock.now().getTime() > podsDeadline)
        throw new BosunError(
          `timed out waiting for the agent pods: ${agentPods.length} of ${nodeCount} Ready`,
          'INTERNAL',
        );
      await new Promise((r) => setTimeout(r, 250));
      agentPods = await readyAgents();
    }
    d.show(
      `${agentPods.length} agent pods Ready (${AGENT_CHART.namespace}), on ${agentPods
        .map((p) => p.spec?.nodeName ?? '')
        .sort()
        .join(', ')}`,
    );

    const ctl = new AbortController();
    const stopAll = (): void => ctl.abort();
    d.cli.signal.addEventListener('abort', stopAll, { once: true });

    // Live progress: every state an agent records on its Node, as it records it.
    const seen = new Map<string, string>();
    const boots = new Map<string, string>();
    let wake: () => void = () => undefined;
    const t0 = d.cli.clock.now().getTime();
    const watch = createNodeWatch(d.kube);
    const onNode = (n: Node): void => {
      const name = n.metadata.name ?? '';
      if (!workers.includes(name)) return;
      if (!boots.has(name)) boots.set(name, n.status?.nodeInfo?.bootID ?? '');
      const s = stateOf(n);
      const line = `${s.state}${s.reason && s.state !== 'draining' ? `: ${s.reason}` : ''}`;
      if (seen.get(name) === line) return;
      const first = !seen.has(name);
      seen.set(name, line);
      if (!first) {
        const at = ((d.cli.clock.now().getTime() - t0) / 1000).toFixed(1).padStart(5);
        d.show(`${at}s  ${name.padEnd(10)} ${line}`);
      }
      wake();
    };
    // The boot IDs before the flags, and the states the progress starts from: read now, not left to
    // the watch's first list, which may arrive after the flags (a node would then look rebooted).
    for (const n of await kube.listNodes()) onNode(n);
    const watching = listWatch<Node>(
      {
        list: () => watch.nodeList(),
        watch: (rv, on, signal) => watch.watchNodes({ resourceVersion: rv }, on, signal),
      },
      { onList: (items) => items.forEach(onNode), onEvent: (e) => onNode(e.object) },
      { clock: d.cli.clock, signal: ctl.signal },
    ).catch(() => undefined);
    const until = async (pred: () => Promise<boolean>, what: string): Promise<void> => {
      const deadline = d.cli.clock.now().getTime() + 120_000;
      while (!(await pred())) {
        if (ctl.signal.aborted) throw new BosunError('interrupted', 'INTERRUPTED');
        if (d.cli.clock.now().getTime() > deadline)
          throw new BosunError(`timed out waiting for ${what}`, 'INTERNAL');
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 1000);
        });
      }
    };
    const rebooted = async (n: string): Promise<boolean> => {
      const node = await kube.getNode(n);
      return (
        (node.status?.nodeInfo?.bootID ?? '') !== boots.get(n) &&
        stateOf(node).state === 'idle' &&
        node.spec?.unschedulable !== true
      );
    };
    try {
      d.say('');
      d.say(`One node at a time (concurrency=1). Flagging the three nodes now:`);
      for (const n of workers) writeFileSync(d.sandbox.layout.host(n).rebootRequired, '');
      const others = workers.filter((n) => n !== held);
      await until(async () => (await Promise.all(others.map(rebooted))).every(Boolean), 'the other nodes');
      d.say('');
      d.say(`${held} waits for its backup, without holding the lock. bosun reboot status, from any machine:`);
      await d.bosun(['reboot', 'status']);
      d.say('');
      d.say('The backup finishes (its pod goes away), and the agent takes its turn at once:');
      await kube.deletePod('default', 'nightly-backup', { gracePeriodSeconds: 0 });
      await until(() => rebooted(held), held);
      d.say('');
      d.say(
        `All ${workers.length === 3 ? 'three' : workers.length} rebooted once, healthy and schedulable again; the next node always started as soon as`,
      );
      d.say('the previous one released the lock (a watch, not a period).');
    } finally {
      ctl.abort();
      d.cli.signal.removeEventListener('abort', stopAll);
      await watching;
      await kube.deletePod('default', 'nightly-backup', { gracePeriodSeconds: 0 }).catch(() => undefined);
      if (strict.length > 0) await setBudgets(0);
    }
  },
};
