// Cordon or uncordon many nodes, one after the other, in the order given: what `bosun cordon` and
// `bosun uncordon` do with several names or a selector, and what a rolling job does between its
// nodes. Each node's result is handed to onResult as soon as it is known (a CLI prints it then),
// and all of them are returned. An error (the API, not a refusal) stops at that node: the nodes
// before it keep their change, the ones after it are not touched. Never prints.
import type { Node } from '../kube/types.ts';
import type { CordonOwner } from '../kube/annotations.ts';
import { cordonNode, uncordonNode, type CordonDeps, type CordonResult, type DryRun } from './cordon.ts';

/** Called with each node's result as soon as it is known. */
export type CordonResultObserver = (r: CordonResult) => void;

/** Cordons each node (as just read) for owner; one result per node, in order. */
export function cordonNodes(
  nodes: readonly Node[],
  opts: { owner: CordonOwner; dryRun: DryRun; onResult?: CordonResultObserver },
  deps: CordonDeps,
): Promise<CordonResult[]> {
  return inTurn(
    nodes,
    (n) => cordonNode(n.metadata.name ?? '', { owner: opts.owner, dryRun: opts.dryRun, node: n }, deps),
    opts.onResult,
  );
}

/**
 * Uncordons each node (as just read) that bosun cordoned, or every one with force; a node cordoned
 * outside bosun is a `refused` result, not an error, and the others go on.
 */
export function uncordonNodes(
  nodes: readonly Node[],
  opts: { force: boolean; dryRun: DryRun; onResult?: CordonResultObserver },
  deps: CordonDeps,
): Promise<CordonResult[]> {
  return inTurn(
    nodes,
    (n) => uncordonNode(n.metadata.name ?? '', { force: opts.force, dryRun: opts.dryRun, node: n }, deps),
    opts.onResult,
  );
}

async function inTurn(
  nodes: readonly Node[],
  one: (n: Node) => Promise<CordonResult>,
  onResult: CordonResultObserver | undefined,
): Promise<CordonResult[]> {
  const results: CordonResult[] = [];
  for (const n of nodes) {
    const r = await one(n);
    results.push(r);
    onResult?.(r);
  }
  return results;
}
