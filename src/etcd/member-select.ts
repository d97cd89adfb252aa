// Picks the etcd member to take a snapshot from when several endpoints are given: a healthy one
// that is not lagging behind the others, preferring the user's order. Pure.

/** What probing one endpoint found. */
export type MemberProbe =
  | {
      endpoint: string;
      ok: true;
      /** Member ID in hex, and its name from the member list when known. */
      memberId: string;
      name: string | null;
      clusterId: string;
      isLeader: boolean;
      isLearner: boolean;
      raftIndex: number;
      raftAppliedIndex: number;
      revision: number;
      version: string;
      /** Alarms and errors the member reports (e.g. "NOSPACE"); empty when healthy. */
      errors: string[];
    }
  | { endpoint: string; ok: false; error: string };

/** The choice and a reason for every endpoint, for the progress lines. */
export interface MemberChoice {
  chosen: Extract<MemberProbe, { ok: true }> | null;
  verdicts: { endpoint: string; chosen: boolean; why: string }[];
}

/**
 * Skips unreachable members, members reporting errors or alarms, learners, and members whose
 * applied raft index trails the most advanced one by more than `maxLagEntries`; then takes the
 * first remaining endpoint in the given order.
 */
export function chooseMember(probes: readonly MemberProbe[], maxLagEntries: number): MemberChoice {
  const up = probes.filter((p): p is Extract<MemberProbe, { ok: true }> => p.ok);
  const best = up.reduce((m, p) => Math.max(m, p.raftAppliedIndex), 0);
  const bestRev = up.reduce((m, p) => Math.max(m, p.revision), 0);
  let chosen: MemberChoice['chosen'] = null;
  const verdicts: MemberChoice['verdicts'] = [];
  for (const p of probes) {
    if (!p.ok) {
      verdicts.push({ endpoint: p.endpoint, chosen: false, why: p.error });
      continue;
    }
    const who = p.name ? `member ${p.name}` : `member ${p.memberId}`;
    let skip: string | null = null;
    if (p.errors.length > 0) skip = `${who} reports ${p.errors.join(', ')}`;
    else if (p.isLearner) skip = `${who} is a learner`;
    else if (best - p.raftAppliedIndex > maxLagEntries) {
      skip = `${who} is lagging: applied raft index ${p.raftAppliedIndex}, ${best - p.raftAppliedIndex} entries behind ${best}`;
    }
    if (skip === null && chosen === null) {
      chosen = p;
      const lag = best - p.raftAppliedIndex;
      verdicts.push({
        endpoint: p.endpoint,
        chosen: true,
        why: `${who}${p.isLeader ? ' (leader)' : ''}: healthy, applied raft index ${p.raftAppliedIndex}${lag > 0 ? ` (${lag} behind)` : ''}, revision ${p.revision}${bestRev > p.revision ? ` (newest ${bestRev})` : ''}`,
      });
    } else {
      verdicts.push({ endpoint: p.endpoint, chosen: false, why: skip ?? `${who}: healthy, not needed` });
    }
  }
  return { chosen, verdicts };
}
