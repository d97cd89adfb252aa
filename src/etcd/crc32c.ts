// CRC-32C (Castagnoli), the checksum `etcdctl snapshot status` reports as the snapshot's hash.
// Pure: a table-driven (slicing-by-16) implementation with no Node built-ins. The native SSE4.2
// version from @node-rs/crc32 is plugged in by crc32c-fast.ts; this one is the fallback and the
// reference the tests compare it with.

/** Incremental CRC-32C: `update` with each piece, in order, then read `value`. */
export type Crc32cUpdate = (crc: number, data: Uint8Array) => number;

const POLY = 0x82f63b78; // reversed Castagnoli polynomial, as Go's crc32.Castagnoli

/** v times x modulo the polynomial, in reflected form (one bit of a CRC step). */
function timesX(v: number): number {
  return v & 1 ? (v >>> 1) ^ POLY : v >>> 1;
}

const TABLE = buildTable();

function buildTable(): Int32Array {
  const t = new Int32Array(16 * 256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = timesX(c);
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

// Combining: CRC-32C is linear, so crc(A || B) = crc(A) * x^(8|B|) mod P xor crc(B) (zlib's
// crc32_combine). The bbolt scan hashes each page as it arrives and combines them in tree order.

/** x^4 times each 4-bit remainder, reduced: multiplying by x^4 is (p >>> 4) ^ TIMES_X4[p & 15]. */
const TIMES_X4 = (() => {
  const t = new Uint32Array(16);
  for (let i = 0; i < 16; i++) {
    let v = i;
    for (let k = 0; k < 4; k++) v = timesX(v);
    t[i] = v;
  }
  return t;
})();
const nibbleMultiples = new Uint32Array(16);

/**
 * a * b modulo the polynomial, both in reflected form (zlib's multmodp), four bits of `a` at a
 * time: b's multiples by the 16 polynomials of degree < 4, then Horner in x^4.
 */
function multmodp(a: number, b: number): number {
  const t = nibbleMultiples;
  const b1 = timesX(b);
  const b2 = timesX(b1);
  const b3 = timesX(b2);
  // In reflected form the top bit of a nibble is x^0: nibble bit 8 is b, 4 is b*x, 2 is b*x^2, 1 is b*x^3.
  t[0] = 0;
  t[8] = b;
  t[4] = b1;
  t[12] = b ^ b1;
  t[2] = b2;
  t[10] = b ^ b2;
  t[6] = b1 ^ b2;
  t[14] = b ^ b1 ^ b2;
  for (let e = 0; e < 16; e += 2) t[e + 1] = t[e]! ^ b3;
  // a's nibbles from x^28..x^31 (its lowest bits) up to x^0..x^3 (its top bits), Horner in x^4.
  let p = 0;
  for (let shift = 0; shift < 32; shift += 4) {
    p = (p >>> 4) ^ TIMES_X4[p & 15]! ^ t[(a >>> shift) & 15]!;
  }
  return p >>> 0;
}

/** x^(8n) mod P for n < 65536, built on first use: each entry is the previous one times x^8. */
let lowPowers: Uint32Array | null = null;
/** x^(8 * 65536 * 2^k) mod P. */
const highPowers: number[] = [];

function bytePowers(): Uint32Array {
  if (lowPowers) return lowPowers;
  const t = new Uint32Array(65536);
  let v = 0x80000000; // x^0
  for (let n = 0; n < 65536; n++) {
    t[n] = v;
    for (let k = 0; k < 8; k++) v = timesX(v);
  }
  lowPowers = t;
  return t;
}

/** x^(8n) mod P in reflected form. */
function shiftOperator(n: number): number {
  const low = bytePowers();
  let op = low[n % 65536]!;
  let rest = Math.floor(n / 65536);
  for (let k = 0; rest > 0; k++, rest = Math.floor(rest / 2)) {
    if (highPowers.length <= k) {
      const prev = k === 0 ? multmodp(low[65535]!, low[1]!) : highPowers[k - 1]!;
      highPowers.push(k === 0 ? prev : multmodp(prev, prev));
    }
    if (rest % 2 === 1) op = multmodp(highPowers[k]!, op);
  }
  return op;
}

/** The CRC-32C of A || B from crcA = crc(A), crcB = crc(B) and the length of B in bytes. */
export function crc32cCombine(crcA: number, crcB: number, lengthB: number): number {
  if (crcA === 0) return crcB >>> 0;
  return (multmodp(shiftOperator(lengthB), crcA) ^ crcB) >>> 0;
}
