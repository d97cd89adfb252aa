// deploy/manifests/bosun.yaml is what the chart renders today, and the chart's values.schema.json is
// what the agent's flag table says (deploy/render-manifests.mjs writes both): a change to the chart
// or to the flags without re-rendering fails here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

const ROOT = join(import.meta.dirname, '..');

test('deploy/manifests/bosun.yaml and values.schema.json are up to date', () => {
  const r = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'deploy', 'render-manifests.mjs'), '--check'],
    {
      cwd: ROOT,
      encoding: 'utf8',
    },
  );
  assert.equal(r.status, 0, r.stderr);
});

test('the plain manifests create their namespace first and hold the whole agent', () => {
  const docs = parseAllDocuments(readFileSync(join(ROOT, 'deploy', 'manifests', 'bosun.yaml'), 'utf8')).map(
    (d) => d.toJS() as { kind: string; metadata: { name: string; namespace?: string } },
  );
  assert.deepEqual(docs[0], { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'bosun-system' } });
  assert.deepEqual(docs.map((d) => d.kind).sort(), [
    'ClusterRole',
    'ClusterRoleBinding',
    'DaemonSet',
    'Namespace',
    'Role',
    'Role',
    'RoleBinding',
    'RoleBinding',
    'ServiceAccount',
  ]);
  for (const d of docs.filter((x) => x.kind !== 'Namespace' && !x.kind.startsWith('Cluster')))
    assert.ok(
      ['bosun-system', 'kube-node-lease'].includes(d.metadata.namespace ?? ''),
      `${d.kind} ${d.metadata.name}`,
    );
});
