// deploy/Dockerfile, checked without a container engine (none runs here): Node 20 on both stages,
// the image holds what the bundle needs at run time, and it starts the command the chart runs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');
const dockerfile = readFileSync(join(ROOT, 'deploy', 'Dockerfile'), 'utf8');
const lines = dockerfile.split('\n').filter((l) => l.trim() !== '' && !l.trim().startsWith('#'));
const stages = lines.filter((l) => l.startsWith('FROM '));
const finalStage = lines.slice(lines.lastIndexOf(stages[stages.length - 1] as string));

test('both stages are Node 20', () => {
  assert.equal(stages.length, 2);
  for (const s of stages) assert.match(s, /^FROM node:20-[a-z0-9-]+( AS \w+)?$/);
});

test('the build stage copies files that exist and builds the bundle with npm run build', () => {
  const copy = lines.find((l) => l.startsWith('COPY package.json')) ?? '';
  for (const f of copy.split(/\s+/).slice(1, -1)) assert.ok(existsSync(join(ROOT, f)), `${f} exists`);
  assert.ok(lines.some((l) => l.includes('npm run build') && l.includes('npm prune --omit=dev')));
});

test('the final image holds the bundle, the launcher and every package the bundle keeps external', () => {
  const copied = finalStage.filter((l) => l.startsWith('COPY --from=build')).map((l) => l.split(/\s+/)[2]);
  assert.deepEqual(copied, ['/src/package.json', '/src/node_modules', '/src/dist', '/src/bin']);
  const build = readFileSync(join(ROOT, 'scripts', 'build.mjs'), 'utf8');
  const externals = JSON.parse(
    (/external: (\[[^\]]*\])/.exec(build)?.[1] ?? '[]').replace(/'/g, '"'),
  ) as string[];
  // scripts/build.mjs bundles everything now (no `external:`); any package it keeps out again must be in the image.
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
  };
  const lock = JSON.parse(readFileSync(join(ROOT, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean }>;
  };
  for (const e of externals) {
    // Declared, or installed as a production dependency of one (gRPC comes with etcd3): `npm prune --omit=dev` keeps it.
    const entry = lock.packages[`node_modules/${e}`];
    assert.ok(
      e in pkg.dependencies || (entry !== undefined && entry.dev !== true),
      `${e} survives npm prune --omit=dev`,
    );
  }
});

test('the image starts bin/bosun.js, and its default command is the one the chart runs', () => {
  assert.ok(existsSync(join(ROOT, 'bin', 'bosun.js')));
  assert.ok(lines.includes('ENTRYPOINT ["node", "/opt/bosun/bin/bosun.js"]'));
  assert.ok(lines.includes('CMD ["agent"]'));
  const ds = readFileSync(join(ROOT, 'deploy', 'helm', 'bosun', 'templates', 'daemonset.yaml'), 'utf8');
  assert.match(ds, /args:\n\s+- agent\n/);
  assert.ok(
    lines.some((l) => l.includes('util-linux')),
    'nsenter is in the image',
  );
});
