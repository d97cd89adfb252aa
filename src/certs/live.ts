// The parts of `certs` that talk to a running cluster: `check --served` and the restart phase of
// `renew`. They build the kube ports from the kubeconfig the CLI names (kube/client.ts) and the
// real TLS probe, then run the port-based logic of served.ts and restart.ts.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BosunError, UsageError, errorMessage } from '../common/errors.ts';
import type { Clock, Output } from '../common/ports.ts';
import { createKubeClients, type KubeClientOptions, type KubeClients } from '../kube/client.ts';
import { createNodePods } from '../kube/node-pods.ts';
import type { CertPaths } from './check.ts';
import { checkExitCode, formatExpires, residualSeconds, shortHumanDuration } from './expiry.ts';
import { certsKube } from './kube-adapter.ts';
import type { RestartPhase } from './renew-command.ts';
import type { StaticPodComponent } from './renew.ts';
import { tabwrite } from './report.ts';
import { etcdRestartAllowed, restartStaticPods, type StaticPodsKube } from './restart.ts';
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

/** The real ports on clients already built (the demo's). */
export function livePortsFromClients(clients: KubeClients): LivePorts {
  return { kube: certsKube(createNodePods(clients)), tls: nodeTlsProbe(), health: nodeReadyzProbe() };
}

/** The --served table: one row per endpoint. */
export function formatServedTable(
  rows: readonly ServedRow[],
  now: Date,
  opts: { noHeaders?: boolean } = {},
): string[] {
  const lines: string[][] = [];
  if (!opts.noHeaders)
    lines.push(['NODE', 'COMPONENT', 'ENDPOINT', 'EXPIRES', 'RESIDUAL TIME', 'SAME AS DISK', 'STATUS']);
  for (const r of rows) {
    const f = r.facts;
    const disk = r.onDisk === 'same' ? 'yes' : r.onDisk === 'different' ? 'NO' : '-';
    const status =
      r.status === 'unreachable'
        ? `unreachable: ${r.error ?? ''}`
        : r.status === 'stale'
          ? 'serves an older certificate than the one on disk (restart pending)'
          : r.signedByCa === false
            ? `${r.status}, not signed by the CA on disk`
            : r.status;
    lines.push([
      r.node,
      r.component,
      r.endpoint,
      f ? formatExpires(f.notAfter) : '',
      f ? shortHumanDuration(residualSeconds(f.notAfter, now)) : '',
      disk,
      status,
    ]);
  }
  return tabwrite(lines);
}

/** The exit code of --served: problems (unreachable, stale, wrong CA) 1, expiry 3, else 0. */
export function servedExitCode(rows: readonly ServedRow[]): 0 | 1 | 3 {
  if (rows.some((r) => r.status === 'unreachable' || r.status === 'stale' || r.signedByCa === false))
    return 1;
  return checkExitCode(
    rows.map((r) => (r.status === 'unreachable' || r.status === 'stale' ? 'invalid' : r.status)),
  );
}

/** Runs `certs check --served`, prints the table or JSON, throws for exit codes 1 and 3. */
export async function runServedCheck(
  opts: {
    paths: CertPaths;
    node?: string | undefined;
    warnWithinMs: number;
    output: 'table' | 'json' | 'yaml';
    noHeaders?: boolean;
  },
  deps: { kube: ServedKube; tls: TlsProbe; clock: Clock; out: Output },
): Promise<ServedRow[]> {
  const now = deps.clock.now();
  const localNode = opts.node ?? (await localNodeName(opts.paths));
  const rows = await checkServed(
    { paths: opts.paths, localNode, now, warnWithinMs: opts.warnWithinMs },
    deps,
  );
  if (opts.output === 'table') for (const l of formatServedTable(rows, now, opts)) deps.out.out(l);
  else {
    const doc = {
      kind: 'ServedCertificateList',
      apiVersion: 'bosun.dev/v1alpha1',
      items: rows.map((r) => ({
        node: r.node,
        component: r.component,
        endpoint: r.endpoint,
        expirationDate: r.facts ? r.facts.notAfter.toISOString().replace(/\.\d{3}Z$/, 'Z') : null,
        residualTime: r.facts ? residualSeconds(r.facts.notAfter, now) : 0,
        subject: r.facts?.subject ?? null,
        serialNumber: r.facts?.serialNumber ?? null,
        sameAsDisk: r.onDisk === 'unknown' ? null : r.onDisk === 'same',
        diskPath: r.diskPath ?? null,
        signedByCa: r.signedByCa ?? null,
        status: r.status,
        error: r.error ?? null,
      })),
    };
    const { stringify } = await import('yaml');
    deps.out.out(
      opts.output === 'json' ? JSON.stringify(doc, null, 4) : stringify(doc, { lineWidth: 0 }).trimEnd(),
    );
  }
  if (rows.length === 0) {
    throw new BosunError(
      'no endpoints found: the cluster lists no nodes with an InternalIP and no kube-apiserver/etcd mirror pods',
      'NOT_FOUND',
      {
        hint: 'Check --kubeconfig/--context point at the cluster this node belongs to.',
      },
    );
  }
  const code = servedExitCode(rows);
  if (code === 1) {
    const bad = rows.filter(
      (r) => r.status === 'unreachable' || r.status === 'stale' || r.signedByCa === false,
    );
    throw new BosunError(
      `${bad.length} served certificate${bad.length === 1 ? ' needs' : 's need'} attention: ${bad.map((r) => `${r.component} on ${r.node} (${r.status === 'stale' ? 'older than on disk' : r.status === 'unreachable' ? 'unreachable' : 'not signed by the CA on disk'})`).join(', ')}`,
      'TLS',
      {
        hint: 'A certificate that differs from disk was renewed without a restart: restart that static pod (bosun certs renew restarts them unless --no-restart).',
      },
    );
  }
  if (code === 3) {
    const soon = rows.filter((r) => r.status === 'expiring' || r.status === 'expired');
    throw new BosunError(
      `${soon.length} served certificate${soon.length === 1 ? '' : 's'} expired or expiring: ${soon.map((r) => `${r.component} on ${r.node}`).join(', ')}`,
      'TLS',
      {
        exitCode: 3,
        hint: 'Renew with `bosun certs renew all` on each control plane, one node at a time.',
      },
    );
  }
  return rows;
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
  deps: { ports: LivePorts; clock: Clock; out: Output; signal?: AbortSignal },
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
      ).filter((r) => r.node === o.node);
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
      deps.out.err(`[restart] waiting for ${said}`);
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
  out: Output;
  timeoutMs: number;
  node?: string | undefined;
  signal?: AbortSignal;
}): RestartPhase {
  let node: string | undefined = o.node;
  return {
    async preflight(paths, components) {
      node = o.node ?? (await localNodeName(paths));
      if (!node) {
        throw new UsageError("cannot tell this control plane's node name from its certificates", {
          hint: 'Pass --node NAME, or --no-restart to renew the files only.',
        });
      }
      const ports = o.ports();
      if (components.includes('etcd') && existsSync(join(paths.configDir, 'manifests', 'etcd.yaml'))) {
        // Refuse before changing anything when etcd could not be restarted afterwards. An API that
        // does not answer (its own certificate expired) is no refusal: the restart checks again.
        let members: { name: string; ready: boolean }[] | undefined;
        try {
          members = await ports.kube.listEtcdPods();
        } catch (e) {
          o.out.err(
            `WARNING: cannot check etcd's quorum before renewing (${errorMessage(e)}); it is checked again before etcd restarts`,
          );
        }
        const verdict = members && etcdRestartAllowed(members, `etcd-${node}`);
        if (verdict && !verdict.allowed) {
          throw new BosunError(`not renewing: ${verdict.reason}`, 'PRECONDITION', {
            hint: 'Nothing was changed. Renew once every etcd member is Ready (kubectl -n kube-system get pods -l component=etcd), or renew with --no-restart and restart etcd later.',
          });
        }
      }
    },
    async run(result, paths) {
      if (!node) throw new BosunError('restart phase run without preflight', 'INTERNAL');
      const ports = o.ports();
      const restarted = await restartStaticPods(
        {
          node,
          components: result.components,
          manifestsDir: join(paths.configDir, 'manifests'),
          parkingDir: join(paths.configDir, 'tmp', 'bosun-restart'),
          timeoutMs: o.timeoutMs,
        },
        { kube: ports.kube, clock: o.clock, out: o.out, ...(o.signal ? { signal: o.signal } : {}) },
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
        { ports, clock: o.clock, out: o.out, ...(o.signal ? { signal: o.signal } : {}) },
      );
      const rows = settled.rows;
      for (const l of formatServedTable(rows, o.clock.now())) o.out.out(l);
      const notLive = rows.filter((r) => r.onDisk !== 'same');
      const missing = [...wanted].filter((c) => !rows.some((r) => r.component === c));
      if (notLive.length === 0 && (missing.length > 0 || settled.waiting !== undefined)) {
        throw new BosunError(
          `restarted, but timed out after ${Math.round(o.timeoutMs / 1000)}s waiting for ${settled.waiting ?? `${missing.join(', ')} on ${here}`}`,
          'TIMEOUT',
          {
            hint: 'The new files are on disk and the old ones are in the backup directory; check the static pods on this node and run `bosun certs check --served`.',
          },
        );
      }
      if (notLive.length > 0) {
        throw new BosunError(
          `restarted, but ${notLive.map((r) => `${r.component} (${r.endpoint}) ${r.status === 'unreachable' ? 'is unreachable' : 'still serves the old certificate'}`).join(', ')} on ${here}`,
          'TLS',
          {
            hint: 'The new files are on disk and the old ones are in the backup directory; check the static pod and run `bosun certs check --served`.',
          },
        );
      }
      o.out.out(
        `Certificates renewed and served on ${here}. Renew the next control plane only after this one is healthy (bosun certs check --served).`,
      );
    },
  };
}
