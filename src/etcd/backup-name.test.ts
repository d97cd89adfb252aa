import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  backupFileName,
  parseBackupFileName,
  sanitizeClusterName,
  sidecarTempFileName,
  tempFileName,
  tempFileTag,
} from './backup-name.ts';

const t = new Date('2025-03-04T05:06:07.890Z');

for (const tc of [
  {
    n: { cluster: 'kubernetes', time: t, revision: 1234, encrypted: false, seq: 0 },
    want: 'etcd-kubernetes-20250304T050607Z-rev1234.db',
  },
  {
    n: { cluster: 'Prod East', time: t, revision: 1, encrypted: true, seq: 0 },
    want: 'etcd-prod-east-20250304T050607Z-rev1.db.enc',
  },
  {
    n: { cluster: 'a1b2', time: t, revision: 9, encrypted: false, seq: 2 },
    want: 'etcd-a1b2-20250304T050607Z-rev9-2.db',
  },
]) {
  test(`backupFileName names ${tc.want} and parses it back`, () => {
    assert.equal(backupFileName(tc.n), tc.want);
    const p = parseBackupFileName(tc.want);
    assert.deepEqual(p, {
      ...tc.n,
      cluster: sanitizeClusterName(tc.n.cluster),
      time: new Date('2025-03-04T05:06:07Z'),
    });
  });
}

for (const name of [
  'etcd.db',
  'snapshot.db',
  'etcd-x-20250304T050607Z-rev12.db.json',
  'etcd-x-2025-rev1.db',
  tempFileName('abc'),
  'etcd-x-20251399T999999Z-rev1.db',
]) {
  test(`parseBackupFileName ignores ${name}`, () => assert.equal(parseBackupFileName(name), null));
}

for (const tc of [
  { in: 'Kubernetes', want: 'kubernetes' },
  { in: '../../etc', want: 'etc' },
  { in: '***', want: 'etcd' },
  { in: 'cluster_1.example', want: 'cluster-1.example' },
]) {
  test(`sanitizeClusterName(${JSON.stringify(tc.in)}) is ${tc.want}`, () =>
    assert.equal(sanitizeClusterName(tc.in), tc.want));
}

for (const tc of [
  { name: tempFileName('0123456789ab-42-77-aaaaaaaaaaaa'), want: '0123456789ab-42-77-aaaaaaaaaaaa' },
  { name: sidecarTempFileName('0123456789ab-42-77-aaaaaaaaaaaa'), want: '0123456789ab-42-77-aaaaaaaaaaaa' },
  { name: '.bosun-backup-0123456789ab.part', want: '0123456789ab' },
  { name: '.bosun-backup-0123456789ab.json.part', want: '0123456789ab' },
  { name: '.bosun-backup-.part', want: null },
  { name: 'etcd-x-20250304T050607Z-rev12.db', want: null },
  { name: '.bosun-backup-abc.part.old', want: null },
]) {
  test(`tempFileTag(${JSON.stringify(tc.name)}) is ${String(tc.want)}`, () =>
    assert.equal(tempFileTag(tc.name), tc.want));
}
