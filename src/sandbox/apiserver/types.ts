// The sandbox's server-side view of the API objects: kube/types.ts's one base set, narrowed. Two
// things differ from what a client reads, and only those are written here:
// - Unknown fields are kept: the API server stores and serves whatever clients send, declared or
//   not, and its admission, defaulting and kubelet read many of them by name (`spec['hostPID']`, a
//   container's probes), so objects and the parts of them it rewrites are open to any other field.
// - Fields the sandbox's defaulting and its own controllers always set on what it stores are
//   required (a stored Pod has a spec with containers, a ReplicaSet's status has replicas, ...).
// Each type is built from its base type (it extends it, with metadata replaced by the open
// ObjectMeta, which extends the base's), so a stored object is also what a client reads and the
// shared pure modules (kube/pods.ts, labels.ts, scheduling.ts) take both. Types the sandbox does
// not narrow (Taint, Toleration, OwnerReference, LabelSelector, conditions, ...) are imported from
// kube/types.ts directly.
import type * as kube from '../../kube/types.ts';

/** The fields of a JSON object that no type declares, kept as they came. */
interface Open {
  [key: string]: unknown;
}

/** T with the fields K always set. */
type With<T, K extends keyof T> = T & Required<Pick<T, K>>;

/** metav1.ObjectMeta, keeping unknown fields. */
export interface ObjectMeta extends kube.ObjectMeta, Open {}

/** Any object the API server stores. */
export interface KubeObject extends kube.KubeObject, Open {
  metadata: ObjectMeta;
}

/** A kind of the base set as the API server stores it: open metadata, open to unknown fields. */
type Stored<T extends kube.KubeObject> = Omit<T, 'metadata'> & KubeObject;

export interface Container extends kube.Container, Open {}

export interface Affinity extends kube.Affinity, Open {
  nodeAffinity?: NonNullable<kube.Affinity['nodeAffinity']> & Open;
}

export interface PodSpec extends kube.PodSpec, Open {
  affinity?: Affinity;
  containers: Container[];
  initContainers?: Container[];
}

/** What the sandbox's kubelet reports for a container: image, restart count and state always. */
export type ContainerStatus = With<kube.ContainerStatus, 'image' | 'restartCount' | 'state'>;

export interface PodStatus extends kube.PodStatus, Open {
  containerStatuses?: ContainerStatus[];
  initContainerStatuses?: ContainerStatus[];
}

export interface Pod extends Stored<kube.Pod> {
  spec: PodSpec;
  status?: PodStatus;
}

export interface NodeStatus extends kube.NodeStatus, Open {
  /** The sandbox's kubelet reports every field of nodeInfo. */
  nodeInfo?: Required<kube.NodeSystemInfo>;
}

export interface Node extends Stored<kube.Node> {
  spec?: kube.NodeSpec & Open;
  status?: NodeStatus;
}

export interface PodTemplateSpec extends kube.PodTemplateSpec {
  metadata?: ObjectMeta;
  spec: PodSpec;
}

/** A workload's spec as stored: a selector (except a Job's, which defaulting may add) and a template. */
type WorkloadSpec<S extends { selector?: kube.LabelSelector }> = S & {
  selector: kube.LabelSelector;
  template: PodTemplateSpec;
};

export interface Deployment extends Stored<kube.Deployment> {
  spec: WorkloadSpec<kube.DeploymentSpec> & Open;
  status?: kube.DeploymentStatus & Open;
}

export interface ReplicaSet extends Stored<kube.ReplicaSet> {
  spec: WorkloadSpec<kube.ReplicaSetSpec>;
  status?: With<kube.ReplicaSetStatus, 'replicas'>;
}

export interface DaemonSet extends Stored<kube.DaemonSet> {
  spec: WorkloadSpec<kube.DaemonSetSpec>;
  status?: With<
    kube.DaemonSetStatus,
    'currentNumberScheduled' | 'numberMisscheduled' | 'desiredNumberScheduled' | 'numberReady'
  >;
}

export interface StatefulSet extends Stored<kube.StatefulSet> {
  spec: WorkloadSpec<kube.StatefulSetSpec> & Open;
  status?: With<kube.StatefulSetStatus, 'replicas'> & Open;
}

export interface Job extends Stored<kube.Job> {
  spec: kube.JobSpec & { template: PodTemplateSpec } & Open;
  status?: kube.JobStatus & Open;
}

export interface PodDisruptionBudget extends Stored<kube.PodDisruptionBudget> {
  spec: kube.PodDisruptionBudgetSpec;
  status?: With<
    kube.PodDisruptionBudgetStatus,
    'disruptionsAllowed' | 'currentHealthy' | 'desiredHealthy' | 'expectedPods'
  >;
}

export interface Lease extends Stored<kube.Lease> {
  spec: kube.LeaseSpec & Open;
}

export type Namespace = Stored<kube.Namespace>;

/** core/v1 Event as stored: it always names the object it is about. */
export interface KubeEvent extends Stored<kube.Event> {
  involvedObject: kube.ObjectReference;
}

/** Is this a JSON object (not null, not an array)? */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
