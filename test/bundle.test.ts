// The bundle that bin/bosun.js runs after `npm ci` (scripts/build.mjs, esbuild): every other test
// runs the TypeScript through tsx, so what only bundling can break (CommonJS interop of a lazily
// loaded library, chunks found at run time) is checked here, on a fresh build.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
// Inside the repository, so the bundle's external packages resolve from its node_modules.
const outdir = `.test-bundle-${process.pid}`;
const entry = join(root, outdir, 'bosun.mjs');

function bosun(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [entry, ...args], {
    encoding: 'utf8',
    env: { ...process.env, KUBECONFIG: '' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

before(() => {
  const r = spawnSync(process.execPath, ['scripts/build.mjs', '--outdir', outdir], {
    cwd: root,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
});

after(() => rmSync(join(root, outdir), { recursive: true, force: true }));

test('the bundle prints its version as text, json and yaml (yaml is loaded lazily)', () => {
  assert.match(bosun('version').stdout, /^bosun version: v\d+\.\d+\.\d+\n$/);
  assert.equal(JSON.parse(bosun('version', '-o', 'json').stdout).nodeVersion, process.versions.node);
  const y = bosun('version', '-o', 'yaml');
  assert.equal(y.code, 0, y.stderr);
  assert.match(y.stdout, /^bosunVersion: \d+\.\d+\.\d+\nnodeVersion: /);
});

test("the bundle's commands load: help, and a drain that cannot reach its cluster says so", () => {
  const help = bosun('drain', '--help');
  assert.equal(help.code, 0, help.stderr);
  assert.match(help.stdout, /--eviction-concurrency <n>/);
  const r = bosun('drain', 'worker-1', '--kubeconfig', join(root, outdir, 'missing.conf'));
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /missing\.conf/);
});
