import { test } from 'node:test';
import assert from 'node:assert/strict';
import { haRestoreSteps, parseInitialCluster } from './restore-plan.ts';

for (const tc of [
  { in: 'a=https://10.0.0.1:2380', want: [{ name: 'a', peerUrls: ['https://10.0.0.1:2380'] }] },
  {
    in: 'a=https://h1:2380,a=https://h2:2380,b=http://h3:2380',
    want: [
      { name: 'a', peerUrls: ['https://h1:2380', 'https://h2:2380'] },
      { name: 'b', peerUrls: ['http://h3:2380'] },
    ],
  },
  { in: 'trial=unix://peer.sock:0', want: [{ name: 'trial', peerUrls: ['unix://peer.sock:0'] }] },
  { in: 'a', want: null },
  { in: 'a=ftp://x', want: null },
  { in: '=https://x:1', want: null },
]) {
  test(`parseInitialCluster(${JSON.stringify(tc.in)})`, () =>
    assert.deepEqual(parseInitialCluster(tc.in), tc.want));
}

test('haRestoreSteps is empty for one member and names every member with its own peer URL otherwise', () => {
  const one = parseInitialCluster('a=https://h1:2380') ?? [];
  assert.deepEqual(
    haRestoreSteps({
      file: 'f.db',
      dataDir: '/d',
      members: one,
      initialCluster: 'a=https://h1:2380',
      initialClusterToken: 't',
    }),
    [],
  );
  const ic = 'a=https://h1:2380,b=https://h2:2380';
  const lines = haRestoreSteps({
    file: 'f.db',
    dataDir: '/d',
    members: parseInitialCluster(ic) ?? [],
    initialCluster: ic,
    initialClusterToken: 't',
  });
  assert.match(lines[0] ?? '', /2-member/);
  assert.ok(
    lines.includes(
      `       on b: bosun restore f.db --data-dir /d --name b --initial-cluster ${ic} --initial-advertise-peer-urls https://h2:2380 --initial-cluster-token t`,
    ),
  );
});
