// The pieces every port implementation on kube/client.ts shares: a request sent through kubeCall
// (retries, error mapping, a caller's own cancellation), a list as the API returns it, a path
// segment escaped, and a watch whose ERROR events and failures become KubeApiErrors. The ports
// themselves (what to ask for) live in their own modules (kube/leases.ts, kube/node-watch.ts, ...).
import {
  kubeCall,
  kubeRequest,
  type KubeClients,
  type KubeRequest,
  type KubeWatchRequest,
} from './client.ts';
import {
  fromStatus,
  KubeApiError,
  parseStatus,
  toKubeError,
  TransportReason,
  type RequestTarget,
} from './errors.ts';
import type { WatchEvent } from './types.ts';

/** A list as the API returns it. */
export interface KubeList<T> {
  items?: T[];
  metadata?: { resourceVersion?: string; continue?: string };
}

/** One path segment, escaped as client-node's typed APIs escape theirs. */
export function seg(s: string): string {
  return encodeURIComponent(s);
}

/** Sends a request about `target` through kubeCall: its retries, and its errors as KubeApiErrors. */
export type Send = <T>(target: RequestTarget, r: KubeRequest, opts?: { retryAfter?: boolean }) => Promise<T>;

/**
 * The Send of a set of clients. A request whose own signal (KubeRequest.signal: a caller's deadline)
 * aborted it rejects with a KubeApiError, reason Aborted, whatever the transport made of the abort.
 */
export function sender(clients: KubeClients): Send {
  return async <T>(
    target: RequestTarget,
    r: KubeRequest,
    opts: { retryAfter?: boolean } = {},
  ): Promise<T> => {
    try {
      return await kubeCall(clients, target, () => kubeRequest<T>(clients, r), { ...opts, method: r.method });
    } catch (e) {
      if (r.signal?.aborted && !clients.signal?.aborted)
        throw new KubeApiError(
          `${target.verb ?? 'the request'} ${target.resource ?? ''} was cancelled`,
          {
            status: 0,
            reason: TransportReason.Aborted,
            resource: target.resource ?? '',
            name: target.name ?? '',
            namespace: target.namespace ?? '',
          },
          { cause: e },
        );
      throw e;
    }
  };
}

/**
 * Watches `r`, passing ADDED, MODIFIED, DELETED and BOOKMARK events on; an ERROR event (410 Expired,
 * ...) and a failed watch reject with a KubeApiError about `target`. Resolves when the server ends
 * the watch or signal aborts.
 */
export function watchObjects<T>(
  clients: Pick<KubeClients, 'watch'> & Partial<Pick<KubeClients, 'server'>>,
  target: RequestTarget,
  r: KubeWatchRequest,
  onEvent: (e: WatchEvent<T>) => void,
  signal: AbortSignal,
): Promise<void> {
  return clients
    .watch(
      r,
      (type, obj) => {
        if (type === 'ERROR') {
          const st = parseStatus(obj);
          throw fromStatus(typeof st?.['code'] === 'number' ? st['code'] : 500, st, target);
        }
        if (type === 'ADDED' || type === 'MODIFIED' || type === 'DELETED' || type === 'BOOKMARK')
          onEvent({ type, object: obj as T });
      },
      signal,
    )
    .catch((e: unknown) => {
      if (!signal.aborted)
        throw toKubeError(e, target, {
          cancelled: false,
          ...(clients.server ? { server: clients.server } : {}),
        });
    });
}
