// Template hashes as kube's controllers name them: controller.ComputeHash writes the pod template
// into an FNV-1a 32-bit hash (plus the collision count) and rand.SafeEncodeString turns the
// decimal number into the consonant-and-digit alphabet that cannot spell words, which is why
// pod-template-hash values look like "5d59d67564". kube hashes a spew dump of the Go struct; the
// sandbox hashes canonical JSON (sorted keys), so values differ from a real cluster's for the same
// template but have the same shape, stability and collision behaviour. Pure.

// k8s.io/apimachinery/pkg/util/rand alphanums.
const ALPHANUMS = 'bcdfghjklmnpqrstvwxz2456789';

/** rand.SafeEncodeString: maps every byte of s onto the alphabet. */
export function safeEncodeString(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) out += ALPHANUMS[s.charCodeAt(i) % ALPHANUMS.length] ?? 'x';
  return out;
}

/** FNV-1a, 32 bits, over bytes; continues from `seed` (the offset basis by default). */
export function fnv32a(bytes: Uint8Array, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (const b of bytes) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** JSON with object keys sorted at every level (a canonical form to hash). */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map((x) => canonicalJson(x === undefined ? null : x)).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonicalJson(x)}`).join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

/**
 * controller.ComputeHash: the template's hash, salted with the collision count when it is set
 * (as a little-endian uint32, as kube writes it), encoded with SafeEncodeString.
 */
export function computeHash(template: unknown, collisionCount?: number): string {
  let h = fnv32a(new TextEncoder().encode(canonicalJson(template)));
  if (collisionCount !== undefined && collisionCount !== null) {
    const c = collisionCount >>> 0;
    h = fnv32a(new Uint8Array([c & 0xff, (c >>> 8) & 0xff, (c >>> 16) & 0xff, (c >>> 24) & 0xff]), h);
  }
  return safeEncodeString(String(h));
}
