// What may hold a node's reboot back, each one a small checker with a verdict and a reason that
// notifications and `bosun reboot status` show. The agent checks them before it takes the lock
// (Kured takes it while the node is blocked anyway, kured#792) and again after the drain, right
// before the reboot:
// - annotation: an admin's bosun.dev/reboot-blocked on the node (its value is the reason);
// - cordon: the node is cordoned by someone other than this agent (bosun leaves it alone);
// - pods: pods matching a selector, on this node or anywhere in the cluster (Kured's
//   --blocking-pod-selector, which only looks at the node);
// - alerts: alerts firing in Prometheus (/api/v1/alerts) or Alertmanager (/api/v2/alerts), filtered
//   by name as Kured's --alert-filter-regexp, --alert-filter-match-only and --alert-firing-only do;
// - quorum: on a control plane, another control plane that is not Ready, or an etcd that would lose
//   its quorum without this member (certs/quorum.ts, the rule the certificate restart keeps).
// A checker that cannot answer (API error, Prometheus down) blocks, with the error as its reason,
// as Kured does: safety before progress. Checkers never throw and never log.
// certs/quorum.ts directly, not certs/index.ts: the agent loads none of the PKI code.
import { etcdRestartAllowed } from '../certs/quorum.ts';
import { CORDONED_BY } from '../drain/index.ts';
import type { ListOptions } from '../kube/ports.ts';
import type { ListResult, Node, Pod } from '../kube/types.ts';
import { redactError, redactUrl, type HttpPort } from './http.ts';
import { REBOOT_BLOCKED } from '../kube/annotations.ts';

/** The kinds of blocker, names for metrics labels and status. */
export const BLOCKER_KINDS = ['annotation', 'cordon', 'pods', 'alerts', 'quorum'] as const;
/** One kind of blocker. */
export type BlockerKind = (typeof BLOCKER_KINDS)[number];

/** One checker's answer. */
export interface BlockerVerdict {
  kind: BlockerKind;
  blocked: boolean;
  /** One line for people: what blocks, or what was checked. */
  reason: string;
  /** What blocks, one item each (pods as namespace/name, alert names); at most 10, then "...". */
  items?: string[];
}

/** A checker. `node` is the agent's node as last read. */
export interface Blocker {
  kind: BlockerKind;
  check(node: Node, signal?: AbortSignal): Promise<BlockerVerdict>;
}

/** The pods a pod blocker reads. */
export interface BlockerPods {
  listPods(opts?: ListOptions): Promise<ListResult<Pod>>;
}

const SHOWN = 10;

function shortList(items: readonly string[]): string[] {
  return items.length > SHOWN ? [...items.slice(0, SHOWN), `... (${items.length - SHOWN} more)`] : [...items];
}

/** The identity this agent writes in bosun.dev/cordoned-by on its own cordon. */
export function agentIdentity(node: string): string {
  return `bosun-agent/${node}`;
}

/** Blocks while the node carries bosun.dev/reboot-blocked (any value but "false"). */
export function annotationBlocker(): Blocker {
  return {
    kind: 'annotation',
    check: async (node) => {
      const v = node.metadata.annotations?.[REBOOT_BLOCKED];
      if (v === undefined || v.trim().toLowerCase() === 'false')
        return { kind: 'annotation', blocked: false, reason: `no ${REBOOT_BLOCKED} annotation` };
      const why = v.trim();
      return {
        kind: 'annotation',
        blocked: true,
        reason: `node annotated ${REBOOT_BLOCKED}${why !== '' && why.toLowerCase() !== 'true' ? `: ${why}` : ''}`,
      };
    },
  };
}

/** Blocks while the node is cordoned by anyone but this agent: bosun never takes over someone else's cordon. */
export function cordonBlocker(nodeName: string): Blocker {
  const me = agentIdentity(nodeName);
  return {
    kind: 'cordon',
    check: async (node) => {
      if (node.spec?.unschedulable !== true)
        return { kind: 'cordon', blocked: false, reason: 'not cordoned' };
      const by = node.metadata.annotations?.[CORDONED_BY];
      if (by === me) return { kind: 'cordon', blocked: false, reason: 'cordoned by this agent' };
      return {
        kind: 'cordon',
        blocked: true,
        reason: `cordoned by ${by ?? 'someone else'}, not this agent: left alone until uncordoned`,
      };
    },
  };
}

/** Where a blocking pod may run. */
export type PodScope = 'node' | 'cluster';

/**
 * Blocks while a pod matching any of the selectors runs (phase not Succeeded, Failed or Unknown, as
 * Kured's field selector): on this node, or anywhere with scope "cluster".
 */
export function podBlocker(
  opts: { selectors: readonly string[]; scope: PodScope },
  deps: { kube: BlockerPods },
): Blocker {
  return {
    kind: 'pods',
    check: async (node) => {
      const name = node.metadata.name ?? '';
      const where = opts.scope === 'node' ? `on ${name}` : 'in the cluster';
      const found: string[] = [];
      const matched: string[] = [];
      try {
        for (const selector of opts.selectors) {
          const list = await deps.kube.listPods({
            labelSelector: selector,
            ...(opts.scope === 'node' ? { fieldSelector: `spec.nodeName=${name}` } : {}),
          });
          const live = list.items.filter(
            (p) => !['Succeeded', 'Failed', 'Unknown'].includes(p.status?.phase ?? ''),
          );
          if (live.length > 0) matched.push(selector);
          for (const p of live) found.push(`${p.metadata.namespace ?? 'default'}/${p.metadata.name ?? ''}`);
        }
      } catch (e) {
        return {
          kind: 'pods',
          blocked: true,
          reason: `cannot list blocking pods: ${e instanceof Error ? e.message : String(e)}`,
        };
      }
      const unique = [...new Set(found)].sort();
      if (unique.length === 0)
        return {
          kind: 'pods',
          blocked: false,
          reason: `no pods matching ${opts.selectors.join(' or ')} ${where}`,
        };
      const items = shortList(unique);
      return {
        kind: 'pods',
        blocked: true,
        reason: `${unique.length === 1 ? 'a pod' : `${unique.length} pods`} matching ${matched.join(' or ')} ${where}: ${items.join(', ')}`,
        items,
      };
    },
  };
}

/** Which alert API to ask. */
export type AlertSource = 'prometheus' | 'alertmanager';

/** How alerts are filtered (Kured's flags). */
export interface AlertFilter {
  /** Alert names matching this are ignored; with matchOnly, only they block. */
  regexp?: RegExp;
  /** --alert-filter-match-only. */
  matchOnly: boolean;
  /** Only firing alerts block, not pending ones (--alert-firing-only; Prometheus only). */
  firingOnly: boolean;
}

interface AlertItem {
  name: string;
  firing: boolean;
}

function parseAlerts(source: AlertSource, body: string): AlertItem[] {
  const v = JSON.parse(body) as unknown;
  if (source === 'prometheus') {
    const o = v as { status?: unknown; data?: { alerts?: unknown } };
    if (o?.status !== 'success' || !Array.isArray(o.data?.alerts))
      throw new Error('not a Prometheus /api/v1/alerts answer');
    return (o.data.alerts as { labels?: Record<string, string>; state?: string }[])
      .filter((a) => a.state === 'firing' || a.state === 'pending')
      .map((a) => ({ name: a.labels?.['alertname'] ?? '', firing: a.state === 'firing' }));
  }
  if (!Array.isArray(v)) throw new Error('not an Alertmanager /api/v2/alerts answer');
  return (v as { labels?: Record<string, string>; status?: { state?: string } }[])
    .filter((a) => (a.status?.state ?? 'active') === 'active')
    .map((a) => ({ name: a.labels?.['alertname'] ?? '', firing: true }));
}

/** The alert names that block, sorted, each once. */
export function blockingAlertNames(alerts: readonly AlertItem[], f: AlertFilter): string[] {
  const names = new Set<string>();
  for (const a of alerts) {
    if (a.name === '') continue;
    if (f.firingOnly && !a.firing) continue;
    if (f.regexp !== undefined && f.regexp.test(a.name) !== f.matchOnly) continue;
    names.add(a.name);
  }
  return [...names].sort();
}

/** The URL of the alerts API under a base URL that may carry a path prefix (http://host/prometheus). */
export function alertsUrl(source: AlertSource, base: string): string {
  const u = new URL(base);
  const prefix = u.pathname.replace(/\/+$/, '');
  if (source === 'prometheus') {
    u.pathname = `${prefix}/api/v1/alerts`;
  } else {
    u.pathname = `${prefix}/api/v2/alerts`;
    u.search = '?active=true&silenced=false&inhibited=false';
  }
  return u.href;
}

/** Blocks while alerts fire in Prometheus or Alertmanager; blocks too when the API cannot be read. */
export function alertBlocker(
  opts: { source: AlertSource; url: string; filter: AlertFilter; timeoutMs: number },
  deps: { http: HttpPort },
): Blocker {
  const label = opts.source === 'prometheus' ? 'Prometheus' : 'Alertmanager';
  const url = alertsUrl(opts.source, opts.url);
  return {
    kind: 'alerts',
    check: async (_node, signal) => {
      let names: string[];
      try {
        const res = await deps.http.request({
          url,
          timeoutMs: opts.timeoutMs,
          headers: { accept: 'application/json' },
          ...(signal ? { signal } : {}),
        });
        if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
        names = blockingAlertNames(parseAlerts(opts.source, res.body), opts.filter);
      } catch (e) {
        return {
          kind: 'alerts',
          blocked: true,
          reason: `cannot read alerts from ${label} at ${redactUrl(opts.url)}: ${redactError(e, url)}`,
        };
      }
      if (names.length === 0)
        return { kind: 'alerts', blocked: false, reason: `no blocking alerts in ${label}` };
      const items = shortList(names);
      return {
        kind: 'alerts',
        blocked: true,
        reason: `${names.length === 1 ? 'an alert' : `${names.length} alerts`} firing in ${label}: ${items.join(', ')}`,
        items,
      };
    },
  };
}

/** The label kubeadm puts on control-plane nodes. */
export const CONTROL_PLANE_LABEL = 'node-role.kubernetes.io/control-plane';

/** Whether a node is a control plane (kubeadm's label). */
export function isControlPlane(node: Node): boolean {
  return node.metadata.labels?.[CONTROL_PLANE_LABEL] !== undefined;
}

/** What the quorum blocker reads: the control-plane nodes and etcd's mirror pods. */
export interface QuorumKube {
  listNodes(opts?: { labelSelector?: string }): Promise<Node[]>;
  listPods(opts?: ListOptions): Promise<ListResult<Pod>>;
}

function nodeReady(n: Node): boolean {
  return (n.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

function podReady(p: Pod): boolean {
  return (
    p.status?.phase === 'Running' &&
    (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
  );
}

/**
 * On a control plane: blocks while another control plane is not Ready (its etcd member or
 * kube-apiserver may be down too), or while etcd would lose its quorum without this node's member
 * (a member counts as Ready when its node is Ready and its etcd mirror pod, kube-system/etcd-NODE,
 * is Running and Ready; without etcd mirror pods, an external etcd, the nodes alone count). On a
 * worker it never blocks.
 */
export function quorumBlocker(deps: { kube: QuorumKube }): Blocker {
  return {
    kind: 'quorum',
    check: async (node) => {
      if (!isControlPlane(node)) return { kind: 'quorum', blocked: false, reason: 'not a control plane' };
      const self = node.metadata.name ?? '';
      let cps: Node[];
      let etcd: Pod[];
      try {
        cps = await deps.kube.listNodes({ labelSelector: CONTROL_PLANE_LABEL });
        etcd = (await deps.kube.listPods({ namespace: 'kube-system', labelSelector: 'component=etcd' }))
          .items;
      } catch (e) {
        return {
          kind: 'quorum',
          blocked: true,
          reason: `cannot read the control planes: ${e instanceof Error ? e.message : String(e)}`,
        };
      }
      const notReady = cps
        .filter((n) => n.metadata.name !== self && !nodeReady(n))
        .map((n) => n.metadata.name ?? '')
        .sort();
      if (notReady.length > 0)
        return {
          kind: 'quorum',
          blocked: true,
          reason: `control plane${notReady.length > 1 ? 's' : ''} ${notReady.join(', ')} ${notReady.length > 1 ? 'are' : 'is'} not Ready: rebooting ${self} now could take etcd's quorum and the API with it`,
          items: shortList(notReady),
        };
      const members =
        etcd.length === 0
          ? cps.map((n) => ({ name: n.metadata.name ?? '', ready: nodeReady(n) }))
          : cps.map((n) => {
              const pod = etcd.find((p) => p.metadata.name === `etcd-${n.metadata.name ?? ''}`);
              return {
                name: n.metadata.name ?? '',
                ready: nodeReady(n) && pod !== undefined && podReady(pod),
              };
            });
      const v = etcdRestartAllowed(members, self);
      return v.allowed
        ? { kind: 'quorum', blocked: false, reason: v.reason }
        : { kind: 'quorum', blocked: true, reason: v.reason };
    },
  };
}

/** Runs every checker at once and returns every verdict, in the order given. */
export async function checkBlockers(
  blockers: readonly Blocker[],
  node: Node,
  signal?: AbortSignal,
): Promise<BlockerVerdict[]> {
  return Promise.all(
    blockers.map((b) =>
      b.check(node, signal).catch((e: unknown): BlockerVerdict => ({
        kind: b.kind,
        blocked: true,
        reason: `cannot check ${b.kind}: ${e instanceof Error ? e.message : String(e)}`,
      })),
    ),
  );
}
