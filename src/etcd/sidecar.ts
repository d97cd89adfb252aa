// The JSON sidecar written beside every backup (`<backup>.json`): what was saved, from where,
// and the numbers verify and trial restores compare against. Parsing is strict (zod): a sidecar
// that does not parse makes its backup "unverified", never a candidate for pruning.
import { z } from 'zod';

/** Schema of a sidecar, version 1. Field names follow etcdctl's status JSON where they overlap. */
export const SidecarSchema = z.object({
  kind: z.literal('EtcdBackup'),
  version: z.literal(1),
  /** The backup's file name (no directory). */
  file: z.string(),
  cluster: z.string(),
  /** When the snapshot stream started, RFC 3339. */
  time: z.string(),
  endpoint: z.string(),
  member: z.string().nullable(),
  etcdVersion: z.string(),
  /** etcdctl snapshot status numbers of the (decrypted) snapshot. */
  revision: z.number().int().nonnegative(),
  hash: z.number().int().nonnegative(),
  totalKey: z.number().int().nonnegative(),
  totalSize: z.number().int().nonnegative(),
  /** Keys alive at `revision` (what a restored etcd counts). */
  liveKeys: z.number().int().nonnegative(),
  /** Size of the file on disk, and its sha256 (what `sha256sum FILE` prints). */
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  encryption: z
    .object({ algorithm: z.literal('AES-256-GCM'), keyId: z.string().regex(/^[0-9a-f]{16}$/) })
    .nullable(),
  /** True once the sha256 trailer and every bbolt page were checked before the file got its name. */
  verified: z.boolean(),
});

/** A backup's sidecar. */
export type Sidecar = z.infer<typeof SidecarSchema>;

/** Parses sidecar text; null when it is not a valid sidecar. */
export function parseSidecar(text: string): Sidecar | null {
  try {
    const r = SidecarSchema.safeParse(JSON.parse(text));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

/** Sidecar text: two-space JSON with a final newline. */
export function formatSidecar(s: Sidecar): string {
  return JSON.stringify(s, null, 2) + '\n';
}
