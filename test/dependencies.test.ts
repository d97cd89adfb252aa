// Nothing is declared in package.json that bosun does not use (issue 15): every dependency is
// imported or required somewhere in bin/, src/, bench/, scripts/, test/ or the lint config, or run
// by name ('--import', 'tsx'; node_modules/typescript/bin/tsc; an npm script); an @types package
// counts as used when its package is. A dependency added with the code that imports it passes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

const ROOT = join(import.meta.dirname, '..');

interface PackageJson {
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

/** The text of every script under dir but this test (whose tables name packages). */
function texts(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) texts(p, out);
    else if (/\.(ts|mjs|js)$/.test(e.name) && p !== import.meta.filename) out.push(readFileSync(p, 'utf8'));
  }
  return out;
}

/** Is the package named anywhere as something loaded or run? */
function isUsed(name: string, sources: readonly string[], npmScripts: readonly string[]): boolean {
  const typed = /^@types\/(.+)$/.exec(name);
  if (typed) {
    const pkg = (typed[1] ?? '').includes('__')
      ? `@${(typed[1] ?? '').replace('__', '/')}`
      : (typed[1] ?? '');
    // @types/node describes the runtime itself.
    return pkg === 'node' || isUsed(pkg, sources, npmScripts);
  }
  const quoted = [`'${name}'`, `"${name}"`, `'${name}/`, `"${name}/`, `node_modules/${name}/`];
  if (sources.some((s) => quoted.some((q) => s.includes(q)))) return true;
  return npmScripts.some((s) => new RegExp(`(^|[\\s&|;])${name}(\\s|$)`).test(s));
}

for (const tc of [
  { name: 'an import of the package', pkg: 'yaml', src: "import { parse } from 'yaml';", want: true },
  { name: 'an import of a subpath', pkg: 'tsx', src: "await import('tsx/esm/api');", want: true },
  { name: 'a require by name', pkg: '@node-rs/crc32', src: "req('@node-rs/crc32')", want: true },
  {
    name: 'a tool run from node_modules',
    pkg: 'eslint',
    src: "'node_modules/eslint/bin/eslint.js'",
    want: true,
  },
  {
    name: 'a package only mentioned in a comment',
    pkg: 'pino',
    src: '// structured logs (pino)',
    want: false,
  },
  {
    name: 'a package whose name is a prefix of another',
    pkg: 'yaml',
    src: "import 'yaml-lint';",
    want: false,
  },
  { name: '@types of a used package', pkg: '@types/semver', src: "import semver from 'semver';", want: true },
  { name: '@types of an unused package', pkg: '@types/luxon', src: "import 'yaml';", want: false },
]) {
  test(`isUsed: ${tc.name} is ${tc.want ? 'a use' : 'no use'}`, () => {
    assert.equal(isUsed(tc.pkg, [tc.src], []), tc.want);
  });
}

test('an npm script running a tool by name is a use', () => {
  assert.equal(isUsed('prettier', [], ['prettier --write .']), true);
  assert.equal(isUsed('prettier', [], ['node scripts/format.mjs']), false);
});

test('every declared dependency is used', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as PackageJson;
  const sources = [
    ...['bin', 'src', 'bench', 'scripts', 'test'].flatMap((d) => texts(join(ROOT, d))),
    ...readdirSync(ROOT)
      .filter((f) => /^eslint\.config\.(js|mjs|cjs)$/.test(f))
      .map((f) => readFileSync(join(ROOT, f), 'utf8')),
  ].map((s) => s.replace(/^\s*\/\/.*$/gm, ''));
  const scripts = Object.values(pkg.scripts ?? {});
  const declared = [...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {})];
  assert.ok(declared.length > 5, 'package.json declares almost nothing');
  const unused = declared.filter((d) => !isUsed(d, sources, scripts));
  assert.deepEqual(unused, [], `declared in package.json but never used: ${unused.join(', ')}`);
});
