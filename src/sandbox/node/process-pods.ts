// The sandbox kubelet's part for pods of bosun's own image: their containers run as real processes
// of this machine, as containerd would run them on a node. For such a pod the kubelet here:
// - sets up its volumes under the node's /var/lib/kubelet/pods/UID: the projected ServiceAccount
//   token (a real TokenRequest bound to the pod, refreshed as the kubelet's token manager does,
//   with ca.crt from kube-root-ca.crt and the namespace), emptyDir, configMap, secret and
//   downwardAPI volumes; a hostPath is the node's host directory;
// - starts each container of bosun's image with the command the image and the pod give, the pod's
//   environment (fieldRef, configMapKeyRef, secretKeyRef, envFrom, $(VAR)), the kubernetes
//   Service variables pointing at the API server, the node's shims and nsenter first on PATH, and
//   BOSUN_SANDBOX_CONTAINER telling it where its mounts and ports are on this machine (see
//   src/common/sandbox-container.ts); its stdout and stderr go to /var/log/pods as CRI logs;
// - runs its readiness, liveness and startup probes (httpGet, tcpSocket, exec; periods on the
//   sandbox's time scale, at least 250 ms; initial delays and timeouts real, since a real process
//   starts no faster in a fast profile): Ready only while the readiness probe passes, a
//   container killed and restarted when its liveness probe fails;
// - restarts a container that exits as its restartPolicy says, with the CrashLoopBackOff back-off;
// - stops it with SIGTERM and, after the grace period, SIGKILL (the whole process group) when the
//   pod is deleted or the node goes down; after a reboot the kubelet starts it again as a new
//   container (restartCount + 1).
// Containers of other images in such a pod are simulated as running, as for any other pod.
import { spawn, type ChildProcess } from 'node:child_process';
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  renameSync,
  rmSync,
  writeFileSync,
  type WriteStream,
} from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import { createHash } from 'node:crypto';
import { dirname, join } from 'node:path';
import type { Clock } from '../../common/ports.ts';
import { freePorts } from '../../common/net.ts';
import { SANDBOX_CONTAINER_ENV, type SandboxContainer } from '../../common/sandbox-container.ts';
import type { ApiCore } from '../apiserver/api.ts';
import { resource } from '../apiserver/resources.ts';
import type { TokenRequestObject } from '../apiserver/token-request.ts';
import type { Container, ContainerStatus, KubeObject, Pod } from '../apiserver/types.ts';
import { isRecord } from '../apiserver/types.ts';
import type { EventRecorder } from '../controllers/recorder.ts';
import type { HostLayout } from '../layout.ts';
import { kubeScaled, type Timing } from '../timing.ts';
import {
  containerCommand,
  expandVars,
  fieldRefValue,
  isImageOf,
  probePort,
  resourceFieldValue,
  serviceEnv,
  tokenRefreshAt,
  type BosunImage,
} from './container-spec.ts';
import type { ContainerTools } from './container-tools.ts';
import { podConditions } from './pod-conditions.ts';

/** What the process pods of one node need. */
export interface ProcessPodsDeps {
  nodeName: string;
  host: HostLayout;
  hostIP: string;
  /** The node's allocatable (cpu, memory): a container's limits where it sets none. */
  allocatable: Readonly<Record<string, string>>;
  image: BosunImage;
  /** The checkout whose files the image holds (tools.imageRoot says where they are, bundled). */
  root: string;
  nodeBinary: string;
  /** This machine's PATH, after the node's shims and the image's tools (nsenter). */
  machinePath: string;
  tools: ContainerTools;
  api: ApiCore;
  /** The API server's address, for the kubernetes Service variables (undefined while none runs). */
  apiServer: () => { host: string; port: number } | undefined;
  /** POST serviceaccounts/NAME/token, as the kubelet asks for a projected token. */
  requestToken: (namespace: string, name: string, body: unknown) => Promise<TokenRequestObject>;
  clock: Clock;
  timing: Timing;
  recorder: EventRecorder;
  log: (line: string) => void;
  /** Writes the pod's status as the kubelet's status manager does (nothing if the pod is gone). */
  writeStatus: (pod: Pod, fn: (p: Pod) => void) => Promise<void>;
  /** The pod's IP (the kubelet's). */
  podIP: (pod: Pod) => string;
}

/** A container's state as the runtime and the prober know it. */
interface ContainerState {
  spec: Container;
  /** Of bosun's image (a process); other containers are simulated running. */
  process: boolean;
  child?: ChildProcess;
  log?: WriteStream;
  startedAt?: string;
  restartCount: number;
  /** Set while the container is not running. */
  exited?: { exitCode: number; reason: string; startedAt: string; finishedAt: string };
  lastTerminated?: { exitCode: number; reason: string; startedAt: string; finishedAt: string };
  waiting?: { reason: string; message?: string };
  ready: boolean;
  /** The startup probe passed (or there is none). */
  started: boolean;
  probeTimers: NodeJS.Timeout[];
  restartTimer?: NodeJS.Timeout;
  backoffMs: number;
  /** Being stopped on purpose (not a crash to restart). */
  killing?: boolean;
}

interface PodState {
  pod: Pod;
  uid: string;
  containers: Map<string, ContainerState>;
  ports: Record<string, number>;
  mounts: Map<string, string>;
  tokenTimers: NodeJS.Timeout[];
  stopping: boolean;
  podIP: string;
}

function now(clock: Clock): string {
  return clock
    .now()
    .toISOString()
    .replace(/\.\d{3}Z$/, 'Z');
}

function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

function writeAtomic(file: string, data: string | Buffer, mode: number): void {
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, data, { mode });
  renameSync(tmp, file);
}

/** kube's crash back-off: 10 s doubling to 5 min, on the sandbox's time scale. */
const BACKOFF_START_S = 10;
const BACKOFF_MAX_S = 300;

/** The process pods of one node; lives as long as the node's kubelet object. */
export class ProcessPods {
  private readonly pods = new Map<string, PodState>();
  /** Pods whose start is under way, and those of them stopped meanwhile. */
  private readonly starting = new Set<string>();
  private readonly cancelled = new Set<string>();
  private paused = false;

  constructor(private readonly deps: ProcessPodsDeps) {}

  /** Does this pod have a container of bosun's image? */
  handles(pod: Pod): boolean {
    return pod.spec.containers.some((c) => isImageOf(c.image, this.deps.image.repository));
  }

  /** Are all of the pod's containers ready (undefined if the pod is not running here)? */
  isReady(uid: string): boolean | undefined {
    const s = this.pods.get(uid);
    if (!s) return undefined;
    return [...s.containers.values()].every((c) => c.ready);
  }

  /** Is any container of the pod running here? */
  has(uid: string): boolean {
    return this.pods.has(uid);
  }

  /** kube's durations on the sandbox's scale (fast: a 10 s heartbeat is 300 ms). */
  private scaled(seconds: number): number {
    return kubeScaled(this.deps.timing, seconds * 1000);
  }

  private podDir(uid: string): string {
    return this.deps.host.path(`/var/lib/kubelet/pods/${uid}`);
  }

  private logFile(pod: Pod, container: string, restart: number): string {
    return this.deps.host.path(
      `/var/log/pods/${pod.metadata.namespace ?? ''}_${pod.metadata.name ?? ''}_${pod.metadata.uid ?? ''}/${container}/${restart}.log`,
    );
  }

  /**
   * Starts the pod's containers (a new pod, or the pod again after its node rebooted: then every
   * container is a new one, restartCount + 1). Rejects when a volume cannot be set up; the
   * kubelet tries again.
   */
  async start(pod: Pod, restart: boolean): Promise<void> {
    const uid = pod.metadata.uid ?? '';
    this.starting.add(uid);
    try {
      await this.startPod(pod, restart);
    } finally {
      this.starting.delete(uid);
      this.cancelled.delete(uid);
    }
  }

  private async startPod(pod: Pod, restart: boolean): Promise<void> {
    const uid = pod.metadata.uid ?? '';
    const old = this.pods.get(uid);
    if (old) await this.stopPod(old, 0);
    const prev = new Map((pod.status?.containerStatuses ?? []).map((s) => [s.name, s]));
    const state: PodState = {
      pod,
      uid,
      containers: new Map(),
      ports: {},
      mounts: new Map(),
      tokenTimers: [],
      stopping: false,
      podIP: pod.status?.podIP ?? this.deps.podIP(pod),
    };
    try {
      await this.setUpVolumes(state);
      const portNumbers = [
        ...new Set(
          pod.spec.containers
            .filter((c) => isImageOf(c.image, this.deps.image.repository))
            .flatMap((c) => (c.ports ?? []).map((p) => p.containerPort)),
        ),
      ];
      const free = await freePorts(portNumbers.length);
      portNumbers.forEach((p, i) => (state.ports[String(p)] = free[i] ?? p));
    } catch (e) {
      this.clearTimers(state);
      throw e;
    }
    if (this.cancelled.has(uid)) {
      this.clearTimers(state);
      return;
    }
    this.pods.set(uid, state);
    for (const c of pod.spec.containers) {
      const p = prev.get(c.name);
      const cs: ContainerState = {
        spec: c,
        process: isImageOf(c.image, this.deps.image.repository),
        restartCount: (p?.restartCount ?? 0) + (restart ? 1 : 0),
        ready: false,
        started: c['startupProbe'] === undefined,
        probeTimers: [],
        backoffMs: this.scaled(BACKOFF_START_S),
      };
      if (restart && p?.state.running)
        cs.lastTerminated = {
          exitCode: 255,
          reason: 'Unknown',
          startedAt: p.state.running.startedAt ?? now(this.deps.clock),
          finishedAt: now(this.deps.clock),
        };
      state.containers.set(c.name, cs);
    }
    for (const [name, cs] of state.containers) {
      if (cs.process) await this.runContainer(state, name, cs);
      else {
        cs.startedAt = now(this.deps.clock);
        cs.ready = true;
        cs.started = true;
      }
    }
    await this.report(state);
  }

  // ------------------------------------------------------------------ volumes

  private async setUpVolumes(s: PodState): Promise<void> {
    const pod = s.pod;
    const ns = pod.metadata.namespace ?? '';
    for (const v of pod.spec.volumes ?? []) {
      const vol = v as Record<string, unknown> & { name: string };
      if (isRecord(vol['hostPath'])) {
        const path = String(vol['hostPath']['path'] ?? '/');
        const type = String(vol['hostPath']['type'] ?? '');
        const onNode = this.deps.host.path(path);
        if (type === 'DirectoryOrCreate') mkdirSync(onNode, { recursive: true });
        else if (type === 'Directory' && !existsSync(onNode))
          throw new Error(`hostPath type check failed: ${path} is not a directory`);
        s.mounts.set(vol.name, onNode);
        continue;
      }
      const plugin = isRecord(vol['projected'])
        ? 'kubernetes.io~projected'
        : isRecord(vol['emptyDir'])
          ? 'kubernetes.io~empty-dir'
          : isRecord(vol['configMap'])
            ? 'kubernetes.io~configmap'
            : isRecord(vol['secret'])
              ? 'kubernetes.io~secret'
              : isRecord(vol['downwardAPI'])
                ? 'kubernetes.io~downward-api'
                : undefined;
      if (!plugin) continue;
      const dir = join(this.podDir(s.uid), 'volumes', plugin, vol.name);
      mkdirSync(dir, { recursive: true });
      s.mounts.set(vol.name, dir);
      if (isRecord(vol['projected'])) {
        const sources = Array.isArray(vol['projected']['sources']) ? vol['projected']['sources'] : [];
        for (const src of sources) await this.projectSource(s, dir, src);
      } else if (isRecord(vol['configMap'])) {
        await this.writeKeys(dir, 'configmaps', ns, vol['configMap'], false);
      } else if (isRecord(vol['secret'])) {
        const sec = vol['secret'];
        await this.writeKeys(dir, 'secrets', ns, { ...sec, name: sec['secretName'] }, true);
      } else if (isRecord(vol['downwardAPI'])) {
        await this.projectSource(s, dir, { downwardAPI: vol['downwardAPI'] });
      }
    }
  }

  /** Writes a ConfigMap's or Secret's keys (all, or the items) as files. */
  private async writeKeys(
    dir: string,
    res: 'configmaps' | 'secrets',
    ns: string,
    src: Record<string, unknown>,
    base64: boolean,
  ): Promise<void> {
    const name = String(src['name'] ?? '');
    const obj = await this.deps.api.tryGet(resource(res), ns, name);
    if (!obj) {
      if (src['optional'] === true) return;
      throw new Error(`${res === 'secrets' ? 'secret' : 'configmap'} "${name}" not found`);
    }
    const data = (isRecord(obj['data']) ? obj['data'] : {}) as Record<string, string>;
    const items = Array.isArray(src['items']) ? (src['items'] as { key: string; path: string }[]) : undefined;
    const pairs = items
      ? items.map((i) => [i.key, i.path] as const)
      : Object.keys(data).map((k) => [k, k] as const);
    for (const [key, path] of pairs) {
      const v = data[key];
      if (v === undefined) {
        if (src['optional'] === true) continue;
        throw new Error(`configmap references non-existent config key: ${key}`);
      }
      writeAtomic(join(dir, path), base64 ? Buffer.from(v, 'base64') : v, base64 ? 0o600 : 0o644);
    }
  }

  private async projectSource(s: PodState, dir: string, src: unknown): Promise<void> {
    if (!isRecord(src)) return;
    const pod = s.pod;
    const ns = pod.metadata.namespace ?? '';
    if (isRecord(src['serviceAccountToken'])) {
      const t = src['serviceAccountToken'];
      const path = String(t['path'] ?? 'token');
      const expirationSeconds = typeof t['expirationSeconds'] === 'number' ? t['expirationSeconds'] : 3600;
      const audiences = typeof t['audience'] === 'string' && t['audience'] !== '' ? [t['audience']] : [];
      await this.writeToken(s, join(dir, path), { audiences, expirationSeconds });
      return;
    }
    if (isRecord(src['configMap'])) {
      await this.writeKeys(dir, 'configmaps', ns, src['configMap'], false);
      return;
    }
    if (isRecord(src['secret'])) {
      await this.writeKeys(dir, 'secrets', ns, src['secret'], true);
      return;
    }
    if (isRecord(src['downwardAPI'])) {
      const items = Array.isArray(src['downwardAPI']['items']) ? src['downwardAPI']['items'] : [];
      for (const item of items) {
        if (!isRecord(item) || !isRecord(item['fieldRef'])) continue;
        const v = fieldRefValue(pod, String(item['fieldRef']['fieldPath'] ?? ''), this.deps.hostIP, s.podIP);
        if (v !== undefined) writeAtomic(join(dir, String(item['path'] ?? '')), v, 0o644);
      }
    }
  }

  /** Requests a token bound to the pod and writes it; schedules the refresh (token_manager.go). */
  private async writeToken(
    s: PodState,
    file: string,
    spec: { audiences: string[]; expirationSeconds: number },
  ): Promise<void> {
    const pod = s.pod;
    const tr = await this.deps.requestToken(
      pod.metadata.namespace ?? '',
      pod.spec.serviceAccountName ?? 'default',
      {
        apiVersion: 'authentication.k8s.io/v1',
        kind: 'TokenRequest',
        spec: {
          ...(spec.audiences.length > 0 ? { audiences: spec.audiences } : {}),
          expirationSeconds: spec.expirationSeconds,
          boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: pod.metadata.name ?? '', uid: s.uid },
        },
      },
    );
    writeAtomic(file, tr.status.token, 0o644);
    const at = tokenRefreshAt(
      Date.parse(tr.status.expirationTimestamp),
      tr.spec.expirationSeconds,
      Math.floor(Math.random() * 10_000),
    );
    const delay = Math.max(1000, at - this.deps.clock.now().getTime());
    const timer = setTimeout(
      () => {
        s.tokenTimers = s.tokenTimers.filter((t) => t !== timer);
        if (s.stopping || this.pods.get(s.uid) !== s) return;
        void this.writeToken(s, file, spec).catch((e: unknown) => {
          this.deps.log(`kubelet ${this.deps.nodeName}: token for ${pod.metadata.name ?? ''}: ${String(e)}`);
          if (!s.stopping)
            s.tokenTimers.push(
              setTimeout(() => void this.writeToken(s, file, spec).catch(() => undefined), 10_000),
            );
        });
      },
      Math.min(delay, 2 ** 31 - 1),
    );
    timer.unref();
    s.tokenTimers.push(timer);
  }

  // ------------------------------------------------------------------ containers

  private async environment(s: PodState, c: Container): Promise<Record<string, string>> {
    const pod = s.pod;
    const ns = pod.metadata.namespace ?? '';
    const env: Record<string, string> = {};
    const api = this.deps.apiServer();
    // The kubernetes Service's variables are set whatever enableServiceLinks says.
    if (api) Object.assign(env, serviceEnv(api.host, api.port));
    const envFrom = Array.isArray(c['envFrom']) ? (c['envFrom'] as Record<string, unknown>[]) : [];
    for (const ef of envFrom) {
      const prefix = typeof ef['prefix'] === 'string' ? ef['prefix'] : '';
      for (const [kind, res] of [
        ['configMapRef', 'configmaps'],
        ['secretRef', 'secrets'],
      ] as const) {
        const ref = ef[kind];
        if (!isRecord(ref)) continue;
        const obj = await this.deps.api.tryGet(resource(res), ns, String(ref['name'] ?? ''));
        if (!obj) {
          if (ref['optional'] === true) continue;
          throw new Error(
            `${res === 'secrets' ? 'secret' : 'configmap'} "${String(ref['name'] ?? '')}" not found`,
          );
        }
        for (const [k, v] of Object.entries((obj['data'] ?? {}) as Record<string, string>))
          env[`${prefix}${k}`] = res === 'secrets' ? Buffer.from(v, 'base64').toString('utf8') : v;
      }
    }
    const list = Array.isArray(c['env']) ? (c['env'] as Record<string, unknown>[]) : [];
    for (const e of list) {
      const name = String(e['name'] ?? '');
      if (typeof e['value'] === 'string') {
        env[name] = expandVars(e['value'], env);
        continue;
      }
      const from = isRecord(e['valueFrom']) ? e['valueFrom'] : undefined;
      if (!from) {
        env[name] = '';
        continue;
      }
      if (isRecord(from['fieldRef'])) {
        env[name] =
          fieldRefValue(pod, String(from['fieldRef']['fieldPath'] ?? ''), this.deps.hostIP, s.podIP) ?? '';
      } else if (isRecord(from['resourceFieldRef'])) {
        const ref = from['resourceFieldRef'];
        env[name] =
          resourceFieldValue(
            c,
            String(ref['resource'] ?? ''),
            typeof ref['divisor'] === 'string' ? ref['divisor'] : undefined,
            this.deps.allocatable,
          ) ?? '';
      } else {
        for (const [kind, res] of [
          ['configMapKeyRef', 'configmaps'],
          ['secretKeyRef', 'secrets'],
        ] as const) {
          const ref = from[kind];
          if (!isRecord(ref)) continue;
          const obj = await this.deps.api.tryGet(resource(res), ns, String(ref['name'] ?? ''));
          const raw = (obj?.['data'] as Record<string, string> | undefined)?.[String(ref['key'] ?? '')];
          if (raw === undefined) {
            if (ref['optional'] === true) continue;
            throw new Error(
              obj
                ? `couldn't find key ${String(ref['key'] ?? '')} in ${res === 'secrets' ? 'Secret' : 'ConfigMap'} ${ns}/${String(ref['name'] ?? '')}`
                : `${res === 'secrets' ? 'secret' : 'configmap'} "${String(ref['name'] ?? '')}" not found`,
            );
          }
          env[name] = res === 'secrets' ? Buffer.from(raw, 'base64').toString('utf8') : raw;
        }
      }
    }
    return env;
  }

  /** The container's view of this machine (BOSUN_SANDBOX_CONTAINER). */
  private view(s: PodState, c: Container): SandboxContainer {
    const mounts = ((Array.isArray(c['volumeMounts']) ? c['volumeMounts'] : []) as Record<string, unknown>[])
      .map((m) => {
        const dir = s.mounts.get(String(m['name'] ?? ''));
        if (!dir) return undefined;
        const sub = typeof m['subPath'] === 'string' && m['subPath'] !== '' ? `/${m['subPath']}` : '';
        return {
          containerPath: String(m['mountPath'] ?? ''),
          hostPath: `${dir.replace(/\/+$/, '')}${sub}`,
          readOnly: m['readOnly'] === true,
        };
      })
      .filter((m): m is NonNullable<typeof m> => m !== undefined);
    return {
      node: this.deps.nodeName,
      mounts,
      ports: { ...s.ports },
      hostRoot: this.deps.host.root,
      hostPID: s.pod.spec['hostPID'] === true,
    };
  }

  private async runContainer(s: PodState, name: string, cs: ContainerState): Promise<void> {
    const pod = s.pod;
    const c = cs.spec;
    let env: Record<string, string>;
    try {
      env = await this.environment(s, c);
    } catch (e) {
      cs.waiting = { reason: 'CreateContainerConfigError', message: (e as Error).message };
      cs.ready = false;
      this.deps.recorder.event(pod, 'Warning', 'Failed', `Error: ${(e as Error).message}`);
      this.scheduleRestart(s, name, cs);
      return;
    }
    // The image's files (the checkout, or its bundled copy: container-tools.ts).
    const root = await this.deps.tools.imageRoot(this.deps.root, this.deps.log);
    if (s.stopping || this.paused || this.pods.get(s.uid) !== s) return;
    const cmd = containerCommand(c, this.deps.image, { root, nodeBinary: this.deps.nodeBinary, env });
    const argv =
      cmd.argv[0] === this.deps.nodeBinary
        ? [cmd.argv[0], `--import=${this.deps.tools.watchdog}`, ...cmd.argv.slice(1)]
        : cmd.argv;
    const home = join(this.podDir(s.uid), 'home');
    mkdirSync(home, { recursive: true });
    const processEnv: Record<string, string> = {
      PATH: [this.deps.host.bin, this.deps.tools.binDir, this.deps.machinePath].join(':'),
      HOSTNAME: pod.spec.hostNetwork ? this.deps.nodeName : (pod.metadata.name ?? ''),
      HOME: home,
      NODE_ENV: 'production',
      ...env,
      [SANDBOX_CONTAINER_ENV]: JSON.stringify(this.view(s, c)),
    };
    const logFile = this.logFile(pod, name, cs.restartCount);
    mkdirSync(dirname(logFile), { recursive: true });
    const log = createWriteStream(logFile, { flags: 'a', mode: 0o640 });
    let child: ChildProcess;
    try {
      child = spawn(argv[0] ?? '', argv.slice(1), {
        cwd: existsSync(cmd.cwd) ? cmd.cwd : root,
        env: processEnv,
        stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
        detached: true,
      });
    } catch (e) {
      log.end();
      cs.waiting = { reason: 'RunContainerError', message: (e as Error).message };
      this.scheduleRestart(s, name, cs);
      return;
    }
    cs.child = child;
    cs.log = log;
    cs.startedAt = now(this.deps.clock);
    cs.exited = undefined;
    cs.waiting = undefined;
    cs.killing = false;
    cs.ready = c['readinessProbe'] === undefined && c['startupProbe'] === undefined;
    cs.started = c['startupProbe'] === undefined;
    const pipeLines = (stream: NodeJS.ReadableStream | null, tag: 'stdout' | 'stderr'): void => {
      let buf = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (d: string) => {
        buf += d;
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          log.write(`${this.deps.clock.now().toISOString()} ${tag} F ${buf.slice(0, i)}\n`);
          buf = buf.slice(i + 1);
        }
      });
      stream?.on('end', () => {
        if (buf) log.write(`${this.deps.clock.now().toISOString()} ${tag} P ${buf}\n`);
        buf = '';
      });
    };
    pipeLines(child.stdout, 'stdout');
    pipeLines(child.stderr, 'stderr');
    child.on('error', (e) =>
      this.deps.log(`kubelet ${this.deps.nodeName}: ${pod.metadata.name ?? ''}/${name}: ${e.message}`),
    );
    child.on('exit', (code, signal) => this.onExit(s, name, cs, child, code, signal));
    this.deps.recorder.event(
      pod,
      'Normal',
      'Pulled',
      `Container image "${c.image ?? ''}" already present on machine`,
    );
    this.deps.recorder.event(pod, 'Normal', 'Created', `Created container: ${name}`);
    this.deps.recorder.event(pod, 'Normal', 'Started', `Started container ${name}`);
    this.startProbes(s, name, cs);
  }

  private onExit(
    s: PodState,
    name: string,
    cs: ContainerState,
    child: ChildProcess,
    code: number | null,
    signal: NodeJS.Signals | null,
  ): void {
    if (cs.child !== child) return;
    cs.child = undefined;
    cs.log?.end();
    cs.log = undefined;
    this.stopProbes(cs);
    const exitCode = code ?? (signal === 'SIGKILL' ? 137 : signal === 'SIGTERM' ? 143 : 128);
    const t = {
      exitCode,
      reason: exitCode === 0 ? 'Completed' : 'Error',
      startedAt: cs.startedAt ?? now(this.deps.clock),
      finishedAt: now(this.deps.clock),
    };
    cs.exited = t;
    cs.ready = false;
    if (s.stopping || this.pods.get(s.uid) !== s) return;
    const policy = s.pod.spec.restartPolicy ?? 'Always';
    const restart = cs.killing === true || policy === 'Always' || (policy === 'OnFailure' && exitCode !== 0);
    if (restart) this.scheduleRestart(s, name, cs);
    else void this.report(s);
  }

  /** Starts the container again after its back-off (CrashLoopBackOff), as a new container. */
  private scheduleRestart(s: PodState, name: string, cs: ContainerState): void {
    if (s.stopping || this.paused) {
      void this.report(s);
      return;
    }
    const delay = cs.killing ? 0 : cs.backoffMs;
    if (!cs.killing) {
      cs.waiting = cs.waiting ?? {
        reason: 'CrashLoopBackOff',
        message: `back-off ${Math.round(delay / this.scaled(1))}s restarting failed container=${name} pod=${s.pod.metadata.name ?? ''}_${s.pod.metadata.namespace ?? ''}(${s.uid})`,
      };
      this.deps.recorder.event(s.pod, 'Warning', 'BackOff', 'Back-off restarting failed container');
      cs.backoffMs = Math.min(cs.backoffMs * 2, this.scaled(BACKOFF_MAX_S));
    }
    void this.report(s);
    cs.restartTimer = setTimeout(() => {
      cs.restartTimer = undefined;
      if (s.stopping || this.paused || this.pods.get(s.uid) !== s) return;
      if (cs.exited) cs.lastTerminated = cs.exited;
      cs.restartCount++;
      void this.runContainer(s, name, cs).then(() => this.report(s));
    }, delay);
  }

  // ------------------------------------------------------------------ probes

  private stopProbes(cs: ContainerState): void {
    for (const t of cs.probeTimers) clearTimeout(t);
    cs.probeTimers = [];
  }

  private startProbes(s: PodState, name: string, cs: ContainerState): void {
    for (const kind of ['startupProbe', 'readinessProbe', 'livenessProbe'] as const) {
      const probe = cs.spec[kind];
      if (!isRecord(probe)) continue;
      // Periods follow the sandbox's time scale; the initial delay does not: it covers a real
      // process's start, which no profile makes faster.
      const period = Math.max(
        250,
        this.scaled(typeof probe['periodSeconds'] === 'number' ? probe['periodSeconds'] : 10),
      );
      const initial =
        1000 * (typeof probe['initialDelaySeconds'] === 'number' ? probe['initialDelaySeconds'] : 0);
      const failureThreshold = typeof probe['failureThreshold'] === 'number' ? probe['failureThreshold'] : 3;
      const successThreshold = typeof probe['successThreshold'] === 'number' ? probe['successThreshold'] : 1;
      let failures = 0;
      let successes = 0;
      const child = cs.child;
      const tick = (): void => {
        if (cs.child !== child || !child || s.stopping || this.paused) return;
        if (kind !== 'startupProbe' && !cs.started) {
          schedule(period);
          return;
        }
        if (kind === 'startupProbe' && cs.started) return;
        void this.probe(s, cs, probe).then(({ ok, error }) => {
          if (cs.child !== child || s.stopping) return;
          if (ok) {
            failures = 0;
            successes++;
          } else {
            successes = 0;
            failures++;
          }
          if (kind === 'readinessProbe') {
            const ready = ok
              ? successes >= successThreshold || cs.ready
              : failures < failureThreshold && cs.ready;
            if (!ok)
              this.deps.recorder.event(s.pod, 'Warning', 'Unhealthy', `Readiness probe failed: ${error}`);
            if (ready !== cs.ready) {
              cs.ready = ready;
              void this.report(s);
            }
          } else if (kind === 'startupProbe') {
            if (ok) {
              cs.started = true;
              if (cs.spec['readinessProbe'] === undefined) cs.ready = true;
              void this.report(s);
              return;
            }
            if (failures >= failureThreshold) this.failedProbe(s, name, cs, 'startup');
          } else if (!ok) {
            this.deps.recorder.event(s.pod, 'Warning', 'Unhealthy', `Liveness probe failed: ${error}`);
            if (failures >= failureThreshold) {
              this.failedProbe(s, name, cs, 'liveness');
              return;
            }
          }
          schedule(period);
        });
      };
      const schedule = (ms: number): void => {
        const t = setTimeout(() => {
          cs.probeTimers = cs.probeTimers.filter((x) => x !== t);
          tick();
        }, ms);
        cs.probeTimers.push(t);
      };
      schedule(initial);
    }
  }

  /** A container whose liveness (or startup) probe failed is killed and restarted. */
  private failedProbe(s: PodState, name: string, cs: ContainerState, kind: string): void {
    this.deps.recorder.event(
      s.pod,
      'Normal',
      'Killing',
      `Container ${name} failed ${kind} probe, will be restarted`,
    );
    cs.killing = true;
    void this.killContainer(cs, this.graceMs(s.pod));
  }

  /** Runs one probe: passed, or why not. */
  private async probe(
    s: PodState,
    cs: ContainerState,
    probe: Record<string, unknown>,
  ): Promise<{ ok: boolean; error: string }> {
    const timeoutMs = 1000 * (typeof probe['timeoutSeconds'] === 'number' ? probe['timeoutSeconds'] : 1);
    if (isRecord(probe['httpGet'])) {
      const g = probe['httpGet'];
      const port = probePort(cs.spec, g['port']);
      if (port === undefined) return { ok: false, error: `port ${String(g['port'])} not found` };
      const hostPort = s.ports[String(port)] ?? port;
      const https = String(g['scheme'] ?? 'HTTP').toUpperCase() === 'HTTPS';
      const headers: Record<string, string> = { 'User-Agent': 'kube-probe/1.34', Accept: '*/*' };
      for (const h of (Array.isArray(g['httpHeaders']) ? g['httpHeaders'] : []) as {
        name: string;
        value: string;
      }[])
        headers[h.name] = h.value;
      return new Promise((resolve) => {
        const req = (https ? httpsRequest : httpRequest)(
          {
            host: '127.0.0.1',
            port: hostPort,
            path: String(g['path'] ?? '/'),
            method: 'GET',
            headers,
            timeout: timeoutMs,
            ...(https ? { rejectUnauthorized: false } : {}),
          },
          (res) => {
            res.resume();
            const code = res.statusCode ?? 0;
            resolve({ ok: code >= 200 && code < 400, error: `HTTP probe failed with statuscode: ${code}` });
          },
        );
        req.on('timeout', () => req.destroy(new Error('context deadline exceeded')));
        req.on('error', (e) =>
          resolve({
            ok: false,
            error: `Get "http${https ? 's' : ''}://${s.podIP}:${port}${String(g['path'] ?? '/')}": ${e.message}`,
          }),
        );
        req.end();
      });
    }
    if (isRecord(probe['tcpSocket'])) {
      const port = probePort(cs.spec, probe['tcpSocket']['port']);
      if (port === undefined) return { ok: false, error: 'port not found' };
      return new Promise((resolve) => {
        const sock = connect({ host: '127.0.0.1', port: s.ports[String(port)] ?? port, timeout: timeoutMs });
        sock.on('connect', () => {
          sock.destroy();
          resolve({ ok: true, error: '' });
        });
        sock.on('timeout', () => {
          sock.destroy();
          resolve({ ok: false, error: `dial tcp ${s.podIP}:${port}: i/o timeout` });
        });
        sock.on('error', (e) => resolve({ ok: false, error: `dial tcp ${s.podIP}:${port}: ${e.message}` }));
      });
    }
    if (isRecord(probe['exec'])) {
      const command = Array.isArray(probe['exec']['command']) ? (probe['exec']['command'] as string[]) : [];
      const env = await this.environment(s, cs.spec).catch(() => ({}));
      const root = await this.deps.tools.imageRoot(this.deps.root, this.deps.log);
      const cmd = containerCommand({ ...cs.spec, command, args: [] }, this.deps.image, {
        root,
        nodeBinary: this.deps.nodeBinary,
        env,
      });
      return new Promise((resolve) => {
        const child = spawn(cmd.argv[0] ?? '', cmd.argv.slice(1), {
          cwd: existsSync(cmd.cwd) ? cmd.cwd : root,
          env: {
            PATH: [this.deps.host.bin, this.deps.tools.binDir, this.deps.machinePath].join(':'),
            ...env,
            [SANDBOX_CONTAINER_ENV]: JSON.stringify(this.view(s, cs.spec)),
          },
          stdio: 'ignore',
        });
        const t = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
        child.on('error', (e) => resolve({ ok: false, error: e.message }));
        child.on('exit', (code) => {
          clearTimeout(t);
          resolve({
            ok: code === 0,
            error: `command ${JSON.stringify(command)} exited with ${String(code)}`,
          });
        });
      });
    }
    return { ok: true, error: '' };
  }

  // ------------------------------------------------------------------ status

  private containerStatus(s: PodState, cs: ContainerState, index: number): ContainerStatus {
    const c = cs.spec;
    const image = c.image ?? '';
    const st: ContainerStatus = {
      name: c.name,
      image,
      imageID: `${image.split(/[:@]/)[0] ?? image}@sha256:${hash(image)}`,
      containerID: `containerd://${hash(`${s.uid}-${index}-${cs.restartCount}-${cs.startedAt ?? ''}`)}`,
      ready: cs.ready,
      started: cs.child !== undefined || !cs.process ? cs.started : false,
      restartCount: cs.restartCount,
      state:
        cs.child || !cs.process
          ? { running: { startedAt: cs.startedAt ?? now(this.deps.clock) } }
          : cs.waiting
            ? { waiting: cs.waiting }
            : cs.exited
              ? { terminated: { ...cs.exited } }
              : { waiting: { reason: 'ContainerCreating' } },
    };
    if (cs.lastTerminated) st.lastState = { terminated: { ...cs.lastTerminated } };
    return st;
  }

  /** Writes the pod's status from its containers. */
  private async report(s: PodState): Promise<void> {
    if (this.paused || this.pods.get(s.uid) !== s) return;
    const list = [...s.containers.values()];
    const ready = list.every((c) => c.ready);
    const policy = s.pod.spec.restartPolicy ?? 'Always';
    const finished =
      policy !== 'Always' && list.every((c) => !c.child && c.exited && !c.restartTimer && c.process);
    const phase = finished
      ? list.every((c) => c.exited?.exitCode === 0)
        ? 'Succeeded'
        : 'Failed'
      : 'Running';
    const t = now(this.deps.clock);
    try {
      await this.deps.writeStatus(s.pod, (p) => {
        const why = finished ? 'PodCompleted' : 'ContainersNotReady';
        p.status = {
          ...(p.status ?? {}),
          phase,
          hostIP: this.deps.hostIP,
          hostIPs: [{ ip: this.deps.hostIP }],
          podIP: s.podIP,
          podIPs: [{ ip: s.podIP }],
          startTime: p.status?.startTime ?? t,
          conditions: podConditions(
            p.status?.conditions ?? [],
            { ready: ready && !finished, reason: why, sandboxReady: !finished },
            t,
          ),
          containerStatuses: list.map((c, i) => this.containerStatus(s, c, i)),
        };
      });
    } catch (e) {
      this.deps.log(`kubelet ${this.deps.nodeName}: status of ${s.pod.metadata.name ?? ''}: ${String(e)}`);
    }
  }

  // ------------------------------------------------------------------ stopping

  private graceMs(pod: Pod): number {
    const g = pod.metadata.deletionGracePeriodSeconds ?? pod.spec.terminationGracePeriodSeconds ?? 30;
    return Math.max(0, g) * 1000;
  }

  /** SIGTERM to the container's process group, SIGKILL after graceMs; resolves when it is gone. */
  private killContainer(cs: ContainerState, graceMs: number): Promise<void> {
    const child = cs.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
    const pid = child.pid;
    const signal = (sig: NodeJS.Signals): void => {
      try {
        if (pid) process.kill(-pid, sig);
      } catch {
        // already gone
      }
    };
    return new Promise((resolve) => {
      const killer = setTimeout(() => signal('SIGKILL'), graceMs);
      child.once('exit', () => {
        clearTimeout(killer);
        // Whatever it left in its group goes too.
        signal('SIGKILL');
        resolve();
      });
      signal(graceMs === 0 ? 'SIGKILL' : 'SIGTERM');
    });
  }

  private clearTimers(s: PodState): void {
    for (const t of s.tokenTimers) clearTimeout(t);
    s.tokenTimers = [];
    for (const cs of s.containers.values()) {
      this.stopProbes(cs);
      if (cs.restartTimer) clearTimeout(cs.restartTimer);
      cs.restartTimer = undefined;
    }
  }

  private async stopPod(s: PodState, graceMs: number): Promise<void> {
    s.stopping = true;
    this.clearTimers(s);
    await Promise.all([...s.containers.values()].map((cs) => this.killContainer(cs, graceMs)));
  }

  /**
   * Stops the pod's containers (SIGTERM, SIGKILL after graceMs) and forgets the pod; with
   * removeDirs its volumes and logs go too (the pod is gone from the API: the kubelet's
   * housekeeping removes what is left of it).
   */
  async stop(pod: Pod, graceMs: number, removeDirs: boolean): Promise<void> {
    const uid = pod.metadata.uid ?? '';
    if (this.starting.has(uid)) this.cancelled.add(uid);
    const s = this.pods.get(uid);
    if (s) {
      await this.stopPod(s, graceMs);
      if (this.pods.get(uid) === s) this.pods.delete(uid);
    }
    if (removeDirs) {
      rmSync(this.podDir(uid), { recursive: true, force: true });
      rmSync(
        this.deps.host.path(
          `/var/log/pods/${pod.metadata.namespace ?? ''}_${pod.metadata.name ?? ''}_${uid}`,
        ),
        { recursive: true, force: true },
      );
    }
  }

  /** The machine goes down: every container is stopped (SIGTERM, then SIGKILL after graceMs). */
  async stopAll(graceMs: number): Promise<void> {
    const all = [...this.pods.values()];
    this.pods.clear();
    await Promise.all(all.map((s) => this.stopPod(s, Math.min(graceMs, this.graceMs(s.pod)))));
  }

  /** The kubelet stops (containers run on, nobody probes or restarts them). */
  pause(): void {
    this.paused = true;
    for (const s of this.pods.values()) this.clearTimers(s);
  }

  /** The kubelet is back: probes run again and dead containers are restarted. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    for (const s of this.pods.values()) {
      for (const [name, cs] of s.containers) {
        if (!cs.process) continue;
        if (cs.child) this.startProbes(s, name, cs);
        else this.scheduleRestart(s, name, cs);
      }
      void this.report(s);
    }
  }

  /** Replaces the pod object the containers' status is written for (a newer copy from the informer). */
  update(pod: Pod): void {
    const s = this.pods.get(pod.metadata.uid ?? '');
    if (s) s.pod = pod;
  }

  /** The pods running here, by uid (for tests and status). */
  running(): KubeObject[] {
    return [...this.pods.values()].map((s) => s.pod);
  }
}
