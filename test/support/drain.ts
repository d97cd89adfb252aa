// Helpers for the drain and maintain end-to-end tests: run the bosun CLI in-process against a
// sandbox (a fresh program per run, exit code / stdout / stderr kept apart), and read the cluster
// as plain API JSON.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../../src/cli/program.ts';
import type { CliContext } from '../../src/cli/context.ts';
import { processExec, systemClock } from '../../src/common/real.ts';
import type { Node, Pod, PodDisruptionBudget } from '../../src/kube/types.ts';
import type { TestSandbox } from './sandbox.ts';

/** One CLI run. */
export interface CliRun {
  code: number;
  out: string[];
  err: string[];
}

/** How long one in-process run may take before the test fails with what it printed so far. */
const RUN_BOUND_MS = 180_000;

/**
 * Runs `bosun ARGV` in this process against the sandbox's kubeconfig. A run still going after
 * RUN_BOUND_MS is interrupted (as a Ctrl-C would) and the test fails with its output, instead of
 * the whole file hitting the runner's timeout with nothing to show. BOSUN_TEST_TRACE=1 copies
 * every line to this process's stderr as it comes.
 */
export async function bosunOn(
  t: TestSandbox,
  argv: readonly string[],
  opts: {
    signal?: AbortSignal;
    env?: Record<string, string>;
    onErr?: (line: string) => void;
    onOut?: (line: string) => void;
  } = {},
): Promise<CliRun> {
  const out: string[] = [];
  const err: string[] = [];
  const trace = process.env['BOSUN_TEST_TRACE'] === '1';
  const started = Date.now();
  const stamp = (l: string): string => `[${((Date.now() - started) / 1000).toFixed(1)}s] ${l}\n`;
  const home = mkdtempSync(join(tmpdir(), 'bosun-home-'));
  const bound = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, bound.signal]) : bound.signal;
  let timer: NodeJS.Timeout | undefined;
  const overdue = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      bound.abort();
      // Interrupted; if it does not end even then, fail with what it printed.
      timer = setTimeout(
        () =>
          reject(
            new Error(
              `bosun ${argv.join(' ')} still running after ${RUN_BOUND_MS / 1000} s and an interrupt:\n` +
                `stdout:\n${out.join('\n')}\nstderr:\n${err.join('\n')}`,
            ),
          ),
        15_000,
      );
    }, RUN_BOUND_MS);
  });
  try {
    const ctx: CliContext = {
      out: {
        out: (l) => {
          out.push(l);
          if (trace) process.stderr.write(stamp(l));
          opts.onOut?.(l);
        },
        err: (l) => {
          err.push(l);
          if (trace) process.stderr.write(stamp(l));
          opts.onErr?.(l);
        },
        isTTY: false,
      },
      env: { KUBECONFIG: t.kubeconfig, PATH: process.env['PATH'], USER: 'tester', ...(opts.env ?? {}) },
      cwd: home,
      clock: systemClock,
      exec: processExec,
      signal,
      self: { execPath: process.execPath, args: [] },
      home,
    };
    const code = await Promise.race([runCli([...argv], ctx), overdue]);
    return { code, out, err };
  } finally {
    clearTimeout(timer);
    rmSync(home, { recursive: true, force: true });
  }
}

/** All pods (optionally of one node), as the API serves them. */
export async function pods(t: TestSandbox, node?: string): Promise<Pod[]> {
  const args = ['get', 'pods', '-A', ...(node ? ['--field-selector', `spec.nodeName=${node}`] : [])];
  return (await t.kubectlJson<{ items: Pod[] }>(args)).items;
}

/** One node. */
export async function getNode(t: TestSandbox, name: string): Promise<Node> {
  return t.kubectlJson<Node>(['get', 'node', name]);
}

/** PDBs in all namespaces. */
export async function pdbs(t: TestSandbox): Promise<PodDisruptionBudget[]> {
  return (await t.kubectlJson<{ items: PodDisruptionBudget[] }>(['get', 'pdb', '-A'])).items;
}

/** The node of the first live pod whose app (or run) label is app. */
export async function nodeOf(t: TestSandbox, app: string, namespace?: string): Promise<string> {
  const p = (await pods(t)).find(
    (x) =>
      (x.metadata.labels?.['app'] === app || x.metadata.labels?.['run'] === app) &&
      (!namespace || x.metadata.namespace === namespace) &&
      x.spec?.nodeName &&
      !x.metadata.deletionTimestamp,
  );
  if (!p?.spec?.nodeName) throw new Error(`no scheduled pod with app=${app} (or run=${app})`);
  return p.spec.nodeName;
}

/** "namespace/app" of every pod, sorted, for comparing sets of pods across clusters. */
export function appsOf(list: readonly Pod[]): string[] {
  return list
    .map(
      (p) =>
        `${p.metadata.namespace ?? ''}/${p.metadata.labels?.['app'] ?? p.metadata.labels?.['run'] ?? p.metadata.labels?.['component'] ?? p.metadata.labels?.['k8s-app'] ?? p.metadata.name ?? ''}`,
    )
    .sort();
}

/** Whether every Deployment and StatefulSet has all its replicas Ready. */
export async function workloadsSettled(t: TestSandbox): Promise<boolean> {
  const deps = (
    await t.kubectlJson<{
      items: {
        metadata: { name: string };
        spec: { replicas?: number };
        status?: { readyReplicas?: number };
      }[];
    }>(['get', 'deployments,statefulsets', '-A'])
  ).items;
  return deps.every((d) => (d.status?.readyReplicas ?? 0) >= (d.spec.replicas ?? 1));
}
