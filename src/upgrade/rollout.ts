// What `bosun upgrade apply` decides before and after each step, from the cluster as read just then
// and the journal: which steps of a hop run in which order (control planes alone, kubelets in their
// batches); whether a step is done already (its proofs hold, and no maintenance of bosun's is left
// on its node), so that a resumed run repeats nothing finished; whether the step keeps to the skew
// policy against the live versions (the plan judged a simulation; apply judges the cluster as it
// is right before the step); whether the etcd backup is fresh enough to start a step; and what a
// `kubeadm upgrade` that timed out waiting for a static pod was waiting for.
//
// Pure: versions, journal entries, mirror pods and command output are given.
import { checkStep, type ComponentVersion, type StepVerdict } from './skew.ts';
import type { StepProof, UpgradeHop, UpgradeStep } from './plan.ts';
import { proofsHold } from './plan.ts';
import { skewComponents, type ClusterVersions } from './versions.ts';

/** A group of steps that run together: one control plane step, or one batch of kubelet steps. */
export interface StepGroup {
  kind: 'backup' | 'control-plane' | 'kubelets';
  steps: UpgradeStep[];
}

/** The hop's steps as apply runs them: the backup, each control plane alone, then each batch. */
export function groupsOf(hop: UpgradeHop): StepGroup[] {
  const out: StepGroup[] = [];
  for (const s of hop.steps) {
    if (s.kind === 'etcd-backup') out.push({ kind: 'backup', steps: [s] });
    else if (s.kind !== 'kubelet') out.push({ kind: 'control-plane', steps: [s] });
    else {
      const last = out.at(-1);
      if (last?.kind === 'kubelets' && last.steps[0]?.batch === s.batch) last.steps.push(s);
      else out.push({ kind: 'kubelets', steps: [s] });
    }
  }
  return out;
}

/** The versions the step leaves behind, from its proofs: what it changes is what it proves. */
export function componentsAfter(
  before: readonly ComponentVersion[],
  proofs: readonly StepProof[],
): ComponentVersion[] {
  return before.map((c) => {
    for (const p of proofs) {
      if (
        p.kind === 'static-pods' &&
        c.node === p.node &&
        (c.component === 'kube-apiserver' ||
          c.component === 'kube-controller-manager' ||
          c.component === 'kube-scheduler')
      )
        return { ...c, version: p.version };
      if (p.kind === 'addons' && c.component === 'kube-proxy') return { ...c, version: p.version };
      if (p.kind === 'kubelet' && c.component === 'kubelet' && c.node === p.node)
        return { ...c, version: p.version };
    }
    return c;
  });
}

/**
 * Judges a group against the live versions: the state after every step of the group. The primary
 * control plane's step is `kubeadm upgrade apply`, so kubeadm's own kubelet check applies to it.
 */
export function judgeGroup(live: ClusterVersions, group: StepGroup, hopTo: string): StepVerdict {
  const before = skewComponents(live);
  const after = componentsAfter(
    before,
    group.steps.flatMap((s) => s.proofs),
  );
  const primary = group.steps.some((s) => s.kind === 'primary-control-plane');
  return checkStep(before, after, primary ? { kubeadm: hopTo, target: hopTo } : {});
}

/** Where a step stands before a run comes to it. */
export type StepStanding =
  /** The journal says done and the cluster agrees. */
  | 'done'
  /** The cluster shows it done, though the journal does not (done by hand, or before a kill). */
  | 'found-done'
  /** It must run (again). */
  | 'todo';

/**
 * A step's standing. A kubelet step counts as done only when its node carries no maintenance of
 * bosun's any more (`inMaintenance`): a run killed after the uncordon still has the evicted
 * workloads to wait for.
 */
export function standing(
  step: UpgradeStep,
  journalDone: boolean,
  live: ClusterVersions,
  inMaintenance: ReadonlySet<string>,
): StepStanding {
  if (step.kind === 'etcd-backup') return 'todo';
  if (step.node !== undefined && step.kind === 'kubelet' && inMaintenance.has(step.node)) return 'todo';
  if (!proofsHold(step.proofs, live)) return 'todo';
  return journalDone ? 'done' : 'found-done';
}

/** The proofs of a step that do not hold yet, for messages ("kubelet on worker-2 is v1.33.5"). */
export function unmetProofs(proofs: readonly StepProof[], live: ClusterVersions): string[] {
  const out: string[] = [];
  for (const p of proofs) {
    if (proofsHold([p], live)) continue;
    switch (p.kind) {
      case 'backup':
        out.push('no verified etcd backup');
        break;
      case 'static-pods': {
        const cp = live.controlPlanes.find((c) => c.node === p.node);
        const parts = [
          ['kube-apiserver', cp?.apiserver],
          ['kube-controller-manager', cp?.controllerManager],
          ['kube-scheduler', cp?.scheduler],
        ] as const;
        for (const [name, x] of parts)
          if (!x) out.push(`${name} on ${p.node} has no mirror pod`);
          else if (x.version !== p.version || !x.ready)
            out.push(
              `${name} on ${p.node} runs ${x.version}${x.ready ? '' : ' (not Ready)'}, not ${p.version}`,
            );
        break;
      }
      case 'cluster-version':
        out.push(`kubeadm-config says ${live.kubernetesVersion ?? 'nothing'}, not ${p.version}`);
        break;
      case 'addons':
        out.push(`kube-proxy runs ${live.kubeProxy?.version ?? 'nothing'}, not ${p.version}`);
        break;
      case 'kubelet': {
        const n = live.nodes.find((x) => x.name === p.node);
        out.push(`kubelet on ${p.node} reports ${n?.kubelet || 'nothing'}, not ${p.version}`);
        break;
      }
      case 'ready':
        out.push(`${p.node} is not Ready`);
        break;
      case 'uncordoned':
        out.push(`${p.node} is cordoned`);
        break;
    }
  }
  return out;
}

/** A backup the journal recorded. */
export interface BackupRef {
  takenAt: string;
  file: string;
}

/**
 * Whether the newest recorded backup is young enough for a step to start now. A backup from the
 * future (a clock skewed between machines) is not trusted either.
 */
export function backupFresh(
  backups: readonly BackupRef[],
  now: Date,
  maxAgeMs: number,
): BackupRef | undefined {
  const b = backups.at(-1);
  if (!b) return undefined;
  const age = now.getTime() - Date.parse(b.takenAt);
  return Number.isFinite(age) && age >= -60_000 && age <= maxAgeMs ? b : undefined;
}

/** A control plane mirror pod as the diagnosis reads it. */
export interface MirrorPodFacts {
  component: string;
  image: string;
  ready: boolean;
  /** The kubelet's kubernetes.io/config.hash: the hash of the manifest it runs. */
  hash: string | undefined;
}

/**
 * The component a `kubeadm upgrade` output was waiting for when it gave up: the one kubeadm's
 * "static Pod hash for component X" names, else the last `Preparing for "X" upgrade` before a timeout ("timed out waiting for the condition", "context
 * deadline exceeded"); undefined when the output does not show such a timeout.
 */
export function staticPodTimeout(output: readonly string[]): string | undefined {
  const text = output.join('\n');
  if (
    !/timed out waiting for the condition|context deadline exceeded|static Pod hash .* did not change/i.test(
      text,
    )
  )
    return undefined;
  // kubeadm names it itself when the mirror pod's hash never changed (util/apiclient/wait.go).
  const named = /static Pod hash for component ([a-z-]+) on Node/.exec(text);
  if (named) return named[1];
  let component: string | undefined;
  for (const l of output) {
    const m = /Preparing for "([a-z-]+)" upgrade|Upgrading "?([a-z-]+)"? static pod|component=([a-z-]+)/.exec(
      l,
    );
    if (m) component = m[1] ?? m[2] ?? m[3];
  }
  return component ?? 'unknown';
}

/**
 * Explains a static pod timeout: the component, its mirror pod before and after, and what the
 * hashes say (unchanged: the kubelet never ran the new manifest; changed: it runs it, and the pod
 * does not become Ready).
 */
export function diagnoseStaticPodTimeout(
  node: string,
  component: string,
  before: MirrorPodFacts | undefined,
  after: MirrorPodFacts | undefined,
): string[] {
  const out = [`kubeadm timed out waiting for the static pod ${component} on ${node}`];
  const facts = (p: MirrorPodFacts): string =>
    `image ${p.image}, ${p.ready ? 'Ready' : 'not Ready'}, config.hash ${p.hash ?? 'none'}`;
  out.push(
    `  mirror pod kube-system/${component}-${node} before the step: ${before ? facts(before) : 'absent'}`,
  );
  out.push(`  mirror pod kube-system/${component}-${node} now: ${after ? facts(after) : 'absent'}`);
  if (!after)
    out.push(
      `  the kubelet on ${node} shows no ${component} pod: it stopped the old one and has not started the new manifest (check /etc/kubernetes/manifests/${component}.yaml and the kubelet's log)`,
    );
  else if (before && after.hash === before.hash)
    out.push(
      `  the manifest hash did not change: the kubelet on ${node} has not picked up the new /etc/kubernetes/manifests/${component}.yaml (is the kubelet running? journalctl -u kubelet)`,
    );
  else if (!after.ready)
    out.push(
      `  the kubelet runs the new manifest (hash ${after.hash ?? 'none'}) but ${component} does not become Ready: read its logs (crictl logs) and its probes`,
    );
  else
    out.push(
      `  ${component} runs the new manifest and is Ready now: kubeadm gave up too early; run the step again (bosun upgrade apply resumes)`,
    );
  return out;
}
