// The upgrade's pre-flight: what would stop or endanger the plan, judged before anything is touched
// (and judged again by `apply`):
// - skew: the Version Skew Policy already broken today;
// - nodes: NotReady nodes, nodes cordoned by someone else (bosun will not uncordon them);
// - etcd: members not Ready, a lost quorum, and whether a control plane step (which restarts that
//   node's etcd member) keeps the quorum;
// - drain: for every batch, the drain pre-flight's verdicts with that batch out at once (budgets that
//   can never allow it, pods the remaining nodes cannot take, pods the drain refuses);
// - removed APIs the target no longer serves that the cluster still uses;
// - certificates served today that expire within the window the upgrade runs in;
// - the plan's own problems (a step that would break the policy, a node without a recipe).
// Findings are values with a severity; `ok` is false when any is an error. Pure: everything is
// given, read once by the planner.
import { etcdRestartAllowed, type ServedRow } from '../certs/index.ts';
import { cordonInfo, podKey, refusalLine, warningText, type NodePlan } from '../drain/index.ts';
import type { Node } from '../kube/types.ts';
import type { UpgradePlan } from './plan.ts';
import type { RemovedApiUse } from './removed-apis.ts';
import { SKEW_RULES, checkSkew } from './skew.ts';
import { skewComponents, type ClusterVersions } from './versions.ts';

/** The pre-flight's checks, in the order they are shown. */
export const UPGRADE_PREFLIGHT_CHECKS = [
  'skew',
  'nodes',
  'etcd',
  'drain',
  'removed-apis',
  'certificates',
  'plan',
] as const;
/** One check. */
export type UpgradePreflightCheck = (typeof UPGRADE_PREFLIGHT_CHECKS)[number];

/** One finding. */
export interface PreflightFinding {
  check: UpgradePreflightCheck;
  severity: 'ok' | 'warning' | 'error';
  /** What it is about: a node, a batch, a component, an API. */
  subject: string;
  /** One line. */
  message: string;
  hint?: string;
}

/** The pre-flight's verdict. */
export interface UpgradePreflight {
  /** No finding is an error. */
  ok: boolean;
  findings: PreflightFinding[];
}

/** A batch of the plan and the drain planning of its nodes, out at once. */
export interface BatchDrain {
  hop: number;
  batch: number;
  nodes: string[];
  plans: readonly NodePlan[];
}

/** What the pre-flight judges. */
export interface PreflightInput {
  versions: ClusterVersions;
  /** The nodes as read (for cordon annotations). */
  nodes: readonly Node[];
  plan: UpgradePlan | undefined;
  batches: readonly BatchDrain[];
  /** undefined: not checked (no --to). */
  removedApis: readonly RemovedApiUse[] | undefined;
  /** undefined: not checked; with error: why not. */
  certificates: { rows: readonly ServedRow[] } | { error: string } | undefined;
  /** How long the upgrade may take, in ms: certificates expiring within it are reported. */
  windowMs: number;
  now: Date;
}

function durationText(ms: number): string {
  const h = Math.round(ms / 3_600_000);
  return h >= 48 ? `${Math.round(h / 24)}d` : `${h}h`;
}

/** Judges everything. Pure. */
export function assessPreflight(input: PreflightInput): UpgradePreflight {
  const f: PreflightFinding[] = [];
  const add = (x: PreflightFinding): void => void f.push(x);

  // skew today
  const broken = checkSkew(skewComponents(input.versions));
  for (const v of broken)
    add({
      check: 'skew',
      severity: 'error',
      subject: `${v.component}/${v.node}`,
      message: `${v.message} (${v.rule}: ${SKEW_RULES[v.rule]})`,
      hint: 'The plan repairs it only if its steps move the other side; otherwise fix it first.',
    });
  if (broken.length === 0)
    add({
      check: 'skew',
      severity: 'ok',
      subject: 'cluster',
      message: 'every component is within the Version Skew Policy',
    });

  // nodes
  let nodeTrouble = 0;
  for (const n of input.versions.nodes) {
    if (!n.ready) {
      nodeTrouble++;
      add({
        check: 'nodes',
        severity: 'error',
        subject: n.name,
        message: `node ${n.name} is NotReady`,
        hint: 'An upgrade cannot check a node that does not report: bring it back first (kubeadm refuses NotReady control planes).',
      });
    }
    const raw = input.nodes.find((x) => x.metadata.name === n.name);
    const c = raw ? cordonInfo(raw) : undefined;
    if (c?.cordoned && !c.ownedByBosun) {
      nodeTrouble++;
      add({
        check: 'nodes',
        severity: 'warning',
        subject: n.name,
        message: `node ${n.name} is cordoned by someone else: bosun upgrades it and leaves it cordoned`,
        hint: `Uncordon it first (bosun uncordon ${n.name}) if it should take workloads again.`,
      });
    } else if (c?.cordoned) {
      nodeTrouble++;
      add({
        check: 'nodes',
        severity: 'warning',
        subject: n.name,
        message: `node ${n.name} is cordoned by bosun (${c.by ?? ''}${c.reason ? `: ${c.reason}` : ''})`,
        hint: 'Another bosun operation may still be running on it; finish or undo it first.',
      });
    }
  }
  if (nodeTrouble === 0)
    add({
      check: 'nodes',
      severity: 'ok',
      subject: 'nodes',
      message: `${input.versions.nodes.length} nodes Ready, none cordoned`,
    });

  // etcd
  const members = input.versions.controlPlanes
    .filter((c) => c.etcd !== undefined)
    .map((c) => ({ name: c.node, ready: c.etcd?.ready === true }));
  if (members.length === 0)
    add({
      check: 'etcd',
      severity: 'warning',
      subject: 'etcd',
      message: 'no etcd static pods in kube-system (external etcd?): its health is not checked',
      hint: 'Check the external etcd cluster and take its backup yourself before upgrading.',
    });
  else {
    const ready = members.filter((m) => m.ready).length;
    const quorum = Math.floor(members.length / 2) + 1;
    for (const m of members.filter((x) => !x.ready))
      add({
        check: 'etcd',
        severity: 'error',
        subject: `etcd/${m.name}`,
        message: `etcd member on ${m.name} is not Ready`,
        hint: 'kubeadm refuses to upgrade while etcd is unhealthy ("etcd cluster is not healthy").',
      });
    if (ready < quorum)
      add({
        check: 'etcd',
        severity: 'error',
        subject: 'etcd',
        message: `etcd has no quorum: ${ready} of ${members.length} members Ready, ${quorum} needed`,
        hint: 'Restore quorum (or restore from a backup) before anything else.',
      });
    else {
      // Each control plane step restarts that node's etcd member (kubeadm's etcd step).
      const healthy = members.find((m) => m.ready)?.name ?? '';
      const verdict = etcdRestartAllowed(members, healthy);
      if (ready < members.length && !verdict.allowed)
        add({
          check: 'etcd',
          severity: 'error',
          subject: 'etcd',
          message: `a control plane step restarts its etcd member: ${verdict.reason}`,
          hint: 'Bring every etcd member back before upgrading.',
        });
      else if (members.length <= 2)
        add({
          check: 'etcd',
          severity: 'warning',
          subject: 'etcd',
          message: `each control plane step restarts its etcd member: ${verdict.reason}`,
        });
      else if (ready === members.length)
        add({
          check: 'etcd',
          severity: 'ok',
          subject: 'etcd',
          message: `${ready} of ${members.length} members Ready (quorum ${quorum}); a control plane step keeps the quorum`,
        });
    }
  }

  // drain, per batch
  for (const b of input.batches) {
    const subject = `hop ${b.hop} batch ${b.batch} (${b.nodes.join(', ')})`;
    let trouble = 0;
    for (const p of b.plans) {
      for (const x of p.preflight.blockers) {
        trouble++;
        add({
          check: 'drain',
          severity: 'error',
          subject,
          message: `${podKey(x.pod)} on ${p.preflight.node}: ${x.blocker.message}`,
          hint: x.blocker.hint,
        });
      }
      for (const g of p.refusals) {
        trouble++;
        add({
          check: 'drain',
          severity: 'error',
          subject,
          message: `${p.preflight.node}: ${refusalLine(g)}`,
          hint: 'Pass --force (pods without a controller) or --delete-emptydir-data (pods with emptyDir), as kubectl drain takes them.',
        });
      }
      // The upgrade drains with --ignore-daemonsets on purpose (kubeadm's guide): those are not news.
      const warnings = p.warnings.filter((w) => w.category !== 'daemonset-managed');
      if (warnings.length > 0)
        add({
          check: 'drain',
          severity: 'warning',
          subject,
          message: `${p.preflight.node}: ${warningText(warnings)}`,
        });
    }
    if (trouble === 0) {
      const evict = b.plans.reduce((n, p) => n + p.verdicts.filter((v) => v.action === 'evict').length, 0);
      const grace = Math.max(0, ...b.plans.map((p) => p.preflight.longestGraceSeconds));
      add({
        check: 'drain',
        severity: 'ok',
        subject,
        message: `${evict} pod${evict === 1 ? '' : 's'} to evict, every one can go${evict > 0 ? ` (longest grace period ${grace}s)` : ''}`,
      });
    }
  }

  // removed APIs
  if (input.removedApis !== undefined) {
    for (const u of input.removedApis) {
      const instead = u.replacement ? `use ${u.replacement}` : 'the API is gone for good';
      if (u.how === 'served')
        add({
          check: 'removed-apis',
          severity: 'warning',
          subject: `${u.groupVersion} ${u.kind}`,
          message: `${u.groupVersion} ${u.kind} is served today and removed in ${u.removedIn}: clients still calling it will fail after the upgrade`,
          hint: `Move clients and manifests to ${u.replacement || 'its successor'} (the API server's apiserver_requested_deprecated_apis metric names the callers).`,
        });
      else
        add({
          check: 'removed-apis',
          severity: u.alreadyRemoved ? 'warning' : 'error',
          subject: `${u.groupVersion} ${u.kind}`,
          message: `${u.objects.length} object${u.objects.length === 1 ? ' was' : 's were'} last applied as ${u.groupVersion} ${u.kind}, not served since ${u.removedIn} (${instead}): ${u.objects.join(', ')}`,
          hint: `Applying those manifests again fails${u.alreadyRemoved ? ' already' : ' after the upgrade'}: change their apiVersion (kubectl convert).`,
        });
    }
    if (input.removedApis.length === 0)
      add({
        check: 'removed-apis',
        severity: 'ok',
        subject: 'APIs',
        message: `nothing uses an API version that ${input.plan?.to ?? 'the target'} no longer serves`,
      });
  }

  // certificates
  const cert = input.certificates;
  if (cert && 'error' in cert)
    add({
      check: 'certificates',
      severity: 'warning',
      subject: 'certificates',
      message: `could not check the served certificates: ${cert.error}`,
    });
  else if (cert) {
    let trouble = 0;
    for (const r of cert.rows) {
      const subject = `${r.component}/${r.node}`;
      const renewedByKubeadm = r.component !== 'kubelet';
      const hint = renewedByKubeadm
        ? 'kubeadm upgrade renews it when it upgrades that control plane, but it must not expire before: renew it now (bosun certs renew) if the step may come later'
        : 'Renew the kubelet serving certificate (kubelet rotation or bosun certs renew).';
      if (r.status === 'expired' || r.status === 'not-yet-valid') {
        trouble++;
        add({
          check: 'certificates',
          severity: 'error',
          subject,
          message: `${r.endpoint} serves a certificate that is ${r.status}`,
          hint,
        });
      } else if (r.status === 'expiring' && r.facts) {
        trouble++;
        const left = r.facts.notAfter.getTime() - input.now.getTime();
        add({
          check: 'certificates',
          severity: 'warning',
          subject,
          message: `${r.endpoint} serves a certificate that expires in ${durationText(left)} (${r.facts.notAfter.toISOString()}), within the ${durationText(input.windowMs)} window`,
          hint,
        });
      } else if (r.status === 'unreachable' || r.status === 'stale') {
        trouble++;
        add({
          check: 'certificates',
          severity: 'warning',
          subject,
          message:
            r.status === 'stale'
              ? `${r.endpoint} serves an older certificate than the one on disk (restart pending)`
              : `${r.endpoint}: could not read its certificate: ${r.error ?? ''}`,
        });
      }
    }
    if (trouble === 0)
      add({
        check: 'certificates',
        severity: 'ok',
        subject: 'certificates',
        message: `${cert.rows.length} served certificates, none expires within ${durationText(input.windowMs)}`,
      });
  }

  // the plan's own problems
  for (const p of input.plan?.problems ?? [])
    add({ check: 'plan', severity: 'error', subject: 'plan', message: p });

  const order = (c: UpgradePreflightCheck): number => UPGRADE_PREFLIGHT_CHECKS.indexOf(c);
  const findings = f
    .map((x, i) => ({ x, i }))
    .sort((a, b) => order(a.x.check) - order(b.x.check) || a.i - b.i)
    .map((e) => e.x);
  return { ok: findings.every((x) => x.severity !== 'error'), findings };
}
