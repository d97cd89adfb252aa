// Which of bosun's own backups a retention policy keeps and which it prunes. Pure: the caller
// lists the directory and deletes. Only verified backups that bosun named are ever candidates;
// the backup just taken is never pruned.

/** A backup as retention sees it. */
export interface RetentionEntry {
  file: string;
  cluster: string;
  time: Date;
  /** Its sidecar says it was verified (and it matches the file). Unverified files are never pruned. */
  verified: boolean;
}

/** --keep and --keep-within; both absent means keep everything. */
export interface RetentionPolicy {
  /** Keep the newest N backups of each cluster. */
  keep?: number;
  /** Keep every backup taken within this many milliseconds before now. */
  keepWithinMs?: number;
}

/** The verdict for one directory. */
export interface RetentionPlan {
  keep: RetentionEntry[];
  prune: RetentionEntry[];
}

/**
 * Decides per cluster, newest first: a backup is kept when either rule keeps it (like restic's
 * --keep-last with --keep-within). Files in `protect` and unverified files are always kept.
 */
export function planRetention(
  entries: readonly RetentionEntry[],
  policy: RetentionPolicy,
  now: Date,
  protect: readonly string[] = [],
): RetentionPlan {
  const keep: RetentionEntry[] = [];
  const prune: RetentionEntry[] = [];
  if (policy.keep === undefined && policy.keepWithinMs === undefined) return { keep: [...entries], prune };
  const byCluster = new Map<string, RetentionEntry[]>();
  for (const e of entries) {
    if (!e.verified || protect.includes(e.file)) {
      keep.push(e);
      continue;
    }
    const list = byCluster.get(e.cluster) ?? [];
    list.push(e);
    byCluster.set(e.cluster, list);
  }
  for (const [cluster, list] of byCluster) {
    // The protected (just taken) backups count towards --keep too.
    const protectedCount = entries.filter(
      (e) => e.cluster === cluster && e.verified && protect.includes(e.file),
    ).length;
    list.sort((a, b) => b.time.getTime() - a.time.getTime() || (a.file < b.file ? 1 : -1));
    list.forEach((e, i) => {
      const byCount = policy.keep !== undefined && i + protectedCount < policy.keep;
      const byAge =
        policy.keepWithinMs !== undefined && now.getTime() - e.time.getTime() <= policy.keepWithinMs;
      (byCount || byAge ? keep : prune).push(e);
    });
  }
  return { keep, prune };
}
