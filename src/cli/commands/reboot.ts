// `bosun reboot status`: what the reboot agents are doing, from any machine. One line per node
// (reboot required, state, since when, blocked by what, lock holder) or one JSON/YAML document.
// Exit 0 however the nodes are: it reports, it does not judge.
import type { Command } from 'commander';
import type { CliContext, GlobalOptions } from '../context.ts';
import { NO_HEADERS_HELP, TABLE_FORMATS, outputHelp, parseOutputFormat } from '../flags.ts';
import { clusterOptions } from '../nodes.ts';
import { formatDocument, formatTable, isDocumentFormat } from '../output.ts';

const STATUS_LONG = `
Shows every node's reboot as its bosun agent recorded it on the Node (bosun.dev/reboot): whether a
reboot is required, the agent's state and since when, what blocks it (a blocking pod, an alert,
the maintenance window, a cordon made by someone else, ...), and whether it holds a slot of
bosun's cluster lock (bosun-system/bosun-lock, or the namespace of -n).`;

const STATUS_EXAMPLES = `
Examples:
  # Where the rolling reboot stands
  bosun reboot status

  # The same as JSON, with each failure's diagnosis
  bosun reboot status -o json`;

/** Registers `bosun reboot status`. */
export function registerRebootCommands(program: Command, ctx: CliContext): void {
  const reboot = program.command('reboot').description("The reboot agents' rolling reboots");
  reboot
    .command('status')
    .description("Show each node's reboot state, blockers and the lock")
    .option('-o, --output <format>', outputHelp(TABLE_FORMATS))
    .option('--no-headers', NO_HEADERS_HELP)
    .addHelpText('after', `${STATUS_LONG}\n${STATUS_EXAMPLES}`)
    .action(async (f: { output?: string; headers: boolean }, cmd: Command) => {
      const format = parseOutputFormat(f.output, TABLE_FORMATS, 'reboot status');
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const { createKubeClients } = await import('../../kube/client.ts');
      const { createNodePods } = await import('../../kube/node-pods.ts');
      const { createLeases } = await import('../../kube/leases.ts');
      const { ClusterLock } = await import('../../lock/index.ts');
      const { readRebootStatus, statusRows } = await import('../../reboot/status.ts');
      const clients = createKubeClients(await clusterOptions(cmd, ctx));
      const kube = createNodePods(clients);
      const lock = new ClusterLock(
        { ...(g.namespace ? { namespace: g.namespace } : {}) },
        { kube: createLeases(clients), clock: ctx.clock },
      );
      const s = await readRebootStatus({ kube, lock, clock: ctx.clock });
      if (isDocumentFormat(format)) {
        ctx.out.out(await formatDocument(s, format));
        return;
      }
      if (s.nodes.length === 0) return void ctx.out.err('No resources found');
      const headers = ['NODE', 'REQUIRED', 'STATE', 'SINCE', 'BLOCKED BY', 'LOCK'];
      for (const line of formatTable(f.headers ? headers : null, statusRows(s, ctx.clock.now())))
        ctx.out.out(line);
    });
}
