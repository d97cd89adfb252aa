// Files of PKI material. Reads take only what a certificate, key or kubeconfig can be: a regular
// file of at most a MiB (a FIFO at a certificate's path would block a read forever, a huge file
// would be read whole), and say what else was found. Writes are atomic (temp file in the same
// directory, fsync, rename) with the final mode set before the rename, so a reader never sees a
// half-written certificate or a key that is briefly world-readable.
import { randomBytes } from 'node:crypto';
import { constants, type Stats } from 'node:fs';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { errorMessage } from '../common/errors.ts';

/** kubeadm's modes: keys and kubeconfigs 0600, certificates and public keys 0644. */
export const MODE_SECRET = 0o600;
export const MODE_PUBLIC = 0o644;

/**
 * How bosun names a file it is writing: `.NAME.<12 hex>.tmp` beside NAME. A file of that name is
 * bosun's own; one left behind by a killed run is removed by the next (leftovers.ts).
 */
export const TEMP_FILE_NAME = /^\.[^/]+\.[0-9a-f]{12}\.tmp$/;

/** A fresh temporary name beside path. */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
}

/**
 * Writes data with its final mode, fsynced, to a temporary file beside path (creating parent dirs
 * 0755 as needed) and returns the temporary file's path, for commitStaged to rename into place.
 */
export async function stageFile(path: string, data: string | Buffer, mode: number): Promise<string> {
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  const tmp = tempPathFor(path);
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
  return tmp;
}

/** Renames a staged file onto its final path (removing the staged file when that fails). */
export async function commitStaged(tmp: string, path: string): Promise<void> {
  try {
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** Writes data to path atomically with the given mode, creating parent dirs (0755) as needed. */
export async function writeFileAtomic(path: string, data: string | Buffer, mode: number): Promise<void> {
  await commitStaged(await stageFile(path, data, mode), path);
}

/**
 * The largest file read as PKI material: a kubeconfig with its embedded certificates is a few KiB,
 * and a CA bundle of a hundred certificates well under a MiB.
 */
export const MAX_PKI_FILE_BYTES = 1024 * 1024;

/** A read of a PKI file: its text, absent, or why it was not read (one line naming the path). */
export type PkiRead = { kind: 'ok'; text: string } | { kind: 'missing' } | { kind: 'error'; message: string };

function whatItIs(st: Stats): string {
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return 'a FIFO, not a regular file';
  if (st.isSocket()) return 'a socket, not a regular file';
  if (st.isCharacterDevice()) return 'a character device, not a regular file';
  if (st.isBlockDevice()) return 'a block device, not a regular file';
  return 'not a regular file';
}

function mib(bytes: number): string {
  return `${(bytes / (1024 * 1024)).toFixed(1)} MiB`;
}

/**
 * Reads a certificate, key or kubeconfig (following symlinks, as kubelet-client-current.pem is
 * one). The file is opened without blocking and checked on its descriptor before a byte is read,
 * so what is judged is what would be read; never more than MAX_PKI_FILE_BYTES are.
 */
export async function readPkiFile(path: string): Promise<PkiRead> {
  let fh: FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO must not wait for a writer (it has no effect on regular files).
    fh = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code === 'ENOENT') return { kind: 'missing' };
    if (code === 'EACCES' || code === 'EPERM')
      return { kind: 'error', message: `cannot read ${path}: permission denied` };
    if (code === 'ENOTDIR')
      return { kind: 'error', message: `cannot read ${path}: a parent is not a directory` };
    if (code === 'ENXIO')
      return { kind: 'error', message: `cannot read ${path}: it is a socket, not a regular file` };
    return { kind: 'error', message: `cannot read ${path}: ${errorMessage(e)}` };
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return { kind: 'error', message: `cannot read ${path}: it is ${whatItIs(st)}` };
    const tooLarge = (size: number): PkiRead => ({
      kind: 'error',
      message: `cannot read ${path}: it is ${mib(size)}, larger than any certificate, key or kubeconfig (${MAX_PKI_FILE_BYTES / (1024 * 1024)} MiB at most): not read`,
    });
    if (st.size > MAX_PKI_FILE_BYTES) return tooLarge(st.size);
    // The file may grow between the stat and the read: read one byte past the limit to know.
    const buf = Buffer.alloc(MAX_PKI_FILE_BYTES + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n > MAX_PKI_FILE_BYTES) return tooLarge(n);
    }
    return { kind: 'ok', text: buf.subarray(0, n).toString('utf8') };
  } catch (e) {
    return { kind: 'error', message: `cannot read ${path}: ${errorMessage(e)}` };
  } finally {
    await fh.close();
  }
}
