// A pod's effective requests the way the scheduler computes them (k8s.io/component-helpers resource
// PodRequests: the larger of the sum of app containers and the largest init container, plus
// overhead). Pure.
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

/** What the scheduler reserves for a pod: max(sum(containers), max(initContainers)) + overhead; pods: 1. */
export function podRequests(pod: Pod): Resources {
  const sum: Resources = {};
  for (const c of pod.spec?.containers ?? []) add(sum, c.resources?.requests);
  for (const c of pod.spec?.initContainers ?? []) {
    const one: Resources = {};
    add(one, c.resources?.requests);
    for (const [k, v] of Object.entries(one)) sum[k] = Math.max(sum[k] ?? 0, v);
  }
  add(sum, pod.spec?.overhead);
  sum['pods'] = 1;
  return sum;
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
