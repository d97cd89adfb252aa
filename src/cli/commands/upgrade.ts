// bosun upgrade plan (issue 16): parses the flags, builds the ports (kube clients, the release index,
// the TLS probe), calls the upgrade feature (loaded lazily), prints the plan as tables or one JSON /
// YAML document, and turns it into an exit code: 0 the plan is legal and the pre-flight found no
// error, 1 otherwise (the plan is still printed), 2 usage errors (--to, --max-unavailable, --recipe).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import type { Command } from 'commander';
import { BosunError, UsageError, errorMessage } from '../../common/errors.ts';
import { parseDuration } from '../../common/duration.ts';
import type { CliContext } from '../context.ts';
import { clusterOptions } from '../nodes.ts';
import { formatDocument, formatTable, isDocumentFormat, parseOutputFormat } from '../output.ts';
import type { ReleaseIndex, UpgradePlanReport, UpgradeStep } from '../../upgrade/index.ts';

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

function seeHelp(): string {
  return "See 'bosun upgrade plan -h' for help and examples";
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
      let recipe;
      if (f.recipe !== undefined) {
        const file = isAbsolute(f.recipe) ? f.recipe : join(ctx.cwd, f.recipe);
        let text: string;
        try {
          text = readFileSync(file, 'utf8');
        } catch (e) {
          throw new UsageError(`recipe ${f.recipe}: cannot read it: ${errorMessage(e)}`, { hint: seeHelp() });
        }
        recipe = up.parseRecipe(text, f.recipe);
      }
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
}
