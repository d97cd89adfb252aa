// Runs the benchmarks: every bench/*.bench.ts through tsx, or only the ones named on the command
// line (`npm run bench -- bench/backup.bench.ts` or `npm run bench -- backup`). Benchmarks print
// ratios against a peer measured in the same run; they are not tests and never fail on time.
// First it installs what they need (scripts/ensure-deps.mjs: etcd, openssl, the kubectl peer in
// .cache/peers), as `npm run demo` and `npm test` do, so a fresh clone can run any of them.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);

const all = readdirSync(join(root, 'bench'))
  .filter((f) => f.endsWith('.bench.ts'))
  .sort()
  .map((f) => join('bench', f));
const named = process.argv.slice(2).map((a) => {
  if (existsSync(a)) return a;
  const guess = join('bench', `${a.replace(/\.bench\.ts$/, '')}.bench.ts`);
  if (existsSync(guess)) return guess;
  console.error(`error: no benchmark ${a} (have: ${all.join(', ')})`);
  process.exit(2);
});
const files = named.length > 0 ? named : all;
const deps = spawnSync(process.execPath, [join(root, 'scripts', 'ensure-deps.mjs')], { stdio: 'inherit' });
if (deps.status !== 0) {
  console.error('error: the benchmarks need what scripts/ensure-deps.mjs installs (see above)');
  process.exit(deps.status ?? 1);
}
let failed = 0;
for (const f of files) {
  console.log(`== ${f}`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', f], { stdio: 'inherit' });
  if (r.status !== 0) {
    console.error(`error: ${f} exited with ${r.status ?? r.signal}`);
    failed++;
  }
}
process.exit(failed > 0 ? 1 : 0);
