// What a pod takes from a node, as the pre-flight's placement counts it: its requests as the
// scheduler computes them (kube/pods.ts podRequests) plus one of the node's pod slots; a node's
// allocatable resources; and amounts formatted for people. Pure.
import { podRequests } from '../kube/pods.ts';
import { parseQuantity } from '../kube/quantity.ts';
import type { Pod } from '../kube/types.ts';

/** Resource name to amount, in base units. */
export type Resources = Record<string, number>;

function add(into: Resources, from: Record<string, string> | undefined): void {
  for (const [k, v] of Object.entries(from ?? {})) {
    const n = parseQuantity(v);
    if (n !== undefined) into[k] = (into[k] ?? 0) + n;
  }
}

/** What a pod needs from the node it is placed on: the scheduler's requests, and one pod slot ("pods": 1). */
export function placementNeeds(pod: Pod): Resources {
  return { ...podRequests(pod), pods: 1 };
}

/** A node's allocatable resources in base units. */
export function parseResources(list: Record<string, string> | undefined): Resources {
  const out: Resources = {};
  add(out, list);
  return out;
}

/** Formats an amount of a resource for people: cpu in cores or millicores, memory in Mi/Gi. */
export function formatResource(name: string, amount: number): string {
  if (name === 'cpu')
    return amount < 1 || !Number.isInteger(amount) ? `${Math.round(amount * 1000)}m` : String(amount);
  if (name === 'memory' || name === 'ephemeral-storage' || name.startsWith('hugepages-')) {
    if (amount >= 2 ** 30 && amount % 2 ** 30 === 0) return `${amount / 2 ** 30}Gi`;
    if (amount >= 2 ** 20) return `${Math.round((amount / 2 ** 20) * 10) / 10}Mi`;
    return `${amount}`;
  }
  return String(Math.round(amount * 1000) / 1000);
}
