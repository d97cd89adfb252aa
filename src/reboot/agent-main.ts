// The reboot agent's composition root (STYLE.md: beside cli/main.ts, the only place that builds the
// real ports). `bosun agent` (cli/commands/agent.ts) parses the flags and calls runAgent, which
// checks the whole configuration first (a bad value is one UsageError line, exit 2, before anything
// is touched), then builds the agent's ports: the API clients (in-cluster from the pod's
// ServiceAccount, or the kubeconfig the global flags name, for an agent run outside a pod), the
// host executor (nsenter into the host's namespaces, or local), the sentinel's file system under the
// host root, fetch for alerts and webhooks, prom-client metrics and the /metrics and /healthz
// server, and pino JSON logs on stdout. No log line ever holds a token or a webhook URL: the config
// is logged through describeConfig, URLs through redactUrl.
//
// In bosun's sandbox the chart's pod runs as a process of the machine that runs the sandbox, and
// the kubelet says so in BOSUN_SANDBOX_CONTAINER (common/sandbox-container.ts): then, and only
// then, the container's paths (the ServiceAccount files, the host root) are read where the sandbox
// keeps them, and /metrics and /healthz listen on the machine port that stands for the container
// port, on 127.0.0.1. Nothing else differs: the agent below runs as it runs in a real pod.
import { readFile } from 'node:fs/promises';
import { request } from 'node:https';
import { pino, type Logger } from 'pino';
import { BosunError, errorMessage } from '../common/errors.ts';
import { systemClock } from '../common/real.ts';
import {
  SANDBOX_CONTAINER_ENV,
  SandboxContainerError,
  hostPathOf,
  hostPortOf,
  parseSandboxContainer,
  type SandboxContainer,
} from '../common/sandbox-container.ts';
import { LocalExecutor, TemplateExecutor, parseExecTemplate, type NodeExecutor } from '../host/index.ts';
import {
  createInClusterClients,
  createKubeClients,
  parseRequestTimeout,
  type KubeClients,
} from '../kube/client.ts';
import { createEvents } from '../kube/events.ts';
import { SERVICE_ACCOUNT_DIR, inClusterConfig } from '../kube/in-cluster.ts';
import { createLeases } from '../kube/leases.ts';
import { createNodePods } from '../kube/node-pods.ts';
import { createNodeWatch } from '../kube/node-watch.ts';
import { nodeFileEvents, nodeSentinelFiles } from './adapters.ts';
import { RebootAgent, type AgentKube, type AgentLog } from './agent.ts';
import { describeConfig, loadAgentConfig, type AgentConfig } from './config.ts';
import { fetchHttp } from './http.ts';
import { AgentMetrics, Liveness, startMetricsServer } from './metrics.ts';

/** What `bosun agent` hands over. */
export interface AgentMainInput {
  /** The agent's flags as the command line gave them, by camelCase name. */
  flags: Readonly<Record<string, unknown>>;
  /** The environment (BOSUN_*, KUBERNETES_SERVICE_*, KUBECONFIG). */
  env: Readonly<Record<string, string | undefined>>;
  /** Aborted on SIGTERM/SIGINT: the agent stops at a safe point, keeping its lock slot. */
  signal: AbortSignal;
  /** The global flags: a kubeconfig means the agent runs outside a pod (the sandbox, a laptop). */
  cluster: {
    kubeconfig?: string | undefined;
    context?: string | undefined;
    requestTimeout?: string | undefined;
  };
  home: string;
  /** Where the JSON log lines go (default stdout). */
  logDestination?: NodeJS.WritableStream;
  /** Called once the agent serves /metrics (its port, which may have been chosen: --metrics-port 0). */
  onListening?: (port: number) => void;
}

/**
 * The agent's own pod, from POD_NAME and POD_NAMESPACE (the chart sets them through the downward
 * API); undefined unless both are set (an agent run outside a pod). Pure.
 */
export function ownPodOf(env: AgentMainInput['env']): { namespace: string; name: string } | undefined {
  const name = env['POD_NAME'] ?? '';
  const namespace = env['POD_NAMESPACE'] ?? '';
  return name !== '' && namespace !== '' ? { namespace, name } : undefined;
}

/** pino as the agent's log port. */
function agentLog(logger: Logger): AgentLog {
  return {
    debug: (msg, fields) => logger.debug(fields ?? {}, msg),
    info: (msg, fields) => logger.info(fields ?? {}, msg),
    warn: (msg, fields) => logger.warn(fields ?? {}, msg),
    error: (msg, fields) => logger.error(fields ?? {}, msg),
  };
}

/** The container's view of this machine when the sandbox runs the agent as a pod; undefined elsewhere. */
function sandboxView(env: AgentMainInput['env']): SandboxContainer | undefined {
  try {
    return parseSandboxContainer(env[SANDBOX_CONTAINER_ENV]);
  } catch (e) {
    if (e instanceof SandboxContainerError) throw new BosunError(e.message, 'USAGE', { exitCode: 2 });
    throw e;
  }
}

/**
 * The configuration as a container of the sandbox sees this machine: the host root (the chart's
 * /host) where the node's directory is, /metrics and /healthz on the machine port mapped to the
 * container port, on 127.0.0.1 unless an address is asked for (the pod's address is not this
 * machine's). The sentinel file is found under the mapped host root. Pure.
 */
export function inSandboxContainer(cfg: AgentConfig, view: SandboxContainer): AgentConfig {
  const hostRoot = hostPathOf(view, cfg.hostRoot);
  return {
    ...cfg,
    hostRoot,
    sentinel: cfg.sentinel.kind === 'file' ? { ...cfg.sentinel, hostRoot } : cfg.sentinel,
    metricsHost: cfg.metricsHost === '' ? '127.0.0.1' : cfg.metricsHost,
    metricsPort: hostPortOf(view, cfg.metricsPort),
  };
}

/** The API clients: the kubeconfig when one is named, else the pod's ServiceAccount. */
async function clients(
  input: AgentMainInput,
  signal: AbortSignal,
  view: SandboxContainer | undefined,
): Promise<KubeClients> {
  const requestTimeoutMs = parseRequestTimeout(input.cluster.requestTimeout);
  const envKubeconfig = input.env['KUBECONFIG'];
  const outside =
    (input.cluster.kubeconfig ?? '') !== '' ||
    ((envKubeconfig ?? '') !== '' && !input.env['KUBERNETES_SERVICE_HOST']);
  if (outside)
    return createKubeClients({
      kubeconfig: input.cluster.kubeconfig,
      envKubeconfig,
      context: input.cluster.context,
      home: input.home,
      requestTimeoutMs,
      signal,
      clock: systemClock,
    });
  // In the sandbox the token, ca.crt and namespace files are where its kubelet keeps the volume.
  const cfg = await inClusterConfig(
    { env: input.env, serviceAccountDir: view ? hostPathOf(view, SERVICE_ACCOUNT_DIR) : SERVICE_ACCOUNT_DIR },
    (f) => readFile(f),
  );
  return createInClusterClients(cfg, {
    requestTimeoutMs,
    signal,
    clock: systemClock,
    readFile: (f) => readFile(f),
  });
}

/** How host commands reach the host. */
function hostExecutor(cfg: AgentConfig, env: AgentMainInput['env']): NodeExecutor {
  if (cfg.hostExec.kind === 'local') return new LocalExecutor({ env });
  const t = parseExecTemplate(cfg.hostExec.text);
  if (!t.ok) throw new BosunError(`invalid --host-exec: ${t.error}`, 'USAGE', { exitCode: 2 });
  return new TemplateExecutor({ template: t.template, env });
}

/** GET https://ENDPOINT/readyz, verified with the cluster's CA (kube-apiserver serves /readyz to anyone). */
function readyzProbe(kc: KubeClients, timeoutMs: number) {
  const cluster = kc.kc.getCurrentCluster();
  let ca: Buffer | undefined;
  return async (endpoint: string, signal: AbortSignal): Promise<{ ok: boolean; message: string }> => {
    try {
      if (ca === undefined) {
        if (cluster?.caData) ca = Buffer.from(cluster.caData, 'base64');
        else if (cluster?.caFile) ca = await readFile(cluster.caFile);
      }
      return await new Promise((resolve) => {
        const req = request(
          `https://${endpoint}/readyz`,
          { ...(ca ? { ca } : {}), timeout: timeoutMs, signal },
          (res) => {
            let body = '';
            res.setEncoding('utf8').on('data', (d: string) => (body += d.slice(0, 2000)));
            res.on('end', () =>
              resolve({
                ok: res.statusCode === 200,
                message: `HTTP ${res.statusCode ?? '?'}: ${body.trim().split('\n').pop() ?? ''}`,
              }),
            );
          },
        );
        req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs}ms`)));
        req.on('error', (e) => resolve({ ok: false, message: e.message }));
        req.end();
      });
    } catch (e) {
      return { ok: false, message: errorMessage(e) };
    }
  };
}

/**
 * Runs the agent until input.signal aborts. Throws a UsageError (exit 2) for a bad configuration,
 * before any request; a BosunError when the agent's own Node cannot be watched at all.
 */
export async function runAgent(input: AgentMainInput): Promise<void> {
  const view = sandboxView(input.env);
  const loaded = await loadAgentConfig({
    flags: input.flags,
    env: input.env,
    // A config file named by a container path is read where the container's mount is.
    readFile: (p) => readFile(view ? hostPathOf(view, p) : p, 'utf8'),
  });
  const cfg = view ? inSandboxContainer(loaded, view) : loaded;
  const logger = pino(
    { level: cfg.logLevel, base: { node: cfg.nodeName }, timestamp: pino.stdTimeFunctions.isoTime },
    input.logDestination ?? pino.destination({ dest: 1, sync: false }),
  );
  const log = agentLog(logger);
  const ctl = new AbortController();
  const stop = (): void => ctl.abort();
  input.signal.addEventListener('abort', stop, { once: true });
  if (input.signal.aborted) ctl.abort();
  const kc = await clients(input, ctl.signal, view);
  const kube: AgentKube = {
    ...createNodePods(kc),
    ...createNodeWatch(kc),
    ...createLeases(kc),
    ...createEvents(kc),
  };
  const metrics = new AgentMetrics({ node: cfg.nodeName, processMetrics: true }, { clock: systemClock });
  const liveness = new Liveness({ staleAfterMs: Math.max(60_000, 3 * cfg.periodMs) }, { clock: systemClock });
  log.info('starting', { config: describeConfig(cfg), ...(view ? { sandboxContainer: view.node } : {}) });
  const server = await startMetricsServer({
    host: cfg.metricsHost,
    port: cfg.metricsPort,
    registry: metrics.registry,
    health: liveness,
  });
  input.onListening?.(server.port);
  const ownPod = ownPodOf(input.env);
  const agent = new RebootAgent(
    cfg,
    {
      kube,
      clock: systemClock,
      executor: hostExecutor(cfg, input.env),
      files: nodeSentinelFiles,
      fileEvents: nodeFileEvents,
      http: fetchHttp,
      metrics,
      liveness,
      log,
      // In the sandbox PID 1 is this machine's, not the node's: there is no host to signal.
      ...(view ? {} : { signalHost: (sig: number) => process.kill(1, sig) }),
      apiserverReadyz: readyzProbe(kc, cfg.httpTimeoutMs),
    },
    ownPod ? { ownPod } : {},
  );
  try {
    await agent.run(ctl.signal);
  } finally {
    input.signal.removeEventListener('abort', stop);
    await server.close();
    logger.flush();
  }
}
