// bosun upgrade plan|apply|status (issue 16): parses the flags, builds the ports (kube clients, the
// release index, the TLS probe; for apply the executor, the node-work engine, the cluster lock, the
// journal and the etcd backup), calls the upgrade feature (loaded lazily), and prints: plan as tables
// or one JSON / YAML document, apply's progress as plain lines, a live view or JSON events, status
// per hop and per node. Exit codes: 0 done / legal, 1 refused or failed (plan: still printed), 2
// usage errors (--to, --max-unavailable, --recipe, flags).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import type { Command } from 'commander';
import { BosunError, UsageError, errorMessage } from '../../common/errors.ts';
import { parseDuration } from '../../common/duration.ts';
import type { CliContext } from '../context.ts';
import { clusterOptions, outlivingInterrupt } from '../nodes.ts';
import { formatDocument, formatTable, isDocumentFormat } from '../output.ts';
import {
  NO_HEADERS_HELP,
  TABLE_FORMATS,
  identity,
  outputHelp,
  parseDurationFlag,
  parseOutputFormat,
  usageError,
} from '../flags.ts';
import { restoreWaiting } from '../print/drain-progress.ts';
import { dryRunLines } from '../print/upgrade-dry-run.ts';
import { isLive } from '../print/terminal.ts';
import type { NodeExecutor } from '../../host/index.ts';
import type {
  NodeMaintainer,
  Recipe,
  RecipeRunner,
  ReleaseIndex,
  TimedApplyEvent,
  UpgradePlanReport,
  UpgradeStatus,
  UpgradeStep,
} from '../../upgrade/index.ts';

const PLAN_LONG = `
Show how bosun would upgrade this kubeadm cluster, in Version Skew Policy order, without changing
anything.

Without --to, it shows what is available, as 'kubeadm upgrade plan' does: the newest patch of the
cluster's minor and the newest release of the next minor, with the version every component runs.

With --to, it plans the upgrade: one hop per minor version (v1.31 to v1.34 is three hops), each with
the kubeadm it installs and the nodes whose kubelets must move in that hop (the others may lag: a
kubelet may be up to three minors older than kube-apiserver, so most nodes are drained once). Every
hop lists its steps in order: 0. a verified etcd backup; 1. the primary control plane (kubeadm's
package, 'kubeadm upgrade apply'); 2. each other control plane ('kubeadm upgrade node'); 3. the
kubelets that move, each drained around its recipe: control planes one by one, then the workers in
batches of --max-unavailable. Before every step bosun proves the skew stays legal after it, and says
why when it cannot.

The pre-flight, shown with the plan: the skew already broken today; nodes NotReady or cordoned by
someone else; etcd members not Ready or a lost quorum; for every batch, the drain pre-flight with
that batch out at once; API versions the target no longer serves that the cluster still uses
(discovery and kubectl's last-applied-configuration); served certificates that expire within
--window. The cluster is read once for the whole plan.

Recipes: the shell lines each node runs, with placeholders {version} (v1.34.3), {minor} (v1.34),
{debVersion} (1.34.3-1.1), {rpmVersion} (1.34.3-150500.1.1) and {node}. By default apt (Debian,
Ubuntu) or dnf (RHEL family), chosen from the node's OS image, following kubeadm's upgrade guide:
point the pkgs.k8s.io repository at the hop's minor, then upgrade the held packages. --recipe FILE
replaces them for every node: YAML with four lists of shell lines,

  primary:        # the primary control plane, before its drain
    - ...         # e.g. apt-get install -y kubeadm={debVersion}; kubeadm upgrade apply {version} -y
  controlPlane:   # every other control plane, before its drain (kubeadm upgrade node)
    - ...
  worker:         # every worker, after its drain (kubeadm upgrade node)
    - ...
  kubelet:        # every node whose kubelet moves, while it is drained
    - ...         # e.g. apt-get install -y kubelet={debVersion} kubectl={debVersion}; systemctl restart kubelet

Releases come from dl.k8s.io (stable-1.N.txt, as kubeadm reads them), or, for a sandbox's
kubeconfig (DIR/admin.conf), from the sandbox's package repository.

Exit codes:
  0  the plan keeps to the policy and the pre-flight found no error
  1  the plan cannot be carried out as it stands, or the pre-flight found an error (both printed)
  2  usage error (--to not a version, older than the cluster or not released; a bad
     --max-unavailable or recipe file)

Examples:
  # What can this cluster move to?
  bosun upgrade plan

  # Plan the upgrade to v1.34.3, two workers drained at a time
  bosun upgrade plan --to v1.34.3 --max-unavailable 2

  # The same plan as YAML: every step's id, node, commands and proofs
  bosun upgrade plan --to v1.34.3 -o yaml

  # With your own recipe, a quarter of the workers at a time
  bosun upgrade plan --to v1.34.3 --recipe upgrade-recipe.yaml --max-unavailable 25%`;

interface PlanFlags {
  to?: string;
  maxUnavailable: string;
  output: string;
  recipe?: string;
  deleteEmptydirData?: boolean;
  force?: boolean;
  window: string;
  certificates: boolean;
  headers: boolean;
}

function seeHelp(command = 'upgrade plan'): string {
  return `See 'bosun ${command} -h' for help and examples`;
}

/** Reads and parses --recipe FILE (relative to the working directory). */
async function readRecipe(
  given: string | undefined,
  ctx: CliContext,
  command: string,
): Promise<Recipe | undefined> {
  if (given === undefined) return undefined;
  const up = await import('../../upgrade/index.ts');
  const file = isAbsolute(given) ? given : join(ctx.cwd, given);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new UsageError(`recipe ${given}: cannot read it: ${errorMessage(e)}`, { hint: seeHelp(command) });
  }
  return up.parseRecipe(text, given);
}

/** The release index: a sandbox's repository for its own kubeconfig, else dl.k8s.io. */
async function releaseIndex(files: readonly string[], ctx: CliContext): Promise<ReleaseIndex> {
  const { dlReleaseIndex, listReleaseIndex } = await import('../../upgrade/index.ts');
  const { resolveSandboxDir } = await import('../../host/index.ts');
  const isDir = (p: string): boolean => {
    try {
      return statSync(p).isDirectory();
    } catch {
      return false;
    }
  };
  const dir = resolveSandboxDir({ kubeconfigFiles: files, isDir });
  const repo = dir === undefined ? undefined : join(dir, 'repo.json');
  if (repo !== undefined && existsSync(repo)) {
    let releases: unknown;
    try {
      releases = (JSON.parse(readFileSync(repo, 'utf8')) as { releases?: unknown }).releases;
    } catch (e) {
      throw new BosunError(`cannot read the sandbox's package repository ${repo}: ${errorMessage(e)}`, 'IO');
    }
    if (!Array.isArray(releases) || !releases.every((r) => typeof r === 'string'))
      throw new BosunError(`the sandbox's package repository ${repo} has no list of releases`, 'IO');
    return listReleaseIndex(releases, `the sandbox's package repository`);
  }
  return dlReleaseIndex(async (url) => {
    const res = await fetch(url, { signal: AbortSignal.any([ctx.signal, AbortSignal.timeout(15_000)]) });
    if (res.status === 404 || res.status === 403) return undefined;
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    return res.text();
  });
}

/** What a step does, in a few words. */
function stepWhat(s: UpgradeStep): string {
  const runs = s.actions.flatMap((a) => (a.do === 'run' ? a.commands : []));
  const kubeadm = runs.filter((c) => /\bkubeadm upgrade (apply|node)\b/.test(c)).at(-1);
  const version = s.proofs.find((p) => p.kind === 'kubelet');
  let what: string;
  if (s.kind === 'etcd-backup') what = 'verified etcd snapshot';
  else if (s.kind === 'kubelet')
    what = `drain, ${s.role === 'worker' ? 'kubeadm upgrade node, ' : ''}kubelet and kubectl ${version?.kind === 'kubelet' ? version.version : ''}`;
  else {
    what = kubeadm ?? `${s.kind === 'primary-control-plane' ? 'primary' : 'control plane'} recipe`;
    if (s.proofs.some((p) => p.kind === 'addons')) what += ', kube-proxy and CoreDNS';
  }
  return s.done ? `${what} (done)` : what;
}

function stepSkew(s: UpgradeStep): string {
  if (!s.skew.legal) return `BREAKS ${[...new Set(s.skew.introduced.map((v) => v.rule))].join(', ')}`;
  if (s.skew.remaining.length > 0)
    return `ok (still broken: ${s.skew.remaining.map((v) => `${v.rule} ${v.component}/${v.node}`).join(', ')})`;
  return 'ok';
}

/** The report as the tables people read. */
export function planTables(r: UpgradePlanReport, opts: { noHeaders?: boolean } = {}): string[] {
  const h = (hs: string[]): string[] | null => (opts.noHeaders ? null : hs);
  const out: string[] = [];
  const serving = r.cluster.servingApiserver ? `, kube-apiserver ${r.cluster.servingApiserver} answered` : '';
  out.push(`Cluster version: ${r.cluster.version} (kubeadm-config)${serving}`);
  const p = r.plan;
  if (p) {
    out.push(
      `Target: ${p.to}, ${p.hops.length} hop${p.hops.length === 1 ? '' : 's'} (${p.hops.map((x) => x.to).join(', ')}); primary control plane ${p.primary}; workers drained ${p.batchSize} at a time`,
    );
  } else {
    out.push('');
    if (r.available.length === 0)
      out.push(`No upgrade available in ${r.releaseSource}: the cluster is up to date.`);
    else {
      out.push(`Upgrades available in ${r.releaseSource}:`);
      out.push(
        ...formatTable(
          h(['KIND', 'VERSION', 'COMMAND']),
          r.available.map((a) => [a.kind, a.version, a.command]),
        ),
      );
    }
  }
  out.push('');
  out.push(
    ...formatTable(
      h(p ? ['COMPONENT', 'NODE', 'CURRENT', 'TARGET'] : ['COMPONENT', 'NODE', 'CURRENT']),
      r.cluster.components.map((c) =>
        p
          ? [c.component, c.node || '-', c.current, c.target || '-']
          : [c.component, c.node || '-', c.current],
      ),
    ),
  );
  for (const hop of p?.hops ?? []) {
    out.push('');
    out.push(`HOP ${hop.index}: ${hop.from} -> ${hop.to} (kubeadm ${hop.kubeadmVersion})`);
    out.push(`  kubelets that move: ${hop.mustMove.join(', ') || 'none'}`);
    out.push(`  kubelets that may lag: ${hop.mayLag.join(', ') || 'none'}`);
    out.push(
      ...formatTable(
        h(['STEP', 'NODE', 'BATCH', 'WHAT', 'SKEW']),
        hop.steps.map((s) => [
          s.id,
          s.node ?? '-',
          s.batch === undefined ? '-' : String(s.batch),
          stepWhat(s),
          stepSkew(s),
        ]),
      ),
    );
  }
  for (const n of p?.notes ?? []) out.push('', `Note: ${n}`);
  out.push('');
  out.push(
    ...formatTable(
      h(['PRE-FLIGHT', 'STATUS', 'SUBJECT', 'DETAIL']),
      r.preflight.findings.map((f) => [
        f.check,
        f.severity === 'ok' ? 'ok' : f.severity.toUpperCase(),
        f.subject,
        f.message,
      ]),
    ),
  );
  return out;
}

/** Registers `bosun upgrade` and its subcommands. */
export function registerUpgradeCommands(program: Command, ctx: CliContext): void {
  const upgrade = program
    .command('upgrade')
    .description('Upgrade a kubeadm cluster in Version Skew Policy order');

  upgrade
    .command('plan')
    .usage('[--to vX.Y.Z] [--max-unavailable N|P%] [-o table|json|yaml] [flags]')
    .description('Show the upgrade: what is available, or the hops and steps to --to, with a pre-flight')
    .addHelpText('after', PLAN_LONG)
    .option('--to <version>', 'The Kubernetes version to upgrade to (vMAJOR.MINOR.PATCH)')
    .option(
      '--max-unavailable <n|percent>',
      'How many workers are drained and upgraded at once: a number, or a percentage of the workers',
      '1',
    )
    .option('-o, --output <format>', 'Output format. One of: table|json|yaml', 'table')
    .option('--recipe <file>', 'A YAML file with the shell lines per role that replace the apt/dnf defaults')
    .option(
      '--delete-emptydir-data',
      'Plan the drains to delete pods with emptyDir volumes (as kubectl drain)',
    )
    .option('--force', 'Plan the drains to delete pods without a controller (as kubectl drain --force)')
    .option(
      '--window <duration>',
      'How long the upgrade may take from now: served certificates that expire within it are reported',
      '24h',
    )
    .option('--no-certificates', 'Do not check the served certificates (no TLS handshakes with the nodes)')
    .option('--no-headers', "When using the default output format, don't print headers")
    .action(async (f: PlanFlags, cmd: Command) => {
      const output = parseOutputFormat(f.output, ['table', 'json', 'yaml'], 'upgrade plan');
      const windowMs = parseDuration(f.window);
      if (windowMs === undefined || windowMs <= 0)
        throw new UsageError(`invalid --window "${f.window}": expected a duration such as 24h or 7d`, {
          hint: seeHelp(),
        });
      const up = await import('../../upgrade/index.ts');
      up.parseMaxUnavailable(f.maxUnavailable);
      const recipe = await readRecipe(f.recipe, ctx, 'upgrade plan');
      const { createKubeClients } = await import('../../kube/client.ts');
      const { createNodePods } = await import('../../kube/node-pods.ts');
      const { createClusterInfo } = await import('../../kube/cluster-info.ts');
      const { livePortsFromClients } = await import('../../certs/index.ts');
      const clients = createKubeClients(await clusterOptions(cmd, ctx));
      const report = await up.makeUpgradePlan(
        {
          to: f.to,
          maxUnavailable: f.maxUnavailable,
          recipe,
          drain: { force: f.force === true, deleteEmptyDirData: f.deleteEmptydirData === true },
          windowMs,
          skipCertificates: !f.certificates,
        },
        {
          info: createClusterInfo(clients),
          kube: createNodePods(clients),
          releases: await releaseIndex(clients.files, ctx),
          tls: livePortsFromClients(clients).tls,
          clock: ctx.clock,
        },
      );
      if (isDocumentFormat(output)) ctx.out.out(await formatDocument(report, output));
      else for (const line of planTables(report, { noHeaders: !f.headers })) ctx.out.out(line);
      const errors = report.preflight.findings.filter((x) => x.severity === 'error').length;
      if (errors > 0 || (report.plan !== undefined && !report.plan.legal))
        throw new BosunError(
          `the upgrade ${report.plan ? `to ${report.plan.to} ` : ''}cannot go ahead as the cluster stands: ${errors} pre-flight error${errors === 1 ? '' : 's'} (see the pre-flight)`,
          'PRECONDITION',
          { hint: 'Fix them and plan again.' },
        );
    });

  registerApply(upgrade, ctx);
  registerStatus(upgrade, ctx);
}

// ---- bosun upgrade apply ----

const APPLY_LONG = `
Upgrade this kubeadm cluster to --to, step by step in Version Skew Policy order, as 'bosun upgrade
plan --to' shows it: a verified etcd backup; the primary control plane ('kubeadm upgrade apply');
each other control plane ('kubeadm upgrade node'); then the kubelets, each node cordoned and drained
around its recipe (control planes one by one, then the workers in batches of --max-unavailable, the
nodes of a batch in parallel), waiting until it reports the new version and is Ready, uncordoned, and
its evicted workloads Ready again.

It asks for confirmation on a terminal; --yes skips the question, and without a terminal it refuses
unless --yes is given (as 'kubeadm upgrade apply' without -y does). --dry-run prints the commands each
node would run and changes nothing.

Where the recipes run: --on-node runs each line with a sandbox node's host shims first on PATH;
--exec TEMPLATE runs it through a command line of your own, e.g. 'ssh {node} sudo {command}'
({node}: the node's name; {command}: the line as one shell-quoted word; {argv}: sh -c and the line).
The recipe lines are the defaults (apt or dnf, from the node's OS image) or --recipe FILE (see
'bosun upgrade plan -h'). A step is done when the cluster shows it (the static pods' images, the
kubelet's reported version, Ready), never because a command exited 0.

Safety: the cluster lock (a Lease in bosun-system) is taken exclusively before the first step and
renewed until the end; a second apply says who holds it and since when (--wait-for-lock waits, and a
holder that died is taken over once its entry expires, after --lock-ttl). No step starts without a
verified etcd backup younger than --backup-max-age: the backup is taken from this machine, from the
members kubeadm announces (or --etcd-endpoints), with the client certificate in --etcd-pki-dir, into
--backup-dir; --skip-backup if you took one yourself. Before every step the live versions are read
and a step that would break the skew policy is refused. A node that fails its recipe or does not
come back Ready stops the rollout with a diagnosis, and stays cordoned; bosun uncordons only its
own cordons.

Resume: the rollout's journal lives in the cluster (ConfigMap bosun-system/bosun-upgrade). Run the
same command again, from any machine, after a failure, a Ctrl-C or a crash: it resumes at the first
step not proven done and repeats nothing finished. 'bosun upgrade status' shows the journal.

Output: progress on stderr (a live view on a terminal, plain lines otherwise) and a summary on
stdout; -o json writes one JSON event per line on stdout instead, for scripts.

Exit codes:
  0  the cluster runs --to everywhere
  1  the rollout stopped (pre-flight error, lock held, a failed step: the diagnosis is printed), or
     it was not confirmed
  2  usage error (--to not a version, older than the cluster or not released; a bad recipe file or
     flag); nothing was touched

Examples:
  # Upgrade a sandbox cluster to v1.34.3 through its nodes' shims, without a question
  bosun upgrade apply --to v1.34.3 --on-node --yes

  # A real cluster, over ssh, two workers at a time
  bosun upgrade apply --to v1.34.3 --exec 'ssh {node} sudo {command}' --max-unavailable 2

  # What would each node run?
  bosun upgrade apply --to v1.34.3 --exec 'ssh {node} sudo {command}' --dry-run

  # Resume after a failure, waiting for the lock of the run that died
  bosun upgrade apply --to v1.34.3 --exec 'ssh {node} sudo {command}' --wait-for-lock`;

interface ApplyFlags {
  to?: string;
  yes?: boolean;
  dryRun?: boolean;
  maxUnavailable: string;
  output: string;
  recipe?: string;
  onNode?: boolean;
  exec?: string;
  sandboxDir?: string;
  deleteEmptydirData?: boolean;
  force?: boolean;
  backupMaxAge: string;
  skipBackup?: boolean;
  backupDir?: string;
  etcdEndpoints?: string;
  etcdPkiDir?: string;
  lockTtl: string;
  waitForLock?: boolean;
  staticPodTimeout: string;
  kubeletTimeout: string;
  healthTimeout: string;
  restoreTimeout: string;
  commandTimeout: string;
  window: string;
  certificates: boolean;
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/** The line an event prints as (plain progress). */
function eventLine(e: TimedApplyEvent): string | undefined {
  const at = e.time.slice(11, 19);
  switch (e.type) {
    case 'plan':
      return `${at} ${e.resumed ? 'resuming' : 'starting'} the upgrade ${e.from} -> ${e.to} (${e.hops.map((h) => `${h.to}: ${h.steps} steps`).join(', ')}); journal ${e.journal}`;
    case 'preflight':
      return `${at} ${e.severity === 'error' ? 'ERROR' : 'WARNING'}: ${e.check}: ${e.message}`;
    case 'lock':
      return e.state === 'waiting'
        ? `${at} waiting for the cluster lock: ${e.detail}`
        : `${at} cluster lock taken (${e.detail})`;
    case 'backup':
      return `${at} etcd backup ${e.file} (revision ${e.revision})${e.reused ? ' is fresh: reused' : ' saved and verified'}`;
    case 'step': {
      const what = { start: 'started', done: 'done', skipped: 'already done', failed: 'FAILED' }[e.phase];
      return `${at} ${e.id}: ${what}${e.detail && e.phase !== 'skipped' ? ` (${e.detail})` : ''}`;
    }
    case 'action':
      return `${at} ${e.id}: ${e.what}`;
    case 'command':
      return `${at} ${e.id}: ${e.line}`;
    case 'output':
      return undefined;
    case 'end':
      return `${at} upgrade ${e.phase}${e.message ? `: ${e.message}` : ''}`;
  }
  return undefined;
}

/** Progress on a terminal: finished lines scroll, one live line per node at work stays below. */
class LiveApplyView {
  private readonly active = new Map<string, string>();
  private drawn = 0;
  constructor(private readonly out: CliContext['out']) {}

  private erase(): void {
    if (this.drawn > 0 && this.out.errRaw) this.out.errRaw(`\x1b[${this.drawn}A\x1b[J`);
    this.drawn = 0;
  }
  private draw(): void {
    for (const [id, what] of this.active) this.out.err(`  ... ${id}: ${what}`);
    this.drawn = this.active.size;
  }
  private note(line: string): void {
    this.erase();
    this.out.err(line);
    this.draw();
  }
  handle(e: TimedApplyEvent): void {
    if (e.type === 'output') return;
    if (e.type === 'action' || e.type === 'command') {
      const what = e.type === 'action' ? e.what : e.line;
      this.erase();
      this.active.set(e.id, what.length > 100 ? `${what.slice(0, 97)}...` : what);
      this.draw();
      return;
    }
    if (e.type === 'step' && e.phase !== 'start') this.active.delete(e.id);
    const line = eventLine(e);
    if (line !== undefined) this.note(line);
  }
}

function registerApply(upgrade: Command, ctx: CliContext): void {
  upgrade
    .command('apply')
    .usage('--to vX.Y.Z (--on-node | --exec TEMPLATE) [--yes] [--max-unavailable N|P%] [flags]')
    .description('Upgrade the cluster to --to, step by step, resumably, under the cluster lock')
    .addHelpText('after', APPLY_LONG)
    .option('--to <version>', 'The Kubernetes version to upgrade to (vMAJOR.MINOR.PATCH)')
    .option('-y, --yes', 'Do not ask for confirmation')
    .option('--dry-run', 'Print the commands each node would run; change nothing')
    .option(
      '--max-unavailable <n|percent>',
      'How many workers are drained and upgraded at once: a number, or a percentage of the workers',
      '1',
    )
    .option('-o, --output <format>', 'Output format. One of: table|json (json: one event per line)', 'table')
    .option('--recipe <file>', 'A YAML file with the shell lines per role that replace the apt/dnf defaults')
    .option('--on-node', "Run the recipes with each sandbox node's host shims first on PATH")
    .option(
      '--exec <template>',
      "Run the recipes through this command line, e.g. 'ssh {node} sudo {command}'",
    )
    .option(
      '--sandbox-dir <dir>',
      'The sandbox directory for --on-node (default: the directory of the kubeconfig)',
    )
    .option('--delete-emptydir-data', 'Continue even if there are pods using emptyDir (as kubectl drain)')
    .option('--force', 'Continue even if there are pods without a controller (as kubectl drain --force)')
    .option(
      '--backup-max-age <duration>',
      'A step starts only with a verified etcd backup younger than this',
      '1h',
    )
    .option('--skip-backup', 'Take no etcd backup (you took one yourself)')
    .option('--backup-dir <dir>', 'Where the etcd backups go (default ~/.bosun/backups)')
    .option(
      '--etcd-endpoints <urls>',
      'etcd client URLs (default: the members kubeadm announces on its etcd pods)',
    )
    .option(
      '--etcd-pki-dir <dir>',
      "The kubeadm PKI directory with etcd/ca.crt and the client certificate (default /etc/kubernetes/pki; with --on-node the primary's)",
    )
    .option(
      '--lock-ttl <duration>',
      'How long the lock outlives this process if it dies (it is renewed while it runs)',
      '1m',
    )
    .option('--wait-for-lock', 'Wait for the cluster lock instead of failing when it is held')
    .option(
      '--static-pod-timeout <duration>',
      "How long a control plane's static pods may take to show the new version",
      '5m',
    )
    .option(
      '--kubelet-timeout <duration>',
      'How long a kubelet may take to report the new version after its recipe',
      '5m',
    )
    .option(
      '--health-timeout <duration>',
      'How long a node may take to be healthy again after its recipe',
      '5m',
    )
    .option(
      '--restore-timeout <duration>',
      "How long a node's evicted workloads may take to be Ready again",
      '10m',
    )
    .option('--command-timeout <duration>', 'Kill a recipe line after this long (0: no limit)', '15m')
    .option(
      '--window <duration>',
      'How long the upgrade may take: certificates expiring within it are reported',
      '24h',
    )
    .option('--no-certificates', 'Do not check the served certificates in the pre-flight')
    .action(async (f: ApplyFlags, cmd: Command) => {
      const command = 'upgrade apply';
      const output = parseOutputFormat(f.output, ['table', 'json'], command);
      if (f.to === undefined) throw usageError('--to is required: the version to upgrade to', command);
      const up = await import('../../upgrade/index.ts');
      // Everything the user typed is checked before the cluster is read.
      if (!/^v?\d+\.\d+\.\d+$/.test(f.to.trim()))
        throw new UsageError(`--to "${f.to}" is not a Kubernetes version`, {
          hint: 'Name a release as vMAJOR.MINOR.PATCH, e.g. --to v1.34.3',
        });
      up.parseMaxUnavailable(f.maxUnavailable);
      const dur = (v: string, flag: string, allowZero = false): number =>
        parseDurationFlag(v, flag, command, { allowZero });
      const backupMaxAgeMs = dur(f.backupMaxAge, '--backup-max-age');
      const lockTtlMs = dur(f.lockTtl, '--lock-ttl');
      const staticPodTimeoutMs = dur(f.staticPodTimeout, '--static-pod-timeout');
      const kubeletTimeoutMs = dur(f.kubeletTimeout, '--kubelet-timeout');
      const healthTimeoutMs = dur(f.healthTimeout, '--health-timeout');
      const restoreTimeoutMs = dur(f.restoreTimeout, '--restore-timeout');
      const commandTimeoutMs = dur(f.commandTimeout, '--command-timeout', true);
      const windowMs = dur(f.window, '--window');
      if (f.exec !== undefined && f.onNode)
        throw usageError(
          '--exec and --on-node cannot be used together: choose where the recipes run',
          command,
        );
      if (f.sandboxDir !== undefined && !f.onNode)
        throw usageError('--sandbox-dir only makes sense with --on-node', command);
      if (f.exec === undefined && !f.onNode && !f.dryRun)
        throw usageError(
          "where do the recipes run? pass --exec TEMPLATE (e.g. 'ssh {node} sudo {command}') or --on-node (a sandbox)",
          command,
        );
      if (f.skipBackup && (f.backupDir !== undefined || f.etcdEndpoints !== undefined))
        throw usageError('--skip-backup takes no backup: drop --backup-dir and --etcd-endpoints', command);
      const recipe = await readRecipe(f.recipe, ctx, command);
      const host = await import('../../host/index.ts');
      const template = f.exec === undefined ? undefined : host.parseExecTemplate(f.exec);
      if (template && !template.ok) throw usageError(`invalid --exec template: ${template.error}`, command);

      const { createKubeClients } = await import('../../kube/client.ts');
      const { createNodePods } = await import('../../kube/node-pods.ts');
      const { createClusterInfo } = await import('../../kube/cluster-info.ts');
      const { createLeases } = await import('../../kube/leases.ts');
      const { createConfigMaps } = await import('../../kube/configmaps.ts');
      const { livePortsFromClients } = await import('../../certs/index.ts');
      const { JournalStore } = await import('../../journal/index.ts');
      const { ClusterLock, nodeExistsVia } = await import('../../lock/index.ts');
      const drain = await import('../../drain/index.ts');
      const connection = await clusterOptions(cmd, ctx);
      const clients = createKubeClients(connection);
      const kube = createNodePods(clients);
      const info = createClusterInfo(clients);
      // The lock and the journal say their last word after a Ctrl-C too.
      const lasting = createKubeClients(outlivingInterrupt(connection));
      const leases = createLeases(lasting);

      let sandboxDir: string | undefined;
      let executor: NodeExecutor;
      if (f.onNode) {
        sandboxDir = host.resolveSandboxDir({
          sandboxDir: f.sandboxDir,
          kubeconfigFiles: clients.files,
          isDir,
        });
        if (sandboxDir === undefined || !isDir(join(sandboxDir, 'nodes')))
          throw usageError(
            '--on-node needs the sandbox directory: pass --sandbox-dir DIR, or use the sandbox kubeconfig DIR/admin.conf',
            command,
          );
        executor = host.createSandboxExecutor({ sandboxDir, env: ctx.env, cwd: ctx.cwd });
      } else if (template?.ok)
        executor = new host.TemplateExecutor({ template: template.template, env: ctx.env, cwd: ctx.cwd });
      else
        executor = {
          describe: (node, c) => `# on ${node}: ${'shell' in c ? c.shell : c.argv.join(' ')}`,
          run: () => Promise.reject(new BosunError('no executor', 'INTERNAL')),
          probe: () => Promise.resolve('unknown'),
        };
      const recipes: RecipeRunner = {
        describe: (node, line) => executor.describe(node, { shell: line }),
        run: (node, line, o) =>
          executor.run(
            node,
            { shell: line },
            {
              ...(o.signal ? { signal: o.signal } : {}),
              ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}),
              onOutput: o.onOutput,
              ...(o.onStart ? { onStart: o.onStart } : {}),
            },
          ),
      };
      const releases = await releaseIndex(clients.files, ctx);

      if (f.dryRun) {
        const report = await up.makeUpgradePlan(
          {
            to: f.to,
            maxUnavailable: f.maxUnavailable,
            recipe,
            drain: { force: f.force === true, deleteEmptyDirData: f.deleteEmptydirData === true },
            windowMs,
            skipCertificates: true,
          },
          { info, kube, releases, tls: livePortsFromClients(clients).tls, clock: ctx.clock },
        );
        for (const line of dryRunLines(report.plan!, recipes)) ctx.out.out(line);
        return;
      }

      // Unique per run: two runs of one user on one machine must not share the lock entry.
      const who = `${identity(ctx, command)} pid ${ctx.process?.pid ?? 0}/${randomBytes(3).toString('hex')}`;
      const lock = new ClusterLock({}, { kube: leases, clock: ctx.clock, nodeExists: nodeExistsVia(kube) });
      const primaryPki = async (): Promise<string> => {
        if (f.etcdPkiDir !== undefined)
          return isAbsolute(f.etcdPkiDir) ? f.etcdPkiDir : join(ctx.cwd, f.etcdPkiDir);
        if (sandboxDir === undefined) return '/etc/kubernetes/pki';
        // A sandbox node's files live in its host directory, beside its shims.
        const cps = await kube.listNodes({ labelSelector: 'node-role.kubernetes.io/control-plane' });
        const first = cps.map((n) => n.metadata.name ?? '').sort()[0] ?? 'cp-1';
        return join(dirname(host.sandboxShimDir(sandboxDir, first)), 'etc', 'kubernetes', 'pki');
      };
      const backupDir = f.backupDir ?? join(ctx.home, '.bosun', 'backups');
      const backup = up.etcdBackupTaker(
        {
          endpoints: (f.etcdEndpoints ?? '')
            .split(',')
            .map((x) => x.trim())
            .filter((x) => x !== ''),
          pkiDir: f.skipBackup ? '' : await primaryPki(),
          dir: isAbsolute(backupDir) ? backupDir : join(ctx.cwd, backupDir),
          host: hostname(),
          dialTimeoutMs: 5000,
        },
        { kube, clock: ctx.clock },
      );
      const drainOpts = up.upgradeDrainOptions({
        force: f.force === true,
        deleteEmptyDirData: f.deleteEmptydirData === true,
      });
      const maintain: NodeMaintainer = async (node, work, o) => {
        const r = await drain.runMaintenance(
          node,
          {
            owner: { who, why: `upgrade to ${f.to ?? ''}` },
            drain: drainOpts,
            work: {
              describe: () => work.describe,
              probe: (p) => executor.probe(p),
              run: (_n, wctx) => work.run(wctx),
            },
            expectReboot: work.expectReboot,
            healthTimeoutMs,
            healthSettleMs: 0,
            restoreTimeoutMs,
            pollMs: 100,
          },
          {
            kube,
            clock: ctx.clock,
            ...(o.signal ? { signal: o.signal } : {}),
            observer: (e) => {
              if (e.type === 'phase' && e.phase !== 'done') o.onPhase(e.phase, e.detail);
              // What a wait is waiting for, each time it changes (the journal keeps the last).
              else if (e.type === 'restore' && e.waiting.length > 0) o.onPhase('restore', restoreWaiting(e.waiting));
              else if (e.type === 'api-down') o.onPhase('waiting for the API server', e.message);
            },
          },
        );
        return r;
      };

      const live = output === 'table' && isLive(ctx.out, ctx.env) ? new LiveApplyView(ctx.out) : undefined;
      const verbose = Number(cmd.optsWithGlobals<{ v?: string }>().v ?? '0') >= 1;
      const observer = (e: TimedApplyEvent): void => {
        if (output === 'json') {
          ctx.out.out(JSON.stringify(e));
          return;
        }
        if (live) return live.handle(e);
        // The recipe's lines and their output: with -v 1 (the diagnosis shows them when one fails).
        if (e.type === 'output' || e.type === 'command') {
          if (!verbose) return;
          if (e.type === 'output') ctx.out.err(`    ${e.node}| ${e.text}`);
          else ctx.out.err(eventLine(e) ?? '');
          return;
        }
        const line = eventLine(e);
        if (line !== undefined) ctx.out.err(line);
      };
      const confirm = async (report: UpgradePlanReport): Promise<boolean> => {
        if (f.yes) return true;
        const p = report.plan!;
        if (!ctx.ask)
          throw new BosunError(
            `the upgrade to ${p.to} needs a confirmation, and there is no terminal to ask on`,
            'PRECONDITION',
            { hint: 'Pass --yes to confirm it (as kubeadm upgrade apply -y).' },
          );
        for (const line of planTables(report)) ctx.out.err(line);
        const answer = await ctx.ask(
          `Upgrade the cluster from ${p.from} to ${p.to} (${p.hops.length} hop${p.hops.length === 1 ? '' : 's'})? [y/N]: `,
        );
        return /^y(es)?$/i.test(answer.trim());
      };
      try {
        const r = await up.applyUpgrade(
          {
            to: f.to,
            maxUnavailable: f.maxUnavailable,
            recipe,
            drain: { force: f.force === true, deleteEmptyDirData: f.deleteEmptydirData === true },
            windowMs,
            identity: who,
            backupMaxAgeMs,
            skipBackup: f.skipBackup === true,
            waitForLock: f.waitForLock === true,
            staticPodTimeoutMs,
            kubeletTimeoutMs,
            commandTimeoutMs,
            pollMs: 100,
            skipCertificates: !f.certificates,
          },
          {
            info,
            kube,
            releases,
            tls: livePortsFromClients(clients).tls,
            clock: ctx.clock,
            journal: new JournalStore({ ...createConfigMaps(lasting), ...leases }, { clock: ctx.clock }),
            lock: up.clusterUpgradeLock(lock, {
              host: hostname(),
              processAlive: (pid) => ctx.process?.alive(pid) ?? true,
              identity: who,
              ttlSeconds: Math.max(1, Math.round(lockTtlMs / 1000)),
              clock: ctx.clock,
            }),
            recipes,
            maintain,
            backup,
            confirm,
            observer,
            signal: ctx.signal,
          },
        );
        if (output === 'table')
          ctx.out.out(
            r.journal
              ? `upgrade to ${r.journal.to} succeeded: ${r.ran.length} step${r.ran.length === 1 ? '' : 's'} run, ${r.found.length} found done (journal ${r.journal.id})`
              : `upgrade to ${f.to}: nothing to do, the cluster runs it everywhere`,
          );
      } catch (e) {
        if (e instanceof up.RolloutFailed && output === 'table') for (const l of e.diagnosis) ctx.out.err(l);
        throw e;
      }
    });
}

// ---- bosun upgrade status ----

const STATUS_LONG = `
Show the last upgrade's journal, kept in the cluster (ConfigMap bosun-system/bosun-upgrade): the
rollout (target, phase, runs, backup, how it ended), every hop with its steps, every node with the
steps that ran on it, and who holds the cluster lock.

Examples:
  # Where does the upgrade stand?
  bosun upgrade status

  # Per hop and per node, for a script
  bosun upgrade status -o json`;

function registerStatus(upgrade: Command, ctx: CliContext): void {
  upgrade
    .command('status')
    .usage('[-o table|json|yaml] [flags]')
    .description("Show the last upgrade's journal, per hop and per node, and the cluster lock")
    .addHelpText('after', STATUS_LONG)
    .option('-o, --output <format>', outputHelp(TABLE_FORMATS), 'table')
    .option('--no-headers', NO_HEADERS_HELP)
    .action(async (f: { output: string; headers: boolean }, cmd: Command) => {
      const output = parseOutputFormat(f.output, TABLE_FORMATS, 'upgrade status');
      const up = await import('../../upgrade/index.ts');
      const { createKubeClients } = await import('../../kube/client.ts');
      const { createLeases } = await import('../../kube/leases.ts');
      const { createConfigMaps } = await import('../../kube/configmaps.ts');
      const { JournalStore } = await import('../../journal/index.ts');
      const { ClusterLock } = await import('../../lock/index.ts');
      const clients = createKubeClients(await clusterOptions(cmd, ctx));
      const leases = createLeases(clients);
      const store = new JournalStore({ ...createConfigMaps(clients), ...leases });
      const read = await store.read();
      let lock: UpgradeStatus['lock'];
      try {
        const d = await new ClusterLock({}, { kube: leases, clock: ctx.clock }).describe();
        lock = {
          holders: d.holders.map((h) => ({
            identity: h.identity,
            operation: h.operation,
            state: h.state,
            text: h.text,
          })),
        };
      } catch (e) {
        lock = { error: errorMessage(e) };
      }
      const s = up.upgradeStatus(
        read.found === 'journal' ? read.journal : undefined,
        `${store.namespace}/${store.name}`,
        lock,
      );
      if (isDocumentFormat(output)) {
        ctx.out.out(await formatDocument(s, output));
        return;
      }
      for (const l of statusLines(s, { noHeaders: !f.headers })) ctx.out.out(l);
      if (read.found === 'unreadable')
        ctx.out.err(`WARNING: ${store.namespace}/${store.name} holds no journal bosun can read`);
    });
}

/** The status as tables. */
export function statusLines(s: UpgradeStatus, opts: { noHeaders?: boolean } = {}): string[] {
  const h = (hs: string[]): string[] | null => (opts.noHeaders ? null : hs);
  const out: string[] = [];
  const r = s.rollout;
  if (!r) out.push(`No upgrade has run on this cluster (no journal in ${s.journalObject}).`);
  else {
    out.push(
      `Upgrade ${r.id}: ${r.from} -> ${r.to}, ${r.phase}${r.finishedAt ? ` at ${r.finishedAt}` : ''} (started ${r.startedAt}, ${r.runs} run${r.runs === 1 ? '' : 's'})`,
    );
    if (r.backup)
      out.push(
        `Backup: ${r.backup.file} on ${r.backup.host} (revision ${r.backup.revision}, ${r.backup.takenAt})`,
      );
    if (r.outcome) {
      out.push(`Stopped: ${r.outcome.message}`);
      if (r.outcome.hint) out.push(`  ${r.outcome.hint}`);
    }
  }
  if ('error' in s.lock) out.push(`Lock: could not read it: ${s.lock.error}`);
  else
    out.push(
      `Lock: ${s.lock.holders.length === 0 ? 'free' : s.lock.holders.map((x) => `${x.text} [${x.state}]`).join('; ')}`,
    );
  for (const hop of s.hops) {
    out.push('');
    out.push(
      `HOP ${hop.index}: ${hop.from} -> ${hop.to}: ${hop.state} (${hop.done}/${hop.total} steps done)`,
    );
    out.push(
      ...formatTable(
        h(['STEP', 'NODE', 'BATCH', 'STATE', 'ATTEMPTS', 'STARTED', 'FINISHED', 'MESSAGE']),
        hop.steps.map((x) => [
          x.id,
          x.node ?? '-',
          x.batch === undefined ? '-' : String(x.batch),
          x.doneBy === 'found' ? 'done (found)' : x.state,
          String(x.attempts),
          x.startedAt ?? '-',
          x.finishedAt ?? '-',
          x.message ?? '',
        ]),
      ),
    );
  }
  if (s.nodes.length > 0) {
    out.push('');
    out.push(
      ...formatTable(
        h(['NODE', 'VERSION', 'STATE', 'STEPS']),
        s.nodes.map((n) => [
          n.name,
          n.version ?? '-',
          n.state,
          n.steps.map((x) => `${x.id.split('/')[0] ?? ''} ${x.id.split('/')[1] ?? ''} ${x.state}`).join(', '),
        ]),
      ),
    );
  }
  return out;
}
