// The decisions of bosun's one lock, as plain functions of the lock's record and a time: which
// holders are live, whether a request may take the lock (exclusive, or one of N shared slots), and
// what the record becomes when it does, renews or releases. Every disruptive bosun operation shares
// this lock: an upgrade takes it exclusively for a whole rollout, each reboot agent takes one of N
// shared slots (its --concurrency) as its node, a certificate restart takes it as it needs; an
// exclusive holder and shared holders exclude each other.
//
// Kured's daemonsetlock showed the shape (holders with a TTL in an annotation, a multi-owner mode)
// and its debts, avoided here: the time is passed in (Kured calls time.Now() inside the lock); an
// entry is live only while renewed (renewTime + TTL), and an entry whose holder's Node is gone is
// taken over at once (kured#137: a lock held for good by a node that no longer exists); a holder
// that asks again renews its own entry instead of adding a second one.
//
// Times in the record are the writers' clocks; a reader judges expiry by its own. Clocks must agree
// to well within a TTL (as kubelets' and controllers' do for node Leases).
//
// Pure: no I/O, no clock of its own; src/lock/lock.ts reads and writes the Lease.
import { humanDuration } from '../common/duration.ts';

/** Exclusive: nobody else holds the lock. Shared: up to N shared holders at once, no exclusive one. */
export type LockMode = 'exclusive' | 'shared';

/** One holder of the lock, as the record keeps it. */
export interface LockHolder {
  /** Who holds it: the node's name for the reboot agent, the user and machine for an upgrade. */
  identity: string;
  mode: LockMode;
  /**
   * Shared holders: how many shared holders the holder agreed to run beside, itself included (its
   * --concurrency). 1 for an exclusive holder.
   */
  limit: number;
  /** What the holder is doing ("upgrade", "reboot", "certs restart"), for describe(). */
  operation: string;
  /** The Node the holder works on, if any: when that Node no longer exists, its entry is taken over. */
  node?: string;
  /** When the holder took the lock (RFC 3339). */
  acquireTime: string;
  /** When the holder last renewed it (RFC 3339). */
  renewTime: string;
  /** Seconds after renewTime that the entry expires unless renewed. */
  ttlSeconds: number;
}

/** Everything the lock knows: its holders. */
export interface LockRecord {
  holders: LockHolder[];
}

/** What a caller asks for. */
export interface LockRequest {
  identity: string;
  mode: LockMode;
  /** Shared mode: the most shared holders at once, this one included (default 1). Ignored when exclusive. */
  limit?: number;
  operation: string;
  node?: string;
  /** Seconds the entry lives without renewal. Must be at least 1. */
  ttlSeconds: number;
}

/** A holder's standing at a given time. */
export type HolderState = 'live' | 'expired' | 'node-gone';

/** A holder whose entry was dropped by an acquisition, and why. */
export interface TakenOver {
  holder: LockHolder;
  state: Exclude<HolderState, 'live'>;
}

/** The outcome of a request. */
export type AcquireDecision =
  | {
      acquired: true;
      /** The record to write. */
      record: LockRecord;
      holder: LockHolder;
      /** Expired holders and holders whose Node is gone, dropped from the record. */
      takenOver: TakenOver[];
      /** The caller held it already in this mode (a renewal, its acquireTime kept). */
      already: boolean;
    }
  | {
      acquired: false;
      /** The live holders in the way. */
      blockers: LockHolder[];
      /** One line: who holds it and since when. */
      reason: string;
      /** The earliest moment a blocker's entry expires unless renewed: worth asking again then. */
      retryAt: Date | undefined;
    };

/** When the holder's entry expires unless renewed. */
export function expiresAt(h: LockHolder): Date {
  return new Date(Date.parse(h.renewTime) + h.ttlSeconds * 1000);
}

/**
 * A holder is live until its renewTime + TTL (by the reader's clock), unless its Node is known to
 * be gone. An unparsable renewTime counts as expired.
 */
export function holderState(
  h: LockHolder,
  now: Date,
  goneNodes: ReadonlySet<string> = new Set(),
): HolderState {
  if (h.node !== undefined && goneNodes.has(h.node)) return 'node-gone';
  const until = expiresAt(h).getTime();
  return Number.isFinite(until) && now.getTime() < until ? 'live' : 'expired';
}

/** The holders that are live at `now`. */
export function liveHolders(record: LockRecord, now: Date, goneNodes?: ReadonlySet<string>): LockHolder[] {
  return record.holders.filter((h) => holderState(h, now, goneNodes) === 'live');
}

function shareLimit(req: LockRequest): number {
  return req.mode === 'exclusive' ? 1 : Math.max(1, Math.floor(req.limit ?? 1));
}

/** The live holders that keep `req` from taking the lock, and why (empty when it may). */
function blockersOf(
  live: readonly LockHolder[],
  req: LockRequest,
  now: Date,
): { blockers: LockHolder[]; reason: string } {
  if (live.length === 0) return { blockers: [], reason: '' };
  const exclusive = live.filter((h) => h.mode === 'exclusive');
  if (exclusive.length > 0)
    return { blockers: exclusive, reason: `the lock is held exclusively by ${list(exclusive, now)}` };
  if (req.mode === 'exclusive')
    return {
      blockers: [...live],
      reason: `the lock is held (shared) by ${list(live, now)}; an exclusive holder waits for all of them`,
    };
  // Shared: every live shared holder's limit counts, so nobody runs beside more than it agreed to.
  const cap = Math.min(shareLimit(req), ...live.map((h) => h.limit));
  if (live.length < cap) return { blockers: [], reason: '' };
  return {
    blockers: [...live],
    reason: `all ${cap} shared slot${cap === 1 ? ' is' : 's are'} taken: by ${list(live, now)}`,
  };
}

/**
 * May `req` take the lock at `now`, and what does the record become? Expired holders and holders
 * whose Node is in `goneNodes` are dropped (taken over), except expired holders named in `kept`:
 * the caller knows they are still at work although they cannot renew (a reboot agent whose node is
 * down for its reboot), so they keep their slot and stay in the record. The requester's own entry,
 * live and in the same mode, is renewed (its acquireTime kept).
 */
export function decideAcquire(
  record: LockRecord,
  req: LockRequest,
  now: Date,
  goneNodes: ReadonlySet<string> = new Set(),
  kept: ReadonlySet<string> = new Set(),
): AcquireDecision {
  const others = record.holders.filter((h) => h.identity !== req.identity);
  const takenOver: TakenOver[] = [];
  const live: LockHolder[] = [];
  for (const h of others) {
    const state = holderState(h, now, goneNodes);
    if (state === 'live' || (state === 'expired' && kept.has(h.identity))) live.push(h);
    else takenOver.push({ holder: h, state });
  }
  const { blockers, reason } = blockersOf(live, req, now);
  if (blockers.length > 0) {
    // A kept holder's expiry has passed already: only a change of the Lease (or a recheck) helps then.
    const times = blockers
      .map((b) => expiresAt(b).getTime())
      .filter((t) => Number.isFinite(t) && t > now.getTime());
    return {
      acquired: false,
      blockers,
      reason,
      retryAt: times.length > 0 ? new Date(Math.min(...times)) : undefined,
    };
  }
  const mine = record.holders.find((h) => h.identity === req.identity);
  const already = mine !== undefined && mine.mode === req.mode && holderState(mine, now) === 'live';
  const holder: LockHolder = {
    identity: req.identity,
    mode: req.mode,
    limit: shareLimit(req),
    operation: req.operation,
    ...(req.node !== undefined ? { node: req.node } : {}),
    acquireTime: already && mine ? mine.acquireTime : rfc3339(now),
    renewTime: rfc3339(now),
    ttlSeconds: Math.max(1, Math.ceil(req.ttlSeconds)),
  };
  return { acquired: true, record: { holders: [...live, holder] }, holder, takenOver, already };
}

/** The outcome of a renewal. */
export type RenewDecision =
  { renewed: true; record: LockRecord; holder: LockHolder } | { renewed: false; reason: string };

/**
 * Renews `identity`'s entry at `now`. An entry still in the record is renewed even past its expiry,
 * as client-go renews its own record: whoever decided to take it over would have written the record
 * without it (a write at the same version fails). Others' entries stay as they are, expired ones
 * too: only an acquisition takes an entry over, because only an acquirer judges whether an expired
 * holder may still be at work (decideAcquire's `kept`).
 */
export function decideRenew(record: LockRecord, identity: string, now: Date): RenewDecision {
  const mine = record.holders.find((h) => h.identity === identity);
  if (mine === undefined)
    return { renewed: false, reason: `${identity} no longer holds the lock (taken over or released)` };
  const holder = { ...mine, renewTime: rfc3339(now) };
  const rest = record.holders.filter((h) => h.identity !== identity);
  return { renewed: true, record: { holders: [...rest, holder] }, holder };
}

/** The record without `identity` (others' entries as they are, see decideRenew); whether it held the lock. */
export function decideRelease(
  record: LockRecord,
  identity: string,
  _now: Date,
): { record: LockRecord; released: boolean } {
  const released = record.holders.some((h) => h.identity === identity);
  return {
    record: { holders: record.holders.filter((h) => h.identity !== identity) },
    released,
  };
}

/** The Nodes of live holders (other than `identity`) that are worth checking for existence. */
export function nodesToCheck(holders: readonly LockHolder[], identity: string): string[] {
  return [
    ...new Set(
      holders.filter((h) => h.identity !== identity && h.node !== undefined).map((h) => h.node as string),
    ),
  ];
}

/** RFC 3339 with the API's microsecond precision (Lease times are MicroTime: 6 fraction digits). */
export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** "reboot worker-2 (on node worker-2) since 2025-01-01T00:00:00Z (5m ago)" for each holder. */
function list(holders: readonly LockHolder[], now: Date): string {
  return holders.map((h) => describeHolder(h, now)).join(', ');
}

/** One holder in words: who, doing what, since when. */
export function describeHolder(h: LockHolder, now: Date): string {
  const since = Date.parse(h.acquireTime);
  const ago = Number.isFinite(since) ? ` (${humanDuration(now.getTime() - since)} ago)` : '';
  const node = h.node !== undefined && h.node !== h.identity ? ` on node ${h.node}` : '';
  return `${h.identity} (${h.operation}${node}) since ${h.acquireTime.replace(/\.\d+Z$/, 'Z')}${ago}`;
}

// ---- The record as the Lease carries it --------------------------------------------------------

/** The annotation of the Lease that holds the record (JSON). */
export const LOCK_HOLDERS_ANNOTATION = 'bosun.dev/lock-holders';

/** The Lease fields the record is read from and written to. */
export interface LeaseView {
  annotations?: Record<string, string> | undefined;
  spec?:
    | {
        holderIdentity?: string;
        leaseDurationSeconds?: number;
        acquireTime?: string;
        renewTime?: string;
        leaseTransitions?: number;
      }
    | undefined;
}

function isHolder(v: unknown): v is LockHolder {
  if (typeof v !== 'object' || v === null) return false;
  const h = v as Record<string, unknown>;
  return (
    typeof h['identity'] === 'string' &&
    h['identity'] !== '' &&
    (h['mode'] === 'exclusive' || h['mode'] === 'shared') &&
    typeof h['limit'] === 'number' &&
    typeof h['operation'] === 'string' &&
    (h['node'] === undefined || typeof h['node'] === 'string') &&
    typeof h['acquireTime'] === 'string' &&
    typeof h['renewTime'] === 'string' &&
    typeof h['ttlSeconds'] === 'number'
  );
}

/**
 * The record a Lease carries. Without bosun's annotation (or with one that does not parse), the
 * Lease's own spec stands for one exclusive holder (a Lease written by another tool, or by hand, is
 * respected until it expires, never ignored).
 */
export function readRecord(lease: LeaseView): LockRecord {
  const raw = lease.annotations?.[LOCK_HOLDERS_ANNOTATION];
  if (raw !== undefined) {
    try {
      const parsed: unknown = JSON.parse(raw);
      const holders = (parsed as { holders?: unknown }).holders;
      if (Array.isArray(holders) && holders.every(isHolder))
        return { holders: holders.map((h) => ({ ...h })) };
    } catch {
      // fall through to the spec
    }
  }
  const s = lease.spec;
  if (!s?.holderIdentity) return { holders: [] };
  const renewTime = s.renewTime ?? s.acquireTime ?? '';
  return {
    holders: [
      {
        identity: s.holderIdentity,
        mode: 'exclusive',
        limit: 1,
        operation: 'unknown (a Lease bosun did not write)',
        acquireTime: s.acquireTime ?? renewTime,
        renewTime,
        ttlSeconds: s.leaseDurationSeconds ?? 0,
      },
    ],
  };
}

/**
 * What the Lease becomes for `record`: bosun's annotation, and a spec any Kubernetes tool reads
 * (holderIdentity: the holders joined by ","; leaseDurationSeconds: the longest TTL; acquireTime:
 * the earliest holder's; renewTime: the latest renewal; leaseTransitions counting new holders).
 */
export function writeRecord(
  previous: LockRecord,
  record: LockRecord,
  prevTransitions: number,
  now: Date,
): Required<LeaseView> {
  const before = new Set(previous.holders.map((h) => h.identity));
  const arrivals = record.holders.filter((h) => !before.has(h.identity)).length;
  const hs = record.holders;
  const earliest = hs.map((h) => h.acquireTime).sort()[0];
  const latest = hs
    .map((h) => h.renewTime)
    .sort()
    .at(-1);
  return {
    annotations: { [LOCK_HOLDERS_ANNOTATION]: JSON.stringify({ holders: hs }) },
    spec: {
      ...(hs.length > 0 ? { holderIdentity: hs.map((h) => h.identity).join(',') } : {}),
      leaseDurationSeconds: Math.max(1, ...hs.map((h) => h.ttlSeconds)),
      ...(earliest !== undefined ? { acquireTime: earliest } : {}),
      renewTime: latest ?? rfc3339(now),
      leaseTransitions: prevTransitions + arrivals,
    },
  };
}
