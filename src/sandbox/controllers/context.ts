// What every in-process controller gets: the API, the shared informers, a clock, the timing
// profile, an event recorder factory and a log. Controllers never talk HTTP and never touch etcd.
import type { Clock } from '../../common/ports.ts';
import type { ApiCore } from '../apiserver/api.ts';
import type {
  DaemonSet,
  Deployment,
  Job,
  KubeObject,
  Lease,
  Namespace,
  Node,
  Pod,
  PodDisruptionBudget,
  ReplicaSet,
  StatefulSet,
} from '../apiserver/types.ts';
import type { Timing } from '../timing.ts';
import type { Informer } from './informer.ts';
import type { EventRecorder } from './recorder.ts';

/** The shared informers, one per watched resource. */
export interface Informers {
  pods: Informer<Pod>;
  nodes: Informer<Node>;
  leases: Informer<Lease>;
  namespaces: Informer<Namespace>;
  deployments: Informer<Deployment>;
  replicasets: Informer<ReplicaSet>;
  daemonsets: Informer<DaemonSet>;
  statefulsets: Informer<StatefulSet>;
  jobs: Informer<Job>;
  poddisruptionbudgets: Informer<PodDisruptionBudget>;
  controllerrevisions: Informer<KubeObject>;
}

export interface ControllerContext {
  api: ApiCore;
  informers: Informers;
  clock: Clock;
  timing: Timing;
  recorder(component: string, host?: string): EventRecorder;
  log(line: string): void;
  /** kube-controller-manager's --root-ca-file: the CA the root CA publisher puts in every namespace. */
  rootCaFile?: string;
}

/** A controller: registers handlers on the informers in start() and stops its queues in stop(). */
export interface Controller {
  readonly name: string;
  start(): void;
  stop(): void;
  /** Resolves when the controller has no queued or running work (for tests). */
  idle(): Promise<void>;
}
