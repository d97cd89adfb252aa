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

type Check = (v: unknown) => boolean;

const str: Check = (v) => typeof v === 'string';
const count: Check = (v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const nullableStr: Check = (v) => v === null || typeof v === 'string';
const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every field of a version 1 sidecar and what it must be (unknown extra fields are ignored). */
const FIELDS: Record<keyof Sidecar, Check> = {
  kind: (v) => v === 'EtcdBackup',
  version: (v) => v === 1,
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
  sha256: (v) => typeof v === 'string' && /^[0-9a-f]{64}$/.test(v),
  encryption: (v) =>
    v === null ||
    (isObject(v) &&
      v['algorithm'] === 'AES-256-GCM' &&
      typeof v['keyId'] === 'string' &&
      /^[0-9a-f]{16}$/.test(v['keyId'])),
  verified: (v) => typeof v === 'boolean',
};

/** Parses sidecar text; null when it is not a valid sidecar. */
export function parseSidecar(text: string): Sidecar | null {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return null;
  }
  if (!isObject(doc)) return null;
  const out: Record<string, unknown> = {};
  for (const [name, ok] of Object.entries(FIELDS)) {
    if (!ok(doc[name])) return null;
    const v = doc[name];
    out[name] = isObject(v) ? { algorithm: v['algorithm'], keyId: v['keyId'] } : v;
  }
  return out as unknown as Sidecar; // every field checked above
}

/** Sidecar text: two-space JSON with a final newline. */
export function formatSidecar(s: Sidecar): string {
  return JSON.stringify(s, null, 2) + '\n';
}
