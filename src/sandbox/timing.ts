// The sandbox's timing profile: how long simulated things take. "fast" is for tests and the demo
// (everything in well under a second, so suites never sleep), "realistic" is close to a real
// kubeadm cluster's defaults for people who want to watch.

/** Durations in milliseconds. */
export interface Timing {
  /** A scheduled pod's containers start and turn Ready after this long. */
  podStartMs: number;
  /** How long a container takes to stop after SIGTERM (capped by the pod's grace period). */
  podStopMs: number;
  /** How long a Job's pod runs before it succeeds. */
  jobRunMs: number;
  /** Kubelet heartbeat: Lease renewal in kube-node-lease (kubelet: 10 s). */
  heartbeatMs: number;
  /** Node lifecycle controller: no heartbeat for this long marks the node Unknown (kube: 50 s). */
  nodeMonitorGraceMs: number;
  /** How often the node lifecycle controller looks (kube: 5 s). */
  nodeMonitorPeriodMs: number;
  /** A node's downtime during `reboot`. */
  rebootMs: number;
  /** `systemctl restart kubelet`: the kubelet is gone this long. */
  kubeletRestartMs: number;
  /** A static pod's component starts this long after its manifest appears. */
  staticPodStartMs: number;
  /** The API server compacts etcd this often (kube-apiserver: 5 min). */
  compactionMs: number;
  /** Controllers retry a failed key after this long. */
  retryMs: number;
}

/** Profiles by name. */
export const TIMINGS: Record<'fast' | 'realistic', Timing> = {
  fast: {
    podStartMs: 150,
    podStopMs: 50,
    jobRunMs: 200,
    heartbeatMs: 300,
    // A reboot must outlast the grace period so that the node is seen NotReady, as on a real cluster.
    nodeMonitorGraceMs: 1_500,
    nodeMonitorPeriodMs: 200,
    rebootMs: 2_500,
    kubeletRestartMs: 200,
    staticPodStartMs: 100,
    compactionMs: 5 * 60_000,
    retryMs: 100,
  },
  realistic: {
    podStartMs: 2_000,
    podStopMs: 500,
    jobRunMs: 5_000,
    heartbeatMs: 10_000,
    nodeMonitorGraceMs: 50_000,
    nodeMonitorPeriodMs: 5_000,
    rebootMs: 30_000,
    kubeletRestartMs: 3_000,
    staticPodStartMs: 5_000,
    compactionMs: 5 * 60_000,
    retryMs: 1_000,
  },
};

/**
 * One of kube's own durations on a profile's scale: the profile's heartbeat against the kubelet's
 * 10 s one (fast: 10 s is 300 ms, kubeadm's 5 min static pod wait is 9 s; realistic: unchanged).
 */
export function kubeScaled(timing: Timing, ms: number): number {
  return Math.max(1, Math.round(ms * (timing.heartbeatMs / 10_000)));
}

/** Annotations on pods that change how the simulated kubelet runs them. */
export const SIM_ANNOTATIONS = {
  /** Seconds the pod's containers take to stop after SIGTERM ("full" = the whole grace period). */
  stopSeconds: 'sandbox.bosun.dev/stop-seconds',
  /** Seconds the pod's containers take to start and become Ready. */
  startSeconds: 'sandbox.bosun.dev/start-seconds',
  /** Seconds a run-to-completion pod runs before it succeeds. */
  runSeconds: 'sandbox.bosun.dev/run-seconds',
  /** "false": the pod never becomes Ready (a failing readiness probe). */
  ready: 'sandbox.bosun.dev/ready',
} as const;
