// Kubernetes resource quantities ("100m", "128Mi", "1G", "2", "1e3") as numbers, and a pod's
// effective requests the way the scheduler computes them (k8s.io/component-helpers resource
// PodRequests: the larger of the sum of app containers and the largest init container, plus
// overhead). Pure.
import type { Pod } from '../kube/types.ts';

const BINARY: Record<string, number> = {
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};
const DECIMAL: Record<string, number> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
};

/**
 * Parses a quantity to a plain number in the base unit (cores for cpu, bytes for memory).
 * Returns undefined when the text is not a quantity.
 */
export function parseQuantity(text: string | number | undefined): number | undefined {
  if (typeof text === 'number') return text;
  if (text === undefined) return undefined;
  const m = /^([+-]?(?:\d+(?:\.\d*)?|\.\d+))(?:([eE][+-]?\d+)|(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?)$/.exec(
    text.trim(),
  );
  if (!m) return undefined;
  const base = Number(m[1]);
  if (m[2] !== undefined) return base * 10 ** Number(m[2].slice(1));
  const suf = m[3] ?? '';
  const mult = BINARY[suf] ?? DECIMAL[suf];
  return mult === undefined ? undefined : base * mult;
}

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
