// The narrow ports features use to talk to a cluster. Each feature takes the smallest one it needs;
// kube/node-pods.ts implements them on @kubernetes/client-node, tests use an in-memory fake or the
// sandbox. Every method throws KubeApiError (kube/errors.ts) for API failures, so callers can ask
// isNotFound / isTooManyRequests / isGone without knowing the client library.
import type {
  DaemonSet,
  Event,
  Lease,
  ListResult,
  Namespace,
  Node,
  Pod,
  PodDisruptionBudget,
  WatchEvent,
} from './types.ts';

/** A JSON merge patch (RFC 7386) for a Node: null removes a field. */
export interface NodePatch {
  metadata?: {
    annotations?: Record<string, string | null>;
    labels?: Record<string, string | null>;
    /** When set, the server refuses the patch with 409 if the node changed since it was read. */
    resourceVersion?: string;
  };
  spec?: { unschedulable?: boolean | null };
}

/** Options every call takes. */
export interface RequestOptions {
  /** Aborts this request (a caller's deadline or interruption): it rejects with a KubeApiError, reason Aborted. */
  signal?: AbortSignal;
}

/** Options shared by list calls. Selectors use the API's string syntax. */
export interface ListOptions extends RequestOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Items per response, following `continue` until the end (kubectl's --chunk-size); 0: one response. Default 500. */
  chunkSize?: number;
}

/** Options for writes that can be dry-run on the server. */
export interface WriteOptions extends RequestOptions {
  /** Server-side dry run (dryRun=All): validated and admitted but not persisted. */
  dryRun?: boolean;
}

/** How a pod is asked to go. */
export interface PodRemovalOptions extends WriteOptions {
  /** Seconds given to the pod to stop; undefined uses the pod's own terminationGracePeriodSeconds. 0 means immediately. */
  gracePeriodSeconds?: number;
}

/** The attributes of a request a SelfSubjectAccessReview asks about (authorization.k8s.io/v1 ResourceAttributes). */
export interface ResourceAttributes {
  verb: string;
  /** API group; '' for core. */
  group?: string;
  resource: string;
  subresource?: string;
  /** Unset: all namespaces (or a cluster-scoped resource). */
  namespace?: string;
  name?: string;
}

/** A SelfSubjectAccessReview's answer. */
export interface AccessReview {
  allowed: boolean;
  /** An authorizer said no outright (allowed is false then too). */
  denied?: boolean;
  /** The authorizer's reason, if it gave one. */
  reason?: string;
}

/** What drain needs: nodes, the pods on them, evictions and deletions, PDBs, DaemonSet lookups. */
export interface NodePods {
  /** @throws KubeApiError NotFound when the node does not exist. */
  getNode(name: string, opts?: RequestOptions): Promise<Node>;
  listNodes(opts?: { labelSelector?: string } & RequestOptions): Promise<Node[]>;
  /**
   * Watches nodes from resourceVersion, as watchPods watches pods (NodeWatch's watchNodes: the
   * drain selects its node with fieldSelector `metadata.name=NAME`). Rejects with a KubeApiError
   * (isGone for 410, isForbidden without watch on nodes).
   */
  watchNodes(opts: WatchFrom, onEvent: (e: WatchEvent<Node>) => void, signal: AbortSignal): Promise<void>;
  /** Applies a JSON merge patch to the node. */
  patchNode(name: string, patch: NodePatch, opts?: WriteOptions): Promise<Node>;
  /** Lists pods (all namespaces unless namespace is set) with the list's resourceVersion. */
  listPods(opts?: ListOptions): Promise<ListResult<Pod>>;
  /**
   * Lists pods chunk by chunk (ListOptions.chunkSize per response, following `continue`) and hands
   * each chunk to onChunk without keeping it, so a caller that only sums what it reads holds one
   * chunk at a time; the next chunk is asked for once onChunk's promise (if it returns one) settles.
   * Resolves with the list's resourceVersion.
   */
  scanPods(
    opts: ListOptions,
    onChunk: (items: Pod[]) => void | Promise<void>,
  ): Promise<{ resourceVersion: string }>;
  /** @throws KubeApiError NotFound when the pod does not exist. */
  getPod(namespace: string, name: string, opts?: RequestOptions): Promise<Pod>;
  /** POSTs a policy/v1 Eviction. 429 when a PDB refuses; 404 when the pod is already gone. */
  evictPod(namespace: string, name: string, opts?: PodRemovalOptions): Promise<void>;
  /** DELETEs the pod (no PDB check). With uid, only that incarnation is deleted (precondition). */
  deletePod(namespace: string, name: string, opts?: PodRemovalOptions & { uid?: string }): Promise<void>;
  /**
   * Watches pods from resourceVersion, calling onEvent for each event in order. Resolves when the
   * server ends the watch or signal aborts; rejects with a KubeApiError (isGone for 410 Expired,
   * whether answered up front or as an ERROR event).
   */
  watchPods(
    opts: ListOptions & { resourceVersion: string },
    onEvent: (e: WatchEvent<Pod>) => void,
    signal: AbortSignal,
  ): Promise<void>;
  /** PodDisruptionBudgets (all namespaces unless namespace is set). */
  listPdbs(opts?: { namespace?: string } & RequestOptions): Promise<PodDisruptionBudget[]>;
  /** @throws KubeApiError NotFound when the DaemonSet does not exist. */
  getDaemonSet(namespace: string, name: string, opts?: RequestOptions): Promise<DaemonSet>;
  /**
   * Asks whether the kubeconfig's user may make a request (a SelfSubjectAccessReview, which every
   * authenticated user may create). Rejects with a KubeApiError when the server cannot answer.
   */
  reviewAccess(attrs: ResourceAttributes, opts?: RequestOptions): Promise<AccessReview>;
}

/** What a node health check needs beyond NodePods: the heartbeat Lease and recent events. */
export interface NodeHealth {
  getNode(name: string, opts?: RequestOptions): Promise<Node>;
  listPods(opts?: ListOptions): Promise<ListResult<Pod>>;
  /** @throws KubeApiError NotFound when the lease does not exist. */
  getLease(namespace: string, name: string): Promise<Lease>;
  /** core/v1 Events (all namespaces unless namespace is set). */
  listEvents(opts?: ListOptions): Promise<Event[]>;
  /**
   * The replicas a workload controller wants now (spec.replicas) for the kinds whose pods a
   * maintenance waits for: ReplicaSet and StatefulSet (apps/v1), ReplicationController (v1). 0
   * when it no longer exists (a Deployment's rollout deleted it); undefined for every other kind.
   * @throws KubeApiError (Forbidden without get on that resource)
   */
  desiredReplicas(
    kind: string,
    namespace: string,
    name: string,
    opts?: RequestOptions,
  ): Promise<number | undefined>;
}

// ---- Leases, Namespaces and Node watches: what the lock (src/lock/), the upgrade and the agent
// need (issue 15). Implemented in kube/leases.ts and kube/node-watch.ts.

/** Where a watch starts and what it selects. */
export interface WatchFrom {
  /** The resourceVersion of the list or object read before (events after it are delivered). */
  resourceVersion: string;
  labelSelector?: string;
  fieldSelector?: string;
}

/** coordination.k8s.io/v1 Leases, written with resourceVersion preconditions. */
export interface Leases {
  /** @throws KubeApiError NotFound when the Lease does not exist. */
  getLease(namespace: string, name: string): Promise<Lease>;
  /**
   * Creates the Lease in its metadata.namespace.
   * @throws KubeApiError AlreadyExists (isAlreadyExists) when it exists; NotFound when its namespace does not.
   */
  createLease(lease: Lease): Promise<Lease>;
  /**
   * Replaces the Lease (PUT) if it is still at its metadata.resourceVersion, which must be set.
   * @throws KubeApiError Conflict (isConflict) when someone wrote it since that version was read.
   */
  updateLease(lease: Lease): Promise<Lease>;
  /**
   * Deletes the Lease; with resourceVersion, only if it is still at that version (409 Conflict otherwise).
   * @throws KubeApiError NotFound when it does not exist.
   */
  deleteLease(namespace: string, name: string, opts?: { resourceVersion?: string }): Promise<void>;
  /** The namespace's Leases, with the list's resourceVersion (where watchLeases starts). */
  listLeases(namespace: string, opts?: { labelSelector?: string }): Promise<ListResult<Lease>>;
  /**
   * Watches one Lease (`name`) or every Lease of the namespace, from resourceVersion, as watchPods
   * does: resolves when the server ends the watch or signal aborts; rejects with a KubeApiError
   * (isGone for 410 Expired).
   */
  watchLeases(
    opts: WatchFrom & { namespace: string; name?: string },
    onEvent: (e: WatchEvent<Lease>) => void,
    signal: AbortSignal,
  ): Promise<void>;
}

/** core/v1 Namespaces: enough to make sure bosun's own exists. */
export interface Namespaces {
  /** @throws KubeApiError NotFound when it does not exist. */
  getNamespace(name: string): Promise<Namespace>;
  /** @throws KubeApiError AlreadyExists (isAlreadyExists) when it exists. */
  createNamespace(ns: Namespace): Promise<Namespace>;
}

/** Nodes as a stream: a list to start from, then every change (for kube/watch.ts's listWatch). */
export interface NodeWatch {
  /** Nodes with the list's resourceVersion (where watchNodes starts). */
  nodeList(opts?: { labelSelector?: string; fieldSelector?: string }): Promise<ListResult<Node>>;
  /** Watches Nodes from resourceVersion, with watchPods' contract. */
  watchNodes(opts: WatchFrom, onEvent: (e: WatchEvent<Node>) => void, signal: AbortSignal): Promise<void>;
}

/** core/v1 Events: what the reboot agent records about its node. */
export interface Events {
  /** Creates the Event in its metadata.namespace ("default" when unset, where node events go). */
  createEvent(event: Event): Promise<Event>;
}
