// bosun cordon|uncordon|drain|maintain (issue 3): kubectl's commands, flags and help wording, plus
// bosun's pre-flight, escalation policy, ownership of cordons and the maintain workflow. Parses and
// validates flags, builds the kube port, calls the drain feature (loaded lazily), prints, and turns
// the outcome into an exit code: 0 all nodes done, 1 any node refused, blocked, failed, timed out,
// interrupted or unhealthy, 2 usage errors.
import os from 'node:os';
import { statSync } from 'node:fs';
import type { Command } from 'commander';
import { BosunError, UsageError } from '../../common/errors.ts';
import { parseDuration } from '../../common/duration.ts';
import type { CliContext, GlobalOptions } from '../context.ts';
import { formatDocument, formatTable, isDocumentFormat, parseOutputFormat } from '../output.ts';
import type { Node } from '../../kube/types.ts';
import type { NodeHealth, NodePods } from '../../kube/ports.ts';
import type { DrainOptions, NodeDrainResult, NodePlan, PreflightCheck } from '../../drain/index.ts';

const OUTPUT_HELP = 'Output format: text, json or yaml.';
const OUTPUT_FORMATS = ['text', 'json', 'yaml'];
const DRY_RUN_HELP =
  'Must be "none", "server", or "client". If client strategy, only print the object that would be sent, without sending it. If server strategy, submit server-side request without persisting the resource.';
const SELECTOR_HELP =
  "Selector (label query) to filter on, supports '=', '==', '!=', 'in', 'notin'.(e.g. -l key1=value1,key2=value2,key3 in (value3)). Matching objects must satisfy all of the specified label constraints.";

const CORDON_EXAMPLES = `
Examples:
  # Mark node "foo" as unschedulable, saying why
  bosun cordon foo --reason "disk replacement"

  # Mark every worker as unschedulable
  bosun cordon -l node-role.kubernetes.io/worker`;

const UNCORDON_EXAMPLES = `
bosun uncordons only nodes that bosun cordoned (it records who, why and when on the node);
a node cordoned some other way is left alone unless --force is given.

Examples:
  # Mark node "foo" as schedulable
  bosun uncordon foo

  # Mark node "foo" as schedulable even though someone else cordoned it
  bosun uncordon foo --force`;

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

const MAINTAIN_LONG = `
Take a node out of service, do the work, and bring it back only when it is healthy:
cordon and drain it (with drain's flags and pre-flight), run COMMAND where bosun runs (every
{node} replaced by the node's name), wait until the node is healthy (Ready, a fresh heartbeat in
kube-node-lease, no not-ready or unreachable taint, its DaemonSet pods Running and Ready, and a new
boot ID when a reboot is expected), uncordon it, and wait until the workloads it evicted have as
many Ready pods as before, so that the next node is never taken while this one's pods are starting.

A reboot often cuts its own command off (ssh exits with 255 when the node closes the connection):
then whether it rebooted is told by a new boot ID within --health-timeout, and without one the
command counts as failed. An API server that stops answering after the command (the reboot of the
only control plane takes it along) is waited for, within the same --health-timeout. A node that is
not healthy within --health-timeout stays cordoned: bosun prints a diagnosis (conditions, taints,
recent events) and exits 1. The workflow's state is kept on the node, so running the same command
again continues where it stopped (a command that finished is not run again). A node cordoned
outside bosun is refused.

--on-node runs COMMAND with a sandbox node's host shims first on PATH (DIR/nodes/NODE/host/bin,
DIR from --sandbox-dir or from a kubeconfig at DIR/admin.conf), so reboot or apt-get act on that
simulated node.`;

const MAINTAIN_EXAMPLES = `
Examples:
  # Patch a worker over ssh
  bosun maintain worker-2 --ignore-daemonsets -- ssh {node} sudo apt-get upgrade -y

  # Reboot a sandbox node with its own reboot shim
  bosun maintain worker-2 --ignore-daemonsets --on-node -- reboot`;

interface DrainFlags {
  force?: boolean;
  ignoreDaemonsets?: boolean;
  deleteEmptydirData?: boolean;
  deleteLocalData?: boolean;
  gracePeriod: string;
  timeout: string;
  selector?: string;
  podSelector?: string;
  disableEviction?: boolean;
  skipWaitForDeleteTimeout: string;
  dryRun: string;
  ignorePreflightErrors?: string;
  escalate: string[];
  evictionConcurrency: string;
  chunkSize: string;
  reason?: string;
  output?: string;
  check?: boolean;
  recordon?: boolean;
}

function seeHelp(command: string): string {
  return `See 'bosun ${command} -h' for help and examples`;
}

function parseDryRun(v: string, command: string): 'none' | 'client' | 'server' {
  if (v === 'none' || v === 'client' || v === 'server') return v;
  throw new UsageError(`Invalid dry-run value (${v}). Must be "none", "server", or "client".`, {
    hint: seeHelp(command),
  });
}

function parseInt10(v: string, flag: string, command: string, min: number): number {
  if (!/^-?\d+$/.test(v.trim()) || Number(v) < min) {
    throw new UsageError(
      `invalid argument "${v}" for "${flag}": must be an integer${min === 0 ? ' of zero or more' : min > 0 ? ` of at least ${min}` : ''}`,
      { hint: seeHelp(command) },
    );
  }
  return Number(v);
}

function parseDurationFlag(v: string, flag: string, command: string, opts: { allowZero: boolean }): number {
  const ms = parseDuration(v);
  if (ms === undefined)
    throw new UsageError(`invalid argument "${v}" for "${flag}": expected a duration such as 30s, 5m or 1h`, {
      hint: seeHelp(command),
    });
  if (ms === 0 && !opts.allowZero)
    throw new UsageError(`${flag} must be greater than zero`, { hint: seeHelp(command) });
  return ms;
}

function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

function identity(ctx: CliContext, what: string): string {
  let user = ctx.env['USER'] ?? ctx.env['LOGNAME'];
  if (!user) {
    try {
      user = os.userInfo().username;
    } catch {
      user = 'unknown';
    }
  }
  return `${user}@${os.hostname()} (bosun ${what})`;
}

function addDrainFlags(cmd: Command): Command {
  return cmd
    .option(
      '--chunk-size <n>',
      'Return large lists in chunks rather than all at once. Pass 0 to disable.',
      '500',
    )
    .option('--force', 'Continue even if there are pods that do not declare a controller.')
    .option('--ignore-daemonsets', 'Ignore DaemonSet-managed pods.')
    .option(
      '--delete-emptydir-data',
      'Continue even if there are pods using emptyDir (local data that will be deleted when the node is drained).',
    )
    .option('--delete-local-data', 'Deprecated: use --delete-emptydir-data.')
    .option(
      '--grace-period <seconds>',
      'Period of time in seconds given to each pod to terminate gracefully. If negative, the default value specified in the pod will be used.',
      '-1',
    )
    .option('--timeout <duration>', 'The length of time to wait before giving up, zero means infinite', '0s')
    .option('--pod-selector <selector>', 'Label selector to filter pods on the node')
    .option(
      '--disable-eviction',
      'Force drain to use delete, even if eviction is supported. This will bypass checking PodDisruptionBudgets, use with caution.',
    )
    .option(
      '--skip-wait-for-delete-timeout <seconds>',
      'If pod DeletionTimestamp older than N seconds, skip waiting for the pod.  Seconds must be greater than 0 to skip.',
      '0',
    )
    .option(
      '--ignore-preflight-errors <checks>',
      'Pre-flight checks whose failure does not stop the drain: all, or a comma-separated list of pdb-never-allows, multiple-pdbs, unschedulable, opt-out, forbidden.',
    )
    .option(
      '--escalate <rule>',
      'What to do about pods blocked too long: after=DURATION,action=wait|give-up|delete[,namespace=NS][,selector=SELECTOR]. Repeatable.',
      collect,
      [],
    )
    .option('--eviction-concurrency <n>', 'Eviction (or deletion) requests in flight at once.', '64')
    .option(
      '--recordon',
      'If someone uncordons the node during the drain, cordon it again and continue (default: stop with an error).',
    )
    .option('--reason <text>', 'Why the node is taken out of service, recorded on the node with the cordon.');
}

/** Validates the drain flags into DrainOptions (without the owner). */
async function drainOptions(
  f: DrainFlags,
  command: string,
  out: { warn(line: string): void },
): Promise<Omit<DrainOptions, 'owner'>> {
  const { DEFAULT_DRAIN_OPTIONS, parseEscalationRule, parseSelector, PREFLIGHT_CHECKS } =
    await import('../../drain/index.ts');
  if (f.deleteLocalData)
    out.warn(
      'Flag --delete-local-data has been deprecated, This option is deprecated and will be deleted. Use --delete-emptydir-data.',
    );
  if (f.podSelector !== undefined) {
    const p = parseSelector(f.podSelector);
    if (!p.ok)
      throw new UsageError(`--pod-selector=<pod_selector> must be a valid label selector: ${p.error}`, {
        hint: seeHelp(command),
      });
  }
  let ignore: ReadonlySet<PreflightCheck> | 'all' = new Set();
  if (f.ignorePreflightErrors !== undefined) {
    const names = f.ignorePreflightErrors
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (names.includes('all')) ignore = 'all';
    else {
      for (const n of names) {
        if (!(PREFLIGHT_CHECKS as readonly string[]).includes(n)) {
          throw new UsageError(`unknown pre-flight check "${n}" in --ignore-preflight-errors`, {
            hint: `Known checks: all, ${PREFLIGHT_CHECKS.join(', ')}`,
          });
        }
      }
      ignore = new Set(names as PreflightCheck[]);
    }
  }
  const rules = f.escalate.map((text) => {
    const r = parseEscalationRule(text);
    if (!r.ok) throw new UsageError(r.error, { hint: seeHelp(command) });
    return r.rule;
  });
  return {
    ...DEFAULT_DRAIN_OPTIONS,
    force: f.force === true,
    ignoreDaemonSets: f.ignoreDaemonsets === true,
    deleteEmptyDirData: f.deleteEmptydirData === true || f.deleteLocalData === true,
    gracePeriodSeconds: parseInt10(f.gracePeriod, '--grace-period', command, Number.MIN_SAFE_INTEGER),
    timeoutMs: parseDurationFlag(f.timeout, '--timeout', command, { allowZero: true }),
    podSelector: f.podSelector ?? '',
    disableEviction: f.disableEviction === true,
    skipWaitForDeleteTimeoutSeconds: parseInt10(
      f.skipWaitForDeleteTimeout,
      '--skip-wait-for-delete-timeout',
      command,
      0,
    ),
    dryRun: parseDryRun(f.dryRun, command),
    ignorePreflight: ignore,
    escalation: { rules },
    concurrency: parseInt10(f.evictionConcurrency, '--eviction-concurrency', command, 1),
    chunkSize: parseInt10(f.chunkSize, '--chunk-size', command, 0),
    recordon: f.recordon === true,
  };
}

/** Builds the kube port from the global flags. */
async function kubePort(
  cmd: Command,
  ctx: CliContext,
): Promise<{ kube: NodePods & NodeHealth; files: string[] }> {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const { createKubeClients, parseRequestTimeout } = await import('../../kube/client.ts');
  const { createNodePods } = await import('../../kube/node-pods.ts');
  const clients = createKubeClients({
    kubeconfig: g.kubeconfig,
    envKubeconfig: ctx.env['KUBECONFIG'],
    home: ctx.home,
    context: g.context,
    requestTimeoutMs: parseRequestTimeout(g.requestTimeout),
    signal: ctx.signal,
  });
  return { kube: createNodePods(clients), files: clients.files };
}

/** Validates NODE... vs --selector as kubectl does. */
function checkTargets(names: readonly string[], selector: string | undefined, command: string): void {
  if (names.length === 0 && selector === undefined)
    throw new UsageError(`USAGE: ${command} NODE [flags]`, { hint: seeHelp(command) });
  if (names.length > 0 && selector !== undefined)
    throw new UsageError('cannot specify both a node name and a --selector option', {
      hint: seeHelp(command),
    });
}

/** Reads the named nodes (all must exist: nothing is done otherwise) or those matching --selector. */
async function resolveNodes(
  kube: NodePods,
  names: readonly string[],
  selector: string | undefined,
  command: string,
): Promise<Node[]> {
  if (selector !== undefined) {
    const { parseSelector } = await import('../../drain/index.ts');
    const p = parseSelector(selector);
    if (!p.ok)
      throw new UsageError(`invalid --selector "${selector}": ${p.error}`, { hint: seeHelp(command) });
    return kube.listNodes({ labelSelector: selector });
  }
  const unique = [...new Set(names)];
  const { isNotFound } = await import('../../kube/errors.ts');
  const nodes = await Promise.all(
    unique.map((n) =>
      kube.getNode(n).catch((e: unknown) => {
        if (isNotFound(e))
          throw new BosunError(`nodes "${n}" not found`, 'NOT_FOUND', {
            cause: e,
            hint: `Nothing was changed. List the nodes with: kubectl get nodes`,
          });
        throw e;
      }),
    ),
  );
  return nodes;
}

function isLive(ctx: CliContext): boolean {
  return ctx.out.isTTY && ctx.out.errRaw !== undefined && ctx.env['TERM'] !== 'dumb';
}

function drainJson(results: readonly NodeDrainResult[], dryRun: string): unknown {
  return {
    kind: 'DrainResult',
    apiVersion: 'bosun.dev/v1alpha1',
    dryRun,
    nodes: results.map((r) => ({
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
    })),
  };
}

function failureFor(results: readonly NodeDrainResult[], ctx: CliContext): BosunError | undefined {
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
  for (const r of failed) ctx.out.err(`node/${r.node}: ${r.message ?? r.outcome}`);
  return new BosunError(
    `unable to drain ${failed.length} of ${results.length} nodes: ${failed.map((r) => `${r.node} (${r.outcome})`).join(', ')}`,
    code,
    {
      hint: `There are pending nodes to be drained: ${failed.map((r) => r.node).join(', ')}. Run the same command again to continue; nodes that were not cordoned were not touched.`,
    },
  );
}

async function printPlan(plans: readonly NodePlan[], ctx: CliContext, format: string): Promise<boolean> {
  const ok = plans.every((p) => p.refusals.length === 0 && p.preflight.blockers.length === 0);
  if (isDocumentFormat(format)) {
    ctx.out.out(
      await formatDocument(
        {
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
        },
        format,
      ),
    );
    return ok;
  }
  const rows: string[][] = [];
  for (const x of plans[0]?.preflight.skipped ?? [])
    ctx.out.err(`pre-flight: skipped ${x.checks.join(', ')}: ${x.reason}`);
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
  for (const line of formatTable(['NODE', 'NAMESPACE', 'POD', 'ACTION', 'REASON'], rows)) ctx.out.out(line);
  for (const p of plans) {
    const name = p.node.metadata.name ?? '';
    if (p.refusals.length > 0)
      ctx.out.out(
        `node/${name} cannot be drained: ${p.refusals.length} kind(s) of pod refused (see ACTION refuse)`,
      );
    else if (p.preflight.blockers.length > 0)
      ctx.out.out(
        `node/${name} would get stuck: ${[...new Set(p.preflight.blockers.map((b) => b.blocker.check))].join(', ')} (see ACTION blocked)`,
      );
    else
      ctx.out.out(
        `node/${name} can be drained (no sooner than ${p.preflight.longestGraceSeconds}s, its longest grace period)`,
      );
  }
  return ok;
}

/** Registers the commands of this module on the program. */
export function registerDrainCommands(program: Command, ctx: CliContext): void {
  program
    .command('cordon')
    .usage('NODE... [options]')
    .description('Mark node as unschedulable')
    .argument('[NODE...]')
    .option('-l, --selector <selector>', SELECTOR_HELP)
    .option('--dry-run <strategy>', DRY_RUN_HELP, 'none')
    .option('--reason <text>', 'Why the node is cordoned, recorded on the node with who and when.', 'cordon')
    .option('-o, --output <format>', OUTPUT_HELP)
    .addHelpText('after', CORDON_EXAMPLES)
    .action(
      async (
        names: string[],
        f: { selector?: string; dryRun: string; reason: string; output?: string },
        cmd: Command,
      ) => {
        const format = parseOutputFormat(f.output, OUTPUT_FORMATS, 'cordon');
        checkTargets(names, f.selector, 'cordon');
        const dryRun = parseDryRun(f.dryRun, 'cordon');
        const { kube } = await kubePort(cmd, ctx);
        const nodes = await resolveNodes(kube, names, f.selector, 'cordon');
        if (nodes.length === 0) return void ctx.out.err('No resources found');
        const { cordonNode, dryRunSuffix } = await import('../../drain/index.ts');
        const results = [];
        for (const n of nodes) {
          const r = await cordonNode(
            n.metadata.name ?? '',
            { owner: { who: identity(ctx, 'cordon'), why: f.reason }, dryRun, node: n },
            { kube, clock: ctx.clock },
          );
          results.push(r);
          if (format === 'text')
            ctx.out.out(
              `node/${r.node} ${r.action === 'cordoned' ? 'cordoned' : 'already cordoned'}${dryRunSuffix(dryRun)}`,
            );
          if (format === 'text' && r.action === 'already-cordoned' && !r.ownedByBosun)
            ctx.out.err(`note: node/${r.node} was cordoned outside bosun`);
        }
        if (isDocumentFormat(format)) ctx.out.out(await formatDocument(cordonJson(results), format));
      },
    );

  program
    .command('uncordon')
    .usage('NODE... [options]')
    .description('Mark node as schedulable')
    .argument('[NODE...]')
    .option('-l, --selector <selector>', SELECTOR_HELP)
    .option('--dry-run <strategy>', DRY_RUN_HELP, 'none')
    .option('--force', 'Uncordon even a node that was cordoned outside bosun.')
    .option('-o, --output <format>', OUTPUT_HELP)
    .addHelpText('after', UNCORDON_EXAMPLES)
    .action(
      async (
        names: string[],
        f: { selector?: string; dryRun: string; force?: boolean; output?: string },
        cmd: Command,
      ) => {
        const format = parseOutputFormat(f.output, OUTPUT_FORMATS, 'uncordon');
        checkTargets(names, f.selector, 'uncordon');
        const dryRun = parseDryRun(f.dryRun, 'uncordon');
        const { kube } = await kubePort(cmd, ctx);
        const nodes = await resolveNodes(kube, names, f.selector, 'uncordon');
        if (nodes.length === 0) return void ctx.out.err('No resources found');
        const { uncordonNode, dryRunSuffix } = await import('../../drain/index.ts');
        const results = [];
        for (const n of nodes) {
          const r = await uncordonNode(
            n.metadata.name ?? '',
            { force: f.force === true, dryRun, node: n },
            { kube, clock: ctx.clock },
          );
          results.push(r);
          if (format !== 'text') continue;
          if (r.action === 'refused') {
            if (nodes.length > 1) ctx.out.err(`error: ${r.message ?? ''}`);
            continue;
          }
          ctx.out.out(
            `node/${r.node} ${r.action === 'uncordoned' ? 'uncordoned' : 'already uncordoned'}${dryRunSuffix(dryRun)}`,
          );
          if (r.action === 'uncordoned' && r.ownedByBosun && r.by)
            ctx.out.err(
              `(it was cordoned by ${r.by}${r.at ? ` at ${r.at}` : ''}${r.reason ? `: ${r.reason}` : ''})`,
            );
          if (r.action === 'uncordoned' && !r.ownedByBosun)
            ctx.out.err(
              `note: node/${r.node} had been cordoned outside bosun; uncordoned because of --force`,
            );
        }
        if (isDocumentFormat(format)) ctx.out.out(await formatDocument(cordonJson(results), format));
        const refused = results.filter((r) => r.action === 'refused');
        const first = refused[0];
        if (first) {
          throw new BosunError(
            refused.length === 1
              ? (first.message ?? '')
              : `${refused.length} nodes were cordoned outside bosun and left cordoned: ${refused.map((r) => r.node).join(', ')}`,
            'PRECONDITION',
            {
              hint: 'bosun uncordons only what it cordoned; use --force to uncordon anyway.',
            },
          );
        }
      },
    );

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
      .option('-o, --output <format>', OUTPUT_HELP),
  )
    .addHelpText('after', `${DRAIN_LONG}\n${DRAIN_EXAMPLES}`)
    .action(async (names: string[], f: DrainFlags, cmd: Command) => {
      const format = parseOutputFormat(f.output, OUTPUT_FORMATS, 'drain');
      checkTargets(names, f.selector, 'drain');
      if (f.check && f.dryRun !== 'none')
        throw new UsageError(
          '--check and --dry-run cannot be used together: --check already changes nothing',
          { hint: seeHelp('drain') },
        );
      const startedAt = ctx.clock.now().getTime();
      const base = await drainOptions(f, 'drain', { warn: (l) => ctx.out.err(l) });
      const opts: DrainOptions = {
        ...base,
        owner: { who: identity(ctx, 'drain'), why: f.reason ?? 'drain' },
      };
      const { kube } = await kubePort(cmd, ctx);
      const drain = await import('../../drain/index.ts');
      // The plan's reads start with the nodes' own (the pods of the named nodes are kept whole).
      const resolving = resolveNodes(kube, names, f.selector, 'drain');
      const reads = drain.startPlanReads(
        kube,
        opts,
        resolving.then((ns) => ns.map((n) => n.metadata.name ?? '')),
      );
      const nodes = await resolving;
      if (nodes.length === 0) return void ctx.out.err('No resources found');
      if (f.check) {
        const plans = await drain.planDrain(nodes, opts, { kube, clock: ctx.clock, reads });
        if (!(await printPlan(plans, ctx, format))) {
          throw new BosunError('the pre-flight found pods that would stop the drain', 'PRECONDITION', {
            hint: 'Nothing was changed. See ACTION refuse/blocked above.',
          });
        }
        return;
      }
      const reporter = new drain.Reporter(ctx.out, {
        format: format === 'text' ? 'text' : 'document',
        live: isLive(ctx),
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
        ctx.out.out(await formatDocument(drainJson(results, opts.dryRun), format));
      const failure = failureFor(results, ctx);
      if (failure) throw failure;
    });

  addDrainFlags(
    program
      .command('maintain')
      .usage('NODE [options] -- COMMAND [ARGS...]')
      .description('Cordon, drain, run a command, wait until the node is healthy, uncordon')
      .argument('<NODE>')
      .argument('[COMMAND...]')
      .option(
        '--health-timeout <duration>',
        'How long to wait for the node to be healthy after the command.',
        '10m',
      )
      .option(
        '--health-settle <duration>',
        'How long the node must stay healthy before it is uncordoned.',
        '10s',
      )
      .option(
        '--restore-timeout <duration>',
        'How long to wait for the evicted workloads to be Ready again after the uncordon.',
        '10m',
      )
      .option(
        '--expect-reboot',
        'Require a new boot ID before the node counts as healthy (default: when COMMAND is a reboot).',
      )
      .option('--no-expect-reboot', 'Do not require a new boot ID.')
      .option('--on-node', "Run COMMAND with the sandbox node's host shims first on PATH.")
      .option(
        '--sandbox-dir <dir>',
        'The sandbox directory for --on-node (default: the directory of the kubeconfig, when it is DIR/admin.conf).',
      )
      .option('-o, --output <format>', OUTPUT_HELP),
  )
    .addHelpText('after', `${MAINTAIN_LONG}\n${MAINTAIN_EXAMPLES}`)
    .action(
      async (
        name: string,
        command: string[],
        f: DrainFlags & {
          healthTimeout: string;
          healthSettle: string;
          restoreTimeout: string;
          expectReboot?: boolean;
          onNode?: boolean;
          sandboxDir?: string;
        },
        cmd: Command,
      ) => {
        const format = parseOutputFormat(f.output, OUTPUT_FORMATS, 'maintain');
        if (command.length === 0)
          throw new UsageError(
            'maintain needs a command after --, e.g. bosun maintain worker-2 -- ssh {node} sudo apt-get upgrade -y',
            { hint: seeHelp('maintain') },
          );
        if (f.sandboxDir !== undefined && !f.onNode)
          throw new UsageError('--sandbox-dir only makes sense with --on-node', {
            hint: seeHelp('maintain'),
          });
        const base = await drainOptions({ ...f, dryRun: 'none' }, 'maintain', {
          warn: (l) => ctx.out.err(l),
        });
        const healthTimeoutMs = parseDurationFlag(f.healthTimeout, '--health-timeout', 'maintain', {
          allowZero: false,
        });
        const healthSettleMs = parseDurationFlag(f.healthSettle, '--health-settle', 'maintain', {
          allowZero: true,
        });
        const restoreTimeoutMs = parseDurationFlag(f.restoreTimeout, '--restore-timeout', 'maintain', {
          allowZero: false,
        });
        const drain = await import('../../drain/index.ts');
        const { kube, files } = await kubePort(cmd, ctx);
        const env: Record<string, string | undefined> = { ...ctx.env };
        if (f.onNode) {
          const isDir = (p: string): boolean => {
            try {
              return statSync(p).isDirectory();
            } catch {
              return false;
            }
          };
          const dir = drain.resolveSandboxDir({ sandboxDir: f.sandboxDir, kubeconfigFiles: files, isDir });
          if (dir === undefined)
            throw new UsageError(
              '--on-node needs the sandbox directory: pass --sandbox-dir DIR, or use the sandbox kubeconfig DIR/admin.conf',
              { hint: seeHelp('maintain') },
            );
          const shims = drain.sandboxShimDir(dir, name);
          if (!isDir(shims))
            throw new BosunError(`--on-node: no host shims for node "${name}" at ${shims}`, 'PRECONDITION', {
              hint: 'Is this a bosun sandbox, and is the node name right? bosun sandbox status --dir DIR lists its nodes.',
            });
          env['PATH'] = `${shims}${env['PATH'] ? `:${env['PATH']}` : ''}`;
        }
        await resolveNodes(kube, [name], undefined, 'maintain');
        const reporter = new drain.Reporter(ctx.out, {
          format: format === 'text' ? 'text' : 'document',
          live: isLive(ctx),
        });
        const r = await drain.maintainNode(
          name,
          {
            drain: { ...base, owner: { who: identity(ctx, 'maintain'), why: f.reason ?? 'maintain' } },
            command,
            healthTimeoutMs,
            healthSettleMs,
            restoreTimeoutMs,
            pollMs: 1000,
            expectReboot: f.expectReboot ?? drain.looksLikeReboot(command),
            env,
            cwd: ctx.cwd,
          },
          {
            kube,
            clock: ctx.clock,
            exec: ctx.exec,
            observer: reporter.maintain,
            drainObserver: reporter.drain,
            signal: ctx.signal,
          },
        );
        if (isDocumentFormat(format)) {
          ctx.out.out(
            await formatDocument(
              {
                kind: 'MaintainResult',
                apiVersion: 'bosun.dev/v1alpha1',
                node: r.node,
                outcome: r.outcome,
                resumed: r.resumed,
                ...(r.message ? { message: r.message } : {}),
                ...(r.hint ? { hint: r.hint } : {}),
                ...(r.commandExitCode !== undefined ? { commandExitCode: r.commandExitCode } : {}),
                ...(r.diagnosis ? { diagnosis: r.diagnosis } : {}),
                ...(r.drain
                  ? { drain: (drainJson([r.drain], 'none') as { nodes: unknown[] }).nodes[0] }
                  : {}),
              },
              format,
            ),
          );
        }
        if (r.diagnosis && format === 'text') for (const line of r.diagnosis) ctx.out.err(line);
        if (r.outcome !== 'done') {
          throw new BosunError(
            r.message ?? `maintenance of node/${name} did not finish (${r.outcome})`,
            r.outcome === 'interrupted' ? 'INTERRUPTED' : 'PRECONDITION',
            r.hint ? { hint: r.hint } : {},
          );
        }
      },
    );
}

function cordonJson(
  results: readonly {
    node: string;
    action: string;
    ownedByBosun: boolean;
    by?: string;
    reason?: string;
    at?: string;
    dryRun: string;
    message?: string;
  }[],
): unknown {
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
