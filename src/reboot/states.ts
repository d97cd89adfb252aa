// The reboot agent's states and transitions, as a pure state machine. The agent loop only
// interprets it: it asks nextAction(record) what to do, does it through its ports, and feeds the
// outcome back as an event to transition(record, event), which returns the new record (written on
// the Node before the next step, kube/annotations.ts REBOOT_STATE) and, when the change matters to people, a
// notice to send.
//
//   idle -> waiting-window -> blocked -> waiting-lock -> cordoning -> draining -> drained
//        -> [reboot-blocked] -> rebooting -> health-gate -> uncordoning -> releasing -> idle
//
// Rules it keeps (Kured's open complaints in brackets):
// - Blockers are checked before the lock is taken [kured#792] and again after the drain, right
//   before the reboot.
// - The record says whether bosun's cordon and the lock are held (`cordoned`, `lockHeld`); a state
//   that does not need them first undoes them (uncordon, then release). So a failed drain or reboot
//   command leaves nothing behind [kured#63], and an agent restarted at any point resumes.
// - bosun uncordons only a cordon it made: a node someone else cordoned is left alone.
// - Once the reboot is under way the node is not given back until it is healthy: a node that does
//   not come back or is not healthy within the health timeout stays cordoned, the lock stays held
//   (no other node starts), and the failure is notified with a diagnosis.
// - When the window closes, the node being worked on finishes (a drained node still reboots) and
//   no new node starts; a drained node held back by a blocker is given back instead.
// - A node whose sentinel is still there after its reboot is not rebooted again at once: it waits
//   for the retry backoff, like a failed drain, so a broken sentinel cannot loop reboots.
// Pure: time comes in as `now`, nothing is read or written here.
import type { BlockerVerdict } from './blockers.ts';
import type { WindowState } from './window.ts';

/** Every state of the agent, in the order of a cycle. */
export const AGENT_STATES = [
  'idle',
  'waiting-window',
  'blocked',
  'waiting-lock',
  'cordoning',
  'draining',
  'drained',
  'reboot-blocked',
  'rebooting',
  'health-gate',
  'uncordoning',
  'releasing',
  'failed',
] as const;

/** One state of the agent. */
export type AgentState = (typeof AGENT_STATES)[number];

/** Where a failure happened; decides what is undone. */
export type FailurePhase = 'drain' | 'reboot' | 'health' | 'sentinel' | 'lock';

/** The state recorded on the Node (JSON in REBOOT_STATE). Times are RFC 3339. */
export interface RebootRecord {
  state: AgentState;
  /** When this state was entered. */
  since: string;
  /** One line: why the agent is in this state ("outside the maintenance window", the blockers, ...). */
  reason?: string;
  /** The blockers that hold the node back, when blocked. */
  blockers?: { kind: string; reason: string }[];
  /** Holders of the lock when it was found busy ("waiting-lock" then waits for a change of the lock). */
  lockHolders?: string[];
  /** When the sentinel was first seen in this cycle. */
  requiredSince?: string;
  /** bosun's cordon is on the node and is bosun's to undo. */
  cordoned: boolean;
  /** This node holds a slot of the lock. */
  lockHeld: boolean;
  /** The node's boot ID when it was cordoned; a different one means it rebooted. */
  bootIdBefore?: string;
  /** When the reboot step began (before the command ran). */
  rebootStartedAt?: string;
  /** When the reboot command returned. */
  rebootIssuedAt?: string;
  /** When the new boot was seen. */
  bootSeenAt?: string;
  /** The sentinel was still there after the boot. */
  sentinelAfterBoot?: boolean;
  /** Failures in a row (for the retry backoff); 0 after a successful cycle. */
  attempt: number;
  /** The agent waits until then: the window's next opening, or the retry after a failure. */
  until?: string;
  failure?: { phase: FailurePhase; message: string; diagnosis: string[] };
}

/** The outcome of an action, fed back into the machine. */
export type AgentEvent =
  /** The sentinel, the window and (when they matter) the blockers, read now. */
  | {
      type: 'evaluated';
      rebootRequired: boolean;
      window: WindowState;
      /** Blocker verdicts; [] when they were not checked (no reboot required or window closed). */
      verdicts: readonly BlockerVerdict[];
    }
  | { type: 'lock'; acquired: boolean; holders: readonly string[] }
  /** The node is cordoned: by bosun (ours) or already by someone else. */
  | { type: 'cordoned'; ours: boolean; by?: string; bootId: string }
  | { type: 'drained' }
  | { type: 'drain-failed'; message: string; diagnosis: readonly string[] }
  | { type: 'reboot-issued' }
  | { type: 'reboot-failed'; message: string }
  /** The node's boot ID and sentinel, read while waiting for the reboot. */
  | { type: 'boot'; bootId: string; rebootRequired: boolean }
  | { type: 'health'; healthy: boolean; problems: readonly string[] }
  | { type: 'uncordoned' }
  | { type: 'released' }
  /** The lock slot was found held by someone else while this node worked. */
  | { type: 'lost-lock'; holder?: string };

/** What the loop must do next. */
export type AgentAction =
  /**
   * Read the sentinel, the window and (if a reboot is required and the window is open) the
   * blockers, after waiting: 'none' not at all; 'change' for a change of the sentinel, the node or
   * a period; 'lock' for a change of the lock; 'retry' until `until` (a change of the sentinel
   * may end any wait early). `until` also bounds 'change' when the window opens then.
   */
  | { do: 'evaluate'; wait: 'none' | 'change' | 'lock' | 'retry'; until?: Date }
  | { do: 'acquire-lock' }
  | { do: 'cordon' }
  | { do: 'drain' }
  | { do: 'reboot' }
  /** Read the boot ID until it changes; give up at the deadline. */
  | { do: 'wait-boot'; deadline: Date }
  /** Check the node's health until it is healthy; the deadline is when it fails (none: keep watching). */
  | { do: 'health-gate'; deadline?: Date }
  | { do: 'uncordon' }
  | { do: 'release' };

/** A change people are told about (notify.ts formats and sends it). */
export interface Notice {
  kind: 'blocked' | 'draining' | 'rebooting' | 'back' | 'done' | 'failed';
  /** One line for people. */
  message: string;
  /** The diagnosis of a failure, one item per line. */
  diagnosis?: string[];
}

/** The result of a transition. */
export interface Transition {
  record: RebootRecord;
  /** The record differs from the one given (write it). */
  changed: boolean;
  notice?: Notice;
}

/** Timings the machine decides with. */
export interface MachineOptions {
  /** How long after the reboot step began the boot ID must have changed (ms). */
  rebootTimeoutMs: number;
  /** How long after the new boot the node must be healthy (ms). */
  healthTimeoutMs: number;
  /** The first retry after a failure waits this long, doubling up to retryMaxMs (ms). */
  retryBaseMs: number;
  retryMaxMs: number;
}

/** A node that has never been seen by the agent. */
export function initialRecord(now: Date): RebootRecord {
  return { state: 'idle', since: iso(now), cordoned: false, lockHeld: false, attempt: 0 };
}

function iso(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function ms(t: string | undefined): number | undefined {
  if (t === undefined) return undefined;
  const v = Date.parse(t);
  return Number.isNaN(v) ? undefined : v;
}

/** The backoff before retry number `attempt` (1 = the first failure). */
export function retryDelayMs(
  attempt: number,
  opts: Pick<MachineOptions, 'retryBaseMs' | 'retryMaxMs'>,
): number {
  return Math.min(opts.retryMaxMs, opts.retryBaseMs * 2 ** Math.max(0, attempt - 1));
}

/** States before the lock is taken: nothing of bosun's may remain on the node in them. */
const PRE_LOCK: ReadonlySet<AgentState> = new Set(['idle', 'waiting-window', 'blocked', 'waiting-lock']);

/** What to do next in this record's state. */
export function nextAction(r: RebootRecord, opts: MachineOptions): AgentAction {
  const until = r.until === undefined ? undefined : new Date(r.until);
  const undo = (): AgentAction | undefined =>
    r.cordoned ? { do: 'uncordon' } : r.lockHeld ? { do: 'release' } : undefined;
  switch (r.state) {
    case 'idle':
    case 'blocked':
      return undo() ?? { do: 'evaluate', wait: 'change' };
    case 'waiting-window':
      return undo() ?? { do: 'evaluate', wait: 'change', ...(until ? { until } : {}) };
    case 'waiting-lock':
      return (
        undo() ?? (r.lockHolders !== undefined ? { do: 'evaluate', wait: 'lock' } : { do: 'acquire-lock' })
      );
    case 'cordoning':
      return { do: 'cordon' };
    case 'draining':
      return { do: 'drain' };
    case 'drained':
      return { do: 'evaluate', wait: 'none' };
    case 'reboot-blocked':
      return { do: 'evaluate', wait: 'change' };
    case 'rebooting':
      return r.rebootIssuedAt === undefined
        ? { do: 'reboot' }
        : { do: 'wait-boot', deadline: new Date((ms(r.rebootStartedAt) ?? 0) + opts.rebootTimeoutMs) };
    case 'health-gate':
      return { do: 'health-gate', deadline: new Date((ms(r.bootSeenAt) ?? 0) + opts.healthTimeoutMs) };
    case 'uncordoning':
      return { do: 'uncordon' };
    case 'releasing':
      return { do: 'release' };
    case 'failed':
      if (r.failure?.phase === 'health') return { do: 'health-gate' };
      return undo() ?? { do: 'evaluate', wait: 'retry', ...(until ? { until } : {}) };
  }
}

/** Applies an event to a record. Events that do not apply to the state change nothing. */
export function transition(r: RebootRecord, e: AgentEvent, now: Date, opts: MachineOptions): Transition {
  const same: Transition = { record: r, changed: false };
  // Entering a state: a fresh `since`, and the fields that only describe the old state dropped.
  const enter = (state: AgentState, fields: Partial<RebootRecord> = {}, notice?: Notice): Transition => {
    const { reason: _r, blockers: _b, lockHolders: _l, until: _u, ...kept } = r;
    const record = compact({ ...kept, ...fields, state, since: state === r.state ? r.since : iso(now) });
    return { record, changed: JSON.stringify(record) !== JSON.stringify(r), ...(notice ? { notice } : {}) };
  };
  const fail = (
    phase: FailurePhase,
    message: string,
    diagnosis: readonly string[] = [],
    fields: Partial<RebootRecord> = {},
  ): Transition => {
    const attempt = r.attempt + 1;
    // After the reboot the node stays cordoned and keeps the lock; before it, the retry waits.
    const retry =
      phase === 'health' ? {} : { until: iso(new Date(now.getTime() + retryDelayMs(attempt, opts))) };
    return enter(
      'failed',
      {
        ...fields,
        attempt,
        failure: { phase, message, diagnosis: [...diagnosis] },
        reason: message,
        ...retry,
      },
      { kind: 'failed', message, ...(diagnosis.length > 0 ? { diagnosis: [...diagnosis] } : {}) },
    );
  };

  switch (e.type) {
    case 'evaluated':
      return evaluated(r, e, now, opts, enter);
    case 'lock':
      if (r.state !== 'waiting-lock') return same;
      if (e.acquired) return enter('cordoning', { lockHeld: true });
      return enter('waiting-lock', {
        lockHolders: [...e.holders],
        reason: `waiting for the lock${e.holders.length > 0 ? ` (held by ${e.holders.join(', ')})` : ''}`,
      });
    case 'cordoned':
      if (r.state !== 'cordoning') return same;
      if (!e.ours) {
        const message = `cordoned by ${e.by ?? 'someone else'}, not bosun: left alone`;
        return enter(
          'blocked',
          { reason: message, blockers: [{ kind: 'cordon', reason: message }] },
          { kind: 'blocked', message },
        );
      }
      return enter(
        'draining',
        { cordoned: true, ...(e.bootId ? { bootIdBefore: e.bootId } : {}) },
        { kind: 'draining', message: 'cordoned; draining' },
      );
    case 'drained':
      return r.state === 'draining' ? enter('drained') : same;
    case 'drain-failed':
      return r.state === 'draining' ? fail('drain', `drain failed: ${e.message}`, e.diagnosis) : same;
    case 'reboot-issued':
      return r.state === 'rebooting' && r.rebootIssuedAt === undefined
        ? enter('rebooting', { rebootIssuedAt: iso(now) })
        : same;
    case 'reboot-failed':
      return r.state === 'rebooting' ? fail('reboot', `reboot command failed: ${e.message}`) : same;
    case 'boot': {
      if (r.state !== 'rebooting') return same;
      const rebooted = r.bootIdBefore ? e.bootId !== '' && e.bootId !== r.bootIdBefore : !e.rebootRequired;
      if (rebooted) {
        return enter(
          'health-gate',
          { bootSeenAt: iso(now), sentinelAfterBoot: e.rebootRequired },
          {
            kind: 'back',
            message: `rebooted (boot ID ${e.bootId || 'unknown'})${e.rebootRequired ? '; the reboot sentinel is still there' : ''}; waiting until healthy`,
          },
        );
      }
      const started = ms(r.rebootStartedAt) ?? now.getTime();
      if (now.getTime() - started >= opts.rebootTimeoutMs)
        return fail(
          'reboot',
          `the node did not reboot within ${minutes(opts.rebootTimeoutMs)} of the reboot command`,
        );
      return same;
    }
    case 'health': {
      const gate = r.state === 'health-gate' || (r.state === 'failed' && r.failure?.phase === 'health');
      if (!gate) return same;
      if (e.healthy) return enter('uncordoning', { failure: undefined });
      if (r.state === 'failed') return same;
      const seen = ms(r.bootSeenAt) ?? now.getTime();
      if (now.getTime() - seen >= opts.healthTimeoutMs) {
        return fail(
          'health',
          `not healthy within ${minutes(opts.healthTimeoutMs)} after the reboot; left cordoned`,
          e.problems,
        );
      }
      const reason = `waiting until healthy: ${e.problems.join('; ')}`;
      return reason === r.reason ? same : enter('health-gate', { reason });
    }
    case 'uncordoned': {
      if (!r.cordoned) return same;
      if (r.state === 'uncordoning') return enter('releasing', { cordoned: false });
      return { record: { ...r, cordoned: false }, changed: true };
    }
    case 'released': {
      if (!r.lockHeld) return same;
      if (r.state === 'releasing') {
        if (r.sentinelAfterBoot) {
          const message =
            'rebooted, but the reboot sentinel is still there: not rebooting again before the retry';
          return fail('sentinel', message, [], {
            lockHeld: false,
            ...clearCycle(),
            sentinelAfterBoot: undefined,
          });
        }
        return enter(
          'idle',
          { lockHeld: false, attempt: 0, ...clearCycle() },
          { kind: 'done', message: 'rebooted, healthy and uncordoned' },
        );
      }
      return { record: { ...r, lockHeld: false }, changed: true };
    }
    case 'lost-lock': {
      if (!r.lockHeld) return same;
      const who = e.holder ? ` (now held by ${e.holder})` : '';
      if (['cordoning', 'draining', 'drained', 'reboot-blocked'].includes(r.state)) {
        return fail('lock', `lost the lock before the reboot${who}; giving the node back`, [], {
          lockHeld: false,
        });
      }
      // Rebooting or later: the node is down or coming back; finish the health gate without it.
      return { record: { ...r, lockHeld: false }, changed: true };
    }
  }
}

/** The fields of a finished cycle that the next one must not see. */
function clearCycle(): Partial<RebootRecord> {
  return {
    requiredSince: undefined,
    bootIdBefore: undefined,
    rebootStartedAt: undefined,
    rebootIssuedAt: undefined,
    bootSeenAt: undefined,
    sentinelAfterBoot: undefined,
    failure: undefined,
  };
}

/** The record without keys whose value is undefined (so that records compare and serialize alike). */
function compact(r: RebootRecord): RebootRecord {
  return Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as unknown as RebootRecord;
}

function minutes(msValue: number): string {
  const m = msValue / 60_000;
  return Number.isInteger(m) ? `${m}m` : `${Math.round(msValue / 1000)}s`;
}

type Enter = (state: AgentState, fields?: Partial<RebootRecord>, notice?: Notice) => Transition;

function evaluated(
  r: RebootRecord,
  e: Extract<AgentEvent, { type: 'evaluated' }>,
  now: Date,
  opts: MachineOptions,
  enter: Enter,
): Transition {
  const same: Transition = { record: r, changed: false };
  const working = r.state === 'drained' || r.state === 'reboot-blocked';
  const waitingRetry = r.state === 'failed' && r.failure?.phase !== 'health';
  if (!PRE_LOCK.has(r.state) && !working && !waitingRetry) return same;
  if (waitingRetry && (r.cordoned || r.lockHeld)) return same;
  if (!e.rebootRequired) {
    if (r.state === 'idle' && r.requiredSince === undefined) return same;
    return enter('idle', { attempt: 0, ...clearCycle() });
  }
  if (waitingRetry) {
    const until = ms(r.until);
    if (until !== undefined && now.getTime() < until) return same;
  }
  const requiredSince = r.requiredSince ?? iso(now);
  const blocking = e.verdicts.filter((v) => v.blocked);
  const blockers = blocking.map((v) => ({ kind: v.kind, reason: v.reason }));
  const blockedReason = blocking.map((v) => v.reason).join('; ');
  const blockedNotice = (state: AgentState): Notice | undefined =>
    r.state === state && r.reason === blockedReason
      ? undefined
      : { kind: 'blocked', message: `reboot blocked: ${blockedReason}` };

  if (working) {
    if (r.state === 'reboot-blocked' && !e.window.open) {
      // The window closed while a blocker held the drained node back: give it back.
      return enter('waiting-window', { requiredSince, ...windowFields(e.window) });
    }
    if (blocking.length > 0) {
      return enter(
        'reboot-blocked',
        { requiredSince, reason: blockedReason, blockers },
        blockedNotice('reboot-blocked'),
      );
    }
    return enter(
      'rebooting',
      { requiredSince, rebootStartedAt: iso(now), rebootIssuedAt: undefined },
      { kind: 'rebooting', message: 'drained; rebooting' },
    );
  }
  // A failure stays on the record (for status) until the next cycle succeeds.
  if (!e.window.open) return enter('waiting-window', { requiredSince, ...windowFields(e.window) });
  if (blocking.length > 0)
    return enter('blocked', { requiredSince, reason: blockedReason, blockers }, blockedNotice('blocked'));
  return enter('waiting-lock', { requiredSince });
}

function windowFields(w: WindowState): Partial<RebootRecord> {
  if (w.open) return {};
  return {
    reason: `outside the maintenance window${w.opensAt ? ` (opens ${iso(w.opensAt)})` : ''}`,
    ...(w.opensAt ? { until: iso(w.opensAt) } : {}),
  };
}

// ---- the record on the Node ----

/** The JSON written in REBOOT_STATE (undefined fields left out). */
export function serializeRecord(r: RebootRecord): string {
  return JSON.stringify(r);
}

/** Reads REBOOT_STATE; undefined when absent or unreadable (the agent then starts from idle). */
export function parseRecord(text: string | undefined): RebootRecord | undefined {
  if (text === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  if (!(AGENT_STATES as readonly unknown[]).includes(o['state']) || typeof o['since'] !== 'string')
    return undefined;
  return {
    ...(o as unknown as RebootRecord),
    cordoned: o['cordoned'] === true,
    lockHeld: o['lockHeld'] === true,
    attempt: typeof o['attempt'] === 'number' ? o['attempt'] : 0,
  };
}

// ---- another node's holder, seen from outside ----

/**
 * How an expired lock holder (its agent stopped renewing) looks to the other agents, from its
 * Node's record: whether its slot may be taken over (ClusterLock's keepExpired).
 */
export type HolderVerdict =
  /** Its reboot is in progress (the node is down or coming back): keep its slot, wait for it. */
  | { verdict: 'working'; reason: string }
  /** Not working on its node (no record, or a state without the lock): take its slot over. */
  | { verdict: 'not-working'; reason: string }
  /**
   * Its agent stopped before the reboot (killed while draining, say): take its slot over; the node
   * stays as it is (cordoned) until its agent returns and gives it back.
   */
  | { verdict: 'abandoned'; reason: string }
  /** Its reboot has not come back healthy in time: keep the slot held (no other node starts) and notify. */
  | { verdict: 'stuck'; reason: string };

/** States after the lock is taken and before the reboot. */
const BEFORE_REBOOT: ReadonlySet<AgentState> = new Set([
  'waiting-lock',
  'cordoning',
  'draining',
  'drained',
  'reboot-blocked',
  'uncordoning',
  'releasing',
]);

/** Judges an expired lock holder from its Node's record and Ready condition. */
export function judgeHolder(
  input: { record: RebootRecord | undefined; nodeReady: boolean; now: Date },
  opts: Pick<MachineOptions, 'rebootTimeoutMs' | 'healthTimeoutMs'>,
): HolderVerdict {
  const r = input.record;
  if (r === undefined || !r.lockHeld)
    return { verdict: 'not-working', reason: 'its node records no reboot holding the lock' };
  const down =
    r.state === 'rebooting' ||
    r.state === 'health-gate' ||
    (r.state === 'failed' && r.failure?.phase === 'health');
  if (down) {
    const from = ms(r.rebootStartedAt) ?? ms(r.since) ?? input.now.getTime();
    const limit = opts.rebootTimeoutMs + opts.healthTimeoutMs;
    if (r.state === 'failed' || (!input.nodeReady && input.now.getTime() - from >= limit)) {
      return {
        verdict: 'stuck',
        reason:
          r.state === 'failed'
            ? (r.failure?.message ?? 'failed')
            : `not back and healthy within ${minutes(limit)} of its reboot`,
      };
    }
    return { verdict: 'working', reason: r.reason ?? r.state };
  }
  if (BEFORE_REBOOT.has(r.state) || r.state === 'failed')
    return {
      verdict: 'abandoned',
      reason: `its agent stopped renewing the lock while ${r.state}${r.cordoned ? '; the node stays cordoned until its agent returns' : ''}`,
    };
  return { verdict: 'not-working', reason: `its node records ${r.state}` };
}
