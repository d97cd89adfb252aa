// The upgrade plan: from the versions a cluster runs today to --to, in Version Skew Policy order.
// One hop per minor (kubeadm and kube-apiserver move one minor at a time); each hop lists its steps
// in order:
//   0. a verified etcd backup;
//   1. the primary control plane: kubeadm's package, `kubeadm upgrade apply` (no drain: the kubelet
//      keeps running its pods while kubeadm replaces the static pods);
//   2. each other control plane: kubeadm's package, `kubeadm upgrade node`; the last one moves
//      kube-proxy and CoreDNS (kubeadm's addon phase waits for every control plane);
//   3. the kubelets that move in this hop, each drained around its recipe: the control planes' one by
//      one, then the workers in batches of --max-unavailable.
// A kubelet moves only when it must: in the last hop (to reach the target), or earlier when the next
// hop would leave it outside the policy (too old for the next kube-apiserver, or too far from the
// next kube-proxy). A kubelet may skip minors (KEP-3935), so a node is drained once per upgrade
// whenever the policy allows it. Control plane kubelets move only after every kube-apiserver of the
// hop has, because a kubelet must not be newer than any kube-apiserver of an HA cluster (the
// policy's note; kubeadm's guide upgrades the first control plane's kubelet earlier).
//
// Before every step the plan applies the step to the versions it simulates and judges it with
// skew.ts; a step that would break a rule makes the plan illegal, and the plan says why. Each step
// carries a stable id, its node, its commands and the proofs that it is done, so that `apply` can
// walk it, record it in its journal and resume at the first step not proven done.
//
// Pure: the versions, the releases and the recipes are given; nothing is read here.
import { UsageError } from '../common/errors.ts';
import {
  SKEW_RULES,
  checkSkew,
  checkStep,
  compareVersions,
  minorIndex,
  minorText,
  parseVersion,
  type ComponentVersion,
  type SkewViolation,
  type Version,
} from './skew.ts';
import { defaultRecipeFor, renderLines, type Recipe, type RecipeSource } from './recipes.ts';
import { byName, skewComponents, type ClusterVersions } from './versions.ts';

/** What bosun does in a step, in order. */
export type StepAction =
  | { do: 'backup' }
  | { do: 'run'; recipe: RecipeSource; commands: string[] }
  | { do: 'wait-static-pods'; version: string }
  | { do: 'cordon' }
  | { do: 'drain' }
  | { do: 'wait-kubelet'; version: string }
  | { do: 'uncordon' }
  | { do: 'wait-workloads' };

/** What proves a step done, read from the cluster (never a command's exit code). */
export type StepProof =
  /** A verified etcd snapshot younger than --backup-max-age. */
  | { kind: 'backup' }
  /** The node's kube-apiserver, kube-controller-manager and kube-scheduler mirror pods run this version and are Ready. */
  | { kind: 'static-pods'; node: string; version: string }
  /** kubeadm-config's kubernetesVersion. */
  | { kind: 'cluster-version'; version: string }
  /** The kube-proxy DaemonSet runs this version on every node (kubeadm's addon phase). */
  | { kind: 'addons'; version: string }
  /** The node reports this kubelet version. */
  | { kind: 'kubelet'; node: string; version: string }
  /** The node is Ready. */
  | { kind: 'ready'; node: string }
  /** The node is not cordoned by bosun, and the pods evicted from it are Ready again elsewhere. */
  | { kind: 'uncordoned'; node: string };

/** The kinds of steps. */
export type StepKind = 'etcd-backup' | 'primary-control-plane' | 'control-plane' | 'kubelet';

/** One step of a hop. */
export interface UpgradeStep {
  /** Stable across plans of the same upgrade: "v1.33.5/control-plane/cp-1". */
  id: string;
  kind: StepKind;
  /** The node it runs on; undefined for the backup. */
  node: string | undefined;
  role: 'control-plane' | 'worker' | undefined;
  /** Kubelet steps: the batch they are drained in (control planes one by one, first). */
  batch: number | undefined;
  actions: StepAction[];
  proofs: StepProof[];
  /** Every proof already holds on the cluster as read (the backup never counts as done). */
  done: boolean;
  /** The skew after the step: legal when it introduces no violation. */
  skew: { legal: boolean; introduced: SkewViolation[]; remaining: SkewViolation[] };
}

/** One minor (or, within a minor, one patch) of the upgrade. */
export interface UpgradeHop {
  /** 1-based. */
  index: number;
  /** kubeadm-config's version before and after the hop. */
  from: string;
  to: string;
  /** The kubeadm the hop installs and runs ("v1.33.5"). */
  kubeadmVersion: string;
  /** Nodes whose kubelet moves to `to` in this hop. */
  mustMove: string[];
  /** Nodes whose kubelet stays where it is in this hop (a later hop moves it). */
  mayLag: string[];
  steps: UpgradeStep[];
}

/** The whole plan. */
export interface UpgradePlan {
  /** The cluster's version (kubeadm-config). */
  from: string;
  to: string;
  primary: string;
  maxUnavailable: string;
  /** Workers drained at once. */
  batchSize: number;
  hops: UpgradeHop[];
  /** Every step keeps to the policy and nothing stops the plan. */
  legal: boolean;
  /** Why the plan cannot be carried out as it stands (one line each). */
  problems: string[];
  /** What people should know. */
  notes: string[];
}

/** The newest release of each minor the plan passes through ("v1.33" -> "v1.33.5"); undefined: none. */
export type LatestPatches = ReadonlyMap<string, string | undefined>;

/** Parses --max-unavailable: a count ("2") or a percentage of the workers ("25%"). */
export function parseMaxUnavailable(text: string): { count: number } | { percent: number } {
  const t = text.trim();
  const pct = /^(\d+)%$/.exec(t);
  if (pct && Number(pct[1]) >= 1 && Number(pct[1]) <= 100) return { percent: Number(pct[1]) };
  if (/^\d+$/.test(t) && Number(t) >= 1) return { count: Number(t) };
  throw new UsageError(
    `invalid --max-unavailable "${text}": expected a number of workers (1, 3) or a percentage of them (25%)`,
    { hint: "See 'bosun upgrade plan -h' for help and examples" },
  );
}

/** Workers drained at once: a count, or a percentage of the workers rounded down, at least 1. */
export function batchSizeOf(maxUnavailable: string, workers: number): number {
  const m = parseMaxUnavailable(maxUnavailable);
  return 'count' in m ? m.count : Math.max(1, Math.floor((m.percent * workers) / 100));
}

/** The cluster's version: kubeadm-config's, else its oldest kube-apiserver's. */
export function clusterVersionOf(v: ClusterVersions): Version | undefined {
  const recorded = parseVersion(v.kubernetesVersion);
  if (recorded) return recorded;
  const apis = v.controlPlanes
    .map((c) => parseVersion(c.apiserver?.version))
    .filter((x): x is Version => x !== undefined)
    .sort(compareVersions);
  return apis[0];
}

/**
 * Checks --to against the cluster and the releases: a version, not older than the cluster, released.
 * @throws UsageError with one line each.
 */
export function validateTarget(
  to: string,
  cluster: Version,
  latestOfTarget: string | undefined,
  newest: string | undefined,
  source: string,
): Version {
  const t = parseVersion(to);
  if (!t || !/^v?\d+\.\d+\.\d+$/.test(to.trim()))
    throw new UsageError(`--to "${to}" is not a Kubernetes version`, {
      hint: 'Name a release as vMAJOR.MINOR.PATCH, e.g. --to v1.34.3',
    });
  if (compareVersions(t, cluster) < 0)
    throw new UsageError(`--to ${t.text} is older than the cluster (${cluster.text})`, {
      hint: 'bosun upgrades only: kubeadm does not downgrade a cluster.',
    });
  const latest = parseVersion(latestOfTarget);
  if (!latest)
    throw new UsageError(
      `--to ${t.text} is not released: ${source} has no ${minorText(t)} release${newest ? ` (the newest is ${newest})` : ''}`,
      { hint: "Run 'bosun upgrade plan' without --to to see what is available." },
    );
  if (compareVersions(t, latest) > 0)
    throw new UsageError(
      `--to ${t.text} is not released: the newest ${minorText(t)} release in ${source} is ${latest.text}`,
      { hint: "Run 'bosun upgrade plan' without --to to see what is available." },
    );
  return t;
}

/** What the cluster can move to now, as `kubeadm upgrade plan` shows it. */
export interface AvailableUpgrade {
  kind: 'patch' | 'minor';
  version: string;
  /** The command that plans it. */
  command: string;
}

/** The newest patch of the cluster's minor (if newer) and the newest release of the next minor. */
export function availableUpgrades(cluster: Version, latest: LatestPatches): AvailableUpgrade[] {
  const out: AvailableUpgrade[] = [];
  const patch = parseVersion(latest.get(minorText(cluster)));
  if (patch && compareVersions(patch, cluster) > 0)
    out.push({ kind: 'patch', version: patch.text, command: `bosun upgrade plan --to ${patch.text}` });
  const next = parseVersion(latest.get(`v${cluster.major}.${cluster.minor + 1}`));
  if (next) out.push({ kind: 'minor', version: next.text, command: `bosun upgrade plan --to ${next.text}` });
  return out;
}

/** The hops' target versions, in order (the last is the target). */
export function hopTargets(cluster: Version, target: Version, latest: LatestPatches): string[] {
  const out: string[] = [];
  for (let m = cluster.minor + 1; m < target.minor; m++) {
    const v = latest.get(`v${cluster.major}.${m}`);
    if (!parseVersion(v))
      throw new UsageError(
        `cannot upgrade from ${cluster.text} to ${target.text}: no v${cluster.major}.${m} release to pass through`,
        { hint: 'kubeadm upgrades one minor version at a time.' },
      );
    out.push(parseVersion(v)!.text);
  }
  out.push(target.text);
  return out;
}

/** The simulated cluster: every component's version. */
interface Sim {
  kubernetesVersion: string;
  apiserver: Map<string, string>;
  controllers: Map<string, string>;
  kubelet: Map<string, string>;
  kubeProxy: Map<string, string>;
}

function simOf(v: ClusterVersions, cluster: Version): Sim {
  const sim: Sim = {
    kubernetesVersion: cluster.text,
    apiserver: new Map(),
    controllers: new Map(),
    kubelet: new Map(),
    kubeProxy: new Map(),
  };
  for (const c of skewComponents(v)) {
    if (c.component === 'kube-apiserver') sim.apiserver.set(c.node, c.version);
    else if (c.component === 'kubelet') sim.kubelet.set(c.node, c.version);
    else if (c.component === 'kube-proxy') sim.kubeProxy.set(c.node, c.version);
    else sim.controllers.set(`${c.node}/${c.component}`, c.version);
  }
  return sim;
}

function clone(s: Sim): Sim {
  return {
    kubernetesVersion: s.kubernetesVersion,
    apiserver: new Map(s.apiserver),
    controllers: new Map(s.controllers),
    kubelet: new Map(s.kubelet),
    kubeProxy: new Map(s.kubeProxy),
  };
}

function components(s: Sim): ComponentVersion[] {
  const out: ComponentVersion[] = [];
  for (const [node, version] of s.apiserver) out.push({ component: 'kube-apiserver', node, version });
  for (const [key, version] of s.controllers) {
    const [node, component] = key.split('/') as [string, ComponentVersion['component']];
    out.push({ component, node, version, apiserver: 'local' });
  }
  for (const [node, version] of s.kubelet) out.push({ component: 'kubelet', node, version });
  for (const [node, version] of s.kubeProxy) out.push({ component: 'kube-proxy', node, version });
  return out;
}

/** The control plane `node` at `version` (its kube-apiserver, controller-manager and scheduler). */
function moveControlPlane(s: Sim, node: string, version: string): void {
  if (s.apiserver.has(node)) s.apiserver.set(node, version);
  for (const k of s.controllers.keys()) if (k.startsWith(`${node}/`)) s.controllers.set(k, version);
}

/** Every control plane and the addons at `version`: the state after a hop's control plane steps. */
function controlPlaneAt(s: Sim, version: string): Sim {
  const n = clone(s);
  for (const node of n.apiserver.keys()) moveControlPlane(n, node, version);
  for (const node of n.kubeProxy.keys()) n.kubeProxy.set(node, version);
  n.kubernetesVersion = version;
  return n;
}

/**
 * Nodes whose kubelet would be too old once the control plane (and kube-proxy) is at `version`:
 * too old for kube-apiserver, too far behind kube-proxy, or refused by kubeadm's own check. A
 * kubelet that is too new is not one of them: moving it cannot help (bosun never downgrades).
 */
function kubeletsBlocking(s: Sim, version: string): string[] {
  const next = controlPlaneAt(s, version);
  const broken = new Set<string>();
  for (const v of checkSkew(components(next))) {
    if (v.rule === 'kubelet-too-old') broken.add(v.node);
    const proxy = parseVersion(v.version);
    const kubelet = parseVersion(v.against?.version);
    if (v.rule === 'kube-proxy-kubelet' && proxy && kubelet && compareVersions(proxy, kubelet) > 0)
      broken.add(v.node);
  }
  const step = checkStep(components(s), components(next), { kubeadm: version, target: version });
  for (const v of step.introduced) if (v.rule === 'kubeadm-kubelet-skew') broken.add(v.node);
  return [...broken].sort(byName);
}

function isOlder(a: string | undefined, than: Version): boolean {
  const x = parseVersion(a);
  return x !== undefined && compareVersions(x, than) < 0;
}

function isNewer(a: string | undefined, than: Version): boolean {
  const x = parseVersion(a);
  return x !== undefined && compareVersions(x, than) > 0;
}

function sameVersion(a: string | undefined, b: string): boolean {
  const x = parseVersion(a);
  const y = parseVersion(b);
  return x !== undefined && y !== undefined && compareVersions(x, y) === 0 && x.text === y.text;
}

/** Everything the plan needs. */
export interface PlanInput {
  versions: ClusterVersions;
  /** --to, already validated (validateTarget). */
  target: Version;
  latest: LatestPatches;
  /** --max-unavailable as given ("1", "25%"). */
  maxUnavailable: string;
  /** --recipe FILE's recipe; undefined: the default for each node's OS. */
  recipe: Recipe | undefined;
  /**
   * Kubelet steps an earlier run of this upgrade started and did not finish (from its journal):
   * planned again even when the node already reports the hop's version (its kubelet moved, then
   * the node failed to come back, or bosun died before it uncordoned it).
   */
  unfinished?: readonly { hop: string; node: string }[];
}

/** Plans the upgrade. Pure. @throws UsageError when a minor on the way has no release. */
export function planUpgrade(input: PlanInput): UpgradePlan {
  const v = input.versions;
  const problems: string[] = [];
  const notes: string[] = [];
  const cluster = clusterVersionOf(v);
  if (!cluster) throw new UsageError('cannot read the cluster version (kubeadm-config and kube-apiserver)');
  const workers = v.nodes.filter((n) => !n.controlPlane).map((n) => n.name);
  const batchSize = batchSizeOf(input.maxUnavailable, workers.length);
  const cps = v.controlPlanes.filter((c) => c.apiserver !== undefined);
  const primary = pickPrimary(v);

  const sim = simOf(v, cluster);
  const targets = hopTargets(cluster, input.target, input.latest);
  // A control plane behind kubeadm-config (an interrupted hop), or a kubelet the first hop would
  // leave outside the policy, is brought to the cluster's version first.
  const behind = cps.some((c) => !sameVersion(c.apiserver?.version, cluster.text));
  const first = targets[0] ?? input.target.text;
  if (first !== cluster.text && (behind || kubeletsBlocking(sim, first).length > 0))
    targets.unshift(cluster.text);

  const recipes = new Map<string, { source: RecipeSource; recipe: Recipe } | undefined>();
  for (const n of v.nodes) {
    const r = input.recipe ? { source: 'file' as const, recipe: input.recipe } : defaultRecipeFor(n.osImage);
    recipes.set(n.name, r);
    if (!r)
      problems.push(
        `node ${n.name}: cannot tell its package manager from its OS image "${n.osImage}": pass --recipe FILE`,
      );
  }
  const run = (node: string, role: keyof Recipe, version: Version): StepAction => {
    const r = recipes.get(node);
    return {
      do: 'run',
      recipe: r?.source ?? 'file',
      commands: r ? renderLines(r.recipe[role], version, node) : [],
    };
  };

  const hops: UpgradeHop[] = [];
  let from = cluster.text;
  targets.forEach((to, i) => {
    const hv = parseVersion(to)!;
    const last = i === targets.length - 1;
    const steps: UpgradeStep[] = [];
    const judge = (before: Sim, after: Sim, opts: { kubeadm?: string } = {}): UpgradeStep['skew'] => {
      const verdict = checkStep(components(before), components(after), opts);
      return { legal: verdict.legal, introduced: verdict.introduced, remaining: verdict.remaining };
    };
    const mustMove = last
      ? v.nodes.filter((n) => isOlder(sim.kubelet.get(n.name), hv)).map((n) => n.name)
      : kubeletsBlocking(controlPlaneAt(sim, to), targets[i + 1] ?? to);
    if (last)
      for (const n of v.nodes)
        if (isNewer(sim.kubelet.get(n.name), hv))
          problems.push(
            `node ${n.name}: its kubelet ${sim.kubelet.get(n.name) ?? ''} is newer than ${to}; bosun never downgrades a kubelet`,
          );
    for (const u of input.unfinished ?? [])
      if (u.hop === to && v.nodes.some((n) => n.name === u.node) && !mustMove.includes(u.node))
        mustMove.push(u.node);
    mustMove.sort(byName);
    const moving = new Set(mustMove);

    steps.push({
      id: `${to}/etcd-backup`,
      kind: 'etcd-backup',
      node: undefined,
      role: undefined,
      batch: undefined,
      actions: [{ do: 'backup' }],
      proofs: [{ kind: 'backup' }],
      done: false,
      skew: { legal: true, introduced: [], remaining: checkSkew(components(sim)) },
    });

    // 1 and 2: the control planes, primary first; the last to move takes the addons along.
    const order = [primary, ...cps.map((c) => c.node).filter((n) => n !== primary)].filter((n) => n !== '');
    const pending = order.filter((node) => {
      const cp = v.controlPlanes.find((c) => c.node === node);
      return ![cp?.apiserver, cp?.controllerManager, cp?.scheduler].every(
        (x) => x === undefined || sameVersion(x.version, to),
      );
    });
    order.forEach((node, k) => {
      const isPrimary = k === 0;
      const before = clone(sim);
      moveControlPlane(sim, node, to);
      const lastCp = node === (pending.at(-1) ?? order.at(-1));
      if (lastCp) for (const n of sim.kubeProxy.keys()) sim.kubeProxy.set(n, to);
      if (isPrimary) sim.kubernetesVersion = to;
      // Its node Ready too: the kubelet reports again once the kube-apiserver it restarted answers.
      const proofs: StepProof[] = [
        { kind: 'static-pods', node, version: to },
        { kind: 'ready', node },
      ];
      if (isPrimary) proofs.push({ kind: 'cluster-version', version: to });
      if (lastCp) proofs.push({ kind: 'addons', version: to });
      steps.push({
        id: `${to}/control-plane/${node}`,
        kind: isPrimary ? 'primary-control-plane' : 'control-plane',
        node,
        role: 'control-plane',
        batch: undefined,
        actions: [
          run(node, isPrimary ? 'primary' : 'controlPlane', hv),
          { do: 'wait-static-pods', version: to },
        ],
        proofs,
        done: proofsHold(proofs, v),
        skew: judge(before, sim, isPrimary ? { kubeadm: to } : {}),
      });
    });

    // 3: the kubelets that move, control planes one by one, then the workers in batches.
    const kubeletStep = (node: string, role: 'control-plane' | 'worker', batch: number): UpgradeStep => {
      const before = clone(sim);
      sim.kubelet.set(node, to);
      const proofs: StepProof[] = [
        { kind: 'kubelet', node, version: to },
        { kind: 'ready', node },
        { kind: 'uncordoned', node },
      ];
      return {
        id: `${to}/kubelet/${node}`,
        kind: 'kubelet',
        node,
        role,
        batch,
        actions: [
          { do: 'cordon' },
          { do: 'drain' },
          ...(role === 'worker' ? [run(node, 'worker', hv)] : []),
          run(node, 'kubelet', hv),
          { do: 'wait-kubelet', version: to },
          { do: 'uncordon' },
          { do: 'wait-workloads' },
        ],
        proofs,
        done: proofsHold(proofs, v),
        skew: judge(before, sim),
      };
    };
    let batch = 0;
    for (const node of order) if (moving.has(node)) steps.push(kubeletStep(node, 'control-plane', ++batch));
    const movingWorkers = workers.filter((w) => moving.has(w));
    for (let k = 0; k < movingWorkers.length; k += batchSize) {
      batch++;
      for (const w of movingWorkers.slice(k, k + batchSize)) steps.push(kubeletStep(w, 'worker', batch));
    }

    hops.push({
      index: i + 1,
      from,
      to,
      kubeadmVersion: to,
      mustMove,
      mayLag: v.nodes.map((n) => n.name).filter((n) => !moving.has(n)),
      steps,
    });
    from = to;
  });

  for (const h of hops)
    for (const s of h.steps)
      for (const x of s.skew.introduced) problems.push(`step ${s.id}: ${x.message} (${SKEW_RULES[x.rule]})`);
  if (cps.length === 0)
    problems.push(
      'no control plane found (kubeadm static pods in kube-system): bosun upgrades kubeadm clusters',
    );
  if (hops.every((h) => h.steps.every((s) => s.done || s.kind === 'etcd-backup')))
    notes.push(`the cluster already runs ${input.target.text} everywhere: nothing to do`);
  if (cps.length > 1)
    notes.push(
      'control plane kubelets move after every kube-apiserver of the hop: a kubelet must not be newer than any kube-apiserver',
    );
  return {
    from: cluster.text,
    to: input.target.text,
    primary,
    maxUnavailable: input.maxUnavailable,
    batchSize,
    hops,
    legal: problems.length === 0,
    problems,
    notes,
  };
}

/**
 * The control plane `kubeadm upgrade apply` runs on: one already ahead of the others (an
 * interrupted hop), else the first Ready one by name.
 */
export function pickPrimary(v: ClusterVersions): string {
  const cps = v.controlPlanes.filter((c) => c.apiserver !== undefined);
  const newest = [...cps].sort((a, b) => {
    const x = parseVersion(a.apiserver?.version);
    const y = parseVersion(b.apiserver?.version);
    return x && y ? compareVersions(y, x) : 0;
  })[0];
  const oldest = parseVersion(
    [...cps]
      .map((c) => c.apiserver?.version)
      .sort((a, b) => compareVersions(parseVersion(a)!, parseVersion(b)!))[0],
  );
  const ahead = newest && oldest && compareVersions(parseVersion(newest.apiserver?.version)!, oldest) > 0;
  if (ahead && newest) return newest.node;
  const ready = new Set(v.nodes.filter((n) => n.ready).map((n) => n.name));
  return (cps.find((c) => ready.has(c.node)) ?? cps[0])?.node ?? '';
}

/** Whether every proof holds on the cluster as read (a backup is never taken as done here). */
export function proofsHold(proofs: readonly StepProof[], v: ClusterVersions): boolean {
  return proofs.every((p) => {
    switch (p.kind) {
      case 'backup':
        return false;
      case 'static-pods': {
        const cp = v.controlPlanes.find((c) => c.node === p.node);
        const parts = [cp?.apiserver, cp?.controllerManager, cp?.scheduler];
        return parts.every((x) => x !== undefined && x.ready && sameVersion(x.version, p.version));
      }
      case 'cluster-version':
        return sameVersion(v.kubernetesVersion, p.version);
      case 'addons':
        return (
          sameVersion(v.kubeProxy?.version, p.version) &&
          v.nodes.every((n) => n.kubeProxy === undefined || sameVersion(n.kubeProxy, p.version))
        );
      case 'kubelet':
        return sameVersion(v.nodes.find((n) => n.name === p.node)?.kubelet, p.version);
      case 'ready':
        return v.nodes.find((n) => n.name === p.node)?.ready === true;
      case 'uncordoned':
        return v.nodes.find((n) => n.name === p.node)?.unschedulable === false;
    }
    return false;
  });
}

/** The minor of a version as "v1.34" (for callers that only have text). */
export function minorOfText(version: string): string | undefined {
  const v = parseVersion(version);
  return v ? minorText(v) : undefined;
}

/** Whether a is a later minor than b. */
export function laterMinor(a: Version, b: Version): boolean {
  return minorIndex(a) > minorIndex(b);
}
