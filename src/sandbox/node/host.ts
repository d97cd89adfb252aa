// A simulated node's host state on disk: installed packages (what apt-get/dnf change and the
// kubelet reads its version from), the boot id, the kubelet's config file. Reads and writes are
// atomic (write to a temp file, rename), because shims and the kubelet touch them concurrently.
import { mkdirSync, readFileSync, renameSync, writeFileSync, existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomUUID } from 'node:crypto';
import { parse, stringify } from 'yaml';
import type { HostLayout } from '../layout.ts';

/** One installed package. */
export interface InstalledPackage {
  /** Upstream release, e.g. "1.34.3". */
  version: string;
  /** apt-mark hold / dnf versionlock. */
  held: boolean;
}

/** Installed packages by name (kubelet, kubeadm, kubectl, containerd, ...). */
export type Packages = Record<string, InstalledPackage>;

/** Writes a file atomically (temp + rename), creating its directory. */
export function writeAtomic(path: string, data: string, mode = 0o644): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  writeFileSync(tmp, data, { mode });
  renameSync(tmp, path);
}

/** Reads the node's installed packages. */
export function readPackages(host: HostLayout): Packages {
  try {
    return JSON.parse(readFileSync(host.packagesFile, 'utf8')) as Packages;
  } catch {
    return {};
  }
}

/** Writes the node's installed packages. */
export function writePackages(host: HostLayout, pkgs: Packages): void {
  writeAtomic(host.packagesFile, JSON.stringify(pkgs, null, 2) + '\n');
}

/** The kubelet version the node runs once its kubelet (re)starts: the installed package's. */
export function installedKubeletVersion(host: HostLayout): string | undefined {
  const v = readPackages(host)['kubelet']?.version;
  return v === undefined ? undefined : `v${v}`;
}

/** A new boot id, written where the kernel exposes it. */
export function newBootId(host: HostLayout): string {
  const id = randomUUID();
  writeAtomic(host.bootIdFile, id + '\n');
  return id;
}

/** The KubeletConfiguration fields the simulated kubelet reads. */
export interface KubeletFileConfig {
  port: number;
  staticPodPath: string;
  /** The most pods the node runs (its capacity and allocatable "pods"); the kubelet's default is 110. */
  maxPods: number;
}

/** The kubelet's default maxPods (KubeletConfiguration v1beta1 defaults). */
export const DEFAULT_MAX_PODS = 110;

/**
 * Writes /var/lib/kubelet/config.yaml as kubeadm does (the fields that matter here). kubeadm writes
 * no maxPods, so the kubelet's default applies; `maxPods` writes one, as an admin would.
 */
export function writeKubeletConfig(host: HostLayout, port: number, opts: { maxPods?: number } = {}): void {
  const doc = {
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true },
      x509: { clientCAFile: '/etc/kubernetes/pki/ca.crt' },
    },
    authorization: { mode: 'Webhook' },
    cgroupDriver: 'systemd',
    clusterDNS: ['10.96.0.10'],
    clusterDomain: 'cluster.local',
    address: '127.0.0.1',
    port,
    rotateCertificates: true,
    staticPodPath: '/etc/kubernetes/manifests',
    ...(opts.maxPods !== undefined ? { maxPods: opts.maxPods } : {}),
  };
  writeAtomic(host.kubeletConfig, stringify(doc));
}

/** Reads the kubelet's port, static pod path and maxPods back. */
export function readKubeletConfig(host: HostLayout): KubeletFileConfig {
  const doc = parse(readFileSync(host.kubeletConfig, 'utf8')) as Partial<KubeletFileConfig>;
  const maxPods = Number(doc.maxPods ?? DEFAULT_MAX_PODS);
  return {
    port: Number(doc.port ?? 10250),
    staticPodPath: doc.staticPodPath ?? '/etc/kubernetes/manifests',
    maxPods: Number.isInteger(maxPods) && maxPods > 0 ? maxPods : DEFAULT_MAX_PODS,
  };
}

/** Lays out an empty host directory: the directories a kubeadm node has, os-release, packages. */
export function initHost(host: HostLayout, release: string): void {
  for (const d of [
    host.pki,
    host.manifests,
    host.kubeletPki,
    host.varRun,
    host.path('/var/lib/sandbox'),
    host.bin,
    host.path('/etc/apt/sources.list.d'),
  ]) {
    mkdirSync(d, { recursive: true });
  }
  if (!existsSync(host.packagesFile)) {
    writePackages(host, {
      kubelet: { version: release, held: true },
      kubeadm: { version: release, held: true },
      kubectl: { version: release, held: true },
      containerd: { version: '1.7.24', held: false },
    });
  }
  const minor = release.split('.').slice(0, 2).join('.');
  writeAtomic(
    host.path('/etc/apt/sources.list.d/kubernetes.list'),
    `deb [signed-by=/etc/apt/keyrings/kubernetes-apt-keyring.gpg] https://pkgs.k8s.io/core:/stable:/v${minor}/deb/ /\n`,
  );
  writeAtomic(
    host.path('/etc/os-release'),
    'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n',
  );
}
