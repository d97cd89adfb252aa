// The file-system port of the backup (what it creates, syncs, renames and removes), and its real
// implementation on node:fs. Tests wrap the real one to inject faults such as ENOSPC mid-write.
import { constants } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';

/** A file being written. */
export interface WritableFile {
  /** Appends the buffers, in order. */
  write(chunks: readonly Buffer[]): Promise<void>;
  /** fsync. */
  sync(): Promise<void>;
  close(): Promise<void>;
}

/** What saving, listing and pruning backups do to the file system. */
export interface BackupFs {
  /** mkdir -p with `mode` for the directories it creates. */
  mkdirp(dir: string, mode: number): Promise<void>;
  /** Creates a new file (fails if it exists) with `mode`. */
  create(path: string, mode: number): Promise<WritableFile>;
  rename(from: string, to: string): Promise<void>;
  /** fsyncs a directory so a rename in it is durable. */
  syncDir(dir: string): Promise<void>;
  /** Removes a file; a missing file is not an error. */
  remove(path: string): Promise<void>;
  readDir(dir: string): Promise<string[]>;
  /** Size and modification time, or null when missing. */
  stat(path: string): Promise<{ size: number; mtime: Date } | null>;
  readFile(path: string): Promise<Buffer>;
}

function handleFile(h: FileHandle): WritableFile {
  return {
    async write(chunks) {
      let list = chunks;
      while (list.length > 0) {
        const { bytesWritten } = await h.writev(list as Buffer[]);
        // writev may write less than asked (rare on files): continue after what was written.
        let skip = bytesWritten;
        const rest: Buffer[] = [];
        for (const b of list) {
          if (skip >= b.length) skip -= b.length;
          else {
            rest.push(skip > 0 ? b.subarray(skip) : b);
            skip = 0;
          }
        }
        list = rest;
      }
    },
    sync: () => h.sync(),
    close: () => h.close(),
  };
}

/** The real file system. */
export const nodeBackupFs: BackupFs = {
  async mkdirp(dir, mode) {
    await mkdir(dir, { recursive: true, mode });
  },
  async create(path, mode) {
    const h = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
    return handleFile(h);
  },
  rename: (from, to) => rename(from, to),
  async syncDir(dir) {
    const h = await open(dir, constants.O_RDONLY);
    try {
      await h.sync();
    } finally {
      await h.close();
    }
  },
  remove: (path) => rm(path, { force: true }),
  readDir: (dir) => readdir(dir),
  async stat(path) {
    try {
      const s = await stat(path);
      return { size: s.size, mtime: s.mtime };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  },
  readFile: (path) => readFile(path),
};
