// `bosun sandbox up --agent`: the agent's chart installed into a running sandbox with the real helm
// (.cache/peers/helm, extracted by scripts/peers.mjs), the way a user installs it into a real
// cluster: `helm install bosun CHART -n bosun-system --create-namespace --wait` with values for the
// sandbox's fast timings. The sandbox's kubelets then run the chart's pods (bosun's image) as real
// processes of this checkout. Helm keeps its own files under DIR/helm, not in the user's home.
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { BosunError } from '../common/errors.ts';
import type { Exec } from '../common/ports.ts';
import { checkoutRoot } from './node/container-tools.ts';

/** The chart `--agent` installs, and how. */
export interface AgentChart {
  /** The chart's directory, relative to the checkout. */
  path: string;
  release: string;
  namespace: string;
  /** `--set` values for the sandbox's timings. */
  values: readonly string[];
  /** helm's --timeout. */
  timeout: string;
}

/**
 * What `--agent` installs: bosun's own chart, with the agent's timings scaled to the sandbox's fast
 * profile (a reboot takes 2.5 s there, not minutes): the sentinel checked every 2 s (it is watched
 * too), a lock slot whose holder stopped renewing expires after 15 s, no settle time once the node
 * is healthy, and 30 s for a node to come back and be healthy.
 */
export const AGENT_CHART: AgentChart = {
  path: 'deploy/helm/bosun',
  release: 'bosun',
  namespace: 'bosun-system',
  values: [
    'period=2s',
    'lockTtl=15s',
    'rebootTimeout=30s',
    'healthTimeout=30s',
    'healthSettle=0s',
    'retryDelay=2s',
  ],
  timeout: '5m',
};

/** What was installed. */
export interface AgentInstall {
  release: string;
  namespace: string;
  chart: string;
  /** The command, as a user would type it. */
  command: string;
}

/** Installs the agent's chart into the running sandbox in dir (whose admin kubeconfig is given). */
export async function installAgentChart(
  o: { dir: string; kubeconfig: string; chart?: AgentChart },
  deps: {
    exec: Exec;
    env: Readonly<Record<string, string | undefined>>;
    progress: (line: string) => void;
    signal?: AbortSignal;
  },
): Promise<AgentInstall> {
  const c = o.chart ?? AGENT_CHART;
  const root = checkoutRoot();
  const helm = join(root, '.cache', 'peers', 'helm');
  if (!existsSync(helm))
    throw new BosunError(`helm is not there: ${helm}`, 'SANDBOX', {
      hint: 'Extract it with: node scripts/peers.mjs (npm test and npm run demo do it for you)',
    });
  const chart = join(root, c.path);
  if (!existsSync(join(chart, 'Chart.yaml'))) throw new BosunError(`no Helm chart in ${chart}`, 'SANDBOX');
  const args = [
    'install',
    c.release,
    chart,
    '-n',
    c.namespace,
    '--create-namespace',
    '--wait',
    '--timeout',
    c.timeout,
    ...c.values.flatMap((v) => ['--set', v]),
  ];
  const home = join(o.dir, 'helm');
  mkdirSync(home, { recursive: true, mode: 0o700 });
  const command = `helm ${args.map((a) => (a === chart ? c.path : a)).join(' ')}`;
  deps.progress(command);
  const r = await deps.exec.run(helm, args, {
    env: {
      ...deps.env,
      KUBECONFIG: o.kubeconfig,
      HELM_CONFIG_HOME: join(home, 'config'),
      HELM_CACHE_HOME: join(home, 'cache'),
      HELM_DATA_HOME: join(home, 'data'),
    },
    ...(deps.signal ? { signal: deps.signal } : {}),
  });
  if (r.exitCode !== 0) {
    const why = r.stderr.trim().split('\n').at(-1) ?? `exit ${String(r.exitCode)}`;
    throw new BosunError(`helm install failed: ${why.replace(/^Error: /, '')}`, 'SANDBOX', {
      hint: `The sandbox runs on; see kubectl get pods -n ${c.namespace}, and ${join(o.dir, 'sandbox.log')}`,
    });
  }
  return { release: c.release, namespace: c.namespace, chart: c.path, command };
}
