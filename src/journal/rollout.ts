// The record of a rollout (an upgrade today): which plan (target, hops and their steps), which
// step ran on which node, what was done and when, which etcd backup guards it, and how it ended.
// It is what `bosun upgrade apply` resumes from, on any machine, and what `bosun upgrade status`
// shows. Every change is a pure function of the record (and the time), so that a writer that lost
// a race (409) re-reads the record and applies its change again to what it finds.
//
// A step is 'done' only when its proofs were read from the cluster (the orchestrator's job); the
// record never turns a command's exit code into 'done'. Pure: no I/O.

/** Where a step stands. */
export type StepState = 'pending' | 'running' | 'done' | 'failed';

/** How a rollout stands. */
export type RolloutPhase = 'running' | 'succeeded' | 'failed' | 'interrupted';

/** One thing done in a step, with its time ("cordon", "drain", "recipe", "kubelet v1.34.3"). */
export interface StepAction {
  what: string;
  at: string;
}

/** One step of the plan as the journal keeps it. */
export interface JournalStep {
  /** The plan's stable id: "v1.34.3/kubelet/worker-1". */
  id: string;
  kind: string;
  node?: string;
  /** Kubelet steps: the batch. */
  batch?: number;
  state: StepState;
  /** How many runs started this step (a resumed step counts again). */
  attempts: number;
  startedAt?: string;
  finishedAt?: string;
  /** 'ran': a run of bosun did it; 'found': its proofs already held when a run came to it. */
  doneBy?: 'ran' | 'found';
  /** What was done, in order (at most MAX_ACTIONS kept). */
  actions: StepAction[];
  /** The last failure, one line. */
  message?: string;
}

/** One hop of the plan. */
export interface JournalHop {
  index: number;
  from: string;
  to: string;
  steps: JournalStep[];
}

/** The etcd backup that guards the rollout. */
export interface JournalBackup {
  /** Full path where it was written, on the machine that took it. */
  file: string;
  /** The machine that took it. */
  host: string;
  takenAt: string;
  revision: number;
  sha256?: string;
  /** The hop it was taken for ("v1.34.3"). */
  hop: string;
}

/** One `apply` run (the first, and every resume). */
export interface JournalRun {
  by: string;
  startedAt: string;
  endedAt?: string;
  outcome?: RolloutPhase;
}

/** How the rollout ended, or why it stopped. */
export interface JournalOutcome {
  message: string;
  step?: string;
  node?: string;
  hint?: string;
  /** The diagnosis lines: the command's output, conditions, events. */
  diagnosis?: string[];
}

/** The whole record. */
export interface RolloutJournal {
  apiVersion: 'bosun.dev/v1alpha1';
  kind: 'UpgradeJournal';
  /** "upgrade-v1.34.3-20261207T101500Z": set when the rollout starts, kept across resumes. */
  id: string;
  /** The cluster version when the rollout started, and the target. */
  from: string;
  to: string;
  maxUnavailable: string;
  batchSize: number;
  startedAt: string;
  updatedAt: string;
  finishedAt?: string;
  phase: RolloutPhase;
  /** The plan: every hop and its steps. A resumed run adds hops and steps it plans anew. */
  hops: JournalHop[];
  /** Every backup taken for it, newest last. */
  backups: JournalBackup[];
  runs: JournalRun[];
  outcome?: JournalOutcome;
}

/** Steps keep at most this many actions (the journal lives in a ConfigMap of at most 1 MiB). */
export const MAX_ACTIONS = 24;
/** Diagnoses keep at most this many lines. */
export const MAX_DIAGNOSIS_LINES = 40;

/** The plan as the journal needs it. */
export interface PlannedHop {
  index: number;
  from: string;
  to: string;
  steps: { id: string; kind: string; node: string | undefined; batch: number | undefined }[];
}

/** A new journal for a rollout starting now. */
export function newJournal(o: {
  from: string;
  to: string;
  maxUnavailable: string;
  batchSize: number;
  hops: readonly PlannedHop[];
  by: string;
  now: Date;
}): RolloutJournal {
  const at = o.now.toISOString();
  const stamp = at.replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
  return {
    apiVersion: 'bosun.dev/v1alpha1',
    kind: 'UpgradeJournal',
    id: `upgrade-${o.to}-${stamp}`,
    from: o.from,
    to: o.to,
    maxUnavailable: o.maxUnavailable,
    batchSize: o.batchSize,
    startedAt: at,
    updatedAt: at,
    phase: 'running',
    hops: mergeHops([], o.hops),
    backups: [],
    runs: [{ by: o.by, startedAt: at }],
  };
}

function journalStep(s: PlannedHop['steps'][number]): JournalStep {
  return {
    id: s.id,
    kind: s.kind,
    ...(s.node !== undefined ? { node: s.node } : {}),
    ...(s.batch !== undefined ? { batch: s.batch } : {}),
    state: 'pending',
    attempts: 0,
    actions: [],
  };
}

/**
 * The journal's hops with a plan made anew (a resumed run plans from the cluster as it is now):
 * steps already in the journal keep their record, new steps are added as pending (a hop's steps in
 * the plan's order, the journal's other steps of that hop after them, in their order).
 */
export function mergeHops(existing: readonly JournalHop[], planned: readonly PlannedHop[]): JournalHop[] {
  const out: JournalHop[] = existing.map((h) => ({ ...h, steps: [...h.steps] }));
  for (const p of planned) {
    let hop = out.find((h) => h.to === p.to);
    if (!hop) {
      hop = { index: 0, from: p.from, to: p.to, steps: [] };
      out.push(hop);
    }
    const known = new Map(hop.steps.map((s) => [s.id, s]));
    const ordered = p.steps.map((s) => known.get(s.id) ?? journalStep(s));
    const ids = new Set(ordered.map((s) => s.id));
    hop.steps = [...ordered, ...hop.steps.filter((s) => !ids.has(s.id))];
  }
  out.sort((a, b) => versionKey(a.to) - versionKey(b.to));
  out.forEach((h, i) => (h.index = i + 1));
  return out;
}

function versionKey(v: string): number {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(v);
  return m ? Number(m[1]) * 1e8 + Number(m[2]) * 1e4 + Number(m[3]) : 0;
}

/** Finds a step by id. */
export function findStep(j: RolloutJournal, id: string): JournalStep | undefined {
  for (const h of j.hops) for (const s of h.steps) if (s.id === id) return s;
  return undefined;
}

function withStep(
  j: RolloutJournal,
  id: string,
  now: Date,
  change: (s: JournalStep, at: string) => JournalStep,
): RolloutJournal {
  const at = now.toISOString();
  let found = false;
  const hops = j.hops.map((h) => ({
    ...h,
    steps: h.steps.map((s) => {
      if (s.id !== id) return s;
      found = true;
      return change(s, at);
    }),
  }));
  if (!found) throw new Error(`journal ${j.id} has no step ${id}`);
  return { ...j, hops, updatedAt: at };
}

function addAction(s: JournalStep, what: string, at: string): StepAction[] {
  const actions = [...s.actions, { what, at }];
  return actions.length > MAX_ACTIONS ? actions.slice(actions.length - MAX_ACTIONS) : actions;
}

/** A run starts (or resumes) the step. */
export function stepStarted(j: RolloutJournal, id: string, now: Date): RolloutJournal {
  return withStep(j, id, now, (s, at) => {
    const { message: _dropped, ...rest } = s;
    return { ...rest, state: 'running', attempts: s.attempts + 1, startedAt: s.startedAt ?? at };
  });
}

/** Something was done in the step. */
export function stepAction(j: RolloutJournal, id: string, what: string, now: Date): RolloutJournal {
  return withStep(j, id, now, (s, at) => ({ ...s, actions: addAction(s, what, at) }));
}

/** The step's proofs hold: it is done ('found': they held before this run did anything). */
export function stepDone(j: RolloutJournal, id: string, how: 'ran' | 'found', now: Date): RolloutJournal {
  return withStep(j, id, now, (s, at) => {
    const { message: _dropped, ...rest } = s;
    return { ...rest, state: 'done', doneBy: s.doneBy ?? how, finishedAt: at, startedAt: s.startedAt ?? at };
  });
}

/** The step failed: the rollout stops there. */
export function stepFailed(j: RolloutJournal, id: string, message: string, now: Date): RolloutJournal {
  return withStep(j, id, now, (s, at) => ({
    ...s,
    state: 'failed',
    message,
    actions: addAction(s, `failed: ${message}`, at),
  }));
}

/** A backup was taken for the hop. */
export function backupTaken(j: RolloutJournal, b: JournalBackup, now: Date): RolloutJournal {
  return { ...j, backups: [...j.backups, b].slice(-10), updatedAt: now.toISOString() };
}

/** A run of apply starts on the journal (a resume when the journal has runs already). */
export function runStarted(j: RolloutJournal, by: string, now: Date): RolloutJournal {
  const at = now.toISOString();
  // An earlier run that never recorded its end was killed: say so.
  const runs = j.runs.map((r) => (r.endedAt === undefined ? { ...r, outcome: 'interrupted' as const } : r));
  const { outcome: _dropped, finishedAt: _f, ...rest } = j;
  return { ...rest, phase: 'running', runs: [...runs, { by, startedAt: at }].slice(-20), updatedAt: at };
}

/** The run ends: the rollout succeeded, failed (with why) or was interrupted. */
export function runEnded(
  j: RolloutJournal,
  phase: Exclude<RolloutPhase, 'running'>,
  outcome: JournalOutcome | undefined,
  now: Date,
): RolloutJournal {
  const at = now.toISOString();
  const runs = [...j.runs];
  const last = runs.at(-1);
  if (last && last.endedAt === undefined) runs[runs.length - 1] = { ...last, endedAt: at, outcome: phase };
  const out: RolloutJournal = { ...j, phase, runs, updatedAt: at };
  if (phase === 'succeeded') out.finishedAt = at;
  if (outcome)
    out.outcome = {
      ...outcome,
      ...(outcome.diagnosis ? { diagnosis: outcome.diagnosis.slice(0, MAX_DIAGNOSIS_LINES) } : {}),
    };
  else delete out.outcome;
  return out;
}

/** The newest backup recorded. */
export function latestBackup(j: RolloutJournal): JournalBackup | undefined {
  return j.backups.at(-1);
}

/** Counts of steps by state, for status lines. */
export function stepCounts(j: RolloutJournal): Record<StepState, number> {
  const c: Record<StepState, number> = { pending: 0, running: 0, done: 0, failed: 0 };
  for (const h of j.hops) for (const s of h.steps) c[s.state]++;
  return c;
}

/**
 * Reads a journal document; undefined when it is not one (a foreign or older format is not
 * resumed from: the caller starts over and says so).
 */
export function parseJournal(text: string): RolloutJournal | undefined {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const j = v as Partial<RolloutJournal>;
  if (j.kind !== 'UpgradeJournal' || typeof j.id !== 'string' || typeof j.to !== 'string') return undefined;
  if (!Array.isArray(j.hops) || !Array.isArray(j.runs) || !Array.isArray(j.backups)) return undefined;
  for (const h of j.hops) if (!Array.isArray(h.steps)) return undefined;
  return j as RolloutJournal;
}
