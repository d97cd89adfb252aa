// The Kubernetes Version Skew Policy as data (kubernetes.io/releases/version-skew-policy), and the
// checks bosun's upgrade plan runs before every step: given the versions of a cluster's components,
// is it within the policy, and if not, which rule does which component break; given the versions
// before and after a step, does the step itself keep to the policy.
//
// SKEW_POLICY holds the rules release by release, so that what a given release allows is read in
// one place. It also holds kubeadm's own upgrade check, which lagged the policy for years
// (kubeadm#2389: kubeadm 1.20 refused kubelets two minors behind, which the policy allowed; kubeadm
// only accepts the N-3 kubelets of the policy since 1.29, kubernetes#120825).
//
// Versions are compared by major.minor: the policy speaks of minor versions only. Pure: no I/O.

/** A component the policy governs. */
export type Component =
  | 'kube-apiserver'
  | 'kube-controller-manager'
  | 'kube-scheduler'
  | 'cloud-controller-manager'
  | 'kubelet'
  | 'kube-proxy';

/** One instance of a component and its version ("v1.34.3"). */
export interface ComponentVersion {
  component: Component;
  /** The node it runs on. */
  node: string;
  version: string;
  /**
   * For kube-controller-manager, kube-scheduler and cloud-controller-manager: which kube-apiserver
   * instances they talk to. 'local' is kubeadm's layout since v1.20 (their kubeconfigs name the
   * node's own kube-apiserver, kubernetes#94398); 'any' is a load balancer in front of all of them,
   * which narrows their allowed versions (the policy's note). Default 'local'.
   */
  apiserver?: 'local' | 'any';
}

/** The rules a cluster can break. */
export type SkewRule =
  | 'apiserver-spread'
  | 'apiserver-step'
  | 'kubelet-newer'
  | 'kubelet-too-old'
  | 'kube-proxy-newer'
  | 'kube-proxy-too-old'
  | 'kube-proxy-kubelet'
  | 'controller-newer'
  | 'controller-too-old'
  | 'kubeadm-kubelet-skew'
  | 'unknown-version';

/** The rules in the policy's words, for people. */
export const SKEW_RULES: Readonly<Record<SkewRule, string>> = {
  'apiserver-spread': 'the newest and oldest kube-apiserver instances must be within one minor version',
  'apiserver-step':
    'kube-apiserver must not skip minor versions when upgrading, and is never downgraded by bosun',
  'kubelet-newer': 'kubelet must not be newer than kube-apiserver',
  'kubelet-too-old':
    'kubelet may be up to three minor versions older than kube-apiserver (kubelet < 1.25: two)',
  'kube-proxy-newer': 'kube-proxy must not be newer than kube-apiserver',
  'kube-proxy-too-old':
    'kube-proxy may be up to three minor versions older than kube-apiserver (kube-proxy < 1.25: two)',
  'kube-proxy-kubelet':
    'kube-proxy may be up to three minor versions older or newer than the kubelet on its node (kube-proxy < 1.25: two)',
  'controller-newer':
    'kube-controller-manager, kube-scheduler and cloud-controller-manager must not be newer than the kube-apiserver instances they talk to',
  'controller-too-old':
    'kube-controller-manager, kube-scheduler and cloud-controller-manager may be at most one minor version older than kube-apiserver',
  'kubeadm-kubelet-skew':
    'kubeadm upgrade apply refuses kubelets older than its MaximumAllowedMinorVersionKubeletSkew (1 before kubeadm v1.29, 3 since)',
  'unknown-version': 'the version could not be read',
};

/** What the policy allows components of one release. Counts are minor versions. */
export interface ReleaseSkew {
  /** How far a kubelet of this release may lag kube-apiserver. */
  kubeletOlder: number;
  /** How far kube-proxy of this release may lag kube-apiserver. */
  kubeProxyOlder: number;
  /** How far kube-proxy of this release may be from its node's kubelet, either way. */
  kubeProxyKubelet: number;
  /** How far kube-controller-manager, kube-scheduler and cloud-controller-manager may lag kube-apiserver. */
  controllerOlder: number;
  /** How far apart the newest and oldest kube-apiserver of an HA cluster may be. */
  apiserverSpread: number;
  /** How many minor versions kube-apiserver may move in one upgrade. */
  apiserverStep: number;
  /** kubeadm of this release: how far behind the new version its `upgrade apply` accepts kubelets. */
  kubeadmKubeletSkew: number;
}

/**
 * The policy release by release: a row holds from its `since` release until the next row's. Read a
 * release's rules with rulesFor().
 */
export const SKEW_POLICY: readonly { since: string; rules: ReleaseSkew; why: string }[] = [
  {
    since: 'v1.0',
    rules: {
      kubeletOlder: 2,
      kubeProxyOlder: 2,
      kubeProxyKubelet: 2,
      controllerOlder: 1,
      apiserverSpread: 1,
      apiserverStep: 1,
      kubeadmKubeletSkew: 1,
    },
    why: 'kubelet and kube-proxy older than 1.25 may lag two minors; kubeadm allowed one (kubeadm#2389)',
  },
  {
    since: 'v1.25',
    rules: {
      kubeletOlder: 3,
      kubeProxyOlder: 3,
      kubeProxyKubelet: 3,
      controllerOlder: 1,
      apiserverSpread: 1,
      apiserverStep: 1,
      kubeadmKubeletSkew: 1,
    },
    why: 'KEP-3935: kubelet and kube-proxy from 1.25 on may lag three minors (policy since 1.28)',
  },
  {
    since: 'v1.29',
    rules: {
      kubeletOlder: 3,
      kubeProxyOlder: 3,
      kubeProxyKubelet: 3,
      controllerOlder: 1,
      apiserverSpread: 1,
      apiserverStep: 1,
      kubeadmKubeletSkew: 3,
    },
    why: 'kubeadm v1.29 accepts the N-3 kubelets of the policy (kubernetes#120825)',
  },
];

/** A parsed version: enough to compare minors and print. */
export interface Version {
  major: number;
  minor: number;
  patch: number;
  /** As given, with a leading "v": "v1.34.3". */
  text: string;
}

/**
 * Parses "v1.34.3", "1.34.3", "v1.34.3-rc.1" or "v1.34" (patch 0); an image tag such as
 * "v1.34.3" too. Undefined when it is not a version.
 */
export function parseVersion(s: string | undefined): Version | undefined {
  const m = /^v?(\d+)\.(\d+)(?:\.(\d+))?([-+][0-9A-Za-z.+-]*)?$/.exec((s ?? '').trim());
  if (!m) return undefined;
  const major = Number(m[1]);
  const minor = Number(m[2]);
  const patch = Number(m[3] ?? 0);
  return { major, minor, patch, text: `v${major}.${minor}.${patch}${m[4] ?? ''}` };
}

/** A comparable number for a version's major.minor. */
export function minorIndex(v: Version): number {
  return v.major * 1000 + v.minor;
}

/** "v1.34". */
export function minorText(v: Version): string {
  return `v${v.major}.${v.minor}`;
}

/** Compares two versions by major, minor, patch (pre-releases sort as their release). */
export function compareVersions(a: Version, b: Version): number {
  return a.major - b.major || a.minor - b.minor || a.patch - b.patch;
}

/** The policy's rules for a component of this release. */
export function rulesFor(v: Version): ReleaseSkew {
  let rules = SKEW_POLICY[0]?.rules;
  for (const row of SKEW_POLICY) {
    const since = parseVersion(row.since);
    if (since && minorIndex(v) >= minorIndex(since)) rules = row.rules;
  }
  if (!rules) throw new Error('SKEW_POLICY is empty');
  return rules;
}

/** The other side of a broken rule. */
export interface SkewRef {
  component: Component;
  node: string;
  version: string;
}

/** One broken rule: which component, against which. */
export interface SkewViolation {
  rule: SkewRule;
  component: Component;
  node: string;
  version: string;
  against: SkewRef | undefined;
  /** One line for people. */
  message: string;
}

interface Parsed extends ComponentVersion {
  v: Version;
}

function diff(a: Version, b: Version): number {
  return minorIndex(a) - minorIndex(b);
}

function ref(p: Parsed): SkewRef {
  return { component: p.component, node: p.node, version: p.version };
}

function minorsText(n: number): string {
  return n === 1 ? 'one minor version' : `${n} minor versions`;
}

function violation(
  rule: SkewRule,
  c: Parsed | ComponentVersion,
  against: Parsed | undefined,
  detail: string,
): SkewViolation {
  return {
    rule,
    component: c.component,
    node: c.node,
    version: c.version,
    against: against ? ref(against) : undefined,
    message: `${c.component} ${c.version} on ${c.node} ${detail}`,
  };
}

function oldest(xs: readonly Parsed[]): Parsed | undefined {
  return xs.reduce<Parsed | undefined>((a, x) => (a === undefined || diff(x.v, a.v) < 0 ? x : a), undefined);
}

function newest(xs: readonly Parsed[]): Parsed | undefined {
  return xs.reduce<Parsed | undefined>((a, x) => (a === undefined || diff(x.v, a.v) > 0 ? x : a), undefined);
}

const CONTROLLERS: ReadonlySet<Component> = new Set([
  'kube-controller-manager',
  'kube-scheduler',
  'cloud-controller-manager',
]);

/**
 * Checks a set of component versions against the policy. Returns every broken rule, in a stable
 * order (apiservers, then controllers, kubelets, kube-proxies); empty when the cluster is within
 * the policy. Without any kube-apiserver nothing can be judged and nothing is returned.
 */
export function checkSkew(components: readonly ComponentVersion[]): SkewViolation[] {
  const out: SkewViolation[] = [];
  const parsed: Parsed[] = [];
  for (const c of components) {
    const v = parseVersion(c.version);
    if (v) parsed.push({ ...c, v });
    else out.push(violation('unknown-version', c, undefined, 'is not a version bosun can read'));
  }
  const apiservers = parsed.filter((p) => p.component === 'kube-apiserver');
  const lo = oldest(apiservers);
  const hi = newest(apiservers);
  if (!lo || !hi) return out;

  const spread = rulesFor(lo.v).apiserverSpread;
  for (const a of apiservers)
    if (diff(hi.v, a.v) > spread)
      out.push(
        violation(
          'apiserver-spread',
          a,
          hi,
          `is more than ${minorsText(spread)} older than kube-apiserver ${hi.version} on ${hi.node}`,
        ),
      );

  for (const c of parsed.filter((p) => CONTROLLERS.has(p.component))) {
    const local = apiservers.filter((a) => a.node === c.node);
    const refs = c.apiserver === 'any' || local.length === 0 ? apiservers : local;
    const refLo = oldest(refs) ?? lo;
    const refHi = newest(refs) ?? hi;
    const older = rulesFor(c.v).controllerOlder;
    if (diff(c.v, refLo.v) > 0)
      out.push(
        violation(
          'controller-newer',
          c,
          refLo,
          `is newer than kube-apiserver ${refLo.version} on ${refLo.node}`,
        ),
      );
    else if (diff(refHi.v, c.v) > older)
      out.push(
        violation(
          'controller-too-old',
          c,
          refHi,
          `is more than ${minorsText(older)} older than kube-apiserver ${refHi.version} on ${refHi.node}`,
        ),
      );
  }

  const kubelets = new Map<string, Parsed>();
  for (const k of parsed.filter((p) => p.component === 'kubelet')) {
    kubelets.set(k.node, k);
    const older = rulesFor(k.v).kubeletOlder;
    if (diff(k.v, lo.v) > 0)
      out.push(violation('kubelet-newer', k, lo, `is newer than kube-apiserver ${lo.version} on ${lo.node}`));
    else if (diff(hi.v, k.v) > older)
      out.push(
        violation(
          'kubelet-too-old',
          k,
          hi,
          `is more than ${minorsText(older)} older than kube-apiserver ${hi.version} on ${hi.node}`,
        ),
      );
  }

  for (const p of parsed.filter((x) => x.component === 'kube-proxy')) {
    const rules = rulesFor(p.v);
    if (diff(p.v, lo.v) > 0)
      out.push(
        violation('kube-proxy-newer', p, lo, `is newer than kube-apiserver ${lo.version} on ${lo.node}`),
      );
    else if (diff(hi.v, p.v) > rules.kubeProxyOlder)
      out.push(
        violation(
          'kube-proxy-too-old',
          p,
          hi,
          `is more than ${minorsText(rules.kubeProxyOlder)} older than kube-apiserver ${hi.version} on ${hi.node}`,
        ),
      );
    const k = kubelets.get(p.node);
    if (k && Math.abs(diff(p.v, k.v)) > rules.kubeProxyKubelet)
      out.push(
        violation(
          'kube-proxy-kubelet',
          p,
          k,
          `is more than ${minorsText(rules.kubeProxyKubelet)} ${diff(p.v, k.v) > 0 ? 'newer' : 'older'} than the kubelet ${k.version} on its node`,
        ),
      );
  }
  return out;
}

/**
 * A stable key of a violation, to tell one that persists from one that a step introduces: the rule
 * and the component that breaks it (not the instance it is measured against, which changes as the
 * control planes move one by one).
 */
export function violationKey(v: SkewViolation): string {
  return [v.rule, v.component, v.node].join('|');
}

/** What a step does to the policy. */
export interface StepVerdict {
  /** No rule is broken after the step that was not broken before it, and the step itself is allowed. */
  legal: boolean;
  /** Rules the step breaks: broken after it and not before, or broken by the move itself. */
  introduced: SkewViolation[];
  /** Rules broken before the step and still broken after it. */
  remaining: SkewViolation[];
  /** Rules broken before the step that it repairs. */
  repaired: SkewViolation[];
}

/**
 * Judges one step: the versions before and after it. A step is legal when it breaks no rule that
 * was kept before it and moves every kube-apiserver forward by at most one minor version. With
 * `kubeadm` (the step is `kubeadm upgrade apply` by kubeadm of that version to the after state),
 * kubeadm's own kubelet check is applied to the kubelets before the step.
 */
export function checkStep(
  before: readonly ComponentVersion[],
  after: readonly ComponentVersion[],
  opts: { kubeadm?: string; target?: string } = {},
): StepVerdict {
  const was = checkSkew(before);
  const now = checkSkew(after);
  const wasKeys = new Set(was.map(violationKey));
  const nowKeys = new Set(now.map(violationKey));
  const introduced = now.filter((v) => !wasKeys.has(violationKey(v)));
  for (const a of after) {
    if (a.component !== 'kube-apiserver') continue;
    const b = before.find((x) => x.component === 'kube-apiserver' && x.node === a.node);
    const av = parseVersion(a.version);
    const bv = parseVersion(b?.version);
    if (!av || !bv || !b) continue;
    const step = rulesFor(bv).apiserverStep;
    if (diff(av, bv) > step)
      introduced.push(
        violation('apiserver-step', a, { ...b, v: bv }, `skips a minor version: it was ${b.version}`),
      );
    else if (compareVersions(av, bv) < 0)
      introduced.push(
        violation('apiserver-step', a, { ...b, v: bv }, `would be downgraded from ${b.version}`),
      );
  }
  const kubeadm = parseVersion(opts.kubeadm);
  const target = parseVersion(opts.target ?? opts.kubeadm);
  if (kubeadm && target) {
    const skew = rulesFor(kubeadm).kubeadmKubeletSkew;
    for (const k of before) {
      if (k.component !== 'kubelet') continue;
      const kv = parseVersion(k.version);
      if (kv && diff(target, kv) > skew)
        introduced.push({
          rule: 'kubeadm-kubelet-skew',
          component: 'kubelet',
          node: k.node,
          version: k.version,
          against: undefined,
          message: `kubelet ${k.version} on ${k.node} is more than ${minorsText(skew)} older than ${target.text}: kubeadm ${kubeadm.text}'s upgrade apply refuses it ("There are kubelets in this cluster that are too old")`,
        });
    }
  }
  return {
    legal: introduced.length === 0,
    introduced,
    remaining: now.filter((v) => wasKeys.has(violationKey(v))),
    repaired: was.filter((v) => !nowKeys.has(violationKey(v))),
  };
}
