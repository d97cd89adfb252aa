// The "does this node still exist" check the lock takes (ClusterLock's deps.nodeExists), on any port
// that can read a Node: only a 404 says it is gone; any other failure (the API server unreachable,
// no permission) counts as "it may exist", so a holder is never taken over on a guess.
import { isNotFound } from '../kube/errors.ts';
import type { Node } from '../kube/types.ts';

/** nodeExists on a getNode (NodePods', NodeHealth's). */
export function nodeExistsVia(kube: {
  getNode(name: string): Promise<Node>;
}): (node: string) => Promise<boolean> {
  return async (node) => {
    try {
      await kube.getNode(node);
      return true;
    } catch (e) {
      return !isNotFound(e);
    }
  };
}
