// `bosun reboot status`, from any machine: every node's reboot as its agent recorded it on the Node
// (REBOOT_STATE), beside the cluster lock's holders. A node whose agent never recorded anything is
// "idle". Reading only: one list of Nodes and one read of the lock's Lease.
import { humanDuration } from '../common/duration.ts';
import type { Clock } from '../common/ports.ts';
import { REBOOT_STATE, REBOOT_STUCK, cordonInfo } from '../kube/annotations.ts';
import type { Node } from '../kube/types.ts';
import type { LockDescription } from '../lock/index.ts';
import { parseRecord, type AgentState, type RebootRecord } from './states.ts';

/** One node's line. */
export interface NodeRebootStatus {
  node: string;
  /** The agent saw the reboot sentinel (its record says so). */
  rebootRequired: boolean;
  state: AgentState;
  /** When the state was entered (RFC 3339); absent without a record. */
  since?: string;
  /** Why it is in this state (one line). */
  reason?: string;
  /** What holds it back, one line each. */
  blockedBy: string[];
  /** This node holds a slot of the lock (live, or expired and not taken over yet). */
  lockHolder: boolean;
  cordoned: boolean;
  /** Who cordoned it, when it is cordoned. */
  cordonedBy?: string;
  /** The failure of the last cycle, with its diagnosis. */
  failure?: { phase: string; message: string; diagnosis: string[] };
  /** Another agent found this node's reboot stuck (bosun.dev/reboot-stuck). */
  stuck?: string;
}

/** The whole answer. */
export interface RebootStatus {
  nodes: NodeRebootStatus[];
  lock: { namespace: string; name: string; holders: { identity: string; state: string; text: string }[] };
}

/** Builds the status from the nodes and the lock as read. Pure. */
export function rebootStatus(nodes: readonly Node[], lock: LockDescription): RebootStatus {
  const holders = new Map(lock.holders.map((h) => [h.node ?? h.identity, h]));
  const lines = [...nodes]
    .sort((a, b) => (a.metadata.name ?? '').localeCompare(b.metadata.name ?? ''))
    .map((n): NodeRebootStatus => {
      const name = n.metadata.name ?? '';
      const r: RebootRecord | undefined = parseRecord(n.metadata.annotations?.[REBOOT_STATE]);
      const c = cordonInfo(n);
      const stuck = n.metadata.annotations?.[REBOOT_STUCK];
      let stuckReason: string | undefined;
      if (stuck !== undefined) {
        try {
          stuckReason = String((JSON.parse(stuck) as { reason?: unknown }).reason ?? stuck);
        } catch {
          stuckReason = stuck;
        }
      }
      return {
        node: name,
        rebootRequired: r !== undefined && (r.requiredSince !== undefined || r.state !== 'idle'),
        state: r?.state ?? 'idle',
        ...(r ? { since: r.since } : {}),
        ...(r?.reason ? { reason: r.reason } : {}),
        blockedBy: (r?.blockers ?? []).map((b) => b.reason),
        lockHolder: holders.has(name),
        cordoned: c.cordoned,
        ...(c.cordoned && c.by ? { cordonedBy: c.by } : {}),
        ...(r?.failure ? { failure: r.failure } : {}),
        ...(stuckReason !== undefined ? { stuck: stuckReason } : {}),
      };
    });
  return {
    nodes: lines,
    lock: {
      namespace: lock.namespace,
      name: lock.name,
      holders: lock.holders.map((h) => ({ identity: h.identity, state: h.state, text: h.text })),
    },
  };
}

/** The table's rows: NODE, REQUIRED, STATE, SINCE, BLOCKED BY, LOCK. */
export function statusRows(s: RebootStatus, now: Date): string[][] {
  return s.nodes.map((n) => [
    n.node,
    n.rebootRequired ? 'yes' : 'no',
    n.state,
    n.since ? humanDuration(now.getTime() - Date.parse(n.since)) : '<none>',
    n.blockedBy.length > 0
      ? n.blockedBy.join('; ')
      : n.stuck
        ? `stuck: ${n.stuck}`
        : n.state === 'failed' && n.failure
          ? n.failure.message
          : n.state === 'waiting-window' && n.reason
            ? n.reason
            : n.state === 'waiting-lock'
              ? `the lock (${s.lock.holders.map((h) => h.identity).join(', ') || 'free'})`
              : '<none>',
    n.lockHolder
      ? `held${(s.lock.holders.find((h) => h.identity === n.node)?.state ?? 'live') === 'live' ? '' : ' (expired)'}`
      : '',
  ]);
}

/** Reads the status: the Nodes and the lock. */
export async function readRebootStatus(deps: {
  kube: { listNodes(): Promise<Node[]> };
  lock: { describe(): Promise<LockDescription> };
  clock: Clock;
}): Promise<RebootStatus> {
  const [nodes, lock] = await Promise.all([deps.kube.listNodes(), deps.lock.describe()]);
  return rebootStatus(nodes, lock);
}
