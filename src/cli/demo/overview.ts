// The demo's first chapter: the cluster as an admin sees it before maintenance: nodes with role,
// version, Ready and schedulable; workloads with their readiness and the PodDisruptionBudgets
// that guard them. Reads any cluster through the Kubernetes API.
import { kubeRequest, type KubeClients } from '../../kube/client.ts';
import type { Node, ObjectMeta, Pod, PodDisruptionBudget } from '../../kube/types.ts';
import { formatTable } from '../output.ts';

/** What the overview reads of a Deployment, StatefulSet or DaemonSet. */
interface Workload {
  metadata: ObjectMeta;
  spec?: { replicas?: number; template?: { metadata?: { labels?: Record<string, string> } } };
  status?: { readyReplicas?: number; numberReady?: number; desiredNumberScheduled?: number };
}

async function list<T>(k: Pick<KubeClients, 'config'>, path: string): Promise<T[]> {
  return (await kubeRequest<{ items?: T[] }>(k, { method: 'GET', path })).items ?? [];
}

/** One node row. */
export interface NodeRow {
  name: string;
  role: string;
  version: string;
  ready: boolean;
  schedulable: boolean;
}

/** One workload row. */
export interface WorkloadRow {
  namespace: string;
  kind: string;
  name: string;
  ready: string;
  pdb: string;
}

function role(n: Node): string {
  const roles = Object.keys(n.metadata?.labels ?? {})
    .filter((k) => k.startsWith('node-role.kubernetes.io/'))
    .map((k) => k.slice('node-role.kubernetes.io/'.length))
    .filter(Boolean);
  return roles.length ? roles.sort().join(',') : 'worker';
}

function selectorMatches(pdb: PodDisruptionBudget, labels: Record<string, string>): boolean {
  const ml = pdb.spec?.selector?.matchLabels ?? {};
  const keys = Object.keys(ml);
  return keys.length > 0 && keys.every((k) => labels[k] === ml[k]);
}

function pdbText(p: PodDisruptionBudget): string {
  const rule =
    p.spec?.minAvailable !== undefined
      ? `minAvailable=${String(p.spec.minAvailable)}`
      : `maxUnavailable=${String(p.spec?.maxUnavailable ?? '')}`;
  return `${p.metadata?.name ?? ''} (${rule}, allows ${p.status?.disruptionsAllowed ?? 0})`;
}

/** Reads the overview from the cluster. */
export async function readOverview(
  k: Pick<KubeClients, 'config'>,
): Promise<{ nodes: NodeRow[]; workloads: WorkloadRow[] }> {
  const [nodes, deps, sts, ds, pdbs, pods] = await Promise.all([
    list<Node>(k, '/api/v1/nodes'),
    list<Workload>(k, '/apis/apps/v1/deployments'),
    list<Workload>(k, '/apis/apps/v1/statefulsets'),
    list<Workload>(k, '/apis/apps/v1/daemonsets'),
    list<PodDisruptionBudget>(k, '/apis/policy/v1/poddisruptionbudgets'),
    list<Pod>(k, '/api/v1/pods'),
  ]);
  const nodeRows = nodes.map((n) => ({
    name: n.metadata?.name ?? '',
    role: role(n),
    version: n.status?.nodeInfo?.kubeletVersion ?? '',
    ready: (n.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
    schedulable: n.spec?.unschedulable !== true,
  }));
  const guard = (ns: string, labels: Record<string, string>): string =>
    pdbs
      .filter((p) => p.metadata?.namespace === ns && selectorMatches(p, labels))
      .map(pdbText)
      .join(', ') || '-';
  const workloads: WorkloadRow[] = [];
  for (const d of deps) {
    const ns = d.metadata?.namespace ?? '';
    workloads.push({
      namespace: ns,
      kind: 'Deployment',
      name: d.metadata?.name ?? '',
      ready: `${d.status?.readyReplicas ?? 0}/${d.spec?.replicas ?? 0}`,
      pdb: guard(ns, d.spec?.template?.metadata?.labels ?? {}),
    });
  }
  for (const s of sts) {
    const ns = s.metadata?.namespace ?? '';
    workloads.push({
      namespace: ns,
      kind: 'StatefulSet',
      name: s.metadata?.name ?? '',
      ready: `${s.status?.readyReplicas ?? 0}/${s.spec?.replicas ?? 0}`,
      pdb: guard(ns, s.spec?.template?.metadata?.labels ?? {}),
    });
  }
  for (const d of ds) {
    const ns = d.metadata?.namespace ?? '';
    workloads.push({
      namespace: ns,
      kind: 'DaemonSet',
      name: d.metadata?.name ?? '',
      ready: `${d.status?.numberReady ?? 0}/${d.status?.desiredNumberScheduled ?? 0}`,
      pdb: guard(ns, d.spec?.template?.metadata?.labels ?? {}),
    });
  }
  // What else a drain meets: pods without a controller, and run-to-completion pods (Jobs).
  for (const p of pods) {
    const ns = p.metadata?.namespace ?? '';
    const owner = p.metadata?.ownerReferences?.find((o) => o.controller);
    const mirror = p.metadata?.annotations?.['kubernetes.io/config.mirror'] !== undefined;
    if (mirror || (owner && owner.kind !== 'Job')) continue;
    const phase = p.status?.phase ?? '';
    const kind = owner ? 'Job pod' : 'Pod (no controller)';
    const ready =
      phase === 'Succeeded'
        ? 'Completed'
        : (p.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
          ? '1/1'
          : phase;
    workloads.push({
      namespace: ns,
      kind,
      name: p.metadata?.name ?? '',
      ready,
      pdb: guard(ns, p.metadata?.labels ?? {}),
    });
  }
  workloads.sort(
    (a, b) =>
      a.namespace.localeCompare(b.namespace) || a.kind.localeCompare(b.kind) || a.name.localeCompare(b.name),
  );
  return { nodes: nodeRows, workloads };
}

/** The overview as table lines. */
export function overviewLines(o: { nodes: NodeRow[]; workloads: WorkloadRow[] }): string[] {
  return [
    ...formatTable(
      ['NODE', 'ROLE', 'VERSION', 'READY', 'SCHEDULABLE'],
      o.nodes.map((n) => [n.name, n.role, n.version, n.ready ? 'yes' : 'no', n.schedulable ? 'yes' : 'no']),
    ),
    '',
    ...formatTable(
      ['NAMESPACE', 'KIND', 'NAME', 'READY', 'DISRUPTION BUDGET'],
      o.workloads.map((w) => [w.namespace, w.kind, w.name, w.ready, w.pdb]),
    ),
  ];
}
