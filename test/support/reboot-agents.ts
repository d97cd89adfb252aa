// Runs the reboot agent on sandbox nodes the way a DaemonSet pod would, until the sandbox runs the
// chart's pods itself: one agent per node, with the node's host directory as its host root and the
// node's shims on its PATH (--host-exec local), so `systemctl reboot` reboots that simulated node.
// Like a pod, an agent stops when its node goes down for the reboot and starts again when the node
// is back with a new boot ID (the agent's own restart across the reboot, which every cycle then
// goes through). An agent runs in this process (runAgent, the real composition root: cheap, so
// twenty fit on two cores) or as a real `bosun agent` process (for SIGKILL).
import { spawn, type ChildProcess } from 'node:child_process';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { REBOOT_STATE } from '../../src/kube/annotations.ts';
import { runAgent } from '../../src/reboot/agent-main.ts';
import { flagOf } from '../../src/reboot/flags.ts';
import { parseRecord } from '../../src/reboot/states.ts';
import type { RolloutWatcher } from './rollout-watcher.ts';
import type { TestSandbox } from './sandbox.ts';

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
