// A node's maintenance as an engine of named steps (maintenance-state.ts MAINTENANCE_STEPS):
//   cordon -> drain -> work -> wait-healthy -> uncordon -> wait-workloads
// `bosun maintain NODE -- COMMAND` runs them with a command as the work (maintain.ts); the
// upgrade and the reboot agent run them (runMaintenance) per node with their own work and owner.
// The node carries the state (kube/annotations.ts MAINTENANCE_STATE), so every step is idempotent
// and an interrupted run continues from any machine: the drain resumes, work that was running is
// done again (it must be safe to repeat, as apt-get upgrade or a reboot is; a work that reboots is
// done once the node shows a new boot ID), work that finished is not. What the work starts is
// recorded on the node before it runs, so a run killed mid-work is followed by one that waits for
// the orphaned process to end before it runs the work again; a work that reboots is not run again
// after such a process ended (it may have issued the reboot, which takes seconds to show): a new
// boot ID within the health timeout says it was done, and without one the record is dropped, so
// the run after that runs it again. A node that is not healthy in time stays cordoned, with a
// diagnosis. bosun never takes over a cordon someone else made.
//
// The cordon and the drain are one call to the drain when both run: its pre-flight must come before
// the cordon (kubectl's order), so a drain that would get stuck never cordons the node.
import type { Clock } from '../common/ports.ts';
import { BosunError, InternalError, errorMessage } from '../common/errors.ts';
import type { StartedProcess } from '../host/index.ts';
import { MAINTENANCE_STATE, cordonInfo, rfc3339, type CordonOwner } from '../kube/annotations.ts';
import { isForbidden, isNotFound, isRetryable } from '../kube/errors.ts';
import type { NodeHealth, NodePods } from '../kube/ports.ts';
import type { Lease, Node } from '../kube/types.ts';
import { controllerOf } from '../kube/pods.ts';
import { cordonNode, uncordonNode } from './cordon.ts';
import type { DrainObserver, DrainOptions, NodeDrainResult } from './drain-contract.ts';
import { drainNode } from './drainer.ts';
import { NODE_LEASE_NAMESPACE, checkNodeHealth, diagnose, type HealthVerdict } from './health.ts';
import {
  maintenanceState,
  readyCounts,
  workloadsOf,
  type MaintenanceState,
  type MaintenanceStep,
  type RecordedProcess,
  type WorkloadCount,
  type WorkloadRecord,
} from './maintenance-state.ts';
import type { NodeWork, WorkResult } from './node-work.ts';

/** Options of the engine. */
export interface MaintenanceOptions {
  /** Who maintains the node and why, written with the cordon (e.g. "bosun-agent/worker-1", "reboot-required"). */
  owner: CordonOwner;
  /** Drain options (their owner and dryRun are the engine's: owner above, never a dry run). */
  drain: Omit<DrainOptions, 'owner' | 'dryRun'>;
  /** The work step. */
  work: NodeWork;
  /**
   * The work reboots the node: a new boot ID is required before it counts as healthy, a work cut
   * off by the reboot (exit 255 or a signal) is judged by it, and a resumed work step whose node
   * already shows a new boot ID is done.
   */
  expectReboot: boolean;
  /** How long to wait for the node to be healthy after the work (ms). */
  healthTimeoutMs: number;
  /** How long the node must stay healthy before it is uncordoned (ms). */
  healthSettleMs: number;
  /** How long to wait for the evicted workloads to be Ready again (ms). */
  restoreTimeoutMs: number;
  /** Interval between health and restore checks (ms). */
  pollMs: number;
  /**
   * Steps not to run; the state moves on as if they had. 'drain' alone leaves a plain cordon;
   * 'cordon' must come with 'drain' (a drain cordons).
   */
  skip?: readonly MaintenanceStep[];
  /**
   * The pod this engine runs in, when it runs on the node it maintains (the reboot agent's, a
   * DaemonSet's pod): the health check does not wait for that pod's DaemonSet to have a Ready pod
   * there, since its pod is this very process, running (its readiness probe only reports it on its
   * own period, up to the probe's periodSeconds later).
   */
  ownPod?: { namespace: string; name: string };
  /**
   * Return after this step (outcome 'stopped'); the state stays on the node, and the next call
   * resumes. 'cordon' only when the drain is skipped: otherwise the drain cordons (after its
   * pre-flight), and the first place to stop is after 'drain'.
   */
  stopAfter?: MaintenanceStep;
}

/** Progress of the workflow. */
export type MaintainEvent =
  | {
      type: 'phase';
      node: string;
      phase: 'drain' | 'command' | 'health' | 'uncordon' | 'restore' | 'done';
      resumed?: boolean;
      detail?: string;
    }
  | { type: 'command-output'; node: string; stream: 'stdout' | 'stderr'; text: string }
  | { type: 'health'; node: string; verdict: HealthVerdict }
  | { type: 'restore'; node: string; waiting: WorkloadCount[] }
  /** The API server did not answer a request that is being retried (the node was healthy already). */
  | { type: 'api-down'; node: string; message: string }
  /** A process the work started in an earlier run (killed meanwhile) still runs: waiting for it to end. */
  | { type: 'waiting-for-command'; node: string; process: RecordedProcess };

/** What the engine needs. */
export interface MaintenanceDeps {
  kube: NodePods & NodeHealth;
  clock: Clock;
  observer?: (e: MaintainEvent) => void;
  drainObserver?: DrainObserver;
  signal?: AbortSignal;
}

/** How the workflow ended. */
export interface MaintainResult {
  node: string;
  outcome:
    | 'done'
    | 'refused'
    | 'drain-failed'
    | 'command-failed'
    | 'unhealthy'
    | 'not-restored'
    | 'left-cordoned'
    | 'interrupted'
    /** A process an earlier run of the work started may still run, and this machine cannot tell. */
    | 'command-running'
    /**
     * A work that reboots: the process an earlier (killed) run started had ended, and the node did
     * not show a new boot ID within the health timeout. The record of that process is dropped, so
     * the next run runs the work again.
     */
    | 'not-rebooted'
    /** options.stopAfter was reached. */
    | 'stopped';
  message?: string;
  hint?: string;
  drain?: NodeDrainResult;
  /** Lines of the diagnosis when the node was not healthy. */
  diagnosis?: string[];
  resumed: boolean;
  commandExitCode?: number | null;
  /** The step the run ended in (absent when done). */
  step?: MaintenanceStep;
}

class Interrupted extends Error {}

/** A request that got no answer before its step's deadline (a silent API server). */
class NoAnswer extends BosunError {
  constructor(what: string) {
    super(`no answer within ${what}`, 'TIMEOUT');
  }
}

/** How often a waited-for workload's controller is read again (ms). */
const DESIRED_REFRESH_MS = 2000;

/** What a request may take beyond its step's deadline at the most (ms). */
const MAX_GRACE_MS = 1000;

/** A step's end: go on, or end the run with this result. */
type StepEnd = undefined | Omit<MaintainResult, 'node' | 'resumed'>;

/** The work's end in this run, until the 'worked' state records it. */
interface Finishing {
  at: string;
  /**
   * Set when the work counts only once a new boot ID shows: it failed as a reboot that cuts it off
   * does (exitCode), or it is the process an earlier run started, which has ended (earlier).
   */
  cutOff?: { why: string } & ({ exitCode: number | null } | { earlier: RecordedProcess });
}

/** One node's maintenance, step by step. */
class NodeMaintenance {
  private node!: Node;
  private state: MaintenanceState | undefined;
  private resumed = false;
  private finishing: Finishing | undefined;
  private healthDeadline: number | undefined;
  private lastHealthKey = '';
  private lastApiDown = '';
  /** The replicas each waited-for workload's controller wants, by uid (refreshDesired). */
  private readonly desired = new Map<string, number>();
  private readonly desiredAt = new Map<string, number>();
  /** Kinds whose desired replicas cannot be read (unknown kinds, or not allowed). */
  private readonly desiredUnknowable = new Set<string>();
  private readonly skip: ReadonlySet<MaintenanceStep>;
  private readonly emit: (e: MaintainEvent) => void;

  constructor(
    private readonly name: string,
    private readonly opts: MaintenanceOptions,
    private readonly deps: MaintenanceDeps,
  ) {
    this.skip = new Set(opts.skip ?? []);
    this.emit = deps.observer ?? ((): void => undefined);
  }

  async run(): Promise<MaintainResult> {
    const result = (
      step: MaintenanceStep | undefined,
      r: Omit<MaintainResult, 'node' | 'resumed'>,
    ): MaintainResult => ({
      node: this.name,
      resumed: this.resumed,
      ...r,
      ...(step && r.outcome !== 'done' ? { step } : {}),
    });
    if (this.skip.has('cordon') && !this.skip.has('drain'))
      throw new InternalError(
        'maintenance: the drain cordons the node; skip "cordon" only together with "drain"',
      );
    if (this.opts.stopAfter === 'cordon' && !this.skip.has('drain'))
      throw new InternalError(
        'maintenance: the cordon and the drain are one step when both run (the pre-flight comes before the cordon); stop after "drain"',
      );
    let step: MaintenanceStep = 'cordon';
    try {
      this.node = await this.deps.kube.getNode(this.name);
      this.state = maintenanceState(this.node);
      this.resumed = this.state !== undefined;
      const steps: [MaintenanceStep, () => Promise<StepEnd>][] = [
        ['cordon', () => this.cordon()],
        ['drain', () => this.drain()],
        ['work', () => this.work()],
        ['wait-healthy', () => this.waitHealthy()],
        ['uncordon', () => this.uncordon()],
        ['wait-workloads', () => this.waitWorkloads()],
      ];
      for (const [s, fn] of steps) {
        step = s;
        const end = await fn();
        if (end) return result(s, end);
        if (this.opts.stopAfter === s && s !== 'wait-workloads' && this.state !== undefined)
          return result(s, {
            outcome: 'stopped',
            message: `maintenance of node/${this.name} stopped after ${s}`,
          });
      }
      this.emit({ type: 'phase', node: this.name, phase: 'done' });
      return result(undefined, { outcome: 'done' });
    } catch (e) {
      if (e instanceof Interrupted || this.deps.signal?.aborted) {
        return result(step, {
          outcome: 'interrupted',
          message: `maintenance of node/${this.name} interrupted${this.state ? ` while ${this.state.phase}` : ''}`,
          hint: `Run the same command again to continue where it stopped, or give up with: bosun uncordon ${this.name}`,
        });
      }
      throw e;
    }
  }

  // ---- state ----

  private st(): MaintenanceState {
    if (this.state === undefined) throw new InternalError('maintenance state missing');
    return this.state;
  }

  private async writeState(s: MaintenanceState): Promise<void> {
    this.state = s;
    this.node = await this.deps.kube.patchNode(this.name, {
      metadata: { annotations: { [MAINTENANCE_STATE]: JSON.stringify(s) } },
    });
  }

  private async clearState(): Promise<void> {
    this.node = await this.deps.kube.patchNode(this.name, {
      metadata: { annotations: { [MAINTENANCE_STATE]: null } },
    });
    this.state = undefined;
  }

  /**
   * Drops the record of the process the work started, once it is known to have ended without
   * finishing the work: the next run runs the work again instead of waiting on that process or on
   * a reboot it might have issued. False when the API server did not take it (the record stays:
   * the next run then waits for a new boot ID once more before it runs the work).
   */
  private async forgetProcess(bound: <T>(p: Promise<T>) => Promise<T> = (p) => p): Promise<boolean> {
    const { process: recorded, ...rest } = this.st();
    if (recorded === undefined) return true;
    try {
      await bound(this.writeState(rest));
      return true;
    } catch (e) {
      if (isRetryable(e) || e instanceof NoAnswer) return false;
      throw e;
    }
  }

  /** Records that the work finished (the 'worked' phase), which `finishing` held until now. */
  private async recordFinished(at: string): Promise<void> {
    const { process: _done, ...rest } = this.st();
    await this.writeState({ ...rest, phase: 'worked', commandFinishedAt: at });
    this.finishing = undefined;
  }

  private async sleep(ms: number): Promise<void> {
    try {
      await this.deps.clock.sleep(ms, this.deps.signal);
    } catch {
      throw new Interrupted();
    }
  }

  /** Sleeps one poll interval, but not past deadline (the last check is made at the deadline). */
  private async sleepUntilNextPoll(deadline: number): Promise<void> {
    const left = deadline - this.deps.clock.now().getTime();
    await this.sleep(left > 0 ? Math.min(this.opts.pollMs, left) : this.opts.pollMs);
  }

  private checkAbort(): void {
    if (this.deps.signal?.aborted) throw new Interrupted();
  }

  /**
   * p, unless it has not settled by deadline (or a short grace when the deadline has passed
   * already): then NoAnswer, so a wait ends at its deadline however silent the API server is. The
   * request itself is left to end on its own. Ctrl-C ends the wait at once.
   */
  private async bounded<T>(p: Promise<T>, deadline: number, what: string): Promise<T> {
    p.catch(() => undefined); // settles after the race is over: nobody waits for it any more
    const grace = Math.min(this.opts.pollMs, MAX_GRACE_MS);
    const ms = Math.max(deadline - this.deps.clock.now().getTime(), grace);
    const done = new AbortController();
    const signal = this.deps.signal ? AbortSignal.any([done.signal, this.deps.signal]) : done.signal;
    const timer = this.deps.clock.sleep(ms, signal).then(
      (): never => {
        throw new NoAnswer(what);
      },
      (): Promise<never> => {
        if (this.deps.signal?.aborted) throw new Interrupted();
        return new Promise<never>(() => undefined); // p won the race
      },
    );
    try {
      return await Promise.race([p, timer]);
    } finally {
      done.abort();
    }
  }

  // ---- cordon (and drain) ----

  /** Starts the maintenance: refuses someone else's cordon, records the workloads and the boot ID. */
  private async cordon(): Promise<StepEnd> {
    if (this.state !== undefined) return undefined;
    const info = cordonInfo(this.node);
    if (info.cordoned && !info.ownedByBosun && !this.skip.has('cordon')) {
      return {
        outcome: 'refused',
        message: `node/${this.name} was cordoned outside bosun; bosun maintain will not take it over`,
        hint: `Uncordon it first if that cordon is stale, or use bosun drain ${this.name} (which leaves someone else's cordon alone).`,
      };
    }
    const pods = (await this.deps.kube.listPods({ chunkSize: this.opts.drain.chunkSize })).items;
    const { workloads, daemonSets } = this.skip.has('drain')
      ? { workloads: [], daemonSets: workloadsOf(this.name, pods).daemonSets }
      : workloadsOf(this.name, pods);
    const bootID = this.node.status?.nodeInfo?.bootID;
    await this.writeState({
      phase: 'draining',
      startedAt: rfc3339(this.deps.clock.now()),
      by: this.opts.owner.who,
      command: this.opts.work.describe(this.name),
      ...(bootID ? { bootIdBefore: bootID } : {}),
      workloads,
      daemonSets,
    });
    if (this.skip.has('drain')) await this.withoutDrain();
    return undefined;
  }

  /** When the drain is skipped: the cordon alone (unless skipped too), then on to the work. */
  private async withoutDrain(): Promise<void> {
    if (!this.skip.has('cordon')) await this.cordonOnly();
    await this.writeState({ ...this.st(), phase: 'working' });
  }

  private async drain(): Promise<StepEnd> {
    if (this.st().phase !== 'draining') return undefined;
    if (this.skip.has('drain')) {
      await this.withoutDrain();
      return undefined;
    }
    this.emit({ type: 'phase', node: this.name, phase: 'drain', resumed: this.resumed });
    const d = await drainNode(
      this.name,
      { ...this.opts.drain, owner: this.opts.owner, dryRun: 'none' },
      {
        kube: this.deps.kube,
        clock: this.deps.clock,
        ...(this.deps.drainObserver ? { observer: this.deps.drainObserver } : {}),
        ...(this.deps.signal ? { signal: this.deps.signal } : {}),
      },
    );
    if (d.outcome !== 'drained') {
      if (
        d.outcome === 'refused' ||
        d.outcome === 'preflight-blocked' ||
        ((d.outcome === 'gave-up' || d.outcome === 'uncordoned') && !d.cordoned)
      )
        await this.clearState();
      if (d.outcome === 'interrupted') throw new Interrupted();
      return {
        outcome: 'drain-failed',
        drain: d,
        ...(d.message ? { message: d.message } : {}),
        ...(d.hint ? { hint: d.hint } : {}),
      };
    }
    await this.writeState({ ...this.st(), phase: 'working' });
    return undefined;
  }

  /** A cordon without a drain, reported as the drain reports its cordon. */
  private async cordonOnly(): Promise<void> {
    const was = cordonInfo(this.node);
    const c = await cordonNode(
      this.name,
      { owner: this.opts.owner, dryRun: 'none', node: this.node },
      { kube: this.deps.kube, clock: this.deps.clock },
    );
    this.node = c.nodeObject;
    this.deps.drainObserver?.({
      type: 'cordon',
      node: this.name,
      action: c.action === 'cordoned' ? 'cordoned' : 'already-cordoned',
      ownedByBosun: c.ownedByBosun,
      ...(c.by !== undefined ? { by: c.by } : {}),
      ...(c.reason !== undefined ? { reason: c.reason } : {}),
      ...(c.at !== undefined ? { at: c.at } : {}),
      resumed: c.action === 'already-cordoned' && was.ownedByBosun,
      dryRun: 'none',
    });
  }

  // ---- work ----

  private async work(): Promise<StepEnd> {
    if (this.st().phase !== 'working') {
      if (this.resumed)
        this.emit({
          type: 'phase',
          node: this.name,
          phase: 'command',
          resumed: true,
          detail: 'already done',
        });
      return undefined;
    }
    if (this.skip.has('work')) {
      await this.recordFinished(rfc3339(this.deps.clock.now()));
      return undefined;
    }
    // A work that reboots the node may have ended the run that started it (the agent rebooting its
    // own host, or bosun killed while the node rebooted): the new boot ID says it was done.
    const bootNow = this.node.status?.nodeInfo?.bootID;
    const bootBefore = this.st().bootIdBefore;
    if (this.resumed && this.opts.expectReboot && bootBefore && bootNow && bootNow !== bootBefore) {
      this.emit({ type: 'phase', node: this.name, phase: 'command', resumed: true, detail: 'already done' });
      // When the command ended is not known (the run that started it ended with the reboot): the
      // last instant known before the reboot, its start, stands for it, so that a heartbeat of the
      // new boot made before this run resumed counts (the new boot ID already says the node went
      // down and came back). Without a record of the start, now.
      await this.recordFinished(this.st().process?.at ?? rfc3339(this.deps.clock.now()));
      return undefined;
    }
    // bosun killed while the work ran leaves its process running (issue 18): never run the work
    // again beside it, and never go on to uncordon while it may still run.
    const earlier = this.resumed ? this.st().process : undefined;
    if (earlier) {
      const end = await this.waitForEarlier(earlier);
      if (end) return end;
      // It has ended, and the node has not shown a new boot ID yet: a work that reboots may well
      // have issued the reboot (`systemctl reboot` returns before the node goes down), so running it
      // again could reboot the node twice. It counts as run and cut off: the health wait takes a
      // new boot ID for it, and drops the record when none comes. Without a boot ID from before
      // nothing could tell: the work runs again, as every work that was cut off does; and so it
      // does when the work said that process was not its rebooting one (an upgrade recipe killed
      // during its apt-get line, before its reboot line).
      if (this.opts.expectReboot && bootBefore && earlier.rebootsNot !== true) {
        this.finishing = {
          // Its end is not known: its start is the last instant known before the reboot.
          at: earlier.at,
          cutOff: {
            why: `the command an earlier run started (pid ${earlier.pid} on ${earlier.host} at ${earlier.at}) has ended`,
            earlier,
          },
        };
        this.healthDeadline = this.deps.clock.now().getTime() + this.opts.healthTimeoutMs;
        return undefined;
      }
    }
    const detail = this.opts.work.describe(this.name);
    this.emit({ type: 'phase', node: this.name, phase: 'command', resumed: this.resumed, detail });
    this.checkAbort();
    const recordStart = async (p: StartedProcess, o: { rebootsNot?: boolean } = {}): Promise<void> => {
      const at = rfc3339(this.deps.clock.now());
      await this.writeState({ ...this.st(), process: { ...p, at, ...(o.rebootsNot ? { rebootsNot: true } : {}) } });
    };
    let res: WorkResult;
    try {
      res = await this.opts.work.run(this.name, {
        signal: this.deps.signal,
        onOutput: (stream, text) => this.emit({ type: 'command-output', node: this.name, stream, text }),
        onStart: recordStart,
      });
    } catch (e) {
      if (this.deps.signal?.aborted) throw new Interrupted();
      throw e;
    }
    if (this.deps.signal?.aborted && !res.ok) throw new Interrupted();
    if (!res.ok && res.notStarted) {
      await this.forgetProcess();
      return {
        outcome: 'command-failed',
        message: res.message,
        hint: `node/${this.name} stays cordoned. Fix the command and run bosun maintain again (the drain is done), or give up with: bosun uncordon ${this.name}`,
        commandExitCode: null,
      };
    }
    // A reboot often cuts its own command off: `ssh NODE sudo reboot` exits with 255 when the node
    // closes the connection, and a local command may die of the shutdown's signal. Whether the node
    // rebooted is then told by its boot ID, not by the exit code.
    const cutOff =
      !res.ok &&
      this.opts.expectReboot &&
      this.st().bootIdBefore !== undefined &&
      !res.timedOut &&
      (res.exitCode === 255 || res.exitCode === null);
    if (!res.ok && !cutOff) {
      await this.forgetProcess();
      return {
        outcome: 'command-failed',
        message: res.message,
        hint: `node/${this.name} stays cordoned. Run bosun maintain again to retry the command, or give up with: bosun uncordon ${this.name}`,
        commandExitCode: res.exitCode,
      };
    }
    this.finishing = {
      at: rfc3339(this.deps.clock.now()),
      ...(!res.ok
        ? {
            cutOff: {
              exitCode: res.exitCode,
              why: `${detail} exited with ${res.exitCode ?? 'a signal'}, as a reboot that cuts it off does`,
            },
          }
        : {}),
    };
    this.healthDeadline = this.deps.clock.now().getTime() + this.opts.healthTimeoutMs;
    return undefined;
  }

  /** Waits while a process an earlier run of the work started still runs; an end when that cannot be told. */
  private async waitForEarlier(p: RecordedProcess): Promise<StepEnd> {
    let state = await this.opts.work.probe(p);
    if (state === 'unknown') {
      return {
        outcome: 'command-running',
        message: `the command an earlier run started on ${p.host} (pid ${p.pid}, at ${p.at}) may still run there; bosun can tell only on ${p.host}`,
        hint: `node/${this.name} stays cordoned. Run bosun maintain ${this.name} again on ${p.host}; or, once you know that process has ended, drop the record (kubectl annotate node ${this.name} ${MAINTENANCE_STATE}-) and run bosun maintain again.`,
      };
    }
    if (state === 'running') {
      this.emit({ type: 'waiting-for-command', node: this.name, process: p });
      while (state === 'running') {
        await this.sleep(this.opts.pollMs);
        state = await this.opts.work.probe(p);
      }
    }
    return undefined;
  }

  // ---- wait-healthy ----

  private reportHealth(v: HealthVerdict): void {
    const key = JSON.stringify(v);
    if (key === this.lastHealthKey) return;
    this.lastHealthKey = key;
    this.emit({ type: 'health', node: this.name, verdict: v });
  }

  private async waitHealthy(): Promise<StepEnd> {
    if (this.st().phase !== 'worked' && !this.finishing) return undefined;
    const finishing = this.finishing;
    if (this.skip.has('wait-healthy')) {
      if (finishing) await this.recordFinished(finishing.at);
      return undefined;
    }
    const { kube, clock } = this.deps;
    this.emit({
      type: 'phase',
      node: this.name,
      phase: 'health',
      resumed: this.resumed,
      ...(finishing?.cutOff
        ? {
            detail: `${finishing.cutOff.why}; ${'earlier' in finishing.cutOff ? 'not running it again: ' : ''}waiting for a new boot ID to tell`,
          }
        : {}),
    });
    const deadline = this.healthDeadline ?? clock.now().getTime() + this.opts.healthTimeoutMs;
    const finishedAt = finishing?.at ?? this.st().commandFinishedAt;
    const since = finishedAt ? new Date(finishedAt) : undefined;
    let healthySince: number | undefined;
    let last: HealthVerdict;
    let apiError = '';
    // Every request of the wait is bounded by its deadline: a silent API server must not stretch it.
    const within = <T>(p: Promise<T>): Promise<T> =>
      this.bounded(p, deadline, `the health timeout (${Math.round(this.opts.healthTimeoutMs / 1000)}s)`);
    for (;;) {
      this.checkAbort();
      try {
        if (this.finishing && !this.finishing.cutOff) await within(this.recordFinished(this.finishing.at));
        const seen = await within(kube.getNode(this.name));
        let lease: Lease | undefined;
        try {
          lease = await within(kube.getLease(NODE_LEASE_NAMESPACE, this.name));
        } catch (e) {
          if (!isNotFound(e)) throw e;
        }
        const pods = (
          await within(
            kube.listPods({
              fieldSelector: `spec.nodeName=${this.name}`,
              chunkSize: this.opts.drain.chunkSize,
            }),
          )
        ).items;
        this.node = seen;
        const boot = seen.status?.nodeInfo?.bootID;
        if (this.finishing && boot !== undefined && boot !== this.st().bootIdBefore)
          await within(this.recordFinished(this.finishing.at));
        const own = this.opts.ownPod;
        const ownPod = own
          ? pods.find((p) => p.metadata.namespace === own.namespace && p.metadata.name === own.name)
          : undefined;
        const ownDs = ownPod ? controllerOf(ownPod) : undefined;
        const skipDs = ownDs?.kind === 'DaemonSet' ? `${own?.namespace ?? ''}/${ownDs.name}` : undefined;
        last = checkNodeHealth({
          node: this.node,
          lease,
          pods,
          now: clock.now(),
          since,
          bootIdBefore: this.st().bootIdBefore,
          expectReboot: this.opts.expectReboot,
          daemonSets: this.st().daemonSets.filter((ds) => ds !== skipDs),
        });
      } catch (e) {
        if (!isRetryable(e) && !(e instanceof NoAnswer)) throw e;
        // After the work the API server may be gone for a while: a reboot of the only control plane
        // takes it along. Until the deadline that is one more reason the node is not healthy yet.
        last = { healthy: false, problems: [`the API server is not answering: ${errorMessage(e)}`] };
        apiError = errorMessage(e);
      }
      const now = clock.now();
      this.reportHealth(last);
      if (last.healthy) {
        healthySince ??= now.getTime();
        if (now.getTime() - healthySince >= this.opts.healthSettleMs) return undefined;
      } else healthySince = undefined;
      if (now.getTime() >= deadline && this.finishing) {
        const after = `${Math.round(this.opts.healthTimeoutMs / 1000)}s`;
        const cutOff = this.finishing.cutOff;
        if (cutOff) {
          // The command has ended and the node did not reboot: the next run runs it again.
          const again = (await this.forgetProcess(within))
            ? 'Run bosun maintain again to run the command again'
            : 'The API server did not take the change that lets a rerun run the command again: a rerun waits for a new boot ID once more first';
          const hint = `${again}, or give up with: bosun uncordon ${this.name}`;
          const message = `${cutOff.why}, but node/${this.name} did not come back with a new boot ID within ${after}: ${last.problems.join('; ')}`;
          return 'earlier' in cutOff
            ? {
                outcome: 'not-rebooted',
                message,
                hint: `node/${this.name} stays cordoned. bosun cannot tell whether that command ran to its end. ${hint}`,
              }
            : {
                outcome: 'command-failed',
                message,
                hint: `node/${this.name} stays cordoned. ${hint}`,
                commandExitCode: cutOff.exitCode,
              };
        }
        return {
          outcome: 'unhealthy',
          message: `${this.opts.work.describe(this.name)} finished, but the API server did not answer for ${after}: ${apiError}`,
          hint: `node/${this.name} stays cordoned. When the API server is back, run bosun maintain again (bosun could not record that the command finished${this.opts.expectReboot ? ': a rerun waits for a new boot ID, and if none comes, the run after it runs it again' : ', so it runs it again'}), or give up with: bosun uncordon ${this.name}`,
        };
      }
      if (now.getTime() >= deadline) {
        const events = await within(
          kube.listEvents({ fieldSelector: `involvedObject.kind=Node,involvedObject.name=${this.name}` }),
        ).catch((e: unknown) => {
          if (e instanceof Interrupted) throw e;
          return [];
        });
        return {
          outcome: 'unhealthy',
          message: `node/${this.name} is not healthy after ${Math.round(this.opts.healthTimeoutMs / 1000)}s: ${last.problems.join('; ')}`,
          hint: `The node stays cordoned. When it is fixed, run bosun maintain again to continue (the command will not run again), or bosun uncordon ${this.name}.`,
          diagnosis: diagnose(this.node, last, events),
        };
      }
      await this.sleepUntilNextPoll(deadline);
    }
  }

  // ---- uncordon ----

  private async uncordon(): Promise<StepEnd> {
    if (this.st().phase !== 'worked') return undefined;
    const restoring: MaintenanceState = { ...this.st(), phase: 'restoring' };
    if (this.skip.has('uncordon')) {
      await this.writeState(restoring);
      return undefined;
    }
    const info = cordonInfo(this.node);
    if (info.cordoned && !info.ownedByBosun) {
      await this.clearState();
      return {
        outcome: 'left-cordoned',
        message: `node/${this.name} is healthy but was cordoned outside bosun during maintenance; leaving it cordoned`,
        hint: `Uncordon it yourself when ready: bosun uncordon ${this.name} --force`,
      };
    }
    this.emit({ type: 'phase', node: this.name, phase: 'uncordon' });
    const u = await uncordonNode(
      this.name,
      { force: false, dryRun: 'none', setAnnotations: { [MAINTENANCE_STATE]: JSON.stringify(restoring) } },
      { kube: this.deps.kube, clock: this.deps.clock },
    );
    this.node = u.nodeObject;
    this.state = restoring;
    return undefined;
  }

  // ---- wait-workloads ----

  /**
   * Runs fn again, every poll interval, while the API server is down or busy, until deadline (once
   * the node was healthy: each wait is reported as a wait of its own).
   */
  private async whileApiDown<T>(fn: () => Promise<T>, deadline: number): Promise<T> {
    const what = `the restore timeout (${Math.round(this.opts.restoreTimeoutMs / 1000)}s)`;
    for (;;) {
      this.checkAbort();
      try {
        return await this.bounded(fn(), deadline, what);
      } catch (e) {
        if (!(isRetryable(e) || e instanceof NoAnswer) || this.deps.clock.now().getTime() >= deadline)
          throw e;
        if (errorMessage(e) !== this.lastApiDown) {
          this.lastApiDown = errorMessage(e);
          this.emit({ type: 'api-down', node: this.name, message: this.lastApiDown });
        }
      }
      await this.sleepUntilNextPoll(deadline);
    }
  }

  /**
   * Reads the replicas the controllers of `workloads` want now (at most once per
   * DESIRED_REFRESH_MS each): a workload a rollout or a scale-down took away while its node was
   * drained must not hold the wait until its timeout. A controller bosun may not read (Forbidden)
   * is not asked again; one the API server does not answer for now is asked at the next poll.
   * Whether anything changed.
   */
  private async refreshDesired(workloads: readonly WorkloadRecord[], deadline: number): Promise<boolean> {
    let changed = false;
    const now = this.deps.clock.now().getTime();
    for (const w of workloads) {
      if (this.desiredUnknowable.has(w.kind)) continue;
      if (now - (this.desiredAt.get(w.uid) ?? -Infinity) < DESIRED_REFRESH_MS) continue;
      this.desiredAt.set(w.uid, now);
      try {
        const n = await this.bounded(
          this.deps.kube.desiredReplicas(w.kind, w.namespace, w.name),
          deadline,
          `the restore timeout (${Math.round(this.opts.restoreTimeoutMs / 1000)}s)`,
        );
        if (n === undefined) this.desiredUnknowable.add(w.kind);
        else if (this.desired.get(w.uid) !== n) {
          this.desired.set(w.uid, n);
          changed = true;
        }
      } catch (e) {
        if (e instanceof Interrupted) throw e;
        if (isForbidden(e)) this.desiredUnknowable.add(w.kind);
        else if (!(isRetryable(e) || e instanceof NoAnswer)) throw e;
      }
    }
    return changed;
  }

  private async waitWorkloads(): Promise<StepEnd> {
    if (this.state?.phase !== 'restoring') return undefined;
    if (!this.skip.has('wait-workloads')) {
      this.emit({ type: 'phase', node: this.name, phase: 'restore', resumed: this.resumed });
      const deadline = this.deps.clock.now().getTime() + this.opts.restoreTimeoutMs;
      let lastKey = '';
      for (;;) {
        this.checkAbort();
        const pods = (
          await this.whileApiDown(
            () => this.deps.kube.listPods({ chunkSize: this.opts.drain.chunkSize }),
            deadline,
          )
        ).items;
        let waiting = readyCounts(this.st().workloads, pods, this.desired).filter((c) => c.ready < c.want);
        if (waiting.length > 0 && (await this.refreshDesired(waiting.map((w) => w.workload), deadline)))
          waiting = readyCounts(this.st().workloads, pods, this.desired).filter((c) => c.ready < c.want);
        const key = JSON.stringify(waiting.map((w) => [w.workload.uid, w.ready, w.want]));
        if (key !== lastKey) {
          lastKey = key;
          this.emit({ type: 'restore', node: this.name, waiting });
        }
        if (waiting.length === 0) break;
        if (this.deps.clock.now().getTime() >= deadline) {
          return {
            outcome: 'not-restored',
            message: `workloads not back to their Ready counts after ${Math.round(this.opts.restoreTimeoutMs / 1000)}s: ${waiting
              .map(
                (w) =>
                  `${w.workload.kind} ${w.workload.namespace}/${w.workload.name} ${w.ready}/${w.want}`,
              )
              .join(', ')}`,
            hint: `node/${this.name} is uncordoned. Check why those pods are not Ready before maintaining the next node; run bosun maintain ${this.name} again to keep waiting.`,
          };
        }
        await this.sleepUntilNextPoll(deadline);
      }
    }
    await this.clearState();
    return undefined;
  }
}

/**
 * Maintains one node (or continues its maintenance): runs the steps cordon, drain, work,
 * wait-healthy, uncordon and wait-workloads that its state says are still to do, except those in
 * options.skip, and stops after options.stopAfter. Never throws for an outcome (see
 * MaintainResult.outcome), only when the cluster cannot be read at all or the API server refuses
 * a write for good.
 */
export function runMaintenance(
  name: string,
  opts: MaintenanceOptions,
  deps: MaintenanceDeps,
): Promise<MaintainResult> {
  return new NodeMaintenance(name, opts, deps).run();
}
