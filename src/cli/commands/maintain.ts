// bosun maintain (issue 3): take a node out of service, run a command, bring it back only when it
// is healthy. Parses and validates drain's flags and its own, finds the sandbox node's shims for
// --on-node, calls the drain feature's maintainNode (loaded lazily) with a Reporter
// (print/drain-progress.ts) for progress, prints the result document or the diagnosis, and turns
// the outcome into an exit code: 0 done, 1 refused, blocked, failed, unhealthy or interrupted, 2
// usage errors.
import { statSync } from 'node:fs';
import type { Command } from 'commander';
import { BosunError } from '../../common/errors.ts';
import type { CliContext } from '../context.ts';
import {
  TABLE_FORMATS,
  identity,
  outputHelp,
  parseDurationFlag,
  parseOutputFormat,
  seeHelp,
  usageError,
} from '../flags.ts';
import { checkNodeNames, nodePodsPort, resolveNodes } from '../nodes.ts';
import { formatDocument, isDocumentFormat } from '../output.ts';
import { maintainDocument } from '../print/drain.ts';
import { Reporter } from '../print/drain-progress.ts';
import { isLive } from '../print/terminal.ts';
import { addDrainFlags, drainOptions, type DrainFlags } from './drain-flags.ts';
import { UsageError } from '../../common/errors.ts';
import type { NodeExecutor } from '../../host/index.ts';

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
again continues where it stopped (a command that finished is not run again). A command that was
running when bosun was killed is waited for; when a reboot is expected, it is then not run again
(it may have issued the reboot): a new boot ID within --health-timeout completes it, and without
one bosun exits 1 and the run after that runs COMMAND again. A node cordoned outside bosun is
refused.

--on-node runs COMMAND with a sandbox node's host shims first on PATH (DIR/nodes/NODE/host/bin,
DIR from --sandbox-dir or from a kubeconfig at DIR/admin.conf), so reboot or apt-get act on that
simulated node.

--exec TEMPLATE runs COMMAND through a command line of your own, split into words as sh does (no
expansions): {node} is replaced by the node's name, {command} by COMMAND as one shell-quoted word
(so ssh, which joins its arguments into one line for the remote shell, hands the remote shell
exactly COMMAND's words), and {argv}, a word of its own, by COMMAND's words as separate arguments
(for carriers that run a program without a shell, such as nsenter or kubectl exec).`;

const MAINTAIN_EXAMPLES = `
Examples:
  # Patch a worker over ssh
  bosun maintain worker-2 --ignore-daemonsets -- ssh {node} sudo apt-get upgrade -y

  # The same through a template: the command is one quoted word for the remote shell
  bosun maintain worker-2 --ignore-daemonsets --exec 'ssh {node} sudo {command}' -- apt-get upgrade -y

  # Reboot a sandbox node with its own reboot shim
  bosun maintain worker-2 --ignore-daemonsets --on-node -- reboot`;

/** Registers `bosun maintain`. */
export function registerMaintainCommand(program: Command, ctx: CliContext): void {
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
        '--exec <template>',
        "Run COMMAND through this command line, e.g. 'ssh {node} sudo {command}' ({node}: the node's name; {command}: COMMAND as one shell-quoted word; {argv}: its words).",
      )
      .option(
        '--sandbox-dir <dir>',
        'The sandbox directory for --on-node (default: the directory of the kubeconfig, when it is DIR/admin.conf).',
      )
      .option('-o, --output <format>', outputHelp(TABLE_FORMATS)),
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
          exec?: string;
        },
        cmd: Command,
      ) => {
        const format = parseOutputFormat(f.output, TABLE_FORMATS, 'maintain');
        checkNodeNames([name], 'maintain');
        if (command.length === 0)
          throw usageError(
            'maintain needs a command after --, e.g. bosun maintain worker-2 -- ssh {node} sudo apt-get upgrade -y',
            'maintain',
          );
        if (f.sandboxDir !== undefined && !f.onNode)
          throw usageError('--sandbox-dir only makes sense with --on-node', 'maintain');
        if (f.exec !== undefined && f.onNode)
          throw usageError(
            '--exec and --on-node cannot be used together: choose where COMMAND runs',
            'maintain',
          );
        const host = await import('../../host/index.ts');
        const template = f.exec === undefined ? undefined : host.parseExecTemplate(f.exec);
        if (template && !template.ok)
          throw usageError(`invalid --exec template: ${template.error}`, 'maintain');
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
        const { kube, files } = await nodePodsPort(cmd, ctx);
        let executor: NodeExecutor = template
          ? new host.TemplateExecutor({ template: template.template, env: ctx.env, cwd: ctx.cwd })
          : new host.LocalExecutor({ env: ctx.env, cwd: ctx.cwd });
        if (f.onNode) {
          const isDir = (p: string): boolean => {
            try {
              return statSync(p).isDirectory();
            } catch {
              return false;
            }
          };
          const dir = host.resolveSandboxDir({ sandboxDir: f.sandboxDir, kubeconfigFiles: files, isDir });
          if (dir === undefined)
            throw new UsageError(
              '--on-node needs the sandbox directory: pass --sandbox-dir DIR, or use the sandbox kubeconfig DIR/admin.conf',
              { hint: seeHelp('maintain') },
            );
          const shims = host.sandboxShimDir(dir, name);
          if (!isDir(shims))
            throw new BosunError(`--on-node: no host shims for node "${name}" at ${shims}`, 'PRECONDITION', {
              hint: 'Is this a bosun sandbox, and is the node name right? bosun sandbox status --dir DIR lists its nodes.',
            });
          executor = host.createSandboxExecutor({ sandboxDir: dir, env: ctx.env, cwd: ctx.cwd });
        }
        await resolveNodes(kube, [name], undefined);
        const reporter = new Reporter(ctx.out, {
          format: format === 'table' ? 'text' : 'document',
          live: isLive(ctx.out, ctx.env),
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
          },
          {
            kube,
            clock: ctx.clock,
            executor,
            observer: reporter.maintain,
            drainObserver: reporter.drain,
            signal: ctx.signal,
          },
        );
        if (isDocumentFormat(format)) ctx.out.out(await formatDocument(maintainDocument(r), format));
        if (r.diagnosis && format === 'table') for (const line of r.diagnosis) ctx.out.err(line);
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
