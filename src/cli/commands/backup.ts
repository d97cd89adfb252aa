// bosun backup [status|verify|list] and bosun restore (issue 4): flags, help and printing only;
// the work is in src/etcd/ (imported lazily so other commands do not load gRPC).
//
// `backup` both acts and has subcommands, and commander lets the parent consume options it also
// defines (e.g. -o) even after a subcommand's name; subcommands therefore read their options with
// optsWithGlobals(), and shared options have no commander defaults.
import type { Command } from 'commander';
import { parseDuration } from '../../common/duration.ts';
import type { CliContext } from '../context.ts';
import {
  NO_HEADERS_HELP,
  TABLE_AND_NAME_FORMATS,
  TABLE_FORMATS,
  outputHelp,
  parseOutputFormat,
  parseWholeNumber,
  usageError,
} from '../flags.ts';
import { formatDocument, formatTable, formatYaml, isDocumentFormat } from '../output.ts';

interface BackupFlags {
  endpoints?: string;
  cacert?: string;
  cert?: string;
  key?: string;
  pkiDir?: string;
  dir?: string;
  clusterName?: string;
  keep?: string;
  keepWithin?: string;
  encryptionKeyFile?: string;
  maxLag?: string;
  dialTimeout?: string;
  commandTimeout?: string;
  output?: string;
  trialRestore?: boolean;
  headers?: boolean;
}

interface RestoreFlags {
  dataDir?: string;
  name?: string;
  initialCluster?: string;
  initialAdvertisePeerUrls?: string;
  initialClusterToken?: string;
  encryptionKeyFile?: string;
  output?: string;
}

const BACKUP_LONG = `Take a snapshot of etcd through its Maintenance API and keep it as a verified backup.

The snapshot streams into a temporary file in --dir, is fsynced and verified (sha256 trailer,
every bbolt page, etcdctl's status numbers), and only then renamed to
etcd-<cluster>-<time>-rev<revision>.db (mode 0600) beside a JSON sidecar. A failure or Ctrl-C
leaves no partial backup; after a kill, the next backup in --dir removes what the killed one left. With several --endpoints, a healthy member that is not lagging is used.
Defaults are kubeadm's on a control-plane node: https://127.0.0.1:2379 and the etcd server
certificate under /etc/kubernetes/pki/etcd/. Retention (--keep, --keep-within) only prunes
verified backups that bosun wrote.

Exit codes: 0 saved and verified, 1 failed (nothing saved), 2 usage error.`;

const BACKUP_EXAMPLES = `
Examples:
  # Back up etcd on a kubeadm control-plane node into ~/.bosun/backups
  bosun backup

  # Back up into /var/backups/etcd, keeping the 7 newest and everything from the last 24 hours
  bosun backup --dir /var/backups/etcd --keep 7 --keep-within 24h

  # Pick a healthy member among three, with explicit certificates
  bosun backup --endpoints https://10.0.0.1:2379,https://10.0.0.2:2379,https://10.0.0.3:2379 \\
    --cacert ca.crt --cert client.crt --key client.key

  # Encrypt the backup at rest (AES-256-GCM)
  head -c 32 /dev/urandom | base64 > backup.key && chmod 600 backup.key
  bosun backup --encryption-key-file backup.key`;

/** Registers the commands of this module on the program. */
export function registerBackupCommands(program: Command, ctx: CliContext): void {
  const defaultDir = `${ctx.home}/.bosun/backups`;
  const backup = program
    .command('backup')
    .summary('Take a verified etcd snapshot; check, list and inspect backups')
    .description(BACKUP_LONG)
    .option('--endpoints <urls>', 'Comma-separated etcd client URLs (default https://127.0.0.1:2379)')
    .option('--cacert <file>', 'Verify etcd with this CA bundle (default <pki-dir>/etcd/ca.crt)')
    .option('--cert <file>', 'Client certificate (default <pki-dir>/etcd/server.crt)')
    .option('--key <file>', 'Client private key (default <pki-dir>/etcd/server.key)')
    .option(
      '--pki-dir <dir>',
      "kubeadm's PKI directory the defaults are taken from (default /etc/kubernetes/pki)",
    )
    .option('--dir <dir>', `Backup directory (default ${defaultDir})`)
    .option('--cluster-name <name>', 'Label in the backup name (default: the etcd cluster ID)')
    .option('--keep <n>', 'Keep the newest N verified backups of this cluster; prune older ones')
    .option('--keep-within <duration>', 'Keep every verified backup younger than this (e.g. 24h, 7d)')
    .option('--encryption-key-file <file>', 'Encrypt with the 32-byte key in this file (raw, hex or base64)')
    .option(
      '--max-lag <entries>',
      'Skip members whose applied raft index trails the best by more than this (default 100)',
    )
    .option(
      '--dial-timeout <duration>',
      'Timeout for reaching each endpoint: connect, TLS, health and status (default 5s)',
    )
    .option(
      '--command-timeout <duration>',
      'Fail when etcd sends nothing for this long while it streams the snapshot (default 30s)',
    )
    .option('-o, --output <format>', outputHelp(TABLE_AND_NAME_FORMATS))
    .addHelpText('after', BACKUP_EXAMPLES)
    .action(async (_opts: BackupFlags, cmd: Command) => {
      await runBackup(cmd.optsWithGlobals<BackupFlags>(), ctx, defaultDir);
    });

  backup
    .command('status')
    .argument('<file>', 'snapshot file')
    .summary('Print the hash, revision, total keys and size of a snapshot, as etcdctl snapshot status')
    .description(
      `Print a snapshot's hash, revision, total keys and total size: the numbers etcdctl snapshot status
prints, computed by reading the bbolt file (no etcdctl needed). JSON uses etcdctl's field names.

Exit codes: 0 printed, 1 the file is not a readable snapshot, 2 usage error.`,
    )
    .option('-o, --output <format>', outputHelp(TABLE_FORMATS))
    .option('--no-headers', NO_HEADERS_HELP)
    .option('--encryption-key-file <file>', 'Key of an encrypted backup')
    .addHelpText(
      'after',
      `
Examples:
  # Status of a backup, as a table
  bosun backup status ~/.bosun/backups/etcd-kubernetes-20250101T020000Z-rev1234.db

  # The same numbers as etcdctl snapshot status -w json
  bosun backup status snapshot.db -o json`,
    )
    .action(async (file: string, _o: BackupFlags, cmd: Command) => {
      await runStatus(file, cmd.optsWithGlobals<BackupFlags>(), ctx);
    });

  backup
    .command('verify')
    .argument('<file>', 'snapshot file')
    .summary('Check a snapshot: sha256 trailer, bbolt structure, sidecar; optionally a trial restore')
    .description(
      `Check that a snapshot is whole and sound: the sha256 trailer etcd appends, both bbolt meta pages,
a walk of every page (ids in range, none reached twice, keys in order, freelist consistent), and
the sidecar when there is one. With --trial-restore, also restore it into a temporary data dir,
start etcd on it, and compare its revision and key count. That etcd listens on unix sockets in a
directory only this user can enter, and dies with bosun.

Exit codes: 0 the snapshot is good, 1 a problem was found (printed on one line), 2 usage error.`,
    )
    .option('--trial-restore', 'Also restore into a temporary etcd and compare revision and key count')
    .option('--encryption-key-file <file>', 'Key of an encrypted backup')
    .option('-o, --output <format>', outputHelp(TABLE_FORMATS))
    .addHelpText(
      'after',
      `
Examples:
  # Verify a backup
  bosun backup verify ~/.bosun/backups/etcd-kubernetes-20250101T020000Z-rev1234.db

  # Verify it, then prove it restores
  bosun backup verify snapshot.db --trial-restore`,
    )
    .action(async (file: string, _o: BackupFlags, cmd: Command) => {
      await runVerify(file, cmd.optsWithGlobals<BackupFlags>(), ctx);
    });

  backup
    .command('list')
    .summary("List bosun's backups with age, revision, size and whether they are verified")
    .description(
      `List the backups bosun wrote in a directory, newest first, and count the temporary files of
backups that are running or were killed (the next backup there removes the latter).

Exit codes: 0 listed, 1 the directory cannot be read, 2 usage error.`,
    )
    .option('--dir <dir>', `Backup directory (default ${defaultDir})`)
    .option('-o, --output <format>', outputHelp(TABLE_AND_NAME_FORMATS))
    .option('--no-headers', NO_HEADERS_HELP)
    .addHelpText(
      'after',
      `
Examples:
  # List the backups in the default directory
  bosun backup list

  # List them as JSON
  bosun backup list --dir /var/backups/etcd -o json`,
    )
    .action(async (_o: BackupFlags, cmd: Command) => {
      await runList(cmd.optsWithGlobals<BackupFlags>(), ctx, defaultDir);
    });

  program
    .command('restore')
    .argument('<file>', 'snapshot file')
    .summary('Restore an etcd snapshot into a new data directory')
    .description(
      `Restore a snapshot into a new etcd data directory with etcdutl (or etcdctl snapshot restore where
etcdutl is absent). The snapshot is verified first; a data directory that is not empty is refused.
The data directory is built beside it and renamed into place when complete, so that an interrupted
restore never leaves a half-made one.
For a cluster of several members (--initial-cluster with more than one), the per-member steps for
an HA control plane are printed.

Exit codes: 0 restored, 1 failed (nothing restored), 2 usage error.`,
    )
    .requiredOption('--data-dir <dir>', 'New data directory (must not exist or be empty)')
    .option('--name <name>', 'Human-readable name for this member (default "default")')
    .option(
      '--initial-cluster <list>',
      'Initial cluster configuration: name=peerURL,... (default: this member alone)',
    )
    .option('--initial-advertise-peer-urls <urls>', "This member's peer URLs (default http://localhost:2380)")
    .option('--initial-cluster-token <token>', 'Initial cluster token (default "etcd-cluster")')
    .option('--encryption-key-file <file>', 'Key of an encrypted backup')
    .option('-o, --output <format>', outputHelp(TABLE_FORMATS))
    .addHelpText(
      'after',
      `
Examples:
  # Restore a single-member etcd (kubeadm's default name is the node name)
  bosun restore backup.db --data-dir /var/lib/etcd-restore --name cp-1 \\
    --initial-cluster cp-1=https://10.0.0.1:2380 --initial-advertise-peer-urls https://10.0.0.1:2380

  # Print the steps for all three control planes, restoring this one
  bosun restore backup.db --data-dir /var/lib/etcd-restore --name cp-1 \\
    --initial-cluster cp-1=https://10.0.0.1:2380,cp-2=https://10.0.0.2:2380,cp-3=https://10.0.0.3:2380 \\
    --initial-advertise-peer-urls https://10.0.0.1:2380`,
    )
    .action(async (file: string, opts: RestoreFlags) => {
      await runRestore(file, opts, ctx);
    });
}

function resolvePath(ctx: CliContext, p: string): string {
  return p.startsWith('/') ? p : `${ctx.cwd}/${p}`;
}

async function loadKey(
  ctx: CliContext,
  file: string | undefined,
): Promise<import('../../etcd/encryption.ts').EncryptionKey | null> {
  if (file === undefined) return null;
  const { readKeyFile } = await import('../../etcd/index.ts');
  return readKeyFile(resolvePath(ctx, file));
}

// The values are parsed by the shared parsers; the wording of these two errors is backup's own
// (test/backup-etcd.test.ts asserts it).
function wholeNumber(v: string | undefined, flag: string, cmd: string): number | undefined {
  if (v === undefined) return undefined;
  const n = parseWholeNumber(v);
  if (n === undefined)
    throw usageError(`invalid value ${JSON.stringify(v)} for ${flag}: want a whole number`, cmd);
  return n;
}

function durationMs(v: string | undefined, flag: string, cmd: string): number | undefined {
  if (v === undefined) return undefined;
  const ms = parseDuration(v);
  if (ms === undefined)
    throw usageError(`invalid duration ${JSON.stringify(v)} for ${flag}: use e.g. 90s, 30m, 24h, 7d`, cmd);
  return ms;
}

/** A timeout flag: 0 would mean "fail at once" (etcdctl has no "no timeout" for these either). */
function timeoutMs(v: string | undefined, flag: string, cmd: string, dflt: number): number {
  const ms = durationMs(v, flag, cmd) ?? dflt;
  if (ms <= 0) throw usageError(`${flag} must be more than 0 (e.g. 5s)`, cmd);
  return ms;
}

async function runBackup(o: BackupFlags, ctx: CliContext, defaultDir: string): Promise<void> {
  const fmt = parseOutputFormat(o.output, TABLE_AND_NAME_FORMATS, 'backup');
  const keep = wholeNumber(o.keep, '--keep', 'backup');
  if (keep === 0)
    throw usageError('--keep must be at least 1 (the backup just taken is always kept)', 'backup');
  const keepWithinMs = durationMs(o.keepWithin, '--keep-within', 'backup');
  const maxLag = wholeNumber(o.maxLag, '--max-lag', 'backup') ?? 100;
  const dialMs = timeoutMs(o.dialTimeout, '--dial-timeout', 'backup', 5000);
  const idleMs = timeoutMs(o.commandTimeout, '--command-timeout', 'backup', 30_000);
  const endpoints = (o.endpoints ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  const etcd = await import('../../etcd/index.ts');
  const print = await import('../print/etcd-progress.ts');
  if (endpoints.length === 0) endpoints.push(etcd.KUBEADM_ETCD_ENDPOINT);
  for (const e of endpoints)
    if (!/^https?:\/\/[^/]+/.test(e))
      throw usageError(`invalid endpoint ${JSON.stringify(e)}: want https://host:port`, 'backup');
  const needTls = endpoints.some((e) => e.startsWith('https://'));
  const defaults = etcd.kubeadmTlsPaths(o.pkiDir ? resolvePath(ctx, o.pkiDir) : undefined);
  const tls = needTls
    ? etcd.loadTls(
        {
          cacert: o.cacert ? resolvePath(ctx, o.cacert) : defaults.cacert,
          cert: o.cert ? resolvePath(ctx, o.cert) : defaults.cert,
          key: o.key ? resolvePath(ctx, o.key) : defaults.key,
        },
        ctx.clock.now(),
      )
    : null;
  const key = await loadKey(ctx, o.encryptionKeyFile);
  const port = await etcd.createEtcdPort({ tls, timeoutMs: dialMs, idleTimeoutMs: idleMs });
  try {
    const r = await etcd.takeBackup(
      {
        endpoints,
        dir: resolvePath(ctx, o.dir ?? defaultDir),
        clusterName: o.clusterName,
        encryptionKey: key,
        retention: { keep, keepWithinMs },
        maxLagEntries: maxLag,
      },
      {
        etcd: port,
        fs: etcd.nodeBackupFs,
        clock: ctx.clock,
        signal: ctx.signal,
        observer: (e) => ctx.out.err(print.etcdEventLine(e)),
      },
    );
    const doc = { ...r.sidecar, file: r.file, sidecarFile: r.sidecarFile, pruned: r.pruned };
    if (isDocumentFormat(fmt)) ctx.out.out(await formatDocument(doc, fmt));
    else if (fmt === 'name') ctx.out.out(r.file);
    else {
      ctx.out.out(
        `backup ${r.file} saved (revision ${r.sidecar.revision}, ${r.sidecar.liveKeys} keys, verified)`,
      );
      for (const p of r.pruned) ctx.out.out(`backup ${p} pruned`);
    }
  } finally {
    port.close();
  }
}

async function runStatus(file: string, o: BackupFlags, ctx: CliContext): Promise<void> {
  const fmt = parseOutputFormat(o.output, TABLE_FORMATS, 'backup status');
  const etcd = await import('../../etcd/index.ts');
  const key = await loadKey(ctx, o.encryptionKeyFile);
  const s = etcd.snapshotStatus(resolvePath(ctx, file), key);
  if (fmt === 'json') ctx.out.out(JSON.stringify(s));
  else if (fmt === 'yaml') ctx.out.out(await formatYaml(s));
  else {
    for (const line of formatTable(
      o.headers === false ? null : ['HASH', 'REVISION', 'TOTAL KEYS', 'TOTAL SIZE'],
      [[s.hash.toString(16), String(s.revision), String(s.totalKey), etcd.humanizeBytes(s.totalSize)]],
    )) {
      ctx.out.out(line);
    }
  }
}

async function runVerify(file: string, o: BackupFlags, ctx: CliContext): Promise<void> {
  const fmt = parseOutputFormat(o.output, TABLE_FORMATS, 'backup verify');
  const etcd = await import('../../etcd/index.ts');
  const print = await import('../print/etcd-progress.ts');
  const key = await loadKey(ctx, o.encryptionKeyFile);
  const path = resolvePath(ctx, file);
  const report = etcd.verifySnapshotFile(path, { key });
  let trial: Awaited<ReturnType<typeof etcd.trialRestore>> | null = null;
  if (report.ok && o.trialRestore) {
    ctx.out.err('Trial restore: restoring into a temporary data dir');
    const expected =
      report.status && report.liveKeys !== null
        ? { revision: report.status.revision, keys: report.liveKeys }
        : undefined;
    trial = await etcd.trialRestore(
      path,
      { key, expected },
      {
        exec: ctx.exec,
        env: ctx.env,
        tmpDir: etcd.tmpDir(ctx.env),
        observer: (e) => ctx.out.err(print.etcdEventLine(e)),
        signal: ctx.signal,
      },
    );
  }
  const ok = report.ok && (trial === null || trial.ok);
  const doc = { ...report, ok, trialRestore: trial };
  if (isDocumentFormat(fmt)) ctx.out.out(await formatDocument(doc, fmt));
  else if (ok && report.status) {
    const what = [
      'sha256 trailer ok',
      'bbolt structure ok',
      `revision ${report.status.revision}`,
      `${report.liveKeys ?? '?'} keys`,
      report.sidecar === 'matches' ? 'sidecar matches' : 'no sidecar',
      ...(trial ? [`trial restore ok (revision ${trial.revision}, ${trial.keys} keys)`] : []),
    ];
    ctx.out.out(`${file}: OK (${what.join(', ')})`);
  }
  if (!report.ok) {
    const { BosunError } = await import('../../common/errors.ts');
    throw new BosunError(
      report.sidecar === 'unreadable'
        ? (report.problem ?? 'the sidecar is unreadable')
        : `snapshot ${file} is invalid: ${report.problem ?? 'unknown problem'}`,
      'SNAPSHOT_INVALID',
    );
  }
  if (trial && !trial.ok) {
    const { BosunError } = await import('../../common/errors.ts');
    throw new BosunError(
      `trial restore of ${file} does not match: ${trial.problem ?? ''}`,
      'SNAPSHOT_INVALID',
    );
  }
}

async function runList(o: BackupFlags, ctx: CliContext, defaultDir: string): Promise<void> {
  const fmt = parseOutputFormat(o.output, TABLE_AND_NAME_FORMATS, 'backup list');
  const etcd = await import('../../etcd/index.ts');
  const { humanDuration } = await import('../../common/duration.ts');
  const dir = resolvePath(ctx, o.dir ?? defaultDir);
  const entries = await etcd.listBackups(dir, etcd.nodeBackupFs);
  const temporaries = await etcd.listTemporaries(dir, etcd.nodeBackupFs, {
    processes: etcd.procTable,
    now: ctx.clock.now(),
  });
  const now = ctx.clock.now().getTime();
  const items = entries.map((e) => ({
    name: e.name,
    path: e.path,
    time: e.parsed.time.toISOString(),
    cluster: e.parsed.cluster,
    revision: e.parsed.revision,
    size: e.size,
    verified: e.verified,
    encrypted: e.parsed.encrypted,
    reason: e.why,
  }));
  const temps = temporaries.map((t) => ({
    name: t.name,
    path: t.path,
    size: t.size,
    state: t.state,
    reason: t.why,
  }));
  if (isDocumentFormat(fmt))
    ctx.out.out(await formatDocument({ dir, backups: items, temporaries: temps }, fmt));
  else if (fmt === 'name') for (const i of items) ctx.out.out(i.path);
  else if (items.length === 0) ctx.out.err(`No backups found in ${dir}.`);
  else {
    const rows = entries.map((e) => [
      e.name,
      humanDuration(now - e.parsed.time.getTime()),
      String(e.parsed.revision),
      etcd.humanizeBytes(e.size),
      e.verified ? 'yes' : `no (${e.why ?? ''})`,
      e.parsed.encrypted ? 'yes' : 'no',
    ]);
    for (const line of formatTable(
      o.headers === false ? null : ['NAME', 'AGE', 'REVISION', 'SIZE', 'VERIFIED', 'ENCRYPTED'],
      rows,
    ))
      ctx.out.out(line);
  }
  const summary = fmt === 'table' ? etcd.temporariesSummary(dir, temporaries) : null;
  if (summary !== null) ctx.out.err(summary);
}

async function runRestore(file: string, o: RestoreFlags, ctx: CliContext): Promise<void> {
  const fmt = parseOutputFormat(o.output, TABLE_FORMATS, 'restore');
  if (!o.dataDir) throw usageError('--data-dir is required', 'restore');
  const etcd = await import('../../etcd/index.ts');
  const print = await import('../print/etcd-progress.ts');
  const key = await loadKey(ctx, o.encryptionKeyFile);
  const r = await etcd.restoreSnapshot(
    {
      file: resolvePath(ctx, file),
      dataDir: resolvePath(ctx, o.dataDir),
      name: o.name,
      initialCluster: o.initialCluster,
      initialAdvertisePeerUrls: o.initialAdvertisePeerUrls,
      initialClusterToken: o.initialClusterToken,
      key,
    },
    {
      exec: ctx.exec,
      env: ctx.env,
      clock: ctx.clock,
      observer: (e) => ctx.out.err(print.etcdEventLine(e)),
      signal: ctx.signal,
    },
  );
  const steps = etcd.haRestoreSteps({
    file,
    dataDir: o.dataDir,
    members: r.members,
    initialCluster: r.initialCluster,
    initialClusterToken: r.initialClusterToken,
  });
  if (isDocumentFormat(fmt)) ctx.out.out(await formatDocument({ ...r, steps }, fmt));
  else {
    ctx.out.out(
      `member ${r.name} restored into ${r.dataDir} with ${r.tool} (revision ${r.revision}, ${r.liveKeys} keys)`,
    );
    for (const l of steps) ctx.out.out(l);
  }
}
