// Is a node healthy again after maintenance? The maintain workflow uncordons only when every check
// passes: Ready is True; the kubelet's heartbeat Lease in kube-node-lease was renewed recently (and
// the kubelet was heard from after the work finished, by the Lease or its node status, so a node
// about to reboot is not mistaken for healthy); no not-ready or
// unreachable taint; every DaemonSet that had a pod there has a Running, Ready pod again; and, when
// a reboot was expected, a new boot ID. Also formats the diagnosis printed when it never gets
// there. Pure.
import type { Event, Lease, Node, Pod } from '../kube/types.ts';
import { controllerOf, isPodReady } from '../kube/pods.ts';

/** Taints the node lifecycle controller sets on a node that is not healthy. */
export const UNHEALTHY_TAINTS = ['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable'] as const;

/** The namespace of node heartbeat Leases. */
export const NODE_LEASE_NAMESPACE = 'kube-node-lease';

/** What the check reads. */
export interface HealthInput {
  node: Node;
  /** The node's Lease in kube-node-lease; undefined when it does not exist. */
  lease: Lease | undefined;
  /** Pods on the node. */
  pods: readonly Pod[];
  now: Date;
  /** The heartbeat must be newer than this (when the work finished). */
  since?: Date | undefined;
  /** A reboot was expected: the boot ID must differ from this. */
  bootIdBefore?: string | undefined;
  expectReboot: boolean;
  /** DaemonSets ("namespace/name") that must have a Running, Ready pod on the node. */
  daemonSets: readonly string[];
}

/** The verdict. */
export interface HealthVerdict {
  healthy: boolean;
  /** One line per failed check. */
  problems: string[];
}

function parseTime(t: string | null | undefined): number | undefined {
  if (t === undefined || t === null) return undefined;
  const v = Date.parse(t);
  return Number.isNaN(v) ? undefined : v;
}

/** Checks a node's health after maintenance. */
export function checkNodeHealth(i: HealthInput): HealthVerdict {
  const problems: string[] = [];
  const name = i.node.metadata.name ?? '';
  const ready = (i.node.status?.conditions ?? []).find((c) => c.type === 'Ready');
  if (ready?.status !== 'True') {
    problems.push(
      `Ready is ${ready?.status ?? 'missing'}${ready?.reason ? ` (${ready.reason}${ready.message ? `: ${ready.message}` : ''})` : ''}`,
    );
  }
  if (i.lease === undefined) {
    problems.push(`no heartbeat Lease ${NODE_LEASE_NAMESPACE}/${name}`);
  } else {
    const renew = parseTime(i.lease.spec?.renewTime);
    const duration = (i.lease.spec?.leaseDurationSeconds ?? 40) * 1000;
    if (renew === undefined) problems.push('the heartbeat Lease was never renewed');
    else if (i.now.getTime() - renew > duration)
      problems.push(
        `last heartbeat ${Math.round((i.now.getTime() - renew) / 1000)}s ago (lease duration ${duration / 1000}s)`,
      );
    else if (
      i.since !== undefined &&
      renew <= i.since.getTime() &&
      (parseTime(ready?.lastHeartbeatTime) ?? 0) <= i.since.getTime()
    )
      // The kubelet's node status post (Ready's lastHeartbeatTime) is a heartbeat too, and a
      // restarted kubelet posts it at once, up to a Lease renewal period (10 s) before the Lease.
      problems.push('no heartbeat since the work finished');
  }
  for (const t of i.node.spec?.taints ?? []) {
    if ((UNHEALTHY_TAINTS as readonly string[]).includes(t.key))
      problems.push(`tainted ${t.key}:${t.effect}`);
  }
  if (i.expectReboot && i.bootIdBefore !== undefined && i.node.status?.nodeInfo?.bootID === i.bootIdBefore) {
    problems.push(`not rebooted yet (boot ID ${i.bootIdBefore} unchanged)`);
  }
  for (const ds of i.daemonSets) {
    const [ns, dsName] = ds.split('/');
    const pods = i.pods.filter(
      (p) =>
        (p.metadata.namespace ?? 'default') === ns &&
        controllerOf(p)?.kind === 'DaemonSet' &&
        controllerOf(p)?.name === dsName &&
        !p.metadata.deletionTimestamp,
    );
    if (!pods.some((p) => p.status?.phase === 'Running' && isPodReady(p)))
      problems.push(`DaemonSet ${ds} has no Running, Ready pod on the node`);
  }
  return { healthy: problems.length === 0, problems };
}

function eventTime(e: Event): number {
  return parseTime(e.lastTimestamp) ?? parseTime(e.eventTime) ?? parseTime(e.firstTimestamp) ?? 0;
}

/** The lines printed when a node stays unhealthy: problems, conditions, taints, recent events. */
export function diagnose(node: Node, verdict: HealthVerdict, events: readonly Event[], limit = 10): string[] {
  const lines: string[] = [`node/${node.metadata.name ?? ''} is not healthy:`];
  for (const p of verdict.problems) lines.push(`  - ${p}`);
  lines.push('Conditions:');
  for (const c of node.status?.conditions ?? []) {
    lines.push(
      `  ${c.type}=${c.status}${c.reason ? ` ${c.reason}` : ''}${c.message ? `: ${c.message}` : ''}${c.lastHeartbeatTime ? ` (heartbeat ${c.lastHeartbeatTime})` : ''}`,
    );
  }
  const taints = node.spec?.taints ?? [];
  lines.push(
    `Taints: ${taints.length === 0 ? '<none>' : taints.map((t) => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`).join(', ')}`,
  );
  const recent = [...events].sort((a, b) => eventTime(b) - eventTime(a)).slice(0, limit);
  lines.push(`Recent events:${recent.length === 0 ? ' <none>' : ''}`);
  for (const e of recent) {
    lines.push(
      `  ${e.lastTimestamp ?? e.eventTime ?? ''}  ${e.type ?? ''}  ${e.reason ?? ''}  ${e.message ?? ''}`.trimEnd(),
    );
  }
  return lines;
}
