import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePorts } from '../common/net.ts';
import { etcdArgs, etcdHealthy, startEtcd } from './member.ts';
import { isBosunError } from '../common/errors.ts';

test('startEtcd runs a member that answers /health, and stop() ends it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bosun-etcd-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const [clientPort, peerPort] = await freePorts(2);
  const spec = { name: 'm1', dataDir: join(dir, 'data'), clientPort: clientPort!, peerPort: peerPort! };
  const etcd = await startEtcd({
    args: etcdArgs(spec),
    clientUrl: `http://127.0.0.1:${clientPort}`,
    logFile: join(dir, 'etcd.log'),
  });
  t.after(() => etcd.kill());
  assert.equal(await etcdHealthy(etcd.clientUrl, undefined, 1000), true);
  await etcd.stop();
  assert.equal(await etcdHealthy(etcd.clientUrl, undefined, 500), false);
});

test('startEtcd names a missing binary as not installed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bosun-etcd-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  await assert.rejects(
    startEtcd({
      binary: join(dir, 'no-etcd'),
      args: [],
      clientUrl: 'http://127.0.0.1:1',
      logFile: join(dir, 'log'),
    }),
    (e: unknown) =>
      isBosunError(e) &&
      /etcd is not installed/.test(e.message) &&
      e.hint === 'Install it: apt-get install etcd-server',
  );
});

test('startEtcd reports an etcd that exits during start with its log tail, leaving no process', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'bosun-etcd-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  await assert.rejects(
    startEtcd({ args: ['--no-such-flag'], clientUrl: 'http://127.0.0.1:1', logFile: join(dir, 'log') }),
    (e: unknown) =>
      isBosunError(e) && /etcd exited during start/.test(e.message) && /no-such-flag/.test(e.message),
  );
});
