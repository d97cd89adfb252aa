// The shell lines an upgrade runs on a node, per role, with placeholders: the default apt
// (pkgs.k8s.io) and dnf recipes, a --recipe FILE that replaces them, and the substitution.
//
// A recipe has four lists, each run in order on one node, stopping at the first failure:
//   primary       the first control plane, before its drain: kubeadm's package, then
//                 `kubeadm upgrade apply`
//   controlPlane  every other control plane, before its drain: kubeadm's package, `kubeadm upgrade node`
//   worker        every worker, after its drain: kubeadm's package, `kubeadm upgrade node`
//   kubelet       every node whose kubelet moves, while it is drained: kubelet and kubectl, restart
// Placeholders: {version} "v1.34.3" (what kubeadm takes), {minor} "v1.34" (pkgs.k8s.io's repository
// per minor), {debVersion} "1.34.3-1.1", {rpmVersion} "1.34.3-150500.1.1", {node} the node's name.
//
// pkgs.k8s.io has one repository per minor: a node whose source names v1.33 cannot install 1.34
// packages. As kubeadm's upgrade guide says ("Changing the package repository"), the recipes first
// point the repository at the hop's minor, then refresh the index; the line is idempotent.
//
// The same text runs on a sandbox node (its shims: apt-get, apt-mark, dnf, kubeadm, systemctl and
// sed, on the node's own files) and on a real one. Pure: the CLI reads the file.
import { parse as parseYaml } from 'yaml';
import { UsageError } from '../common/errors.ts';
import type { Version } from './skew.ts';

/** The roles a recipe has lines for. */
export const RECIPE_ROLES = ['primary', 'controlPlane', 'worker', 'kubelet'] as const;
/** One role. */
export type RecipeRole = (typeof RECIPE_ROLES)[number];

/** Shell lines per role. */
export type Recipe = Readonly<Record<RecipeRole, readonly string[]>>;

/** The placeholders a recipe may use. */
export const PLACEHOLDERS = ['version', 'minor', 'debVersion', 'rpmVersion', 'node'] as const;

const APT_REPO =
  "sed -i 's#/core:/stable:/v[0-9][0-9.]*/deb/#/core:/stable:/{minor}/deb/#' /etc/apt/sources.list.d/kubernetes.list";
const APT_KUBEADM = [
  APT_REPO,
  'apt-get update',
  'apt-mark unhold kubeadm',
  'apt-get install -y kubeadm={debVersion}',
  'apt-mark hold kubeadm',
];

/** kubeadm's upgrade guide on Debian and Ubuntu (pkgs.k8s.io, packages held between upgrades). */
export const APT_RECIPE: Recipe = {
  primary: [...APT_KUBEADM, 'kubeadm upgrade apply {version} -y'],
  controlPlane: [...APT_KUBEADM, 'kubeadm upgrade node'],
  worker: [...APT_KUBEADM, 'kubeadm upgrade node'],
  kubelet: [
    APT_REPO,
    'apt-get update',
    'apt-mark unhold kubelet kubectl',
    'apt-get install -y kubelet={debVersion} kubectl={debVersion}',
    'apt-mark hold kubelet kubectl',
    'systemctl daemon-reload',
    'systemctl restart kubelet',
  ],
};

const DNF_REPO =
  "sed -i 's#/core:/stable:/v[0-9][0-9.]*/rpm/#/core:/stable:/{minor}/rpm/#g' /etc/yum.repos.d/kubernetes.repo";
const DNF_KUBEADM = [DNF_REPO, 'dnf install -y kubeadm-{rpmVersion} --disableexcludes=kubernetes'];

/** kubeadm's upgrade guide on RHEL, CentOS, Rocky, Fedora (the repository excludes the packages). */
export const DNF_RECIPE: Recipe = {
  primary: [...DNF_KUBEADM, 'kubeadm upgrade apply {version} -y'],
  controlPlane: [...DNF_KUBEADM, 'kubeadm upgrade node'],
  worker: [...DNF_KUBEADM, 'kubeadm upgrade node'],
  kubelet: [
    DNF_REPO,
    'dnf install -y kubelet-{rpmVersion} kubectl-{rpmVersion} --disableexcludes=kubernetes',
    'systemctl daemon-reload',
    'systemctl restart kubelet',
  ],
};

/** Where a node's recipe comes from. */
export type RecipeSource = 'apt' | 'dnf' | 'file';

/** The default recipe for a node's OS (status.nodeInfo.osImage); undefined when bosun cannot tell. */
export function defaultRecipeFor(osImage: string): { source: 'apt' | 'dnf'; recipe: Recipe } | undefined {
  if (/debian|ubuntu/i.test(osImage)) return { source: 'apt', recipe: APT_RECIPE };
  if (/red hat|rhel|centos|rocky|alma|fedora|amazon linux|oracle linux/i.test(osImage))
    return { source: 'dnf', recipe: DNF_RECIPE };
  return undefined;
}

/** The Debian package version pkgs.k8s.io gives a release ("v1.34.3" -> "1.34.3-1.1"). */
export function debVersionOf(v: Version): string {
  return `${v.major}.${v.minor}.${v.patch}-1.1`;
}

/** The RPM version pkgs.k8s.io gives a release ("v1.34.3" -> "1.34.3-150500.1.1"). */
export function rpmVersionOf(v: Version): string {
  return `${v.major}.${v.minor}.${v.patch}-150500.1.1`;
}

/** Fills the placeholders of recipe lines for one node and version. */
export function renderLines(lines: readonly string[], v: Version, node: string): string[] {
  const values: Record<string, string> = {
    version: `v${v.major}.${v.minor}.${v.patch}`,
    minor: `v${v.major}.${v.minor}`,
    debVersion: debVersionOf(v),
    rpmVersion: rpmVersionOf(v),
    node,
  };
  return lines.map((l) => l.replace(/\{([A-Za-z]+)\}/g, (m, k: string) => values[k] ?? m));
}

function bad(file: string, what: string): UsageError {
  return new UsageError(`recipe ${file}: ${what}`, {
    hint: `A recipe is YAML with the lists ${RECIPE_ROLES.join(', ')} of shell lines; see 'bosun upgrade plan -h'`,
  });
}

/**
 * Parses a --recipe file: YAML with exactly the keys primary, controlPlane, worker and kubelet, each
 * a non-empty list of strings using only the known placeholders.
 * @throws UsageError with one line naming the file and what is wrong.
 */
export function parseRecipe(text: string, file: string): Recipe {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    const first = ((e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '').replace(/:\s*$/, '');
    throw bad(file, `not valid YAML: ${first}`);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    throw bad(file, `expected a mapping with the keys ${RECIPE_ROLES.join(', ')}`);
  const map = doc as Record<string, unknown>;
  const unknown = Object.keys(map).filter((k) => !(RECIPE_ROLES as readonly string[]).includes(k));
  if (unknown.length > 0) throw bad(file, `unknown key ${unknown.map((k) => `"${k}"`).join(', ')}`);
  const out: Partial<Record<RecipeRole, string[]>> = {};
  for (const role of RECIPE_ROLES) {
    const v = map[role];
    if (v === undefined) throw bad(file, `missing the list "${role}"`);
    if (!Array.isArray(v) || v.length === 0)
      throw bad(file, `"${role}" must be a non-empty list of shell lines`);
    const lines: string[] = [];
    v.forEach((line: unknown, i) => {
      if (typeof line !== 'string' || line.trim() === '')
        throw bad(file, `${role}[${i}] must be a non-empty string`);
      for (const m of line.matchAll(/\{([A-Za-z]+)\}/g))
        if (!(PLACEHOLDERS as readonly string[]).includes(m[1] ?? ''))
          throw bad(
            file,
            `${role}[${i}] uses the unknown placeholder {${m[1] ?? ''}} (known: ${PLACEHOLDERS.map((p) => `{${p}}`).join(' ')})`,
          );
      lines.push(line);
    });
    out[role] = lines;
  }
  return out as Recipe;
}
