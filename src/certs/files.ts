// File writes for PKI material: atomic (temp file in the same directory, fsync, rename) with the
// final mode set before the rename, so a reader never sees a half-written certificate or a key
// that is briefly world-readable.
import { randomBytes } from 'node:crypto';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** kubeadm's modes: keys and kubeconfigs 0600, certificates and public keys 0644. */
export const MODE_SECRET = 0o600;
export const MODE_PUBLIC = 0o644;

/** Writes data to path atomically with the given mode, creating parent dirs (0755) as needed. */
export async function writeFileAtomic(path: string, data: string | Buffer, mode: number): Promise<void> {
  const dir = dirname(path);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const tmp = join(dir, `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.chmod(mode);
    await fh.sync();
  } catch (e) {
    await fh.close();
    await rm(tmp, { force: true });
    throw e;
  }
  await fh.close();
  try {
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}
