// `bosun upgrade plan`: reads the cluster once, asks the release index which versions exist,
// validates --to, plans the hops (plan.ts) and runs the pre-flight (preflight.ts) with the drain
// planning of every batch and the served certificates, all answered from that one snapshot. Returns
// the report; printing and the exit code are the CLI's. It only reads: nothing in the cluster or on
// a node changes.
import { BosunError, errorMessage } from '../common/errors.ts';
import type { Clock } from '../common/ports.ts';
import { DEFAULT_DRAIN_OPTIONS, planDrain, planReadsOf, type DrainOptions } from '../drain/index.ts';
import { DEFAULT_PATHS, certsKube, checkServed, type TlsProbe } from '../certs/index.ts';
import type { ClusterInfo } from '../kube/cluster-info.ts';
import type { NodePods } from '../kube/ports.ts';
import {
  availableUpgrades,
  clusterVersionOf,
  parseMaxUnavailable,
  planUpgrade,
  validateTarget,
  type AvailableUpgrade,
  type UpgradePlan,
} from './plan.ts';
import { assessPreflight, type BatchDrain, type UpgradePreflight } from './preflight.ts';
import type { Recipe } from './recipes.ts';
import type { ReleaseIndex } from './releases.ts';
import { readRemovedApiUse, type RemovedApiUse } from './removed-apis.ts';
import { minorText, parseVersion, type Version } from './skew.ts';
import { readSnapshot, snapshotKube } from './snapshot.ts';
import type { ClusterVersions } from './versions.ts';

/** What `upgrade plan` was asked. */
export interface PlanOptions {
  /** --to; undefined: show what is available. */
  to: string | undefined;
  /** --max-unavailable: "1", "25%". */
  maxUnavailable: string;
  /** --recipe FILE, parsed. */
  recipe: Recipe | undefined;
  /** The drain flags the batches are planned with. */
  drain: Pick<DrainOptions, 'force' | 'deleteEmptyDirData'>;
  /** How long the upgrade may run, in ms: certificates expiring within it are reported. */
  windowMs: number;
  /** Skip the served-certificate check (no TLS handshakes). */
  skipCertificates: boolean;
  /** Kubelet steps an unfinished rollout of the same target left open (plan.ts PlanInput.unfinished). */
  unfinished?: readonly { hop: string; node: string }[];
}

/** Where it reads from. */
export interface PlanDeps {
  info: ClusterInfo;
  kube: NodePods;
  releases: ReleaseIndex;
  tls: TlsProbe;
  clock: Clock;
}

/** One component's current and target version, for the table kubeadm upgrade plan prints. */
export interface ComponentRow {
  component: string;
  node: string;
  current: string;
  target: string;
}

/** Everything `upgrade plan` shows. */
export interface UpgradePlanReport {
  apiVersion: 'bosun.dev/v1alpha1';
  kind: 'UpgradePlan';
  cluster: {
    /** kubeadm-config's version. */
    version: string;
    /** The kube-apiserver that answered /version. */
    servingApiserver: string | undefined;
    components: ComponentRow[];
  };
  /** Without --to: the newest patch of this minor and the next minor. */
  available: AvailableUpgrade[];
  /** Where the releases came from. */
  releaseSource: string;
  /** With --to: the hops and their steps. */
  plan: UpgradePlan | undefined;
  preflight: UpgradePreflight;
}

/** The drain options every batch is planned with: kubeadm's guide drains with --ignore-daemonsets. */
export function upgradeDrainOptions(o: Pick<DrainOptions, 'force' | 'deleteEmptyDirData'>): DrainOptions {
  return {
    ...DEFAULT_DRAIN_OPTIONS,
    ignoreDaemonSets: true,
    force: o.force,
    deleteEmptyDirData: o.deleteEmptyDirData,
    owner: { who: 'bosun', why: 'upgrade' },
  };
}

/** The current and target version of every component. */
export function componentRows(v: ClusterVersions, target: string | undefined): ComponentRow[] {
  const t = target ?? '';
  const rows: ComponentRow[] = [];
  for (const cp of v.controlPlanes) {
    for (const [name, x] of [
      ['kube-apiserver', cp.apiserver],
      ['kube-controller-manager', cp.controllerManager],
      ['kube-scheduler', cp.scheduler],
    ] as const)
      if (x) rows.push({ component: name, node: cp.node, current: x.version, target: t });
    if (cp.etcd) rows.push({ component: 'etcd', node: cp.node, current: cp.etcd.version, target: '' });
  }
  for (const n of v.nodes) rows.push({ component: 'kubelet', node: n.name, current: n.kubelet, target: t });
  if (v.kubeProxy) rows.push({ component: 'kube-proxy', node: '', current: v.kubeProxy.version, target: t });
  if (v.coredns) rows.push({ component: 'coredns', node: '', current: v.coredns.version, target: '' });
  return rows;
}

/** The newest release of each minor from `from` to `to` (inclusive), asked of the index. */
async function latestPatches(
  index: ReleaseIndex,
  from: Version,
  to: number,
): Promise<Map<string, string | undefined>> {
  const out = new Map<string, string | undefined>();
  const minors: Version[] = [];
  for (let m = from.minor; m <= to; m++) minors.push({ major: from.major, minor: m, patch: 0, text: '' });
  const found = await Promise.all(minors.map((m) => index.latestPatch(m)));
  minors.forEach((m, i) => out.set(minorText(m), found[i]));
  return out;
}

/** Builds the plan and its pre-flight. @throws UsageError for a bad --to, --max-unavailable or recipe. */
export async function makeUpgradePlan(opts: PlanOptions, deps: PlanDeps): Promise<UpgradePlanReport> {
  parseMaxUnavailable(opts.maxUnavailable);
  // A --to that is not a version needs no cluster to be refused.
  if (opts.to !== undefined && !/^v?\d+\.\d+\.\d+$/.test(opts.to.trim()))
    validateTarget(opts.to, { major: 0, minor: 0, patch: 0, text: 'v0.0.0' }, undefined, undefined, '');
  const drainOpts = upgradeDrainOptions(opts.drain);
  const snap = await readSnapshot(deps, drainOpts);
  const versions = snap.versions;
  if (snap.kubeadmConfig === undefined)
    throw new BosunError(
      'kube-system/kubeadm-config not found: this is not a kubeadm cluster',
      'PRECONDITION',
      {
        hint: 'bosun upgrades clusters made by kubeadm (it reads the version kubeadm recorded there).',
      },
    );
  const cluster = clusterVersionOf(versions);
  if (!cluster)
    throw new BosunError(
      'cannot tell the cluster version: kubeadm-config has no kubernetesVersion',
      'PRECONDITION',
    );

  let target: Version | undefined;
  let latest: Map<string, string | undefined>;
  if (opts.to !== undefined) {
    const asked = parseVersion(opts.to);
    const ofTarget = asked ? await deps.releases.latestPatch(asked) : undefined;
    const newest = ofTarget === undefined && asked ? await deps.releases.newest() : undefined;
    target = validateTarget(opts.to, cluster, ofTarget, newest, deps.releases.source);
    latest = await latestPatches(deps.releases, cluster, target.minor);
  } else latest = await latestPatches(deps.releases, cluster, cluster.minor + 1);

  const available = availableUpgrades(cluster, latest);
  let plan: UpgradePlan | undefined;
  const batches: BatchDrain[] = [];
  let removedApis: RemovedApiUse[] | undefined;
  const kube = snapshotKube(snap);
  const reads = Promise.resolve(planReadsOf(snap));
  if (target) {
    plan = planUpgrade({
      versions,
      target,
      latest,
      maxUnavailable: opts.maxUnavailable,
      recipe: opts.recipe,
      ...(opts.unfinished ? { unfinished: opts.unfinished } : {}),
    });
    // Every batch's drain, planned from the snapshot (batches with the same nodes are planned once).
    const planned = new Map<string, BatchDrain['plans']>();
    for (const hop of plan.hops) {
      const byBatch = new Map<number, string[]>();
      for (const s of hop.steps)
        if (s.kind === 'kubelet' && s.batch !== undefined && s.node && !s.done)
          byBatch.set(s.batch, [...(byBatch.get(s.batch) ?? []), s.node]);
      for (const [batch, names] of byBatch) {
        const key = names.join(',');
        let plans = planned.get(key);
        if (!plans) {
          const nodes = snap.nodes.filter((n) => names.includes(n.metadata.name ?? ''));
          plans = await planDrain(nodes, drainOpts, { kube, clock: deps.clock, reads });
          planned.set(key, plans);
        }
        batches.push({ hop: hop.index, batch, nodes: names, plans });
      }
    }
    removedApis = (await readRemovedApiUse(deps.info, cluster, target)).uses;
  }

  let certificates: { rows: Awaited<ReturnType<typeof checkServed>>['rows'] } | { error: string } | undefined;
  if (!opts.skipCertificates) {
    try {
      const served = await checkServed(
        {
          paths: { ...DEFAULT_PATHS },
          localNode: undefined,
          now: deps.clock.now(),
          warnWithinMs: opts.windowMs,
        },
        { kube: certsKube(kube), tls: deps.tls },
      );
      certificates = { rows: served.rows };
    } catch (e) {
      certificates = { error: errorMessage(e) };
    }
  }

  const preflight = assessPreflight({
    versions,
    nodes: snap.nodes,
    plan,
    batches,
    removedApis,
    certificates,
    windowMs: opts.windowMs,
    now: deps.clock.now(),
  });
  return {
    apiVersion: 'bosun.dev/v1alpha1',
    kind: 'UpgradePlan',
    cluster: {
      version: cluster.text,
      servingApiserver: versions.servingApiserver,
      components: componentRows(versions, target?.text),
    },
    available,
    releaseSource: deps.releases.source,
    plan,
    preflight,
  };
}
