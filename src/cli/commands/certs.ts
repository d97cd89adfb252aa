// bosun certs check|renew (issue 5). Parses flags and calls the certs feature, loaded lazily.
import type { Command } from 'commander';
import { parseOutputFormat } from '../output.ts';
import type { CliContext } from '../context.ts';

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
      .option('--no-headers', "When using the default output format, don't print headers"),
  ).action(async (opts: PathOpts & { output: string; warnWithin: string; headers: boolean }) => {
    const { runCertsCheck, parseWarnWithin } = await import('../../certs/index.ts');
    const output = parseOutputFormat(opts.output, ['table', 'json', 'yaml', 'prometheus'], 'certs check') as
      'table' | 'json' | 'yaml' | 'prometheus';
    await runCertsCheck(
      {
        pkiDir: opts.pkiDir,
        configDir: opts.configDir,
        kubeletPkiDir: opts.kubeletPkiDir,
        root: opts.root,
        output,
        warnWithinMs: parseWarnWithin(opts.warnWithin),
        noHeaders: !opts.headers,
        cwd: ctx.cwd,
      },
      { clock: ctx.clock, out: ctx.out },
    );
  });
}
