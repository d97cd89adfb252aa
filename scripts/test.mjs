// The whole test suite, as README.md and .ci/run run it: installs what the tests need (Debian's
// etcd-server, etcd-client, openssl; the kubectl peer), type-checks, lints, then runs every
// *.test.ts under src/ and test/ with node's built-in runner through tsx.
// Usage: npm test [-- FILE_OR_DIR...]   (a subset, for development)
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', ...opts });
  if (r.status !== 0) process.exit(r.status ?? 1);
}

function findTests(dir, out = []) {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== 'node_modules' && !e.name.startsWith('.')) findTests(p, out);
    } else if (e.name.endsWith('.test.ts')) out.push(relative(root, p));
  }
  return out;
}

const args = process.argv.slice(2);
const subset = args.length > 0;
run(process.execPath, ['scripts/ensure-deps.mjs']);
if (!subset) {
  run(process.execPath, ['node_modules/typescript/bin/tsc', '-p', 'tsconfig.json', '--noEmit']);
  run(process.execPath, ['node_modules/eslint/bin/eslint.js', '.']);
}
const roots = subset ? args : ['src', 'test'];
const files = roots.flatMap((r) => (statSync(r).isDirectory() ? findTests(r) : [r])).sort();
const concurrency = process.env.BOSUN_TEST_CONCURRENCY ?? String(Math.max(2, availableParallelism()));
const r = spawnSync(
  process.execPath,
  ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, '--test-timeout=300000', ...files],
  { stdio: 'inherit', env: { ...process.env, BOSUN_TEST: '1' } },
);
process.exit(r.status ?? 1);
