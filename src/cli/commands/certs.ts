// bosun certs check|renew (issue 5). Parses flags, calls the certs feature (loaded lazily, with
// its printers in certs-output.ts), prints the results and turns them into the exit codes its help
// documents.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../../common/errors.ts';
import { parseDuration } from '../../common/duration.ts';
import { parseOutputFormat } from '../output.ts';
import type { CliContext, GlobalOptions } from '../context.ts';
import type { KubeClientOptions } from '../../kube/client.ts';

/** The cluster connection from the global flags (--kubeconfig, --context, --request-timeout). */
function clusterOptions(cmd: Command, ctx: CliContext): KubeClientOptions {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const timeout = parseDuration(g.requestTimeout ?? '0');
  if (timeout === undefined)
    throw new UsageError(`invalid --request-timeout "${g.requestTimeout ?? ''}"`, {
      hint: 'Use a duration such as 30s or 1m; 0 means no timeout.',
    });
  return {
    kubeconfig: g.kubeconfig,
    envKubeconfig: ctx.env['KUBECONFIG'],
    home: ctx.home,
    context: g.context,
    requestTimeoutMs: timeout,
    signal: ctx.signal,
    clock: ctx.clock,
  };
}

/** Parses --warn-within (e.g. 30d, 720h). */
export function parseWarnWithin(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms < 0) {
    throw new UsageError(`invalid --warn-within "${text}": expected a duration such as 30d, 720h or 2w`, {
      hint: "See 'bosun certs check -h' for help and examples",
    });
  }
  return ms;
}

/** Parses --validity (kubeadm's certificateValidityPeriod; default 1y). */
export function parseValidity(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms < 60_000) {
    throw new UsageError(
      `invalid --validity "${text}": expected a duration of at least a minute, such as 1y, 90d or 8760h`,
      { hint: "See 'bosun certs renew -h' for help and examples" },
    );
  }
  return ms;
}

/** Whether the user named a cluster (--kubeconfig, --context or KUBECONFIG). */
function clusterNamed(cmd: Command, ctx: CliContext): boolean {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  return g.kubeconfig !== undefined || g.context !== undefined || !!ctx.env['KUBECONFIG'];
}

function parseTimeout(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0)
    throw new UsageError(`invalid --timeout "${text}": expected a duration such as 5m`, {
      hint: "See 'bosun certs renew -h' for help and examples",
    });
  return ms;
}

const PATH_HELP = {
  pkiDir: "The path where certificates are stored (kubeadm's certificatesDir)",
  configDir: 'The path where the kubeconfig files (admin.conf, ...) are stored',
  kubeletPkiDir: 'The path where the kubelet keeps its certificates',
  root: "Read a node whose root filesystem is at DIR (e.g. a sandbox node's DIR/nodes/cp-1/host): the default paths, and absolute paths inside kubeconfigs, are taken under it",
};

interface PathOpts {
  pkiDir?: string;
  configDir?: string;
  kubeletPkiDir?: string;
  root?: string;
}

function addPathOptions(cmd: Command): Command {
  return cmd
    .option('--pki-dir <dir>', `${PATH_HELP.pkiDir} (default "/etc/kubernetes/pki")`)
    .option('--config-dir <dir>', `${PATH_HELP.configDir} (default "/etc/kubernetes")`)
    .option('--kubelet-pki-dir <dir>', `${PATH_HELP.kubeletPkiDir} (default "/var/lib/kubelet/pki")`)
    .option('--root <dir>', PATH_HELP.root);
}

/** Registers the commands of this module on the program. */
export function registerCertsCommands(program: Command, ctx: CliContext): void {
  const certs = program
    .command('certs')
    .description('Check certificate expiry and renew the certificates of a kubeadm node');

  addPathOptions(
    certs
      .command('check')
      .description(
        'Check the expiry of every kubeadm certificate, kubeconfig and kubelet certificate on this node',
      )
      .addHelpText(
        'after',
        `
Lists what 'kubeadm certs check-expiration' lists (the leaves in pki/, the client certificates in
admin.conf, super-admin.conf, controller-manager.conf and scheduler.conf, and the CAs), plus the
kubelet's client certificate (kubelet-client-current.pem), its serving certificate and kubelet.conf.
It expects the files the node's kubeadm release writes (before v1.29 there is no super-admin.conf):
the release is read from the image tags of the static pod manifests or, when the node has none and
a cluster is named (--kubeconfig, --context, KUBECONFIG), from the kubeadm-config ConfigMap.
kubeadm writes super-admin.conf only on the node where 'kubeadm init' ran: where it is missing
(a control plane that joined), its row says it is absent and how to make one, and that is no
problem (status "absent", with an "absence" field in -o json).
Each row also says whether its key matches and whether its CA signed it. -o json prints kubeadm's
CertificateExpirationInfo document (with bosun's fields added after kubeadm's); -o prometheus
prints a node-exporter text-collector file.

Exit codes:
  0  every certificate is present and valid, and none expires within --warn-within
  1  a certificate is missing, unreadable, malformed, has the wrong key or is not signed by its CA
  2  usage error (bad flag or value)
  3  nothing is broken, but a certificate has expired or expires within --warn-within

Examples:
  # Check this control plane's certificates, kubeadm-style
  bosun certs check

  # Alert from cron when anything expires within 60 days
  bosun certs check --warn-within 60d -o json > /var/tmp/certs.json || echo "renew soon"

  # Check a sandbox node's files
  bosun certs check --root ~/.bosun/sandbox/nodes/cp-1/host

  # Feed node-exporter's textfile collector (write, then rename, so it never reads half a file)
  bosun certs check -o prometheus > /var/lib/node_exporter/bosun-certs.prom.tmp; mv /var/lib/node_exporter/bosun-certs.prom.tmp /var/lib/node_exporter/bosun-certs.prom`,
      )
      .option('-o, --output <format>', 'Output format. One of: table|json|yaml|prometheus', 'table')
      .option(
        '--warn-within <duration>',
        'Exit with code 3 when a certificate expires within this duration',
        '30d',
      )
      .option('--no-headers', "When using the default output format, don't print headers")
      .option(
        '--served',
        'Check what is served instead: TLS handshakes with every kube-apiserver, etcd (client and peer) and kubelet found through the API, compared with the files on this node',
      )
      .option(
        '--node <name>',
        "With --served, this node's name (default: the CN of its etcd server or kubelet client certificate)",
      ),
  ).action(
    async (
      opts: PathOpts & {
        output: string;
        warnWithin: string;
        headers: boolean;
        served?: boolean;
        node?: string;
      },
      cmd: Command,
    ) => {
      const warnWithinMs = parseWarnWithin(opts.warnWithin);
      const certsFeature = await import('../../certs/index.ts');
      const print = await import('./certs-output.ts');
      const paths = certsFeature.resolveCertPaths(opts, ctx.cwd);
      if (opts.served) {
        const output = parseOutputFormat(opts.output, ['table', 'json', 'yaml'], 'certs check --served') as
          'table' | 'json' | 'yaml';
        const ports = certsFeature.realLivePorts(clusterOptions(cmd, ctx));
        const now = ctx.clock.now();
        const served = await certsFeature.checkServed(
          { paths, localNode: opts.node ?? (await certsFeature.localNodeName(paths)), now, warnWithinMs },
          ports,
        );
        await print.printServed(served, now, { output, noHeaders: !opts.headers }, ctx.out);
        const failure = print.servedFailure(served.rows);
        if (failure) throw failure;
        return;
      }
      const output = parseOutputFormat(
        opts.output,
        ['table', 'json', 'yaml', 'prometheus'],
        'certs check',
      ) as 'table' | 'json' | 'yaml' | 'prometheus';
      const kubernetesVersion = await certsFeature.nodeKubeadmVersion(paths, {
        clusterVersion: clusterNamed(cmd, ctx)
          ? certsFeature.realClusterVersion(clusterOptions(cmd, ctx))
          : undefined,
        onWarning: (m) => ctx.out.err(`WARNING: ${m}`),
      });
      const now = ctx.clock.now();
      const rows = await certsFeature.checkCertificates(paths, now, warnWithinMs, {
        kubernetesVersion: kubernetesVersion?.version,
      });
      await print.printCheckRows(rows, now, { output, noHeaders: !opts.headers }, ctx.out);
      const failure = print.checkFailure(rows, warnWithinMs);
      if (failure) throw failure;
    },
  );

  addPathOptions(
    certs
      .command('renew')
      .usage('all|NAME... [flags]')
      .argument('<names...>', 'all, or kubeadm certificate names')
      .description(
        'Renew kubeadm certificates on this control plane, then restart the static pods that use them',
      )
      .addHelpText(
        'after',
        `
Re-issues each named certificate with the same subject, SANs, key usages and key type and a new
key, signed by its CA: the leaves in pki/ (apiserver, apiserver-kubelet-client,
apiserver-etcd-client, front-proxy-client, etcd-server, etcd-peer, etcd-healthcheck-client) and the
client certificates embedded in admin.conf, super-admin.conf (kubeadm v1.29 and later),
controller-manager.conf and scheduler.conf. The old files are kept in a dated directory under
--backup-dir and every file is written atomically. Refuses, changing nothing, when a CA key is
absent (external CA), a certificate is missing, or a CA has expired or expires within a day.
CAs and the kubelet's own certificates are not renewed here. super-admin.conf exists only on the
node where 'kubeadm init' ran: 'all' skips it where it is absent and says so, as kubeadm does;
named where it is absent, it is refused.

Unless --no-restart, the static pods that read the renewed files are then restarted the kubeadm way
(manifest moved out of manifests/, mirror pod gone, manifest moved back, mirror pod Ready), one at a
time, etcd last and only while its quorum holds, and the served certificates are checked.
Renew one control plane at a time, on that node; go on to the next only when this one is healthy.

One renewal runs at a time on a node (<config-dir>/.bosun-certs-renew.lock). A renewal that was
killed is finished by the next one, which first removes the temporary files and unfinished backups
it left (and names them), puts back a manifest it had moved out of manifests/ and, unless
--no-restart, waits until that static pod is Ready, then renews.

Examples:
  # Renew everything kubeadm renews, then restart and verify
  bosun certs renew all

  # Renew the API server's serving certificate only, restart later yourself
  bosun certs renew apiserver --no-restart

  # Renew on a sandbox node's files
  bosun certs renew all --root ~/.bosun/sandbox/nodes/cp-1/host --no-restart`,
      )
      .option(
        '--backup-dir <dir>',
        'Where the dated directory with the previous files is created (default "<config-dir>/tmp")',
      )
      .option(
        '--validity <duration>',
        "How long the renewed certificates are valid (capped at their CA's expiry)",
        '1y',
      )
      .option('--no-restart', 'Do not restart the static pods; print which ones need a restart')
      .option(
        '--timeout <duration>',
        'How long to wait for each static pod to go away and to come back Ready',
        '5m',
      )
      .option(
        '--node <name>',
        "This control plane's node name (default: the CN of its etcd server certificate)",
      ),
  ).action(
    async (
      names: string[],
      opts: PathOpts & {
        backupDir?: string;
        validity: string;
        restart: boolean;
        timeout: string;
        node?: string;
      },
      cmd: Command,
    ) => {
      const certsFeature = await import('../../certs/index.ts');
      const print = await import('./certs-output.ts');
      certsFeature.resolveRenewNames(names);
      const validityMs = parseValidity(opts.validity);
      let restart;
      let clusterVersion;
      if (clusterNamed(cmd, ctx)) clusterVersion = certsFeature.realClusterVersion(clusterOptions(cmd, ctx));
      if (opts.restart) {
        const cluster = clusterOptions(cmd, ctx);
        // Like kubeadm, a control plane's own admin.conf when no kubeconfig is named anywhere.
        if (
          cluster.kubeconfig === undefined &&
          !cluster.envKubeconfig &&
          !existsSync(join(ctx.home, '.kube', 'config'))
        ) {
          cluster.kubeconfig = join(certsFeature.resolveCertPaths(opts, ctx.cwd).configDir, 'admin.conf');
        }
        clusterVersion = certsFeature.realClusterVersion(cluster);
        restart = certsFeature.makeRestartPhase({
          ports: () => certsFeature.realLivePorts(cluster),
          clock: ctx.clock,
          onEvent: print.printEvents(ctx.out),
          timeoutMs: parseTimeout(opts.timeout),
          node: opts.node,
          signal: ctx.signal,
        });
      }
      await print.renewAndReport(
        {
          names,
          pkiDir: opts.pkiDir,
          configDir: opts.configDir,
          kubeletPkiDir: opts.kubeletPkiDir,
          root: opts.root,
          backupDir: opts.backupDir,
          validityMs,
          restart: opts.restart,
          cwd: ctx.cwd,
        },
        {
          clock: ctx.clock,
          out: ctx.out,
          ...(restart ? { restart } : {}),
          ...(clusterVersion ? { clusterVersion } : {}),
        },
      );
    },
  );
}
