// The reboot agents of a test's sandbox, two ways:
// - ChartAgents: bosun's chart installed with the real helm; the sandbox's kubelets run its
//   DaemonSet's pods as real agent processes (how the rollout test, the faults that a pod lives
//   through and the benchmark run them);
// - AgentFleet: one agent per node run by the test itself, with the node's host directory as its
//   host root and the node's shims on its PATH (--host-exec local), so `systemctl reboot` reboots that
//   simulated node. Like a pod, an agent stops when its node goes down for the reboot and starts
//   again when the node is back with a new boot ID. An agent runs in this process (runAgent, the
//   real composition root) or as a real `bosun agent` process (for SIGKILL), and stays down when the
//   test says so, which a DaemonSet's pod never does (an agent gone for longer than its lock's TTL).
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { processExec } from '../../src/common/real.ts';
import { REBOOT_STATE } from '../../src/kube/annotations.ts';
import { runAgent } from '../../src/reboot/agent-main.ts';
import { flagOf } from '../../src/reboot/flags.ts';
import { parseRecord } from '../../src/reboot/states.ts';
import { AGENT_CHART, installAgentChart } from '../../src/sandbox/index.ts';
import { processesMentioning } from './cli.ts';
import type { RolloutWatcher } from './rollout-watcher.ts';
import { run, type RunResult, type TestSandbox } from './sandbox.ts';

/** A flag's value as a test gives it. */
export type FlagValue = string | number | boolean | readonly string[];

/** How one agent runs. */
export type AgentMode = 'in-process' | 'process';

interface Running {
  mode: AgentMode;
  stop(how: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  done: Promise<void>;
}

const ROOT = join(import.meta.dirname, '..', '..');

/** Options of a fleet. */
export interface FleetOptions {
  t: TestSandbox;
  watcher: RolloutWatcher;
  /** Flags every agent gets (camelCase names, as in the config file). */
  flags: Record<string, FlagValue>;
  /** How each agent runs (default in-process). */
  mode?: (node: string) => AgentMode;
  /** Stop an agent when its node goes down for its reboot, start it when the node is back (default true). */
  podLike?: boolean;
}

/** The agents of a set of sandbox nodes. */
export class AgentFleet {
  private readonly running = new Map<string, Running>();
  /** Nodes whose agent stopped for the reboot, with the boot ID they went down with. */
  private readonly down = new Map<string, string>();
  /** Nodes whose agent must stay stopped (killed by the test). */
  private readonly held = new Set<string>();
  readonly logs = new Map<string, string[]>();
  /** Every exit of an agent: node and how it ended (an error message, or "ok"). */
  readonly exits: { node: string; how: string }[] = [];
  private readonly off: () => void;
  private stopping = false;

  constructor(private readonly o: FleetOptions) {
    this.off = o.watcher.onNodeSample((s) => {
      if (this.stopping || o.podLike === false) return;
      const r = parseRecord(s.annotations[REBOOT_STATE]);
      const agent = this.running.get(s.node);
      if (
        agent &&
        r?.state === 'rebooting' &&
        r.rebootIssuedAt !== undefined &&
        r.bootIdBefore !== undefined &&
        s.bootId === r.bootIdBefore &&
        !this.down.has(s.node)
      ) {
        // The node goes down: its pod's process ends (a real shutdown sends SIGTERM first).
        this.down.set(s.node, s.bootId);
        void this.stop(s.node, 'SIGTERM');
      } else if (this.down.has(s.node) && s.bootId !== '' && s.bootId !== this.down.get(s.node)) {
        this.down.delete(s.node);
        if (!this.held.has(s.node) && !this.running.has(s.node)) this.start(s.node);
      }
    });
  }

  /** The flags of one node's agent. */
  flagsOf(node: string): Record<string, FlagValue> {
    return {
      ...this.o.flags,
      nodeName: node,
      hostRoot: join(this.o.t.dir, 'nodes', node, 'host'),
      hostExec: 'local',
      metricsHost: '127.0.0.1',
      metricsPort: 0,
    };
  }

  private env(node: string): Record<string, string | undefined> {
    return {
      ...process.env,
      PATH: `${join(this.o.t.dir, 'nodes', node, 'host', 'bin')}:${process.env['PATH'] ?? ''}`,
    };
  }

  /** Starts a node's agent. */
  start(node: string, mode?: AgentMode): void {
    if (this.running.has(node)) return;
    this.held.delete(node);
    const m = mode ?? this.o.mode?.(node) ?? 'in-process';
    const lines = this.logs.get(node) ?? [];
    this.logs.set(node, lines);
    const r = m === 'in-process' ? this.inProcess(node, lines) : this.process(node, lines);
    this.running.set(node, r);
    void r.done.then(
      () => this.exits.push({ node, how: 'ok' }),
      (e: unknown) => this.exits.push({ node, how: e instanceof Error ? e.message : String(e) }),
    );
  }

  private inProcess(node: string, lines: string[]): Running {
    const ctl = new AbortController();
    let buf = '';
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        buf += chunk.toString('utf8');
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          lines.push(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
        cb();
      },
    });
    const flags: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(this.flagsOf(node))) flags[k] = typeof v === 'number' ? String(v) : v;
    const done = runAgent({
      flags,
      env: this.env(node),
      signal: ctl.signal,
      cluster: { kubeconfig: this.o.t.kubeconfig },
      home: this.o.t.dir,
      logDestination: sink,
    });
    return {
      mode: 'in-process',
      done,
      stop: async () => {
        ctl.abort();
        await done.catch(() => undefined);
      },
    };
  }

  private process(node: string, lines: string[]): Running {
    const args: string[] = [join(ROOT, 'bin', 'bosun.js'), '--kubeconfig', this.o.t.kubeconfig, 'agent'];
    for (const [k, v] of Object.entries(this.flagsOf(node))) {
      if (k === 'namespace') args.splice(3, 0, `--namespace=${String(v)}`);
      else if (Array.isArray(v)) for (const i of v) args.push(`${flagOf(k)}=${String(i)}`);
      else args.push(`${flagOf(k)}=${String(v)}`);
    }
    const child: ChildProcess = spawn(process.execPath, args, {
      env: this.env(node),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const collect = (s: NodeJS.ReadableStream | null): void => {
      let buf = '';
      s?.setEncoding('utf8');
      s?.on('data', (d: string) => {
        buf += d;
        for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
          lines.push(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      });
    };
    collect(child.stdout);
    collect(child.stderr);
    const done = new Promise<void>((resolve, reject) =>
      child.on('exit', (code, sig) =>
        code === 0 || sig === 'SIGKILL' || sig === 'SIGTERM'
          ? resolve()
          : reject(new Error(`exited ${code ?? sig}`)),
      ),
    );
    return {
      mode: 'process',
      done,
      stop: async (how) => {
        if (child.exitCode === null && child.signalCode === null) child.kill(how);
        await done.catch(() => undefined);
      },
    };
  }

  /** Whether a node's agent runs. */
  isRunning(node: string): boolean {
    return this.running.has(node);
  }

  /** Stops a node's agent (SIGKILL: no chance to do anything more; only for process agents). */
  async stop(node: string, how: 'SIGTERM' | 'SIGKILL' = 'SIGTERM'): Promise<void> {
    const r = this.running.get(node);
    if (!r) return;
    this.running.delete(node);
    await r.stop(how);
  }

  /** Kills a node's agent and keeps it down (no restart at the next boot) until start(). */
  async kill(node: string, how: 'SIGTERM' | 'SIGKILL' = 'SIGKILL'): Promise<void> {
    this.held.add(node);
    await this.stop(node, how);
  }

  /** Stops every agent. */
  async stopAll(): Promise<void> {
    this.stopping = true;
    this.off();
    await Promise.all([...this.running.keys()].map((n) => this.stop(n)));
  }
}

// ---- the chart's agents --------------------------------------------------------------------------

/** An agent pod as kubectl shows it. */
export interface AgentPod {
  metadata: { name: string; uid: string };
  spec: { nodeName: string };
  status: {
    phase?: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: {
      restartCount: number;
      ready: boolean;
      state: Record<string, unknown>;
      lastState?: { terminated?: { exitCode: number; reason: string } };
    }[];
  };
}

/**
 * bosun's chart (deploy/helm/bosun) installed into a test's sandbox with the real helm, as
 * `bosun sandbox up --agent` and a user install it: the sandbox's kubelets run its DaemonSet's pods
 * as real `bosun agent` processes with the pod's ServiceAccount token, env and host mounts. The
 * values are the sandbox's timings (AGENT_CHART) and the test's own.
 */
export class ChartAgents {
  /** The agents' user in the audit record. */
  readonly user = `system:serviceaccount:${AGENT_CHART.namespace}:${AGENT_CHART.release}`;
  readonly namespace = AGENT_CHART.namespace;

  constructor(private readonly t: TestSandbox) {}

  /** Runs the real helm against the sandbox, with its files in the sandbox's directory. */
  helm(args: readonly string[]): Promise<RunResult> {
    const home = join(this.t.dir, 'helm');
    return run(join(ROOT, '.cache', 'peers', 'helm'), args, {
      env: {
        ...process.env,
        KUBECONFIG: this.t.kubeconfig,
        HELM_CONFIG_HOME: join(home, 'config'),
        HELM_CACHE_HOME: join(home, 'cache'),
        HELM_DATA_HOME: join(home, 'data'),
      },
      timeoutMs: 300_000,
    });
  }

  /** `helm install ... --wait` with the sandbox's timings and `values` (--set); rejects on failure. */
  async install(values: readonly string[]): Promise<void> {
    await installAgentChart(
      {
        dir: this.t.dir,
        kubeconfig: this.t.kubeconfig,
        chart: { ...AGENT_CHART, values: [...AGENT_CHART.values, ...values] },
      },
      { exec: processExec, env: process.env, progress: () => undefined },
    );
  }

  /**
   * `helm upgrade --reuse-values --wait` with `values`; every pod is replaced at once
   * (maxUnavailable 100%: nothing is rolling while the test changes the configuration).
   */
  async upgrade(values: readonly string[]): Promise<void> {
    const r = await this.helm([
      'upgrade',
      AGENT_CHART.release,
      join(ROOT, AGENT_CHART.path),
      '-n',
      this.namespace,
      '--reuse-values',
      '--wait',
      '--timeout',
      AGENT_CHART.timeout,
      ...['updateStrategy.rollingUpdate.maxUnavailable=100%', ...values].flatMap((v) => ['--set', v]),
    ]);
    if (r.code !== 0) throw new Error(`helm upgrade failed: ${r.stderr}`);
  }

  /** `helm uninstall --wait`: the agents' pods and their processes are gone when it resolves. */
  async uninstall(): Promise<void> {
    const r = await this.helm(['uninstall', AGENT_CHART.release, '-n', this.namespace, '--wait']);
    if (r.code !== 0) throw new Error(`helm uninstall failed: ${r.stderr}`);
  }

  /** The agent pods, by node. */
  async pods(): Promise<Map<string, AgentPod>> {
    const l = await this.t.kubectlJson<{ items: AgentPod[] }>([
      'get',
      'pods',
      '-n',
      this.namespace,
      '-l',
      `app.kubernetes.io/instance=${AGENT_CHART.release}`,
    ]);
    return new Map(l.items.map((p) => [p.spec.nodeName, p]));
  }

  /** The pid of the agent process the sandbox's kubelet runs for node (undefined: none runs). */
  pid(node: string): number | undefined {
    const watchdog = join(this.t.dir, 'containers', 'watchdog.mjs');
    for (const p of processesMentioning(watchdog)) {
      try {
        const env = readFileSync(`/proc/${p.pid}/environ`, 'utf8').split('\0');
        if (env.includes(`BOSUN_NODE_NAME=${node}`) && p.cmd.includes(' agent ')) return p.pid;
      } catch {
        // gone meanwhile
      }
    }
    return undefined;
  }

  /** Sends signal to node's agent process (its container's process, as `crictl` or the OOM killer would). */
  kill(node: string, signal: NodeJS.Signals): number {
    const pid = this.pid(node);
    if (pid === undefined) throw new Error(`no agent process runs on ${node}`);
    process.kill(pid, signal);
    return pid;
  }

  /** Every log line of node's agent, across its containers (kubectl logs --previous and the current one). */
  async logs(node: string): Promise<string> {
    const pod = (await this.pods()).get(node);
    if (!pod) return '';
    const dir = join(
      this.t.dir,
      'nodes',
      node,
      'host',
      'var',
      'log',
      'pods',
      `${this.namespace}_${pod.metadata.name}_${pod.metadata.uid}`,
      'agent',
    );
    if (!existsSync(dir)) return '';
    return readdirSync(dir)
      .sort((a, b) => parseInt(a, 10) - parseInt(b, 10))
      .map((f) => readFileSync(join(dir, f), 'utf8'))
      .join('');
  }
}
