// The Kubernetes API objects bosun reads, as plain JSON exactly as kube-apiserver serves them (what
// `kubectl get -o json` prints): timestamps are RFC 3339 strings, quantities are strings, absent
// fields are absent. Only the fields bosun uses are declared; everything is optional because the API
// omits empty fields. Features and pure modules use these types, never client-node's classes (the
// kube/ ports convert), so a fake port is just JSON.

/** metadata.ownerReferences[]. */
export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/** metadata of any object. */
export interface ObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  /** Who wrote which fields, and when (server-side field management). */
  managedFields?: ManagedFieldsEntry[];
}

/** metadata.managedFields[]: one manager's last write of its fields. */
export interface ManagedFieldsEntry {
  manager?: string;
  operation?: 'Apply' | 'Update' | string;
  apiVersion?: string;
  time?: string;
  subresource?: string;
}

/** A label selector as objects carry it (PDB spec.selector, DaemonSet spec.selector, ...). */
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: {
    key: string;
    operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | string;
    values?: string[];
  }[];
}

/** spec.affinity.nodeAffinity terms. */
export interface NodeSelectorRequirement {
  key: string;
  operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | 'Gt' | 'Lt' | string;
  values?: string[];
}
export interface NodeSelectorTerm {
  matchExpressions?: NodeSelectorRequirement[];
  matchFields?: NodeSelectorRequirement[];
}

/** spec.affinity.podAntiAffinity / podAffinity terms. */
export interface PodAffinityTerm {
  labelSelector?: LabelSelector;
  namespaces?: string[];
  namespaceSelector?: LabelSelector;
  topologyKey: string;
}

/** spec.tolerations[]. */
export interface Toleration {
  key?: string;
  operator?: 'Exists' | 'Equal' | string;
  value?: string;
  effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute' | string;
  tolerationSeconds?: number;
}

/** spec.taints[] of a Node. */
export interface Taint {
  key: string;
  value?: string;
  effect: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute' | string;
  timeAdded?: string;
}

/** A container's resources. */
export interface ResourceRequirements {
  requests?: Record<string, string>;
  limits?: Record<string, string>;
}

export interface Container {
  name: string;
  image?: string;
  resources?: ResourceRequirements;
  ports?: { containerPort: number; hostPort?: number; protocol?: string }[];
}

export interface Volume {
  name: string;
  emptyDir?: { medium?: string; sizeLimit?: string };
  hostPath?: { path: string };
  persistentVolumeClaim?: { claimName: string };
  [other: string]: unknown;
}

export interface PodCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown' | string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

/** core/v1 Pod. */
export interface Pod {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: {
    nodeName?: string;
    containers?: Container[];
    initContainers?: Container[];
    volumes?: Volume[];
    nodeSelector?: Record<string, string>;
    tolerations?: Toleration[];
    affinity?: {
      nodeAffinity?: {
        requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms: NodeSelectorTerm[] };
      };
      podAntiAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: PodAffinityTerm[] };
      podAffinity?: { requiredDuringSchedulingIgnoredDuringExecution?: PodAffinityTerm[] };
    };
    terminationGracePeriodSeconds?: number;
    overhead?: Record<string, string>;
    priority?: number;
    priorityClassName?: string;
    schedulerName?: string;
  };
  status?: {
    phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Unknown' | string;
    conditions?: PodCondition[];
    reason?: string;
    message?: string;
    startTime?: string;
    containerStatuses?: {
      name: string;
      ready: boolean;
      restartCount?: number;
      state?: Record<string, unknown>;
    }[];
  };
}

export interface NodeCondition {
  type: string;
  status: 'True' | 'False' | 'Unknown' | string;
  reason?: string;
  message?: string;
  lastHeartbeatTime?: string;
  lastTransitionTime?: string;
}

/** core/v1 Node. */
export interface Node {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: { unschedulable?: boolean; taints?: Taint[]; podCIDR?: string; providerID?: string };
  status?: {
    conditions?: NodeCondition[];
    allocatable?: Record<string, string>;
    capacity?: Record<string, string>;
    nodeInfo?: {
      kubeletVersion?: string;
      bootID?: string;
      osImage?: string;
      kernelVersion?: string;
      containerRuntimeVersion?: string;
    };
    addresses?: { type: string; address: string }[];
  };
}

/** policy/v1 PodDisruptionBudget. */
export interface PodDisruptionBudget {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: {
    minAvailable?: number | string;
    maxUnavailable?: number | string;
    selector?: LabelSelector;
    unhealthyPodEvictionPolicy?: 'IfHealthyBudget' | 'AlwaysAllow' | string;
  };
  status?: {
    observedGeneration?: number;
    disruptionsAllowed?: number;
    currentHealthy?: number;
    desiredHealthy?: number;
    expectedPods?: number;
    disruptedPods?: Record<string, string>;
    conditions?: { type: string; status: string; reason?: string; message?: string }[];
  };
}

/** apps/v1 DaemonSet (what drain and maintain need of it). */
export interface DaemonSet {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: { selector?: LabelSelector };
  status?: {
    desiredNumberScheduled?: number;
    numberReady?: number;
    numberAvailable?: number;
    currentNumberScheduled?: number;
  };
}

/** coordination.k8s.io/v1 Lease. */
export interface Lease {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

/** core/v1 Event. */
export interface Event {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  involvedObject?: { kind?: string; name?: string; namespace?: string; uid?: string };
  reason?: string;
  message?: string;
  type?: 'Normal' | 'Warning' | string;
  count?: number;
  firstTimestamp?: string;
  lastTimestamp?: string;
  eventTime?: string;
  source?: { component?: string; host?: string };
  reportingComponent?: string;
}

/** A watch event, as the API streams it. */
export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';
  object: T;
}

/** A list's items and the resourceVersion to watch from. */
export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
}

/** core/v1 Namespace (what bosun creates for its own objects: kube/leases.ts's ensureNamespace). */
export interface Namespace {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  status?: { phase?: 'Active' | 'Terminating' | string };
}
