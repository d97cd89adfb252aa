// The sandbox's container runtime for static pods: what the kubelets start when a manifest
// appears in /etc/kubernetes/manifests. etcd runs as a real process (Debian's binary) with the
// manifest's command line; kube-apiserver runs as an HTTPS front end in this process, configured
// from its manifest's flags (port, serving certificate, client CA, etcd servers and client
// certificate), so renewing a certificate and restarting the static pod really changes what is
// served. A crashed container is restarted with back-off unless a fault holds it down.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Clock } from '../common/ports.ts';
import { startEtcd, type EtcdProcess } from '../etcd/member.ts';
import { ApiCore } from './apiserver/api.ts';
import type { FaultInjector } from './apiserver/faults.ts';
import type { AuditLog } from './apiserver/audit.ts';
import type { TokenKeys } from './apiserver/tokens.ts';
import { frontendAuth } from './apiserver/gate.ts';
import { ApiFrontend } from './apiserver/http.ts';
import { EtcdStore } from './apiserver/store.ts';
import type { Pod } from './apiserver/types.ts';
import type { SandboxLayout } from './layout.ts';
import type { StaticPodRuntime } from './node/kubelet.ts';
import { flagValue, imageTag } from './node/manifests.ts';
import type { Timing } from './timing.ts';

/** A running kube-apiserver. */
interface ApiServerProc {
  frontend: ApiFrontend;
  store: EtcdStore;
}

export interface RuntimeDeps {
  layout: SandboxLayout;
  clock: Clock;
  timing: Timing;
  faults: FaultInjector;
  log: (line: string) => void;
  /** Called when a component's running state changes by itself (crash, restart), so its kubelet can update the mirror pod. */
  onChange: (node: string, component: string) => void;
  /** Called with etcd pids as they start and stop, for state.json. */
  onEtcdPid: (node: string, pid: number | undefined) => void;
  /** The audit record every kube-apiserver writes to. */
  audit?: AuditLog;
}

function componentOf(pod: Pod): string {
  return pod.metadata.labels?.['component'] ?? pod.metadata.name ?? '';
}

/** Runs the control-plane components of every control-plane node. */
export class ComponentRuntime implements StaticPodRuntime {
  private readonly etcd = new Map<string, EtcdProcess>();
  private readonly etcdArgs = new Map<string, { args: string[]; clientUrl: string }>();
  private readonly held = new Set<string>();
  private readonly etcdStarting = new Set<string>();
  private readonly stopping = new Set<string>();
  private readonly restartTimers = new Map<string, NodeJS.Timeout>();
  private readonly apiservers = new Map<string, ApiServerProc>();
  private readonly others = new Set<string>();
  private closed = false;

  constructor(private readonly deps: RuntimeDeps) {}

  /** Maps an absolute path on the node to its host directory; other values pass unchanged. */
  private translate(node: string, value: string): string {
    return value.startsWith('/') ? this.deps.layout.host(node).path(value) : value;
  }

  private command(node: string, pod: Pod): string[] {
    const c = pod.spec.containers[0];
    const cmd = [...(c?.command ?? []), ...(c?.args ?? [])];
    return cmd.map((a) => {
      const m = /^(--[^=]+=)(.*)$/.exec(a);
      return m ? `${m[1] ?? ''}${this.translate(node, m[2] ?? '')}` : a;
    });
  }

  async start(node: string, pod: Pod): Promise<void> {
    const component = componentOf(pod);
    const key = `${node}/${component}`;
    if (this.closed) return;
    if (component === 'etcd') {
      const cmd = this.command(node, pod);
      const clientUrl = (flagValue(cmd, 'listen-client-urls') ?? '').split(',')[0] ?? '';
      this.etcdArgs.set(node, { args: cmd.slice(1), clientUrl });
      if (this.held.has(node)) return;
      await this.startEtcdProcess(node);
      return;
    }
    if (component === 'kube-apiserver') {
      const cmd = this.command(node, pod);
      const need = (flag: string): string => {
        const v = flagValue(cmd, flag);
        if (v === undefined) throw new Error(`kube-apiserver manifest on ${node} has no --${flag}`);
        return v;
      };
      const store = new EtcdStore({
        endpoints: need('etcd-servers').split(','),
        tls: { caFile: need('etcd-cafile'), certFile: need('etcd-certfile'), keyFile: need('etcd-keyfile') },
      });
      const api = new ApiCore({ store, clock: this.deps.clock });
      const frontend = new ApiFrontend(
        {
          nodeName: node,
          host: flagValue(cmd, 'advertise-address') ?? '127.0.0.1',
          port: Number(need('secure-port')),
          certFile: need('tls-cert-file'),
          keyFile: need('tls-private-key-file'),
          caFile: need('client-ca-file'),
          version: imageTag(pod.spec.containers[0]?.image ?? ''),
          auth: frontendAuth(cmd),
        },
        {
          api,
          faults: this.deps.faults,
          clock: this.deps.clock,
          log: this.deps.log,
          ...(this.deps.audit ? { audit: this.deps.audit } : {}),
          ready: () =>
            store.currentRevision().then(
              () => true,
              () => false,
            ),
        },
      );
      try {
        await frontend.start();
      } catch (e) {
        store.close();
        throw e;
      }
      this.apiservers.set(node, { frontend, store });
      return;
    }
    this.others.add(key);
  }

  private async startEtcdProcess(node: string): Promise<void> {
    const spec = this.etcdArgs.get(node);
    // One start at a time per node: the kubelet's restart and the runtime's own may meet.
    if (!spec || this.etcd.has(node) || this.etcdStarting.has(node) || this.closed) return;
    this.etcdStarting.add(node);
    try {
      await this.spawnEtcd(node, spec);
    } finally {
      this.etcdStarting.delete(node);
    }
  }

  private async spawnEtcd(node: string, spec: { args: string[]; clientUrl: string }): Promise<void> {
    const logDir = this.deps.layout.nodeLogDir(node);
    mkdirSync(logDir, { recursive: true });
    const proc = await startEtcd({
      args: spec.args,
      clientUrl: spec.clientUrl,
      logFile: join(logDir, 'etcd.log'),
      readyTimeoutMs: 0,
      // etcd dies with the process that runs the sandbox (a test, `sandbox run`), even after a
      // SIGKILL or a test runner's timeout: no sandbox etcd outlives its owner.
      tiedTo: { nodeBinary: process.execPath, pid: process.pid },
    });
    this.etcd.set(node, proc);
    this.deps.onEtcdPid(node, proc.pid);
    void proc.exited.then((code) => {
      if (this.etcd.get(node) !== proc) return;
      this.etcd.delete(node);
      this.deps.onEtcdPid(node, undefined);
      if (this.stopping.has(node) || this.closed) return;
      this.deps.log(`etcd on ${node} exited (${String(code)})${this.held.has(node) ? '' : '; restarting'}`);
      this.deps.onChange(node, 'etcd');
      if (!this.held.has(node)) this.scheduleRestart(node);
    });
  }

  private scheduleRestart(node: string): void {
    if (this.restartTimers.has(node)) return;
    const t = setTimeout(() => {
      this.restartTimers.delete(node);
      void this.startEtcdProcess(node)
        .then(() => this.deps.onChange(node, 'etcd'))
        .catch((e: unknown) => {
          this.deps.log(`etcd on ${node} failed to restart: ${e instanceof Error ? e.message : String(e)}`);
          this.scheduleRestart(node);
        });
    }, this.deps.timing.retryMs * 5);
    this.restartTimers.set(node, t);
  }

  async stop(node: string, component: string): Promise<void> {
    if (component === 'etcd') {
      const t = this.restartTimers.get(node);
      if (t) clearTimeout(t);
      this.restartTimers.delete(node);
      const p = this.etcd.get(node);
      if (!p) return;
      this.stopping.add(node);
      try {
        await p.stop();
      } finally {
        this.stopping.delete(node);
        this.etcd.delete(node);
        this.deps.onEtcdPid(node, undefined);
      }
      return;
    }
    if (component === 'kube-apiserver') {
      const a = this.apiservers.get(node);
      if (!a) return;
      this.apiservers.delete(node);
      await a.frontend.stop();
      a.store.close();
      return;
    }
    this.others.delete(`${node}/${component}`);
  }

  /** The ServiceAccount token keys of a running kube-apiserver (what the TokenRequest API signs with). */
  tokenKeys(): TokenKeys | undefined {
    for (const a of this.apiservers.values())
      if (a.frontend.running && a.frontend.authorization?.keys) return a.frontend.authorization.keys;
    return undefined;
  }

  isRunning(node: string, component: string): boolean {
    if (component === 'etcd') return this.etcd.has(node);
    if (component === 'kube-apiserver') return this.apiservers.get(node)?.frontend.running === true;
    return this.others.has(`${node}/${component}`);
  }

  /** Fault: stop a node's etcd and keep it down until releaseEtcd. */
  async holdEtcd(node: string): Promise<void> {
    this.held.add(node);
    await this.stop(node, 'etcd');
    this.deps.onChange(node, 'etcd');
  }

  /** Ends the fault: the kubelet's container restart brings etcd back. */
  async releaseEtcd(node: string): Promise<void> {
    this.held.delete(node);
    await this.startEtcdProcess(node);
    this.deps.onChange(node, 'etcd');
  }

  /** The pids of the etcd processes now running, by node. */
  etcdPids(): Record<string, number> {
    return Object.fromEntries([...this.etcd].map(([n, p]) => [n, p.pid]));
  }

  /** The ports kube-apiservers serve on, by node (running ones only). */
  apiserverPorts(): Record<string, number> {
    return Object.fromEntries([...this.apiservers].map(([n, a]) => [n, a.frontend.opts.port]));
  }

  /** The client URL of each etcd member. */
  etcdClientUrls(): Record<string, string> {
    return Object.fromEntries([...this.etcdArgs].map(([n, s]) => [n, s.clientUrl]));
  }

  /** Stops everything (sandbox shutdown). */
  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.restartTimers.values()) clearTimeout(t);
    this.restartTimers.clear();
    await Promise.all([...this.apiservers.keys()].map((n) => this.stop(n, 'kube-apiserver')));
    await Promise.all([...this.etcd.keys()].map((n) => this.stop(n, 'etcd')));
    this.others.clear();
  }
}
