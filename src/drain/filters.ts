// Which pods a drain removes, which it leaves, and which stop it: kubectl's pod filters
// (staging/src/k8s.io/kubectl/pkg/drain/filters.go), in kubectl's order, with kubectl's
// categories and messages. Each filter returns a verdict; the chain stops at the first filter that
// does not let the pod through. Every refusal is collected before anything is done, so the user
// sees every offending pod at once. Pure: the DaemonSet lookups kubectl makes are done by the
// caller and passed in.
import { controllerOf, isMirrorPod } from '../kube/pods.ts';
import type { Pod } from '../kube/types.ts';

/** kubectl's messages (filters.go), kept verbatim: scripts and people grep for them. */
export const KUBECTL_MESSAGES = {
  daemonSetFatal: 'DaemonSet-managed Pods (use --ignore-daemonsets to ignore)',
  daemonSetWarning: 'ignoring DaemonSet-managed Pods',
  localStorageFatal: 'Pods with local storage (use --delete-emptydir-data to override)',
  localStorageWarning: 'deleting Pods with local storage',
  unmanagedFatal: 'cannot delete Pods that declare no controller (use --force to override)',
  unmanagedWarning: 'deleting Pods that declare no controller',
} as const;

/** A pod's identity (a new pod with the same name has a new uid). */
export interface PodRef {
  namespace: string;
  name: string;
  uid: string;
}

/** What the drain does with a pod. */
export type FilterAction = 'evict' | 'skip' | 'refuse';

/** Why, in kubectl's words. */
export type FilterCategory =
  | 'daemonset-managed'
  | 'local-storage'
  | 'no-controller'
  | 'mirror'
  | 'deleted-too-long'
  | 'orphaned-daemonset'
  | 'daemonset-lookup-failed';

/** A note attached to a pod that is still removed or skipped (kubectl's "Warning: ..."). */
export interface FilterWarning {
  category: FilterCategory;
  message: string;
}

/** The verdict on one pod. */
export interface PodVerdict {
  pod: PodRef;
  action: FilterAction;
  /** The category of the deciding filter; null when the pod is simply evicted. */
  category: FilterCategory | null;
  /** kubectl's message for a refusal or skip; null for a plain eviction. */
  message: string | null;
  /** Warnings from every filter the pod passed (kubectl keeps only the last; bosun keeps all). */
  warnings: FilterWarning[];
}

/** The result of looking up a DaemonSet that controls a pod. */
export type DaemonSetLookup = { found: true } | { found: false; notFound: boolean; error: string };

/** kubectl's drain switches that the filters read. */
export interface FilterOptions {
  /** --force: remove pods that declare no controller, and pods whose DaemonSet is gone. */
  force: boolean;
  /** --ignore-daemonsets: leave DaemonSet-managed pods instead of refusing. */
  ignoreDaemonSets: boolean;
  /** --delete-emptydir-data: remove pods with emptyDir volumes. */
  deleteEmptyDirData: boolean;
  /** --skip-wait-for-delete-timeout in seconds; 0 disables. */
  skipWaitForDeleteTimeoutSeconds: number;
}

/** What the filters need besides the pod. */
export interface FilterContext {
  options: FilterOptions;
  now: Date;
  /** The lookup of the DaemonSet named by a pod's controller reference ("namespace/name"). */
  daemonSet(namespace: string, name: string): DaemonSetLookup;
}

type Step =
  | { pass: true; warning?: FilterWarning }
  | {
      pass: false;
      action: 'skip' | 'refuse';
      category: FilterCategory;
      message: string;
      warning?: FilterWarning;
    };

/** A filter: one question about a pod. */
export type PodFilter = (pod: Pod, ctx: FilterContext) => Step;

const OK: Step = { pass: true };

/** The pod's identity. */
export function podRef(pod: Pod): PodRef {
  return {
    namespace: pod.metadata.namespace ?? 'default',
    name: pod.metadata.name ?? '',
    uid: pod.metadata.uid ?? '',
  };
}

/** "namespace/name", as kubectl lists pods. */
export function podKey(p: { namespace: string; name: string }): string {
  return `${p.namespace}/${p.name}`;
}

/** Succeeded or Failed: kubectl removes finished pods whatever else is true of them. */
export function isFinished(pod: Pod): boolean {
  return pod.status?.phase === 'Succeeded' || pod.status?.phase === 'Failed';
}

/** Whether the pod uses an emptyDir volume (kubectl's hasLocalStorage). */
export function hasLocalStorage(pod: Pod): boolean {
  return (pod.spec?.volumes ?? []).some((v) => v.emptyDir !== undefined && v.emptyDir !== null);
}

/** kubectl's shouldSkipPod: terminating for longer than --skip-wait-for-delete-timeout. */
export function isDeletedTooLong(pod: Pod, skipSeconds: number, now: Date): boolean {
  const ts = pod.metadata.deletionTimestamp;
  if (skipSeconds <= 0 || ts === undefined) return false;
  return Math.trunc((now.getTime() - Date.parse(ts)) / 1000) > skipSeconds;
}

/** kubectl skipDeletedFilter. */
export const skipDeletedFilter: PodFilter = (pod, ctx) =>
  isDeletedTooLong(pod, ctx.options.skipWaitForDeleteTimeoutSeconds, ctx.now)
    ? {
        pass: false,
        action: 'skip',
        category: 'deleted-too-long',
        message: `pod "${pod.metadata.name ?? ''}" has DeletionTimestamp older than ${ctx.options.skipWaitForDeleteTimeoutSeconds} seconds, skipping`,
      }
    : OK;

/**
 * kubectl daemonSetFilter: DaemonSet pods are never removed (the controller ignores the cordon and
 * would put them back); finished ones are; orphans (DaemonSet gone) only with --force.
 */
export const daemonSetFilter: PodFilter = (pod, ctx) => {
  const ref = controllerOf(pod);
  if (ref === undefined || ref.kind !== 'DaemonSet') return OK;
  if (isFinished(pod)) return OK;
  const ns = pod.metadata.namespace ?? 'default';
  const ds = ctx.daemonSet(ns, ref.name);
  if (!ds.found) {
    if (ds.notFound && ctx.options.force)
      return { pass: true, warning: { category: 'orphaned-daemonset', message: ds.error } };
    return {
      pass: false,
      action: 'refuse',
      category: ds.notFound ? 'orphaned-daemonset' : 'daemonset-lookup-failed',
      message: ds.error,
    };
  }
  if (!ctx.options.ignoreDaemonSets)
    return {
      pass: false,
      action: 'refuse',
      category: 'daemonset-managed',
      message: KUBECTL_MESSAGES.daemonSetFatal,
    };
  return {
    pass: false,
    action: 'skip',
    category: 'daemonset-managed',
    message: KUBECTL_MESSAGES.daemonSetWarning,
    warning: { category: 'daemonset-managed', message: KUBECTL_MESSAGES.daemonSetWarning },
  };
};

/** kubectl mirrorPodFilter: mirror pods are skipped silently. */
export const mirrorPodFilter: PodFilter = (pod) =>
  isMirrorPod(pod)
    ? {
        pass: false,
        action: 'skip',
        category: 'mirror',
        message: 'mirror pod (deleted only by removing its static manifest)',
      }
    : OK;

/** kubectl localStorageFilter: emptyDir data is lost, so only with --delete-emptydir-data. */
export const localStorageFilter: PodFilter = (pod, ctx) => {
  if (!hasLocalStorage(pod) || isFinished(pod)) return OK;
  if (!ctx.options.deleteEmptyDirData)
    return {
      pass: false,
      action: 'refuse',
      category: 'local-storage',
      message: KUBECTL_MESSAGES.localStorageFatal,
    };
  return {
    pass: true,
    warning: { category: 'local-storage', message: KUBECTL_MESSAGES.localStorageWarning },
  };
};

/** kubectl unreplicatedFilter: a pod nobody recreates is lost, so only with --force. */
export const unreplicatedFilter: PodFilter = (pod, ctx) => {
  if (isFinished(pod)) return OK;
  if (controllerOf(pod) !== undefined) return OK;
  if (ctx.options.force)
    return { pass: true, warning: { category: 'no-controller', message: KUBECTL_MESSAGES.unmanagedWarning } };
  return {
    pass: false,
    action: 'refuse',
    category: 'no-controller',
    message: KUBECTL_MESSAGES.unmanagedFatal,
  };
};

/** kubectl's filters, in kubectl's order (makeFilters). */
export const KUBECTL_FILTERS: readonly PodFilter[] = [
  skipDeletedFilter,
  daemonSetFilter,
  mirrorPodFilter,
  localStorageFilter,
  unreplicatedFilter,
];

/** Runs the chain on one pod, stopping at the first filter that does not let it through. */
export function decidePod(
  pod: Pod,
  ctx: FilterContext,
  filters: readonly PodFilter[] = KUBECTL_FILTERS,
): PodVerdict {
  const warnings: FilterWarning[] = [];
  for (const f of filters) {
    const s = f(pod, ctx);
    if (s.warning) warnings.push(s.warning);
    if (!s.pass)
      return { pod: podRef(pod), action: s.action, category: s.category, message: s.message, warnings };
  }
  return { pod: podRef(pod), action: 'evict', category: null, message: null, warnings };
}

/** The verdict on every pod. */
export function decidePods(
  pods: readonly Pod[],
  ctx: FilterContext,
  filters: readonly PodFilter[] = KUBECTL_FILTERS,
): PodVerdict[] {
  return pods.map((p) => decidePod(p, ctx, filters));
}

/** Pods grouped under one message, in first-seen order. */
export interface MessageGroup {
  message: string;
  category: FilterCategory;
  pods: PodRef[];
}

function group(entries: { message: string; category: FilterCategory; pod: PodRef }[]): MessageGroup[] {
  const out: MessageGroup[] = [];
  for (const e of entries) {
    let g = out.find((x) => x.message === e.message);
    if (!g) out.push((g = { message: e.message, category: e.category, pods: [] }));
    g.pods.push(e.pod);
  }
  return out;
}

/** The refusals, one group per message (kubectl's PodDeleteList.errors()). */
export function refusals(verdicts: readonly PodVerdict[]): MessageGroup[] {
  return group(
    verdicts
      .filter((v) => v.action === 'refuse')
      .map((v) => ({
        message: v.message ?? 'unexpected error',
        category: v.category ?? 'no-controller',
        pod: v.pod,
      })),
  );
}

/** The warnings, one group per message (kubectl's PodDeleteList.Warnings()). */
export function warnings(verdicts: readonly PodVerdict[]): MessageGroup[] {
  return group(
    verdicts.flatMap((v) =>
      v.warnings.map((w) => ({ message: w.message, category: w.category, pod: v.pod })),
    ),
  );
}

/** kubectl's error line for a refusal group: "cannot delete <message>: ns/a, ns/b". */
export function refusalLine(g: MessageGroup): string {
  const msg = g.message.toLowerCase().startsWith('cannot delete') ? g.message : `cannot delete ${g.message}`;
  return `${msg}: ${g.pods.map(podKey).join(', ')}`;
}

/** kubectl's warning text: "msg: ns/a, ns/b; msg2: ns/c" (printed after "Warning: "). */
export function warningText(groups: readonly MessageGroup[]): string {
  return groups.map((g) => `${g.message}: ${g.pods.map(podKey).join(', ')}`).join('; ');
}
