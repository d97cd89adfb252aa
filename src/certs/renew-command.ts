// `bosun certs renew` end to end: holding the node's renew lock, finish what a killed run left
// (its temporary files, an unfinished backup, a manifest it had moved out), renew the files, then
// (unless --no-restart) restart the static pods that read them the kubeadm way and prove with a
// served-certificate check that the new ones are live. Progress goes to deps.onEvent and the outcome is returned: whether the new certificates
// are served is a value the CLI prints and turns into an exit code. Failures that stop the command
// (a refusal, an interrupted wait) are BosunErrors.
import { isAbsolute, join } from 'node:path';
import type { Clock } from '../common/ports.ts';
import type { CertPaths } from './check.ts';
import { resolveCertPaths, type PathFlags } from './paths.ts';
import { acquireRenewLock, removeLeftovers } from './leftovers.ts';
import { nodeKubeadmVersion, parkingDir, type ClusterVersionReader } from './node-version.ts';
import type { CertsEventSink } from './progress.ts';
import {
  componentsUsing,
  renewCertificates,
  resolveRenewNames,
  type RenewResult,
  type StaticPodComponent,
} from './renew.ts';
import { unparkManifests } from './restart.ts';
import type { ServedRow } from './served.ts';

/** What `certs renew` was asked. */
export interface RenewOptions extends PathFlags {
  names: readonly string[];
  /** Parent of the dated backup dir; default <config-dir>/tmp. */
  backupDir?: string | undefined;
  validityMs: number;
  restart: boolean;
  cwd: string;
}

/** What the restart phase found after restarting this node's static pods. */
export interface RestartOutcome {
  node: string;
  /** The static pods restarted, in order. */
  restarted: StaticPodComponent[];
  /**
   * The static pods that read renewed files but were not restarted, because they are no static
   * pods on this node (kube-apiserver run by systemd, external etcd), and why: they still use the
   * old certificates.
   */
  notRestarted: { component: StaticPodComponent; reason: string }[];
  /** This node's servers of the restarted components (kube-apiserver, etcd), after the restart. */
  served: ServedRow[];
  /** The per-wait timeout the restart ran with. */
  timeoutMs: number;
  /**
   * Why the new certificates are not known to be live; absent when every restarted server
   * presents the certificate on disk. 'timeout': a server never answered (waiting says what for);
   * 'not-live': these servers answer with a certificate other than the one on disk.
   */
  problem?: { kind: 'timeout'; waiting: string } | { kind: 'not-live'; rows: ServedRow[] };
}

/** The restart phase of a renewal; built only when --no-restart is not given. */
export interface RestartPhase {
  /**
   * Finishes the restarts an interrupted run began: waits until the static pods whose manifests
   * were just put back are Ready again, before anything else is done.
   */
  resume(paths: CertPaths, components: readonly StaticPodComponent[]): Promise<void>;
  /**
   * Runs before anything is renewed, with the static pods the renewal will restart: refuses early
   * (unknown node name, no kubeconfig, an etcd restart that would lose quorum).
   */
  preflight(paths: CertPaths, components: readonly StaticPodComponent[]): Promise<void>;
  /** Restarts the static pods that read the renewed files and checks what they serve. */
  run(result: RenewResult, paths: CertPaths): Promise<RestartOutcome>;
}

/** What a renewal did. */
export interface RenewOutcome {
  /** The files renewed and where the old ones are. */
  result: RenewResult;
  /** Absent when nothing needed a restart or the restart was not asked for. */
  restart?: RestartOutcome;
}

/**
 * Renews on files and, when asked, restarts and verifies through `restart`. deps.onEvent hears of
 * the renewal as soon as the files are written, then of every step of the restart.
 */
export async function runCertsRenew(
  opts: RenewOptions,
  deps: {
    clock: Clock;
    onEvent: CertsEventSink;
    restart?: RestartPhase;
    /** Asked for the cluster's kubeadm version when no static pod manifest on the node names it. */
    clusterVersion?: ClusterVersionReader;
  },
): Promise<RenewOutcome> {
  const paths = resolveCertPaths(opts, opts.cwd);
  const backupRoot =
    opts.backupDir === undefined
      ? join(paths.configDir, 'tmp')
      : isAbsolute(opts.backupDir)
        ? opts.backupDir
        : join(opts.cwd, opts.backupDir);
  const restart = opts.restart ? deps.restart : undefined;
  const lock = await acquireRenewLock(paths, { now: deps.clock.now(), onEvent: deps.onEvent });
  try {
    // First what an interrupted run left: its files, and a restart it did not finish.
    await removeLeftovers(paths, backupRoot, deps.onEvent);
    const unparked = await unparkManifests(
      { manifestsDir: join(paths.configDir, 'manifests'), parkingDir: parkingDir(paths) },
      deps.onEvent,
    );
    if (unparked.length > 0) {
      if (restart) await restart.resume(paths, unparked);
      else
        deps.onEvent({
          type: 'warning',
          message: `the kubelet starts ${unparked.join(', ')} again from the manifest put back; check that it is Ready`,
        });
    }

    const kubernetesVersion = await nodeKubeadmVersion(paths, {
      clusterVersion: deps.clusterVersion,
      onWarning: (message) => deps.onEvent({ type: 'warning', message }),
    });
    if (restart)
      await restart.preflight(paths, componentsUsing(resolveRenewNames(opts.names, kubernetesVersion)));
    const result = await renewCertificates({
      names: opts.names,
      paths,
      backupRoot,
      validityMs: opts.validityMs,
      now: deps.clock.now(),
      kubernetesVersion,
    });
    deps.onEvent({ type: 'renewed', result });
    if (result.components.length === 0 || !restart) return { result };
    return { result, restart: await restart.run(result, paths) };
  } finally {
    await lock.release();
  }
}
