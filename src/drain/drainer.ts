// Drains nodes: the plan, and the run across nodes, around the pure decisions. For the nodes asked
// for it
//   1. reads the cluster once (nodes, PDBs, and one chunked pass over the pods that keeps the
//      drained nodes' pods and only sums the rest: scan.ts; the DaemonSets kubectl would look up;
//      SelfSubjectAccessReviews for what the drain will need after the cordon): startPlanReads,
//   2. runs kubectl's filters and bosun's pre-flight for every node (planDrain); a node with a
//      refusal or a blocker is not touched at all (kubectl would have cordoned it first),
//   3. cordons the rest together, as kubectl does, with bosun's ownership annotations,
//   4. drains them one after another, each by its own eviction loop (NodeDrain, node-drain.ts).
// Every request carries the drain's deadline (--timeout counts from when the command began), so a
// silent API server cannot hold the reads or the cordon past it, and the timeout then names the
// API server. It never uncordons a node it did not cordon, and never deletes a pod unless
// --disable-eviction or an escalation rule says so.
//
// It is a library: the CLI, `bosun maintain`, the upgrade orchestrator and the reboot agent call
// drainNodes/drainNode (through index.ts) with their own owner, options and observer. The options,
// events, results and plan they share with the eviction loop live in drain-contract.ts.
import { BosunError, errorMessage } from '../common/errors.ts';
import { isForbidden, isNotFound } from '../kube/errors.ts';
import type { NodePods, ResourceAttributes } from '../kube/ports.ts';
import type { ListResult, Node, Pod, PodDisruptionBudget } from '../kube/types.ts';
import { controllerOf, isMirrorPod } from '../kube/pods.ts';
import { cordonInfo, rfc3339 } from '../kube/annotations.ts';
import { matches } from '../kube/labels.ts';
import { forbiddenReason, reviewAll } from './access.ts';
import { cordonNode } from './cordon.ts';
import {
  compileSelector,
  deadlineSignal,
  filterOptions,
  resumeHint,
  type DrainDeps,
  type DrainOptions,
  type NodeDrainResult,
  type NodePlan,
  type PlanReads,
  type PodOutcome,
} from './drain-contract.ts';
import { decidePods, isFinished, refusals, warnings, type DaemonSetLookup } from './filters.ts';
import { NodeDrain } from './node-drain.ts';
import { antiAffinityTerms, preflight, termMatches } from './preflight.ts';
import { PodScanner } from './scan.ts';

const PDB_LIST: ResourceAttributes = { verb: 'list', resource: 'poddisruptionbudgets', group: 'policy' };

/**
 * Starts the plan's reads (all nodes, the budgets, one chunked pass over the pods) at once. A
 * caller that still has to read the nodes it was named starts these first, so both travel
 * together: one round trip before the cordon instead of two. `nodes` names the nodes to drain
 * (whose pods the pass keeps), or will (a promise: the pass waits for it before it keeps
 * anything). The promise never rejects, so it may be dropped unawaited when the named nodes turn
 * out not to exist. `signal` aborts the reads.
 */
export function startPlanReads(
  kube: NodePods,
  opts: Pick<DrainOptions, 'disableEviction' | 'chunkSize'>,
  nodes: readonly string[] | Promise<readonly string[]> = [],
  signal?: AbortSignal,
): Promise<PlanReads> {
  const req = signal ? { signal } : {};
  const names = Promise.resolve(nodes);
  const pdbs: Promise<{ pdbs: PodDisruptionBudget[]; denied?: string }> = opts.disableEviction
    ? Promise.resolve({ pdbs: [] })
    : kube.listPdbs(req).then(
        (l) => ({ pdbs: l }),
        (e: unknown) => {
          if (isForbidden(e)) return { pdbs: [], denied: forbiddenReason(e, PDB_LIST) };
          throw e;
        },
      );
  // The pass waits for the names and the budgets before it takes its first chunk in (and asks for
  // the next only then), so it never holds more than one chunk.
  let scanner: PodScanner | undefined;
  const ready = Promise.all([names, pdbs]).then(([n, p]) => {
    scanner = new PodScanner(new Set(n), p.pdbs);
  });
  const scan = kube.scanPods({ chunkSize: opts.chunkSize, ...req }, async (chunk) => {
    await ready;
    scanner?.add(chunk);
  });
  return Promise.all([kube.listNodes(req), pdbs, scan, ready, names]).then(
    ([allNodes, p, s, , n]): PlanReads => ({
      ok: true,
      nodes: allNodes,
      pdbs: p.pdbs,
      ...(p.denied !== undefined ? { pdbsDenied: p.denied } : {}),
      scan: (scanner as PodScanner).result(),
      resourceVersion: s.resourceVersion,
      scanned: new Set(n),
    }),
    (error: unknown): PlanReads => ({ ok: false, error }),
  );
}

/**
 * The plan's reads made from objects the caller has read already (the upgrade plan's snapshot,
 * which holds every pod anyway): every node's pods are kept, so a plan for any of its nodes reads
 * no pods again.
 */
export function planReadsOf(read: {
  nodes: Node[];
  pods: ListResult<Pod>;
  pdbs: PodDisruptionBudget[];
}): PlanReads {
  const names = new Set(read.nodes.map((n) => n.metadata.name ?? ''));
  const scanner = new PodScanner(names, read.pdbs);
  scanner.add(read.pods.items);
  return {
    ok: true,
    nodes: read.nodes,
    pdbs: read.pdbs,
    scan: scanner.result(),
    resourceVersion: read.pods.resourceVersion,
    scanned: names,
  };
}

/** What removing a pod in namespace takes: create on pods/eviction, or delete on pods. */
function removalPermission(
  opts: Pick<DrainOptions, 'disableEviction'>,
  namespace: string,
): ResourceAttributes {
  return opts.disableEviction
    ? { verb: 'delete', resource: 'pods', namespace }
    : { verb: 'create', resource: 'pods', subresource: 'eviction', namespace };
}

/**
 * Reads the cluster once and plans the drain of every named node (filters + pre-flight). Nodes
 * are planned together, so replacements are never predicted onto a node that is drained too.
 * `deps.signal` aborts the requests.
 */
export async function planDrain(
  nodes: readonly Node[],
  opts: DrainOptions,
  deps: Pick<DrainDeps, 'kube' | 'clock' | 'reads' | 'signal'>,
): Promise<NodePlan[]> {
  const podSelector = compileSelector(opts.podSelector);
  const names = nodes.map((n) => n.metadata.name ?? '');
  const req = deps.signal ? { signal: deps.signal } : {};
  const reads = await untilAborted(
    deps.reads ?? startPlanReads(deps.kube, opts, names, deps.signal),
    deps.signal,
  );
  if (!reads.ok) throw reads.error;
  const { nodes: allNodes, pdbs, scan } = reads;
  // The pods of each node: from the scan, or (reads started without its name) a list of its own.
  const byNode = new Map<string, { pods: Pod[]; resourceVersion: string }>();
  await Promise.all(
    names.map(async (name) => {
      if (reads.scanned.has(name))
        byNode.set(name, { pods: scan.onNodes.get(name) ?? [], resourceVersion: reads.resourceVersion });
      else {
        const l = await deps.kube.listPods({
          fieldSelector: `spec.nodeName=${name}`,
          chunkSize: opts.chunkSize,
          ...req,
        });
        byNode.set(name, { pods: l.items, resourceVersion: l.resourceVersion });
      }
    }),
  );
  const onNodes = names.flatMap((n) =>
    (byNode.get(n)?.pods ?? []).filter((p) => matches(podSelector, p.metadata.labels)),
  );
  // In parallel: the DaemonSets kubectl's daemonSetFilter looks up, once each; what the user may
  // do after the cordon; and, for the pods that required anti-affinity places, the nodes where the
  // pods it selects run (a list by label selector each: only those pods, not the cluster's).
  const lookups = new Map<string, DaemonSetLookup>();
  const dsKeys = [
    ...new Set(
      onNodes
        .filter((p) => controllerOf(p)?.kind === 'DaemonSet' && !isFinished(p))
        .map((p) => `${p.metadata.namespace ?? 'default'}/${controllerOf(p)?.name ?? ''}`),
    ),
  ];
  const namespaces = [
    ...new Set(
      onNodes
        .filter((p) => controllerOf(p)?.kind !== 'DaemonSet' && !isMirrorPod(p))
        .map((p) => p.metadata.namespace ?? 'default'),
    ),
  ].sort();
  const review: ResourceAttributes[] = [
    ...namespaces.map((ns) => removalPermission(opts, ns)),
    { verb: 'watch', resource: 'pods' },
    { verb: 'watch', resource: 'nodes' },
  ];
  const terms = antiAffinityTerms(onNodes);
  const antiAffinity = new Map<string, Set<string>>();
  const draining = new Set(names);
  const [access] = await Promise.all([
    reviewAll(deps.kube, review, deps.signal),
    ...dsKeys.map(async (k) => {
      const [ns, name] = k.split('/') as [string, string];
      try {
        await deps.kube.getDaemonSet(ns, name, req);
        lookups.set(k, { found: true });
      } catch (e) {
        lookups.set(k, { found: false, notFound: isNotFound(e), error: errorMessage(e) });
      }
    }),
    ...terms.map(async (t) => {
      const on = new Set<string>();
      antiAffinity.set(t.key, on);
      for (const namespace of t.namespaces) {
        const l = await deps.kube.listPods({ namespace, labelSelector: t.labelSelector, ...req });
        for (const p of l.items) {
          const n = p.spec?.nodeName;
          if (n && !draining.has(n) && !isFinished(p) && termMatches(t, p)) on.add(n);
        }
      }
    }),
  ]);
  const forbidden = new Map<string, string>();
  namespaces.forEach((ns, i) => {
    if (access[i] === 'denied') forbidden.set(ns, forbiddenReason(undefined, removalPermission(opts, ns)));
  });
  const now = deps.clock.now();
  const ctx = {
    options: filterOptions(opts),
    now,
    daemonSet: (ns: string, name: string): DaemonSetLookup => lookups.get(`${ns}/${name}`) ?? { found: true },
  };
  return nodes.map((node) => {
    const name = node.metadata.name ?? '';
    const listed = byNode.get(name) ?? { pods: [], resourceVersion: reads.resourceVersion };
    const pods = listed.pods.filter((p) => matches(podSelector, p.metadata.labels));
    const verdicts = decidePods(pods, ctx);
    const pf = preflight({
      node: name,
      nodes: allNodes,
      draining: names,
      pods,
      usage: scan,
      antiAffinity,
      verdicts,
      pdbs,
      now,
      options: {
        disableEviction: opts.disableEviction,
        gracePeriodSeconds: opts.gracePeriodSeconds,
        ignore: opts.ignorePreflight,
        forbidden,
        ...(reads.pdbsDenied !== undefined
          ? { skip: [{ checks: ['pdb-never-allows', 'multiple-pdbs'], reason: reads.pdbsDenied }] }
          : {}),
      },
    });
    return {
      node,
      verdicts,
      pods,
      listedAt: { resourceVersion: listed.resourceVersion, time: now.getTime() },
      pdbs,
      preflight: pf,
      refusals: refusals(verdicts),
      warnings: warnings(verdicts),
      daemonSets: lookups,
      access: {
        watchPods: access[namespaces.length] ?? 'unknown',
        watchNodes: access[namespaces.length + 1] ?? 'unknown',
      },
    };
  });
}

/** p, or its signal's reason once the signal aborts (reads a caller started may not take the signal). */
function untilAborted<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

function podOutcomesFromPlan(plan: NodePlan): PodOutcome[] {
  return plan.verdicts.map((v) => ({
    namespace: v.pod.namespace,
    name: v.pod.name,
    uid: v.pod.uid,
    outcome: v.action === 'refuse' ? 'refused' : v.action === 'skip' ? 'skipped' : 'pending',
    ...(v.category ? { category: v.category } : {}),
    ...(v.message ? { message: v.message } : {}),
  }));
}

/**
 * Drains the named nodes (already read). Returns one result per node, in order; never throws for
 * a node that could not be drained (see outcome), only for failures to read the cluster at all.
 */
export async function drainNodes(
  nodes: readonly Node[],
  opts: DrainOptions,
  deps: DrainDeps,
): Promise<NodeDrainResult[]> {
  const emit = deps.observer ?? ((): void => undefined);
  const startedAt = deps.clock.now();
  // --timeout counts from when the command began for the first node (its reads and cordon
  // included), and from when its own drain begins for each later one, as kubectl's does.
  const firstDeadline =
    opts.timeoutMs > 0 ? (deps.startedAt ?? startedAt.getTime()) + opts.timeoutMs : Infinity;
  const early = deadlineSignal(deps.clock, firstDeadline, deps.signal);
  const timedOut = (e: unknown): BosunError =>
    new BosunError(
      `drain timed out after ${Math.round(opts.timeoutMs / 1000)}s before any pod was evicted: the API server did not answer in time`,
      'TIMEOUT',
      {
        cause: e,
        hint: 'Check the API server (kubectl get --raw /readyz), then run the same command again.',
      },
    );
  let plans: NodePlan[];
  try {
    plans = await planDrain(nodes, opts, { ...deps, signal: early.signal });
  } catch (e) {
    early.done();
    if (early.expired()) throw timedOut(e);
    throw e;
  }
  const results: NodeDrainResult[] = [];
  const ready: { plan: NodePlan; result: NodeDrainResult }[] = [];

  for (const plan of plans) {
    const name = plan.node.metadata.name ?? '';
    emit({
      type: 'planned',
      node: name,
      verdicts: plan.verdicts,
      preflight: plan.preflight,
      refusals: plan.refusals,
      warnings: plan.warnings,
    });
    const info = cordonInfo(plan.node);
    const base: NodeDrainResult = {
      node: name,
      outcome: 'drained',
      cordoned: info.cordoned,
      cordonOwnedByBosun: info.ownedByBosun,
      resumed: false,
      dryRun: opts.dryRun,
      pods: podOutcomesFromPlan(plan),
      refusals: plan.refusals,
      warnings: plan.warnings,
      preflight: plan.preflight,
      startedAt: rfc3339(startedAt),
      durationMs: 0,
    };
    if (plan.refusals.length > 0) {
      const flags = [
        ...new Set(
          plan.refusals.map((g) =>
            g.category === 'daemonset-managed'
              ? '--ignore-daemonsets'
              : g.category === 'local-storage'
                ? '--delete-emptydir-data'
                : '--force',
          ),
        ),
      ];
      results.push({
        ...base,
        outcome: 'refused',
        message: `cannot drain node "${name}": ${plan.refusals.reduce((n, g) => n + g.pods.length, 0)} pod(s) refused by kubectl's rules; the node was not cordoned`,
        hint: `Handle the pods listed above, or pass ${flags.join(' / ')} as they name.`,
      });
      continue;
    }
    if (plan.preflight.blockers.length > 0) {
      const checks = [...new Set(plan.preflight.blockers.map((b) => b.blocker.check))];
      results.push({
        ...base,
        outcome: 'preflight-blocked',
        pods: base.pods.map((p) => {
          const b = plan.preflight.blockers.find((x) => x.pod.uid === p.uid);
          return b ? { ...p, outcome: 'blocked', category: b.blocker.check, message: b.blocker.message } : p;
        }),
        message: `pre-flight: draining node "${name}" would get stuck (${checks.join(', ')}); the node was not cordoned`,
        hint: `Fix what is listed above, or insist with --ignore-preflight-errors=${checks.join(',')}.`,
      });
      continue;
    }
    results.push(base);
    ready.push({ plan, result: base });
  }

  // Cordon every node that passed, before evicting anything (kubectl cordons all first too), so no
  // pod evicted from one is placed on another.
  try {
    for (const r of ready) {
      const name = r.result.node;
      const wasInfo = cordonInfo(r.plan.node);
      const c = await cordonNode(
        name,
        { owner: opts.owner, dryRun: opts.dryRun, node: r.plan.node, signal: early.signal },
        deps,
      );
      const resumed = c.action === 'already-cordoned' && wasInfo.ownedByBosun;
      r.result.cordoned = opts.dryRun === 'none' ? true : wasInfo.cordoned;
      r.result.cordonOwnedByBosun = opts.dryRun === 'none' ? c.ownedByBosun : wasInfo.ownedByBosun;
      r.result.resumed = resumed;
      r.plan.node = c.nodeObject;
      emit({
        type: 'cordon',
        node: name,
        action: c.action === 'cordoned' ? 'cordoned' : 'already-cordoned',
        ownedByBosun: c.ownedByBosun,
        ...(c.by !== undefined ? { by: c.by } : {}),
        ...(c.reason !== undefined ? { reason: c.reason } : {}),
        ...(c.at !== undefined ? { at: c.at } : {}),
        resumed,
        dryRun: opts.dryRun,
      });
    }
  } catch (e) {
    if (early.expired()) throw timedOut(e);
    throw e;
  } finally {
    early.done();
  }

  for (const [i, r] of ready.entries()) {
    if (deps.signal?.aborted) {
      Object.assign(r.result, {
        outcome: 'interrupted',
        message: `drain of node "${r.result.node}" interrupted before it started`,
        hint: resumeHint(r.result.node),
      });
      continue;
    }
    if (r.plan.warnings.length > 0) emit({ type: 'warnings', node: r.result.node, groups: r.plan.warnings });
    const t0 = deps.clock.now().getTime();
    const deadline = i === 0 ? firstDeadline : opts.timeoutMs > 0 ? t0 + opts.timeoutMs : Infinity;
    await new NodeDrain(r.plan, r.result, opts, deps, deadline).run();
    r.result.durationMs = deps.clock.now().getTime() - t0;
  }
  return results;
}

/** Drains one node by name (reads it first). For library callers: upgrade, reboot, maintain. */
export async function drainNode(name: string, opts: DrainOptions, deps: DrainDeps): Promise<NodeDrainResult> {
  const startedAt = deps.startedAt ?? deps.clock.now().getTime();
  const reads = deps.reads ?? startPlanReads(deps.kube, opts, [name], deps.signal);
  const node = await deps.kube.getNode(name, deps.signal ? { signal: deps.signal } : {});
  const [r] = await drainNodes([node], opts, { ...deps, reads, startedAt });
  if (!r) throw new Error('drainNodes returned no result');
  return r;
}
