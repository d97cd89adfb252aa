// Test support for controller tests on the API harness: nodes as a kubelet registers them, a
// minimal stand-in kubelet (bound pods turn Running and Ready, graceful deletions finish, run-to-
// completion pods succeed), and polling with a deadline. Not a simulation of anything the real
// sandbox kubelet decides; it only moves pods along so that controllers can be observed.
import type { ApiCore } from '../../apiserver/api.ts';
import { isDeleting, keyOf, timestamp } from '../../apiserver/meta.ts';
import { resource } from '../../apiserver/resources.ts';
import { ApiError } from '../../apiserver/status.ts';
import type { KubeEvent, Lease, Node, Pod } from '../../apiserver/types.ts';
import type { Taint } from '../../../kube/types.ts';
import { SIM_ANNOTATIONS } from '../../timing.ts';
import type { Informers } from '../context.ts';
import { WorkQueue } from '../workqueue.ts';

const pods = resource('pods');
const nodes = resource('nodes');
const leases = resource('leases');

/** Polls fn until it returns a truthy value; fails with `what` after timeoutMs. */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  what: string,
  timeoutMs = 10_000,
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (true) {
    try {
      const v = await fn();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 15));
  }
}

/** Options of a test node. */
export interface NodeOptions {
  cpu?: string;
  memory?: string;
  pods?: string;
  labels?: Record<string, string>;
  taints?: Taint[];
  unschedulable?: boolean;
  ready?: 'True' | 'False' | 'Unknown';
  controlPlane?: boolean;
}

/** A Node as a kubelet registers it (Ready, allocatable), plus a Lease in kube-node-lease. */
export async function createNode(api: ApiCore, name: string, o: NodeOptions = {}): Promise<Node> {
  const now = timestamp(new Date());
  const taints: Taint[] = [
    ...(o.controlPlane
      ? [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' as const }]
      : []),
    ...(o.taints ?? []),
  ];
  const node: Node = {
    metadata: {
      name,
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        ...(o.controlPlane ? { 'node-role.kubernetes.io/control-plane': '' } : {}),
        ...(o.labels ?? {}),
      },
    },
    spec: { ...(taints.length ? { taints } : {}), ...(o.unschedulable ? { unschedulable: true } : {}) },
    status: {
      capacity: { cpu: o.cpu ?? '4', memory: o.memory ?? '8Gi', pods: o.pods ?? '110' },
      allocatable: { cpu: o.cpu ?? '4', memory: o.memory ?? '8Gi', pods: o.pods ?? '110' },
      conditions: [
        {
          type: 'MemoryPressure',
          status: 'False',
          reason: 'KubeletHasSufficientMemory',
          lastHeartbeatTime: now,
          lastTransitionTime: now,
        },
        {
          type: 'DiskPressure',
          status: 'False',
          reason: 'KubeletHasNoDiskPressure',
          lastHeartbeatTime: now,
          lastTransitionTime: now,
        },
        {
          type: 'PIDPressure',
          status: 'False',
          reason: 'KubeletHasSufficientPID',
          lastHeartbeatTime: now,
          lastTransitionTime: now,
        },
        {
          type: 'Ready',
          status: o.ready ?? 'True',
          reason: 'KubeletReady',
          message: 'kubelet is posting ready status',
          lastHeartbeatTime: now,
          lastTransitionTime: now,
        },
      ],
    },
  };
  const created = (await api.create(nodes, undefined, node)) as Node;
  await renewLease(api, name);
  return created;
}

/** Renews (or creates) the node's Lease in kube-node-lease, as a kubelet heartbeat does. */
export async function renewLease(api: ApiCore, name: string): Promise<void> {
  const renewTime = new Date().toISOString().replace(/Z$/, '000Z');
  const updated = await api.guaranteedUpdate(leases, 'kube-node-lease', name, (cur) => {
    const l = cur as Lease;
    l.spec = { ...l.spec, renewTime };
    return l;
  });
  if (!updated)
    await api.create(leases, 'kube-node-lease', {
      metadata: { name },
      spec: { holderIdentity: name, leaseDurationSeconds: 40, renewTime },
    });
}

/** Behaviour of the stand-in kubelet. */
export interface TinyKubeletOptions {
  /** Start bound pods (Running + Ready); default true. */
  run?: boolean;
  /** Finish graceful deletions at once; default true. */
  finishDeletes?: boolean;
  /** Nodes whose pods it runs (default: every node). */
  nodes?: (name: string) => boolean;
}

/** Moves bound pods to Running/Ready, succeeds run-to-completion pods, finishes deletions. */
export class TinyKubelet {
  private readonly queue: WorkQueue;
  readonly opts: Required<Omit<TinyKubeletOptions, 'nodes'>> & Pick<TinyKubeletOptions, 'nodes'>;

  constructor(
    private readonly api: ApiCore,
    private readonly informers: Informers,
    opts: TinyKubeletOptions = {},
  ) {
    this.opts = { run: true, finishDeletes: true, ...opts };
    this.queue = new WorkQueue('tiny-kubelet', (k) => this.sync(k), {
      workers: 8,
      retryMs: 50,
      log: () => undefined,
    });
    informers.pods.on((type, pod) => {
      if (type !== 'DELETED' && pod.spec.nodeName) this.queue.add(keyOf(pod));
    });
  }

  /** Re-examines every bound pod (after changing options). */
  poke(): void {
    for (const p of this.informers.pods.list()) if (p.spec.nodeName) this.queue.add(keyOf(p));
  }

  private async sync(key: string): Promise<void> {
    const pod = this.informers.pods.get(key);
    if (!pod?.spec.nodeName || (this.opts.nodes && !this.opts.nodes(pod.spec.nodeName))) return;
    const ns = pod.metadata.namespace ?? '';
    const name = pod.metadata.name ?? '';
    try {
      if (isDeleting(pod)) {
        if (this.opts.finishDeletes)
          await this.api.delete(pods, ns, name, {
            gracePeriodSeconds: 0,
            preconditions: { uid: pod.metadata.uid ?? '' },
          });
        return;
      }
      if (!this.opts.run) return;
      const phase = pod.status?.phase ?? 'Pending';
      const runToCompletion = pod.spec.restartPolicy === 'Never' || pod.spec.restartPolicy === 'OnFailure';
      if (phase === 'Pending')
        await this.setStatus(pod, 'Running', pod.metadata.annotations?.[SIM_ANNOTATIONS.ready] !== 'false');
      else if (phase === 'Running' && runToCompletion) await this.setStatus(pod, 'Succeeded', false);
    } catch (e) {
      if (e instanceof ApiError && (e.code === 404 || e.code === 409)) return;
      throw e;
    }
  }

  private async setStatus(pod: Pod, phase: 'Running' | 'Succeeded', ready: boolean): Promise<void> {
    const now = timestamp(new Date());
    await this.api.guaranteedUpdate(
      pods,
      pod.metadata.namespace,
      pod.metadata.name ?? '',
      (cur) => {
        const p = cur as Pod;
        if (p.metadata.uid !== pod.metadata.uid || isDeleting(p)) return undefined;
        const keep = (p.status?.conditions ?? []).filter(
          (c) => !['Ready', 'ContainersReady', 'Initialized'].includes(c.type),
        );
        const st = ready ? 'True' : 'False';
        p.status = {
          ...(p.status ?? {}),
          phase,
          startTime: p.status?.startTime ?? now,
          conditions: [
            ...keep,
            { type: 'Initialized', status: 'True', lastProbeTime: null, lastTransitionTime: now },
            { type: 'Ready', status: st, lastProbeTime: null, lastTransitionTime: now },
            { type: 'ContainersReady', status: st, lastProbeTime: null, lastTransitionTime: now },
          ],
        };
        return p;
      },
      { subresource: 'status' },
    );
  }

  /** Stops reacting. */
  stop(): void {
    this.queue.stop();
  }
}

/** Sets a pod's Ready condition (True/False) through the status subresource. */
export async function setPodReady(api: ApiCore, ns: string, name: string, ready: boolean): Promise<void> {
  const now = timestamp(new Date());
  await api.guaranteedUpdate(
    pods,
    ns,
    name,
    (cur) => {
      const p = cur as Pod;
      const st = ready ? 'True' : 'False';
      const conds = (p.status?.conditions ?? []).filter(
        (c) => c.type !== 'Ready' && c.type !== 'ContainersReady',
      );
      p.status = {
        ...(p.status ?? {}),
        conditions: [
          ...conds,
          { type: 'Ready', status: st, lastTransitionTime: now },
          { type: 'ContainersReady', status: st, lastTransitionTime: now },
        ],
      };
      return p;
    },
    { subresource: 'status' },
  );
}

/**
 * Waits until the events of namespace satisfy `until` (events are written asynchronously, as
 * client-go's recorder does) and returns them.
 */
export async function waitForEvents(
  api: ApiCore,
  namespace: string,
  until: (events: KubeEvent[]) => boolean,
  what: string,
): Promise<KubeEvent[]> {
  return waitFor(async () => {
    const evs = (await api.list(resource('events'), namespace)).items as KubeEvent[];
    return until(evs) ? evs : undefined;
  }, what);
}
