// `bosun backup verify --trial-restore`: restores the snapshot into a temporary directory, starts
// an etcd on it, asks it for its revision and key count, compares them with what the file (and its
// sidecar) say, and stops it. The restored etcd holds every key of the cluster, Secrets included,
// so no other user may reach it and it may not outlive bosun:
//  - it listens on unix sockets only (client and peer), in a directory of mode 0700 under $TMPDIR:
//    no TCP port, and no one but this user (and root) can connect;
//  - it runs tied to bosun (tied.ts): a SIGKILL of bosun takes it down at once;
//  - the directory's name records its owner (owner.ts), and the next trial restore removes the
//    directories of runs that were killed. Otherwise the directory is gone afterwards, whatever
//    happens.
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { BosunError, errorMessage } from '../common/errors.ts';
import type { EncryptionKey } from './encryption.ts';
import { grpcChannel } from './grpc-h2.ts';
import { decodeRangeResponse, encodeRangeRequest } from './kv-wire.ts';
import { findLeftovers, nodeLeftoverFs, removeStale } from './leftovers.ts';
import { etcdArgs, startEtcd, unixSocketPath } from './member.ts';
import { formatOwnerTag } from './owner.ts';
import { procTable } from './proc-table.ts';
import { restoreSnapshot, type RestoreDeps } from './restore.ts';

/** What the restored member answered, and what was expected. */
export interface TrialResult {
  revision: number;
  keys: number;
  expected: { revision: number; keys: number };
  ok: boolean;
  /** One line when it does not match. */
  problem: string | null;
}

const PREFIX = 'bosun-trial-';
/** etcd 3.4 wants host:port in unix URLs; the socket is the file `client.sock:0` in its working directory. */
const CLIENT_URL = 'unix://client.sock:0';
const PEER_URL = 'unix://peer.sock:0';

/** Restores into a temp dir, starts etcd there, compares, stops. */
export async function trialRestore(
  file: string,
  opts: { key: EncryptionKey | null; expected?: { revision: number; keys: number } },
  deps: RestoreDeps & { tmpDir: string; etcdBinary?: string },
): Promise<TrialResult> {
  const processes = deps.processes ?? procTable;
  const found = await findLeftovers(
    {
      dir: deps.tmpDir,
      tagOf: (n) => (n.startsWith(PREFIX) ? n.slice(PREFIX.length) : null),
      processes,
      now: deps.clock?.now() ?? new Date(),
      uid: process.getuid?.(),
    },
    nodeLeftoverFs,
  );
  const { removed, failed } = await removeStale(found, nodeLeftoverFs);
  for (const f of failed) deps.observer?.(f);
  for (const l of removed)
    deps.observer?.({ type: 'leftover-removed', path: l.path, why: l.why, by: 'trial-restore' });

  const self = processes.self();
  const dir = join(
    deps.tmpDir,
    `${PREFIX}${formatOwnerTag(self, (deps.random ?? randomBytes)(6).toString('hex'))}`,
  );
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    throw new BosunError(
      `cannot make a directory for the trial restore in ${deps.tmpDir}: ${(e as NodeJS.ErrnoException).code ?? errorMessage(e)}`,
      'IO',
      { cause: e, hint: 'Set TMPDIR to a directory this user may write to.' },
    );
  }
  try {
    chmodSync(dir, 0o700);
    const dataDir = join(dir, 'data');
    const restored = await restoreSnapshot(
      {
        file,
        dataDir,
        name: 'trial',
        initialCluster: `trial=${PEER_URL}`,
        initialAdvertisePeerUrls: PEER_URL,
        key: opts.key,
      },
      deps,
    );
    const expected = opts.expected ?? { revision: restored.revision, keys: restored.liveKeys };
    deps.observer?.({ type: 'trial-etcd-starting' });
    const etcd = await startEtcd({
      binary: deps.etcdBinary,
      args: etcdArgs({
        name: 'trial',
        dataDir,
        clientPort: 0,
        peerPort: 0,
        urls: { client: CLIENT_URL, peer: PEER_URL },
      }),
      clientUrl: CLIENT_URL,
      cwd: dir,
      logFile: join(dir, 'etcd.log'),
      tiedTo: { nodeBinary: deps.nodeBinary ?? process.execPath, pid: self.pid },
    });
    const channel = grpcChannel(CLIENT_URL, null, { socketPath: unixSocketPath(CLIENT_URL, dir) });
    try {
      const r = decodeRangeResponse(
        await channel.unary(
          'etcdserverpb.KV/Range',
          encodeRangeRequest({ key: Buffer.from([0]), rangeEnd: Buffer.from([0]), countOnly: true }),
          10_000,
        ),
      );
      const revision = r.revision;
      const keys = r.count;
      let problem: string | null = null;
      if (revision !== expected.revision)
        problem = `the restored etcd is at revision ${revision}, expected ${expected.revision}`;
      else if (keys !== expected.keys)
        problem = `the restored etcd holds ${keys} keys, expected ${expected.keys}`;
      return { revision, keys, expected, ok: problem === null, problem };
    } catch (e) {
      throw new BosunError(`the restored etcd did not answer: ${errorMessage(e)}`, 'ETCD', { cause: e });
    } finally {
      channel.close();
      await etcd.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
