// Where everything of a sandbox lives under its DIR. A node's host directory holds what a
// kubeadm node holds, at the same relative paths (etc/kubernetes, var/lib/kubelet, var/lib/etcd,
// var/run), so `bosun certs check --pki-dir DIR/nodes/cp-1/host/etc/kubernetes/pki` reads it as
// it would read a real node.
import { join } from 'node:path';

/** Paths of one sandbox directory. */
export class SandboxLayout {
  constructor(readonly dir: string) {}

  /** The admin kubeconfig (a copy of cp-1's admin.conf). */
  get adminConf(): string {
    return join(this.dir, 'admin.conf');
  }
  /** The running sandbox's state: pids, ports, phase (written by the sandbox process). */
  get stateFile(): string {
    return join(this.dir, 'state.json');
  }
  /** The options `sandbox up` started it with. */
  get configFile(): string {
    return join(this.dir, 'config.json');
  }
  /** The sandbox process's log. */
  get logFile(): string {
    return join(this.dir, 'sandbox.log');
  }
  /** The node shims' client (plain JS, run by node). */
  get shimClient(): string {
    return join(this.dir, 'shim.mjs');
  }
  /** The simulated package repository (versions apt-get/dnf can install). */
  get repoFile(): string {
    return join(this.dir, 'repo.json');
  }
  get nodesDir(): string {
    return join(this.dir, 'nodes');
  }
  /** A node's host root. */
  host(node: string): HostLayout {
    return new HostLayout(join(this.dir, 'nodes', node, 'host'));
  }
  /** Per-node logs (etcd's among them). */
  nodeLogDir(node: string): string {
    return join(this.dir, 'nodes', node, 'log');
  }
}

/** Paths inside one node's host root, named as on a kubeadm node. */
export class HostLayout {
  constructor(readonly root: string) {}

  /** Maps an absolute path on the simulated node (/etc/kubernetes/...) to the host directory. */
  path(nodePath: string): string {
    return join(this.root, nodePath);
  }
  get etcKubernetes(): string {
    return this.path('/etc/kubernetes');
  }
  get pki(): string {
    return this.path('/etc/kubernetes/pki');
  }
  get manifests(): string {
    return this.path('/etc/kubernetes/manifests');
  }
  get kubeletDir(): string {
    return this.path('/var/lib/kubelet');
  }
  get kubeletPki(): string {
    return this.path('/var/lib/kubelet/pki');
  }
  get kubeletConfig(): string {
    return this.path('/var/lib/kubelet/config.yaml');
  }
  get etcdData(): string {
    return this.path('/var/lib/etcd');
  }
  get varRun(): string {
    return this.path('/var/run');
  }
  /** The sentinel Kured and bosun's agent watch: created by package upgrades that need a reboot. */
  get rebootRequired(): string {
    return this.path('/var/run/reboot-required');
  }
  /** Installed packages of the simulated node (what apt-get/dnf shims change). */
  get packagesFile(): string {
    return this.path('/var/lib/sandbox/packages.json');
  }
  /** The kernel's boot id, as /proc/sys/kernel/random/boot_id. */
  get bootIdFile(): string {
    return this.path('/proc/sys/kernel/random/boot_id');
  }
  get bin(): string {
    return this.path('/bin');
  }
}
