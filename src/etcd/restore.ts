// `bosun restore`: turns a snapshot into a new etcd data directory with `etcdutl snapshot restore`
// where installed, else `etcdctl snapshot restore` (etcd 3.4 has no etcdutl). It verifies the file
// first and refuses a data dir that is not empty. The restore is built in a staging directory
// beside the data dir (`.<name>.bosun-restore-<owner tag>`, 0700, on the same file system), with
// the decrypted copy of an encrypted backup in it, and renamed to the data dir only when complete:
// whatever happens, even a SIGKILL, the data dir is absent or whole. The restore tool runs tied to
// bosun (tied.ts), so it dies with it; the next restore beside that data dir removes the staging
// directories whose owner is gone (owner.ts). Exported for the sandbox's restore and for
// `backup verify --trial-restore`, which pass paths and ports.
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { BosunError, ExecError, UsageError, errorMessage, isBosunError } from '../common/errors.ts';
import type { Clock, Exec } from '../common/ports.ts';
import type { EncryptionKey } from './encryption.ts';
import type { RestoreEvent } from './events.ts';
import { findLeftovers, nodeLeftoverFs, removeStale } from './leftovers.ts';
import { formatOwnerTag, type ProcessTable } from './owner.ts';
import { procTable } from './proc-table.ts';
import { parseInitialCluster, type InitialMember } from './restore-plan.ts';
import { openSnapshot } from './snapshot-file.ts';
import { tiedNodeArgs } from './tied.ts';
import { verifySnapshotFile } from './verify.ts';

/** What to restore, with etcdctl's flag names. */
export interface RestoreOptions {
  file: string;
  dataDir: string;
  /** This member's name; default "default" (etcdctl's). */
  name?: string;
  /** `name=peerURL,...`; default this member alone. */
  initialCluster?: string;
  /** This member's peer URLs; default http://localhost:2380 (etcdctl's). */
  initialAdvertisePeerUrls?: string;
  /** Default "etcd-cluster" (etcdctl's and kubeadm's). */
  initialClusterToken?: string;
  /** Needed for an encrypted backup. */
  key: EncryptionKey | null;
}

/** Ports the restore uses. */
export interface RestoreDeps {
  exec: Exec;
  /** The environment to run the restore tool with (PATH to find it). */
  env: Readonly<Record<string, string | undefined>>;
  /** What the restore reports as it goes (the CLI prints it). */
  observer?: (e: RestoreEvent) => void;
  signal?: AbortSignal;
  /** Tells a running restore's staging directory from a killed one's; default: this machine's /proc. */
  processes?: ProcessTable;
  /** The node binary that runs the watchdog of the restore tool (tied.ts); default this process's. */
  nodeBinary?: string;
  /** Judges how long a leftover of unknown owner was left alone; default the system clock. */
  clock?: Clock;
  /** Randomness for the staging directory's name; default crypto.randomBytes. */
  random?: (n: number) => Buffer;
}

/** A finished restore. */
export interface RestoreResult {
  dataDir: string;
  tool: 'etcdutl' | 'etcdctl';
  name: string;
  members: InitialMember[];
  initialCluster: string;
  initialClusterToken: string;
  revision: number;
  liveKeys: number;
}

/** The restore tool on PATH: etcdutl when present, else etcdctl. */
export async function findRestoreTool(
  exec: Exec,
  env: Readonly<Record<string, string | undefined>>,
): Promise<'etcdutl' | 'etcdctl'> {
  try {
    const r = await exec.run('etcdutl', ['version'], { timeoutMs: 10_000, env: { ...env } });
    if (r.exitCode === 0) return 'etcdutl';
  } catch {
    // not installed
  }
  try {
    const r = await exec.run('etcdctl', ['version'], {
      timeoutMs: 10_000,
      env: { ...env, ETCDCTL_API: '3' },
    });
    if (r.exitCode === 0) return 'etcdctl';
  } catch {
    // not installed
  }
  throw new BosunError('neither etcdutl nor etcdctl is installed', 'EXEC', {
    hint: 'Install it: apt-get install etcd-client',
  });
}

function checkDataDir(dataDir: string): void {
  let entries: string[];
  try {
    if (!statSync(dataDir).isDirectory())
      throw new BosunError(`data dir ${dataDir} exists and is not a directory`, 'PRECONDITION');
    entries = readdirSync(dataDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    if (e instanceof BosunError) throw e;
    throw new BosunError(`cannot inspect data dir ${dataDir}: ${errorMessage(e)}`, 'IO', { cause: e });
  }
  if (entries.length === 0) return;
  // What etcdctl (or bosun before it built restores beside the data dir) leaves when killed.
  const wal = join(dataDir, 'member', 'wal');
  if (
    existsSync(join(dataDir, 'member', 'snap', 'db')) &&
    (!existsSync(wal) || readdirSync(wal).length === 0)
  ) {
    throw new BosunError(
      `data dir ${dataDir} holds an incomplete etcd data dir (member/snap/db but no WAL): a restore that was interrupted`,
      'PRECONDITION',
      { hint: `Nothing can use it: remove it (rm -rf ${dataDir}) and restore again.` },
    );
  }
  throw new BosunError(
    `data dir ${dataDir} is not empty (${entries.length} entries): refusing to overwrite it`,
    'PRECONDITION',
    {
      hint: 'Restore into a new directory (e.g. /var/lib/etcd-restore) and point etcd at it, or move the old one away first.',
    },
  );
}

/** `.<data dir name>.bosun-restore-<tag>`: the staging directory beside a data dir. */
function stagingName(base: string, tag: string): string {
  return `.${base}.bosun-restore-${tag}`;
}

/** Restores a snapshot into a new data dir. */
export async function restoreSnapshot(opts: RestoreOptions, deps: RestoreDeps): Promise<RestoreResult> {
  const name = opts.name ?? 'default';
  const peerUrls = opts.initialAdvertisePeerUrls ?? 'http://localhost:2380';
  const initialCluster =
    opts.initialCluster ??
    peerUrls
      .split(',')
      .map((u) => `${name}=${u}`)
      .join(',');
  const token = opts.initialClusterToken ?? 'etcd-cluster';
  const members = parseInitialCluster(initialCluster);
  if (members === null) {
    throw new UsageError(
      `--initial-cluster ${JSON.stringify(initialCluster)} is not name=peerURL[,name=peerURL...]`,
      { hint: "See 'bosun restore -h' for help and examples" },
    );
  }
  const me = members.find((m) => m.name === name);
  if (!me)
    throw new UsageError(`--initial-cluster has no member named ${JSON.stringify(name)} (--name)`, {
      hint: "See 'bosun restore -h' for help and examples",
    });
  const wanted = peerUrls
    .split(',')
    .map((u) => u.trim())
    .sort();
  if (me.peerUrls.slice().sort().join(',') !== wanted.join(',')) {
    throw new UsageError(
      `--initial-cluster gives ${name} the peer URLs ${me.peerUrls.join(',')}, but --initial-advertise-peer-urls is ${peerUrls}`,
      {
        hint: "See 'bosun restore -h' for help and examples",
      },
    );
  }
  const parent = dirname(opts.dataDir);
  const base = basename(opts.dataDir);
  const processes = deps.processes ?? procTable;
  const prefix = stagingName(base, '');
  const found = await findLeftovers(
    {
      dir: parent,
      tagOf: (n) => (n.startsWith(prefix) ? n.slice(prefix.length) : null),
      processes,
      now: deps.clock?.now() ?? new Date(),
    },
    nodeLeftoverFs,
  );
  const emit = (e: RestoreEvent): void => deps.observer?.(e);
  const { removed, failed } = await removeStale(found, nodeLeftoverFs);
  for (const f of failed) emit(f);
  for (const l of removed) emit({ type: 'leftover-removed', path: l.path, why: l.why, by: 'restore' });
  checkDataDir(opts.dataDir);

  emit({ type: 'verifying', file: opts.file });
  const report = verifySnapshotFile(opts.file, { key: opts.key });
  if (!report.ok || report.status === null || report.liveKeys === null) {
    throw new BosunError(
      `snapshot ${opts.file} is invalid: ${report.problem ?? 'unknown problem'}`,
      'SNAPSHOT_INVALID',
      {
        hint: 'Nothing was restored. Use another backup (bosun backup list).',
      },
    );
  }
  const tool = await findRestoreTool(deps.exec, deps.env);
  const self = processes.self();
  const staging = join(
    parent,
    stagingName(base, formatOwnerTag(self, (deps.random ?? randomBytes)(6).toString('hex'))),
  );
  let doing = 'creating its staging directory';
  try {
    mkdirSync(parent, { recursive: true, mode: 0o700 });
    mkdirSync(staging, { mode: 0o700 });
    let plainFile = opts.file;
    if (report.encrypted) {
      doing = 'decrypting the backup into the staging directory';
      plainFile = join(staging, 'snapshot.db');
      decryptToFile(opts.file, opts.key, plainFile);
    }
    doing = `running ${tool}`;
    // etcdctl refuses an existing data dir, even an empty one: it makes this one.
    const built = join(staging, 'data');
    const args = [
      'snapshot',
      'restore',
      plainFile,
      `--data-dir=${built}`,
      `--name=${name}`,
      `--initial-cluster=${initialCluster}`,
      `--initial-cluster-token=${token}`,
      `--initial-advertise-peer-urls=${peerUrls}`,
    ];
    emit({ type: 'restoring', tool, dataDir: opts.dataDir });
    const r = await deps.exec.run(
      deps.nodeBinary ?? process.execPath,
      tiedNodeArgs({ cmd: tool, args, watch: 'parent', parentPid: self.pid }),
      {
        env: { ...deps.env, ETCDCTL_API: '3' },
        timeoutMs: 30 * 60_000,
        signal: deps.signal,
      },
    );
    if (r.exitCode !== 0) {
      const tail = r.stderr.trim().split('\n').slice(-3).join(' | ');
      throw new ExecError(`${tool} snapshot restore failed (exit ${r.exitCode ?? 'signal'}): ${tail}`, {
        command: `${tool} ${args.join(' ')}`,
        exitCode: r.exitCode,
        stderrTail: tail,
        timedOut: r.timedOut,
      });
    }
    doing = 'moving the restored data dir into place';
    chmodSync(built, 0o700);
    // Onto an empty directory or none: rename(2) replaces an empty directory.
    renameSync(built, opts.dataDir);
    syncDir(parent);
  } catch (e) {
    if (deps.signal?.aborted)
      throw new BosunError(`interrupted: nothing was restored into ${opts.dataDir}`, 'INTERRUPTED', {
        cause: e,
      });
    if (isBosunError(e)) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    throw new BosunError(`cannot restore into ${opts.dataDir} while ${doing}: ${errorMessage(e)}`, 'IO', {
      cause: e,
      hint:
        code === 'EXDEV' || code === 'EBUSY'
          ? `${opts.dataDir} is a mount point: restore into a new directory inside it, and point etcd there.`
          : code === 'ENOSPC'
            ? `Free space beside ${opts.dataDir}: the restore is built there before it is moved into place.`
            : undefined,
    });
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return {
    dataDir: opts.dataDir,
    tool,
    name,
    members,
    initialCluster,
    initialClusterToken: token,
    revision: report.status.revision,
    liveKeys: report.liveKeys,
  };
}

/** Writes the plaintext of an encrypted backup to `out` (mode 0600). */
export function decryptToFile(file: string, key: EncryptionKey | null, out: string): void {
  const snap = openSnapshot(file, key);
  try {
    const src = snap.source;
    mkdirSync(join(out, '..'), { recursive: true, mode: 0o700 });
    writeFileSync(out, Buffer.alloc(0), { mode: 0o600 });
    const piece = 4 << 20;
    for (let off = 0; off < src.size; off += piece) {
      writeFileSync(out, src.read(off, Math.min(piece, src.size - off)), { flag: 'a' });
    }
  } finally {
    snap.close();
  }
}

/** fsyncs a directory so that a rename in it is durable. */
function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
