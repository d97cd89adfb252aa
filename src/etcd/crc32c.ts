// CRC-32C (Castagnoli), the checksum `etcdctl snapshot status` reports as the snapshot's hash.
// Pure: a table-driven (slicing-by-16) implementation with no Node built-ins. The native SSE4.2
// version from @node-rs/crc32 is plugged in by crc32c-fast.ts; this one is the fallback and the
// reference the tests compare it with.

/** Incremental CRC-32C: `update` with each piece, in order, then read `value`. */
export type Crc32cUpdate = (crc: number, data: Uint8Array) => number;

const POLY = 0x82f63b78; // reversed Castagnoli polynomial, as Go's crc32.Castagnoli
const TABLE = buildTable();

function buildTable(): Int32Array {
  const t = new Int32Array(16 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY : c >>> 1;
    t[n] = c;
  }
  for (let n = 0; n < 256; n++) {
    let c = t[n] ?? 0;
    for (let k = 1; k < 16; k++) {
      c = (t[c & 0xff] ?? 0) ^ (c >>> 8);
      t[k * 256 + n] = c;
    }
  }
  return t;
}

/**
 * Continues a CRC-32C over `data`. Start with crc = 0; the result is the unsigned 32-bit value
 * Go's `crc32.Update(crc, crc32.MakeTable(crc32.Castagnoli), data)` returns.
 */
export function crc32cUpdate(crc: number, data: Uint8Array): number {
  const T = TABLE;
  let c = ~crc;
  let i = 0;
  const end = data.length;
  // Slicing-by-16: sixteen table lookups per 16 input bytes.
  for (; i + 16 <= end; i += 16) {
    const a = c ^ (data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24));
    c =
      T[3840 + (a & 0xff)]! ^
      T[3584 + ((a >>> 8) & 0xff)]! ^
      T[3328 + ((a >>> 16) & 0xff)]! ^
      T[3072 + (a >>> 24)]! ^
      T[2816 + data[i + 4]!]! ^
      T[2560 + data[i + 5]!]! ^
      T[2304 + data[i + 6]!]! ^
      T[2048 + data[i + 7]!]! ^
      T[1792 + data[i + 8]!]! ^
      T[1536 + data[i + 9]!]! ^
      T[1280 + data[i + 10]!]! ^
      T[1024 + data[i + 11]!]! ^
      T[768 + data[i + 12]!]! ^
      T[512 + data[i + 13]!]! ^
      T[256 + data[i + 14]!]! ^
      T[data[i + 15]!]!;
  }
  for (; i < end; i++) c = T[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}
