// `bosun backup verify --trial-restore`: restores the snapshot into a temporary data dir, starts
// an etcd on it (member.ts, free loopback ports, plain http), asks it for its revision and key
// count, compares them with what the file (and its sidecar) say, and stops it. The temp dir and
// the process are gone afterwards whatever happens.
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { BosunError, errorMessage } from '../common/errors.ts';
import { freePorts } from '../common/net.ts';
import type { EncryptionKey } from './encryption.ts';
import { etcdArgs, startEtcd } from './member.ts';
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

/** Restores into a temp dir, starts etcd there, compares, stops. */
export async function trialRestore(
  file: string,
  opts: { key: EncryptionKey | null; expected?: { revision: number; keys: number } },
  deps: RestoreDeps & { etcdBinary?: string },
): Promise<TrialResult> {
  const dir = mkdtempSync(join(deps.tmpDir, 'bosun-trial-'));
  try {
    const [clientPort, peerPort] = await freePorts(2);
    if (clientPort === undefined || peerPort === undefined)
      throw new BosunError('no free loopback ports', 'INTERNAL');
    const peer = `http://127.0.0.1:${peerPort}`;
    const dataDir = join(dir, 'data');
    const restored = await restoreSnapshot(
      {
        file,
        dataDir,
        name: 'trial',
        initialCluster: `trial=${peer}`,
        initialAdvertisePeerUrls: peer,
        key: opts.key,
      },
      deps,
    );
    const expected = opts.expected ?? { revision: restored.revision, keys: restored.liveKeys };
    deps.progress('Starting etcd on the restored data');
    const etcd = await startEtcd({
      binary: deps.etcdBinary,
      args: etcdArgs({ name: 'trial', dataDir, clientPort, peerPort }),
      clientUrl: `http://127.0.0.1:${clientPort}`,
      logFile: join(dir, 'etcd.log'),
    });
    const client = new Etcd3({ hosts: [etcd.clientUrl], dialTimeout: 10_000 });
    try {
      const r = await client.kv.range({
        key: Buffer.from([0]),
        range_end: Buffer.from([0]),
        count_only: true,
      });
      const revision = Number(r.header.revision);
      const keys = Number(r.count);
      let problem: string | null = null;
      if (revision !== expected.revision)
        problem = `the restored etcd is at revision ${revision}, expected ${expected.revision}`;
      else if (keys !== expected.keys)
        problem = `the restored etcd holds ${keys} keys, expected ${expected.keys}`;
      return { revision, keys, expected, ok: problem === null, problem };
    } catch (e) {
      throw new BosunError(`the restored etcd did not answer: ${errorMessage(e)}`, 'ETCD', { cause: e });
    } finally {
      client.close();
      await etcd.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
