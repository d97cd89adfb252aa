// Restarts a control plane's static pods the kubeadm way, so they load renewed certificates: the
// manifest is moved out of manifests/, bosun waits until the mirror pod is gone, moves it back and
// waits until the mirror pod is Ready again; one component at a time, etcd last and only while
// etcd's quorum holds without this member. A manifest bosun moved out is always moved back, even
// when a wait fails or the user interrupts; one a kill left out is put back by the next run
// (unparkManifests), which waits until that static pod is Ready again before going on.
import { access, mkdir, readFile, readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { BosunError } from '../common/errors.ts';
import type { Clock } from '../common/ports.ts';
import type { CertsEventSink } from './progress.ts';
import { etcdRestartAllowed } from './quorum.ts';
import { RESTART_ORDER, type StaticPodComponent } from './renew.ts';

export { etcdRestartAllowed } from './quorum.ts';

/** A mirror pod as the restart needs it. */
export interface MirrorPodView {
  uid: string;
  ready: boolean;
}

/**
 * getMirrorPod's answer when no API server answered at all: the connection was refused or reset,
 * or the API server answered 5xx because it cannot reach its storage. That is what this node's
 * kube-apiserver, or a lone etcd, looks like while it restarts.
 */
export const API_UNAVAILABLE = 'api-unavailable';

/** The narrow kube port the restart needs. */
export interface StaticPodsKube {
  /**
   * kube-system/<name>, null when it does not exist, API_UNAVAILABLE when no API server answers.
   * Throws for any other failure, notably a TLS verification failure: an API server that still
   * serves a certificate the client rejects (an expired one) has not gone away.
   */
  getMirrorPod(name: string): Promise<MirrorPodView | null | typeof API_UNAVAILABLE>;
  /** Every etcd member's mirror pod (kube-system, component=etcd) and whether it is Ready. */
  listEtcdPods(): Promise<{ name: string; ready: boolean }[]>;
}

/** Where the manifests are and where one waits while it is out. */
export interface ManifestDirs {
  /** <config-dir>/manifests */
  manifestsDir: string;
  /** A directory on the same filesystem, outside manifests/ (<config-dir>/tmp/bosun-restart). */
  parkingDir: string;
}

/** How the restart behaves. */
export interface RestartOptions extends ManifestDirs {
  node: string;
  components: readonly StaticPodComponent[];
  /** Per wait (gone, then Ready). */
  timeoutMs: number;
  /** Poll interval; default 1s. */
  pollMs?: number;
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}

/** What restartStaticPods did. */
export interface RestartResult {
  /** Restarted, in order. */
  restarted: StaticPodComponent[];
  /** Not restarted because they are no static pods on this node, and why. */
  skipped: { component: StaticPodComponent; reason: string }[];
}

/**
 * Restarts the given static pods in order (a component without a manifest on this node is skipped
 * with a warning, and returned as skipped). Throws a BosunError at the first one that fails.
 */
export async function restartStaticPods(
  opts: RestartOptions,
  deps: { kube: StaticPodsKube; clock: Clock; onEvent: CertsEventSink; signal?: AbortSignal },
): Promise<RestartResult> {
  const poll = opts.pollMs ?? 1000;
  const restarted: StaticPodComponent[] = [];
  const skipped: RestartResult['skipped'] = [];
  await mkdir(opts.parkingDir, { recursive: true, mode: 0o700 });
  for (const component of opts.components) {
    const pod = `${component}-${opts.node}`;
    const manifest = join(opts.manifestsDir, `${component}.yaml`);
    const parked = join(opts.parkingDir, `${component}.yaml`);
    if (!(await exists(manifest))) {
      if (await exists(parked)) {
        throw new BosunError(
          `${manifest} is missing but ${parked} exists: a previous restart was interrupted`,
          'PRECONDITION',
          {
            hint: `Move it back (mv ${parked} ${manifest}), wait until ${pod} is Ready, and run again.`,
          },
        );
      }
      deps.onEvent({
        type: 'warning',
        message: `${manifest} does not exist; ${component} is not a static pod on this node, skipped`,
      });
      skipped.push({
        component,
        reason: `${manifest} does not exist: it does not run as a static pod on this node`,
      });
      continue;
    }
    if (component === 'etcd') {
      const verdict = etcdRestartAllowed(await deps.kube.listEtcdPods(), pod);
      if (!verdict.allowed) {
        throw new BosunError(`not restarting etcd: ${verdict.reason}`, 'PRECONDITION', {
          hint: `The new etcd certificates are on disk; restart ${pod} once the other members are healthy (bosun certs renew etcd-server etcd-peer, or move the manifest out and back).`,
        });
      }
      if (verdict.reason.startsWith('single-member'))
        deps.onEvent({ type: 'warning', message: verdict.reason });
    }
    // kube-apiserver answers the API itself (and a lone etcd backs it): while it is down, an
    // unavailable API is as good as "gone". An API that still answers, even with a certificate
    // the client rejects, is not.
    const apiMayVanish = component === 'kube-apiserver' || component === 'etcd';
    const step = (s: 'moving-out' | 'moved-back' | 'ready'): void =>
      deps.onEvent({ type: 'restart', pod, component, step: s, manifestsDir: opts.manifestsDir });
    step('moving-out');
    await rename(manifest, parked);
    try {
      await waitFor(`${pod} to go away`, opts.timeoutMs, poll, deps, async () => {
        const p = await deps.kube.getMirrorPod(pod);
        if (p === API_UNAVAILABLE && !apiMayVanish) throw new Error('the API is unavailable');
        return p === null || p === API_UNAVAILABLE;
      });
    } finally {
      await rename(parked, manifest);
      step('moved-back');
    }
    await waitFor(`${pod} to be Ready`, opts.timeoutMs, poll, deps, async () => {
      const p = await deps.kube.getMirrorPod(pod);
      if (p === API_UNAVAILABLE) throw new Error('the API is unavailable');
      return p?.ready === true;
    });
    step('ready');
    restarted.push(component);
  }
  return { restarted, skipped };
}

/**
 * Puts back the manifests an interrupted restart left in the parking directory (a kill between
 * moving one out and moving it back), naming each; a parked copy of a manifest that is back in
 * place is removed. Returns the components whose manifest it moved back: their static pods start
 * again, and a restart phase waits until they are Ready before it does anything else.
 */
export async function unparkManifests(
  dirs: ManifestDirs,
  onEvent: CertsEventSink,
): Promise<StaticPodComponent[]> {
  let names: string[];
  try {
    names = await readdir(dirs.parkingDir);
  } catch {
    return [];
  }
  const moved: StaticPodComponent[] = [];
  for (const component of RESTART_ORDER) {
    const file = `${component}.yaml`;
    if (!names.includes(file)) continue;
    const parked = join(dirs.parkingDir, file);
    const manifest = join(dirs.manifestsDir, file);
    if (!(await exists(manifest))) {
      await rename(parked, manifest);
      moved.push(component);
      onEvent({
        type: 'recovered',
        message: `[recover] moved ${file} back into ${dirs.manifestsDir}: an interrupted restart left it in ${dirs.parkingDir}`,
      });
    } else if ((await readFile(parked, 'utf8')) === (await readFile(manifest, 'utf8'))) {
      await rm(parked, { force: true });
      onEvent({
        type: 'recovered',
        message: `[recover] removed ${parked}: a copy of ${manifest} an interrupted restart left`,
      });
    } else {
      onEvent({
        type: 'warning',
        message: `${parked} differs from ${manifest}; left as it is (remove it once you know which is right)`,
      });
    }
  }
  return moved;
}

/** Waits until the mirror pods of these components on node are Ready, one after the other. */
export async function waitStaticPodsReady(
  opts: { node: string; components: readonly StaticPodComponent[]; timeoutMs: number; pollMs?: number },
  deps: { kube: StaticPodsKube; clock: Clock; onEvent: CertsEventSink; signal?: AbortSignal },
): Promise<void> {
  for (const component of opts.components) {
    const pod = `${component}-${opts.node}`;
    await waitFor(`${pod} to be Ready`, opts.timeoutMs, opts.pollMs ?? 1000, deps, async () => {
      const p = await deps.kube.getMirrorPod(pod);
      if (p === API_UNAVAILABLE) throw new Error('the API is unavailable');
      return p?.ready === true;
    });
    deps.onEvent({ type: 'restart', pod, component, step: 'ready', manifestsDir: '' });
  }
}

/**
 * Polls check every pollMs until it returns true, tolerating thrown errors (the API may be
 * restarting) until the deadline; then throws a TIMEOUT naming the last error.
 */
async function waitFor(
  what: string,
  timeoutMs: number,
  pollMs: number,
  deps: { clock: Clock; signal?: AbortSignal },
  check: () => Promise<boolean>,
): Promise<void> {
  const deadline = deps.clock.now().getTime() + timeoutMs;
  for (;;) {
    let lastError: string | undefined;
    if (deps.signal?.aborted) throw new BosunError(`interrupted while waiting for ${what}`, 'INTERRUPTED');
    try {
      if (await check()) return;
    } catch (e) {
      lastError = e instanceof Error ? e.message : String(e);
    }
    if (deps.clock.now().getTime() >= deadline) {
      throw new BosunError(
        `timed out after ${Math.round(timeoutMs / 1000)}s waiting for ${what}${lastError ? ` (last error: ${lastError})` : ''}`,
        'TIMEOUT',
        {
          hint: "Check the kubelet on this node (journalctl -u kubelet) and the static pod's container logs.",
        },
      );
    }
    await deps.clock.sleep(pollMs, deps.signal);
  }
}
