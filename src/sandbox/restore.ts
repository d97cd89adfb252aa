// `bosun sandbox restore`: brings a sandbox back to an etcd snapshot the way an admin restores a
// kubeadm control plane (kubernetes.io "Operating etcd clusters: restoring an etcd cluster", and
// etcd's disaster-recovery guide): stop every kube-apiserver and etcd by moving their static pod
// manifests out of /etc/kubernetes/manifests, restore every member's data dir from the same
// snapshot (bosun's restoreSnapshot: etcdctl snapshot restore with the member's --name and peer
// URL, the whole --initial-cluster and a new cluster token), move the etcd manifests back, then
// the kube-apiserver ones. The previous data dir of each member is kept beside it as
// `etcd.before-restore`. The sandbox's own controllers and kubelets are restarted around it by
// the caller (cluster.ts), as the admin restarts kube-controller-manager, kube-scheduler and the
// kubelets so that nothing acts on what it cached from the history the restore rewound.
//
// Nothing is touched before the snapshot has been verified; when a member's restore fails, the
// new data dirs are removed and the manifests moved back, so the cluster runs on as before.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { parse } from 'yaml';
import { BosunError, errorMessage } from '../common/errors.ts';
import type { Exec } from '../common/ports.ts';
import { restoreSnapshot, verifySnapshotFile, type EncryptionKey } from '../etcd/index.ts';
import type { Pod } from './apiserver/types.ts';
import type { SandboxLayout } from './layout.ts';
import { flagValue } from './node/manifests.ts';

/** The static pods a restore stops: kube-apiserver first (it must never run on a half-restored etcd), then etcd. */
const STOPPED = ['kube-apiserver', 'etcd'] as const;

/** What one etcd member's manifest says about it. */
export interface RestoreMember {
  node: string;
  name: string;
  peerUrls: string;
  /** The data dir on the host (the manifest's --data-dir mapped into the node's host directory). */
  dataDir: string;
}

/** The outcome of a sandbox restore. */
export interface SandboxRestoreResult {
  file: string;
  revision: number;
  keys: number;
  members: string[];
  initialCluster: string;
  initialClusterToken: string;
  /** The previous data dir of each member, kept beside the new one. */
  previousDataDirs: string[];
}

/** What the restore needs from a running sandbox (all optional steps are no-ops on a stopped one). */
export interface RestoreHooks {
  /** Is this static pod's container running on this node? */
  isRunning(node: string, component: string): boolean;
  /** Polls until check() holds; rejects with a message naming `what` after timeoutMs. */
  waitFor(what: string, timeoutMs: number, check: () => boolean | Promise<boolean>): Promise<void>;
  /** Is this member's etcd healthy (answers /health on its client URL)? */
  etcdHealthy(node: string): Promise<boolean>;
  /** Does the API answer through this node's kube-apiserver? */
  apiserverUp(node: string): Promise<boolean>;
}

/** Options of a restore. */
export interface SandboxRestoreOptions {
  file: string;
  key: EncryptionKey | null;
  exec: Exec;
  env: Readonly<Record<string, string | undefined>>;
  tmpDir: string;
  progress: (line: string) => void;
  now: Date;
  /** A running sandbox; absent for one that is stopped (only the data dirs change). */
  running?: RestoreHooks;
  /** Called once the snapshot is verified, before anything is stopped or changed. */
  beforeStop?: () => Promise<void>;
}

/** Reads the etcd member of one control plane from its etcd.yaml. */
export function readMember(layout: SandboxLayout, node: string): RestoreMember {
  const host = layout.host(node);
  const file = join(host.manifests, 'etcd.yaml');
  let pod: Pod;
  try {
    pod = parse(readFileSync(file, 'utf8')) as Pod;
  } catch (e) {
    throw new BosunError(
      `cannot read the etcd manifest of ${node} (${file}): ${errorMessage(e)}`,
      'SANDBOX',
      {
        hint: `A restore needs every control plane's etcd.yaml in ${host.manifests}. If an earlier restore was interrupted, move the manifests back from ${join(host.etcKubernetes, 'tmp')}.`,
      },
    );
  }
  const c = pod.spec?.containers?.[0];
  const cmd = [...(c?.command ?? []), ...(c?.args ?? [])];
  const name = flagValue(cmd, 'name');
  const peerUrls = flagValue(cmd, 'initial-advertise-peer-urls');
  const dataDir = flagValue(cmd, 'data-dir');
  if (!name || !peerUrls || !dataDir)
    throw new BosunError(
      `the etcd manifest of ${node} lacks --name, --initial-advertise-peer-urls or --data-dir`,
      'SANDBOX',
    );
  return { node, name, peerUrls, dataDir: host.path(dataDir) };
}

function stamp(now: Date): string {
  return now
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/**
 * Restores every control plane's etcd member from one snapshot. On a running sandbox it stops
 * the API servers and etcd through their manifests and starts them again; the caller restarts
 * its control loops afterwards.
 */
export async function restoreSandboxEtcd(
  layout: SandboxLayout,
  controlPlanes: readonly string[],
  o: SandboxRestoreOptions,
): Promise<SandboxRestoreResult> {
  o.progress(`Verifying ${o.file}`);
  const report = verifySnapshotFile(o.file, { key: o.key });
  if (!report.ok || report.status === null) {
    throw new BosunError(
      `snapshot ${o.file} is invalid: ${report.problem ?? 'unknown problem'}`,
      'SNAPSHOT_INVALID',
      {
        hint: 'Nothing was changed. Use another backup (bosun backup list).',
      },
    );
  }
  const members = controlPlanes.map((n) => readMember(layout, n));
  await o.beforeStop?.();
  // etcd's disaster recovery: every member from the same snapshot, with the whole membership
  // and a new token, so that the restored cluster cannot mix with members of the old one.
  const initialCluster = members
    .flatMap((m) => m.peerUrls.split(',').map((u) => `${m.name}=${u.trim()}`))
    .join(',');
  const token = `bosun-restore-${randomBytes(6).toString('hex')}`;
  const aside = join('tmp', `bosun-restore-${stamp(o.now)}`);
  const moved: { from: string; to: string }[] = [];
  const newDirs: string[] = [];
  const running = o.running;

  const moveBack = async (components: readonly string[]): Promise<void> => {
    for (const m of [...moved].reverse()) {
      if (!components.some((c) => m.from.endsWith(`/${c}.yaml`))) continue;
      renameSync(m.to, m.from);
      moved.splice(moved.indexOf(m), 1);
    }
    if (!running) return;
    for (const c of components) {
      for (const n of controlPlanes) {
        if (c === 'etcd') await running.waitFor(`etcd on ${n}`, 60_000, () => running.etcdHealthy(n));
        else await running.waitFor(`kube-apiserver on ${n}`, 60_000, () => running.apiserverUp(n));
      }
    }
  };

  try {
    if (running) {
      o.progress(
        `Stopping kube-apiserver and etcd on ${controlPlanes.join(', ')} (moving their manifests to /etc/kubernetes/${aside})`,
      );
      for (const c of STOPPED) {
        for (const n of controlPlanes) {
          const host = layout.host(n);
          const from = join(host.manifests, `${c}.yaml`);
          if (!existsSync(from)) continue;
          const dir = join(host.etcKubernetes, aside);
          mkdirSync(dir, { recursive: true, mode: 0o700 });
          const to = join(dir, `${c}.yaml`);
          renameSync(from, to);
          moved.push({ from, to });
        }
        await running.waitFor(`${c} to stop`, 60_000, () =>
          controlPlanes.every((n) => !running.isRunning(n, c)),
        );
      }
    }
    for (const m of members) {
      const target = `${m.dataDir}.bosun-restore`;
      rmSync(target, { recursive: true, force: true });
      newDirs.push(target);
      o.progress(`Restoring member ${m.name} on ${m.node}`);
      await restoreSnapshot(
        {
          file: o.file,
          dataDir: target,
          name: m.name,
          initialCluster,
          initialAdvertisePeerUrls: m.peerUrls,
          initialClusterToken: token,
          key: o.key,
        },
        { exec: o.exec, env: o.env },
      );
    }
  } catch (e) {
    for (const d of newDirs) rmSync(d, { recursive: true, force: true });
    await moveBack(['etcd', 'kube-apiserver']).catch((e2: unknown) =>
      o.progress(`WARNING: ${errorMessage(e2)}`),
    );
    throw e;
  }
  // Past this point the old data is only kept aside: the new one goes in place.
  const previous: string[] = [];
  for (const m of members) {
    const old = `${m.dataDir}.before-restore`;
    rmSync(old, { recursive: true, force: true });
    if (existsSync(m.dataDir)) {
      renameSync(m.dataDir, old);
      previous.push(old);
    }
    renameSync(`${m.dataDir}.bosun-restore`, m.dataDir);
  }
  if (running) {
    o.progress('Starting etcd (moving etcd.yaml back)');
    await moveBack(['etcd']);
    o.progress('Starting kube-apiserver (moving kube-apiserver.yaml back)');
    await moveBack(['kube-apiserver']);
    for (const n of controlPlanes) {
      const dir = join(layout.host(n).etcKubernetes, aside);
      if (existsSync(dir) && readdirSync(dir).length === 0) rmSync(dir, { recursive: true, force: true });
    }
  }
  return {
    file: o.file,
    revision: report.status.revision,
    keys: report.liveKeys ?? 0,
    members: members.map((m) => m.name),
    initialCluster,
    initialClusterToken: token,
    previousDataDirs: previous,
  };
}
