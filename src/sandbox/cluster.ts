// The embedded cluster: builds a sandbox directory the way kubeadm builds nodes (PKI, kubeconfigs,
// static pod manifests, kubelet config), then runs it: real etcd members and kube-apiservers
// started by simulated kubelets from their manifests, the controllers, a load balancer for HA,
// the node shims' control endpoint. Start it in-process (tests, the demo) or through the daemon
// (`bosun sandbox up`). Everything listens on 127.0.0.1; stop() ends every process it started.
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import semver from 'semver';
import { BosunError, errorMessage } from '../common/errors.ts';
import { freePorts } from '../common/net.ts';
import type { Clock, Exec } from '../common/ports.ts';
import { etcdHealthy } from '../etcd/member.ts';
import { readKeyFile, tmpDir as defaultTmpDir, type EncryptionKey } from '../etcd/index.ts';
import {
  generateClusterCas,
  userKubeconfig,
  writeControlPlanePki,
  writeWorkerPki,
  type KeyAlgorithm,
} from '../certs/index.ts';
import { ApiCore } from './apiserver/api.ts';
import { AuditLog, type AuditQuery, type AuditRecord } from './apiserver/audit.ts';
import { createTokenRequest } from './apiserver/token-request.ts';
import { FaultInjector, type FaultRule } from './apiserver/faults.ts';
import { resource } from './apiserver/resources.ts';
import { EtcdStore } from './apiserver/store.ts';
import type { DaemonSet, Deployment, Job, Node, Pod, StatefulSet } from './apiserver/types.ts';
import { kubeadmInit, kubeadmRecordVersion, kubeadmUpgradeAddons, recordedVersion } from './bootstrap.ts';
import type { Controller, ControllerContext, Informers } from './controllers/context.ts';
import { createInformers, startInformers, stopInformers } from './controllers/informer.ts';
import { EVENT_CLIENT_LIMITS, EventRecorder } from './controllers/recorder.ts';
import { startControlServer, type SandboxControl } from './control.ts';
import { SandboxLayout } from './layout.ts';
import { ApiLoadBalancer } from './lb.ts';
import { runNodeCommand, type NodeOps, type ShimIO } from './node/commands.ts';
import { initHost, writeAtomic, writeKubeletConfig } from './node/host.ts';
import { manifestHash, SimKubelet, type ProcessPodsConfig, type StaticPodFault } from './node/kubelet.ts';
import { BOSUN_IMAGE } from './node/container-spec.ts';
import { checkoutRoot, writeContainerTools, type ContainerTools } from './node/container-tools.ts';
import { controlPlaneManifests } from './node/manifests.ts';
import { defaultReleases } from './node/repo.ts';
import { writeShims } from './node/shims.ts';
import { ComponentRuntime } from './runtime.ts';
import { kubeScaled, TIMINGS, type Timing } from './timing.ts';
import { applyDemoWorkload } from './workload.ts';
import { restoreSandboxEtcd, type SandboxRestoreResult } from './restore.ts';
import { isPodReady } from '../kube/pods.ts';
import { isMirrorPod } from './apiserver/defaults.ts';

/** kubeadm's UpgradeConfiguration timeouts.upgradeManifests default (5m), before the timing profile's scale. */
const UPGRADE_MANIFESTS_TIMEOUT_MS = 5 * 60_000;

/** The static pods kubeadm writes on a control plane. */
const STATIC_COMPONENTS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'];

/** How to build and run a sandbox. */
export interface SandboxOptions {
  dir: string;
  controlPlanes: number;
  workers: number;
  /** Kubernetes version, "v1.34.3". */
  version: string;
  workload: 'demo' | 'none';
  timing: Timing;
  keyAlgorithm: KeyAlgorithm;
  /**
   * notAfter of chosen certificates on every node when the sandbox is built, by kubeadm name
   * ('apiserver', 'etcd-server', 'admin.conf', ...; 'kubelet-serving', 'kubelet-client'), as
   * NodePkiOptions.notAfterOverrides: for tests of expiry and renewal. Default: kubeadm's validity.
   */
  pkiNotAfterOverrides?: Readonly<Record<string, Date>>;
  /**
   * KubeletConfiguration maxPods written on every node when the sandbox is built (the pods each
   * node takes). Default: none written, so the kubelet's default of 110 applies.
   */
  maxPods?: number;
  /** The node binary the shims run (process.execPath of the caller), and bosun's own containers. */
  nodeBinary: string;
  /**
   * The image repository whose containers the kubelets run as real processes of this checkout
   * (default ghcr.io/bosun-dev/bosun, any tag or digest: deploy/Dockerfile's image).
   */
  bosunImage?: string;
  clock: Clock;
  /** Diagnostic log (sandbox.log). */
  log: (line: string) => void;
  /** Human progress ("starting etcd on cp-1"). */
  progress?: (line: string) => void;
  /** How long to wait for every node and workload to be ready; default 90 s. */
  readyTimeoutMs?: number;
  /** The controllers to run (default: all of src/sandbox/controllers). */
  controllers?: (ctx: ControllerContext) => Controller[];
  /** Runs etcdctl for `restore` (the daemon passes the CLI's; tests pass the real one). */
  exec?: Exec;
  /** The environment tools run with (PATH to find etcdctl; TMPDIR). */
  env?: Readonly<Record<string, string | undefined>>;
}

/** Options of Sandbox.restore. */
export interface SandboxRestoreRequest {
  /** The snapshot (a bosun backup or an etcdctl snapshot), plain or encrypted. */
  file: string;
  /** Key of an encrypted backup. */
  key?: EncryptionKey | null;
  /** Progress lines ("Restoring member cp-1 on cp-1"). */
  progress?: (line: string) => void;
  /** Override the sandbox's exec and environment (for a sandbox started without them). */
  exec?: Exec;
  env?: Readonly<Record<string, string | undefined>>;
}

/** One node of the sandbox and its loopback ports. */
export interface NodeSpec {
  name: string;
  role: 'control-plane' | 'worker';
  index: number;
  kubeletPort: number;
  apiserverPort?: number;
  etcdClientPort?: number;
  etcdPeerPort?: number;
}

/** The persisted shape of a sandbox (config.json): what `up` was asked for and the ports chosen. */
export interface SandboxConfig {
  version: string;
  workload: 'demo' | 'none';
  timing: 'fast' | 'realistic' | Timing;
  keyAlgorithm: KeyAlgorithm;
  controlPlaneEndpoint: string;
  lbPort?: number;
  nodes: NodeSpec[];
}

/** state.json: what a running sandbox tells `status`, `down` and the shims. */
export interface SandboxState {
  pid: number;
  dir: string;
  phase: 'starting' | 'ready' | 'failed' | 'stopping' | 'stopped';
  error?: string;
  controlPort: number;
  token: string;
  server: string;
  etcdPids: Record<string, number>;
  startedAt: string;
  nodes: NodeSpec[];
}

/** Reads a sandbox's state.json, if any. */
export function readState(layout: SandboxLayout): SandboxState | undefined {
  try {
    return JSON.parse(readFileSync(layout.stateFile, 'utf8')) as SandboxState;
  } catch {
    return undefined;
  }
}

/** Reads a sandbox's config.json, if any. */
export function readConfig(layout: SandboxLayout): SandboxConfig | undefined {
  try {
    return JSON.parse(readFileSync(layout.configFile, 'utf8')) as SandboxConfig;
  } catch {
    return undefined;
  }
}

function nodeNames(cp: number, workers: number): { name: string; role: 'control-plane' | 'worker' }[] {
  const out: { name: string; role: 'control-plane' | 'worker' }[] = [];
  for (let i = 1; i <= cp; i++) out.push({ name: `cp-${i}`, role: 'control-plane' });
  for (let i = 1; i <= workers; i++) out.push({ name: `worker-${i}`, role: 'worker' });
  return out;
}

/** A running sandbox cluster. */
export class Sandbox implements SandboxControl {
  readonly layout: SandboxLayout;
  readonly faults = new FaultInjector();
  /** Every request the kube-apiservers received, who made it and which rule allowed it. */
  readonly auditLog = new AuditLog();
  private readonly kubelets = new Map<string, SimKubelet>();
  private readonly neverReturn = new Set<string>();
  private controllers: Controller[] = [];
  private informers: Informers | undefined;
  private restoring = false;
  private store: EtcdStore | undefined;
  private api: ApiCore | undefined;
  private runtime: ComponentRuntime | undefined;
  private lb: ApiLoadBalancer | undefined;
  private stopControl: (() => Promise<void>) | undefined;
  private compactTimer: NodeJS.Timeout | undefined;
  private state: SandboxState;
  private stopped = false;
  private shutdownRequested: (() => void) | undefined;
  private readonly pending = new Set<Promise<unknown>>();
  private containerTools: ContainerTools | undefined;

  private constructor(
    private readonly opts: SandboxOptions,
    readonly config: SandboxConfig,
  ) {
    this.layout = new SandboxLayout(opts.dir);
    this.state = {
      pid: process.pid,
      dir: opts.dir,
      phase: 'starting',
      controlPort: 0,
      token: randomBytes(24).toString('hex'),
      server: `https://${config.controlPlaneEndpoint}`,
      etcdPids: {},
      startedAt: opts.clock.now().toISOString(),
      nodes: config.nodes,
    };
  }

  /** The admin kubeconfig path. */
  get kubeconfig(): string {
    return this.layout.adminConf;
  }

  /** The API server URL clients use (the load balancer when HA). */
  get server(): string {
    return this.state.server;
  }

  /** The nodes and their ports. */
  get nodes(): readonly NodeSpec[] {
    return this.config.nodes;
  }

  /** The API for tests that need to look behind the HTTP front ends. */
  get internalApi(): ApiCore {
    if (!this.api) throw new Error('sandbox not started');
    return this.api;
  }

  /** Registers a callback for a shutdown requested through the control endpoint. */
  onShutdownRequest(fn: () => void): void {
    this.shutdownRequested = fn;
  }

  /**
   * Builds (if new) and starts a sandbox in opts.dir. Resolves once every node is Ready and the
   * workload runs. On failure everything started is stopped before the error is thrown.
   */
  static async start(opts: SandboxOptions): Promise<Sandbox> {
    const layout = new SandboxLayout(opts.dir);
    mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    let config = readConfig(layout);
    const fresh = config === undefined;
    if (!config) config = await Sandbox.plan(opts);
    const sb = new Sandbox(opts, config);
    try {
      await sb.run(fresh);
      return sb;
    } catch (e) {
      sb.state.phase = 'failed';
      sb.state.error = errorMessage(e);
      sb.writeState();
      await sb.stop('failed').catch(() => undefined);
      throw e;
    }
  }

  private static async plan(opts: SandboxOptions): Promise<SandboxConfig> {
    if (!semver.valid(opts.version) || !defaultReleases().includes(opts.version.replace(/^v/, ''))) {
      throw new BosunError(`unsupported Kubernetes version "${opts.version}"`, 'USAGE', {
        exitCode: 2,
        hint: `The sandbox offers v${defaultReleases()[0] ?? ''} to v${defaultReleases().at(-1) ?? ''}.`,
      });
    }
    const names = nodeNames(opts.controlPlanes, opts.workers);
    const cpCount = opts.controlPlanes;
    const ports = await freePorts(names.length + cpCount * 3 + (cpCount > 1 ? 1 : 0));
    let i = 0;
    const take = (): number => ports[i++] as number;
    const nodes: NodeSpec[] = names.map((n, index) =>
      n.role === 'control-plane'
        ? {
            ...n,
            index,
            kubeletPort: take(),
            apiserverPort: take(),
            etcdClientPort: take(),
            etcdPeerPort: take(),
          }
        : { ...n, index, kubeletPort: take() },
    );
    const lbPort = cpCount > 1 ? take() : undefined;
    const endpointPort = lbPort ?? nodes[0]?.apiserverPort ?? 6443;
    return {
      version: opts.version.startsWith('v') ? opts.version : `v${opts.version}`,
      workload: opts.workload,
      timing:
        opts.timing === TIMINGS.fast ? 'fast' : opts.timing === TIMINGS.realistic ? 'realistic' : opts.timing,
      keyAlgorithm: opts.keyAlgorithm,
      controlPlaneEndpoint: `127.0.0.1:${endpointPort}`,
      ...(lbPort !== undefined ? { lbPort } : {}),
      nodes,
    };
  }

  private writeState(): void {
    if (this.runtime) this.state.etcdPids = this.runtime.etcdPids();
    writeAtomic(this.layout.stateFile, JSON.stringify(this.state, null, 2) + '\n', 0o600);
  }

  private progress(line: string): void {
    this.opts.progress?.(line);
    this.opts.log(line);
  }

  private controlPlanes(): NodeSpec[] {
    return this.config.nodes.filter((n) => n.role === 'control-plane');
  }

  private async writeNodeFiles(): Promise<void> {
    const { layout, config } = this;
    const release = config.version.replace(/^v/, '');
    writeAtomic(layout.repoFile, JSON.stringify({ releases: defaultReleases() }, null, 2) + '\n');
    writeAtomic(layout.configFile, JSON.stringify(config, null, 2) + '\n', 0o600);
    this.progress(`generating the kubeadm PKI for ${config.nodes.length} nodes`);
    const now = this.opts.clock.now();
    const cas = await generateClusterCas({ now, keyAlgorithm: config.keyAlgorithm });
    // cp-1 is where `kubeadm init` ran; the other control planes joined (no super-admin.conf).
    const initNode = this.controlPlanes()[0]?.name;
    await Promise.all(
      config.nodes.map(async (n) => {
        const host = layout.host(n.name);
        initHost(host, release);
        const pkiOpts = {
          nodeName: n.name,
          advertiseAddress: '127.0.0.1',
          controlPlaneEndpoint: config.controlPlaneEndpoint,
          now,
          keyAlgorithm: config.keyAlgorithm,
          kubernetesVersion: config.version,
          joined: n.name !== initNode,
          ...(this.opts.pkiNotAfterOverrides
            ? { notAfterOverrides: { ...this.opts.pkiNotAfterOverrides } }
            : {}),
        };
        if (n.role === 'control-plane')
          await writeControlPlanePki(host.etcKubernetes, host.kubeletPki, cas, pkiOpts);
        else await writeWorkerPki(host.etcKubernetes, host.kubeletPki, cas, pkiOpts);
        writeKubeletConfig(
          host,
          n.kubeletPort,
          this.opts.maxPods !== undefined ? { maxPods: this.opts.maxPods } : {},
        );
      }),
    );
    const first = this.controlPlanes()[0];
    if (first) copyFileSync(join(layout.host(first.name).etcKubernetes, 'admin.conf'), layout.adminConf);
  }

  private writeManifests(n: NodeSpec, members: NodeSpec[], state: 'new' | 'existing'): void {
    const files = controlPlaneManifests({
      nodeName: n.name,
      address: '127.0.0.1',
      version: this.config.version,
      ports: {
        apiserver: n.apiserverPort ?? 0,
        etcdClient: n.etcdClientPort ?? 0,
        etcdPeer: n.etcdPeerPort ?? 0,
      },
      initialCluster: members.map((m) => `${m.name}=https://127.0.0.1:${m.etcdPeerPort ?? 0}`).join(','),
      initialClusterState: state,
    });
    const dir = this.layout.host(n.name).manifests;
    for (const [file, text] of Object.entries(files)) writeAtomic(join(dir, file), text, 0o600);
  }

  private etcdClientTls(node: string): { caFile: string; certFile: string; keyFile: string } {
    const pki = this.layout.host(node).pki;
    return {
      caFile: join(pki, 'etcd/ca.crt'),
      certFile: join(pki, 'etcd/healthcheck-client.crt'),
      keyFile: join(pki, 'etcd/healthcheck-client.key'),
    };
  }

  private async waitFor(
    what: string,
    timeoutMs: number,
    check: () => Promise<boolean> | boolean,
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (this.stopped) throw new BosunError(`sandbox stopped while waiting for ${what}`, 'SANDBOX');
      if (Date.now() > deadline)
        throw new BosunError(
          `timed out after ${Math.round(timeoutMs / 1000)}s waiting for ${what}`,
          'SANDBOX',
          { hint: `See ${this.layout.logFile}` },
        );
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  private async waitEtcdHealthy(n: NodeSpec): Promise<void> {
    await this.waitFor(`etcd on ${n.name}`, 30_000, () =>
      etcdHealthy(`https://127.0.0.1:${n.etcdClientPort ?? 0}`, this.etcdClientTls(n.name), 1000),
    );
  }

  private newKubelet(n: NodeSpec, ctx: ControllerContext, runtime: ComponentRuntime): SimKubelet {
    const k = new SimKubelet(
      {
        nodeName: n.name,
        role: n.role,
        address: '127.0.0.1',
        index: n.index + 1,
        capacity:
          n.role === 'control-plane' ? { cpu: '2', memory: '4025360Ki' } : { cpu: '4', memory: '8148424Ki' },
      },
      {
        api: ctx.api,
        informers: ctx.informers,
        clock: this.opts.clock,
        timing: this.opts.timing,
        host: this.layout.host(n.name),
        runtime,
        recorder: ctx.recorder('kubelet', n.name),
        log: this.opts.log,
        ...(this.containerTools ? { processes: this.processPodsConfig(this.containerTools) } : {}),
      },
    );
    this.kubelets.set(n.name, k);
    return k;
  }

  /** What every node needs to run bosun's own pods as processes (see node/process-pods.ts). */
  private processPodsConfig(tools: ContainerTools): ProcessPodsConfig {
    const [host, port] = this.config.controlPlaneEndpoint.split(':');
    return {
      image: { ...BOSUN_IMAGE, repository: this.opts.bosunImage ?? BOSUN_IMAGE.repository },
      root: checkoutRoot(),
      nodeBinary: this.opts.nodeBinary,
      machinePath: this.opts.env?.['PATH'] ?? '/usr/local/bin:/usr/bin:/bin',
      tools,
      apiServer: () => ({ host: host ?? '127.0.0.1', port: Number(port) }),
      requestToken: (ns, name, body) => {
        const keys = this.runtime?.tokenKeys();
        if (!keys) throw new BosunError('no kube-apiserver is running to issue a token', 'SANDBOX');
        return createTokenRequest(this.internalApi, keys, ns, name, body, this.opts.clock.now());
      },
    };
  }

  private async run(fresh: boolean): Promise<void> {
    const { opts, layout, config } = this;
    if (fresh) await this.writeNodeFiles();
    this.containerTools = writeContainerTools(join(opts.dir, 'containers'), opts.nodeBinary);
    writeShims(
      layout,
      config.nodes.map((n) => n.name),
      opts.nodeBinary,
    );
    const cps = this.controlPlanes();
    const first = cps[0];
    if (!first) throw new BosunError('a sandbox needs at least one control plane', 'USAGE', { exitCode: 2 });
    const firstPki = layout.host(first.name).pki;
    this.store = new EtcdStore({
      endpoints: cps.map((n) => `https://127.0.0.1:${n.etcdClientPort ?? 0}`),
      tls: {
        caFile: join(firstPki, 'etcd/ca.crt'),
        certFile: join(firstPki, 'apiserver-etcd-client.crt'),
        keyFile: join(firstPki, 'apiserver-etcd-client.key'),
      },
    });
    const api = new ApiCore({ store: this.store, clock: opts.clock });
    this.api = api;
    const ctx = this.controlContext(api);
    this.runtime = new ComponentRuntime({
      layout,
      clock: opts.clock,
      timing: opts.timing,
      faults: this.faults,
      log: opts.log,
      onChange: (node, component) => this.kubelets.get(node)?.refreshStatic(component),
      onEtcdPid: () => this.writeState(),
      audit: this.auditLog,
    });
    const runtime = this.runtime;
    const [controlPort] = await freePorts(1);
    this.state.controlPort = controlPort ?? 0;
    this.stopControl = await startControlServer(this.state.controlPort, this.state.token, this);
    this.writeState();

    for (const n of config.nodes) this.newKubelet(n, ctx, runtime);
    const boot = (n: NodeSpec): Promise<void> => (this.kubelets.get(n.name) as SimKubelet).boot();
    const apiUp = (): Promise<boolean> =>
      api.list(resource('namespaces'), undefined, { limit: 1 }).then(
        () => true,
        () => false,
      );

    if (fresh) {
      // kubeadm init on cp-1, then kubeadm join --control-plane for the others, one at a time.
      this.progress(`kubeadm init: starting etcd and kube-apiserver on ${first.name}`);
      this.writeManifests(first, [first], 'new');
      const booting = boot(first);
      await this.waitEtcdHealthy(first);
      await this.waitFor('the API', 30_000, apiUp);
      await kubeadmInit(api, config.version, config.controlPlaneEndpoint);
      await booting;
      await this.startControlLoops(ctx);
      for (let i = 1; i < cps.length; i++) {
        const n = cps[i] as NodeSpec;
        this.progress(`kubeadm join --control-plane: ${n.name}`);
        await this.addEtcdMember(`https://127.0.0.1:${n.etcdPeerPort ?? 0}`);
        this.writeManifests(n, cps.slice(0, i + 1), 'existing');
        await boot(n);
        await this.waitEtcdHealthy(n);
      }
    } else {
      this.progress(`restarting ${cps.length} control plane${cps.length > 1 ? 's' : ''}`);
      await Promise.all(cps.map((n) => boot(n)));
      await this.waitFor('the API', 60_000, apiUp);
      await this.startControlLoops(ctx);
    }
    if (config.lbPort !== undefined) {
      const ports = cps.map((n) => n.apiserverPort ?? 0);
      this.lb = new ApiLoadBalancer(config.lbPort, () => ports, Math.max(100, opts.timing.heartbeatMs));
      await this.lb.start();
    }
    const workers = config.nodes.filter((n) => n.role === 'worker');
    if (workers.length)
      this.progress(`kubeadm join: ${workers.length} worker${workers.length > 1 ? 's' : ''}`);
    await Promise.all(workers.map((n) => boot(n)));
    if (fresh && config.workload === 'demo') {
      // As an admin would: the workload goes on once every node is Ready (otherwise the first
      // worker to be Ready gets every pod).
      await this.waitFor('every node to be Ready', opts.readyTimeoutMs ?? 90_000, () =>
        this.notReady().every((x) => !x.startsWith('node/')),
      );
      this.progress('applying the demo workload');
      await applyDemoWorkload(api);
    }
    this.progress('waiting for every node and workload to be ready');
    await this.waitReady(opts.readyTimeoutMs ?? 90_000);
    this.scheduleCompaction();
    this.state.phase = 'ready';
    this.writeState();
  }

  /** MemberAdd, retried while etcd reports "unhealthy cluster" (the last joiner has not published itself yet), as kubeadm retries. */
  private async addEtcdMember(peerUrl: string): Promise<void> {
    const deadline = Date.now() + 60_000;
    while (true) {
      try {
        await this.store?.addMember(peerUrl);
        return;
      } catch (e) {
        if (Date.now() > deadline || !/unhealthy cluster|UNAVAILABLE/i.test(errorMessage(e))) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  /** A new ControllerContext with fresh (unstarted) informers: what a new kube-controller-manager process has. */
  private controlContext(api: ApiCore): ControllerContext {
    const { opts } = this;
    const informers = createInformers(api, opts.timing.retryMs, opts.log);
    this.informers = informers;
    return {
      api,
      informers,
      clock: opts.clock,
      timing: opts.timing,
      recorder: (component, host) =>
        new EventRecorder(
          api,
          opts.clock,
          host ? { component, host } : { component },
          opts.log,
          EVENT_CLIENT_LIMITS[component],
        ),
      log: opts.log,
      ...(this.controlPlanes()[0]
        ? { rootCaFile: join(this.layout.host(this.controlPlanes()[0]?.name ?? '').pki, 'ca.crt') }
        : {}),
    };
  }

  /** Stops the controllers and informers, and waits (a while) for their in-flight work. */
  private async stopControlLoops(): Promise<void> {
    const running = this.controllers;
    this.controllers = [];
    for (const c of running) c.stop();
    if (this.informers) stopInformers(this.informers);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(running.map((c) => c.idle())),
      new Promise((r) => (timer = setTimeout(r, 10_000))),
    ]);
    clearTimeout(timer);
  }

  private async startControlLoops(ctx: ControllerContext): Promise<void> {
    const create = this.opts.controllers ?? (await import('./controllers/index.ts')).createControllers;
    this.controllers = create(ctx);
    for (const c of this.controllers) c.start();
    await startInformers(ctx.informers);
  }

  private scheduleCompaction(): void {
    this.compactTimer = setTimeout(() => {
      void this.compact()
        .catch((e: unknown) => this.opts.log(`compaction: ${errorMessage(e)}`))
        .finally(() => {
          if (!this.stopped) this.scheduleCompaction();
        });
    }, this.opts.timing.compactionMs);
  }

  /** What is not ready yet (empty when the cluster and its workload are). */
  notReady(): string[] {
    const inf = this.informers;
    if (!inf) return ['informers'];
    const out: string[] = [];
    for (const n of this.config.nodes) {
      const node = inf.nodes.get(n.name) as Node | undefined;
      const ready = node?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
      if (!ready) out.push(`node/${n.name}`);
    }
    for (const d of inf.deployments.list() as Deployment[]) {
      if (
        (d.status?.availableReplicas ?? 0) < (d.spec.replicas ?? 1) ||
        d.status?.observedGeneration !== d.metadata.generation
      )
        out.push(`deployment/${d.metadata.namespace ?? ''}/${d.metadata.name ?? ''}`);
    }
    for (const d of inf.daemonsets.list() as DaemonSet[]) {
      const s = d.status;
      if (
        !s ||
        s.desiredNumberScheduled === 0 ||
        s.numberReady < s.desiredNumberScheduled ||
        s.observedGeneration !== d.metadata.generation
      )
        out.push(`daemonset/${d.metadata.namespace ?? ''}/${d.metadata.name ?? ''}`);
    }
    for (const s of inf.statefulsets.list() as StatefulSet[]) {
      if ((s.status?.readyReplicas ?? 0) < (s.spec.replicas ?? 1))
        out.push(`statefulset/${s.metadata.namespace ?? ''}/${s.metadata.name ?? ''}`);
    }
    for (const j of inf.jobs.list() as Job[]) {
      if (!(j.status?.conditions ?? []).some((c) => c.type === 'Complete' && c.status === 'True'))
        out.push(`job/${j.metadata.namespace ?? ''}/${j.metadata.name ?? ''}`);
    }
    for (const p of inf.pods.list() as Pod[]) {
      if (p.metadata.deletionTimestamp) continue;
      const phase = p.status?.phase;
      if (phase === 'Succeeded' || phase === 'Failed') continue;
      if (p.metadata.annotations?.['sandbox.bosun.dev/ready'] === 'false') continue;
      if (!isPodReady(p) && !isMirrorPod(p))
        out.push(`pod/${p.metadata.namespace ?? ''}/${p.metadata.name ?? ''}`);
      if (isMirrorPod(p) && phase !== 'Running')
        out.push(`pod/${p.metadata.namespace ?? ''}/${p.metadata.name ?? ''}`);
    }
    return out;
  }

  /** Waits until notReady() is empty. */
  async waitReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const missing = this.notReady();
      if (missing.length === 0) return;
      if (this.stopped) throw new BosunError('sandbox stopped while starting', 'SANDBOX');
      if (Date.now() > deadline) {
        throw new BosunError(
          `the sandbox did not become ready within ${Math.round(timeoutMs / 1000)}s; not ready: ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ', ...' : ''}`,
          'SANDBOX',
          { hint: `See ${this.layout.logFile}` },
        );
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  // ------------------------------------------------------------ node ops

  private kubelet(node: string): SimKubelet {
    const k = this.kubelets.get(node);
    if (!k) throw new BosunError(`no node "${node}" in this sandbox`, 'NOT_FOUND');
    return k;
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p)).catch(() => undefined);
    return p;
  }

  /** Reboots a node: everything on it stops, and after the reboot time it boots with a new boot id (unless held down). */
  rebootNode(node: string): Promise<void> {
    const k = this.kubelet(node);
    return this.track(
      (async () => {
        this.opts.log(`node ${node}: rebooting`);
        await k.powerOff();
        await new Promise((r) => setTimeout(r, this.opts.timing.rebootMs));
        if (this.stopped) return;
        if (this.neverReturn.has(node)) {
          this.opts.log(`node ${node}: does not come back (fault)`);
          return;
        }
        await k.boot();
        this.opts.log(`node ${node}: booted (${k.currentBootId})`);
      })(),
    );
  }

  private nodeOps(spec: NodeSpec): NodeOps {
    const k = this.kubelet(spec.name);
    const api = this.internalApi;
    return {
      nodeName: spec.name,
      role: spec.role,
      host: this.layout.host(spec.name),
      releases: () => {
        try {
          return (JSON.parse(readFileSync(this.layout.repoFile, 'utf8')) as { releases: string[] }).releases;
        } catch {
          return defaultReleases();
        }
      },
      reboot: () => {
        // The command returns before the machine goes down, as a real reboot does.
        setTimeout(
          () =>
            void this.rebootNode(spec.name).catch((e: unknown) =>
              this.opts.log(`reboot ${spec.name}: ${errorMessage(e)}`),
            ),
          20,
        );
      },
      restartKubelet: async () => {
        await k.stop();
        await k.start();
      },
      stopKubelet: () => k.stop(),
      startKubelet: () => k.start(),
      kubeletActive: () => k.isRunning,
      clusterVersion: async () => (await recordedVersion(api)) ?? this.config.version,
      recordClusterVersion: (v) => kubeadmRecordVersion(api, v),
      upgradeAddons: (v) => kubeadmUpgradeAddons(api, v),
      upgradeManifestsTimeoutMs: kubeScaled(this.opts.timing, UPGRADE_MANIFESTS_TIMEOUT_MS),
      waitStaticPod: async (component, timeoutMs) => {
        // kubeadm's two waits (util/apiclient/wait.go), each bounded by the timeout: the mirror
        // pod's kubernetes.io/config.hash turns into the new manifest's, then every pod labelled
        // component=X in kube-system is Running.
        const file = join(this.layout.host(spec.name).manifests, `${component}.yaml`);
        const pause = (): Promise<void> => new Promise((r) => setTimeout(r, 50));
        let deadline = Date.now() + timeoutMs;
        for (;;) {
          if (this.stopped || Date.now() >= deadline) return { stage: 'hash' };
          const hash = existsSync(file) ? manifestHash(readFileSync(file, 'utf8')) : '';
          const mirror = (await api
            .tryGet(resource('pods'), 'kube-system', `${component}-${spec.name}`)
            .catch(() => undefined)) as Pod | undefined;
          if (mirror?.metadata.annotations?.['kubernetes.io/config.hash'] === hash) break;
          await pause();
        }
        deadline = Date.now() + timeoutMs;
        for (;;) {
          if (this.stopped || Date.now() >= deadline) return { stage: 'pods' };
          const l = await api
            .list(resource('pods'), 'kube-system', { labelSelector: `component=${component}` })
            .catch(() => undefined);
          const items = (l?.items ?? []) as Pod[];
          if (items.length > 0 && items.every((p) => p.status?.phase === 'Running'))
            return { stage: 'done', pods: items.length };
          await pause();
        }
      },
      nodes: async () => {
        const l = await api.list(resource('nodes'), undefined, {});
        return (l.items as Node[]).map((n) => ({
          name: n.metadata.name ?? '',
          controlPlane: n.metadata.labels?.['node-role.kubernetes.io/control-plane'] !== undefined,
          ready: n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True',
          kubeletVersion: n.status?.nodeInfo?.kubeletVersion ?? '',
        }));
      },
      controlPlanePods: async () => {
        const l = await api.list(resource('pods'), 'kube-system', { labelSelector: 'tier=control-plane' });
        return (l.items as Pod[]).map((p) => ({
          node: p.spec.nodeName ?? '',
          component: p.metadata.labels?.['component'] ?? '',
          image: p.spec.containers[0]?.image ?? '',
          ready: isPodReady(p),
        }));
      },
    };
  }

  // ---------------------------------------------------- SandboxControl

  /** Runs a node shim's command (what DIR/nodes/NODE/host/bin/COMMAND does). */
  async runShim(node: string, command: string, args: string[], io: ShimIO): Promise<number> {
    const spec = this.config.nodes.find((n) => n.name === node);
    if (!spec) {
      io.err(`${command}: no node "${node}" in this sandbox\n`);
      return 1;
    }
    return this.track(runNodeCommand(this.nodeOps(spec), command, args, io));
  }

  /** A summary of the cluster for `bosun sandbox status`. */
  async status(): Promise<unknown> {
    const inf = this.informers;
    return {
      dir: this.opts.dir,
      phase: this.state.phase,
      server: this.state.server,
      kubeconfig: this.kubeconfig,
      version: this.config.version,
      nodes: this.config.nodes.map((n) => {
        const node = inf?.nodes.get(n.name) as Node | undefined;
        return {
          name: n.name,
          role: n.role,
          ready: node?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True',
          schedulable: node?.spec?.unschedulable !== true,
          kubeletVersion: node?.status?.nodeInfo?.kubeletVersion ?? '',
          bootID: node?.status?.nodeInfo?.bootID ?? '',
          kubeletRunning: this.kubelets.get(n.name)?.isRunning ?? false,
          ...(n.role === 'control-plane'
            ? {
                etcdRunning: this.runtime?.isRunning(n.name, 'etcd') ?? false,
                apiserverRunning: this.runtime?.isRunning(n.name, 'kube-apiserver') ?? false,
              }
            : {}),
        };
      }),
      pods: inf ? inf.pods.list().length : 0,
      faults: this.faults.list(),
      notReady: this.notReady(),
    };
  }

  /**
   * Writes a kubeconfig for a user who is not an admin (`kubeadm kubeconfig user --client-name USER
   * --org GROUP`): a client certificate with CN USER and O GROUPS signed by the cluster CA, which
   * RBAC then authorizes like any other user. Returns the file (DIR/users/USER.conf, 0600).
   */
  async userKubeconfig(user: string, groups: readonly string[] = []): Promise<string> {
    const first = this.controlPlanes()[0];
    if (!first) throw new BosunError('the sandbox has no control plane', 'SANDBOX');
    const text = await userKubeconfig({
      etcKubernetesDir: this.layout.host(first.name).etcKubernetes,
      server: this.server,
      user,
      groups,
      keyAlgorithm: this.config.keyAlgorithm,
      now: this.opts.clock.now(),
    });
    const file = join(this.opts.dir, 'users', `${user.replace(/[^A-Za-z0-9_.-]/g, '_')}.conf`);
    mkdirSync(join(this.opts.dir, 'users'), { recursive: true, mode: 0o700 });
    writeAtomic(file, text, 0o600);
    return file;
  }

  /**
   * A token for ServiceAccount NAMESPACE/NAME from the TokenRequest API, as `kubectl create token`
   * asks for one (an hour, the API server's audiences, unless told otherwise).
   */
  async serviceAccountToken(
    namespace: string,
    name: string,
    spec: { audiences?: string[]; expirationSeconds?: number; boundObjectRef?: Record<string, string> } = {},
  ): Promise<string> {
    const keys = this.runtime?.tokenKeys();
    if (!keys) throw new BosunError('no kube-apiserver of this sandbox is running', 'SANDBOX');
    const tr = await createTokenRequest(
      this.internalApi,
      keys,
      namespace,
      name,
      { spec },
      this.opts.clock.now(),
    );
    return tr.status.token;
  }

  /** The audit record of the kube-apiservers (see AuditRecord), oldest first. */
  audit(query: AuditQuery = {}): AuditRecord[] {
    return this.auditLog.list(query);
  }

  addFault(rule: FaultRule): number {
    return this.faults.add(rule);
  }

  clearFaults(id?: number): void {
    this.faults.clear(id);
  }

  listFaults(): ReturnType<FaultInjector['list']> {
    return this.faults.list();
  }

  /** Fault: stops a control plane's etcd member and keeps it down. */
  async stopEtcd(node: string): Promise<void> {
    if (!this.config.nodes.some((n) => n.name === node && n.role === 'control-plane'))
      throw new BosunError(`no control plane "${node}"`, 'NOT_FOUND');
    await this.runtime?.holdEtcd(node);
  }

  /** Ends the etcd fault: the member starts again. */
  async startEtcd(node: string): Promise<void> {
    if (!this.config.nodes.some((n) => n.name === node && n.role === 'control-plane'))
      throw new BosunError(`no control plane "${node}"`, 'NOT_FOUND');
    await this.runtime?.releaseEtcd(node);
  }

  /**
   * Fault: the node's kubelet does not run a new manifest of one static pod (`ignore-new`: it keeps
   * the old pod and mirror pod; `no-start`: it stops the old one and never starts the new one);
   * false clears it. The manifest running now is the one it still runs (docs/sandbox.md).
   */
  setStaticPodFault(node: string, component: string, mode: StaticPodFault | false): void {
    if (!this.config.nodes.some((n) => n.name === node && n.role === 'control-plane'))
      throw new BosunError(`no control plane "${node}"`, 'NOT_FOUND');
    if (!STATIC_COMPONENTS.includes(component))
      throw new BosunError(
        `no static pod "${component}": one of ${STATIC_COMPONENTS.join(', ')}`,
        'NOT_FOUND',
      );
    this.kubelet(node).setStaticPodFault(component, mode === false ? undefined : mode);
  }

  /** Fault: a node that goes down (reboot) does not come back until this is cleared. */
  setNeverReturn(node: string, enabled: boolean): void {
    this.kubelet(node);
    if (enabled) this.neverReturn.add(node);
    else {
      this.neverReturn.delete(node);
      const k = this.kubelet(node);
      if (!k.isRunning) void this.track(k.boot());
    }
  }

  /**
   * Restores the cluster to an etcd snapshot, as an admin restores a kubeadm control plane (see
   * restore.ts): the controllers stop (they would act on caches of the history the restore
   * rewinds), kube-apiserver and etcd stop through their manifests, every member is restored
   * from the snapshot, etcd and kube-apiserver start again, and then the controllers start with
   * fresh informers and every kubelet restarts, as the admin restarts kube-controller-manager,
   * kube-scheduler and the kubelets. Resolves once the cluster is ready again.
   */
  async restore(req: SandboxRestoreRequest): Promise<SandboxRestoreResult> {
    const exec = req.exec ?? this.opts.exec;
    const env = req.env ?? this.opts.env;
    if (!exec || !env)
      throw new BosunError(
        'this sandbox was started without an exec port and environment, so it cannot run etcdctl',
        'SANDBOX',
      );
    if (!this.api || !this.runtime) throw new BosunError('the sandbox is not running', 'SANDBOX');
    if (this.restoring) throw new BosunError('a restore of this sandbox is already running', 'SANDBOX');
    if (this.state.phase !== 'ready')
      throw new BosunError(`the sandbox is ${this.state.phase}, not ready`, 'SANDBOX');
    this.restoring = true;
    const progress = (line: string): void => {
      req.progress?.(line);
      this.opts.log(`restore: ${line}`);
    };
    const api = this.api;
    const runtime = this.runtime;
    const cps = this.controlPlanes();
    let loopsStopped = false;
    try {
      let result: SandboxRestoreResult | undefined;
      let failure: unknown;
      try {
        result = await restoreSandboxEtcd(
          this.layout,
          cps.map((n) => n.name),
          {
            file: req.file,
            key: req.key ?? null,
            exec,
            env,
            tmpDir: defaultTmpDir(env),
            progress,
            now: this.opts.clock.now(),
            // Once the snapshot is known to be good: the controllers must not act on the rewind.
            beforeStop: async () => {
              progress('Stopping the controllers and the scheduler');
              loopsStopped = true;
              await this.stopControlLoops();
            },
            running: {
              isRunning: (node, component) => runtime.isRunning(node, component),
              waitFor: (what, ms, check) => this.waitFor(what, ms, check),
              etcdHealthy: (node) => {
                const n = cps.find((c) => c.name === node);
                return etcdHealthy(
                  `https://127.0.0.1:${n?.etcdClientPort ?? 0}`,
                  this.etcdClientTls(node),
                  1000,
                );
              },
              apiserverUp: async (node) =>
                runtime.isRunning(node, 'kube-apiserver') &&
                (await api.list(resource('namespaces'), undefined, { limit: 1 }).then(
                  () => true,
                  () => false,
                )),
            },
          },
        );
      } catch (e) {
        failure = e;
      }
      if (!loopsStopped) throw failure;
      // The kubelets restart with the controllers: a new process has an empty cache.
      progress('Restarting the controllers, the scheduler and the kubelets');
      const wasRunning = [...this.kubelets.values()].filter((k) => k.isRunning);
      await Promise.all(wasRunning.map((k) => k.stop()));
      const ctx = this.controlContext(api);
      for (const k of this.kubelets.values()) k.useInformers(ctx.informers);
      await this.startControlLoops(ctx);
      await Promise.all(wasRunning.map((k) => k.start()));
      if (failure !== undefined || !result) throw failure;
      progress('Waiting for every node and workload to be ready');
      await this.waitReady(this.opts.readyTimeoutMs ?? 90_000);
      return result;
    } finally {
      this.restoring = false;
    }
  }

  /** Restore through the control endpoint: the key comes as a file the sandbox process reads. */
  async restoreFromControl(
    file: string,
    keyFile: string | undefined,
    progress: (line: string) => void,
  ): Promise<unknown> {
    return this.restore({ file, key: keyFile ? readKeyFile(keyFile) : null, progress });
  }

  /** Compacts etcd's history up to now, as kube-apiserver does every 5 minutes. */
  async compact(): Promise<number> {
    if (!this.store) return 0;
    const rev = await this.store.currentRevision();
    await this.store.compact(rev);
    return rev;
  }

  shutdown(): void {
    this.shutdownRequested?.();
  }

  /** Stops everything this sandbox started. Safe to call twice. */
  async stop(phase: 'stopped' | 'failed' = 'stopped'): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.state.phase !== 'failed') this.state.phase = 'stopping';
    if (this.compactTimer) clearTimeout(this.compactTimer);
    for (const c of this.controllers) c.stop();
    if (this.informers) stopInformers(this.informers);
    await Promise.allSettled([...this.pending]);
    await Promise.all([...this.kubelets.values()].map((k) => k.shutdown()));
    await this.lb?.stop();
    await this.runtime?.close();
    this.store?.close();
    await this.stopControl?.();
    if (phase === 'stopped') this.state.phase = 'stopped';
    this.state.etcdPids = {};
    if (existsSync(this.opts.dir))
      writeFileSync(this.layout.stateFile, JSON.stringify(this.state, null, 2) + '\n', { mode: 0o600 });
  }
}
