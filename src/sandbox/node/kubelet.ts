// A simulated kubelet: registers its Node, renews its Lease in kube-node-lease, reports node
// status, runs the pods bound to it (Pending -> Running -> graceful termination -> deleted),
// runs static pods from /etc/kubernetes/manifests and mirrors them into the API, and serves
// HTTPS with its serving certificate. It can be stopped and started (systemctl), and rebooted
// (new boot id, pods restarted). It never decides anything a real kubelet would not.
import { createHash } from 'node:crypto';
import https from 'node:https';
import type { ServerResponse } from 'node:http';
import { existsSync, readdirSync, readFileSync, rmSync, watch, type FSWatcher } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import type { Clock } from '../../common/ports.ts';
import type { ApiCore } from '../apiserver/api.ts';
import { isPodReady } from '../../kube/pods.ts';
import { isMirrorPod, MIRROR_ANNOTATION } from '../apiserver/defaults.ts';
import { clone, isDeleting, keyOf, microTimestamp, timestamp } from '../apiserver/meta.ts';
import { resource } from '../apiserver/resources.ts';
import { ApiError } from '../apiserver/status.ts';
import type { ContainerStatus, KubeObject, Lease, Node, Pod } from '../apiserver/types.ts';
import type { NodeCondition, Taint } from '../../kube/types.ts';
import type { Informers } from '../controllers/context.ts';
import type { EventRecorder } from '../controllers/recorder.ts';
import type { HostLayout } from '../layout.ts';
import { SIM_ANNOTATIONS, type Timing } from '../timing.ts';
import { DEFAULT_MAX_PODS, installedKubeletVersion, newBootId, readKubeletConfig } from './host.ts';
import { serveLog } from './container-logs.ts';
import { podConditions } from './pod-conditions.ts';
import { ProcessPods, type ProcessPodsDeps } from './process-pods.ts';

/** Runs the containers of static pods (etcd, kube-apiserver, ...) for the kubelets. */
export interface StaticPodRuntime {
  /** Starts the component a manifest describes on node; rejects if it cannot start. */
  start(node: string, manifest: Pod): Promise<void>;
  /** Stops it; resolves when it is gone. */
  stop(node: string, component: string): Promise<void>;
  /** Is it running (a container that exited or is held down by a fault is not)? */
  isRunning(node: string, component: string): boolean;
}

/** The fixed facts of a node. */
export interface KubeletConfig {
  nodeName: string;
  role: 'control-plane' | 'worker';
  address: string;
  /** Index of the node (pod CIDR 10.244.<index>.0/24). */
  index: number;
  /** cpu and memory; the pods the node takes come from its KubeletConfiguration's maxPods. */
  capacity: { cpu: string; memory: string };
}

export interface KubeletDeps {
  api: ApiCore;
  informers: Informers;
  clock: Clock;
  timing: Timing;
  host: HostLayout;
  runtime: StaticPodRuntime;
  recorder: EventRecorder;
  log: (line: string) => void;
  /** Runs the pods of bosun's own image as real processes (see process-pods.ts); none: all are simulated. */
  processes?: ProcessPodsConfig;
}

/** What a node needs to run bosun's own pods as processes (the rest comes from the kubelet). */
export type ProcessPodsConfig = Pick<
  ProcessPodsDeps,
  'image' | 'root' | 'nodeBinary' | 'machinePath' | 'tools' | 'apiServer' | 'requestToken'
>;

/** A static pod that failed to start is started again after this, doubling up to the max (ms). */
const START_BACKOFF_MS = 250;
const START_BACKOFF_MAX_MS = 5_000;

const pods = resource('pods');
const nodes = resource('nodes');
const leases = resource('leases');

function fnvHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 32);
}

/** The hash the kubelet puts in a static pod's kubernetes.io/config.mirror annotation. */
export function manifestHash(text: string): string {
  return fnvHash(text);
}

function seconds(annotation: string | undefined): number | 'full' | undefined {
  if (annotation === undefined) return undefined;
  if (annotation === 'full') return 'full';
  const n = Number(annotation);
  return Number.isFinite(n) && n >= 0 ? n : undefined;
}

/**
 * A fault in how a kubelet follows one static pod's manifest (docs/sandbox.md):
 * - `ignore-new`: a changed manifest is not picked up; the old pod keeps running and its mirror pod
 *   keeps the old kubernetes.io/config.hash (a kubelet whose file source is stuck);
 * - `no-start`: the old pod is stopped and its mirror pod deleted, but a manifest other than the
 *   one running when the fault was set is never started (a new image that cannot run at all).
 * Either way, putting the old manifest back (kubeadm's rollback) runs the old pod again.
 */
export type StaticPodFault = 'ignore-new' | 'no-start';

/** What the kubelet is doing with one pod. */
interface PodWork {
  uid: string;
  timer: NodeJS.Timeout | undefined;
  stage: 'starting' | 'running' | 'completing' | 'stopping' | 'done';
}

/** One node's kubelet. */
export class SimKubelet {
  private running = false;
  private bootId = '';
  private version = '';
  /** KubeletConfiguration maxPods, read at start. */
  private maxPods = DEFAULT_MAX_PODS;
  private leaseTimer: NodeJS.Timeout | undefined;
  private statusTimer: NodeJS.Timeout | undefined;
  private manifestWatcher: FSWatcher | undefined;
  private manifestTimer: NodeJS.Timeout | undefined;
  private server: https.Server | undefined;
  private readonly work = new Map<string, PodWork>();
  /** The container runtime's view: pod uid -> boot id its containers were started in. Survives kubelet restarts, not reboots. */
  private readonly containers = new Map<string, string>();
  private readonly staticHashes = new Map<string, string>();
  /**
   * Static pods whose start failed (e.g. kube-apiserver's port taken, while it was down, as the
   * source port of some other process's connection): when to try again, and the back-off after.
   */
  private readonly startRetries = new Map<string, { hash: string; at: number; backoffMs: number }>();
  private readonly staticPods = new Map<string, Pod>();
  /** The last text of each manifest file and what it parsed to. */
  private readonly parsedManifests = new Map<string, { text: string; pod: Pod; hash: string }>();
  /** Static pods whose manifest went away: their mirror pods are deleted once the API answers. */
  private readonly staleMirrors = new Set<string>();
  private ready = false;
  private heartbeats = 0;
  private podIpSeq = 1;
  private readonly cfg: KubeletConfig;
  private unsubscribed = false;
  private syncingStatic = Promise.resolve();
  /** Static pod faults by component, with the manifest hash that ran when the fault was set. */
  private readonly staticFaults = new Map<string, { mode: StaticPodFault; hash: string | undefined }>();

  /** bosun's own pods, run as processes. */
  private readonly processes: ProcessPods | undefined;

  constructor(
    cfg: KubeletConfig,
    private readonly deps: KubeletDeps,
  ) {
    this.cfg = cfg;
    this.subscribe(deps.informers);
    this.processes = deps.processes
      ? new ProcessPods({
          ...deps.processes,
          nodeName: cfg.nodeName,
          host: deps.host,
          hostIP: cfg.address,
          allocatable: { cpu: cfg.capacity.cpu, memory: cfg.capacity.memory },
          api: deps.api,
          clock: deps.clock,
          timing: deps.timing,
          recorder: deps.recorder,
          log: deps.log,
          writeStatus: async (pod, fn) => {
            if (this.running) await this.updatePodStatus(keyOf(pod), pod.metadata.uid ?? '', fn);
          },
          podIP: (pod) => this.podIp(pod),
        })
      : undefined;
  }

  private subscribe(informers: Informers): void {
    informers.pods.on((type, pod) => {
      // Only the informers of the current kubelet process count (see useInformers).
      if (this.unsubscribed || this.deps.informers !== informers || pod.spec.nodeName !== this.cfg.nodeName)
        return;
      if (type === 'DELETED') this.forget(pod);
      else this.syncPod(pod);
    });
  }

  /**
   * Gives a stopped kubelet new informers: a kubelet that restarts is a new process with an
   * empty cache (what an admin relies on after an etcd restore rewound the cluster's history).
   */
  useInformers(informers: Informers): void {
    if (this.deps.informers === informers) return;
    this.deps.informers = informers;
    this.subscribe(informers);
  }

  /** The node's name. */
  get name(): string {
    return this.cfg.nodeName;
  }

  /** Is the kubelet process up? */
  get isRunning(): boolean {
    return this.running;
  }

  /** The boot id reported in node status. */
  get currentBootId(): string {
    return this.bootId;
  }

  private now(): string {
    return timestamp(this.deps.clock.now());
  }

  /** Boots the machine: a new boot id, then the kubelet starts. */
  async boot(): Promise<void> {
    this.bootId = newBootId(this.deps.host);
    this.containers.clear();
    rmSync(this.deps.host.rebootRequired, { force: true });
    await this.start();
  }

  /**
   * Starts the kubelet (systemctl start kubelet): reads its version, runs the static pods (no API
   * needed: this is how a control plane bootstraps), registers once the API answers, heartbeats,
   * and runs the pods bound to it.
   */
  async start(): Promise<void> {
    if (this.running) return;
    if (!this.bootId) this.bootId = newBootId(this.deps.host);
    this.version = installedKubeletVersion(this.deps.host) ?? this.version;
    // A kubelet reads its KubeletConfiguration when it starts: an edited maxPods counts after a restart.
    this.maxPods = readKubeletConfig(this.deps.host).maxPods;
    this.running = true;
    this.ready = false;
    await this.startServer();
    await this.syncStaticContainers();
    this.watchManifests();
    while (this.running) {
      try {
        await this.register();
        break;
      } catch (e) {
        this.deps.log(`kubelet ${this.name}: registering: ${e instanceof Error ? e.message : String(e)}`);
        await new Promise((r) => setTimeout(r, this.deps.timing.retryMs));
      }
    }
    if (!this.running) return;
    await this.renewLease().catch((e: unknown) =>
      this.deps.log(`kubelet ${this.name}: lease: ${e instanceof Error ? e.message : String(e)}`),
    );
    this.scheduleHeartbeat();
    this.queueStaticSync();
    // The runtime comes up: the node turns Ready and the pods bound to it are (re)started.
    this.statusTimer = setTimeout(() => {
      this.statusTimer = undefined;
      if (!this.running) return;
      this.ready = true;
      void this.updateNodeStatus()
        .then(() =>
          this.deps.recorder.event(
            this.nodeRef(),
            'Normal',
            'NodeReady',
            `Node ${this.name} status is now: NodeReady`,
          ),
        )
        .catch((e: unknown) =>
          this.deps.log(`kubelet ${this.name}: status: ${e instanceof Error ? e.message : String(e)}`),
        );
    }, this.deps.timing.kubeletRestartMs);
    this.processes?.resume();
    for (const p of this.deps.informers.pods.list())
      if (p.spec.nodeName === this.name && !isMirrorPod(p)) this.syncPod(p);
  }

  /** Stops the kubelet process (containers keep running, as with systemctl stop kubelet). */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.ready = false;
    for (const t of [this.leaseTimer, this.statusTimer, this.manifestTimer]) if (t) clearTimeout(t);
    this.leaseTimer = this.statusTimer = this.manifestTimer = undefined;
    this.manifestWatcher?.close();
    this.manifestWatcher = undefined;
    for (const w of this.work.values()) if (w.timer) clearTimeout(w.timer);
    this.work.clear();
    // The containers run on without their kubelet; nobody probes or restarts them.
    this.processes?.pause();
    await this.syncingStatic;
    const s = this.server;
    this.server = undefined;
    if (s)
      await new Promise<void>((r) => {
        s.close(() => r());
        s.closeAllConnections();
      });
  }

  /** Shuts the machine down: kubelet and every static pod stop. */
  async powerOff(): Promise<void> {
    await this.stop();
    // The machine goes down: its processes get SIGTERM, then SIGKILL after their grace period.
    await this.processes?.stopAll(Number.POSITIVE_INFINITY);
    for (const name of [...this.staticHashes.keys()]) await this.deps.runtime.stop(this.name, name);
    this.staticHashes.clear();
    this.staticPods.clear();
  }

  /** Stops for good (sandbox shutdown): no more informer reactions. */
  async shutdown(): Promise<void> {
    this.unsubscribed = true;
    await this.stop();
    await this.processes?.stopAll(1000);
  }

  private nodeRef(): KubeObject {
    return { apiVersion: 'v1', kind: 'Node', metadata: { name: this.name, uid: this.name } };
  }

  private nodeInfo(): NonNullable<Node['status']>['nodeInfo'] {
    return {
      machineID: fnvHash(`machine-${this.name}`),
      systemUUID: fnvHash(`uuid-${this.name}`).replace(
        /^(.{8})(.{4})(.{4})(.{4})(.{12}).*/,
        '$1-$2-$3-$4-$5',
      ),
      bootID: this.bootId,
      kernelVersion: '6.1.0-28-amd64',
      osImage: 'Debian GNU/Linux 12 (bookworm)',
      containerRuntimeVersion: 'containerd://1.7.24',
      kubeletVersion: this.version,
      kubeProxyVersion: '',
      operatingSystem: 'linux',
      architecture: 'amd64',
    };
  }

  private conditions(prev: NodeCondition[] | undefined): NodeCondition[] {
    const now = this.now();
    const want: Omit<NodeCondition, 'lastHeartbeatTime' | 'lastTransitionTime'>[] = [
      {
        type: 'MemoryPressure',
        status: 'False',
        reason: 'KubeletHasSufficientMemory',
        message: 'kubelet has sufficient memory available',
      },
      {
        type: 'DiskPressure',
        status: 'False',
        reason: 'KubeletHasNoDiskPressure',
        message: 'kubelet has no disk pressure',
      },
      {
        type: 'PIDPressure',
        status: 'False',
        reason: 'KubeletHasSufficientPID',
        message: 'kubelet has sufficient PID available',
      },
      this.ready
        ? {
            type: 'Ready',
            status: 'True',
            reason: 'KubeletReady',
            message: 'kubelet is posting ready status',
          }
        : {
            type: 'Ready',
            status: 'False',
            reason: 'KubeletNotReady',
            message: 'container runtime status check may not have completed yet',
          },
    ];
    return want.map((c) => {
      const old = prev?.find((p) => p.type === c.type);
      return {
        ...c,
        lastHeartbeatTime: now,
        lastTransitionTime: old && old.status === c.status ? (old.lastTransitionTime ?? now) : now,
      };
    });
  }

  private kubeletPort(): number {
    return readKubeletConfig(this.deps.host).port;
  }

  private nodeStatus(prev: Node['status'] | undefined): NonNullable<Node['status']> {
    const cap = { ...this.cfg.capacity, pods: String(this.maxPods) };
    return {
      ...(prev ?? {}),
      capacity: {
        cpu: cap.cpu,
        memory: cap.memory,
        pods: cap.pods,
        'ephemeral-storage': '61255492Ki',
        'hugepages-2Mi': '0',
      },
      allocatable: {
        cpu: cap.cpu,
        memory: cap.memory,
        pods: cap.pods,
        'ephemeral-storage': '56453061334',
        'hugepages-2Mi': '0',
      },
      conditions: this.conditions(prev?.conditions),
      addresses: [
        { type: 'InternalIP', address: this.cfg.address },
        { type: 'Hostname', address: this.name },
      ],
      daemonEndpoints: { kubeletEndpoint: { Port: this.kubeletPort() } },
      nodeInfo: this.nodeInfo(),
    };
  }

  /** Registers the Node (create), or refreshes its status after a restart. */
  private async register(): Promise<void> {
    const cp = this.cfg.role === 'control-plane';
    const labels: Record<string, string> = {
      'beta.kubernetes.io/arch': 'amd64',
      'beta.kubernetes.io/os': 'linux',
      'kubernetes.io/arch': 'amd64',
      'kubernetes.io/hostname': this.name,
      'kubernetes.io/os': 'linux',
      ...(cp
        ? {
            'node-role.kubernetes.io/control-plane': '',
            'node.kubernetes.io/exclude-from-external-load-balancers': '',
          }
        : {}),
    };
    const taints: Taint[] = cp
      ? [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }]
      : [];
    const node: Node = {
      metadata: {
        name: this.name,
        labels,
        annotations: {
          'kubeadm.alpha.kubernetes.io/cri-socket': 'unix:///var/run/containerd/containerd.sock',
          'node.alpha.kubernetes.io/ttl': '0',
          'volumes.kubernetes.io/controller-managed-attach-detach': 'true',
        },
      },
      spec: {
        podCIDR: `10.244.${this.cfg.index}.0/24`,
        podCIDRs: [`10.244.${this.cfg.index}.0/24`],
        ...(taints.length ? { taints } : {}),
      },
      status: this.nodeStatus(undefined),
    };
    try {
      await this.deps.api.create(nodes, undefined, node);
      this.deps.recorder.event(this.nodeRef(), 'Normal', 'Starting', 'Starting kubelet.');
      this.deps.recorder.event(
        this.nodeRef(),
        'Normal',
        'RegisteredNode',
        `Node ${this.name} event: Registered Node ${this.name} in Controller`,
      );
    } catch (e) {
      if (!(e instanceof ApiError && e.code === 409)) throw e;
      await this.updateNodeStatus();
      this.deps.recorder.event(this.nodeRef(), 'Normal', 'Starting', 'Starting kubelet.');
    }
  }

  /** Writes the node status (conditions, nodeInfo with version and boot id). */
  private async updateNodeStatus(): Promise<void> {
    if (!this.running) return;
    await this.deps.api.guaranteedUpdate(
      nodes,
      undefined,
      this.name,
      (cur) => {
        const n = cur as Node;
        n.status = this.nodeStatus(n.status);
        return n;
      },
      { subresource: 'status' },
      this.deps.informers.nodes.get(this.name),
    );
  }

  private scheduleHeartbeat(): void {
    this.leaseTimer = setTimeout(() => {
      this.leaseTimer = undefined;
      if (!this.running) return;
      this.heartbeats++;
      const work =
        this.heartbeats % 10 === 0
          ? Promise.all([this.renewLease(), this.updateNodeStatus()])
          : this.renewLease();
      void work
        .catch((e: unknown) =>
          this.deps.log(`kubelet ${this.name}: heartbeat: ${e instanceof Error ? e.message : String(e)}`),
        )
        .finally(() => {
          if (this.running) this.scheduleHeartbeat();
        });
    }, this.deps.timing.heartbeatMs);
  }

  /** Renews (or creates) kube-node-lease/<node>. */
  private async renewLease(): Promise<void> {
    const renewTime = microTimestamp(this.deps.clock.now());
    const updated = await this.deps.api.guaranteedUpdate(
      leases,
      'kube-node-lease',
      this.name,
      (cur) => {
        const l = cur as Lease;
        l.spec = { ...l.spec, holderIdentity: this.name, leaseDurationSeconds: 40, renewTime };
        return l;
      },
      {},
      this.deps.informers.leases.get(`kube-node-lease/${this.name}`),
    );
    if (updated) return;
    const node = await this.deps.api.tryGet(nodes, undefined, this.name);
    const lease: Lease = {
      metadata: {
        name: this.name,
        namespace: 'kube-node-lease',
        ownerReferences: node
          ? [{ apiVersion: 'v1', kind: 'Node', name: this.name, uid: node.metadata.uid ?? '' }]
          : [],
      },
      spec: { holderIdentity: this.name, leaseDurationSeconds: 40, renewTime },
    };
    try {
      await this.deps.api.create(leases, 'kube-node-lease', lease);
    } catch (e) {
      if (!(e instanceof ApiError && e.code === 409)) throw e;
    }
  }

  /** The kubelet's HTTPS endpoint (/healthz, /pods), with its serving certificate. */
  private async startServer(): Promise<void> {
    const pki = this.deps.host.kubeletPki;
    const certFile = join(pki, 'kubelet.crt');
    const keyFile = join(pki, 'kubelet.key');
    if (!existsSync(certFile)) return;
    const server = https.createServer(
      { cert: readFileSync(certFile), key: readFileSync(keyFile) },
      (req, res) => {
        if (req.url === '/healthz') {
          res.writeHead(200, { 'Content-Type': 'text/plain' });
          res.end('ok');
          return;
        }
        const logs = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/?]+)/.exec(req.url ?? '');
        if (logs) {
          this.serveContainerLogs(
            res,
            decodeURIComponent(logs[1] ?? ''),
            decodeURIComponent(logs[2] ?? ''),
            decodeURIComponent(logs[3] ?? ''),
            new URL(req.url ?? '/', 'https://kubelet').searchParams,
          );
          return;
        }
        if (req.url === '/pods' || req.url === '/pods/') {
          const items = this.deps.informers.pods.list().filter((p) => p.spec.nodeName === this.name);
          const body = JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: {}, items });
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end(body);
          return;
        }
        res.writeHead(404, { 'Content-Type': 'text/plain' });
        res.end('404 page not found');
      },
    );
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: this.cfg.address, port: this.kubeletPort() }, () => resolve());
    });
    this.server = server;
  }

  /** GET /containerLogs/NS/POD/CONTAINER: the CRI log of a container instance (what pods/log proxies to). */
  private serveContainerLogs(
    res: ServerResponse,
    ns: string,
    name: string,
    container: string,
    q: URLSearchParams,
  ): void {
    const pod = this.deps.informers.pods.get(`${ns}/${name}`);
    const status = pod?.status?.containerStatuses?.find((c) => c.name === container);
    if (!pod || pod.spec.nodeName !== this.name || !status) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end(`container ${container} of pod ${ns}/${name} not found`);
      return;
    }
    const previous = q.get('previous') === 'true';
    const instance = status.restartCount - (previous ? 1 : 0);
    if (instance < 0) {
      res.writeHead(400, { 'Content-Type': 'text/plain' });
      res.end(`previous terminated container "${container}" in pod "${name}" not found`);
      return;
    }
    const uid = pod.metadata.uid ?? '';
    const file = this.deps.host.path(`/var/log/pods/${ns}_${name}_${uid}/${container}/${instance}.log`);
    const num = (k: string): number | undefined => {
      const v = q.get(k);
      return v !== null && /^\d+$/.test(v) ? Number(v) : undefined;
    };
    const tailLines = num('tailLines');
    const limitBytes = num('limitBytes');
    serveLog(
      res,
      file,
      {
        follow: q.get('follow') === 'true' && !previous,
        timestamps: q.get('timestamps') === 'true',
        ...(tailLines !== undefined ? { tailLines } : {}),
        ...(limitBytes !== undefined ? { limitBytes } : {}),
      },
      () => {
        const cur = this.deps.informers.pods.get(`${ns}/${name}`);
        const st = cur?.status?.containerStatuses?.find((c) => c.name === container);
        return !cur || cur.metadata.uid !== uid || !st || st.restartCount !== instance || !st.state.running;
      },
    );
  }

  // ---------------------------------------------------------------- pods

  private podIp(pod: Pod): string {
    if (pod.spec.hostNetwork) return this.cfg.address;
    const n = this.podIpSeq++;
    return `10.244.${this.cfg.index}.${(n % 250) + 2}`;
  }

  private forget(pod: Pod): void {
    const k = keyOf(pod);
    this.containers.delete(pod.metadata.uid ?? '');
    // Gone from the API: its processes are killed and its volumes and logs removed.
    if (this.processes?.handles(pod)) void this.processes.stop(pod, 0, true);
    const w = this.work.get(k);
    if (w?.timer) clearTimeout(w.timer);
    this.work.delete(k);
  }

  private setTimer(key: string, w: PodWork, ms: number, fn: () => Promise<void>): void {
    if (w.timer) clearTimeout(w.timer);
    w.timer = setTimeout(() => {
      w.timer = undefined;
      if (!this.running || this.work.get(key) !== w) return;
      fn().catch((e: unknown) => {
        if (e instanceof ApiError && e.code === 404) return;
        this.deps.log(`kubelet ${this.name}: ${key}: ${e instanceof Error ? e.message : String(e)}`);
        // Try again shortly, as the kubelet's pod workers do.
        if (this.running && this.work.get(key) === w) this.setTimer(key, w, this.deps.timing.retryMs, fn);
      });
    }, ms);
  }

  /** Reacts to a pod bound to this node. */
  private syncPod(pod: Pod): void {
    if (!this.running || isMirrorPod(pod)) return;
    const key = keyOf(pod);
    const uid = pod.metadata.uid ?? '';
    let w = this.work.get(key);
    if (w && w.uid !== uid) {
      if (w.timer) clearTimeout(w.timer);
      w = undefined;
    }
    const phase = pod.status?.phase ?? 'Pending';
    if (isDeleting(pod)) {
      if (w?.stage === 'stopping' || w?.stage === 'done') return;
      w = w ?? { uid, timer: undefined, stage: 'stopping' };
      w.stage = 'stopping';
      this.work.set(key, w);
      const grace = (pod.metadata.deletionGracePeriodSeconds ?? 0) * 1000;
      const wants = seconds(pod.metadata.annotations?.[SIM_ANNOTATIONS.stopSeconds]);
      const stopMs =
        phase === 'Running'
          ? wants === 'full'
            ? grace
            : wants !== undefined
              ? wants * 1000
              : this.deps.timing.podStopMs
          : 0;
      // As kuberuntime's killContainer: the event when the stop begins, not when it is over.
      if (phase === 'Running')
        for (const c of pod.spec.containers)
          this.deps.recorder.event(pod, 'Normal', 'Killing', `Stopping container ${c.name}`);
      const procs = this.processes;
      if (procs?.has(uid)) {
        this.setTimer(key, w, 0, async () => {
          await procs.stop(pod, grace, false);
          await this.finishTermination(key, uid);
        });
        return;
      }
      this.setTimer(key, w, Math.min(grace, stopMs), () => this.finishTermination(key, uid));
      return;
    }
    if (phase === 'Succeeded' || phase === 'Failed') {
      if (w) {
        if (w.timer) clearTimeout(w.timer);
        w.stage = 'done';
      }
      return;
    }
    if (w) {
      // The kubelet's status manager owns pod status: a Ready condition someone else changed
      // (the node lifecycle controller's MarkPodsNotReady while the node was unreachable) is
      // written back to what the kubelet sees, once it sees the pod again.
      this.processes?.update(pod);
      if ((w.stage === 'running' || w.stage === 'completing') && phase === 'Running') {
        const want =
          this.processes?.isReady(uid) ?? pod.metadata.annotations?.[SIM_ANNOTATIONS.ready] !== 'false';
        const has = isPodReady(pod);
        if (want !== has) {
          void this.updatePodStatus(key, uid, (p) => this.setConditions(p, want, 'ContainersNotReady')).catch(
            (e: unknown) => {
              if (!(e instanceof ApiError && e.code === 404))
                this.deps.log(`kubelet ${this.name}: ${key}: ${e instanceof Error ? e.message : String(e)}`);
            },
          );
        }
      }
      return;
    }
    const started =
      phase === 'Running' &&
      (pod.status?.containerStatuses ?? []).every((c) => c.state.running !== undefined);
    const fromThisBoot = this.containers.get(uid) === this.bootId;
    const procs = this.processes?.handles(pod) ? this.processes : undefined;
    if (started && fromThisBoot && (!procs || procs.has(uid))) {
      w = { uid, timer: undefined, stage: 'running' };
      this.work.set(key, w);
      if (!procs) this.scheduleCompletion(key, w, pod);
      return;
    }
    if (procs) {
      // bosun's own image: real processes (process-pods.ts) instead of the simulation.
      const work: PodWork = { uid, timer: undefined, stage: 'starting' };
      this.work.set(key, work);
      const restart = phase === 'Running' || (pod.status?.containerStatuses ?? []).length > 0;
      this.setTimer(key, work, 0, async () => {
        const cur = this.deps.informers.pods.get(key) ?? pod;
        if (cur.metadata.uid !== uid || isDeleting(cur)) return;
        await procs.start(cur, restart);
        this.containers.set(uid, this.bootId);
        work.stage = 'running';
      });
      return;
    }
    // Pending, or running since an earlier boot: (re)start the containers.
    w = { uid, timer: undefined, stage: 'starting' };
    this.work.set(key, w);
    const restart = phase === 'Running' || (pod.status?.containerStatuses ?? []).length > 0;
    const startSec = seconds(pod.metadata.annotations?.[SIM_ANNOTATIONS.startSeconds]);
    const startMs = typeof startSec === 'number' ? startSec * 1000 : this.deps.timing.podStartMs;
    if (restart) void this.markRestarting(key, uid).catch(() => undefined);
    this.setTimer(key, w, startMs, async () => {
      await this.markRunning(key, uid, restart);
      w.stage = 'running';
      const cur = this.deps.informers.pods.get(key);
      if (cur) this.scheduleCompletion(key, w, cur);
    });
  }

  private scheduleCompletion(key: string, w: PodWork, pod: Pod): void {
    const policy = pod.spec.restartPolicy ?? 'Always';
    if (policy === 'Always') return;
    const runSec = seconds(pod.metadata.annotations?.[SIM_ANNOTATIONS.runSeconds]);
    const runMs = typeof runSec === 'number' ? runSec * 1000 : this.deps.timing.jobRunMs;
    w.stage = 'completing';
    this.setTimer(key, w, runMs, async () => {
      await this.markSucceeded(key, w.uid);
      w.stage = 'done';
    });
  }

  private async updatePodStatus(key: string, uid: string, fn: (p: Pod) => void): Promise<Pod | undefined> {
    const [ns, name] = key.split('/') as [string, string];
    let gone = false;
    const out = await this.deps.api.guaranteedUpdate(
      pods,
      ns,
      name,
      (cur) => {
        if (cur.metadata.uid !== uid) {
          gone = true;
          return undefined;
        }
        const p = cur as Pod;
        fn(p);
        return p;
      },
      { subresource: 'status' },
      this.deps.informers.pods.get(key),
    );
    return gone ? undefined : (out as Pod | undefined);
  }

  private containerStatuses(
    pod: Pod,
    state: 'running' | 'waiting' | 'terminated',
    ready: boolean,
    restart: boolean,
    exitCode = 0,
  ): ContainerStatus[] {
    const now = this.now();
    const prev = pod.status?.containerStatuses ?? [];
    return pod.spec.containers.map((c, i) => {
      const old = prev.find((s) => s.name === c.name);
      const restartCount = (old?.restartCount ?? 0) + (restart && state === 'running' ? 1 : 0);
      const s: ContainerStatus = {
        name: c.name,
        image: c.image ?? '',
        imageID: `${c.image ?? ''}@sha256:${fnvHash(c.image ?? '')}${fnvHash(c.image ?? '')}`.slice(
          0,
          (c.image ?? '').length + 72,
        ),
        containerID: `containerd://${fnvHash(`${pod.metadata.uid ?? ''}-${i}-${restartCount}`)}${fnvHash(this.bootId)}`,
        ready,
        started: state === 'running',
        restartCount,
        state:
          state === 'running'
            ? { running: { startedAt: now } }
            : state === 'waiting'
              ? { waiting: { reason: 'ContainerCreating' } }
              : {
                  terminated: {
                    exitCode,
                    reason: exitCode === 0 ? 'Completed' : 'Error',
                    startedAt: old?.state.running?.startedAt ?? now,
                    finishedAt: now,
                  },
                },
      };
      if (restart && state === 'running' && old?.state.running) {
        s.lastState = {
          terminated: {
            exitCode: 255,
            reason: 'Unknown',
            startedAt: old.state.running.startedAt ?? now,
            finishedAt: now,
          },
        };
      }
      return s;
    });
  }

  private setConditions(pod: Pod, ready: boolean, reason?: string): void {
    pod.status = {
      ...(pod.status ?? {}),
      conditions: podConditions(
        pod.status?.conditions ?? [],
        { ready, ...(reason ? { reason } : {}) },
        this.now(),
      ),
    };
  }

  private async markRestarting(key: string, uid: string): Promise<void> {
    await this.updatePodStatus(key, uid, (p) => {
      this.setConditions(p, false, 'ContainersNotReady');
      p.status = {
        ...(p.status ?? {}),
        containerStatuses: this.containerStatuses(p, 'waiting', false, false),
      };
    });
  }

  private async markRunning(key: string, uid: string, restart: boolean): Promise<void> {
    const pod = await this.updatePodStatus(key, uid, (p) => {
      const ready = p.metadata.annotations?.[SIM_ANNOTATIONS.ready] !== 'false';
      this.setConditions(p, ready, 'ContainersNotReady');
      const ip = p.status?.podIP ?? this.podIp(p);
      p.status = {
        ...(p.status ?? {}),
        phase: 'Running',
        hostIP: this.cfg.address,
        hostIPs: [{ ip: this.cfg.address }],
        podIP: ip,
        podIPs: [{ ip }],
        startTime: p.status?.startTime ?? this.now(),
        containerStatuses: this.containerStatuses(p, 'running', ready, restart),
      };
    });
    if (!pod) return;
    this.containers.set(uid, this.bootId);
    if (!restart) {
      for (const c of pod.spec.containers) {
        this.deps.recorder.event(
          pod,
          'Normal',
          'Pulled',
          `Container image "${c.image ?? ''}" already present on machine`,
        );
        this.deps.recorder.event(pod, 'Normal', 'Started', `Started container ${c.name}`);
      }
    }
  }

  private async markSucceeded(key: string, uid: string): Promise<void> {
    await this.updatePodStatus(key, uid, (p) => {
      this.setConditions(p, false, 'PodCompleted');
      p.status = {
        ...(p.status ?? {}),
        phase: 'Succeeded',
        containerStatuses: this.containerStatuses(p, 'terminated', false, false, 0),
      };
    });
  }

  /** The containers have stopped: final status, then the kubelet's delete with grace 0. */
  private async finishTermination(key: string, uid: string): Promise<void> {
    const [ns, name] = key.split('/') as [string, string];
    let pod = this.deps.informers.pods.get(key);
    if (pod && pod.metadata.uid === uid && pod.status?.phase === 'Running') {
      pod = await this.updatePodStatus(key, uid, (p) => {
        this.setConditions(p, false, 'PodCompleted');
        p.status = {
          ...(p.status ?? {}),
          phase: 'Succeeded',
          containerStatuses: this.containerStatuses(p, 'terminated', false, false, 0),
        };
      });
    }
    const w = this.work.get(key);
    if (w) w.stage = 'done';
    try {
      await this.deps.api.delete(
        pods,
        ns,
        name,
        { gracePeriodSeconds: 0, preconditions: { uid } },
        pod?.metadata.uid === uid ? pod : undefined,
      );
    } catch (e) {
      if (e instanceof ApiError && (e.code === 404 || e.code === 409)) return;
      throw e;
    }
  }

  // ---------------------------------------------------------- static pods

  private watchManifests(): void {
    const dir = this.deps.host.manifests;
    if (!existsSync(dir)) return;
    try {
      this.manifestWatcher = watch(dir, () => this.queueStaticSync());
    } catch {
      this.manifestWatcher = undefined;
    }
    // fsnotify can miss renames across directories; the kubelet's file source also polls.
    const poll = (): void => {
      this.manifestTimer = setTimeout(
        () => {
          if (!this.running) return;
          this.queueStaticSync();
          poll();
        },
        Math.max(this.deps.timing.heartbeatMs, 250),
      );
    };
    poll();
  }

  private queueStaticSync(): void {
    this.syncingStatic = this.syncingStatic
      .then(() => this.syncStaticPods())
      .catch((e: unknown) => {
        this.deps.log(`kubelet ${this.name}: static pods: ${e instanceof Error ? e.message : String(e)}`);
      });
  }

  private readManifests(): Map<string, { pod: Pod; hash: string }> {
    const out = new Map<string, { pod: Pod; hash: string }>();
    const dir = this.deps.host.manifests;
    if (!existsSync(dir)) return out;
    for (const f of readdirSync(dir)) {
      if (!/\.(ya?ml|json)$/.test(f) || f.startsWith('.')) continue;
      let text: string;
      try {
        text = readFileSync(join(dir, f), 'utf8');
      } catch {
        continue;
      }
      try {
        // The file source polls every heartbeat: parse a manifest only when its text changed.
        const seen = this.parsedManifests.get(f);
        const parsed = seen?.text === text ? seen : { text, pod: parse(text) as Pod, hash: fnvHash(text) };
        this.parsedManifests.set(f, parsed);
        const pod = parsed.pod;
        const name = pod?.metadata?.name;
        if (!name || !pod.spec) continue;
        out.set(name, { pod, hash: parsed.hash });
      } catch {
        this.deps.log(`kubelet ${this.name}: cannot parse manifest ${f}`);
      }
    }
    return out;
  }

  /**
   * Sets (or with undefined, clears) a static pod fault for one component of this node; the next
   * manifest sync applies it. The manifest running now is the one the fault lets run.
   */
  setStaticPodFault(component: string, mode: StaticPodFault | undefined): void {
    if (mode === undefined) this.staticFaults.delete(component);
    else this.staticFaults.set(component, { mode, hash: this.staticHashes.get(component) });
    if (this.running) this.queueStaticSync();
  }

  /** Whether a fault stops this manifest from being run (see StaticPodFault). */
  private blockedByFault(name: string, hash: string): StaticPodFault | undefined {
    const f = this.staticFaults.get(name);
    return f && f.hash !== hash ? f.mode : undefined;
  }

  /** Starts, restarts and stops static pod containers to match the manifests (no API calls). */
  private async syncStaticContainers(): Promise<void> {
    const manifests = this.readManifests();
    for (const [name, hash] of [...this.staticHashes]) {
      const m = manifests.get(name);
      if (m && m.hash !== hash && this.blockedByFault(name, m.hash) === 'ignore-new') continue;
      if (!m || m.hash !== hash) {
        await this.deps.runtime.stop(this.name, name);
        this.staticHashes.delete(name);
        this.staticPods.delete(name);
        this.staleMirrors.add(name);
      }
    }
    for (const [name, m] of manifests) {
      if (!this.running) return;
      if (this.staticHashes.get(name) === m.hash) continue;
      if (this.staticHashes.has(name)) continue; // kept by an ignore-new fault
      if (this.blockedByFault(name, m.hash) === 'no-start') continue;
      await this.startStatic(name, m);
    }
    // A static pod whose manifest stays but whose container is gone (it exited, or its start was
    // lost) is started again, as the kubelet restarts a container: never left down for good.
    for (const [name, hash] of [...this.staticHashes]) {
      if (!this.running) return;
      const pod = this.staticPods.get(name);
      const m = manifests.get(name);
      if (!pod || !m || m.hash !== hash) continue;
      if (this.deps.runtime.isRunning(this.name, pod.metadata.labels?.['component'] ?? name)) continue;
      this.staticHashes.delete(name);
      this.staticPods.delete(name);
      await this.startStatic(name, m);
    }
  }

  /** Starts one static pod (after its back-off, when an earlier start failed); whether it did. */
  private async startStatic(name: string, m: { pod: Pod; hash: string }): Promise<boolean> {
    const retry = this.startRetries.get(name);
    if (retry?.hash === m.hash && this.deps.clock.now().getTime() < retry.at) return false;
    this.staticHashes.set(name, m.hash);
    this.staticPods.set(name, m.pod);
    try {
      await this.deps.runtime.start(this.name, m.pod);
      this.startRetries.delete(name);
    } catch (e) {
      // As the kubelet restarts a container that fails to start, with a doubling back-off: this
      // manifest is started again on a sync after it, not left down until the manifest changes.
      const backoffMs = retry?.hash === m.hash ? Math.min(retry.backoffMs * 2, START_BACKOFF_MAX_MS) : START_BACKOFF_MS;
      this.startRetries.set(name, { hash: m.hash, at: this.deps.clock.now().getTime() + backoffMs, backoffMs });
      this.staticHashes.delete(name);
      this.staticPods.delete(name);
      this.deps.log(
        `kubelet ${this.name}: static pod ${name} failed to start (trying again in ${backoffMs} ms): ${e instanceof Error ? e.message : String(e)}`,
      );
      return false;
    }
    return true;
  }

  /** Static pods to match the manifests, then their mirror pods to match the static pods. */
  private async syncStaticPods(): Promise<void> {
    if (!this.running) return;
    await this.syncStaticContainers();
    for (const name of [...this.staleMirrors]) {
      if (this.staticHashes.has(name)) {
        this.staleMirrors.delete(name);
        continue;
      }
      await this.deleteMirror(name);
      this.staleMirrors.delete(name);
    }
    for (const [name, pod] of this.staticPods) {
      if (!this.running) return;
      const hash = this.staticHashes.get(name);
      if (hash) await this.ensureMirror(name, pod, hash);
    }
  }

  private mirrorName(name: string): string {
    return `${name}-${this.name}`;
  }

  private async deleteMirror(name: string): Promise<void> {
    try {
      await this.deps.api.delete(pods, 'kube-system', this.mirrorName(name), { gracePeriodSeconds: 0 });
    } catch (e) {
      if (!(e instanceof ApiError && e.code === 404)) throw e;
    }
  }

  /** Creates or updates the mirror pod of a static pod, with its status. */
  private async ensureMirror(name: string, manifest: Pod, hash: string): Promise<void> {
    const running = this.deps.runtime.isRunning(this.name, name);
    const mirrorName = this.mirrorName(name);
    const existing = (await this.deps.api.tryGet(pods, 'kube-system', mirrorName)) as Pod | undefined;
    if (existing && existing.metadata.annotations?.[MIRROR_ANNOTATION] !== hash) {
      await this.deleteMirror(name);
    } else if (existing) {
      // The Ready condition counts too: the node lifecycle controller may have set it False while
      // the node was unreachable, and the kubelet's status manager writes it back.
      const isRunning =
        existing.status?.phase === 'Running' &&
        (existing.status.containerStatuses ?? []).every((c) => c.ready) &&
        isPodReady(existing);
      if (isRunning === running) return;
      await this.updatePodStatus(keyOf(existing), existing.metadata.uid ?? '', (p) =>
        this.setStaticStatus(p, running),
      );
      return;
    }
    const node = await this.deps.api.tryGet(nodes, undefined, this.name);
    const pod = clone(manifest);
    pod.metadata = {
      ...pod.metadata,
      name: mirrorName,
      namespace: 'kube-system',
      annotations: {
        ...(pod.metadata.annotations ?? {}),
        'kubernetes.io/config.hash': hash,
        [MIRROR_ANNOTATION]: hash,
        'kubernetes.io/config.seen': new Date(this.deps.clock.now()).toISOString().replace('Z', '000000Z'),
        'kubernetes.io/config.source': 'file',
      },
      ownerReferences: node
        ? [
            {
              apiVersion: 'v1',
              kind: 'Node',
              name: this.name,
              uid: node.metadata.uid ?? '',
              controller: true,
            },
          ]
        : [],
    };
    pod.spec = {
      ...pod.spec,
      nodeName: this.name,
      tolerations: [{ operator: 'Exists', effect: 'NoExecute' }],
    };
    delete pod['status'];
    try {
      const created = (await this.deps.api.create(pods, 'kube-system', pod)) as Pod;
      await this.updatePodStatus(keyOf(created), created.metadata.uid ?? '', (p) =>
        this.setStaticStatus(p, running),
      );
    } catch (e) {
      if (!(e instanceof ApiError && e.code === 409)) throw e;
    }
  }

  private setStaticStatus(p: Pod, running: boolean): void {
    this.setConditions(p, running, 'ContainersNotReady');
    p.status = {
      ...(p.status ?? {}),
      phase: running ? 'Running' : 'Pending',
      hostIP: this.cfg.address,
      hostIPs: [{ ip: this.cfg.address }],
      podIP: this.cfg.address,
      podIPs: [{ ip: this.cfg.address }],
      startTime: p.status?.startTime ?? this.now(),
      qosClass: 'Burstable',
      containerStatuses: this.containerStatuses(p, running ? 'running' : 'waiting', running, false),
    };
  }

  /** Re-reads a static pod's state now (after the runtime saw it exit or come back). */
  refreshStatic(component: string): void {
    const m = this.staticPods.get(component);
    const hash = this.staticHashes.get(component);
    if (!m || !hash || !this.running) return;
    void this.ensureMirror(component, m, hash).catch((e: unknown) =>
      this.deps.log(
        `kubelet ${this.name}: mirror ${component}: ${e instanceof Error ? e.message : String(e)}`,
      ),
    );
  }
}
