// The agent's Prometheus metrics (prom-client, a registry of its own, never the global one) and
// the small HTTP server its DaemonSet exposes: /metrics for Prometheus and /healthz for the
// kubelet's probes. Kured exports only kured_reboot_required; bosun adds what an admin asks on a
// patch night: is the lock held, what blocks, how many reboots and failures, how long each node
// sat in each state. Every series carries the node's name (as Kured's does).
//
// Metrics:
//   bosun_reboot_required{node}                     1 while the sentinel says a reboot is needed
//   bosun_reboot_lock_held{node}                    1 while this node holds a slot of the lock
//   bosun_reboots_total{node}                       reboots completed (healthy and uncordoned)
//   bosun_reboot_failures_total{node,phase}         failures by phase (drain, reboot, health, ...)
//   bosun_reboot_blocked{node,blocker}              1 for each blocker that holds the node back now
//   bosun_reboot_state{node,state}                  1 for the agent's current state
//   bosun_reboot_state_seconds_total{node,state}    seconds spent in each state (the current one
//                                                   counted up to the scrape)
//   bosun_reboot_sentinel_error{node}               1 while the sentinel cannot give an answer
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Clock } from '../common/ports.ts';
import { BLOCKER_KINDS } from './blockers.ts';
import { AGENT_STATES, type AgentState } from './states.ts';

/** The agent's metrics, updated by the loop. */
export class AgentMetrics {
  /** The registry to serve. */
  readonly registry = new Registry();
  private readonly required: Gauge<'node'>;
  private readonly lockHeld: Gauge<'node'>;
  private readonly reboots: Counter<'node'>;
  private readonly failures: Counter<'node' | 'phase'>;
  private readonly blocked: Gauge<'node' | 'blocker'>;
  private readonly state: Gauge<'node' | 'state'>;
  private readonly sentinelError: Gauge<'node'>;
  private current: AgentState = 'idle';
  private started = false;
  /** Up to when the current state's time has been counted (ms). */
  private countedUntil: number;

  /**
   * @param opts.processMetrics also export Node's process metrics (memory, CPU, event loop) with
   * prom-client's default names; the agent turns it on, tests leave it off.
   */
  constructor(
    private readonly opts: { node: string; processMetrics?: boolean },
    private readonly deps: { clock: Clock },
  ) {
    const registers = [this.registry];
    const node = opts.node;
    this.countedUntil = deps.clock.now().getTime();
    this.required = new Gauge({
      name: 'bosun_reboot_required',
      help: 'The reboot sentinel says this node needs a reboot (1) or not (0).',
      labelNames: ['node'],
      registers,
    });
    this.lockHeld = new Gauge({
      name: 'bosun_reboot_lock_held',
      help: 'This node holds a slot of the reboot lock (1) or not (0).',
      labelNames: ['node'],
      registers,
    });
    this.reboots = new Counter({
      name: 'bosun_reboots_total',
      help: 'Reboots completed: rebooted, healthy again and uncordoned.',
      labelNames: ['node'],
      registers,
    });
    this.failures = new Counter({
      name: 'bosun_reboot_failures_total',
      help: 'Failed reboot cycles, by the phase that failed (drain, reboot, health, sentinel, lock).',
      labelNames: ['node', 'phase'],
      registers,
    });
    this.blocked = new Gauge({
      name: 'bosun_reboot_blocked',
      help: 'A blocker (annotation, cordon, pods, alerts) holds this node back now (1) or not (0).',
      labelNames: ['node', 'blocker'],
      registers,
    });
    this.state = new Gauge({
      name: 'bosun_reboot_state',
      help: "The reboot agent's current state (1 for the current one, 0 for the others).",
      labelNames: ['node', 'state'],
      registers,
    });
    this.sentinelError = new Gauge({
      name: 'bosun_reboot_sentinel_error',
      help: 'The reboot sentinel cannot give an answer (an unreadable file, a failing command).',
      labelNames: ['node'],
      registers,
    });
    // The time in the current state is counted up to each scrape.
    const account = (add: (state: AgentState, seconds: number) => void): void => this.account(add);
    new Counter({
      name: 'bosun_reboot_state_seconds_total',
      help: "Seconds the reboot agent spent in each state (this process's lifetime; the current state up to the scrape).",
      labelNames: ['node', 'state'],
      registers,
      collect() {
        account((state, seconds) => this.inc({ node, state }, seconds));
      },
    });
    // Every series exists from the start, so that rate() and absent() behave.
    this.required.set({ node }, 0);
    this.lockHeld.set({ node }, 0);
    this.reboots.inc({ node }, 0);
    this.sentinelError.set({ node }, 0);
    for (const b of BLOCKER_KINDS) this.blocked.set({ node, blocker: b }, 0);
    for (const s of AGENT_STATES) this.state.set({ node, state: s }, s === this.current ? 1 : 0);
    if (opts.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  private account(add: (state: AgentState, seconds: number) => void): void {
    if (!this.started) return;
    const now = this.deps.clock.now().getTime();
    const seconds = Math.max(0, now - this.countedUntil) / 1000;
    this.countedUntil = Math.max(this.countedUntil, now);
    if (seconds > 0) add(this.current, seconds);
  }

  private stateSeconds(): Counter<'node' | 'state'> {
    return this.registry.getSingleMetric('bosun_reboot_state_seconds_total') as Counter<'node' | 'state'>;
  }

  /**
   * The agent's state. On the first call, `since` (from the record on the Node) lets a restarted
   * agent count the part of its current state that began before the restart; later calls count
   * from the previous call.
   */
  setState(state: AgentState, since?: Date): void {
    const node = this.opts.node;
    const now = this.deps.clock.now().getTime();
    if (!this.started) {
      this.started = true;
      this.countedUntil = since !== undefined ? Math.min(now, since.getTime()) : now;
    } else {
      const counter = this.stateSeconds();
      this.account((s, seconds) => counter.inc({ node, state: s }, seconds));
    }
    if (state !== this.current) {
      this.state.set({ node, state: this.current }, 0);
      this.current = state;
      this.state.set({ node, state }, 1);
    }
  }

  setRebootRequired(required: boolean): void {
    this.required.set({ node: this.opts.node }, required ? 1 : 0);
  }

  setLockHeld(held: boolean): void {
    this.lockHeld.set({ node: this.opts.node }, held ? 1 : 0);
  }

  setSentinelError(error: boolean): void {
    this.sentinelError.set({ node: this.opts.node }, error ? 1 : 0);
  }

  /** The blockers holding the node back now (every other kind goes to 0). */
  setBlockers(kinds: readonly string[]): void {
    for (const b of BLOCKER_KINDS)
      this.blocked.set({ node: this.opts.node, blocker: b }, kinds.includes(b) ? 1 : 0);
  }

  rebootCompleted(): void {
    this.reboots.inc({ node: this.opts.node });
  }

  rebootFailed(phase: string): void {
    this.failures.inc({ node: this.opts.node, phase });
  }
}

/** The health endpoint's question: is the agent's loop alive? */
export interface HealthProbe {
  check(): { ok: boolean; reason: string };
}

/**
 * Liveness: healthy while the loop beat within `staleAfterMs`. The loop beats at least once per
 * period while it waits and on every step, so a stuck loop makes the kubelet restart the pod.
 */
export class Liveness implements HealthProbe {
  private last: number;
  constructor(
    private readonly opts: { staleAfterMs: number },
    private readonly deps: { clock: Clock },
  ) {
    this.last = deps.clock.now().getTime();
  }

  beat(): void {
    this.last = this.deps.clock.now().getTime();
  }

  check(): { ok: boolean; reason: string } {
    const age = this.deps.clock.now().getTime() - this.last;
    return age <= this.opts.staleAfterMs
      ? { ok: true, reason: 'ok' }
      : { ok: false, reason: `the agent loop has not run for ${Math.round(age / 1000)}s` };
  }
}

/** A running metrics and health server. */
export interface MetricsServer {
  /** The port it listens on (the one asked for, or the one chosen for port 0). */
  port: number;
  close(): Promise<void>;
}

/** Serves GET /metrics and GET /healthz on host:port. */
export async function startMetricsServer(opts: {
  host: string;
  port: number;
  registry: Registry;
  health: HealthProbe;
}): Promise<MetricsServer> {
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (path === '/metrics') {
      const body = await opts.registry.metrics();
      res
        .writeHead(200, { 'content-type': opts.registry.contentType })
        .end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    if (path === '/healthz') {
      const h = opts.health.check();
      res.writeHead(h.ok ? 200 : 503, { 'content-type': 'text/plain' }).end(`${h.reason}\n`);
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`${e instanceof Error ? e.message : String(e)}\n`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
