// Picks the fastest CRC-32C available: the native SSE4.2 one from @node-rs/crc32 (a prebuilt
// binary from the npm registry) when it loads on this platform, else the pure slicing-by-16 one.
// `bosun backup status` hashes every key and value of the snapshot, so this decides its speed.
import { createRequire } from 'node:module';
import { crc32cUpdate, type Crc32cUpdate } from './crc32c.ts';

let cached: { update: Crc32cUpdate; native: boolean } | undefined;

/** The CRC-32C update function to use, and whether it is the native one. Loaded once. */
export function fastCrc32c(): { update: Crc32cUpdate; native: boolean } {
  if (cached) return cached;
  try {
    const req = createRequire(import.meta.url);
    const mod: unknown = req('@node-rs/crc32');
    const fn = typeof mod === 'object' && mod !== null ? (mod as { crc32c?: unknown }).crc32c : undefined;
    if (typeof fn !== 'function') throw new Error('no crc32c export');
    const native = fn as (input: Uint8Array, initial?: number) => number;
    cached = { update: (crc, data) => (data.length === 0 ? crc : native(data, crc) >>> 0), native: true };
  } catch {
    cached = { update: crc32cUpdate, native: false };
  }
  return cached;
}
