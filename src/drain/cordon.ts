// Cordon and uncordon with ownership. A cordon bosun makes carries who, why and when
// (kube/annotations.ts); bosun uncordons only nodes it cordoned, unless forced, and says so otherwise.
// Writes are JSON merge patches of spec.unschedulable plus the annotations, in one request, decided
// on the node as just read. Like kubectl, the patch carries no resourceVersion: the kubelet rewrites
// the Node's status every few seconds, and a whole-object precondition would lose that race again
// and again. (So a cordon made by someone else in the milliseconds between our read and our patch
// would be recorded as bosun's.) A 409 from anything else is answered by reading and deciding again.
import type { Clock } from '../common/ports.ts';
import { isConflict } from '../kube/errors.ts';
import type { NodePatch, NodePods } from '../kube/ports.ts';
import type { Node } from '../kube/types.ts';
import {
  CORDON_ANNOTATIONS,
  MAINTENANCE_STATE,
  cordonAnnotations,
  cordonInfo,
  type CordonOwner,
} from '../kube/annotations.ts';

/** kubectl's --dry-run strategies. */
export type DryRun = 'none' | 'client' | 'server';

/** What happened to one node. */
export interface CordonResult {
  node: string;
  action: 'cordoned' | 'already-cordoned' | 'uncordoned' | 'already-uncordoned' | 'refused';
  /** Whether the cordon is (or was) bosun's own. */
  ownedByBosun: boolean;
  /** Who/why/when of an existing bosun cordon. */
  by?: string;
  reason?: string;
  at?: string;
  dryRun: DryRun;
  /** For refused: why, in one line. */
  message?: string;
  /** The node after the change (or as read, for dry runs and no-ops). */
  nodeObject: Node;
}

/** What cordon/uncordon need. */
export interface CordonDeps {
  kube: Pick<NodePods, 'getNode' | 'patchNode'>;
  clock: Clock;
}

const MAX_CONFLICT_RETRIES = 5;

function withInfo(
  base: Omit<CordonResult, 'ownedByBosun' | 'by' | 'reason' | 'at'>,
  node: Node,
): CordonResult {
  const info = cordonInfo(node);
  return {
    ...base,
    ownedByBosun: info.ownedByBosun,
    ...(info.by !== undefined ? { by: info.by } : {}),
    ...(info.reason !== undefined ? { reason: info.reason } : {}),
    ...(info.at !== undefined ? { at: info.at } : {}),
  };
}

async function patchWithRetry(
  deps: CordonDeps,
  name: string,
  node: Node,
  decide: (n: Node) => NodePatch | undefined,
  dryRun: DryRun,
  signal?: AbortSignal,
): Promise<{ node: Node; patched: boolean }> {
  let current = node;
  const req = signal ? { signal } : {};
  for (let attempt = 0; ; attempt++) {
    const patch = decide(current);
    if (patch === undefined) return { node: current, patched: false };
    if (dryRun === 'client') return { node: current, patched: true };
    try {
      return {
        node: await deps.kube.patchNode(name, patch, { dryRun: dryRun === 'server', ...req }),
        patched: true,
      };
    } catch (e) {
      if (!isConflict(e) || attempt >= MAX_CONFLICT_RETRIES) throw e;
      current = await deps.kube.getNode(name, req);
    }
  }
}

/**
 * Cordons the node, recording owner as the cordon's owner. A node already cordoned (by bosun or by
 * anyone else) is left as it is: kubectl's "already cordoned".
 * @param node the node as just read, to save a GET; read when absent.
 */
export async function cordonNode(
  name: string,
  opts: {
    owner: CordonOwner;
    dryRun: DryRun;
    node?: Node;
    /** Aborts the requests (a caller's deadline). */
    signal?: AbortSignal;
  },
  deps: CordonDeps,
): Promise<CordonResult> {
  const node = opts.node ?? (await deps.kube.getNode(name, opts.signal ? { signal: opts.signal } : {}));
  const res = await patchWithRetry(
    deps,
    name,
    node,
    (n) =>
      n.spec?.unschedulable === true
        ? undefined
        : {
            spec: { unschedulable: true },
            metadata: { annotations: cordonAnnotations(opts.owner, deps.clock.now()) },
          },
    opts.dryRun,
    opts.signal,
  );
  if (!res.patched)
    return withInfo(
      { node: name, action: 'already-cordoned', dryRun: opts.dryRun, nodeObject: res.node },
      res.node,
    );
  const shown =
    opts.dryRun === 'client'
      ? {
          ...res.node,
          metadata: {
            ...res.node.metadata,
            annotations: {
              ...res.node.metadata.annotations,
              ...cordonAnnotations(opts.owner, deps.clock.now()),
            },
          },
        }
      : res.node;
  return withInfo({ node: name, action: 'cordoned', dryRun: opts.dryRun, nodeObject: res.node }, shown);
}

/** The patch that removes every bosun annotation about the cordon and the maintenance state. */
function clearAnnotations(n: Node): Record<string, null> {
  const a = n.metadata.annotations ?? {};
  const out: Record<string, null> = {};
  for (const k of [...CORDON_ANNOTATIONS, MAINTENANCE_STATE]) if (k in a) out[k] = null;
  return out;
}

/**
 * Uncordons the node if bosun cordoned it (or force). A node cordoned by someone else is refused,
 * not changed. Removes bosun's cordon and maintenance annotations.
 */
export async function uncordonNode(
  name: string,
  opts: {
    force: boolean;
    dryRun: DryRun;
    node?: Node;
    /** Annotations to set in the same patch (maintain keeps its state until workloads are restored). */
    setAnnotations?: Record<string, string>;
    /** Aborts the requests (a caller's deadline). */
    signal?: AbortSignal;
  },
  deps: CordonDeps,
): Promise<CordonResult> {
  const node = opts.node ?? (await deps.kube.getNode(name, opts.signal ? { signal: opts.signal } : {}));
  let refused: Node | undefined;
  const res = await patchWithRetry(
    deps,
    name,
    node,
    (n) => {
      refused = undefined;
      const info = cordonInfo(n);
      const annotations: Record<string, string | null> = {
        ...clearAnnotations(n),
        ...(opts.setAnnotations ?? {}),
      };
      if (!info.cordoned)
        return Object.keys(annotations).length > 0 && opts.dryRun === 'none'
          ? { metadata: { annotations } }
          : undefined;
      if (!info.ownedByBosun && !opts.force) {
        refused = n;
        return undefined;
      }
      return { spec: { unschedulable: null }, metadata: { annotations } };
    },
    opts.dryRun,
    opts.signal,
  );
  if (refused) {
    return withInfo(
      {
        node: name,
        action: 'refused',
        dryRun: opts.dryRun,
        message: `node/${name} was cordoned outside bosun; leaving it cordoned`,
        nodeObject: refused,
      },
      refused,
    );
  }
  const before = cordonInfo(node);
  if (!before.cordoned && res.node.spec?.unschedulable !== true) {
    return withInfo(
      { node: name, action: 'already-uncordoned', dryRun: opts.dryRun, nodeObject: res.node },
      node,
    );
  }
  return withInfo({ node: name, action: 'uncordoned', dryRun: opts.dryRun, nodeObject: res.node }, node);
}
