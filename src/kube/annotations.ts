// Every annotation key bosun reads or writes, under one prefix, with what it means, and the rules
// of a cordon's ownership. bosun only undoes what it did: a cordon it made carries CORDONED_BY /
// CORDON_REASON / CORDONED_AT, and `bosun uncordon` leaves alone a node without them unless told
// --force. It sits below the features (drain, upgrade, reboot) so that they, the lock and the
// journal share one vocabulary. Pure: constants, and the small functions that read and build these
// annotations.
import type { Node, Pod } from './types.ts';

/** The prefix of every annotation and label bosun owns. */
export const BOSUN_PREFIX = 'bosun.dev/';

/**
 * Who cordoned the node through bosun, e.g. "alice@laptop (bosun drain)" or
 * "bosun-agent/worker-1". Its presence is what makes a cordon bosun's own.
 */
export const CORDONED_BY = `${BOSUN_PREFIX}cordoned-by`;

/** Why bosun cordoned the node, e.g. "drain", "maintain: apt-get upgrade -y", "reboot-required". */
export const CORDON_REASON = `${BOSUN_PREFIX}cordon-reason`;

/** When bosun cordoned the node (RFC 3339, UTC). */
export const CORDONED_AT = `${BOSUN_PREFIX}cordoned-at`;

/**
 * Drain progress, so an interrupted drain resumes from any machine: JSON {@link DrainState}.
 * Written when a drain starts evicting, again as pods go and when it stops; "drained" when the
 * node has none left.
 */
export const DRAIN_STATE = `${BOSUN_PREFIX}drain`;

/**
 * The maintain workflow's state on the node (phase, command, the workloads it evicted and how
 * many of their pods were Ready before), so `bosun maintain` resumes where it stopped.
 */
export const MAINTENANCE_STATE = `${BOSUN_PREFIX}maintenance`;

/**
 * On a pod: "false" means the pod must not be evicted by a drain unless the user insists
 * (--ignore-preflight-errors=opt-out). bosun's own spelling of the opt-out below.
 */
export const SAFE_TO_EVICT = `${BOSUN_PREFIX}safe-to-evict`;

/** The cluster-autoscaler's opt-out ("false": do not evict during scale-down); bosun honours it. */
export const CLUSTER_AUTOSCALER_SAFE_TO_EVICT = 'cluster-autoscaler.kubernetes.io/safe-to-evict';

/**
 * The reboot agent's state on its node, JSON (reboot/states.ts RebootRecord): the state, since when,
 * why, whether bosun's cordon and the lock are held, the boot ID before the reboot. Written before
 * each step, so that it survives the agent's own restart across the reboot and `bosun reboot status`
 * can read it from any machine.
 */
export const REBOOT_STATE = `${BOSUN_PREFIX}reboot`;

/**
 * Set by an admin (any value; the value is shown as the reason) to keep the agent from rebooting
 * this node: `kubectl annotate node worker-1 bosun.dev/reboot-blocked="database migration"`. The
 * value "false" counts as absent.
 */
export const REBOOT_BLOCKED = `${BOSUN_PREFIX}reboot-blocked`;

/**
 * Written on a node whose reboot did not come back healthy in time, by the first other agent that
 * noticed while waiting for the lock (JSON: by, at, reason): it claims the one notification of that
 * failure, so that twenty waiting agents do not send twenty. The node's own agent removes it when
 * it writes its state again.
 */
export const REBOOT_STUCK = `${BOSUN_PREFIX}reboot-stuck`;

/** Karpenter's opt-out ("true": do not disrupt); bosun honours it. */
export const KARPENTER_DO_NOT_DISRUPT = 'karpenter.sh/do-not-disrupt';

/** Every bosun annotation that describes a cordon, removed when bosun uncordons. */
export const CORDON_ANNOTATIONS = [CORDONED_BY, CORDON_REASON, CORDONED_AT, DRAIN_STATE] as const;

/** Who is acting and why, written on the node when bosun cordons it. */
export interface CordonOwner {
  /** e.g. "alice@laptop (bosun drain)" or "bosun-agent/worker-1". */
  who: string;
  /** e.g. "drain", "maintain: reboot". */
  why: string;
}

/** What a node says about its cordon. */
export interface CordonInfo {
  /** spec.unschedulable. */
  cordoned: boolean;
  /** True when bosun's CORDONED_BY annotation is present (bosun may undo the cordon). */
  ownedByBosun: boolean;
  by: string | undefined;
  reason: string | undefined;
  at: string | undefined;
}

/** Reads the cordon and its ownership from a node. */
export function cordonInfo(node: Node): CordonInfo {
  const a = node.metadata.annotations ?? {};
  const by = a[CORDONED_BY];
  return {
    cordoned: node.spec?.unschedulable === true,
    ownedByBosun: by !== undefined,
    by,
    reason: a[CORDON_REASON],
    at: a[CORDONED_AT],
  };
}

/** Annotations to set when bosun cordons a node. */
export function cordonAnnotations(owner: CordonOwner, now: Date): Record<string, string> {
  return { [CORDONED_BY]: owner.who, [CORDON_REASON]: owner.why, [CORDONED_AT]: rfc3339(now) };
}

/** The drain state kept in DRAIN_STATE. */
export interface DrainState {
  phase: 'draining' | 'drained';
  startedAt: string;
  finishedAt?: string;
  /** How many pods were still to go when the state was written (for people reading it). */
  pending?: number;
  /** When the state was last written (RFC 3339): `pending` is as of then. */
  updatedAt?: string;
}

/** Parses DRAIN_STATE; undefined when absent or unreadable. */
export function drainState(node: Node): DrainState | undefined {
  const raw = node.metadata.annotations?.[DRAIN_STATE];
  if (raw === undefined) return undefined;
  try {
    const v = JSON.parse(raw) as unknown;
    if (
      typeof v === 'object' &&
      v !== null &&
      ((v as DrainState).phase === 'draining' || (v as DrainState).phase === 'drained')
    )
      return v as DrainState;
  } catch {
    // unreadable: treat as absent
  }
  return undefined;
}

/** Which annotation, if any, opts this pod out of eviction, as "key=value". */
export function evictionOptOut(pod: Pod): string | undefined {
  const a = pod.metadata.annotations ?? {};
  if (a[SAFE_TO_EVICT]?.toLowerCase() === 'false') return `${SAFE_TO_EVICT}=false`;
  if (a[CLUSTER_AUTOSCALER_SAFE_TO_EVICT]?.toLowerCase() === 'false')
    return `${CLUSTER_AUTOSCALER_SAFE_TO_EVICT}=false`;
  if (a[KARPENTER_DO_NOT_DISRUPT]?.toLowerCase() === 'true') return `${KARPENTER_DO_NOT_DISRUPT}=true`;
  return undefined;
}

/** RFC 3339 in UTC without fractional seconds, as Kubernetes writes timestamps. */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
