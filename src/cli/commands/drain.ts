// bosun drain (issue 3): kubectl drain's flags and help wording, plus bosun's pre-flight (--check
// runs only that), escalation policy and ownership of cordons. Parses and validates the flags,
// reads the nodes, calls the drain feature (loaded lazily) with a Reporter (print/drain-progress.ts)
// for progress, prints the plan or the result document, and turns the outcome into an exit code:
// 0 every node drained, 1 a node refused, blocked, failed, timed out or interrupted, 2 usage errors.
import type { Command } from 'commander';
import { BosunError } from '../../common/errors.ts';
import type { Output } from '../../common/ports.ts';
import type { DrainOptions, NodeDrainResult } from '../../drain/index.ts';
import type { CliContext } from '../context.ts';
import {
  DRY_RUN_HELP,
  NO_HEADERS_HELP,
  SELECTOR_HELP,
  TABLE_FORMATS,
  identity,
  outputHelp,
  parseOutputFormat,
  usageError,
} from '../flags.ts';
import { checkTargets, nodePodsPort, resolveNodes } from '../nodes.ts';
import { formatDocument, isDocumentFormat } from '../output.ts';
import { drainDocument, isPlanDrainable, planDocument, planLines, skippedLines } from '../print/drain.ts';
import { Reporter } from '../print/drain-progress.ts';
import { isLive } from '../print/terminal.ts';
import { addDrainFlags, drainOptions, type DrainFlags } from './drain-flags.ts';

const DRAIN_LONG = `
Drain node in preparation for maintenance.

The given node will be marked unschedulable to prevent new pods from arriving. 'drain' evicts the
pods if the API server supports eviction. Otherwise (or with --disable-eviction), it will use normal
DELETE to delete the pods. The 'drain' evicts or deletes all pods except mirror pods (which cannot be
deleted through the API server). If there are daemon set-managed pods, drain will not proceed
without --ignore-daemonsets, and regardless it will not delete any daemon set-managed pods, because
those pods would be immediately replaced by the daemon set controller, which ignores unschedulable
markings. If there are any pods that are neither mirror pods nor managed by a replication
controller, replica set, daemon set, stateful set, or job, then drain will not delete any pods
unless you use --force. --force will also allow deletion to proceed if the managing resource of
one or more pods is missing. Pods with emptyDir volumes need --delete-emptydir-data.

Before anything is touched, bosun runs a pre-flight (--check runs only that): per pod, what will
happen and why, and what would block for good: a PodDisruptionBudget that can never allow the
eviction (pdb-never-allows), a pod covered by more than one budget (multiple-pdbs), a replacement
that fits on no remaining node (unschedulable), a pod that opts out of eviction with
bosun.dev/safe-to-evict=false, cluster-autoscaler.kubernetes.io/safe-to-evict=false or
karpenter.sh/do-not-disrupt=true (opt-out). A refusal or a blocker stops the drain before the node
is cordoned; --ignore-preflight-errors=CHECK,... (or all) insists.

'drain' waits for graceful termination, by watching the node's pods: it returns as soon as the
last one is gone. Refused evictions are retried with backoff until --timeout, and each is explained
(which budget and its numbers, an unhealthy pod under IfHealthyBudget, an admission webhook, a
terminating namespace). --escalate says what to do about pods blocked too long:
  after=DURATION,action=wait|give-up|delete[,namespace=NS][,selector=SELECTOR]
give-up stops draining the node (and uncordons it if bosun cordoned it); delete deletes the blocked
pod, and must name a namespace or selector. Without rules bosun waits and never deletes.

What the drain evicts and waits for is what the node has after the cordon: a pod bound to it
later is evicted too, and "drained" is said only once a fresh read finds nothing left to evict. A
node uncordoned by someone else during the drain stops it (exit 1, saying who, as far as the Node's
managedFields tell); --recordon cordons it again and goes on instead.

bosun needs no permission kubectl drain does not: a pre-flight check it may not make is skipped
with one line naming the permission, and pods and the node are polled every second where the user
may not watch them.

Ctrl-C (or a crash) leaves the node cordoned; running the same command again continues.
When you are ready to put the node back into service, use bosun uncordon.`;

const DRAIN_EXAMPLES = `
Examples:
  # Drain node "foo", even if there are pods not managed by a replication controller, replica set, job, daemon set, or stateful set on it
  bosun drain foo --force

  # As above, but abort if there are pods not managed by a replication controller, replica set, job, daemon set, or stateful set, and use a grace period of 15 minutes
  bosun drain foo --grace-period=900

  # Show what draining "worker-1" would do and what would get stuck, without touching anything
  bosun drain worker-1 --ignore-daemonsets --check

  # Drain, giving up (and uncordoning) if any pod is still blocked after 10 minutes
  bosun drain worker-1 --ignore-daemonsets --escalate after=10m,action=give-up`;

/** Registers `bosun drain`. */
export function registerDrainCommand(program: Command, ctx: CliContext): void {
  addDrainFlags(
    program
      .command('drain')
      .usage('NODE... [options]')
      .description('Drain node in preparation for maintenance')
      .argument('[NODE...]')
      .option('-l, --selector <selector>', SELECTOR_HELP)
      .option('--dry-run <strategy>', DRY_RUN_HELP, 'none')
      .option(
        '--check',
        'Only run the pre-flight: print what would happen to each pod and what would block, change nothing.',
      )
      .option('-o, --output <format>', outputHelp(TABLE_FORMATS))
      .option('--no-headers', NO_HEADERS_HELP),
  )
    .addHelpText('after', `${DRAIN_LONG}\n${DRAIN_EXAMPLES}`)
    .action(async (names: string[], f: DrainFlags, cmd: Command) => {
      const format = parseOutputFormat(f.output, TABLE_FORMATS, 'drain');
      checkTargets(names, f.selector, 'drain');
      if (f.check && f.dryRun !== 'none')
        throw usageError(
          '--check and --dry-run cannot be used together: --check already changes nothing',
          'drain',
        );
      const startedAt = ctx.clock.now().getTime();
      const base = await drainOptions(f, 'drain', { warn: (l) => ctx.out.err(l) });
      const opts: DrainOptions = {
        ...base,
        owner: { who: identity(ctx, 'drain'), why: f.reason ?? 'drain' },
      };
      const { kube } = await nodePodsPort(cmd, ctx);
      const drain = await import('../../drain/index.ts');
      // The plan's reads start with the nodes' own (the pods of the named nodes are kept whole).
      const resolving = resolveNodes(kube, names, f.selector);
      const reads = drain.startPlanReads(
        kube,
        opts,
        resolving.then((ns) => ns.map((n) => n.metadata.name ?? '')),
      );
      const nodes = await resolving;
      if (nodes.length === 0) return void ctx.out.err('No resources found');
      if (f.check) {
        const plans = await drain.planDrain(nodes, opts, { kube, clock: ctx.clock, reads });
        if (isDocumentFormat(format)) ctx.out.out(await formatDocument(planDocument(plans), format));
        else {
          for (const line of skippedLines(plans)) ctx.out.err(line);
          for (const line of planLines(plans, { headers: f.headers !== false })) ctx.out.out(line);
        }
        if (!isPlanDrainable(plans)) {
          throw new BosunError('the pre-flight found pods that would stop the drain', 'PRECONDITION', {
            hint: 'Nothing was changed. See ACTION refuse/blocked above.',
          });
        }
        return;
      }
      const reporter = new Reporter(ctx.out, {
        format: format === 'table' ? 'text' : 'document',
        live: isLive(ctx.out, ctx.env),
      });
      const results = await drain.drainNodes(nodes, opts, {
        kube,
        reads,
        clock: ctx.clock,
        observer: reporter.drain,
        signal: ctx.signal,
        startedAt,
      });
      if (isDocumentFormat(format))
        ctx.out.out(await formatDocument(drainDocument(results, opts.dryRun), format));
      const failure = drainFailure(results, ctx.out);
      if (failure) throw failure;
    });
}

/**
 * The error a drain ends with when a node was not drained (undefined when all were): the node's
 * own message for one node, else one line per node on stderr and a summary.
 */
function drainFailure(results: readonly NodeDrainResult[], out: Output): BosunError | undefined {
  const failed = results.filter((r) => r.outcome !== 'drained');
  if (failed.length === 0) return undefined;
  const code = failed.every((r) => r.outcome === 'interrupted')
    ? 'INTERRUPTED'
    : failed.every((r) => r.outcome === 'timeout')
      ? 'TIMEOUT'
      : 'PRECONDITION';
  const first = failed[0];
  if (failed.length === 1 && first)
    return new BosunError(
      first.message ?? `unable to drain node "${first.node}"`,
      code,
      first.hint ? { hint: first.hint } : {},
    );
  for (const r of failed) out.err(`node/${r.node}: ${r.message ?? r.outcome}`);
  return new BosunError(
    `unable to drain ${failed.length} of ${results.length} nodes: ${failed.map((r) => `${r.node} (${r.outcome})`).join(', ')}`,
    code,
    {
      hint: `There are pending nodes to be drained: ${failed.map((r) => r.node).join(', ')}. Run the same command again to continue; nodes that were not cordoned were not touched.`,
    },
  );
}
