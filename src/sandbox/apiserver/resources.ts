// The resources the sandbox serves: group, version, kind, where each lives in etcd, which field
// selectors it supports, and which subresources it has. Mirrors what kube-apiserver registers for
// these types (pkg/registry/*), so discovery, storage keys and selectors answer like the real one.
import type { KubeObject } from './types.ts';

/** The subresources the sandbox implements. */
export type Subresource = 'status' | 'eviction' | 'binding' | 'token' | 'log' | 'scale';

/** One served resource. */
export interface ResourceType {
  group: string;
  version: string;
  /** Plural, lower case: "pods". */
  resource: string;
  singular: string;
  kind: string;
  listKind: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  subresources: Subresource[];
  /** etcd key prefix, without the trailing slash: "/registry/pods", "/registry/minions". */
  etcdPrefix: string;
  /** Field selector support beyond metadata.name and metadata.namespace. */
  fields: (obj: KubeObject) => Record<string, string>;
  /** Does an update of the main resource ignore .status (status is written through /status)? */
  statusSubresource: boolean;
  /** Does .metadata.generation count spec changes? */
  tracksGeneration: boolean;
  /**
   * The verbs served when not all of them are: the review kinds are `create` only and never
   * stored (authorization.k8s.io's SelfSubjectAccessReview, ...).
   */
  verbs?: readonly string[];
}

/** "apps/v1" or "v1". */
export function groupVersion(r: { group: string; version: string }): string {
  return r.group === '' ? r.version : `${r.group}/${r.version}`;
}

function str(v: unknown): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return '';
}

function get(obj: unknown, path: string): unknown {
  let cur: unknown = obj;
  for (const p of path.split('.')) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

function fieldsOf(
  paths: string[],
  defaults: Record<string, string> = {},
): (o: KubeObject) => Record<string, string> {
  return (o) => {
    const out: Record<string, string> = {};
    for (const p of paths) out[p] = str(get(o, p)) || (defaults[p] ?? '');
    return out;
  };
}

const noFields = (): Record<string, string> => ({});

function def(
  r: Pick<ResourceType, 'group' | 'version' | 'resource' | 'kind' | 'namespaced'> & Partial<ResourceType>,
): ResourceType {
  return {
    singular: r.kind.toLowerCase(),
    listKind: `${r.kind}List`,
    shortNames: [],
    categories: [],
    subresources: [],
    etcdPrefix: `/registry/${r.resource}`,
    fields: noFields,
    statusSubresource: false,
    tracksGeneration: false,
    ...r,
  };
}

/** Every resource the sandbox serves, in discovery order. */
export const RESOURCES: readonly ResourceType[] = [
  def({
    group: '',
    version: 'v1',
    resource: 'namespaces',
    kind: 'Namespace',
    namespaced: false,
    shortNames: ['ns'],
    subresources: ['status'],
    statusSubresource: true,
    fields: fieldsOf(['status.phase']),
  }),
  def({
    group: '',
    version: 'v1',
    resource: 'nodes',
    kind: 'Node',
    namespaced: false,
    shortNames: ['no'],
    subresources: ['status'],
    statusSubresource: true,
    etcdPrefix: '/registry/minions',
    fields: (o) => ({ 'spec.unschedulable': String(get(o, 'spec.unschedulable') === true) }),
  }),
  def({
    group: '',
    version: 'v1',
    resource: 'pods',
    kind: 'Pod',
    namespaced: true,
    shortNames: ['po'],
    categories: ['all'],
    subresources: ['status', 'eviction', 'binding', 'log'],
    statusSubresource: true,
    fields: (o) => ({
      'spec.nodeName': str(get(o, 'spec.nodeName')),
      'spec.restartPolicy': str(get(o, 'spec.restartPolicy')),
      'spec.schedulerName': str(get(o, 'spec.schedulerName')),
      'spec.serviceAccountName': str(get(o, 'spec.serviceAccountName')),
      'spec.hostNetwork': String(get(o, 'spec.hostNetwork') === true),
      'status.phase': str(get(o, 'status.phase')),
      'status.podIP': str(get(o, 'status.podIP')),
      'status.nominatedNodeName': str(get(o, 'status.nominatedNodeName')),
    }),
  }),
  def({
    group: '',
    version: 'v1',
    resource: 'events',
    kind: 'Event',
    namespaced: true,
    shortNames: ['ev'],
    fields: fieldsOf([
      'involvedObject.kind',
      'involvedObject.namespace',
      'involvedObject.name',
      'involvedObject.uid',
      'involvedObject.apiVersion',
      'involvedObject.resourceVersion',
      'involvedObject.fieldPath',
      'reason',
      'reportingComponent',
      'source',
      'type',
    ]),
  }),
  def({
    group: '',
    version: 'v1',
    resource: 'configmaps',
    kind: 'ConfigMap',
    namespaced: true,
    shortNames: ['cm'],
  }),
  def({
    group: '',
    version: 'v1',
    resource: 'secrets',
    kind: 'Secret',
    namespaced: true,
    fields: fieldsOf(['type']),
  }),
  def({
    group: '',
    version: 'v1',
    resource: 'serviceaccounts',
    kind: 'ServiceAccount',
    namespaced: true,
    shortNames: ['sa'],
    subresources: ['token'],
  }),
  def({
    group: '',
    version: 'v1',
    resource: 'services',
    kind: 'Service',
    namespaced: true,
    shortNames: ['svc'],
    categories: ['all'],
    subresources: ['status'],
    statusSubresource: true,
    etcdPrefix: '/registry/services/specs',
  }),
  def({
    group: 'apps',
    version: 'v1',
    resource: 'deployments',
    kind: 'Deployment',
    namespaced: true,
    shortNames: ['deploy'],
    categories: ['all'],
    subresources: ['status', 'scale'],
    statusSubresource: true,
    tracksGeneration: true,
  }),
  def({
    group: 'apps',
    version: 'v1',
    resource: 'replicasets',
    kind: 'ReplicaSet',
    namespaced: true,
    shortNames: ['rs'],
    categories: ['all'],
    subresources: ['status', 'scale'],
    statusSubresource: true,
    tracksGeneration: true,
    fields: fieldsOf(['status.replicas']),
  }),
  def({
    group: 'apps',
    version: 'v1',
    resource: 'daemonsets',
    kind: 'DaemonSet',
    namespaced: true,
    shortNames: ['ds'],
    categories: ['all'],
    subresources: ['status'],
    statusSubresource: true,
    tracksGeneration: true,
  }),
  def({
    group: 'apps',
    version: 'v1',
    resource: 'statefulsets',
    kind: 'StatefulSet',
    namespaced: true,
    shortNames: ['sts'],
    categories: ['all'],
    subresources: ['status', 'scale'],
    statusSubresource: true,
    tracksGeneration: true,
  }),
  def({
    group: 'apps',
    version: 'v1',
    resource: 'controllerrevisions',
    kind: 'ControllerRevision',
    namespaced: true,
  }),
  def({
    group: 'batch',
    version: 'v1',
    resource: 'jobs',
    kind: 'Job',
    namespaced: true,
    categories: ['all'],
    subresources: ['status'],
    statusSubresource: true,
    tracksGeneration: true,
    fields: fieldsOf(['status.successful']),
  }),
  def({
    group: 'policy',
    version: 'v1',
    resource: 'poddisruptionbudgets',
    kind: 'PodDisruptionBudget',
    namespaced: true,
    shortNames: ['pdb'],
    subresources: ['status'],
    statusSubresource: true,
    tracksGeneration: true,
  }),
  def({ group: 'coordination.k8s.io', version: 'v1', resource: 'leases', kind: 'Lease', namespaced: true }),
  def({
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    resource: 'clusterrolebindings',
    kind: 'ClusterRoleBinding',
    namespaced: false,
  }),
  def({
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    resource: 'clusterroles',
    kind: 'ClusterRole',
    namespaced: false,
  }),
  def({
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    resource: 'rolebindings',
    kind: 'RoleBinding',
    namespaced: true,
  }),
  def({
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    resource: 'roles',
    kind: 'Role',
    namespaced: true,
  }),
  def({
    group: 'authorization.k8s.io',
    version: 'v1',
    resource: 'selfsubjectaccessreviews',
    kind: 'SelfSubjectAccessReview',
    namespaced: false,
    verbs: ['create'],
  }),
  def({
    group: 'authorization.k8s.io',
    version: 'v1',
    resource: 'selfsubjectrulesreviews',
    kind: 'SelfSubjectRulesReview',
    namespaced: false,
    verbs: ['create'],
  }),
  def({
    group: 'authentication.k8s.io',
    version: 'v1',
    resource: 'selfsubjectreviews',
    kind: 'SelfSubjectReview',
    namespaced: false,
    verbs: ['create'],
  }),
];

/** Looks a resource up by group and plural name. */
export function findResource(group: string, version: string, resource: string): ResourceType | undefined {
  return RESOURCES.find((r) => r.group === group && r.version === version && r.resource === resource);
}

/** Looks a resource up by kind (for owner references and events). */
export function resourceForKind(apiVersion: string, kind: string): ResourceType | undefined {
  return RESOURCES.find((r) => groupVersion(r) === apiVersion && r.kind === kind);
}

/** The resource by plural name in the core or named group ("pods", "deployments"). */
export function resource(name: string): ResourceType {
  const r = RESOURCES.find((x) => x.resource === name);
  if (!r) throw new Error(`sandbox: unknown resource ${name}`);
  return r;
}

/** The served API groups, in discovery order, each with its one version. */
export function apiGroups(): { name: string; version: string }[] {
  const seen = new Map<string, string>();
  for (const r of RESOURCES) if (r.group !== '' && !seen.has(r.group)) seen.set(r.group, r.version);
  return [...seen].map(([name, version]) => ({ name, version }));
}

/** The etcd key of one object. */
export function etcdKey(r: ResourceType, namespace: string | undefined, name: string): string {
  return r.namespaced ? `${r.etcdPrefix}/${namespace ?? ''}/${name}` : `${r.etcdPrefix}/${name}`;
}

/** The etcd prefix of a list (all namespaces, or one). Always ends with '/'. */
export function etcdListPrefix(r: ResourceType, namespace: string | undefined): string {
  return r.namespaced && namespace ? `${r.etcdPrefix}/${namespace}/` : `${r.etcdPrefix}/`;
}
