// The API versions Kubernetes stopped serving, release by release (the Deprecated API Migration
// Guide, kubernetes.io/docs/reference/using-api/deprecation-guide), and the check an upgrade plan
// runs against them: which removed group/version/kinds the target release no longer serves that
// the cluster still uses. Two signs of use, as the guide's "Locate use of deprecated APIs" and
// tools such as kubent read them:
// - the API server serves the version today (discovery), so clients may still call it: after the
//   upgrade those calls fail;
// - an object's kubectl.kubernetes.io/last-applied-configuration names it: the manifest it was
//   applied from uses it, and applying that manifest again fails after the upgrade.
// Objects themselves are never at risk: every stored object is served by the newer version.
//
// findRemovedApiUse() is pure; readRemovedApiUse() reads discovery and the lists it needs once.
import type { AnyObject, ClusterInfo } from '../kube/cluster-info.ts';
import { minorIndex, parseVersion, type Version } from './skew.ts';

/** API versions of some kinds that a release stopped serving. */
export interface RemovedApi {
  groupVersion: string;
  kinds: readonly string[];
  /** Where the objects are served now, preferred first; empty when the API is gone for good. */
  replacements: readonly string[];
}

/** The removals, keyed by the release that stopped serving them. */
export const REMOVED_APIS: Readonly<Record<string, readonly RemovedApi[]>> = {
  'v1.16': [
    {
      groupVersion: 'extensions/v1beta1',
      kinds: ['DaemonSet', 'Deployment', 'ReplicaSet'],
      replacements: ['apps/v1'],
    },
    { groupVersion: 'extensions/v1beta1', kinds: ['NetworkPolicy'], replacements: ['networking.k8s.io/v1'] },
    { groupVersion: 'extensions/v1beta1', kinds: ['PodSecurityPolicy'], replacements: [] },
    {
      groupVersion: 'apps/v1beta1',
      kinds: ['Deployment', 'StatefulSet', 'ReplicaSet'],
      replacements: ['apps/v1'],
    },
    {
      groupVersion: 'apps/v1beta2',
      kinds: ['DaemonSet', 'Deployment', 'StatefulSet', 'ReplicaSet'],
      replacements: ['apps/v1'],
    },
  ],
  'v1.22': [
    {
      groupVersion: 'admissionregistration.k8s.io/v1beta1',
      kinds: ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration'],
      replacements: ['admissionregistration.k8s.io/v1'],
    },
    {
      groupVersion: 'apiextensions.k8s.io/v1beta1',
      kinds: ['CustomResourceDefinition'],
      replacements: ['apiextensions.k8s.io/v1'],
    },
    {
      groupVersion: 'apiregistration.k8s.io/v1beta1',
      kinds: ['APIService'],
      replacements: ['apiregistration.k8s.io/v1'],
    },
    {
      groupVersion: 'authentication.k8s.io/v1beta1',
      kinds: ['TokenReview'],
      replacements: ['authentication.k8s.io/v1'],
    },
    {
      groupVersion: 'authorization.k8s.io/v1beta1',
      kinds: ['LocalSubjectAccessReview', 'SelfSubjectAccessReview', 'SubjectAccessReview'],
      replacements: ['authorization.k8s.io/v1'],
    },
    {
      groupVersion: 'certificates.k8s.io/v1beta1',
      kinds: ['CertificateSigningRequest'],
      replacements: ['certificates.k8s.io/v1'],
    },
    {
      groupVersion: 'coordination.k8s.io/v1beta1',
      kinds: ['Lease'],
      replacements: ['coordination.k8s.io/v1'],
    },
    { groupVersion: 'extensions/v1beta1', kinds: ['Ingress'], replacements: ['networking.k8s.io/v1'] },
    {
      groupVersion: 'networking.k8s.io/v1beta1',
      kinds: ['Ingress', 'IngressClass'],
      replacements: ['networking.k8s.io/v1'],
    },
    {
      groupVersion: 'rbac.authorization.k8s.io/v1beta1',
      kinds: ['ClusterRole', 'ClusterRoleBinding', 'Role', 'RoleBinding'],
      replacements: ['rbac.authorization.k8s.io/v1'],
    },
    {
      groupVersion: 'scheduling.k8s.io/v1beta1',
      kinds: ['PriorityClass'],
      replacements: ['scheduling.k8s.io/v1'],
    },
    {
      groupVersion: 'storage.k8s.io/v1beta1',
      kinds: ['CSIDriver', 'CSINode', 'StorageClass', 'VolumeAttachment'],
      replacements: ['storage.k8s.io/v1'],
    },
  ],
  'v1.25': [
    { groupVersion: 'batch/v1beta1', kinds: ['CronJob'], replacements: ['batch/v1'] },
    {
      groupVersion: 'discovery.k8s.io/v1beta1',
      kinds: ['EndpointSlice'],
      replacements: ['discovery.k8s.io/v1'],
    },
    { groupVersion: 'events.k8s.io/v1beta1', kinds: ['Event'], replacements: ['events.k8s.io/v1'] },
    {
      groupVersion: 'autoscaling/v2beta1',
      kinds: ['HorizontalPodAutoscaler'],
      replacements: ['autoscaling/v2'],
    },
    { groupVersion: 'policy/v1beta1', kinds: ['PodDisruptionBudget'], replacements: ['policy/v1'] },
    { groupVersion: 'policy/v1beta1', kinds: ['PodSecurityPolicy'], replacements: [] },
    { groupVersion: 'node.k8s.io/v1beta1', kinds: ['RuntimeClass'], replacements: ['node.k8s.io/v1'] },
  ],
  'v1.26': [
    {
      groupVersion: 'flowcontrol.apiserver.k8s.io/v1beta1',
      kinds: ['FlowSchema', 'PriorityLevelConfiguration'],
      replacements: ['flowcontrol.apiserver.k8s.io/v1', 'flowcontrol.apiserver.k8s.io/v1beta3'],
    },
    {
      groupVersion: 'autoscaling/v2beta2',
      kinds: ['HorizontalPodAutoscaler'],
      replacements: ['autoscaling/v2'],
    },
  ],
  'v1.27': [
    {
      groupVersion: 'storage.k8s.io/v1beta1',
      kinds: ['CSIStorageCapacity'],
      replacements: ['storage.k8s.io/v1'],
    },
  ],
  'v1.29': [
    {
      groupVersion: 'flowcontrol.apiserver.k8s.io/v1beta2',
      kinds: ['FlowSchema', 'PriorityLevelConfiguration'],
      replacements: ['flowcontrol.apiserver.k8s.io/v1', 'flowcontrol.apiserver.k8s.io/v1beta3'],
    },
  ],
  'v1.32': [
    {
      groupVersion: 'flowcontrol.apiserver.k8s.io/v1beta3',
      kinds: ['FlowSchema', 'PriorityLevelConfiguration'],
      replacements: ['flowcontrol.apiserver.k8s.io/v1'],
    },
  ],
};

/** One removal, flattened: a kind in a group/version, gone since a release. */
export interface Removal {
  groupVersion: string;
  kind: string;
  /** "v1.32". */
  removedIn: string;
  replacements: readonly string[];
}

/** Every removal at or before the target release, oldest first. */
export function removalsUpTo(target: Version): Removal[] {
  const out: Removal[] = [];
  for (const [release, apis] of Object.entries(REMOVED_APIS)) {
    const r = parseVersion(release);
    if (!r || minorIndex(r) > minorIndex(target)) continue;
    for (const a of apis)
      for (const kind of a.kinds)
        out.push({ groupVersion: a.groupVersion, kind, removedIn: release, replacements: a.replacements });
  }
  return out.sort((a, b) => minorIndex(parseVersion(a.removedIn)!) - minorIndex(parseVersion(b.removedIn)!));
}

/** A removed API the cluster still uses. */
export interface RemovedApiUse {
  groupVersion: string;
  kind: string;
  removedIn: string;
  /** 'served': the API server serves it today; 'last-applied': objects were last applied with it. */
  how: 'served' | 'last-applied';
  /** For 'last-applied': the objects ("namespace/name" or "name"). */
  objects: string[];
  /** What to use instead ("apps/v1"), or '' when the API is gone for good. */
  replacement: string;
  /** True when it was already gone before the cluster's current release (only old manifests can name it). */
  alreadyRemoved: boolean;
}

/** Objects of one kind, listed through a served group/version. */
export interface ListedKind {
  kind: string;
  items: readonly AnyObject[];
}

/** The apiVersion and kind a last-applied-configuration annotation names. */
export function lastAppliedGvk(o: AnyObject): { apiVersion: string; kind: string } | undefined {
  const text = o.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration'];
  if (!text) return undefined;
  try {
    const doc = JSON.parse(text) as { apiVersion?: unknown; kind?: unknown };
    return typeof doc.apiVersion === 'string' && typeof doc.kind === 'string'
      ? { apiVersion: doc.apiVersion, kind: doc.kind }
      : undefined;
  } catch {
    return undefined;
  }
}

function objectName(o: AnyObject): string {
  return o.metadata.namespace ? `${o.metadata.namespace}/${o.metadata.name ?? ''}` : (o.metadata.name ?? '');
}

/**
 * The removed APIs (at or before `to`) the cluster uses: served today and removed after `from`,
 * or named by objects' last-applied-configuration. Pure.
 */
export function findRemovedApiUse(input: {
  from: Version;
  to: Version;
  served: readonly string[];
  listed: readonly ListedKind[];
}): RemovedApiUse[] {
  const out: RemovedApiUse[] = [];
  for (const r of removalsUpTo(input.to)) {
    const removed = parseVersion(r.removedIn)!;
    const alreadyRemoved = minorIndex(removed) <= minorIndex(input.from);
    const replacement = r.replacements.find((gv) => input.served.includes(gv)) ?? r.replacements[0] ?? '';
    if (
      !alreadyRemoved &&
      input.served.includes(r.groupVersion) &&
      !out.some((u) => u.how === 'served' && u.groupVersion === r.groupVersion && u.kind === r.kind)
    )
      out.push({ ...pick(r), how: 'served', objects: [], replacement, alreadyRemoved });
    const objects = input.listed
      .filter((l) => l.kind === r.kind)
      .flatMap((l) => l.items)
      .filter((o) => {
        const gvk = lastAppliedGvk(o);
        return gvk?.apiVersion === r.groupVersion && gvk.kind === r.kind;
      })
      .map(objectName);
    if (objects.length > 0)
      out.push({
        ...pick(r),
        how: 'last-applied',
        objects: [...new Set(objects)].sort(),
        replacement,
        alreadyRemoved,
      });
  }
  return out;
}

function pick(r: Removal): Pick<RemovedApiUse, 'groupVersion' | 'kind' | 'removedIn'> {
  return { groupVersion: r.groupVersion, kind: r.kind, removedIn: r.removedIn };
}

/**
 * Reads what findRemovedApiUse needs: discovery once, then each kind that has a removed version at
 * or before `to`, listed once through a group/version the server serves. Kinds nothing serves are
 * not listed (no object of them can exist).
 */
export async function readRemovedApiUse(
  info: Pick<ClusterInfo, 'servedGroupVersions' | 'resourcesOf' | 'listObjects'>,
  from: Version,
  to: Version,
): Promise<{ uses: RemovedApiUse[]; listed: number }> {
  const served = await info.servedGroupVersions();
  const removals = removalsUpTo(to);
  const wanted = new Map<string, Set<string>>();
  for (const r of removals) {
    const gv = r.replacements.find((x) => served.includes(x));
    if (gv === undefined) continue;
    const kinds = wanted.get(gv) ?? new Set<string>();
    kinds.add(r.kind);
    wanted.set(gv, kinds);
  }
  const listed: ListedKind[] = [];
  await Promise.all(
    [...wanted].map(async ([gv, kinds]) => {
      const resources = await info.resourcesOf(gv);
      await Promise.all(
        [...kinds].map(async (kind) => {
          const res = resources.find((r) => r.kind === kind && r.verbs.includes('list'));
          if (res) listed.push({ kind, items: await info.listObjects(gv, res.name) });
        }),
      );
    }),
  );
  return { uses: findRemovedApiUse({ from, to, served, listed }), listed: listed.length };
}
