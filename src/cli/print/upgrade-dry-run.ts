// What `bosun upgrade apply --dry-run` prints: per hop and step, the commands each node would run
// through the executor, as the executor would run them.
import { stepLines, type RecipeRunner, type UpgradePlan } from '../../upgrade/index.ts';

/** The commands each node would run, per step, for --dry-run. */
export function dryRunLines(plan: UpgradePlan, recipes: Pick<RecipeRunner, 'describe'>): string[] {
  const out: string[] = [];
  for (const hop of plan.hops) {
    out.push(`# hop ${hop.index}: ${hop.from} -> ${hop.to}`);
    for (const s of hop.steps) {
      if (s.kind === 'etcd-backup') {
        out.push(`# ${s.id}: a verified etcd snapshot`);
        continue;
      }
      const node = s.node ?? '';
      const drained = s.kind === 'kubelet' ? ' (cordoned and drained around it)' : '';
      out.push(`# ${s.id}${s.done ? ' (done already)' : ''}${drained}`);
      for (const line of stepLines(s)) out.push(recipes.describe(node, line));
    }
  }
  return out;
}
