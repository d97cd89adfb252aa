// How a reboot agent waiting for the lock treats the other holders whose entries expired (their
// agents stopped renewing): the lock asks it (ClusterLock's keepExpired) which of them keep their
// slot. It reads each one's Node and its record (states.ts judgeHolder):
// - its reboot is in progress (the node is down or coming back, within its timeouts): kept, since
//   its agent cannot renew while its node is down, and no other node may start meanwhile;
// - its reboot did not come back healthy in time ("stuck"): kept for good, so that the lock stays
//   held and no other node is taken, and the failure is notified once: the first agent that notices
//   claims the notification with a bosun.dev/reboot-stuck annotation written with a resourceVersion
//   precondition, so that twenty waiting agents do not send twenty;
// - its agent stopped before the reboot (killed while draining) or holds nothing: taken over; the
//   agent that takes the slot records why on that node (an Event) and notifies.
// A Node that cannot be read (other than a 404) keeps its holder: safety before progress.
import type { Clock } from '../common/ports.ts';
import { REBOOT_STATE, REBOOT_STUCK, rfc3339 } from '../kube/annotations.ts';
import { isConflict, isNotFound } from '../kube/errors.ts';
import type { Events, NodePods } from '../kube/ports.ts';
import type { Node } from '../kube/types.ts';
import type { LockHolder, TakenOver } from '../lock/index.ts';
import { judgeHolder, parseRecord, type HolderVerdict, type MachineOptions, type Notice } from './states.ts';

/** What the judge reports to the agent. */
export interface HolderJudgeHooks {
  /** Sends a notice about another node (the agent's notifier). */
  notify(notice: Notice): void;
  /** Records an Event on a node. */
  event(node: string, type: 'Normal' | 'Warning', reason: string, message: string): void;
  log(level: 'info' | 'warn', msg: string, fields: Record<string, unknown>): void;
}

function ready(n: Node): boolean {
  return (n.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

/** Judges expired lock holders for one agent. */
export class HolderJudge {
  /** The last verdict per holder identity, for messages about a takeover. */
  private readonly verdicts = new Map<string, HolderVerdict>();
  /** Stuck nodes this agent has dealt with (claimed or found claimed), so it asks once. */
  private readonly stuckSeen = new Set<string>();

  constructor(
    private readonly opts: {
      self: string;
      machine: Pick<MachineOptions, 'rebootTimeoutMs' | 'healthTimeoutMs'>;
    },
    private readonly deps: {
      kube: Pick<NodePods, 'getNode' | 'patchNode'> & Events;
      clock: Clock;
      hooks: HolderJudgeHooks;
    },
  ) {}

  /** ClusterLock's keepExpired: the identities of the expired holders that keep their slot. */
  readonly keepExpired = async (holders: readonly LockHolder[]): Promise<ReadonlySet<string>> => {
    const kept = new Set<string>();
    for (const h of holders) {
      if (h.node === undefined) continue; // not an agent: an expired upgrade or a hand-written Lease
      let node: Node;
      try {
        node = await this.deps.kube.getNode(h.node);
      } catch (e) {
        if (!isNotFound(e)) kept.add(h.identity);
        continue;
      }
      const v = judgeHolder(
        {
          record: parseRecord(node.metadata.annotations?.[REBOOT_STATE]),
          nodeReady: ready(node),
          now: this.deps.clock.now(),
        },
        this.opts.machine,
      );
      this.verdicts.set(h.identity, v);
      if (v.verdict === 'working' || v.verdict === 'stuck') kept.add(h.identity);
      if (v.verdict === 'stuck') await this.claimStuck(node, v.reason);
    }
    return kept;
  };

  /** Records and tells why this agent took over others' slots. */
  tookOver(taken: readonly TakenOver[]): void {
    for (const t of taken) {
      const v = this.verdicts.get(t.holder.identity);
      const why =
        t.state === 'node-gone'
          ? 'its Node no longer exists'
          : `its entry expired (${v?.reason ?? 'its holder stopped renewing it'})`;
      const message = `${this.opts.self} took over the reboot lock slot of ${t.holder.identity}: ${why}`;
      this.deps.hooks.log('warn', message, { holder: t.holder.identity, state: t.state });
      if (t.holder.node !== undefined && t.state !== 'node-gone')
        this.deps.hooks.event(t.holder.node, 'Warning', 'RebootLockTakenOver', message);
      this.deps.hooks.notify({ kind: 'failed', message });
    }
  }

  /**
   * Claims the one notification of a stuck node: writes REBOOT_STUCK at the version just read, so
   * that of all the agents noticing, exactly one writes it (and notifies).
   */
  private async claimStuck(first: Node, reason: string): Promise<void> {
    const name = first.metadata.name ?? '';
    if (this.stuckSeen.has(name)) return;
    let node = first;
    for (let attempt = 0; attempt < 5; attempt++) {
      if (node.metadata.annotations?.[REBOOT_STUCK] !== undefined) {
        this.stuckSeen.add(name);
        return;
      }
      const at = rfc3339(this.deps.clock.now());
      try {
        await this.deps.kube.patchNode(name, {
          metadata: {
            ...(node.metadata.resourceVersion ? { resourceVersion: node.metadata.resourceVersion } : {}),
            annotations: { [REBOOT_STUCK]: JSON.stringify({ by: this.opts.self, at, reason }) },
          },
        });
      } catch (e) {
        if (!isConflict(e)) {
          this.deps.hooks.log('warn', `cannot mark ${name} as stuck`, { error: String(e) });
          return;
        }
        node = await this.deps.kube.getNode(name);
        continue;
      }
      this.stuckSeen.add(name);
      const message = `${name} did not come back healthy after its reboot (${reason}): the lock stays held and no other node starts until it is back or an admin acts`;
      this.deps.hooks.log('warn', message, { node: name });
      this.deps.hooks.event(name, 'Warning', 'RebootStuck', message);
      this.deps.hooks.notify({ kind: 'failed', message });
      return;
    }
  }
}
