// `npm run bench -- NAME` on a fresh clone: scripts/bench.mjs installs what the benchmarks need
// (the kubectl peer in .cache/peers, the Debian packages) before it runs one, as `npm run demo`
// and `npm test` do. A fresh clone in miniature: the scripts, node_modules, and a benchmark that
// fails unless the kubectl peer is there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './support/sandbox.ts';

const root = join(import.meta.dirname, '..');

test('npm run bench -- NAME on a fresh clone installs the peers first, then runs the benchmark', async () => {
  const clone = mkdtempSync(join(tmpdir(), 'bosun-clone-'));
  try {
    cpSync(join(root, 'scripts'), join(clone, 'scripts'), { recursive: true });
    cpSync(join(root, 'package.json'), join(clone, 'package.json'));
    symlinkSync(realpathSync(join(root, 'node_modules')), join(clone, 'node_modules'));
    mkdirSync(join(clone, 'bench'));
    writeFileSync(
      join(clone, 'bench', 'probe.bench.ts'),
      "import { existsSync } from 'node:fs';\n" +
        "if (!existsSync('.cache/peers/kubectl')) { console.error('spawn .cache/peers/kubectl ENOENT'); process.exit(1); }\n" +
        "console.log('probe ran with the kubectl peer');\n",
    );
    assert.equal(existsSync(join(clone, '.cache')), false, 'a fresh clone has no .cache');
    const r = await run(process.execPath, [join(clone, 'scripts', 'bench.mjs'), 'probe'], {
      cwd: clone,
      timeoutMs: 300_000,
    });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stdout, /^probe ran with the kubectl peer$/m);
    assert.ok(existsSync(join(clone, '.cache', 'peers', 'kubectl')));
  } finally {
    rmSync(clone, { recursive: true, force: true });
  }
});
