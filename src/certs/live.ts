// The parts of `certs` that talk to a running cluster: the ports of `check --served` and the
// restart phase of `renew`. They build the kube ports from the kubeconfig the CLI names
// (kube/client.ts) and the real TLS probe, then run the port-based logic of served.ts and
// restart.ts. Results are values and progress is events; nothing here prints.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BosunError, UsageError, errorMessage } from '../common/errors.ts';
import type { Clock } from '../common/ports.ts';
import { createKubeClients, type KubeClientOptions, type KubeClients } from '../kube/client.ts';
import { createNodePods } from '../kube/node-pods.ts';
import type { CertPaths } from './check.ts';
import { certsKube, kubeadmConfigVersion } from './kube-adapter.ts';
import { parkingDir, type ClusterVersionReader } from './node-version.ts';
import type { CertsEventSink } from './progress.ts';
import type { RestartOutcome, RestartPhase } from './renew-command.ts';
import type { StaticPodComponent } from './renew.ts';
import {
  etcdRestartAllowed,
  restartStaticPods,
  waitStaticPodsReady,
  type StaticPodsKube,
} from './restart.ts';
import {
  checkServed,
  localNodeName,
  type ReadyzProbe,
  type ServedKube,
  type ServedRow,
  type TlsProbe,
} from './served.ts';
import { nodeReadyzProbe, nodeTlsProbe } from './tls-probe.ts';

/** The ports the live parts use; tests pass fakes, the CLI the real ones. */
export interface LivePorts {
  kube: StaticPodsKube & ServedKube;
  tls: TlsProbe;
  health: ReadyzProbe;
}

/** Builds the real ports from kubeconfig options (no request is made yet). */
export function realLivePorts(cluster: KubeClientOptions): LivePorts {
  return livePortsFromClients(createKubeClients(cluster));
}

/** How long the lookup of the cluster's kubeadm version may take when --request-timeout is 0. */
const VERSION_LOOKUP_TIMEOUT_MS = 10_000;

/**
 * Reads the cluster's kubeadm version (kube-system/kubeadm-config) through the kubeconfig the CLI
 * names. It only tells which files to expect, so a request never waits past 10 s (or a shorter
 * --request-timeout).
 */
export function realClusterVersion(cluster: KubeClientOptions): ClusterVersionReader {
  const given = cluster.requestTimeoutMs ?? 0;
  const requestTimeoutMs = given > 0 ? Math.min(given, VERSION_LOOKUP_TIMEOUT_MS) : VERSION_LOOKUP_TIMEOUT_MS;
  return () => kubeadmConfigVersion(createKubeClients({ ...cluster, requestTimeoutMs }));
}

/** The real ports on clients already built (the demo's). */
export function livePortsFromClients(clients: KubeClients): LivePorts {
  return { kube: certsKube(createNodePods(clients)), tls: nodeTlsProbe(), health: nodeReadyzProbe() };
}

/**
 * After the restarts: polls until this node's restarted servers are reachable (their mirror pods
 * found, a TLS handshake answered) and, when kube-apiserver or etcd restarted, until this node's
 * kube-apiserver is ready again (its etcd client reconnects only after etcd is back, and the API
 * answers errors meanwhile). Stops early when a server answers with a certificate that differs
 * from disk: a process that came back Ready with the old one will not change by waiting. Returns
 * the rows of `wanted` and, when the deadline passed first, what it was still waiting for.
 */
async function settle(
  o: {
    paths: CertPaths;
    node: string;
    wanted: ReadonlySet<ServedRow['component']>;
    apiserverRestarted: boolean;
    timeoutMs: number;
    pollMs?: number;
  },
  deps: { ports: LivePorts; clock: Clock; onEvent: CertsEventSink; signal?: AbortSignal },
): Promise<{ rows: ServedRow[]; waiting: string | undefined }> {
  const deadline = deps.clock.now().getTime() + o.timeoutMs;
  let rows: ServedRow[] = [];
  let said = '';
  for (;;) {
    let waiting: string;
    try {
      const all = (
        await checkServed(
          { paths: o.paths, localNode: o.node, onlyNode: o.node, now: deps.clock.now(), warnWithinMs: 0 },
          deps.ports,
        )
      ).rows.filter((r) => r.node === o.node);
      rows = all.filter((r) => o.wanted.has(r.component));
      const missing = [...o.wanted].filter((c) => !rows.some((r) => r.component === c));
      const unreachable = rows.filter((r) => r.status === 'unreachable');
      if (rows.some((r) => r.onDisk === 'different')) return { rows, waiting: undefined };
      if (missing.length > 0 || unreachable.length > 0) {
        waiting = `${[...missing, ...unreachable.map((r) => r.component)].join(', ')} on ${o.node} to answer`;
      } else {
        const api = all.find((r) => r.component === 'kube-apiserver');
        const target = api === undefined ? undefined : hostPort(api.endpoint);
        if (!o.apiserverRestarted || target === undefined) return { rows, waiting: undefined };
        let status: number | string;
        try {
          status = await deps.ports.health.readyz(target);
        } catch (e) {
          status = errorMessage(e);
        }
        // 401/403: anonymous /readyz is disabled there, so readiness cannot be seen; it answers.
        if (status === 200 || status === 401 || status === 403) return { rows, waiting: undefined };
        waiting = `kube-apiserver on ${o.node} to be ready (/readyz: ${status})`;
      }
    } catch (e) {
      waiting = `the API to answer (${errorMessage(e)})`;
    }
    if (deps.clock.now().getTime() >= deadline) return { rows, waiting };
    if (waiting.replace(/ \(.*$/, '') !== said) {
      said = waiting.replace(/ \(.*$/, '');
      deps.onEvent({ type: 'waiting', what: said });
    }
    if (deps.signal?.aborted) throw new BosunError(`interrupted while waiting for ${said}`, 'INTERRUPTED');
    await deps.clock.sleep(o.pollMs ?? 1000, deps.signal);
  }
}

/** "127.0.0.1:6443" or "[::1]:6443" as host and port. */
function hostPort(endpoint: string): { host: string; port: number } | undefined {
  const m = /^\[?([^\]]*?)\]?:(\d+)$/.exec(endpoint);
  return m ? { host: m[1] ?? '', port: Number(m[2]) } : undefined;
}

const SERVED_BY: Record<StaticPodComponent, ServedRow['component'][]> = {
  'kube-apiserver': ['kube-apiserver'],
  etcd: ['etcd-client', 'etcd-peer'],
  'kube-controller-manager': [],
  'kube-scheduler': [],
};

/**
 * The restart phase of `certs renew`: restart the static pods, then prove the new certs are served.
 * `ports` is called in the preflight and again after the renewal, so that a kubeconfig the renewal
 * rewrote (an expired admin.conf) is read anew.
 */
export function makeRestartPhase(o: {
  ports: () => LivePorts;
  clock: Clock;
  onEvent: CertsEventSink;
  timeoutMs: number;
  node?: string | undefined;
  signal?: AbortSignal;
}): RestartPhase {
  let node: string | undefined = o.node;
  const nodeName = async (paths: CertPaths): Promise<string> => {
    node = o.node ?? (await localNodeName(paths));
    if (!node) {
      throw new UsageError("cannot tell this control plane's node name from its certificates", {
        hint: 'Pass --node NAME, or --no-restart to renew the files only.',
      });
    }
    return node;
  };
  return {
    async resume(paths, components) {
      await waitStaticPodsReady(
        { node: await nodeName(paths), components, timeoutMs: o.timeoutMs },
        {
          kube: o.ports().kube,
          clock: o.clock,
          onEvent: o.onEvent,
          ...(o.signal ? { signal: o.signal } : {}),
        },
      );
    },
    async preflight(paths, components) {
      await nodeName(paths);
      const ports = o.ports();
      if (components.includes('etcd') && existsSync(join(paths.configDir, 'manifests', 'etcd.yaml'))) {
        // Refuse before changing anything when etcd could not be restarted afterwards. An API that
        // does not answer (its own certificate expired) is no refusal: the restart checks again.
        let members: { name: string; ready: boolean }[] | undefined;
        try {
          members = await ports.kube.listEtcdPods();
        } catch (e) {
          o.onEvent({
            type: 'warning',
            message: `cannot check etcd's quorum before renewing (${errorMessage(e)}); it is checked again before etcd restarts`,
          });
        }
        const verdict = members && etcdRestartAllowed(members, `etcd-${node}`);
        if (verdict && !verdict.allowed) {
          throw new BosunError(`not renewing: ${verdict.reason}`, 'PRECONDITION', {
            hint: 'Nothing was changed. Renew once every etcd member is Ready (kubectl -n kube-system get pods -l component=etcd), or renew with --no-restart and restart etcd later.',
          });
        }
      }
    },
    async run(result, paths): Promise<RestartOutcome> {
      if (!node) throw new BosunError('restart phase run without preflight', 'INTERNAL');
      const ports = o.ports();
      const { restarted, skipped } = await restartStaticPods(
        {
          node,
          components: result.components,
          manifestsDir: join(paths.configDir, 'manifests'),
          parkingDir: parkingDir(paths),
          timeoutMs: o.timeoutMs,
        },
        { kube: ports.kube, clock: o.clock, onEvent: o.onEvent, ...(o.signal ? { signal: o.signal } : {}) },
      );
      const wanted = new Set(restarted.flatMap((c) => SERVED_BY[c]));
      const here = node;
      const settled = await settle(
        {
          paths,
          node: here,
          wanted,
          apiserverRestarted: restarted.some((c) => c === 'kube-apiserver' || c === 'etcd'),
          timeoutMs: o.timeoutMs,
        },
        { ports, clock: o.clock, onEvent: o.onEvent, ...(o.signal ? { signal: o.signal } : {}) },
      );
      const rows = settled.rows;
      const outcome: RestartOutcome = {
        node: here,
        restarted,
        notRestarted: skipped,
        served: rows,
        timeoutMs: o.timeoutMs,
      };
      const notLive = rows.filter((r) => r.onDisk !== 'same');
      const missing = [...wanted].filter((c) => !rows.some((r) => r.component === c));
      if (notLive.length > 0) return { ...outcome, problem: { kind: 'not-live', rows: notLive } };
      if (missing.length > 0 || settled.waiting !== undefined)
        return {
          ...outcome,
          problem: { kind: 'timeout', waiting: settled.waiting ?? `${missing.join(', ')} on ${here}` },
        };
      return outcome;
    },
  };
}
