// What commands that talk to the cluster share before they call their feature: the connection the
// global flags name, the drain's kube port on it, and the nodes cordon, uncordon, drain and
// maintain act on (NODE... or --selector, as kubectl validates them), all read before anything is
// changed.
import type { Command } from 'commander';
import { BosunError } from '../common/errors.ts';
import type { KubeClientOptions } from '../kube/client.ts';
import { parseSelector } from '../kube/labels.ts';
import type { NodeHealth, NodePods } from '../kube/ports.ts';
import type { Node } from '../kube/types.ts';
import type { CliContext, GlobalOptions } from './context.ts';
import { usageError } from './flags.ts';

/**
 * The cluster connection the global flags name (--kubeconfig, --context, --request-timeout with
 * kubectl's parsing), with KUBECONFIG and the home directory from the context, and Ctrl-C.
 */
export async function clusterOptions(cmd: Command, ctx: CliContext): Promise<KubeClientOptions> {
  const g = cmd.optsWithGlobals<GlobalOptions>();
  const { parseRequestTimeout } = await import('../kube/client.ts');
  return {
    kubeconfig: g.kubeconfig,
    envKubeconfig: ctx.env['KUBECONFIG'],
    home: ctx.home,
    context: g.context,
    requestTimeoutMs: parseRequestTimeout(g.requestTimeout),
    signal: ctx.signal,
    clock: ctx.clock,
  };
}

/**
 * The same connection for what must still reach the API server after Ctrl-C (releasing the cluster
 * lock, the journal's last word on where a run stopped): its requests are cancelled graceMs after
 * the interrupt instead of at once. Without it a Ctrl-C leaves the lock held until its TTL.
 */
export function outlivingInterrupt(o: KubeClientOptions, graceMs = 10_000): KubeClientOptions {
  const interrupt = o.signal;
  if (interrupt === undefined) return o;
  const ctl = new AbortController();
  const later = (): void => {
    setTimeout(() => ctl.abort(interrupt.reason), graceMs).unref();
  };
  if (interrupt.aborted) later();
  else interrupt.addEventListener('abort', later, { once: true });
  return { ...o, signal: ctl.signal };
}

/** The NodePods (and NodeHealth) port for the cluster the global flags name, and the kubeconfig files read. */
export async function nodePodsPort(
  cmd: Command,
  ctx: CliContext,
): Promise<{ kube: NodePods & NodeHealth; files: string[] }> {
  const { createKubeClients } = await import('../kube/client.ts');
  const { createNodePods } = await import('../kube/node-pods.ts');
  const clients = createKubeClients(await clusterOptions(cmd, ctx));
  return { kube: createNodePods(clients), files: clients.files };
}

/** Refuses an empty node name: the API would be asked for "node/", which names no node. */
export function checkNodeNames(names: readonly string[], command: string): void {
  if (names.some((n) => n.trim() === '')) throw usageError('a node name must not be empty', command);
}

/**
 * Validates NODE... vs --selector as kubectl does: one of them, not both; no empty name, and a
 * selector that parses (before any kubeconfig is read).
 */
export function checkTargets(names: readonly string[], selector: string | undefined, command: string): void {
  if (names.length === 0 && selector === undefined)
    throw usageError(`USAGE: ${command} NODE [flags]`, command);
  if (names.length > 0 && selector !== undefined)
    throw usageError('cannot specify both a node name and a --selector option', command);
  checkNodeNames(names, command);
  if (selector !== undefined) {
    const p = parseSelector(selector);
    if (!p.ok) throw usageError(`invalid --selector "${selector}": ${p.error}`, command);
  }
}

/**
 * Reads the named nodes (all must exist: nothing is done otherwise) or those matching --selector
 * (checked by checkTargets).
 */
export async function resolveNodes(
  kube: NodePods,
  names: readonly string[],
  selector: string | undefined,
): Promise<Node[]> {
  if (selector !== undefined) return kube.listNodes({ labelSelector: selector });
  const unique = [...new Set(names)];
  const { isNotFound } = await import('../kube/errors.ts');
  return Promise.all(
    unique.map((n) =>
      kube.getNode(n).catch((e: unknown) => {
        if (isNotFound(e))
          throw new BosunError(`nodes "${n}" not found`, 'NOT_FOUND', {
            cause: e,
            hint: `Nothing was changed. List the nodes with: kubectl get nodes`,
          });
        throw e;
      }),
    ),
  );
}
