// `bosun agent`: the reboot agent, one per node (the Helm chart's DaemonSet). Its flags come from
// the agent's flag table (reboot/flags.ts), so that the command line, the BOSUN_* environment, the
// config file and the chart's values can never disagree; -n/--namespace is the global flag.
// Everything is checked before the agent starts (reboot/config.ts): a bad value is one line and
// exit code 2. The agent itself (reboot/agent-main.ts, loaded only here) runs until SIGTERM.
import type { Command } from 'commander';
import type { CliContext, GlobalOptions } from '../context.ts';
import { AGENT_FLAGS, envOf, flagOf } from '../../reboot/flags.ts';

const AGENT_LONG = `
Reboots this node when its OS asks for it (the reboot sentinel), safely: only inside the
maintenance window, never while a blocker holds it back (a pod matching --blocking-pod-selector,
a firing alert, the bosun.dev/reboot-blocked annotation, a cordon made by someone else, or, on a
control plane, another control plane that is not Ready), and one node at a time (--concurrency):
a slot of bosun's cluster lock, cordon, drain, reboot, wait until healthy again, uncordon, release.
The next node starts as soon as a slot is free. Every state is recorded on the Node
(bosun.dev/reboot and an Event); bosun reboot status shows them from any machine.

Every flag can also be set with an environment variable (BOSUN_ and the flag in upper snake
case: --reboot-days is ${envOf('rebootDays')}) or in a YAML file (--config, keys in camelCase);
flags win over the environment, which wins over the file. Runs in a pod with its ServiceAccount;
with --kubeconfig (or KUBECONFIG) it runs anywhere, e.g. against a sandbox node:
--host-root DIR/nodes/NODE/host --host-exec local with the node's shims on PATH.`;

const AGENT_EXAMPLES = `
Examples:
  # What the Helm chart runs on every node
  bosun agent --namespace=bosun-system --host-root=/host --period=1m

  # Reboot only on weekend nights in Berlin, three nodes at a time
  bosun agent --reboot-days=sa,su --start-time=22:00 --end-time=06:00 --time-zone=Europe/Berlin --concurrency=3

  # Against a sandbox node, from this machine
  PATH=/tmp/sb/nodes/worker-1/host/bin:$PATH bosun --kubeconfig /tmp/sb/admin.conf agent \\
    --node-name=worker-1 --host-root=/tmp/sb/nodes/worker-1/host --host-exec=local --metrics-port=0`;

/** Registers `bosun agent`. */
export function registerAgentCommand(program: Command, ctx: CliContext): void {
  const cmd = program
    .command('agent')
    .description('Run the reboot agent on this node (the DaemonSet of the bosun Helm chart)')
    .addHelpText('after', `${AGENT_LONG}\n${AGENT_EXAMPLES}`);
  for (const spec of AGENT_FLAGS) {
    // -n/--namespace is the program's own (kubectl's global flag); the agent reads it from there.
    if (spec.name === 'namespace') continue;
    const flag = flagOf(spec.name);
    const help = `${spec.description}${spec.default !== undefined && spec.default !== '' && !(Array.isArray(spec.default) && spec.default.length === 0) ? ` (default ${JSON.stringify(spec.default)})` : ''}`;
    if (spec.kind === 'bool') cmd.option(`${flag} [bool]`, help);
    else if (spec.kind === 'list')
      cmd.option(`${flag} <value>`, help, (v: string, prev?: string[]) => [...(prev ?? []), v]);
    else cmd.option(`${flag} <value>`, help);
  }
  cmd.action(async (f: Record<string, unknown>, c: Command) => {
    const g = c.optsWithGlobals<GlobalOptions>();
    const flags: Record<string, unknown> = {};
    for (const spec of AGENT_FLAGS) {
      const v = spec.name === 'namespace' ? g.namespace : f[spec.name];
      if (v !== undefined) flags[spec.name] = v;
    }
    const { runAgent } = await import('../../reboot/agent-main.ts');
    await runAgent({
      flags,
      env: ctx.env,
      signal: ctx.signal,
      cluster: { kubeconfig: g.kubeconfig, context: g.context, requestTimeout: g.requestTimeout },
      home: ctx.home,
    });
  });
}
