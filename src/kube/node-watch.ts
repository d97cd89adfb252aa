// The NodeWatch port (kube/ports.ts) on kube/client.ts: a list of Nodes with its resourceVersion,
// then a watch from it, for kube/watch.ts's listWatch (the agent follows its node and the lock's
// holders' nodes this way, the upgrade its nodes' versions).
import type { KubeClients } from './client.ts';
import type { NodeWatch } from './ports.ts';
import { sender, watchObjects, type KubeList } from './requests.ts';
import type { Node } from './types.ts';

/** Builds the NodeWatch port on one set of clients. */
export function createNodeWatch(clients: KubeClients): NodeWatch {
  const send = sender(clients);
  return {
    nodeList: async (opts = {}) => {
      const list = await send<KubeList<Node>>(
        { resource: 'nodes', verb: 'list' },
        {
          method: 'GET',
          path: '/api/v1/nodes',
          query: { labelSelector: opts.labelSelector, fieldSelector: opts.fieldSelector },
        },
      );
      return { items: list.items ?? [], resourceVersion: list.metadata?.resourceVersion ?? '' };
    },
    watchNodes: (opts, onEvent, signal) =>
      watchObjects<Node>(
        clients,
        { resource: 'nodes', verb: 'watch' },
        {
          path: '/api/v1/nodes',
          query: {
            resourceVersion: opts.resourceVersion,
            labelSelector: opts.labelSelector,
            fieldSelector: opts.fieldSelector,
            allowWatchBookmarks: true,
          },
        },
        onEvent,
        signal,
      ),
  };
}
