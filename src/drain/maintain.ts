// `bosun maintain NODE -- COMMAND...`: the whole workflow of the maintenance guide, resumable.
//   cordon + drain  ->  run the command  ->  wait until the node is healthy  ->  uncordon
//   ->  wait until the workloads it evicted are as Ready as before
// The node carries the workflow's state (annotations.ts MAINTENANCE_STATE), so an interrupted run
// continues from any machine: the drain resumes, a command that was running is run again (it must
// be safe to repeat, as apt-get upgrade or a reboot is), a command that finished is not. A node that
// is not healthy in time stays cordoned, with a diagnosis. bosun never takes over a cordon someone
// else made: such a node is refused.
import type { Clock, Exec } from '../common/ports.ts';
import { BosunError, errorMessage } from '../common/errors.ts';
import { isNotFound, isRetryable } from '../kube/errors.ts';
import type { NodeHealth, NodePods } from '../kube/ports.ts';
import type { Lease, Node, Pod } from '../kube/types.ts';
import { MAINTENANCE_STATE, cordonInfo, rfc3339 } from './annotations.ts';
import { uncordonNode } from './cordon.ts';
import { drainNode, type DrainObserver, type DrainOptions, type NodeDrainResult } from './drainer.ts';
import { controllerOf, isFinished, isMirrorPod } from './filters.ts';
import { NODE_LEASE_NAMESPACE, checkNodeHealth, diagnose, type HealthVerdict } from './health.ts';
import { isPodReady } from './preflight.ts';

/** A workload whose pods the drain moves, and how many of its pods were Ready before. */
export interface WorkloadRecord {
  kind: string;
  namespace: string;
  name: string;
  uid: string;
  readyBefore: number;
}

/** The state kept on the node in MAINTENANCE_STATE. */
export interface MaintenanceState {
  phase: 'draining' | 'working' | 'worked' | 'restoring';
  startedAt: string;
  by: string;
  command: string;
  bootIdBefore?: string;
  commandFinishedAt?: string;
  workloads: WorkloadRecord[];
  /** DaemonSets ("namespace/name") that had a pod on the node. */
  daemonSets: string[];
}

/** Options of the workflow. */
export interface MaintainOptions {
  /** Drain options; owner.why is replaced by "maintain: <command>". */
  drain: DrainOptions;
  /** The command, argv form; every "{node}" is replaced by the node's name. */
  command: readonly string[];
  /** How long to wait for the node to be healthy after the command (ms). */
  healthTimeoutMs: number;
  /** How long the node must stay healthy before it is uncordoned (ms). */
  healthSettleMs: number;
  /** How long to wait for the evicted workloads to be Ready again (ms). */
  restoreTimeoutMs: number;
  /** Interval between health and restore checks (ms). */
  pollMs: number;
  /** Require a new boot ID before the node counts as healthy. */
  expectReboot: boolean;
  /** Environment for the command (PATH already adjusted for --on-node). */
  env: Readonly<Record<string, string | undefined>>;
  /** Working directory for the command. */
  cwd?: string;
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
  | { type: 'restore'; node: string; waiting: { workload: WorkloadRecord; ready: number }[] }
  /** The API server did not answer a request that is being retried (the node was healthy already). */
  | { type: 'api-down'; node: string; message: string };

/** What maintain needs. */
export interface MaintainDeps {
  kube: NodePods & NodeHealth;
  clock: Clock;
  exec: Exec;
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
    | 'interrupted';
  message?: string;
  hint?: string;
  drain?: NodeDrainResult;
  /** Lines of the diagnosis when the node was not healthy. */
  diagnosis?: string[];
  resumed: boolean;
  commandExitCode?: number | null;
}

/** Reads MAINTENANCE_STATE. */
export function maintenanceState(node: Node): MaintenanceState | undefined {
  const raw = node.metadata.annotations?.[MAINTENANCE_STATE];
  if (raw === undefined) return undefined;
  try {
    const v = JSON.parse(raw) as MaintenanceState;
    if (typeof v === 'object' && v !== null && typeof v.phase === 'string' && Array.isArray(v.workloads))
      return v;
  } catch {
    // unreadable: start over
  }
  return undefined;
}

/** Replaces {node} in every word of the command. */
export function substituteNode(command: readonly string[], node: string): string[] {
  return command.map((w) => w.split('{node}').join(node));
}

/** Whether the command reboots the machine (reboot, systemctl reboot, shutdown -r). */
export function looksLikeReboot(command: readonly string[]): boolean {
  const words = command.map((w) => w.split('/').pop() ?? w);
  const joined = ` ${words.join(' ')} `;
  return /\s(reboot)\s/.test(joined) || /\sshutdown\s.*-r\b/.test(joined);
}

/** Where the sandbox keeps a node's host shims, given the sandbox directory. */
export function sandboxShimDir(sandboxDir: string, node: string): string {
  return `${sandboxDir.replace(/\/+$/, '')}/nodes/${node}/host/bin`;
}

/**
 * The sandbox directory for --on-node: --sandbox-dir when given, else the directory of the
 * kubeconfig in use when it is a sandbox's admin.conf (DIR/admin.conf with DIR/nodes beside it).
 */
export function resolveSandboxDir(opts: {
  sandboxDir?: string | undefined;
  kubeconfigFiles: readonly string[];
  isDir: (p: string) => boolean;
}): string | undefined {
  if (opts.sandboxDir) return opts.sandboxDir;
  for (const f of opts.kubeconfigFiles) {
    const slash = f.lastIndexOf('/');
    const dir = slash > 0 ? f.slice(0, slash) : '.';
    if (f.endsWith('/admin.conf') && opts.isDir(`${dir}/nodes`)) return dir;
  }
  return undefined;
}

function workloadsOf(
  nodeName: string,
  pods: readonly Pod[],
): { workloads: WorkloadRecord[]; daemonSets: string[] } {
  const onNode = pods.filter((p) => p.spec?.nodeName === nodeName && !isFinished(p) && !isMirrorPod(p));
  const workloads = new Map<string, WorkloadRecord>();
  const daemonSets = new Set<string>();
  for (const p of onNode) {
    const c = controllerOf(p);
    if (!c) continue;
    const ns = p.metadata.namespace ?? 'default';
    if (c.kind === 'DaemonSet') {
      daemonSets.add(`${ns}/${c.name}`);
      continue;
    }
    if (c.kind === 'Job' || c.kind === 'Node') continue;
    if (!workloads.has(c.uid)) {
      const readyBefore = pods.filter(
        (q) =>
          controllerOf(q)?.uid === c.uid &&
          !q.metadata.deletionTimestamp &&
          q.status?.phase === 'Running' &&
          isPodReady(q),
      ).length;
      workloads.set(c.uid, { kind: c.kind, namespace: ns, name: c.name, uid: c.uid, readyBefore });
    }
  }
  return { workloads: [...workloads.values()], daemonSets: [...daemonSets] };
}

/** Ready pods per workload now. */
function readyCounts(
  records: readonly WorkloadRecord[],
  pods: readonly Pod[],
): { workload: WorkloadRecord; ready: number }[] {
  return records.map((w) => ({
    workload: w,
    ready: pods.filter(
      (p) =>
        controllerOf(p)?.uid === w.uid &&
        !p.metadata.deletionTimestamp &&
        p.status?.phase === 'Running' &&
        isPodReady(p),
    ).length,
  }));
}

class Interrupted extends Error {}

/** Runs the workflow on one node (or continues it). */
export async function maintainNode(
  name: string,
  opts: MaintainOptions,
  deps: MaintainDeps,
): Promise<MaintainResult> {
  const emit = deps.observer ?? ((): void => undefined);
  const { kube, clock } = deps;
  const commandText = opts.command.join(' ');
  const owner = { who: opts.drain.owner.who, why: `maintain: ${commandText}`.slice(0, 200) };
  let node = await kube.getNode(name);
  let state = maintenanceState(node);
  const resumed = state !== undefined;
  const result = (r: Omit<MaintainResult, 'node' | 'resumed'>): MaintainResult => ({
    node: name,
    resumed,
    ...r,
  });

  const writeState = async (s: MaintenanceState): Promise<void> => {
    state = s;
    node = await kube.patchNode(name, {
      metadata: { annotations: { [MAINTENANCE_STATE]: JSON.stringify(s) } },
    });
  };
  const clearState = async (): Promise<void> => {
    node = await kube.patchNode(name, { metadata: { annotations: { [MAINTENANCE_STATE]: null } } });
  };
  const sleep = async (ms: number): Promise<void> => {
    try {
      await clock.sleep(ms, deps.signal);
    } catch {
      throw new Interrupted();
    }
  };
  // After the command the API server may be gone for a while: a reboot of the only control plane
  // takes it along. Until the health deadline that is one more reason the node is not healthy yet.
  const apiDown = (e: unknown): HealthVerdict => ({
    healthy: false,
    problems: [`the API server is not answering: ${errorMessage(e)}`],
  });
  let lastHealthKey = '';
  const reportHealth = (v: HealthVerdict): void => {
    const key = JSON.stringify(v);
    if (key === lastHealthKey) return;
    lastHealthKey = key;
    emit({ type: 'health', node: name, verdict: v });
  };
  let lastApiDown = '';
  /**
   * Runs fn again, every poll interval, while the API server is down or busy, until deadline (once
   * the node was healthy: each wait is reported as a wait of its own).
   */
  const whileApiDown = async <T>(fn: () => Promise<T>, deadline: number): Promise<T> => {
    for (;;) {
      if (deps.signal?.aborted) throw new Interrupted();
      try {
        return await fn();
      } catch (e) {
        if (!isRetryable(e) || clock.now().getTime() >= deadline) throw e;
        if (errorMessage(e) !== lastApiDown) {
          lastApiDown = errorMessage(e);
          emit({ type: 'api-down', node: name, message: lastApiDown });
        }
      }
      await sleep(opts.pollMs);
    }
  };
  let healthDeadline: number | undefined;
  // The command's end in this run, until the 'worked' state records it: after an exit 0 as soon as
  // the API server takes the write; after an exit a reboot may have caused (`cutOff`) only once the
  // node shows a new boot ID.
  let finishing:
    { at: string; command: string; cutOff?: { exitCode: number | null; why: string } } | undefined;

  try {
    // ---- 1. cordon + drain ----
    if (state === undefined) {
      const info = cordonInfo(node);
      if (info.cordoned && !info.ownedByBosun) {
        return result({
          outcome: 'refused',
          message: `node/${name} was cordoned outside bosun; bosun maintain will not take it over`,
          hint: `Uncordon it first if that cordon is stale, or use bosun drain ${name} (which leaves someone else's cordon alone).`,
        });
      }
      const pods = (await kube.listPods({ chunkSize: opts.drain.chunkSize })).items;
      const { workloads, daemonSets } = workloadsOf(name, pods);
      await writeState({
        phase: 'draining',
        startedAt: rfc3339(clock.now()),
        by: owner.who,
        command: commandText,
        ...(node.status?.nodeInfo?.bootID ? { bootIdBefore: node.status.nodeInfo.bootID } : {}),
        workloads,
        daemonSets,
      });
    }
    const st = (): MaintenanceState => {
      if (state === undefined) throw new Error('maintenance state missing');
      return state;
    };
    /** Records that the command finished (the 'worked' phase), which `finishing` held until now. */
    const recordFinished = async (at: string): Promise<void> => {
      await writeState({ ...st(), phase: 'worked', commandFinishedAt: at });
      finishing = undefined;
    };

    if (st().phase === 'draining') {
      emit({ type: 'phase', node: name, phase: 'drain', resumed });
      const d = await drainNode(
        name,
        { ...opts.drain, owner, dryRun: 'none' },
        {
          kube,
          clock,
          ...(deps.drainObserver ? { observer: deps.drainObserver } : {}),
          ...(deps.signal ? { signal: deps.signal } : {}),
        },
      );
      if (d.outcome !== 'drained') {
        if (
          d.outcome === 'refused' ||
          d.outcome === 'preflight-blocked' ||
          ((d.outcome === 'gave-up' || d.outcome === 'uncordoned') && !d.cordoned)
        )
          await clearState();
        if (d.outcome === 'interrupted') throw new Interrupted();
        return result({
          outcome: 'drain-failed',
          drain: d,
          ...(d.message ? { message: d.message } : {}),
          ...(d.hint ? { hint: d.hint } : {}),
        });
      }
      await writeState({ ...st(), phase: 'working' });
    }

    // ---- 2. the command ----
    if (st().phase === 'working') {
      const argv = substituteNode(opts.command, name);
      emit({
        type: 'phase',
        node: name,
        phase: 'command',
        resumed: resumed && st().phase === 'working',
        detail: argv.join(' '),
      });
      if (deps.signal?.aborted) throw new Interrupted();
      const [cmd, ...args] = argv;
      if (cmd === undefined) throw new BosunError('no command given after --', 'USAGE', { exitCode: 2 });
      let res;
      try {
        res = await deps.exec.run(cmd, args, {
          env: { ...opts.env },
          ...(opts.cwd ? { cwd: opts.cwd } : {}),
          ...(deps.signal ? { signal: deps.signal } : {}),
        });
      } catch (e) {
        if (deps.signal?.aborted) throw new Interrupted();
        return result({
          outcome: 'command-failed',
          message: `could not run ${cmd}: ${errorMessage(e)}`,
          hint: `node/${name} stays cordoned. Fix the command and run bosun maintain again (the drain is done), or give up with: bosun uncordon ${name}`,
          commandExitCode: null,
        });
      }
      for (const line of res.stdout.split('\n').filter((l) => l !== ''))
        emit({ type: 'command-output', node: name, stream: 'stdout', text: line });
      for (const line of res.stderr.split('\n').filter((l) => l !== ''))
        emit({ type: 'command-output', node: name, stream: 'stderr', text: line });
      if (deps.signal?.aborted && res.exitCode !== 0) throw new Interrupted();
      // A reboot often cuts its own command off: `ssh NODE sudo reboot` exits with 255 when the
      // node closes the connection, and a local command may die of the shutdown's signal. Whether
      // the node rebooted is then told by its boot ID, not by the exit code.
      const cutOff =
        res.exitCode !== 0 &&
        opts.expectReboot &&
        st().bootIdBefore !== undefined &&
        !res.timedOut &&
        (res.exitCode === 255 || res.exitCode === null);
      if (res.exitCode !== 0 && !cutOff) {
        return result({
          outcome: 'command-failed',
          message: `${argv.join(' ')} ${res.timedOut ? 'timed out' : `exited with ${res.exitCode ?? 'a signal'}`}`,
          hint: `node/${name} stays cordoned. Run bosun maintain again to retry the command, or give up with: bosun uncordon ${name}`,
          commandExitCode: res.exitCode,
        });
      }
      const command = argv.join(' ');
      finishing = {
        at: rfc3339(clock.now()),
        command,
        ...(cutOff
          ? {
              cutOff: {
                exitCode: res.exitCode,
                why: `${command} exited with ${res.exitCode ?? 'a signal'}, as a reboot that cuts it off does`,
              },
            }
          : {}),
      };
      healthDeadline = clock.now().getTime() + opts.healthTimeoutMs;
    } else if (resumed) {
      emit({ type: 'phase', node: name, phase: 'command', resumed: true, detail: 'already done' });
    }

    // ---- 3. healthy? ----
    if (st().phase === 'worked' || finishing) {
      emit({
        type: 'phase',
        node: name,
        phase: 'health',
        resumed,
        ...(finishing?.cutOff
          ? { detail: `${finishing.cutOff.why}; waiting for a new boot ID to tell` }
          : {}),
      });
      const deadline = healthDeadline ?? clock.now().getTime() + opts.healthTimeoutMs;
      const finishedAt = finishing?.at ?? st().commandFinishedAt;
      const since = finishedAt ? new Date(finishedAt) : undefined;
      let healthySince: number | undefined;
      let last: HealthVerdict = { healthy: false, problems: ['not checked yet'] };
      let apiError = '';
      for (;;) {
        if (deps.signal?.aborted) throw new Interrupted();
        try {
          if (finishing && !finishing.cutOff) await recordFinished(finishing.at);
          const seen = await kube.getNode(name);
          let lease: Lease | undefined;
          try {
            lease = await kube.getLease(NODE_LEASE_NAMESPACE, name);
          } catch (e) {
            if (!isNotFound(e)) throw e;
          }
          const pods = (
            await kube.listPods({ fieldSelector: `spec.nodeName=${name}`, chunkSize: opts.drain.chunkSize })
          ).items;
          node = seen;
          const boot = seen.status?.nodeInfo?.bootID;
          if (finishing && boot !== undefined && boot !== st().bootIdBefore)
            await recordFinished(finishing.at);
          last = checkNodeHealth({
            node,
            lease,
            pods,
            now: clock.now(),
            since,
            bootIdBefore: st().bootIdBefore,
            expectReboot: opts.expectReboot,
            daemonSets: st().daemonSets,
          });
        } catch (e) {
          if (!isRetryable(e)) throw e;
          last = apiDown(e);
          apiError = errorMessage(e);
        }
        const now = clock.now();
        reportHealth(last);
        if (last.healthy) {
          healthySince ??= now.getTime();
          if (now.getTime() - healthySince >= opts.healthSettleMs) break;
        } else healthySince = undefined;
        if (now.getTime() >= deadline && finishing) {
          const after = `${Math.round(opts.healthTimeoutMs / 1000)}s`;
          return finishing.cutOff
            ? result({
                outcome: 'command-failed',
                message: `${finishing.cutOff.why}, but node/${name} did not come back with a new boot ID within ${after}: ${last.problems.join('; ')}`,
                hint: `node/${name} stays cordoned. Run bosun maintain again to run the command again, or give up with: bosun uncordon ${name}`,
                commandExitCode: finishing.cutOff.exitCode,
              })
            : result({
                outcome: 'unhealthy',
                message: `${finishing.command} finished, but the API server did not answer for ${after}: ${apiError}`,
                hint: `node/${name} stays cordoned. When the API server is back, run bosun maintain again (bosun could not record that the command finished, so it runs it again), or give up with: bosun uncordon ${name}`,
              });
        }
        if (now.getTime() >= deadline) {
          const events = await kube
            .listEvents({ fieldSelector: `involvedObject.kind=Node,involvedObject.name=${name}` })
            .catch(() => []);
          return result({
            outcome: 'unhealthy',
            message: `node/${name} is not healthy after ${Math.round(opts.healthTimeoutMs / 1000)}s: ${last.problems.join('; ')}`,
            hint: `The node stays cordoned. When it is fixed, run bosun maintain again to continue (the command will not run again), or bosun uncordon ${name}.`,
            diagnosis: diagnose(node, last, events),
          });
        }
        await sleep(opts.pollMs);
      }

      // ---- 4. uncordon ----
      const info = cordonInfo(node);
      if (info.cordoned && !info.ownedByBosun) {
        await clearState();
        return result({
          outcome: 'left-cordoned',
          message: `node/${name} is healthy but was cordoned outside bosun during maintenance; leaving it cordoned`,
          hint: `Uncordon it yourself when ready: bosun uncordon ${name} --force`,
        });
      }
      emit({ type: 'phase', node: name, phase: 'uncordon' });
      const restoring: MaintenanceState = { ...st(), phase: 'restoring' };
      await uncordonNode(
        name,
        { force: false, dryRun: 'none', setAnnotations: { [MAINTENANCE_STATE]: JSON.stringify(restoring) } },
        { kube, clock },
      );
      state = restoring;
    }

    // ---- 5. workloads restored? ----
    if (st().phase === 'restoring') {
      emit({ type: 'phase', node: name, phase: 'restore', resumed });
      const deadline = clock.now().getTime() + opts.restoreTimeoutMs;
      let lastKey = '';
      for (;;) {
        if (deps.signal?.aborted) throw new Interrupted();
        const pods = (await whileApiDown(() => kube.listPods({ chunkSize: opts.drain.chunkSize }), deadline))
          .items;
        const waiting = readyCounts(st().workloads, pods).filter((c) => c.ready < c.workload.readyBefore);
        const key = JSON.stringify(waiting.map((w) => [w.workload.uid, w.ready]));
        if (key !== lastKey) {
          lastKey = key;
          emit({ type: 'restore', node: name, waiting });
        }
        if (waiting.length === 0) break;
        if (clock.now().getTime() >= deadline) {
          return result({
            outcome: 'not-restored',
            message: `workloads not back to their Ready counts after ${Math.round(opts.restoreTimeoutMs / 1000)}s: ${waiting
              .map(
                (w) =>
                  `${w.workload.kind} ${w.workload.namespace}/${w.workload.name} ${w.ready}/${w.workload.readyBefore}`,
              )
              .join(', ')}`,
            hint: `node/${name} is uncordoned. Check why those pods are not Ready before maintaining the next node; run bosun maintain ${name} again to keep waiting.`,
          });
        }
        await sleep(opts.pollMs);
      }
      await clearState();
    }
    emit({ type: 'phase', node: name, phase: 'done' });
    return result({ outcome: 'done' });
  } catch (e) {
    if (e instanceof Interrupted || deps.signal?.aborted) {
      return result({
        outcome: 'interrupted',
        message: `maintenance of node/${name} interrupted${state ? ` while ${state.phase}` : ''}`,
        hint: `Run the same command again to continue where it stopped, or give up with: bosun uncordon ${name}`,
      });
    }
    throw e;
  }
}
