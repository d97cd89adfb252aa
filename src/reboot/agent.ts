// The reboot agent's loop: one per node (the chart's DaemonSet). It interprets the pure state
// machine (states.ts): asks nextAction(record) what to do, does it through its ports, feeds the
// outcome back with transition(), and writes the new record on its Node (REBOOT_STATE, plus an
// Event when the state changes) before the next step, so that an agent restarted at any point
// (across its own node's reboot, above all) resumes where it stopped.
//
// The cycle: the sentinel is seen (watched: inotify and the period), the window is open, no blocker
// holds the node back (checked before the lock and again before the reboot); a slot of the cluster
// lock is taken (shared, --concurrency; a control plane runs alone, and only while etcd keeps its
// quorum without it); the maintenance engine (drain/) cordons (as bosun's own, after its pre-flight)
// and drains; the reboot runs as the engine's work step; after the boot (new boot ID) the engine's
// health gate (Ready, a fresh heartbeat, DaemonSet pods, for a control plane also its
// kube-apiserver's /readyz and etcd's mirror pod), then the uncordon (only bosun's own cordon) and
// the wait for the evicted workloads; the slot is released.
//
// Everything waits on events, never on a period where an event exists: the node through a watch of
// its own Node, the sentinel through file events, the lock through a watch of its Lease (the next
// node starts as soon as one releases). Idle, the agent makes no API request beyond its watch. The
// period only re-checks blockers (pods, alerts) that hold a node back, and the sentinel file.
//
// It never exits on a failure of the cluster: a step that fails for a reason it cannot act on is
// logged and tried again after a backoff; it stops when its signal aborts (SIGTERM), without giving
// up its lock slot, which its successor (the restarted agent) takes up again.
import type { Clock } from '../common/ports.ts';
import { errorMessage } from '../common/errors.ts';
import {
  DEFAULT_DRAIN_OPTIONS,
  maintenanceState,
  refusalLine,
  runMaintenance,
  uncordonNode,
  type DrainEvent,
  type MaintainEvent,
  type MaintainResult,
  type MaintenanceOptions,
} from '../drain/index.ts';
import type { NodeExecutor } from '../host/index.ts';
import { CORDONED_BY, REBOOT_STATE, REBOOT_STUCK, cordonInfo, rfc3339 } from '../kube/annotations.ts';
import { isRetryable } from '../kube/errors.ts';
import type { Events, Leases, Namespaces, NodeHealth, NodePods, NodeWatch } from '../kube/ports.ts';
import type { Node, Pod } from '../kube/types.ts';
import { listWatch } from '../kube/watch.ts';
import {
  ClusterLock,
  nodeExistsVia,
  type Hold,
  type LockHolder,
  type LockLost,
  type LockRequest,
} from '../lock/index.ts';
import {
  agentIdentity,
  alertBlocker,
  annotationBlocker,
  checkBlockers,
  cordonBlocker,
  isControlPlane,
  podBlocker,
  quorumBlocker,
  type Blocker,
  type BlockerVerdict,
} from './blockers.ts';
import type { AgentConfig } from './config.ts';
import { HolderJudge } from './holders.ts';
import { execOnHost, rebootWork } from './host-work.ts';
import type { HttpPort } from './http.ts';
import type { AgentMetrics, Liveness } from './metrics.ts';
import { Notifier } from './notify.ts';
import {
  checkSentinel,
  watchSentinel,
  type FileEvents,
  type SentinelFiles,
  type SentinelResult,
} from './sentinel.ts';
import {
  initialRecord,
  nextAction,
  parseRecord,
  serializeRecord,
  transition,
  type AgentAction,
  type AgentEvent,
  type MachineOptions,
  type Notice,
  type RebootRecord,
  type Transition,
} from './states.ts';
import { windowState } from './window.ts';

/** Everything the agent asks the API server. */
export type AgentKube = NodePods & NodeHealth & NodeWatch & Leases & Namespaces & Events;

/** Structured log lines (the composition root writes them as pino JSON). Never given a secret. */
export interface AgentLog {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

/** What the agent runs on. */
export interface AgentDeps {
  kube: AgentKube;
  clock: Clock;
  /** Carries host commands (the reboot, a sentinel command) into the host's namespaces. */
  executor: NodeExecutor;
  /** The file system under the host root, for the sentinel file. */
  files: SentinelFiles;
  /** Directory change events (inotify), so that a new sentinel is seen at once. */
  fileEvents?: FileEvents;
  /** Prometheus, Alertmanager and the webhooks. */
  http: HttpPort;
  metrics: AgentMetrics;
  liveness?: Liveness;
  log: AgentLog;
  /** Sends a signal to the host's PID 1 (--reboot-method=signal). */
  signalHost?: (signal: number) => void;
  /**
   * Asks a control plane's kube-apiserver at ENDPOINT (host:port, kubeadm's advertise address) for
   * /readyz; ok false with why when it is not ready or does not answer.
   */
  apiserverReadyz?: (endpoint: string, signal: AbortSignal) => Promise<{ ok: boolean; message: string }>;
}

/** Tuning that is not a flag. */
export interface AgentOptions {
  /**
   * How often the health gate and the wait for the workloads check the node once the watch says it
   * is back and Ready (ms). Default 250: these checks run for a few nodes at a time, briefly.
   */
  pollMs?: number;
  /**
   * The agent's own pod (the chart's DaemonSet pod on this node), from the downward API: the
   * health gate after the reboot does not wait for its readiness probe, since it is this process.
   */
  ownPod?: { namespace: string; name: string };
}

/** kubeadm's annotation on a kube-apiserver mirror pod: the address it advertises. */
const APISERVER_ENDPOINT = 'kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint';

/** A wake-up for waiters: fired when something they may be waiting for changed. */
class Pulse {
  private waiters = new Set<() => void>();
  /** How many times it fired: a waiter that saw an older count has missed a change. */
  count = 0;
  fire(): void {
    this.count++;
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w();
  }
  /** Resolves on the next fire(), after ms (undefined: never), or when signal aborts. */
  wait(clock: Clock, ms: number | undefined, signal: AbortSignal): Promise<void> {
    return new Promise<void>((resolve) => {
      const ctl = new AbortController();
      const done = (): void => {
        this.waiters.delete(done);
        signal.removeEventListener('abort', done);
        ctl.abort();
        resolve();
      };
      this.waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
      if (signal.aborted) done();
      else if (ms !== undefined) clock.sleep(Math.max(0, ms), ctl.signal).then(done, () => undefined);
    });
  }
}

function nodeReady(n: Node | undefined): boolean {
  return (n?.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

function bootId(n: Node | undefined): string {
  return n?.status?.nodeInfo?.bootID ?? '';
}

function podReady(p: Pod): boolean {
  return (
    p.status?.phase === 'Running' &&
    (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
  );
}

const PASCAL = (s: string): string =>
  s
    .split('-')
    .map((w) => (w[0] ?? '').toUpperCase() + w.slice(1))
    .join('');

/** The reboot agent of one node. Build it, then run() it until its signal aborts. */
export class RebootAgent {
  private readonly name: string;
  private readonly me: string;
  private readonly machine: MachineOptions;
  private readonly lock: ClusterLock;
  private readonly judge: HolderJudge;
  private readonly notifier: Notifier;
  private readonly blockers: Blocker[];
  private readonly pollMs: number;
  private readonly ownPod: AgentOptions['ownPod'];
  private readonly pulse = new Pulse();
  private record!: RebootRecord;
  private node: Node | undefined;
  private nodeKey = '';
  private sentinel: SentinelResult | undefined;
  private hold: Hold | undefined;
  private lost: LockLost | undefined;
  private background: Promise<unknown> = Promise.resolve();
  private eventSeq = 0;
  /** The pulse count when the last evaluation began (-1: never: the first one waits for nothing). */
  private evaluatedAt = -1;

  constructor(
    private readonly cfg: AgentConfig,
    private readonly deps: AgentDeps,
    opts: AgentOptions = {},
  ) {
    this.name = cfg.nodeName;
    this.me = agentIdentity(cfg.nodeName);
    this.pollMs = opts.pollMs ?? 250;
    this.ownPod = opts.ownPod;
    this.machine = {
      rebootTimeoutMs: cfg.rebootTimeoutMs,
      healthTimeoutMs: cfg.healthTimeoutMs,
      retryBaseMs: cfg.retryDelayMs,
      retryMaxMs: cfg.retryMaxDelayMs,
    };
    this.judge = new HolderJudge(
      { self: this.name, machine: this.machine },
      {
        kube: deps.kube,
        clock: deps.clock,
        hooks: {
          notify: (n) => this.notify(n),
          event: (node, type, reason, message) => this.event(node, type, reason, message),
          log: (level, msg, fields) => deps.log[level](msg, fields),
        },
      },
    );
    this.lock = new ClusterLock(
      { namespace: cfg.namespace },
      {
        kube: deps.kube,
        clock: deps.clock,
        nodeExists: nodeExistsVia(deps.kube),
        keepExpired: this.judge.keepExpired,
      },
    );
    this.notifier = new Notifier(
      {
        node: cfg.nodeName,
        ...(cfg.clusterName ? { clusterName: cfg.clusterName } : {}),
        ...(cfg.notify.webhookUrl ? { webhookUrl: cfg.notify.webhookUrl } : {}),
        ...(cfg.notify.slack ? { slack: cfg.notify.slack } : {}),
        timeoutMs: cfg.httpTimeoutMs,
        retryDelayMs: 1000,
      },
      { http: deps.http, clock: deps.clock },
    );
    const b = cfg.blockers;
    this.blockers = [
      annotationBlocker(),
      cordonBlocker(cfg.nodeName),
      quorumBlocker({ kube: deps.kube }),
      ...(b.podSelectors.length > 0
        ? [podBlocker({ selectors: b.podSelectors, scope: b.podScope }, { kube: deps.kube })]
        : []),
      ...(b.prometheusUrl
        ? [
            alertBlocker(
              {
                source: 'prometheus',
                url: b.prometheusUrl,
                filter: b.alertFilter,
                timeoutMs: cfg.httpTimeoutMs,
              },
              { http: deps.http },
            ),
          ]
        : []),
      ...(b.alertmanagerUrl
        ? [
            alertBlocker(
              {
                source: 'alertmanager',
                url: b.alertmanagerUrl,
                filter: b.alertFilter,
                timeoutMs: cfg.httpTimeoutMs,
              },
              { http: deps.http },
            ),
          ]
        : []),
    ];
  }

  /** The record as last written (for tests and the status of an in-process agent). */
  get current(): RebootRecord | undefined {
    return this.record;
  }

  /** Runs until signal aborts; resolves then. Rejects only when its own Node cannot be watched at all (e.g. 403). */
  async run(signal: AbortSignal): Promise<void> {
    const { clock, log } = this.deps;
    const inner = new AbortController();
    const stop = (): void => inner.abort();
    signal.addEventListener('abort', stop, { once: true });
    const watchers: Promise<unknown>[] = [];
    let fatal: unknown;
    const fail = (e: unknown): void => {
      fatal = e;
      inner.abort();
    };
    try {
      watchers.push(this.watchNode(inner.signal).catch(fail));
      watchers.push(this.watchSentinelFile(inner.signal).catch(fail));
      watchers.push(this.beat(inner.signal));
      while (!inner.signal.aborted && (this.node === undefined || this.sentinel === undefined))
        await this.pulse.wait(clock, undefined, inner.signal);
      if (inner.signal.aborted) return;
      this.record =
        parseRecord(this.node?.metadata.annotations?.[REBOOT_STATE]) ?? initialRecord(clock.now());
      this.deps.metrics.setState(this.record.state, new Date(this.record.since));
      this.deps.metrics.setLockHeld(this.record.lockHeld);
      log.info('agent started', { state: this.record.state, since: this.record.since });
      let backoff = 1000;
      while (!inner.signal.aborted) {
        try {
          await this.step(inner.signal);
          backoff = 1000;
        } catch (e) {
          if (inner.signal.aborted) break;
          log[isRetryable(e) ? 'warn' : 'error']('step failed; trying again', {
            state: this.record.state,
            error: errorMessage(e),
            retryInMs: backoff,
          });
          await this.pulse.wait(clock, backoff, inner.signal);
          backoff = Math.min(backoff * 2, 30_000);
        }
      }
    } finally {
      signal.removeEventListener('abort', stop);
      inner.abort();
      // Stopping is not giving up: the slot stays ours until it expires, and the restarted agent
      // (after this node's reboot, above all) takes it up again.
      await this.hold?.stop();
      await Promise.all(watchers);
      await this.settle();
      log.info('agent stopped', { state: this.record?.state });
    }
    if (fatal !== undefined) throw fatal;
  }

  // ---- watches --------------------------------------------------------------------------------

  private async watchNode(signal: AbortSignal): Promise<void> {
    const fieldSelector = `metadata.name=${this.name}`;
    const { kube, clock, log } = this.deps;
    await listWatch<Node>(
      {
        list: () => kube.nodeList({ fieldSelector }),
        watch: (rv, on, s) => kube.watchNodes({ resourceVersion: rv, fieldSelector }, on, s),
      },
      {
        onList: (items) => {
          if (items[0]) this.setNode(items[0]);
          else log.error(`node ${this.name} does not exist`);
        },
        onEvent: (e) => {
          if (e.type !== 'DELETED') this.setNode(e.object);
        },
        onRetry: (e, ms) =>
          log.warn('watching the node: retrying', { error: errorMessage(e), retryInMs: ms }),
      },
      { clock, signal },
    );
  }

  private setNode(n: Node): void {
    this.node = n;
    const a = n.metadata.annotations ?? {};
    // What the loop reacts to; a heartbeat's status update alone wakes nobody.
    const key = JSON.stringify([
      a['bosun.dev/reboot-blocked'],
      a[CORDONED_BY],
      n.spec?.unschedulable === true,
      bootId(n),
      nodeReady(n),
    ]);
    if (key !== this.nodeKey) {
      this.nodeKey = key;
      this.pulse.fire();
    }
  }

  private async watchSentinelFile(signal: AbortSignal): Promise<void> {
    const { deps, cfg } = this;
    await watchSentinel(
      cfg.sentinel,
      { periodMs: cfg.periodMs, timeoutMs: cfg.httpTimeoutMs },
      {
        files: deps.files,
        exec: execOnHost(deps.executor, this.name),
        clock: deps.clock,
        ...(deps.fileEvents ? { fileEvents: deps.fileEvents } : {}),
      },
      (r) => {
        this.sentinel = r;
        deps.metrics.setRebootRequired(r.required);
        deps.metrics.setSentinelError(r.problem !== undefined);
        deps.log[r.problem ? 'warn' : 'info']('reboot sentinel', { required: r.required, reason: r.reason });
        this.pulse.fire();
      },
      signal,
    );
  }

  /** Liveness: the event loop turns (the /healthz probe fails when it stalls). */
  private async beat(signal: AbortSignal): Promise<void> {
    const every = Math.max(100, Math.min(10_000, Math.floor(this.cfg.periodMs / 2)));
    while (!signal.aborted) {
      this.deps.liveness?.beat();
      await this.deps.clock.sleep(every, signal).catch(() => undefined);
    }
  }

  // ---- the record ------------------------------------------------------------------------------

  /**
   * Applies events in turn and writes the result once (when it changed): the annotation, then an
   * Event per state entered, notices, metrics. The write is retried while the API server is away.
   */
  private async apply(signal: AbortSignal, ...events: AgentEvent[]): Promise<void> {
    const { clock } = this.deps;
    let r = this.record;
    const steps: Transition[] = [];
    for (const e of events) {
      const t = transition(r, e, clock.now(), this.machine);
      if (t.changed) steps.push(t);
      r = t.record;
    }
    if (steps.length === 0) return;
    await this.persist(r, signal);
    const before = this.record;
    this.record = r;
    let state = before.state;
    for (const t of steps) {
      if (t.record.state !== state) {
        state = t.record.state;
        this.deps.log.info(`state ${state}`, {
          state,
          ...(t.record.reason ? { reason: t.record.reason } : {}),
        });
        this.event(
          this.name,
          state === 'failed' ? 'Warning' : 'Normal',
          `Reboot${PASCAL(state)}`,
          t.record.reason ?? t.notice?.message ?? state,
        );
      }
      if (t.notice) {
        this.notify(t.notice);
        if (t.notice.kind === 'done') this.deps.metrics.rebootCompleted();
        if (t.notice.kind === 'failed') this.deps.metrics.rebootFailed(t.record.failure?.phase ?? 'unknown');
      }
    }
    this.deps.metrics.setState(r.state);
    this.deps.metrics.setLockHeld(r.lockHeld);
    this.deps.metrics.setBlockers((r.blockers ?? []).map((b) => b.kind));
  }

  private async persist(r: RebootRecord, signal: AbortSignal): Promise<void> {
    const annotations: Record<string, string | null> = { [REBOOT_STATE]: serializeRecord(r) };
    if (this.node?.metadata.annotations?.[REBOOT_STUCK] !== undefined) annotations[REBOOT_STUCK] = null;
    let backoff = 200;
    for (;;) {
      try {
        const n = await this.deps.kube.patchNode(this.name, { metadata: { annotations } });
        if (n.metadata.resourceVersion) this.node = n;
        return;
      } catch (e) {
        if (!isRetryable(e) || signal.aborted) throw e;
        this.deps.log.warn('writing the state on the node: retrying', { error: errorMessage(e) });
        await this.pulse.wait(this.deps.clock, backoff, signal);
        backoff = Math.min(backoff * 2, 5000);
      }
    }
  }

  /** Records an Event on a node, in the background (a failure is logged, never in the way). */
  private event(node: string, type: 'Normal' | 'Warning', reason: string, message: string): void {
    const now = this.deps.clock.now();
    const ts = rfc3339(now);
    const name = `${node}.${now.getTime().toString(16)}${(this.eventSeq++ % 4096).toString(16).padStart(3, '0')}`;
    this.later(
      this.deps.kube
        .createEvent({
          metadata: { name, namespace: 'default' },
          involvedObject: { kind: 'Node', name: node, uid: node },
          reason,
          message: message.slice(0, 1024),
          type,
          count: 1,
          firstTimestamp: ts,
          lastTimestamp: ts,
          source: { component: 'bosun-agent', host: this.name },
          reportingComponent: 'bosun-agent',
        })
        .catch((e: unknown) => this.deps.log.warn('recording an event', { reason, error: errorMessage(e) })),
    );
  }

  /** Sends a notice in the background, in order. */
  private notify(n: Notice): void {
    if (!this.notifier.enabled) return;
    const state = this.record?.state ?? 'idle';
    this.later(
      this.notifier.send(n, state).then((results) => {
        for (const r of results)
          if (!r.ok)
            this.deps.log.warn('notification failed', { target: r.target, url: r.url, error: r.error });
      }),
    );
  }

  private later(p: Promise<unknown>): void {
    this.background = Promise.all([this.background, p.catch(() => undefined)]);
  }

  /** Waits for what was sent in the background (bounded: an unreachable webhook does not hold a shutdown). */
  private async settle(): Promise<void> {
    const ctl = new AbortController();
    await Promise.race([
      this.background,
      this.deps.clock.sleep(this.cfg.httpTimeoutMs * 2 + 1000, ctl.signal).catch(() => undefined),
    ]);
    ctl.abort();
  }

  // ---- one step --------------------------------------------------------------------------------

  private async step(signal: AbortSignal): Promise<void> {
    if (this.lost !== undefined) {
      const lost = this.lost;
      this.lost = undefined;
      this.hold = undefined;
      this.deps.log.warn('lost the lock', { reason: lost.reason });
      await this.apply(signal, { type: 'lost-lock' });
    }
    if (this.record.lockHeld && this.hold === undefined) {
      await this.reclaimLock(signal);
      if (this.lost !== undefined) return;
    }
    const a = nextAction(this.record, this.machine);
    this.deps.log.debug('next', { state: this.record.state, action: a.do });
    switch (a.do) {
      case 'evaluate':
        return this.evaluateStep(a, signal);
      case 'acquire-lock':
        return this.acquire(signal);
      case 'cordon':
        return this.cordon(signal);
      case 'drain':
        return this.drain(signal);
      case 'reboot':
        return this.reboot(signal);
      case 'wait-boot':
        return this.waitBoot(a.deadline, signal);
      case 'health-gate':
        return this.healthGate(a.deadline, signal);
      case 'uncordon':
        return this.uncordon(signal);
      case 'release':
        return this.release(signal);
    }
  }

  /** A signal that also aborts when the lock is lost. */
  private guarded(signal: AbortSignal): AbortSignal {
    return this.hold ? AbortSignal.any([signal, this.hold.signal]) : signal;
  }

  private lockRequest(): LockRequest {
    const alone = this.node !== undefined && isControlPlane(this.node);
    return {
      identity: this.name,
      node: this.name,
      mode: 'shared',
      // A control plane runs alone: no other node (another control plane above all) beside it.
      limit: alone ? 1 : this.cfg.concurrency,
      operation: 'reboot',
      ttlSeconds: Math.ceil(this.cfg.lockTtlMs / 1000),
    };
  }

  private startHold(holder: LockHolder): void {
    const hold = this.lock.hold(holder);
    this.hold = hold;
    void hold.lost.then((l) => {
      if (l !== undefined && this.hold === hold) {
        this.lost = l;
        this.pulse.fire();
      }
    });
  }

  /** After a restart with the lock recorded as ours: take our own entry up again, or learn it is gone. */
  private async reclaimLock(signal: AbortSignal): Promise<void> {
    const r = await this.lock.tryAcquire(this.lockRequest());
    if (r.acquired) {
      this.startHold(r.holder);
      this.judge.tookOver(r.takenOver);
      this.deps.log.info('took up the lock again', { already: r.already });
      return;
    }
    this.deps.log.warn('the lock slot this node held is gone', {
      holders: r.blockers.map((b) => b.identity),
    });
    await this.apply(signal, {
      type: 'lost-lock',
      ...(r.blockers[0] ? { holder: r.blockers[0].identity } : {}),
    });
    this.lost = undefined;
  }

  // ---- evaluate ---------------------------------------------------------------------------------

  private async evaluateStep(
    a: Extract<AgentAction, { do: 'evaluate' }>,
    signal: AbortSignal,
  ): Promise<void> {
    const { clock } = this.deps;
    const untilMs = a.until?.getTime();
    const left = (): number | undefined =>
      untilMs === undefined ? undefined : untilMs - clock.now().getTime();
    // A change since the last evaluation (or none yet) ends any wait for a change at once.
    const missed = this.evaluatedAt !== this.pulse.count;
    switch (missed && a.wait !== 'lock' ? 'none' : a.wait) {
      case 'none':
        break;
      case 'change': {
        // Blockers (pods, alerts) are not watched: they are checked again every period.
        const recheck =
          this.record.state === 'blocked' || this.record.state === 'reboot-blocked'
            ? this.cfg.periodMs
            : undefined;
        const l = left();
        const ms = [recheck, l].filter((x): x is number => x !== undefined);
        await this.pulse.wait(clock, ms.length > 0 ? Math.min(...ms) : undefined, signal);
        break;
      }
      case 'retry':
        await this.pulse.wait(clock, left() ?? this.cfg.periodMs, signal);
        break;
      case 'lock':
        await this.awaitLock(signal);
        break;
    }
    if (signal.aborted) return;
    this.evaluatedAt = this.pulse.count;
    const ev = await this.evaluate(signal);
    if (signal.aborted) return;
    // Free to go for the lock: take it now, and write the record once (twenty agents waking at a
    // release would otherwise each write twice to say they are still waiting).
    const t = transition(this.record, ev, clock.now(), this.machine);
    if (t.record.state === 'waiting-lock' && this.record.state === 'waiting-lock' && !t.notice) {
      const lockEv = await this.tryLock();
      if (lockEv.type === 'lock' && !lockEv.acquired) {
        // Still waiting: the new holders' names are not worth a write by every waiting agent at
        // every hand-off (bosun reboot status reads the holders from the lock itself).
        return;
      }
      // Taken: the cordon decision goes in the same write (the watched node is fresh enough: the
      // engine refuses a cordon someone else makes meanwhile).
      await this.apply(signal, ev, lockEv, this.cordonEvent(this.node));
      return;
    }
    await this.apply(signal, ev);
  }

  /** Waits on the Lease's watch until a slot may be free (or the sentinel or the node changed). */
  private async awaitLock(signal: AbortSignal): Promise<void> {
    const ctl = new AbortController();
    const both = AbortSignal.any([signal, ctl.signal]);
    const changed = this.pulse.wait(this.deps.clock, undefined, both).then(() => ctl.abort());
    try {
      await this.lock.awaitAvailable(this.lockRequest(), { signal: both, recheckMs: this.cfg.periodMs });
    } catch (e) {
      if (!both.aborted) throw e;
    } finally {
      ctl.abort();
      await changed;
    }
  }

  private async evaluate(signal: AbortSignal): Promise<AgentEvent> {
    const now = this.deps.clock.now();
    const required = this.sentinel?.required ?? false;
    const window = windowState(this.cfg.window, now);
    const r = this.record;
    const working = r.state === 'drained' || r.state === 'reboot-blocked';
    const retryLater = r.state === 'failed' && r.until !== undefined && now.getTime() < Date.parse(r.until);
    let verdicts: BlockerVerdict[] = [];
    if (required && (window.open || working) && !retryLater && this.node)
      verdicts = await checkBlockers(this.blockers, this.node, signal);
    return { type: 'evaluated', rebootRequired: required, window, verdicts };
  }

  // ---- the lock --------------------------------------------------------------------------------

  private async tryLock(): Promise<AgentEvent> {
    const r = await this.lock.tryAcquire(this.lockRequest());
    if (!r.acquired) return { type: 'lock', acquired: false, holders: r.blockers.map((b) => b.identity) };
    this.startHold(r.holder);
    this.judge.tookOver(r.takenOver);
    return { type: 'lock', acquired: true, holders: [] };
  }

  private async acquire(signal: AbortSignal): Promise<void> {
    const ev = await this.tryLock();
    if (ev.type === 'lock' && ev.acquired) await this.apply(signal, ev, this.cordonEvent(this.node));
    else await this.apply(signal, ev);
  }

  private async release(signal: AbortSignal): Promise<void> {
    const h = this.hold;
    if (h) await h.stop();
    await this.lock.release(this.name);
    this.hold = undefined;
    this.lost = undefined;
    await this.apply(signal, { type: 'released' });
  }

  // ---- cordon and drain --------------------------------------------------------------------------

  private async cordon(signal: AbortSignal): Promise<void> {
    await this.apply(signal, this.cordonEvent(await this.deps.kube.getNode(this.name)));
  }

  /**
   * Whether the node is ours to cordon: not cordoned yet, or by this very agent (a restart). The
   * engine cordons it with the drain, after the drain's pre-flight.
   */
  private cordonEvent(n: Node | undefined): AgentEvent {
    if (n === undefined)
      return { type: 'cordoned', ours: false, by: 'unknown (the node cannot be read)', bootId: '' };
    const info = cordonInfo(n);
    return {
      type: 'cordoned',
      ours: !info.cordoned || info.by === this.me,
      ...(info.by !== undefined ? { by: info.by } : info.cordoned ? { by: 'someone else' } : {}),
      bootId: bootId(n),
    };
  }

  private engineOptions(extra: Partial<MaintenanceOptions>): MaintenanceOptions {
    const d = this.cfg.drain;
    return {
      owner: { who: this.me, why: 'reboot-required' },
      drain: {
        ...DEFAULT_DRAIN_OPTIONS,
        timeoutMs: d.timeoutMs,
        gracePeriodSeconds: d.gracePeriodSeconds,
        deleteEmptyDirData: d.deleteEmptyDirData,
        force: d.force,
        podSelector: d.podSelector,
        skipWaitForDeleteTimeoutSeconds: d.skipWaitForDeleteTimeoutSeconds,
        disableEviction: d.disableEviction,
        ignorePreflight: d.ignorePreflight,
        escalation: d.escalation,
        // The agent's own pod is a DaemonSet's: it stays, as every DaemonSet pod does.
        ignoreDaemonSets: true,
      },
      work: rebootWork(this.cfg.reboot, { executor: this.deps.executor, signalHost: this.deps.signalHost }),
      expectReboot: true,
      healthTimeoutMs: this.cfg.healthTimeoutMs,
      healthSettleMs: this.cfg.healthSettleMs,
      restoreTimeoutMs: this.cfg.restoreTimeoutMs,
      pollMs: this.pollMs,
      ...(this.ownPod ? { ownPod: this.ownPod } : {}),
      ...extra,
    };
  }

  private engine(extra: Partial<MaintenanceOptions>, signal: AbortSignal): Promise<MaintainResult> {
    const { log, liveness } = this.deps;
    return runMaintenance(this.name, this.engineOptions(extra), {
      kube: this.deps.kube,
      clock: this.deps.clock,
      signal,
      observer: (e: MaintainEvent) => {
        liveness?.beat();
        if (e.type === 'phase')
          log.info(`maintenance: ${e.phase}`, { ...(e.detail ? { detail: e.detail } : {}) });
        else if (e.type === 'health' && !e.verdict.healthy)
          log.debug('not healthy yet', { problems: e.verdict.problems });
        else if (e.type === 'command-output') log.debug('reboot command', { stream: e.stream, text: e.text });
        else if (e.type === 'api-down') log.warn('the API server is not answering', { error: e.message });
      },
      drainObserver: (e: DrainEvent) => {
        liveness?.beat();
        if (e.type === 'cordon') log.info(`cordon: ${e.action}`, { node: e.node });
        else if (e.type === 'drained') log.info('drained', { node: e.node });
      },
    });
  }

  private async drain(signal: AbortSignal): Promise<void> {
    const r = await this.engine({ stopAfter: 'drain' }, this.guarded(signal));
    if (r.outcome === 'stopped') return this.apply(signal, { type: 'drained' });
    if (r.outcome === 'interrupted') return;
    const diagnosis = [
      ...(r.drain?.refusals ?? []).map(refusalLine),
      ...(r.drain?.preflight?.blockers ?? []).map(
        (b) => `${b.pod.namespace}/${b.pod.name}: ${b.blocker.message}`,
      ),
      ...(r.hint ? [r.hint] : []),
    ];
    await this.apply(signal, { type: 'drain-failed', message: r.message ?? r.outcome, diagnosis });
  }

  // ---- the reboot ----------------------------------------------------------------------------------

  private async reboot(signal: AbortSignal): Promise<void> {
    const r = await this.engine({ stopAfter: 'work' }, this.guarded(signal));
    if (r.outcome === 'interrupted') return;
    if (r.outcome === 'stopped') {
      this.deps.log.info('reboot issued');
      return this.apply(signal, { type: 'reboot-issued' });
    }
    await this.apply(signal, { type: 'reboot-failed', message: r.message ?? r.outcome });
  }

  /** Waits (on the node's watch) until it shows a new boot ID, or the deadline. */
  private async waitBoot(deadline: Date, signal: AbortSignal): Promise<void> {
    const before = this.record.bootIdBefore;
    await this.waitFor(
      () => bootId(this.node) !== '' && bootId(this.node) !== before,
      deadline.getTime(),
      signal,
    );
    if (signal.aborted) return;
    // The sentinel as it is now (a boot removes it before the node shows its new boot ID).
    const s = await checkSentinel(
      this.cfg.sentinel,
      { files: this.deps.files, exec: execOnHost(this.deps.executor, this.name) },
      { timeoutMs: this.cfg.httpTimeoutMs, signal },
    );
    await this.apply(signal, { type: 'boot', bootId: bootId(this.node), rebootRequired: s.required });
  }

  /** Resolves when pred() holds (checked now and at each change of the node or the sentinel), at the deadline, or on abort. */
  private async waitFor(
    pred: () => boolean,
    deadline: number | undefined,
    signal: AbortSignal,
  ): Promise<boolean> {
    for (;;) {
      if (pred()) return true;
      if (signal.aborted) return false;
      const left = deadline === undefined ? undefined : deadline - this.deps.clock.now().getTime();
      if (left !== undefined && left <= 0) return false;
      await this.pulse.wait(this.deps.clock, left, signal);
    }
  }

  // ---- after the boot ------------------------------------------------------------------------------

  private async healthGate(deadline: Date | undefined, signal: AbortSignal): Promise<void> {
    const { clock } = this.deps;
    const until = deadline?.getTime() ?? clock.now().getTime() + this.cfg.periodMs;
    // The watch says when the node is back and Ready; only then do the engine's checks poll.
    await this.waitFor(
      () => nodeReady(this.node) && bootId(this.node) !== this.record.bootIdBefore,
      until,
      signal,
    );
    if (signal.aborted) return;
    const hasState = this.node !== undefined && maintenanceState(this.node) !== undefined;
    const timeout = Math.max(this.pollMs, until - clock.now().getTime());
    // A worker healthy again is uncordoned by the same run of the engine (one step less before the
    // next node); a control plane's own components are checked first.
    const cp = this.node !== undefined && isControlPlane(this.node);
    const r = await this.engine(
      {
        stopAfter: cp ? 'wait-healthy' : 'uncordon',
        healthTimeoutMs: timeout,
        // Without the engine's record (removed by hand), start it over at the health gate.
        ...(hasState ? {} : { skip: ['cordon', 'drain', 'work'] }),
      },
      signal,
    );
    if (r.outcome === 'interrupted') return;
    if (r.outcome === 'left-cordoned')
      this.deps.log.info('healthy; cordoned by someone else meanwhile: left alone');
    else if (r.outcome !== 'stopped') {
      const problems = r.diagnosis ?? [r.message ?? r.outcome];
      return this.apply(signal, { type: 'health', healthy: false, problems });
    }
    if (cp) {
      for (;;) {
        const problems = await this.controlPlaneProblems(signal);
        if (problems.length === 0) break;
        if (signal.aborted) return;
        if (clock.now().getTime() >= until)
          return this.apply(signal, { type: 'health', healthy: false, problems });
        await this.pulse.wait(clock, this.pollMs, signal);
      }
    }
    await this.apply(signal, { type: 'health', healthy: true, problems: [] });
  }

  /** A control plane's own components: its kube-apiserver and etcd mirror pods Ready, and /readyz. */
  private async controlPlaneProblems(signal: AbortSignal): Promise<string[]> {
    const pods = (
      await this.deps.kube.listPods({ namespace: 'kube-system', fieldSelector: `spec.nodeName=${this.name}` })
    ).items;
    const problems: string[] = [];
    let endpoint: string | undefined;
    for (const component of ['kube-apiserver', 'etcd']) {
      const p = pods.find((x) => x.metadata.name === `${component}-${this.name}`);
      if (p === undefined) {
        if (component === 'kube-apiserver') problems.push(`no kube-apiserver mirror pod on ${this.name}`);
        continue; // an external etcd has none
      }
      if (!podReady(p)) problems.push(`${component} on ${this.name} is not Running and Ready`);
      if (component === 'kube-apiserver') endpoint = p.metadata.annotations?.[APISERVER_ENDPOINT];
    }
    if (endpoint && this.deps.apiserverReadyz) {
      const r = await this.deps.apiserverReadyz(endpoint, signal);
      if (!r.ok) problems.push(`kube-apiserver at ${endpoint} is not ready: ${r.message}`);
    }
    return problems;
  }

  private async uncordon(signal: AbortSignal): Promise<void> {
    if (this.record.state === 'uncordoning' && this.node && maintenanceState(this.node) !== undefined) {
      // The engine's last steps: its uncordon (never someone else's cordon) and the wait until the
      // workloads it evicted are Ready again, so that the next node drains into a whole cluster.
      const r = await this.engine({ skip: ['wait-healthy'] }, signal);
      if (r.outcome === 'interrupted') return;
      if (r.outcome !== 'done')
        this.deps.log.warn('after the reboot', { outcome: r.outcome, message: r.message });
    } else {
      const n = await this.deps.kube.getNode(this.name);
      const info = cordonInfo(n);
      if (info.cordoned && info.by !== this.me)
        this.deps.log.info('the node is cordoned by someone else: left alone', { by: info.by ?? 'unknown' });
      else await uncordonNode(this.name, { force: false, dryRun: 'none', node: n }, this.deps);
    }
    await this.apply(signal, { type: 'uncordoned' });
  }
}
