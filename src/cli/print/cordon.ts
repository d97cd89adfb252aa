// How cordon and uncordon results read: kubectl's "node/NAME cordoned" lines on stdout (with the
// dry-run suffix), who cordoned a node and why on stderr, or one CordonResult document for -o
// json|yaml. Who, why and the node's name come from the cluster: each is printed as one line.
import type { Output } from '../../common/ports.ts';
import type { CordonResult } from '../../drain/index.ts';
import { dryRunSuffix } from './drain-progress.ts';
import { oneLine } from './terminal.ts';

/** Prints one cordon result as kubectl does, and notes a cordon that is not bosun's. */
export function printCordonResult(out: Output, r: CordonResult): void {
  const node = oneLine(r.node);
  out.out(
    `node/${node} ${r.action === 'cordoned' ? 'cordoned' : 'already cordoned'}${dryRunSuffix(r.dryRun)}`,
  );
  if (r.action === 'already-cordoned' && !r.ownedByBosun)
    out.err(`note: node/${node} was cordoned outside bosun`);
}

/**
 * Prints one uncordon result: the result line and who had cordoned the node and why. A refusal is
 * an `error:` line only when several nodes were asked for (with one, the command's error says it).
 */
export function printUncordonResult(out: Output, r: CordonResult, opts: { many: boolean }): void {
  const node = oneLine(r.node);
  if (r.action === 'refused') {
    if (opts.many) out.err(`error: ${oneLine(r.message ?? '')}`);
    return;
  }
  out.out(
    `node/${node} ${r.action === 'uncordoned' ? 'uncordoned' : 'already uncordoned'}${dryRunSuffix(r.dryRun)}`,
  );
  if (r.action === 'uncordoned' && r.ownedByBosun && r.by)
    out.err(
      `(it was cordoned by ${oneLine(r.by)}${r.at ? ` at ${oneLine(r.at)}` : ''}${r.reason ? `: ${oneLine(r.reason)}` : ''})`,
    );
  if (r.action === 'uncordoned' && !r.ownedByBosun)
    out.err(`note: node/${node} had been cordoned outside bosun; uncordoned because of --force`);
}

/** The -o json|yaml document of cordon and uncordon. */
export function cordonDocument(results: readonly CordonResult[]): unknown {
  return {
    kind: 'CordonResult',
    apiVersion: 'bosun.dev/v1alpha1',
    nodes: results.map((r) => ({
      name: r.node,
      action: r.action,
      ownedByBosun: r.ownedByBosun,
      ...(r.by !== undefined ? { cordonedBy: r.by } : {}),
      ...(r.reason !== undefined ? { reason: r.reason } : {}),
      ...(r.at !== undefined ? { cordonedAt: r.at } : {}),
      dryRun: r.dryRun,
      ...(r.message !== undefined ? { message: r.message } : {}),
    })),
  };
}
