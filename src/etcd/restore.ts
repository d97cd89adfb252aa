// `bosun restore`: turns a snapshot into a new etcd data directory with `etcdutl snapshot restore`
// where installed, else `etcdctl snapshot restore` (etcd 3.4 has no etcdutl). It verifies the file
// first (an encrypted one is decrypted into a private temp dir and removed after), refuses a data
// dir that is not empty, and never leaves a half-restored data dir behind. Exported for the
// sandbox's restore and for `backup verify --trial-restore`, which pass paths and ports.
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  rmdirSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { BosunError, ExecError, UsageError, errorMessage } from '../common/errors.ts';
import type { Exec } from '../common/ports.ts';
import type { EncryptionKey } from './encryption.ts';
import { parseInitialCluster, type InitialMember } from './restore-plan.ts';
import { openSnapshot } from './snapshot-file.ts';
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
  /** Where the decrypted copy of an encrypted backup lives during the restore. */
  tmpDir: string;
  progress: (line: string) => void;
  signal?: AbortSignal;
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
  if (entries.length > 0) {
    throw new BosunError(
      `data dir ${dataDir} is not empty (${entries.length} entries): refusing to overwrite it`,
      'PRECONDITION',
      {
        hint: 'Restore into a new directory (e.g. /var/lib/etcd-restore) and point etcd at it, or move the old one away first.',
      },
    );
  }
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
  checkDataDir(opts.dataDir);

  deps.progress(`Verifying ${opts.file}`);
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
  let plainFile = opts.file;
  let scratch: string | null = null;
  try {
    if (report.encrypted) {
      scratch = mkdtempSync(join(deps.tmpDir, 'bosun-restore-'));
      chmodSync(scratch, 0o700);
      plainFile = join(scratch, 'snapshot.db');
      decryptToFile(opts.file, opts.key, plainFile);
    }
    // etcdctl refuses an existing data dir, even an empty one.
    try {
      rmdirSync(opts.dataDir);
    } catch {
      // absent
    }
    const args = [
      'snapshot',
      'restore',
      plainFile,
      `--data-dir=${opts.dataDir}`,
      `--name=${name}`,
      `--initial-cluster=${initialCluster}`,
      `--initial-cluster-token=${token}`,
      `--initial-advertise-peer-urls=${peerUrls}`,
    ];
    deps.progress(`Restoring with ${tool} into ${opts.dataDir}`);
    const r = await deps.exec.run(tool, args, {
      env: { ...deps.env, ETCDCTL_API: '3' },
      timeoutMs: 30 * 60_000,
      signal: deps.signal,
    });
    if (r.exitCode !== 0) {
      rmSync(opts.dataDir, { recursive: true, force: true });
      const tail = r.stderr.trim().split('\n').slice(-3).join(' | ');
      throw new ExecError(`${tool} snapshot restore failed (exit ${r.exitCode ?? 'signal'}): ${tail}`, {
        command: `${tool} ${args.join(' ')}`,
        exitCode: r.exitCode,
        stderrTail: tail,
        timedOut: r.timedOut,
      });
    }
    chmodSync(opts.dataDir, 0o700);
  } finally {
    if (scratch !== null) rmSync(scratch, { recursive: true, force: true });
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
