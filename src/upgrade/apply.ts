// `bosun upgrade apply`: carries out the plan step by step, and resumes where any earlier run
// stopped. In order:
//   1. the plan and its pre-flight, as `upgrade plan` makes them (the cluster read once); bad input
//      is a UsageError before anything is touched, a pre-flight error stops here too;
//   2. the caller's confirmation (the CLI asks on a terminal, or takes --yes);
//   3. the cluster lock, exclusively, renewed until the end;
//   4. the journal (src/journal/): a new one, or the unfinished one of the same target, which this
//      run resumes;
//   5. hop by hop, group by group (the backup, each control plane alone, each batch of kubelets in
//      parallel): the live versions are read, steps whose proofs hold are recorded as done and not
//      run again, the others are judged against the skew policy on those live versions, then run:
//      a control plane's recipe through the executor and a wait for its static pods' proofs; a
//      kubelet's recipe as the work of the node-work engine (cordon, drain, work, wait healthy,
//      uncordon, wait for the workloads), the work ending only when the node reports the new
//      kubelet version. No step starts without a verified backup younger than backupMaxAgeMs.
//   6. the end: the journal says how it ended, the lock is released.
// A failure stops the rollout with a diagnosis (the command's output, the node's conditions and
// events, what a kubeadm timeout waited for); a node that fails its kubelet step stays cordoned
// (the engine's rule). It never prints: progress goes to the observer, the outcome is returned or
// thrown.
import { BosunError, errorMessage, isBosunError } from '../common/errors.ts';
import type { Clock } from '../common/ports.ts';
import {
  backupTaken,
  findStep,
  mergeHops,
  newJournal,
  runEnded,
  runStarted,
  stepAction,
  stepDone,
  stepFailed,
  stepStarted,
  type JournalBackup,
  type JournalOutcome,
  type JournalStore,
  type PlannedHop,
  type RolloutJournal,
} from '../journal/index.ts';
import {
  diagnose,
  looksLikeReboot,
  maintenanceState,
  type MaintainResult,
  type WorkContext,
  type WorkResult,
} from '../drain/index.ts';
import type { StartedProcess } from '../host/index.ts';
import { isRetryable } from '../kube/errors.ts';
import type { NodeHealth, NodePods } from '../kube/ports.ts';
import type { Pod } from '../kube/types.ts';
import { makeUpgradePlan, type PlanDeps, type PlanOptions, type UpgradePlanReport } from './planner.ts';
import { proofsHold, type UpgradeHop, type UpgradePlan, type UpgradeStep } from './plan.ts';
import {
  backupFresh,
  diagnoseStaticPodTimeout,
  groupsOf,
  judgeGroup,
  staticPodTimeout,
  standing,
  unmetProofs,
  type MirrorPodFacts,
  type StepGroup,
} from './rollout.ts';
import { clusterVersions, type ClusterVersions } from './versions.ts';
import { parseVersion } from './skew.ts';
import type { ClusterInfo } from '../kube/cluster-info.ts';

// ---- ports ----

/** How a recipe line ended. */
export interface LineResult {
  exitCode: number | null;
  timedOut: boolean;
}

/** Runs one recipe line (a shell line) on a node: a host/ NodeExecutor with `{ shell: line }`. */
export interface RecipeRunner {
  /** The command line that would run, for --dry-run. */
  describe(node: string, line: string): string;
  /** Rejects only when the line cannot start at all. */
  run(
    node: string,
    line: string,
    opts: {
      signal?: AbortSignal | undefined;
      onOutput: (stream: 'stdout' | 'stderr', text: string) => void;
      onStart?: ((p: StartedProcess) => Promise<void>) | undefined;
      timeoutMs?: number | undefined;
    },
  ): Promise<LineResult>;
}

/** The work of a kubelet step, done while the node is drained. */
export interface KubeletWork {
  describe: string;
  /**
   * A recipe line reboots the node: the engine then requires a new boot ID before the node counts
   * as healthy (a node that goes down after its kubelet reported the new version is not done).
   */
  expectReboot: boolean;
  /** Runs the recipe lines with the engine's context (they are recorded on the node as they start). */
  run(ctx: WorkContext): Promise<WorkResult>;
}

/** A node's cordon, drain, work, wait healthy, uncordon, wait for its workloads: the node-work engine. */
export type NodeMaintainer = (
  node: string,
  work: KubeletWork,
  opts: { signal?: AbortSignal | undefined; onPhase: (phase: string, detail?: string) => void },
) => Promise<Pick<MaintainResult, 'outcome' | 'message' | 'hint' | 'diagnosis' | 'resumed'>>;

/** The cluster lock, held exclusively for the rollout. */
export interface LockHandle {
  /** Aborted when the lock is lost. */
  readonly signal: AbortSignal;
  /** Holders taken over because their entries had expired. */
  readonly takenOver: string[];
  release(): Promise<void>;
}

/** Takes the cluster lock. */
export interface UpgradeLock {
  /** Throws a BosunError saying who holds the lock and since when, when a live holder is in the way. */
  check(): Promise<void>;
  /**
   * Takes it exclusively; with wait, waits until it is free (a holder that died is taken over when
   * its entry expires), else throws a BosunError saying who holds it and since when.
   */
  acquire(opts: {
    wait: boolean;
    signal?: AbortSignal | undefined;
    onBlocked?: (who: string) => void;
  }): Promise<LockHandle>;
}

/** Takes a verified etcd backup. */
export interface BackupTaker {
  /** Where it backs up from, for the plan and messages. */
  describe(): string;
  take(signal: AbortSignal | undefined): Promise<Omit<JournalBackup, 'hop'>>;
}

// ---- options, events, result ----

/** What apply was asked. */
export interface ApplyOptions extends Pick<PlanOptions, 'maxUnavailable' | 'recipe' | 'drain' | 'windowMs'> {
  to: string;
  /** Who runs it ("alice@ops-1 (bosun upgrade apply) pid 4242"). */
  identity: string;
  /** A step starts only with a verified backup younger than this (ms). */
  backupMaxAgeMs: number;
  skipBackup: boolean;
  /** Wait for the lock instead of failing when it is held. */
  waitForLock: boolean;
  /** How long a control plane's static pods may take to show the new version after its recipe (ms). */
  staticPodTimeoutMs: number;
  /** How long a kubelet may take to report the new version after its recipe (ms). */
  kubeletTimeoutMs: number;
  /** Each recipe line is killed after this (ms; 0: no limit). */
  commandTimeoutMs: number;
  /** Interval between reads while waiting for a proof (ms). */
  pollMs: number;
  /** Skip the served-certificate check of the pre-flight. */
  skipCertificates: boolean;
}

/** Progress of a rollout, one event at a time (the CLI's lines, live view or JSON lines). */
export type ApplyEvent =
  | {
      type: 'plan';
      from: string;
      to: string;
      hops: { to: string; steps: number }[];
      resumed: boolean;
      journal: string;
    }
  | { type: 'preflight'; severity: 'warning' | 'error'; check: string; subject: string; message: string }
  | { type: 'lock'; state: 'waiting' | 'acquired'; detail: string }
  | {
      type: 'step';
      id: string;
      node?: string | undefined;
      /** Kubelet steps: the batch they run in (the nodes of a batch in parallel). */
      batch?: number | undefined;
      phase: 'start' | 'done' | 'skipped' | 'failed';
      detail?: string | undefined;
    }
  | { type: 'action'; id: string; node?: string | undefined; what: string }
  /** A recipe line starts on a node. */
  | { type: 'command'; id: string; node: string; line: string }
  | { type: 'output'; id: string; node: string; stream: 'stdout' | 'stderr'; text: string }
  | { type: 'backup'; file: string; revision: number; reused: boolean }
  | { type: 'end'; phase: 'succeeded' | 'failed' | 'interrupted'; message?: string | undefined };

/** An event with its time. */
export type TimedApplyEvent = ApplyEvent & { time: string };

/** What apply needs. */
export interface ApplyDeps {
  info: ClusterInfo;
  kube: NodePods & NodeHealth;
  releases: PlanDeps['releases'];
  tls: PlanDeps['tls'];
  clock: Clock;
  journal: JournalStore;
  lock: UpgradeLock;
  recipes: RecipeRunner;
  maintain: NodeMaintainer;
  backup: BackupTaker;
  /** Asked once the plan and pre-flight are known, before anything is touched; false stops. */
  confirm: (report: UpgradePlanReport) => Promise<boolean>;
  observer?: (e: TimedApplyEvent) => void;
  signal?: AbortSignal;
}

/** How it ended. */
export interface ApplyResult {
  /** undefined when there was nothing to do (the cluster runs the target everywhere). */
  journal: RolloutJournal | undefined;
  /** The steps this run did, and those it found done. */
  ran: string[];
  found: string[];
}

/** A rollout that stopped: its diagnosis goes with it. */
export class RolloutFailed extends BosunError {
  override readonly name = 'RolloutFailed';
  constructor(
    message: string,
    readonly diagnosis: string[],
    hint: string,
    /** The step and node it stopped at, when one did. */
    readonly at: { step?: string | undefined; node?: string | undefined } = {},
  ) {
    super(message, 'PRECONDITION', { hint });
  }
}

// ---- the rollout ----

/** Keeps the last lines of a command's output. */
class Tail {
  readonly lines: string[] = [];
  constructor(private readonly max = 30) {}
  push(stream: 'stdout' | 'stderr', text: string): void {
    for (const l of text.split('\n')) {
      if (l.trim() === '') continue;
      this.lines.push(stream === 'stderr' ? `! ${l}` : `  ${l}`);
      if (this.lines.length > this.max) this.lines.shift();
    }
  }
}

/** The hops as the journal records them. */
function plannedHops(plan: UpgradePlan): PlannedHop[] {
  return plan.hops.map((h) => ({
    index: h.index,
    from: h.from,
    to: h.to,
    steps: h.steps.map((s) => ({ id: s.id, kind: s.kind, node: s.node, batch: s.batch })),
  }));
}

/** The lines a step runs through the executor. */
export function stepLines(s: UpgradeStep): string[] {
  return s.actions.flatMap((a) => (a.do === 'run' ? a.commands : []));
}

/** The cluster's versions now: one round of reads (nodes, kube-system pods, kubeadm-config, addons). */
export async function readLiveVersions(
  deps: Pick<ApplyDeps, 'info' | 'kube'>,
): Promise<{ versions: ClusterVersions; pods: Pod[]; inMaintenance: Set<string> }> {
  const [version, kubeadmConfig, nodes, pods, kubeProxy, coredns] = await Promise.all([
    deps.info.getVersion(),
    deps.info.getConfigMap('kube-system', 'kubeadm-config'),
    deps.kube.listNodes(),
    deps.kube.listPods({ namespace: 'kube-system' }),
    deps.info.findDaemonSet('kube-system', 'kube-proxy'),
    deps.info.findDeployment('kube-system', 'coredns'),
  ]);
  const inMaintenance = new Set(
    nodes.filter((n) => maintenanceState(n) !== undefined).map((n) => n.metadata.name ?? ''),
  );
  return {
    versions: clusterVersions({ version, kubeadmConfig, nodes, pods: pods.items, kubeProxy, coredns }),
    pods: pods.items,
    inMaintenance,
  };
}

function mirrorFacts(pods: readonly Pod[], node: string, component: string): MirrorPodFacts | undefined {
  const p = pods.find(
    (x) =>
      x.spec?.nodeName === node &&
      x.metadata.labels?.['component'] === component &&
      x.metadata.labels?.['tier'] === 'control-plane',
  );
  if (!p) return undefined;
  return {
    component,
    image:
      p.spec?.containers?.find((c) => c.name === component)?.image ?? p.spec?.containers?.[0]?.image ?? '',
    ready: (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
    hash: p.metadata.annotations?.['kubernetes.io/config.hash'],
  };
}

/** How long a step's proofs may take to show in a read after the engine said done (ms). */
const SETTLE_MS = 10_000;

/** How long apply waits for an API server that does not answer before it gives up (ms). */
const API_UNAVAILABLE_MS = 120_000;

const CONTROL_PLANE_COMPONENTS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'];

/** Carries out the upgrade. @throws UsageError (bad input), BosunError (refused, failed, interrupted). */
export async function applyUpgrade(opts: ApplyOptions, deps: ApplyDeps): Promise<ApplyResult> {
  // A rollout in the way is named before the cluster is even read for the plan.
  if (!opts.waitForLock) await deps.lock.check();
  const emit = (e: ApplyEvent): void =>
    deps.observer?.({ ...e, time: deps.clock.now().toISOString() } as TimedApplyEvent);
  // An unfinished rollout of this target: its kubelet steps not done are planned again, whatever
  // version their nodes report now.
  const before = await deps.journal.read();
  const unfinished =
    before.found === 'journal' &&
    before.journal.phase !== 'succeeded' &&
    before.journal.to === parseVersion(opts.to)?.text
      ? before.journal.hops.flatMap((h) =>
          h.steps
            .filter((s) => s.kind === 'kubelet' && s.state !== 'done' && s.node !== undefined)
            .map((s) => ({ hop: h.to, node: s.node ?? '' })),
        )
      : [];
  const report = await makeUpgradePlan(
    {
      unfinished,
      to: opts.to,
      maxUnavailable: opts.maxUnavailable,
      recipe: opts.recipe,
      drain: opts.drain,
      windowMs: opts.windowMs,
      skipCertificates: opts.skipCertificates,
    },
    { info: deps.info, kube: deps.kube, releases: deps.releases, tls: deps.tls, clock: deps.clock },
  );
  const plan = report.plan;
  if (!plan) throw new BosunError('no plan was made', 'INTERNAL');
  for (const f of report.preflight.findings)
    if (f.severity !== 'ok')
      emit({
        type: 'preflight',
        severity: f.severity,
        check: f.check,
        subject: f.subject,
        message: f.message,
      });
  const errors = report.preflight.findings.filter((f) => f.severity === 'error');
  if (errors.length > 0 || !plan.legal)
    throw new RolloutFailed(
      `the upgrade to ${plan.to} cannot start: ${errors.length} pre-flight error${errors.length === 1 ? '' : 's'}`,
      errors.map((f) => `${f.check}: ${f.subject}: ${f.message}${f.hint ? ` (${f.hint})` : ''}`),
      `Nothing was changed. See them with: bosun upgrade plan --to ${plan.to}`,
    );
  if (plan.hops.every((h) => h.steps.every((s) => s.done || s.kind === 'etcd-backup'))) {
    emit({
      type: 'end',
      phase: 'succeeded',
      message: `the cluster runs ${plan.to} everywhere: nothing to do`,
    });
    return { journal: undefined, ran: [], found: [] };
  }
  if (!(await deps.confirm(report)))
    throw new BosunError('the upgrade was not confirmed: nothing was changed', 'INTERRUPTED');

  const lock = await deps.lock.acquire({
    wait: opts.waitForLock,
    signal: deps.signal,
    onBlocked: (who) => emit({ type: 'lock', state: 'waiting', detail: who }),
  });
  emit({
    type: 'lock',
    state: 'acquired',
    detail: lock.takenOver.length > 0 ? `taken over from ${lock.takenOver.join(', ')}` : 'free',
  });
  const signal = deps.signal ? AbortSignal.any([deps.signal, lock.signal]) : lock.signal;
  const run = new Rollout(opts, deps, plan, signal, emit);
  try {
    return await run.execute();
  } finally {
    await lock.release().catch(() => undefined);
  }
}

/** One run of the rollout, holding the lock. */
class Rollout {
  private id = '';
  /** The journal as last written by this run. */
  private journal!: RolloutJournal;
  /** The live read that proved the last batch of kubelets done, for the next batch to decide on. */
  private settled: Awaited<ReturnType<typeof readLiveVersions>> | undefined;
  private readonly ran: string[] = [];
  private readonly found: string[] = [];

  constructor(
    private readonly opts: ApplyOptions,
    private readonly deps: ApplyDeps,
    private readonly plan: UpgradePlan,
    private readonly signal: AbortSignal,
    private readonly emit: (e: ApplyEvent) => void,
  ) {}

  private now(): Date {
    return this.deps.clock.now();
  }

  /** Writes to the journal, refusing a journal that another rollout has replaced meanwhile. */
  private async write(change: (j: RolloutJournal) => RolloutJournal): Promise<RolloutJournal> {
    const j = await this.deps.journal.update((cur) => {
      if (!cur || cur.id !== this.id)
        throw new BosunError(
          `the upgrade journal was replaced by ${cur?.id ?? 'nothing'} while ${this.id} ran`,
          'CONFLICT',
          { hint: 'Another bosun took over this rollout: check bosun upgrade status.' },
        );
      // Another run resumed this rollout (it took the lock over after ours expired): stop writing.
      const last = cur.runs.at(-1);
      if (last?.by !== this.opts.identity)
        throw new BosunError(
          `the rollout ${this.id} was taken over by ${last?.by ?? 'another run'}`,
          'CONFLICT',
          { hint: 'This run lost the cluster lock: check bosun upgrade status.' },
        );
      return change(cur);
    });
    if (!j) throw new BosunError('the upgrade journal is gone', 'CONFLICT');
    this.journal = j;
    return j;
  }

  private async open(): Promise<RolloutJournal> {
    const hops = plannedHops(this.plan);
    let resumed = false;
    const j = await this.deps.journal.update((cur) => {
      const unfinished = cur && cur.phase !== 'succeeded';
      if (unfinished && cur.to !== this.plan.to)
        throw new BosunError(
          `an upgrade to ${cur.to} is unfinished (journal ${cur.id}, ${cur.phase}): finish it first`,
          'PRECONDITION',
          {
            hint: `Resume it with: bosun upgrade apply --to ${cur.to}  (or forget it: kubectl -n ${this.deps.journal.namespace} delete configmap ${this.deps.journal.name})`,
          },
        );
      if (unfinished) {
        resumed = true;
        return { ...runStarted(cur, this.opts.identity, this.now()), hops: mergeHops(cur.hops, hops) };
      }
      resumed = false;
      return newJournal({
        from: this.plan.from,
        to: this.plan.to,
        maxUnavailable: this.plan.maxUnavailable,
        batchSize: this.plan.batchSize,
        hops,
        by: this.opts.identity,
        now: this.now(),
      });
    });
    if (!j) throw new BosunError('the upgrade journal could not be written', 'INTERNAL');
    this.id = j.id;
    this.journal = j;
    this.emit({
      type: 'plan',
      from: j.from,
      to: this.plan.to,
      hops: this.plan.hops.map((h) => ({ to: h.to, steps: h.steps.length })),
      resumed,
      journal: `${this.deps.journal.namespace}/${this.deps.journal.name} (${j.id})`,
    });
    return j;
  }

  async execute(): Promise<ApplyResult> {
    await this.open();
    try {
      for (const hop of this.plan.hops) for (const g of groupsOf(hop)) await this.group(hop, g);
      // Every proof, once more, on the cluster as it ends.
      const live = await this.live();
      const open = this.plan.hops
        .flatMap((h) => h.steps)
        .filter((s) => s.kind !== 'etcd-backup' && this.isLast(s) && !proofsHold(s.proofs, live.versions));
      if (open.length > 0)
        throw new RolloutFailed(
          `the rollout ran every step, but ${open.length} no longer hold${open.length === 1 ? 's' : ''}`,
          open.flatMap((s) => unmetProofs(s.proofs, live.versions).map((l) => `${s.id}: ${l}`)),
          'Something changed the cluster meanwhile: run bosun upgrade apply again.',
        );
      const journal = await this.write((j) => runEnded(j, 'succeeded', undefined, this.now()));
      this.emit({ type: 'end', phase: 'succeeded' });
      return { journal, ran: this.ran, found: this.found };
    } catch (e) {
      const interrupted = this.signal.aborted;
      const outcome: JournalOutcome = {
        message: errorMessage(e),
        ...(e instanceof RolloutFailed ? { diagnosis: e.diagnosis } : {}),
        ...(e instanceof RolloutFailed && e.at.step ? { step: e.at.step } : {}),
        ...(e instanceof RolloutFailed && e.at.node ? { node: e.at.node } : {}),
        ...(isBosunError(e) && e.hint ? { hint: e.hint } : {}),
      };
      await this.write((j) => runEnded(j, interrupted ? 'interrupted' : 'failed', outcome, this.now())).catch(
        () => undefined,
      );
      this.emit({ type: 'end', phase: interrupted ? 'interrupted' : 'failed', message: errorMessage(e) });
      if (interrupted && !(e instanceof RolloutFailed))
        throw new BosunError(`interrupted: ${errorMessage(e)}`, 'INTERRUPTED', {
          cause: e,
          hint: `The journal keeps where it stopped: run bosun upgrade apply --to ${this.plan.to} again to resume.`,
        });
      throw e;
    }
  }

  /** Whether the step is the last one of its node's kind (the target's steps are what must hold at the end). */
  private isLast(s: UpgradeStep): boolean {
    const last = this.plan.hops.at(-1);
    return last !== undefined && last.steps.includes(s);
  }

  /** Runs a request, waiting out an API server that does not answer for a while (503s, a restart). */
  private async retrying<T>(fn: () => Promise<T>): Promise<T> {
    const started = this.now().getTime();
    for (;;) {
      this.checkSignal();
      try {
        return await fn();
      } catch (e) {
        if (!isRetryable(e) || this.now().getTime() - started > API_UNAVAILABLE_MS) throw e;
        this.emit({
          type: 'action',
          id: 'api',
          what: `the API server did not answer, retrying: ${errorMessage(e)}`,
        });
        await this.deps.clock.sleep(this.opts.pollMs, this.signal).catch(() => undefined);
      }
    }
  }

  /** Reads the live versions, waiting out an API server that does not answer for a while. */
  private live(): Promise<Awaited<ReturnType<typeof readLiveVersions>>> {
    return this.retrying(() => readLiveVersions(this.deps));
  }

  private checkSignal(): void {
    if (this.signal.aborted) {
      const r: unknown = this.signal.reason;
      throw r instanceof Error ? r : new BosunError('interrupted', 'INTERRUPTED');
    }
  }

  private async group(hop: UpgradeHop, g: StepGroup): Promise<void> {
    this.checkSignal();
    if (g.kind === 'backup') return this.backupStep(hop, g.steps[0]!);
    // The read that proved the previous batch done is fresh enough for the next batch's decisions.
    const live = this.settled ?? (await this.live());
    this.settled = undefined;
    const todo: UpgradeStep[] = [];
    for (const s of g.steps) {
      const js = findStep(this.journal, s.id);
      const st = standing(s, js?.state === 'done', live.versions, live.inMaintenance);
      if (st === 'todo') todo.push(s);
      else {
        if (st === 'found-done' || js?.state !== 'done') {
          await this.write((j) => stepDone(j, s.id, 'found', this.now()));
          this.found.push(s.id);
        }
        this.emit({
          type: 'step',
          id: s.id,
          node: s.node,
          phase: 'skipped',
          detail: st === 'done' ? 'done' : 'found done',
        });
      }
    }
    if (todo.length === 0) return;
    await this.ensureBackup(hop);
    const verdict = judgeGroup(live.versions, { kind: g.kind, steps: todo }, hop.to);
    if (!verdict.legal) {
      const lines = verdict.introduced.map((v) => v.message);
      for (const s of todo)
        await this.write((j) => stepFailed(j, s.id, `refused: it would break the skew policy`, this.now()));
      throw new RolloutFailed(
        `${todo.map((s) => s.id).join(', ')} refused: ${lines[0] ?? 'it would break the Version Skew Policy'}`,
        lines,
        'The cluster is not where the plan expected it: run bosun upgrade plan to see why.',
      );
    }
    await this.readyBeforeStep(todo[0]!, live.versions);
    if (g.kind === 'control-plane') return this.controlPlane(hop, todo[0]!, live.pods);
    return this.kubelets(hop, todo);
  }

  // -- backups --

  private async backupStep(hop: UpgradeHop, s: UpgradeStep): Promise<void> {
    const fresh = backupFresh(this.journal.backups, this.now(), this.opts.backupMaxAgeMs);
    if (findStep(this.journal, s.id)?.state === 'done' && (this.opts.skipBackup || fresh)) {
      this.emit({ type: 'step', id: s.id, phase: 'skipped', detail: 'done' });
      return;
    }
    await this.write((j) => stepStarted(j, s.id, this.now()));
    this.emit({ type: 'step', id: s.id, phase: 'start' });
    if (this.opts.skipBackup) {
      await this.write((j) =>
        stepDone(stepAction(j, s.id, 'skipped: --skip-backup', this.now()), s.id, 'ran', this.now()),
      );
      this.emit({ type: 'step', id: s.id, phase: 'done', detail: 'skipped (--skip-backup)' });
      return;
    }
    await this.ensureBackup(hop, s.id);
    await this.write((j) => stepDone(j, s.id, 'ran', this.now()));
    this.ran.push(s.id);
    this.emit({ type: 'step', id: s.id, phase: 'done', detail: this.journal.backups.at(-1)?.file });
  }

  /** A fresh verified backup, taken now unless the newest recorded one is young enough. */
  private async ensureBackup(hop: UpgradeHop, stepId?: string): Promise<void> {
    if (this.opts.skipBackup) return;
    const fresh = backupFresh(this.journal.backups, this.now(), this.opts.backupMaxAgeMs);
    if (fresh) {
      if (stepId) {
        const b = this.journal.backups.at(-1);
        this.emit({ type: 'backup', file: fresh.file, revision: b?.revision ?? 0, reused: true });
        await this.write((j) =>
          stepAction(j, stepId, `backup ${fresh.file} of ${fresh.takenAt} is fresh`, this.now()),
        );
      }
      return;
    }
    let b: Omit<JournalBackup, 'hop'>;
    try {
      b = await this.retrying(() => this.deps.backup.take(this.signal));
    } catch (e) {
      throw new RolloutFailed(
        `no step starts without a verified etcd backup, and it failed: ${errorMessage(e)}`,
        [],
        isBosunError(e) && e.hint ? e.hint : 'Fix the backup, or pass --skip-backup if you have one.',
      );
    }
    this.emit({ type: 'backup', file: b.file, revision: b.revision, reused: false });
    await this.write((j) => {
      const withBackup = backupTaken(j, { ...b, hop: hop.to }, this.now());
      return stepId
        ? stepAction(withBackup, stepId, `backup ${b.file} (revision ${b.revision})`, this.now())
        : withBackup;
    });
  }

  // -- control planes --

  private async controlPlane(hop: UpgradeHop, s: UpgradeStep, podsBefore: readonly Pod[]): Promise<void> {
    const node = s.node ?? '';
    await this.write((j) => stepStarted(j, s.id, this.now()));
    this.emit({ type: 'step', id: s.id, node, phase: 'start' });
    const before = new Map(CONTROL_PLANE_COMPONENTS.map((c) => [c, mirrorFacts(podsBefore, node, c)]));
    const tail = new Tail();
    for (const line of stepLines(s)) {
      this.checkSignal();
      this.emit({ type: 'command', id: s.id, node, line });
      let r: LineResult;
      try {
        r = await this.deps.recipes.run(node, line, {
          signal: this.signal,
          timeoutMs: this.opts.commandTimeoutMs || undefined,
          onOutput: (stream, text) => {
            tail.push(stream, text);
            this.emit({ type: 'output', id: s.id, node, stream, text });
          },
        });
      } catch (e) {
        this.checkSignal();
        return this.failStep(
          s,
          `could not run "${line}" on ${node}: ${errorMessage(e)}`,
          [],
          'Check --exec / --on-node and that the node is reachable.',
        );
      }
      this.checkSignal();
      if (r.exitCode !== 0) {
        const why = r.timedOut ? 'timed out' : `exited with ${r.exitCode ?? 'a signal'}`;
        const diagnosis = [`${line} ${why} on ${node}; its last output:`, ...tail.lines];
        const component = staticPodTimeout(tail.lines);
        if (component !== undefined) {
          const { pods } = await readLiveVersions(this.deps).catch(() => ({ pods: [] as Pod[] }));
          diagnosis.push(
            ...diagnoseStaticPodTimeout(
              node,
              component,
              before.get(component),
              mirrorFacts(pods, node, component),
            ),
          );
        }
        diagnosis.push(...(await this.nodeDiagnosis(node, [`the recipe failed: ${line} ${why}`])));
        return this.failStep(
          s,
          component !== undefined
            ? `${line} on ${node}: kubeadm timed out waiting for the static pod ${component}`
            : `${line} ${why} on ${node}`,
          diagnosis,
          'Fix the cause on the node, then run bosun upgrade apply again: it resumes at this step.',
        );
      }
    }
    await this.write((j) => stepAction(j, s.id, `recipe done on ${node}`, this.now()));
    this.emit({
      type: 'action',
      id: s.id,
      node,
      what: `waiting for the static pods of ${node} at ${hop.to}`,
    });
    const held = await this.waitFor(s, this.opts.staticPodTimeoutMs);
    if (held !== true)
      return this.failStep(
        s,
        `${node}'s control plane did not show ${hop.to} within ${Math.round(this.opts.staticPodTimeoutMs / 1000)}s: ${held[0] ?? ''}`,
        [...held, ...(await this.nodeDiagnosis(node, held))],
        'Check the static pods on the node (crictl ps, the kubelet log), then run bosun upgrade apply again.',
      );
    await this.write((x) => stepDone(x, s.id, 'ran', this.now()));
    this.ran.push(s.id);
    this.emit({ type: 'step', id: s.id, node, phase: 'done' });
  }

  /**
   * Every node must be Ready before a step starts (the pre-flight found them so): nodes that missed
   * their heartbeats while a kube-apiserver restarted report again within moments, and a drain
   * planned meanwhile would find no node to move the pods to. One that stays NotReady stops the
   * rollout before the step touches anything.
   */
  private async readyBeforeStep(step: UpgradeStep, first: ClusterVersions): Promise<void> {
    const notReady = (v: ClusterVersions): string[] => v.nodes.filter((n) => !n.ready).map((n) => n.name);
    if (notReady(first).length === 0) return;
    const deadline = this.now().getTime() + this.opts.staticPodTimeoutMs;
    for (;;) {
      await this.deps.clock.sleep(this.opts.pollMs, this.signal).catch(() => undefined);
      const live = await this.live();
      const down = notReady(live.versions);
      if (down.length === 0) return;
      if (this.now().getTime() >= deadline)
        return this.failStep(
          step,
          `${down.join(', ')} ${down.length === 1 ? 'is' : 'are'} not Ready: ${step.id} does not start until every node reports`,
          await this.nodeDiagnosis(down[0] ?? '', [`${down[0] ?? ''} is NotReady`]),
          `Nothing was done in ${step.id}. Bring the node back, then run bosun upgrade apply --to ${this.plan.to} again.`,
        );
    }
  }

  /** Waits until the step's proofs hold; true, or the proofs still unmet at the deadline. */
  private async waitFor(s: UpgradeStep, timeoutMs: number): Promise<true | string[]> {
    const deadline = this.now().getTime() + timeoutMs;
    let unmet: string[];
    for (;;) {
      this.checkSignal();
      try {
        const live = await readLiveVersions(this.deps);
        if (proofsHold(s.proofs, live.versions)) return true;
        unmet = unmetProofs(s.proofs, live.versions);
      } catch (e) {
        // The API server this step restarts may not answer for a moment.
        unmet = [`the API server did not answer: ${errorMessage(e)}`];
      }
      if (this.now().getTime() >= deadline) return unmet;
      await this.deps.clock.sleep(this.opts.pollMs, this.signal).catch(() => undefined);
    }
  }

  private async nodeDiagnosis(node: string, problems: string[]): Promise<string[]> {
    try {
      const [n, events] = await Promise.all([
        this.deps.kube.getNode(node),
        this.deps.kube.listEvents({ fieldSelector: `involvedObject.name=${node}` }).catch(() => []),
      ]);
      return diagnose(n, { healthy: false, problems }, events);
    } catch (e) {
      return [`(node ${node} could not be read: ${errorMessage(e)})`];
    }
  }

  private async failStep(s: UpgradeStep, message: string, diagnosis: string[], hint: string): Promise<never> {
    await this.write((j) => stepFailed(j, s.id, message, this.now())).catch(() => undefined);
    this.emit({ type: 'step', id: s.id, node: s.node, phase: 'failed', detail: message });
    throw new RolloutFailed(message, diagnosis, hint, { step: s.id, node: s.node });
  }

  // -- kubelets --

  private async kubelets(hop: UpgradeHop, steps: UpgradeStep[]): Promise<void> {
    const results = await Promise.allSettled(steps.map((s) => this.kubelet(hop, s)));
    if (results.every((r) => r.status === 'fulfilled'))
      // One read for the whole batch: every step's proofs, and the next batch's decisions.
      this.settled = await this.settle(steps);
    const failed = results
      .map((r, i) => ({ r, s: steps[i]! }))
      .filter((x): x is { r: PromiseRejectedResult; s: UpgradeStep } => x.r.status === 'rejected');
    if (failed.length === 0) return;
    const first = failed[0]!.r.reason as unknown;
    if (failed.length === 1 || !(first instanceof RolloutFailed)) throw first;
    throw new RolloutFailed(
      `${failed.length} nodes of batch ${steps[0]?.batch ?? ''} failed: ${failed.map((f) => f.s.node).join(', ')}; first: ${first.message}`,
      failed.flatMap((f) =>
        f.r.reason instanceof RolloutFailed
          ? [`${f.s.node}: ${f.r.reason.message}`, ...f.r.reason.diagnosis]
          : [`${f.s.node}: ${errorMessage(f.r.reason)}`],
      ),
      first.hint ?? '',
    );
  }

  private async kubelet(hop: UpgradeHop, s: UpgradeStep): Promise<void> {
    const node = s.node ?? '';
    await this.write((j) => stepStarted(j, s.id, this.now()));
    this.emit({ type: 'step', id: s.id, node, batch: s.batch, phase: 'start' });
    const lines = stepLines(s);
    const reboots = (l: string): boolean => looksLikeReboot(l.split(/[\s;&|()]+/).filter((w) => w !== ''));
    const tail = new Tail();
    const work: KubeletWork = {
      describe: `upgrade ${node} to ${hop.to}: ${lines.length} recipe lines, then kubelet ${hop.to} reported`,
      expectReboot: lines.some(reboots),
      run: async (ctx) => {
        for (const line of lines) {
          this.emit({ type: 'command', id: s.id, node, line });
          let r: LineResult;
          try {
            r = await this.deps.recipes.run(node, line, {
              signal: ctx.signal,
              timeoutMs: this.opts.commandTimeoutMs || undefined,
              // Killed during a line that does not reboot, the next run runs the recipe again
              // rather than wait for a reboot that line never asked for.
              onStart: (p) => ctx.onStart(p, { rebootsNot: !reboots(line) }),
              onOutput: (stream, text) => {
                tail.push(stream, text);
                ctx.onOutput(stream, text);
                this.emit({ type: 'output', id: s.id, node, stream, text });
              },
            });
          } catch (e) {
            if (ctx.signal?.aborted) throw e;
            return {
              ok: false,
              message: `could not run "${line}": ${errorMessage(e)}`,
              exitCode: null,
              timedOut: false,
              notStarted: true,
            };
          }
          if (r.exitCode !== 0)
            return {
              ok: false,
              message: `${line} ${r.timedOut ? 'timed out' : `exited with ${r.exitCode ?? 'a signal'}`}`,
              exitCode: r.exitCode,
              timedOut: r.timedOut,
            };
        }
        // The work is done when the kubelet says so, not when the last command exited 0.
        this.emit({
          type: 'action',
          id: s.id,
          node,
          what: `waiting for the kubelet of ${node} to report ${hop.to}`,
        });
        const deadline = this.now().getTime() + this.opts.kubeletTimeoutMs;
        let reported = '';
        for (;;) {
          try {
            reported = (await this.deps.kube.getNode(node)).status?.nodeInfo?.kubeletVersion ?? '';
            if (reported === hop.to) return { ok: true };
          } catch (e) {
            if (ctx.signal?.aborted) throw e;
          }
          if (this.now().getTime() >= deadline)
            return {
              ok: false,
              message: `the kubelet on ${node} reports ${reported || 'nothing'}, not ${hop.to}, ${Math.round(this.opts.kubeletTimeoutMs / 1000)}s after its recipe`,
              exitCode: 0,
              timedOut: true,
            };
          await this.deps.clock.sleep(this.opts.pollMs, ctx.signal);
        }
      },
    };
    const r = await this.deps.maintain(node, work, {
      signal: this.signal,
      onPhase: (phase, detail) => {
        this.emit({ type: 'action', id: s.id, node, what: detail ? `${phase}: ${detail}` : phase });
        void this.write((j) => stepAction(j, s.id, phase, this.now())).catch(() => undefined);
      },
    });
    this.checkSignal();
    if (r.outcome !== 'done') {
      // The engine diagnoses a node that is not healthy; a failed recipe gets the node's conditions
      // and events here, after the recipe's own output.
      const diagnosis = [...(r.diagnosis ?? [])];
      if (diagnosis.length === 0)
        diagnosis.push(...(await this.nodeDiagnosis(node, [r.message ?? r.outcome])));
      if (tail.lines.length > 0) diagnosis.unshift(`the recipe's last output on ${node}:`, ...tail.lines);
      const cordoned = await this.deps.kube
        .getNode(node)
        .then((n) => n.spec?.unschedulable === true)
        .catch(() => true);
      return this.failStep(
        s,
        `${node}: ${r.message ?? r.outcome}`,
        diagnosis,
        r.outcome === 'refused' && r.hint
          ? r.hint
          : `${node} ${cordoned ? 'is left cordoned' : 'was not cordoned'}. Fix the cause, then run bosun upgrade apply --to ${this.plan.to} again: it resumes at this node.`,
      );
    }
  }

  /**
   * After the engine said done for every node of a batch: reads until each step's proofs hold and
   * no maintenance is left on its node (the engine's last write may not be in every API server's
   * view yet), then records the steps done. Returns that read.
   */
  private async settle(steps: readonly UpgradeStep[]): Promise<Awaited<ReturnType<typeof readLiveVersions>>> {
    const deadline = this.now().getTime() + SETTLE_MS;
    for (;;) {
      const live = await this.live();
      const open = steps.filter(
        (s) => !proofsHold(s.proofs, live.versions) || live.inMaintenance.has(s.node ?? ''),
      );
      if (open.length === 0) {
        for (const s of steps) {
          await this.write((j) => stepDone(j, s.id, 'ran', this.now()));
          this.ran.push(s.id);
          this.emit({ type: 'step', id: s.id, node: s.node, phase: 'done' });
        }
        return live;
      }
      if (this.now().getTime() >= deadline) {
        const s = open[0]!;
        return this.failStep(
          s,
          `${s.node ?? ''} finished its maintenance but ${unmetProofs(s.proofs, live.versions).join('; ') || 'its maintenance state is still on the node'}`,
          unmetProofs(s.proofs, live.versions),
          'Someone changed the node meanwhile: run bosun upgrade apply again.',
        );
      }
      await this.deps.clock.sleep(this.opts.pollMs, this.signal).catch(() => undefined);
    }
  }
}
