// The lines `bosun backup`, `bosun restore` and `bosun backup verify --trial-restore` print for the
// etcd feature's events. The end-to-end tests (test/backup-*.test.ts) check that the feature
// reports them when it should; these check the words, byte for byte.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EtcdEvent } from '../../etcd/index.ts';
import { etcdEventLine } from './etcd-progress.ts';

const MIB = 1024 * 1024;

const CASES: { name: string; event: EtcdEvent; line: string }[] = [
  {
    name: 'a member chosen',
    event: { type: 'member', endpoint: 'https://10.0.0.1:2379', chosen: true, why: 'healthy, leader' },
    line: 'using https://10.0.0.1:2379: healthy, leader',
  },
  {
    name: 'a member skipped',
    event: { type: 'member', endpoint: 'https://10.0.0.2:2379', chosen: false, why: 'lags by 500 entries' },
    line: 'skipping https://10.0.0.2:2379: lags by 500 entries',
  },
  {
    name: 'the backup directory cannot be searched for leftovers',
    event: { type: 'leftover-scan-failed', dir: '/b', error: 'EACCES: permission denied' },
    line: 'WARNING: could not look for leftovers of interrupted backups in /b: EACCES: permission denied',
  },
  {
    name: 'a leftover that cannot be removed',
    event: {
      type: 'leftover-not-removed',
      path: '/b/.x.part',
      why: 'bosun (pid 12) is gone',
      error: 'EPERM: operation not permitted',
    },
    line: 'WARNING: could not remove /b/.x.part (bosun (pid 12) is gone): EPERM: operation not permitted',
  },
  {
    name: "a killed backup's sidecar put in place",
    event: { type: 'sidecar-completed', file: '/b/etcd-k-20250101T000000Z-rev5.db' },
    line: 'Completed /b/etcd-k-20250101T000000Z-rev5.db: an interrupted backup had verified it but not yet named its sidecar',
  },
  {
    name: 'one leftover removed',
    event: { type: 'leftovers-removed', files: [{ path: '/b/.a.part', size: 1000 }] },
    line: 'Removed 1 leftover temporary file of interrupted backups (1000 B)',
  },
  {
    name: 'several leftovers removed: their sizes add up',
    event: {
      type: 'leftovers-removed',
      files: [
        { path: '/b/.a.part', size: 2 * MIB },
        { path: '/b/.a.json.part', size: MIB },
      ],
    },
    line: 'Removed 2 leftover temporary files of interrupted backups (3.0 MiB)',
  },
  {
    name: 'the snapshot starts from a named member, encrypted',
    event: { type: 'snapshot-started', endpoint: 'https://10.0.0.1:2379', member: 'cp-1', keyId: 'k1' },
    line: 'Taking a snapshot from member cp-1 (https://10.0.0.1:2379), encrypting with key k1',
  },
  {
    name: 'the snapshot starts from an endpoint whose member name is unknown',
    event: { type: 'snapshot-started', endpoint: 'http://127.0.0.1:2379', member: null, keyId: null },
    line: 'Taking a snapshot from http://127.0.0.1:2379',
  },
  {
    name: 'bytes received so far',
    event: { type: 'snapshot-progress', received: 3 * MIB, total: 12 * MIB },
    line: '  3.0 MiB of 12 MiB (25%)',
  },
  {
    name: 'the percentage is rounded down',
    event: { type: 'snapshot-progress', received: 2 * MIB, total: 3 * MIB },
    line: '  2.0 MiB of 3.0 MiB (66%)',
  },
  {
    name: 'the snapshot received',
    event: { type: 'snapshot-received', bytes: 5 * MIB },
    line: 'Received 5.0 MiB; verifying',
  },
  {
    name: 'the backup saved',
    event: { type: 'saved', file: '/b/etcd-k-rev9.db', revision: 9, liveKeys: 120, size: 20480 },
    line: 'Saved /b/etcd-k-rev9.db (revision 9, 120 keys, 20 KiB, verified)',
  },
  {
    name: 'a backup pruned',
    event: { type: 'pruned', path: '/b/etcd-k-rev1.db' },
    line: 'Pruned /b/etcd-k-rev1.db',
  },
  {
    name: 'a backup that cannot be pruned',
    event: { type: 'prune-failed', path: '/b/etcd-k-rev1.db', error: 'EBUSY: resource busy' },
    line: 'WARNING: could not prune /b/etcd-k-rev1.db: EBUSY: resource busy',
  },
  {
    name: "a killed restore's staging directory removed",
    event: {
      type: 'leftover-removed',
      path: '/var/lib/.etcd.bosun-restore-x',
      why: 'bosun (pid 7) is gone',
      by: 'restore',
    },
    line: 'Removed /var/lib/.etcd.bosun-restore-x, left by an interrupted restore (bosun (pid 7) is gone)',
  },
  {
    name: "a killed trial restore's directory removed",
    event: {
      type: 'leftover-removed',
      path: '/tmp/bosun-trial-x',
      why: 'bosun (pid 7) is gone',
      by: 'trial-restore',
    },
    line: 'Removed /tmp/bosun-trial-x, left by an interrupted trial restore (bosun (pid 7) is gone)',
  },
  {
    name: 'the snapshot file verified before a restore',
    event: { type: 'verifying', file: '/b/etcd-k-rev9.db' },
    line: 'Verifying /b/etcd-k-rev9.db',
  },
  {
    name: 'the restore tool runs',
    event: { type: 'restoring', tool: 'etcdutl', dataDir: '/var/lib/etcd-restore' },
    line: 'Restoring with etcdutl into /var/lib/etcd-restore',
  },
  {
    name: 'the trial restore starts etcd',
    event: { type: 'trial-etcd-starting' },
    line: 'Starting etcd on the restored data (unix sockets only)',
  },
];

for (const c of CASES) {
  test(`etcd progress: ${c.name}`, () => {
    assert.equal(etcdEventLine(c.event), c.line);
  });
}
