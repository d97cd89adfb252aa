// The state of a node's maintenance, kept on the Node in kube/annotations.ts MAINTENANCE_STATE
// (bosun.dev/maintenance, JSON), and what it says about the steps. The format is the one bosun
// maintain has always written (a node in the middle of an older bosun's maintenance resumes); new
// fields are optional. Also the pure helpers the steps decide with: which workloads a drain moves
// and how many of their pods were Ready before, and how many are Ready now. Pure.
import { MAINTENANCE_STATE } from '../kube/annotations.ts';
import { controllerOf, isMirrorPod, isPodReady } from '../kube/pods.ts';
import type { Node, Pod } from '../kube/types.ts';
import { isFinished } from './filters.ts';

/** The steps of a node's maintenance, in order. */
export const MAINTENANCE_STEPS = [
  'cordon',
  'drain',
  'work',
  'wait-healthy',
  'uncordon',
  'wait-workloads',
] as const;

/** One step of a node's maintenance. */
export type MaintenanceStep = (typeof MAINTENANCE_STEPS)[number];

/** A workload whose pods the drain moves, and how many of its pods were Ready before. */
export interface WorkloadRecord {
  kind: string;
  namespace: string;
  name: string;
  uid: string;
  readyBefore: number;
}

/** A process the work started, recorded before it ran (host/executor.ts StartedProcess). */
export interface RecordedProcess {
  pid: number;
  /** Start time in clock ticks since boot, from /proc/PID/stat. */
  startTicks: string;
  /** The machine it runs on. */
  host: string;
  /** That machine's boot ID then. */
  bootId: string;
  /** When it was started (RFC 3339). */
  at: string;
  /** True when the work said this process is not the one that reboots (WorkContext.onStart). */
  rebootsNot?: boolean;
}

/**
 * The state kept on the node. phase: 'draining' (cordon and drain), 'working' (the work step: not
 * done yet, maybe started), 'worked' (the work finished: wait until healthy, then uncordon),
 * 'restoring' (uncordoned: wait until the workloads are back). No state: nothing started, or done.
 */
export interface MaintenanceState {
  phase: 'draining' | 'working' | 'worked' | 'restoring';
  startedAt: string;
  /** Who runs the maintenance (the cordon's owner). */
  by: string;
  /** The work, as its describe() says it. */
  command: string;
  /** The node's boot ID before the work (a reboot changes it). */
  bootIdBefore?: string;
  /** When the work finished (the heartbeat must be newer). */
  commandFinishedAt?: string;
  workloads: WorkloadRecord[];
  /** DaemonSets ("namespace/name") that had a pod on the node. */
  daemonSets: string[];
  /** The process the work started last, while phase is 'working' (absent in older states). */
  process?: RecordedProcess;
}

/** Reads MAINTENANCE_STATE; undefined when absent or unreadable (an unreadable state starts over). */
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

/**
 * The step a node's maintenance is at, by its state: 'cordon' when none was started (or it is
 * done), then 'drain', 'work', 'wait-healthy' (which goes on to 'uncordon') and 'wait-workloads'.
 */
export function currentStep(node: Node): MaintenanceStep {
  switch (maintenanceState(node)?.phase) {
    case undefined:
      return 'cordon';
    case 'draining':
      return 'drain';
    case 'working':
      return 'work';
    case 'worked':
      return 'wait-healthy';
    case 'restoring':
      return 'wait-workloads';
  }
}

/**
 * The workloads a drain of the node moves (controllers other than DaemonSets, Jobs and the Node of
 * a static pod) with their Ready pods cluster-wide, and the DaemonSets that have a pod there.
 */
export function workloadsOf(
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
      const readyBefore = readyPodsOf(c.uid, pods);
      workloads.set(c.uid, { kind: c.kind, namespace: ns, name: c.name, uid: c.uid, readyBefore });
    }
  }
  return { workloads: [...workloads.values()], daemonSets: [...daemonSets] };
}

/** Running, Ready pods not being deleted whose controller has this uid. */
function readyPodsOf(uid: string, pods: readonly Pod[]): number {
  return pods.filter(
    (p) =>
      controllerOf(p)?.uid === uid &&
      !p.metadata.deletionTimestamp &&
      p.status?.phase === 'Running' &&
      isPodReady(p),
  ).length;
}

/** A workload's Ready pods now, and how many the wait wants back. */
export interface WorkloadCount {
  workload: WorkloadRecord;
  ready: number;
  /** readyBefore, or fewer when its controller now wants fewer. */
  want: number;
}

/**
 * Ready pods per workload now, against what each must get back to: its Ready count before the
 * drain, or the replicas its controller wants now when that is fewer (`desired`, by uid: a
 * ReplicaSet a Deployment's rollout scaled down or deleted wants 0 and is not waited for; its
 * Deployment brings up the new ReplicaSet under its own maxUnavailable). A workload whose desired
 * count is not known is held to readyBefore.
 */
export function readyCounts(
  records: readonly WorkloadRecord[],
  pods: readonly Pod[],
  desired: ReadonlyMap<string, number> = new Map(),
): WorkloadCount[] {
  return records.map((w) => ({
    workload: w,
    ready: readyPodsOf(w.uid, pods),
    want: Math.min(w.readyBefore, desired.get(w.uid) ?? w.readyBefore),
  }));
}
