// The JSON sidecar written beside every backup (`<backup>.json`): what was saved, from where,
// and the numbers verify and trial restores compare against. Parsing is strict: a sidecar that
// does not parse makes its backup "unverified", never a candidate for pruning. (Checked by hand
// rather than with zod: `backup status|verify|list` start faster without loading it.)

/** A backup's sidecar, version 1. Field names follow etcdctl's status JSON where they overlap. */
export interface Sidecar {
  kind: 'EtcdBackup';
  version: 1;
  /** The backup's file name (no directory). */
  file: string;
  cluster: string;
  /** When the snapshot stream started, RFC 3339. */
  time: string;
  endpoint: string;
  member: string | null;
  etcdVersion: string;
  /** etcdctl snapshot status numbers of the (decrypted) snapshot. */
  revision: number;
  hash: number;
  totalKey: number;
  totalSize: number;
  /** Keys alive at `revision` (what a restored etcd counts). */
  liveKeys: number;
  /** Size of the file on disk, and its sha256 (what `sha256sum FILE` prints). */
  size: number;
  sha256: string;
  encryption: { algorithm: 'AES-256-GCM'; keyId: string } | null;
  /** True once the sha256 trailer and every bbolt page were checked before the file got its name. */
  verified: boolean;
}

/** A field's check, and what the field must be, in words ("a whole number"). */
type Check = [test: (v: unknown) => boolean, want: string];

const str: Check = [(v) => typeof v === 'string', 'a string'];
const count: Check = [(v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0, 'a whole number'];
const nullableStr: Check = [(v) => v === null || typeof v === 'string', 'a string or null'];
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every field of a version 1 sidecar and what it must be (unknown extra fields are ignored). */
const FIELDS: Record<keyof Sidecar, Check> = {
  kind: [(v) => v === 'EtcdBackup', '"EtcdBackup"'],
  version: [(v) => v === 1, '1'],
  file: str,
  cluster: str,
  time: str,
  endpoint: str,
  member: nullableStr,
  etcdVersion: str,
  revision: count,
  hash: count,
  totalKey: count,
  totalSize: count,
  liveKeys: count,
  size: count,
  sha256: [(v) => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v), '64 lower-case hex digits'],
  encryption: [
    (v) =>
      v === null ||
      (isObject(v) &&
        v['algorithm'] === 'AES-256-GCM' &&
        typeof v['keyId'] === 'string' &&
        /^[0-9a-f]{16}$/.test(v['keyId'])),
    'null or { algorithm: "AES-256-GCM", keyId: 16 hex digits }',
  ],
  verified: [(v) => typeof v === 'boolean', 'true or false'],
};

/** A value quoted for a message, cut short when long. */
function shown(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** Parses sidecar text, or says in words why it is not a valid sidecar (one line). */
export function readSidecar(text: string): { sidecar: Sidecar } | { problem: string } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    return { problem: `not JSON (${e instanceof Error ? e.message : String(e)})` };
  }
  if (!isObject(doc)) return { problem: 'not a JSON object' };
  const out: Record<string, unknown> = {};
  for (const [name, [ok, want]] of Object.entries(FIELDS)) {
    const v = doc[name];
    if (v === undefined) return { problem: `field "${name}" is missing` };
    if (!ok(v)) {
      const newer = name === 'version' && typeof v === 'number' && v > 1 ? ': written by a newer bosun?' : '';
      return { problem: `field "${name}" is not ${want} (it is ${shown(v)})${newer}` };
    }
    out[name] = isObject(v) ? { algorithm: v['algorithm'], keyId: v['keyId'] } : v;
  }
  return { sidecar: out as unknown as Sidecar }; // every field checked above
}

/** Parses sidecar text; null when it is not a valid sidecar (readSidecar says why). */
export function parseSidecar(text: string): Sidecar | null {
  const r = readSidecar(text);
  return 'sidecar' in r ? r.sidecar : null;
}

/** Sidecar text: two-space JSON with a final newline. */
export function formatSidecar(s: Sidecar): string {
  return JSON.stringify(s, null, 2) + '\n';
}
