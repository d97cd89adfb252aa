// The real implementations of the reboot agent's small ports that are not bosun-wide: the file
// system under the host root and inotify on a directory. The agent's composition root builds them;
// tests use them against a temporary directory, or fakes.
import { watch, type FSWatcher } from 'node:fs';
import { readlink, stat } from 'node:fs/promises';
import type { FileEvents, SentinelFiles } from './sentinel.ts';

function code(e: unknown): string | undefined {
  return typeof e === 'object' && e !== null ? (e as { code?: string }).code : undefined;
}

/** The sentinel's file calls on the real file system. */
export const nodeSentinelFiles: SentinelFiles = {
  async exists(path) {
    try {
      await stat(path);
      return true;
    } catch (e) {
      if (code(e) === 'ENOENT' || code(e) === 'ENOTDIR') return false;
      throw e;
    }
  },
  async readlink(path) {
    try {
      return await readlink(path);
    } catch (e) {
      // EINVAL: not a link; ENOENT/ENOTDIR: nothing there (exists() says so later).
      if (['EINVAL', 'ENOENT', 'ENOTDIR'].includes(code(e) ?? '')) return undefined;
      throw e;
    }
  },
};

/** Directory change notifications with fs.watch (inotify on Linux; works through a hostPath mount). */
export const nodeFileEvents: FileEvents = {
  subscribe(dir, onChange) {
    let w: FSWatcher | undefined;
    try {
      w = watch(dir, () => onChange());
      w.on('error', () => w?.close());
    } catch {
      // Not watchable: the caller's period still applies.
    }
    return () => w?.close();
  },
};
