// The image's /opt/bosun as the sandbox's kubelet prepares it (container-tools.ts): the checkout
// itself when its bundle is up to date or it has no sources, otherwise a bundled copy beside links
// to its files, built once for the same sources whatever the number of sandboxes; a build that
// fails leaves the checkout. The checkouts here are small fakes whose scripts/build.mjs writes what
// the real one would (esbuild is not run).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { writeContainerTools } from './container-tools.ts';

const BUILD = `import { mkdirSync, writeFileSync, appendFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
const root = join(dirname(fileURLToPath(import.meta.url)), '..');
appendFileSync(join(root, 'builds'), 'x');
if (process.env.FAIL_BUILD || root.includes('broken')) { console.error('esbuild: no'); process.exit(1); }
const out = join(root, process.argv[process.argv.indexOf('--outdir') + 1]);
mkdirSync(out, { recursive: true });
writeFileSync(join(out, 'bosun.mjs'), '// the bundle\\n');
`;

/** A fake checkout: package.json, bin/bosun.js, scripts/build.mjs, src/ (unless noSrc), dist/ (if given). */
function checkout(o: { name?: string; noSrc?: boolean; dist?: 'fresh' | 'stale' } = {}): string {
  const root = mkdtempSync(join(tmpdir(), `bosun-image-${o.name ?? 'co'}-`));
  writeFileSync(join(root, 'package.json'), '{}');
  mkdirSync(join(root, 'bin'));
  writeFileSync(join(root, 'bin', 'bosun.js'), '// launcher\n');
  mkdirSync(join(root, 'scripts'));
  writeFileSync(join(root, 'scripts', 'build.mjs'), BUILD);
  mkdirSync(join(root, '.git'));
  mkdirSync(join(root, 'node_modules'));
  if (!o.noSrc) {
    mkdirSync(join(root, 'src', 'cli'), { recursive: true });
    writeFileSync(join(root, 'src', 'cli', 'main.ts'), 'export {};\n');
  }
  if (o.dist) {
    mkdirSync(join(root, 'dist'));
    writeFileSync(join(root, 'dist', 'bosun.mjs'), '// old bundle\n');
    const src = join(root, 'src', 'cli', 'main.ts');
    const t = Date.now() / 1000;
    // Fresh: the bundle is newer than every source; stale: a source was changed after it.
    utimesSync(join(root, 'dist', 'bosun.mjs'), t, o.dist === 'fresh' ? t : t - 60);
    utimesSync(src, t - 30, t - 30);
  }
  return root;
}

function builds(root: string): number {
  return existsSync(join(root, 'builds')) ? readFileSync(join(root, 'builds'), 'utf8').length : 0;
}

function sandboxDir(): string {
  return mkdtempSync(join(tmpdir(), 'bosun-image-sb-'));
}

test('a checkout whose bundle is up to date, or an installed package without sources, is the image', async () => {
  for (const co of [checkout({ dist: 'fresh' }), checkout({ noSrc: true })]) {
    const dir = sandboxDir();
    try {
      const tools = writeContainerTools(join(dir, 'containers'), process.execPath);
      assert.equal(await tools.imageRoot(co, () => undefined), co);
      assert.equal(builds(co), 0);
      assert.equal(existsSync(join(co, '.cache')), false);
    } finally {
      rmSync(co, { recursive: true, force: true });
      rmSync(dir, { recursive: true, force: true });
    }
  }
});

test('a stale bundle: the image is a bundled copy beside links to the checkout, built once for the same sources', async () => {
  const co = checkout({ dist: 'stale' });
  const dirs = [sandboxDir(), sandboxDir()];
  try {
    const tools = writeContainerTools(join(dirs[0] as string, 'containers'), process.execPath);
    const [a, b] = await Promise.all([
      tools.imageRoot(co, () => undefined),
      tools.imageRoot(co, () => undefined),
    ]);
    assert.equal(a, b);
    const image = a;
    assert.equal(dirname(image), join(co, '.cache', 'image'));
    assert.equal(builds(co), 1, 'one build for every container');
    assert.equal(readFileSync(join(image, 'dist', 'bosun.mjs'), 'utf8'), '// the bundle\n');
    assert.equal(
      readFileSync(join(co, 'dist', 'bosun.mjs'), 'utf8'),
      '// old bundle\n',
      "the checkout's dist/ is left alone",
    );
    // bin/ is a copy (bin/bosun.js looks for dist/ beside itself, through its real path).
    assert.equal(lstatSync(join(image, 'bin', 'bosun.js')).isSymbolicLink(), false);
    assert.equal(readFileSync(join(image, 'bin', 'bosun.js'), 'utf8'), '// launcher\n');
    for (const e of ['src', 'node_modules', 'package.json', 'scripts']) {
      assert.ok(lstatSync(join(image, e)).isSymbolicLink(), e);
      assert.equal(realpathSync(join(image, e)), realpathSync(join(co, e)));
    }
    assert.equal(existsSync(join(image, '.git')), false);
    assert.deepEqual(
      readdirSync(join(co, '.cache', 'image')),
      [basename(image)],
      'nothing half-built left beside it',
    );
    // Another sandbox of the same sources uses it as it is.
    const other = writeContainerTools(join(dirs[1] as string, 'containers'), process.execPath);
    assert.equal(await other.imageRoot(co, () => undefined), image);
    assert.equal(builds(co), 1);
    // Changed sources are another image.
    writeFileSync(join(co, 'src', 'cli', 'main.ts'), 'export const changed = 1;\n');
    const third = writeContainerTools(join(dirs[1] as string, 'containers2'), process.execPath);
    const next = await third.imageRoot(co, () => undefined);
    assert.notEqual(next, image);
    assert.equal(builds(co), 2);
  } finally {
    rmSync(co, { recursive: true, force: true });
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  }
});

test('a bundle that cannot be built leaves the checkout, and says why', async () => {
  const co = checkout({ name: 'broken', dist: 'stale' });
  const dir = sandboxDir();
  try {
    const lines: string[] = [];
    const tools = writeContainerTools(join(dir, 'containers'), process.execPath);
    assert.equal(await tools.imageRoot(co, (l) => lines.push(l)), co);
    assert.equal(lines.length, 1);
    assert.match(
      lines[0] ?? '',
      /^the image's bundle could not be built \(its pods run the sources through tsx\): Error: esbuild: no$/,
    );
  } finally {
    rmSync(co, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
  }
});
