// `bosun upgrade status`: the journal of the last rollout as people and scripts read it, per hop
// (its steps, how many are done) and per node (each step that touched it, and where it stands),
// with the cluster lock's holders beside it. Pure: the journal and the lock's description are given.
import type {
  JournalBackup,
  JournalOutcome,
  JournalStep,
  RolloutJournal,
  RolloutPhase,
  StepState,
} from '../journal/index.ts';

/** One hop of the status. */
export interface HopStatus {
  index: number;
  from: string;
  to: string;
  /** done when every step is; failed when one is; running when one started; else pending. */
  state: StepState;
  done: number;
  total: number;
  steps: JournalStep[];
}

/** One node of the status: every step that ran on it. */
export interface NodeStatus {
  name: string;
  /** The version of its last step that is done ("v1.34.3"); undefined when none is. */
  version: string | undefined;
  state: StepState;
  steps: { id: string; state: StepState; attempts: number; finishedAt?: string | undefined }[];
}

/** A holder of the lock as `status` shows it. */
export interface LockHolderStatus {
  identity: string;
  operation: string;
  state: string;
  text: string;
}

/** The status document (-o json|yaml). */
export interface UpgradeStatus {
  apiVersion: 'bosun.dev/v1alpha1';
  kind: 'UpgradeStatus';
  /** Where the journal lives. */
  journalObject: string;
  /** undefined: no rollout has written a journal on this cluster. */
  rollout:
    | {
        id: string;
        from: string;
        to: string;
        phase: RolloutPhase;
        startedAt: string;
        updatedAt: string;
        finishedAt?: string | undefined;
        runs: number;
        backup: JournalBackup | undefined;
        outcome?: JournalOutcome | undefined;
      }
    | undefined;
  hops: HopStatus[];
  nodes: NodeStatus[];
  lock: { holders: LockHolderStatus[] } | { error: string };
}

function hopState(steps: readonly JournalStep[]): StepState {
  if (steps.some((s) => s.state === 'failed')) return 'failed';
  if (steps.every((s) => s.state === 'done')) return 'done';
  if (steps.some((s) => s.state === 'running' || s.state === 'done')) return 'running';
  return 'pending';
}

/** Builds the status document. */
export function upgradeStatus(
  journal: RolloutJournal | undefined,
  journalObject: string,
  lock: UpgradeStatus['lock'],
): UpgradeStatus {
  const hops: HopStatus[] = (journal?.hops ?? []).map((h) => ({
    index: h.index,
    from: h.from,
    to: h.to,
    state: hopState(h.steps),
    done: h.steps.filter((s) => s.state === 'done').length,
    total: h.steps.length,
    steps: h.steps,
  }));
  const nodes = new Map<string, NodeStatus>();
  for (const h of journal?.hops ?? [])
    for (const s of h.steps) {
      if (s.node === undefined) continue;
      const n = nodes.get(s.node) ?? { name: s.node, version: undefined, state: 'pending', steps: [] };
      n.steps.push({ id: s.id, state: s.state, attempts: s.attempts, finishedAt: s.finishedAt });
      if (s.state === 'done') n.version = h.to;
      nodes.set(s.node, n);
    }
  for (const n of nodes.values()) n.state = hopState(n.steps as JournalStep[]);
  return {
    apiVersion: 'bosun.dev/v1alpha1',
    kind: 'UpgradeStatus',
    journalObject,
    rollout: journal
      ? {
          id: journal.id,
          from: journal.from,
          to: journal.to,
          phase: journal.phase,
          startedAt: journal.startedAt,
          updatedAt: journal.updatedAt,
          finishedAt: journal.finishedAt,
          runs: journal.runs.length,
          backup: journal.backups.at(-1),
          outcome: journal.outcome,
        }
      : undefined,
    hops,
    nodes: [...nodes.values()].sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true })),
    lock,
  };
}
