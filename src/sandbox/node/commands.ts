// What the host shims of a sandbox node do: apt-get, apt-mark, dnf, systemctl, reboot, shutdown
// and kubeadm change the simulated node the way the real commands change a real one, with the
// same exit codes and the messages people grep for. The same recipe text therefore runs against
// the sandbox and against a real node.
import semver from 'semver';
import { existsSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import type { HostLayout } from '../layout.ts';
import {
  aptListsMinor,
  aptListsName,
  aptSourceMinors,
  debVersion,
  dnfRepoMinor,
  etcdImageTag,
  minorOf,
  resolveRelease,
  rpmVersion,
} from './repo.ts';
import { runSed } from './sed.ts';
import { readPackages, writeAtomic, writePackages, type Packages } from './host.ts';
import {
  apiserverManifest,
  controllerManagerManifest,
  etcdManifest,
  flagValue,
  imageTag,
  schedulerManifest,
  type ControlPlaneManifestInput,
} from './manifests.ts';
import type { Pod } from '../apiserver/types.ts';

/** What a shim may do to its node and the cluster (implemented by the sandbox). */
export interface NodeOps {
  nodeName: string;
  role: 'control-plane' | 'worker';
  host: HostLayout;
  /** Releases the package repository offers ("1.34.3"). */
  releases(): string[];
  /** Reboots the node in the background (the command returns first). */
  reboot(): void;
  restartKubelet(): Promise<void>;
  stopKubelet(): Promise<void>;
  startKubelet(): Promise<void>;
  kubeletActive(): boolean;
  /** The cluster's version from kube-system/kubeadm-config ("v1.34.3"). */
  clusterVersion(): Promise<string>;
  /** kubeadm's upload-config phase: records the cluster version in kubeadm-config. */
  recordClusterVersion(version: string): Promise<void>;
  /** kubeadm's addon phase: the kube-proxy DaemonSet and the CoreDNS Deployment at this version. */
  upgradeAddons(version: string): Promise<void>;
  /**
   * kubeadm's UpgradeConfiguration `timeouts.upgradeManifests` (default 5m) on the sandbox's
   * timing scale: how long each of `waitStaticPod`'s waits may take.
   */
  upgradeManifestsTimeoutMs: number;
  /**
   * kubeadm's waits after it moved a new manifest in (util/apiclient/wait.go), each bounded by
   * timeoutMs: the mirror pod of this node's `component` shows the new manifest's
   * kubernetes.io/config.hash (else `hash`), then every pod labelled component=X is Running (else
   * `pods`); `done` with how many pods it found.
   */
  waitStaticPod(component: string, timeoutMs: number): Promise<StaticPodWait>;
  /** Every node, as kubeadm's checks read them. */
  nodes(): Promise<ClusterNode[]>;
  /** The control plane's mirror pods in kube-system (labels component, tier=control-plane). */
  controlPlanePods(): Promise<ControlPlanePod[]>;
}

/** How kubeadm's wait for a static pod ended. */
export type StaticPodWait = { stage: 'done'; pods: number } | { stage: 'hash' | 'pods' };

/** A node as kubeadm's checks read it. */
export interface ClusterNode {
  name: string;
  controlPlane: boolean;
  ready: boolean;
  /** status.nodeInfo.kubeletVersion ("v1.34.3"). */
  kubeletVersion: string;
}

/** A control plane mirror pod as kubeadm reads it. */
export interface ControlPlanePod {
  node: string;
  /** kube-apiserver, kube-controller-manager, kube-scheduler, etcd. */
  component: string;
  image: string;
  ready: boolean;
}

/** Output of a shim: written as it comes, then an exit code. */
export interface ShimIO {
  out(text: string): void;
  err(text: string): void;
}

const K8S_PACKAGES = new Set(['kubelet', 'kubeadm', 'kubectl', 'kubernetes-cni', 'cri-tools']);

/** Runs one shim command; resolves with its exit code. */
export async function runNodeCommand(
  ops: NodeOps,
  command: string,
  args: string[],
  io: ShimIO,
): Promise<number> {
  switch (command) {
    case 'apt-get':
      return aptGet(ops, args, io);
    case 'apt-mark':
      return aptMark(ops, args, io);
    case 'dnf':
    case 'yum':
      return dnf(ops, command, args, io);
    case 'systemctl':
      return systemctl(ops, args, io);
    case 'reboot':
      ops.reboot();
      return 0;
    case 'shutdown':
      if (args.includes('-r') || args.includes('--reboot')) {
        io.out(`Reboot scheduled for now, use 'shutdown -c' to cancel.\n`);
        ops.reboot();
        return 0;
      }
      io.err('shutdown: only reboots (-r) are simulated in the sandbox\n');
      return 1;
    case 'kubeadm':
      return kubeadm(ops, args, io);
    case 'sed':
      return runSed(ops.host, args, io);
    default:
      io.err(`${command}: command not found\n`);
      return 127;
  }
}

function parsePackageArg(arg: string, sep: '=' | '-'): { name: string; version: string | undefined } {
  if (sep === '=') {
    const i = arg.indexOf('=');
    return i < 0 ? { name: arg, version: undefined } : { name: arg.slice(0, i), version: arg.slice(i + 1) };
  }
  // dnf: kubelet-1.34.1-150500.1.1 or kubelet-1.34.1
  const m = /^([a-z][a-z0-9-]*?)-(\d[\w.*-]*)$/.exec(arg);
  return m ? { name: m[1] ?? arg, version: m[2] } : { name: arg, version: undefined };
}

function setReboot(ops: NodeOps, pkgs: string[]): void {
  // Debian's update-notifier-common writes the sentinel when a kernel or libc package changes.
  writeAtomic(ops.host.rebootRequired, '*** System restart required ***\n');
  writeAtomic(ops.host.path('/var/run/reboot-required.pkgs'), pkgs.join('\n') + '\n');
}

/** The Kubernetes minor this node's packages came from: its kubeadm's (or kubelet's). */
function installedMinor(pkgs: Packages): string | undefined {
  const v = pkgs['kubeadm']?.version ?? pkgs['kubelet']?.version;
  return v === undefined ? undefined : minorOf(v);
}

const APT_SOURCES_DIR = '/etc/apt/sources.list.d';
const APT_LISTS_DIR = '/var/lib/apt/lists';

/** The pkgs.k8s.io minors the node's apt sources name. */
function aptConfiguredMinors(ops: NodeOps): string[] {
  const dir = ops.host.path(APT_SOURCES_DIR);
  const minors: string[] = [];
  const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.list')) : [];
  for (const f of files.sort())
    for (const m of aptSourceMinors(readFileSync(join(dir, f), 'utf8')))
      if (!minors.includes(m)) minors.push(m);
  return minors;
}

/**
 * The minors whose package index apt has (apt-get update fetched it and the source still names it).
 * A node whose lists were never written by the shim has the index it was installed from: the
 * repository of its kubeadm package.
 */
function aptIndexedMinors(ops: NodeOps, pkgs: Packages): string[] {
  const dir = ops.host.path(APT_LISTS_DIR);
  const fetched = existsSync(dir)
    ? readdirSync(dir)
        .map(aptListsMinor)
        .filter((m): m is string => m !== undefined)
    : [];
  const known = fetched.length > 0 ? fetched : [installedMinor(pkgs)].filter((m): m is string => !!m);
  return aptConfiguredMinors(ops).filter((m) => known.includes(m));
}

/** The releases of the repository that belong to these minors, oldest first. */
function releasesOf(ops: NodeOps, minors: readonly string[]): string[] {
  return ops
    .releases()
    .filter((r) => minors.includes(minorOf(r)))
    .sort(semver.compare);
}

/** The minor the node's dnf repository names (/etc/yum.repos.d/kubernetes.repo), else its packages'. */
function dnfRepo(ops: NodeOps, pkgs: Packages): string | undefined {
  const file = ops.host.path('/etc/yum.repos.d/kubernetes.repo');
  if (existsSync(file)) return dnfRepoMinor(readFileSync(file, 'utf8'));
  return installedMinor(pkgs);
}

function install(
  ops: NodeOps,
  pkgs: Packages,
  targets: { name: string; version: string | undefined }[],
  io: ShimIO,
  fmt: (r: string) => string,
  allowHeld: boolean,
  manager: 'apt' | 'dnf',
  /** The Kubernetes releases the package manager sees (its configured pkgs.k8s.io minor). */
  releases: readonly string[],
): number {
  const changes: { name: string; from: string | undefined; to: string }[] = [];
  for (const t of targets) {
    if (!K8S_PACKAGES.has(t.name) && t.name !== 'containerd' && !t.name.startsWith('linux-image')) {
      if (manager === 'apt') io.err(`E: Unable to locate package ${t.name}\n`);
      else io.err(`Error: Unable to find a match: ${t.name}\n`);
      return 100;
    }
    if (t.name.startsWith('linux-image') || t.name === 'containerd') {
      changes.push({ name: t.name, from: pkgs[t.name]?.version, to: t.version ?? 'latest' });
      continue;
    }
    const installed = pkgs[t.name]?.version;
    // An installed package is known to the package manager even when no repository offers it.
    if (releases.length === 0 && installed === undefined) {
      if (manager === 'apt') io.err(`E: Unable to locate package ${t.name}\n`);
      else io.err(`Error: Unable to find a match: ${t.name}\n`);
      return 100;
    }
    const wanted = t.version ?? releases.at(-1) ?? installed;
    const rel =
      wanted === undefined
        ? undefined
        : resolveRelease(wanted, t.version === undefined && installed ? [...releases, installed] : releases);
    if (rel === undefined) {
      if (manager === 'apt') io.err(`E: Version '${t.version ?? ''}' for '${t.name}' was not found\n`);
      else io.err(`Error: Unable to find a match: ${t.name}-${t.version ?? ''}\n`);
      return 100;
    }
    const cur = pkgs[t.name];
    if (cur?.held && cur.version !== rel && !allowHeld) {
      if (manager === 'apt') {
        io.err('E: Held packages were changed and -y was used without --allow-change-held-packages.\n');
      } else {
        io.err(`Error: Package ${t.name}-${rpmVersion(rel)} is excluded (versionlock)\n`);
      }
      return 100;
    }
    changes.push({ name: t.name, from: cur?.version, to: rel });
  }
  for (const c of changes) {
    if (c.from === c.to) {
      io.out(
        manager === 'apt'
          ? `${c.name} is already the newest version (${fmt(c.to)}).\n`
          : `Package ${c.name}-${fmt(c.to)}.x86_64 is already installed.\n`,
      );
      continue;
    }
    const downgrade =
      c.from !== undefined && semver.valid(c.from) && semver.valid(c.to) && semver.lt(c.to, c.from);
    io.out(
      manager === 'apt'
        ? `${downgrade ? 'Downgrading' : 'Unpacking'} ${c.name} (${fmt(c.to)})${c.from ? ` over (${fmt(c.from)})` : ''} ...\nSetting up ${c.name} (${fmt(c.to)}) ...\n`
        : `  ${downgrade ? 'Downgrading' : 'Upgrading'}: ${c.name}-${fmt(c.to)}.x86_64\n`,
    );
    pkgs[c.name] = { version: c.to, held: pkgs[c.name]?.held ?? false };
  }
  writePackages(ops.host, pkgs);
  const kernel = changes.filter((c) => c.name.startsWith('linux-image'));
  if (kernel.length > 0)
    setReboot(
      ops,
      kernel.map((k) => k.name),
    );
  if (manager === 'dnf') io.out('Complete!\n');
  return 0;
}

function aptGet(ops: NodeOps, args: string[], io: ShimIO): number {
  const flags = args.filter((a) => a.startsWith('-'));
  const words = args.filter((a) => !a.startsWith('-'));
  const sub = words[0];
  const pkgs = readPackages(ops.host);
  const assumeYes = flags.some((f) => f === '-y' || f === '--yes' || f === '--assume-yes' || f === '-qy');
  switch (sub) {
    case 'update':
      return aptUpdate(ops, pkgs, io);
    case 'install': {
      if (!assumeYes) {
        io.err('E: The sandbox cannot answer prompts; use -y\n');
        return 1;
      }
      const targets = words.slice(1).map((a) => parsePackageArg(a, '='));
      if (targets.length === 0) {
        io.out('0 upgraded, 0 newly installed, 0 to remove and 0 not upgraded.\n');
        return 0;
      }
      return install(
        ops,
        pkgs,
        targets,
        io,
        debVersion,
        flags.includes('--allow-change-held-packages'),
        'apt',
        releasesOf(ops, aptIndexedMinors(ops, pkgs)),
      );
    }
    case 'upgrade':
    case 'dist-upgrade':
    case 'full-upgrade': {
      if (!assumeYes) {
        io.err('E: The sandbox cannot answer prompts; use -y\n');
        return 1;
      }
      // An OS patch round: held Kubernetes packages stay, the kernel moves, a reboot is required.
      const kept = Object.entries(pkgs)
        .filter(([, p]) => p.held)
        .map(([n]) => n);
      if (kept.length) io.out(`The following packages have been kept back:\n  ${kept.join(' ')}\n`);
      pkgs['linux-image-amd64'] = { version: '6.1.0-29', held: false };
      writePackages(ops.host, pkgs);
      io.out('Setting up linux-image-6.1.0-29-amd64 (6.1.123-1) ...\n');
      setReboot(ops, ['linux-image-6.1.0-29-amd64']);
      return 0;
    }
    default:
      io.err(`E: Invalid operation ${sub ?? ''}\n`);
      return 100;
  }
}

/**
 * apt-get update: fetches the index of every pkgs.k8s.io minor the sources name, and drops the
 * lists of sources no longer named (as apt does). A minor the repository does not have answers 403,
 * as pkgs.k8s.io does, and the command fails.
 */
function aptUpdate(ops: NodeOps, pkgs: Packages, io: ShimIO): number {
  const configured = aptConfiguredMinors(ops);
  const had = aptIndexedMinors(ops, pkgs);
  const dir = ops.host.path(APT_LISTS_DIR);
  const failed: string[] = [];
  configured.forEach((m, i) => {
    const url = `https://pkgs.k8s.io/core:/stable:/v${m}/deb`;
    if (releasesOf(ops, [m]).length === 0) {
      io.out(`Err:${i + 1} ${url}  InRelease\n  403  Forbidden [IP: 127.0.0.1 443]\n`);
      failed.push(url);
      return;
    }
    io.out(`${had.includes(m) ? 'Hit' : 'Get'}:${i + 1} ${url}  InRelease\n`);
    writeAtomic(join(dir, aptListsName(m)), releasesOf(ops, [m]).join('\n') + '\n');
  });
  if (existsSync(dir))
    for (const f of readdirSync(dir)) {
      const m = aptListsMinor(f);
      if (m !== undefined && (!configured.includes(m) || failed.some((u) => u.includes(`/v${m}/`))))
        rmSync(join(dir, f), { force: true });
    }
  io.out('Reading package lists... Done\n');
  if (failed.length > 0) {
    for (const u of failed) io.err(`E: Failed to fetch ${u}/InRelease  403  Forbidden [IP: 127.0.0.1 443]\n`);
    io.err('E: Some index files failed to download. They have been ignored, or old ones used instead.\n');
    return 100;
  }
  return 0;
}

function aptMark(ops: NodeOps, args: string[], io: ShimIO): number {
  const [sub, ...names] = args;
  const pkgs = readPackages(ops.host);
  if (sub === 'showhold') {
    for (const [n, p] of Object.entries(pkgs)) if (p.held) io.out(`${n}\n`);
    return 0;
  }
  if (sub !== 'hold' && sub !== 'unhold') {
    io.err(`E: Invalid operation ${sub ?? ''}\n`);
    return 100;
  }
  for (const n of names) {
    const p = pkgs[n];
    if (!p) {
      io.err(`E: Unable to locate package ${n}\n`);
      return 100;
    }
    const want = sub === 'hold';
    io.out(
      p.held === want
        ? `${n} was already ${want ? 'set on hold' : 'not on hold'}.\n`
        : `${n} ${want ? 'set on hold' : 'canceled hold'}.\n`,
    );
    p.held = want;
  }
  writePackages(ops.host, pkgs);
  return 0;
}

function dnf(ops: NodeOps, command: string, args: string[], io: ShimIO): number {
  const words = args.filter((a) => !a.startsWith('-'));
  const sub = words[0];
  const pkgs = readPackages(ops.host);
  // kubernetes.repo excludes the Kubernetes packages; --disableexcludes=kubernetes lets them through.
  const allow = args.some((a) => a === '--disableexcludes=kubernetes' || a === '--disableexcludes=all');
  if (sub === 'makecache' || sub === 'check-update') {
    io.out('Metadata cache created.\n');
    return 0;
  }
  if (sub === 'install' || sub === 'upgrade' || sub === 'update') {
    const targets = words.slice(1).map((a) => parsePackageArg(a, '-'));
    if (targets.length === 0 && sub !== 'install') {
      pkgs['kernel'] = { version: '5.14.0-503.el9', held: false };
      writePackages(ops.host, pkgs);
      setReboot(ops, ['kernel']);
      io.out('Complete!\n');
      return 0;
    }
    for (const t of targets) {
      if (K8S_PACKAGES.has(t.name) && !allow) {
        io.err(`Error: Unable to find a match: ${t.name}${t.version ? '-' + t.version : ''}\n`);
        return 1;
      }
    }
    const minor = dnfRepo(ops, pkgs);
    if (
      minor !== undefined &&
      targets.some((t) => K8S_PACKAGES.has(t.name)) &&
      releasesOf(ops, [minor]).length === 0
    ) {
      io.err(
        `Error: Failed to download metadata for repo 'kubernetes': Cannot download repomd.xml: Status code: 403 for https://pkgs.k8s.io/core:/stable:/v${minor}/rpm/repodata/repomd.xml\n`,
      );
      return 1;
    }
    return install(
      ops,
      pkgs,
      targets,
      io,
      rpmVersion,
      true,
      'dnf',
      minor === undefined ? [] : releasesOf(ops, [minor]),
    ) === 0
      ? 0
      : 1;
  }
  io.err(`${command}: No such command: ${sub ?? ''}.\n`);
  return 1;
}

async function systemctl(ops: NodeOps, args: string[], io: ShimIO): Promise<number> {
  const words = args.filter((a) => !a.startsWith('-'));
  const [sub, unitRaw] = words;
  const unit = (unitRaw ?? '').replace(/\.service$/, '');
  if (sub === 'daemon-reload') return 0;
  if (sub === 'reboot') {
    ops.reboot();
    return 0;
  }
  if (unit !== 'kubelet' && unit !== 'containerd') {
    io.err(`Failed to ${sub ?? ''} ${unitRaw ?? ''}: Unit ${unitRaw ?? ''}.service not found.\n`);
    return 5;
  }
  const active = unit === 'containerd' ? true : ops.kubeletActive();
  switch (sub) {
    case 'restart':
    case 'try-restart':
      if (unit === 'kubelet') await ops.restartKubelet();
      return 0;
    case 'stop':
      if (unit === 'kubelet') await ops.stopKubelet();
      return 0;
    case 'start':
      if (unit === 'kubelet') await ops.startKubelet();
      return 0;
    case 'enable':
    case 'disable':
      return 0;
    case 'is-active':
      io.out(active ? 'active\n' : 'inactive\n');
      return active ? 0 : 3;
    case 'status':
      io.out(`● ${unit}.service\n     Active: ${active ? 'active (running)' : 'inactive (dead)'}\n`);
      return active ? 0 : 3;
    default:
      io.err(`Unknown command verb ${sub ?? ''}.\n`);
      return 1;
  }
}

function kubeadmVersion(ops: NodeOps): string | undefined {
  const v = readPackages(ops.host)['kubeadm']?.version;
  return v === undefined ? undefined : `v${v}`;
}

function readManifest(ops: NodeOps, file: string): Pod | undefined {
  const p = join(ops.host.manifests, file);
  if (!existsSync(p)) return undefined;
  return parse(readFileSync(p, 'utf8')) as Pod;
}

/** Rebuilds this node's manifest input from the manifests on disk (ports, cluster membership). */
function manifestInput(ops: NodeOps, version: string): ControlPlaneManifestInput | undefined {
  const etcd = readManifest(ops, 'etcd.yaml');
  const apiserver = readManifest(ops, 'kube-apiserver.yaml');
  if (!etcd || !apiserver) return undefined;
  const ecmd = etcd.spec.containers[0]?.command ?? [];
  const acmd = apiserver.spec.containers[0]?.command ?? [];
  const port = (url: string | undefined): number => Number(/:(\d+)$/.exec(url ?? '')?.[1] ?? 0);
  return {
    nodeName: ops.nodeName,
    address: flagValue(acmd, 'advertise-address') ?? '127.0.0.1',
    version,
    ports: {
      apiserver: Number(flagValue(acmd, 'secure-port') ?? 6443),
      etcdClient: port((flagValue(ecmd, 'listen-client-urls') ?? '').split(',')[0]),
      etcdPeer: port(flagValue(ecmd, 'listen-peer-urls')),
    },
    initialCluster: flagValue(ecmd, 'initial-cluster') ?? '',
    initialClusterState: flagValue(ecmd, 'initial-cluster-state') === 'existing' ? 'existing' : 'new',
  };
}

/** The tag of an image as a version kubeadm compares ("3.5.21-0" -> "3.5.21"). */
function tagVersion(image: string): string | undefined {
  return semver.coerce(imageTag(image))?.version;
}

/**
 * kubeadm's etcd step (phases/upgrade/staticpods.go performEtcdStaticPodUpgrade): the etcd cluster
 * must be healthy first; an etcd already newer than the one kubeadm pins for this Kubernetes
 * version is kept ("Won't downgrade etcd"). Returns 'upgrade', 'skip' or an error line.
 */
async function etcdStep(ops: NodeOps, version: string, io: ShimIO): Promise<'upgrade' | 'skip' | string> {
  const members = (await ops.controlPlanePods()).filter((p) => p.component === 'etcd');
  const sick = members.filter((p) => !p.ready).map((p) => p.node);
  if (sick.length > 0) return `etcd cluster is not healthy: etcd members not ready: [${sick.join(' ')}]`;
  const current = tagVersion(readManifest(ops, 'etcd.yaml')?.spec.containers[0]?.image ?? '');
  const desiredTag = etcdImageTag(version);
  const desired = semver.coerce(desiredTag)?.version;
  if (current && desired && semver.lt(desired, current)) {
    io.out(
      `[upgrade/etcd] Non fatal issue encountered during upgrade: the desired etcd version "${desiredTag}" for Kubernetes version "${version}" is lower than the current etcd version "${current}". Won't downgrade etcd, instead just continue\n`,
    );
    return 'skip';
  }
  return 'upgrade';
}

/** A duration as Go prints a time.Duration ("5m0s", "9s", "1.5s", "300ms"), as kubeadm's messages do. */
export function goDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const sec = `${Number(((ms % 60_000) / 1000).toFixed(3))}s`;
  if (h > 0) return `${h}h${m}m${sec}`;
  return m > 0 ? `${m}m${sec}` : sec;
}

/** The timestamp kubeadm names its backup directory with ("2026-02-07-16-55-05"). */
function backupStamp(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}-${p(d.getHours())}-${p(d.getMinutes())}-${p(d.getSeconds())}`;
}

/** How kubeadm's phase runner and cmdutil.CheckErr print an error of the control-plane phase. */
function phaseError(err: string): string {
  return `error execution phase control-plane: couldn't complete the static pod upgrade: ${err}\nTo see the stack trace of this error execute with --v=5 or higher\n`;
}

/**
 * kubeadm's static pod upgrade (phases/upgrade/staticpods.go, v1.32-v1.34): for each component,
 * move the old manifest to the backup directory, move the new one in, wait until the kubelet runs
 * it (at most `timeouts.upgradeManifests` for the hash change, as long again for the pods to run).
 * etcd first, as kubeadm does. A wait that times out rolls back (rollbackOldManifests) the
 * manifest of every component moved so far, etcd's only when etcd itself failed, and the command
 * fails with the error kubeadm's phase runner prints. Returns false when it failed.
 */
async function upgradeStaticPods(ops: NodeOps, version: string, io: ShimIO): Promise<boolean> {
  const input = manifestInput(ops, version);
  if (!input) {
    io.err(`[upgrade] FATAL: no static pod manifests found in /etc/kubernetes/manifests\n`);
    return false;
  }
  const etcd = await etcdStep(ops, version, io);
  if (etcd !== 'upgrade' && etcd !== 'skip') {
    // performEtcdStaticPodUpgrade's fatal errors come before anything was moved: no rollback.
    io.err(phaseError(etcd));
    return false;
  }
  const timeoutMs = ops.upgradeManifestsTimeoutMs;
  const backupDir = `/etc/kubernetes/tmp/kubeadm-backup-manifests-${backupStamp(new Date())}`;
  const parts: [string, string, Record<string, unknown>][] = [
    ...(etcd === 'upgrade'
      ? [['etcd', 'etcd.yaml', etcdManifest(input)] as [string, string, Record<string, unknown>]]
      : []),
    ['kube-apiserver', 'kube-apiserver.yaml', apiserverManifest(input)],
    ['kube-controller-manager', 'kube-controller-manager.yaml', controllerManagerManifest(input)],
    ['kube-scheduler', 'kube-scheduler.yaml', schedulerManifest(input)],
  ];
  io.out(
    `[upgrade/staticpods] Writing new Static Pod manifests to "/etc/kubernetes/tmp/kubeadm-upgraded-manifests"\n`,
  );
  /** Components whose old manifest is in the backup directory (kubeadm's recoverManifests). */
  const moved: { component: string; file: string }[] = [];
  for (const [component, file, manifest] of parts) {
    const path = join(ops.host.manifests, file);
    const text = stringify(manifest);
    const old = existsSync(path) ? readFileSync(path, 'utf8') : '';
    if (old === text) {
      io.out(`[upgrade/staticpods] Current and new manifests of ${component} are equal, skipping upgrade\n`);
      continue;
    }
    io.out(`[upgrade/staticpods] Preparing for "${component}" upgrade\n`);
    if (old) {
      writeAtomic(ops.host.path(`${backupDir}/${file}`), old, 0o600);
      moved.push({ component, file });
      io.out(
        `[upgrade/staticpods] Moving new manifest to "/etc/kubernetes/manifests/${file}" and backing up old manifest to "${backupDir}/${file}"\n`,
      );
    }
    const tmp = `${path}.kubeadm-new`;
    writeAtomic(tmp, text, 0o600);
    renameSync(tmp, path);
    io.out(
      `[upgrade/staticpods] Waiting for the kubelet to restart the component\n[upgrade/staticpods] This can take up to ${goDuration(timeoutMs)}\n`,
    );
    const waited = await ops.waitStaticPod(component, timeoutMs);
    if (waited.stage !== 'done') {
      // rollbackOldManifests: every moved manifest goes back, etcd's only if etcd itself failed.
      for (const m of moved)
        if (m.component !== 'etcd' || component === 'etcd')
          renameSync(ops.host.path(`${backupDir}/${m.file}`), join(ops.host.manifests, m.file));
      const cause =
        waited.stage === 'hash'
          ? `static Pod hash for component ${component} on Node ${ops.nodeName} did not change after ${goDuration(timeoutMs)}: context deadline exceeded`
          : 'context deadline exceeded';
      let err = `couldn't upgrade control plane. kubeadm has tried to recover everything into the earlier state. Errors faced: ${cause}`;
      if (component === 'etcd') {
        io.out(
          `[upgrade/etcd] Failed to upgrade etcd: ${err}\n[upgrade/etcd] Waiting for previous etcd to become available\n[upgrade/etcd] Etcd was rolled back and is now available\n`,
        );
        err = `fatal error when trying to upgrade the etcd cluster, rolled the state back to pre-upgrade state: ${err}`;
      }
      io.err(phaseError(err));
      return false;
    }
    io.out(
      `[apiclient] Found ${waited.pods} Pods for label selector component=${component}\n[upgrade/staticpods] Component "${component}" upgraded successfully!\n`,
    );
  }
  return true;
}

/**
 * kubeadm's addon phase since v1.28 (phases/upgrade/postupgrade.go PerformAddonsUpgrade): kube-proxy
 * and CoreDNS move only when every control plane runs this node's kube-apiserver image, so that
 * kube-proxy is never newer than a kube-apiserver; the last `upgrade node` does it.
 */
async function upgradeAddons(ops: NodeOps, version: string, io: ShimIO): Promise<void> {
  const apiservers = (await ops.controlPlanePods()).filter((p) => p.component === 'kube-apiserver');
  const mine = apiservers.find((p) => p.node === ops.nodeName)?.image;
  const behind = apiservers.filter((p) => p.image !== mine).map((p) => p.node);
  if (behind.length > 0) {
    io.out(
      `[upgrade/addons] skip upgrade addons because control plane instances [${behind.join(' ')}] have not been upgraded\n`,
    );
    return;
  }
  await ops.upgradeAddons(version);
  io.out(
    '[upgrade/addons] Applied essential addon: CoreDNS\n[upgrade/addons] Applied essential addon: kube-proxy\n',
  );
}

/** kubeadm's version policy for `upgrade apply` (phases/upgrade/policy.go EnforceVersionPolicies). */
async function versionPolicy(
  ops: NodeOps,
  target: string,
  current: string,
  own: string,
): Promise<{ mandatory: string[]; skippable: string[] }> {
  const t = semver.coerce(target)?.version ?? target;
  const cur = current.replace(/^v/, '');
  const k = own.replace(/^v/, '');
  const mandatory: string[] = [];
  const skippable: string[] = [];
  if (semver.major(t) !== semver.major(cur) || semver.minor(t) > semver.minor(cur) + 1)
    mandatory.push(
      `Specified version to upgrade to "${target}" is too high; kubeadm can upgrade only 1 minor version at a time`,
    );
  if (semver.minor(t) < semver.minor(cur))
    mandatory.push(
      `Specified version to upgrade to "${target}" is lower than the cluster version "${current}". Downgrades are not supported yet`,
    );
  if (semver.gt(t, k)) {
    if (semver.minor(t) > semver.minor(k))
      mandatory.push(
        `Specified version to upgrade to "${target}" is at least one minor release higher than the kubeadm minor release (${semver.minor(t)} > ${semver.minor(k)}). Such an upgrade is not supported`,
      );
    else
      skippable.push(
        `Specified version to upgrade to "${target}" is higher than the kubeadm version "${own}". Upgrade kubeadm first using the tool you used to install kubeadm`,
      );
  }
  if (semver.minor(k) > semver.minor(t))
    skippable.push(
      `Kubeadm version ${own} can only be used to upgrade to Kubernetes version ${semver.major(k)}.${semver.minor(k)}`,
    );
  // MaximumAllowedMinorVersionKubeletSkew: 1 before kubeadm v1.29, 3 since (kubernetes#120825).
  const kubeletSkew = semver.minor(k) >= 29 ? 3 : 1;
  const tooOld = [
    ...new Set(
      (await ops.nodes())
        .map((n) => n.kubeletVersion)
        .filter((v) => {
          const kv = semver.coerce(v);
          return kv !== null && semver.minor(t) > kv.minor + kubeletSkew;
        }),
    ),
  ];
  if (tooOld.length > 0)
    skippable.push(
      `There are kubelets in this cluster that are too old that have these versions [${tooOld.join(' ')}]`,
    );
  return { mandatory, skippable };
}

async function kubeadm(ops: NodeOps, args: string[], io: ShimIO): Promise<number> {
  const words = args.filter((a) => !a.startsWith('-'));
  const own = kubeadmVersion(ops);
  if (own === undefined) {
    io.err('kubeadm: command not found\n');
    return 127;
  }
  if (words[0] === 'version') {
    if (args.includes('-o') && args.includes('short')) io.out(`${own}\n`);
    else if (args.some((a) => a === '-o=short' || a === '--output=short')) io.out(`${own}\n`);
    else
      io.out(
        `kubeadm version: &version.Info{Major:"${semver.major(own)}", Minor:"${semver.minor(own)}", GitVersion:"${own}", GitTreeState:"clean", GoVersion:"go1.24.9", Compiler:"gc", Platform:"linux/amd64"}\n`,
      );
    return 0;
  }
  if (words[0] !== 'upgrade') {
    io.err(
      `error: the sandbox's kubeadm shim implements "version" and "upgrade apply|node|plan", not "${words.join(' ')}"\n`,
    );
    return 1;
  }
  const current = await ops.clusterVersion();
  if (words[1] === 'plan') {
    io.out(`[upgrade/versions] Cluster version: ${current}\n[upgrade/versions] kubeadm version: ${own}\n`);
    const next = ops
      .releases()
      .filter((r) => semver.gt(r, current.slice(1)) && semver.minor(r) <= semver.minor(current) + 1)
      .sort(semver.compare)
      .at(-1);
    io.out(
      next
        ? `\nYou can now apply the upgrade by executing the following command:\n\n\tkubeadm upgrade apply v${next}\n`
        : "\nAwesome, you're up-to-date! Enjoy!\n",
    );
    return 0;
  }
  if (words[1] === 'apply') {
    const target = words[2];
    if (!target || !semver.valid(target)) {
      io.err(`[upgrade/version] FATAL: the version argument is invalid: ${target ?? '(missing)'}\n`);
      return 1;
    }
    if (ops.role !== 'control-plane') {
      io.err(
        '[upgrade] FATAL: this node is not a control plane: /etc/kubernetes/manifests/kube-apiserver.yaml is missing\n',
      );
      return 1;
    }
    const force = args.includes('-f') || args.includes('--force');
    if (!args.includes('-y') && !args.includes('--yes') && !force) {
      io.err('[upgrade] FATAL: the sandbox cannot answer prompts; use -y\n');
      return 1;
    }
    io.out(
      `[upgrade] Reading configuration from the "kubeadm-config" ConfigMap in namespace "kube-system"...\n[preflight] Running pre-flight checks.\n[upgrade] Running cluster health checks\n`,
    );
    const notReady = (await ops.nodes()).filter((n) => n.controlPlane && !n.ready).map((n) => n.name);
    if (notReady.length > 0) {
      io.err(
        `[upgrade/health] FATAL: [preflight] Some fatal errors occurred:\n\t[ERROR ControlPlaneNodesReady]: there are NotReady control-planes in the cluster: [${notReady.join(' ')}]\n`,
      );
      return 1;
    }
    const t = semver.coerce(target)?.version ?? target;
    const policy = await versionPolicy(ops, target, current, own);
    if (policy.mandatory.length > 0 || (policy.skippable.length > 0 && !force)) {
      const errs = [...policy.mandatory, ...policy.skippable].map((e) => `\t- ${e}\n`).join('');
      io.err(
        `[upgrade/version] FATAL: the --version argument is invalid due to these errors:\n\n${errs}${policy.mandatory.length === 0 ? '\nCan be bypassed if you pass the --force flag\n' : ''}`,
      );
      return 1;
    }
    if (!ops.releases().includes(t)) {
      io.err(
        `[upgrade/version] FATAL: unable to fetch file. URL: "https://dl.k8s.io/release/${target}/..." status: 404 Not Found\n`,
      );
      return 1;
    }
    io.out(
      `[upgrade/version] You have chosen to change the cluster version to "${target}"\n[upgrade/versions] Cluster version: ${current}\n[upgrade/versions] kubeadm version: ${own}\n`,
    );
    io.out(
      `[upgrade/control-plane] Upgrading your static Pod-hosted control plane to version "v${t}" (timeout: ${goDuration(ops.upgradeManifestsTimeoutMs)})...\n`,
    );
    if (!(await upgradeStaticPods(ops, `v${t}`, io))) return 1;
    await ops.recordClusterVersion(`v${t}`);
    io.out(
      '[upload-config] Storing the configuration used in ConfigMap "kubeadm-config" in the "kube-system" Namespace\n',
    );
    await upgradeAddons(ops, `v${t}`, io);
    io.out(`\n[upgrade] SUCCESS! A control plane node of your cluster was upgraded to "${target}".\n`);
    return 0;
  }
  if (words[1] === 'node') {
    if (ops.role === 'control-plane') {
      io.out(
        '[upgrade] Reading configuration from the "kubeadm-config" ConfigMap in namespace "kube-system"...\n[upgrade] Upgrading your Static Pod-hosted control plane instance to version "' +
          current +
          '"...\n',
      );
      if (semver.gt(current.slice(1), own.slice(1))) {
        io.err(
          `[upgrade] FATAL: the cluster version ${current} is higher than the kubeadm version ${own}; upgrade kubeadm first\n`,
        );
        return 1;
      }
      if (!(await upgradeStaticPods(ops, current, io))) return 1;
      await upgradeAddons(ops, current, io);
      io.out('[upgrade] The control plane instance for this node was successfully upgraded!\n');
    } else {
      io.out(
        '[upgrade] Reading configuration from the "kubeadm-config" ConfigMap in namespace "kube-system"...\n[upgrade] Skipping phase. Not a control plane node.\n',
      );
    }
    io.out(
      '[upgrade/kubelet-config] The kubelet configuration for this node was successfully upgraded!\n[upgrade] Now you should go ahead and upgrade the kubelet package using your package manager.\n',
    );
    return 0;
  }
  io.err(`error: unknown command "${words[1] ?? ''}" for "kubeadm upgrade"\n`);
  return 1;
}

/** Reads the kube-apiserver image tag this node runs per its manifest (for status). */
export function manifestVersion(host: HostLayout): string | undefined {
  const p = join(host.manifests, 'kube-apiserver.yaml');
  if (!existsSync(p)) return undefined;
  const pod = parse(readFileSync(p, 'utf8')) as Pod;
  return imageTag(pod.spec.containers[0]?.image ?? '');
}
