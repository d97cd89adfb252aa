// How drain, drain --check and maintain results read: the pre-flight as a table (NODE NAMESPACE
// POD ACTION REASON) with one verdict line per node, or as a DrainPlan document; a drain's
// DrainResult and maintain's MaintainResult documents for -o json|yaml. (Progress while a drain
// runs is the Reporter's: drain-progress.ts.) Names and messages come from the cluster: the table
// writer and oneLine() keep each on its line.
import type { MaintainResult, NodeDrainResult, NodePlan } from '../../drain/index.ts';
import { formatTable } from '../output.ts';
import { oneLine } from './terminal.ts';

/** Does the pre-flight let every node be drained (no refusal, no blocker that is not ignored)? */
export function isPlanDrainable(plans: readonly NodePlan[]): boolean {
  return plans.every((p) => p.refusals.length === 0 && p.preflight.blockers.length === 0);
}

/** The -o json|yaml document of drain --check. */
export function planDocument(plans: readonly NodePlan[]): unknown {
  return {
    kind: 'DrainPlan',
    apiVersion: 'bosun.dev/v1alpha1',
    nodes: plans.map((p) => ({
      name: p.node.metadata.name,
      drainable: p.refusals.length === 0 && p.preflight.blockers.length === 0,
      longestGraceSeconds: p.preflight.longestGraceSeconds,
      ...(p.preflight.skipped.length > 0 ? { skipped: p.preflight.skipped } : {}),
      pods: p.preflight.predictions.map((x) => ({
        namespace: x.pod.namespace,
        name: x.pod.name,
        action: x.action,
        reason: x.reason,
        ...(x.budget ? { budget: x.budget } : {}),
        ...(x.placement ? { placement: x.placement } : {}),
        blockers: x.blockers.map((b) => ({
          check: b.check,
          message: b.message,
          ignored: p.preflight.ignored.some((i) => i.pod.uid === x.pod.uid && i.blocker === b),
        })),
        waits: x.waits,
      })),
    })),
  };
}

/**
 * drain --check's lines for stderr: the pre-flight checks bosun could not make and why (a
 * permission the user lacks), said once (every node's plan skips the same checks).
 */
export function skippedLines(plans: readonly NodePlan[]): string[] {
  return (plans[0]?.preflight.skipped ?? []).map(
    (x) => `pre-flight: skipped ${x.checks.join(', ')}: ${x.reason}`,
  );
}

/** drain --check's table (one row per pod) and then one verdict line per node. */
export function planLines(plans: readonly NodePlan[], opts: { headers: boolean }): string[] {
  const rows: string[][] = [];
  for (const p of plans) {
    for (const x of p.preflight.predictions) {
      const blocked = x.blockers.filter((b) => !p.preflight.ignored.some((i) => i.blocker === b));
      const action = blocked.length > 0 ? 'blocked' : x.action;
      const reason = [blocked.map((b) => `${b.check}: ${b.message}`).join('; '), x.reason, ...x.waits]
        .filter(Boolean)
        .join('; ');
      rows.push([p.node.metadata.name ?? '', x.pod.namespace, x.pod.name, action, reason]);
    }
  }
  const lines = formatTable(opts.headers ? ['NODE', 'NAMESPACE', 'POD', 'ACTION', 'REASON'] : null, rows);
  for (const p of plans) {
    const name = oneLine(p.node.metadata.name ?? '');
    if (p.refusals.length > 0)
      lines.push(
        `node/${name} cannot be drained: ${p.refusals.length} kind(s) of pod refused (see ACTION refuse)`,
      );
    else if (p.preflight.blockers.length > 0)
      lines.push(
        `node/${name} would get stuck: ${[...new Set(p.preflight.blockers.map((b) => b.blocker.check))].join(', ')} (see ACTION blocked)`,
      );
    else
      lines.push(
        `node/${name} can be drained (no sooner than ${p.preflight.longestGraceSeconds}s, its longest grace period)`,
      );
  }
  return lines;
}

/** The -o json|yaml document of drain. */
export function drainDocument(results: readonly NodeDrainResult[], dryRun: string): unknown {
  return {
    kind: 'DrainResult',
    apiVersion: 'bosun.dev/v1alpha1',
    dryRun,
    nodes: results.map(nodeDrainDocument),
  };
}

function nodeDrainDocument(r: NodeDrainResult): unknown {
  return {
    name: r.node,
    outcome: r.outcome,
    ...(r.message ? { message: r.message } : {}),
    ...(r.hint ? { hint: r.hint } : {}),
    cordoned: r.cordoned,
    cordonOwnedByBosun: r.cordonOwnedByBosun,
    resumed: r.resumed,
    durationSeconds: Math.round(r.durationMs) / 1000,
    pods: r.pods.map((p) => ({
      namespace: p.namespace,
      name: p.name,
      outcome: p.outcome,
      ...(p.category ? { category: p.category } : {}),
      ...(p.message ? { message: p.message } : {}),
    })),
    refusals: r.refusals.map((g) => ({
      category: g.category,
      message: g.message,
      pods: g.pods.map((p) => `${p.namespace}/${p.name}`),
    })),
    warnings: r.warnings.map((g) => ({
      category: g.category,
      message: g.message,
      pods: g.pods.map((p) => `${p.namespace}/${p.name}`),
    })),
    preflight: r.preflight
      ? {
          blockers: r.preflight.blockers.map((b) => ({
            pod: `${b.pod.namespace}/${b.pod.name}`,
            check: b.blocker.check,
            message: b.blocker.message,
          })),
          ignored: r.preflight.ignored.map((b) => ({
            pod: `${b.pod.namespace}/${b.pod.name}`,
            check: b.blocker.check,
            message: b.blocker.message,
          })),
          longestGraceSeconds: r.preflight.longestGraceSeconds,
        }
      : null,
  };
}

/** The -o json|yaml document of maintain. */
export function maintainDocument(r: MaintainResult): unknown {
  return {
    kind: 'MaintainResult',
    apiVersion: 'bosun.dev/v1alpha1',
    node: r.node,
    outcome: r.outcome,
    resumed: r.resumed,
    ...(r.message ? { message: r.message } : {}),
    ...(r.hint ? { hint: r.hint } : {}),
    ...(r.commandExitCode !== undefined ? { commandExitCode: r.commandExitCode } : {}),
    ...(r.diagnosis ? { diagnosis: r.diagnosis } : {}),
    ...(r.drain ? { drain: nodeDrainDocument(r.drain) } : {}),
  };
}
