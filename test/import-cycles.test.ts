// No two of bosun's modules import each other, directly or through others (issue 15). Every import
// counts: static, `import type`, `export ... from`, dynamic `import()` and `import('x').T` in a type,
// because each of them ties the two modules' meaning together even where the runtime would cope.
// The module graph comes from TypeScript's own import scanner (ts.preProcessFile) over src/, bench/
// and test/support/; cycles are its strongly connected components (Tarjan).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

const ROOT = join(import.meta.dirname, '..');

/** The .ts files under dir, tests excluded (nothing imports a test). */
function sources(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) sources(p, out);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

/** Each file and the files among `files` it imports (relative specifiers; packages are leaves). */
function importGraph(files: readonly string[]): Map<string, string[]> {
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const f of files) {
    const info = ts.preProcessFile(readFileSync(f, 'utf8'), true, true);
    const deps = info.importedFiles
      .map((i) => i.fileName)
      .filter((s) => s.startsWith('.'))
      .map((s) => resolve(dirname(f), s))
      .filter((p) => known.has(p));
    graph.set(f, [...new Set(deps)]);
  }
  return graph;
}

/** The cycles of a graph: its strongly connected components of more than one node, or a self-import. */
function cyclesOf<T>(graph: ReadonlyMap<T, readonly T[]>): T[][] {
  let next = 0;
  const index = new Map<T, number>();
  const low = new Map<T, number>();
  const stack: T[] = [];
  const onStack = new Set<T>();
  const found: T[][] = [];
  const visit = (v: T): void => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v) ?? 0, low.get(w) ?? 0));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v) ?? 0, index.get(w) ?? 0));
    }
    if (low.get(v) !== index.get(v)) return;
    const component: T[] = [];
    for (let w = stack.pop(); w !== undefined; w = stack.pop()) {
      onStack.delete(w);
      component.push(w);
      if (w === v) break;
    }
    if (component.length > 1 || (graph.get(v) ?? []).includes(v)) found.push(component);
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

for (const tc of [
  { name: 'a chain has no cycle', edges: { a: ['b'], b: ['c'], c: [] }, want: [] },
  { name: 'two modules importing each other are a cycle', edges: { a: ['b'], b: ['a'] }, want: [['a', 'b']] },
  {
    name: 'a long way round is one cycle, a module beside it is not in it',
    edges: { a: ['b'], b: ['c'], c: ['a', 'd'], d: [] },
    want: [['a', 'b', 'c']],
  },
  { name: 'a module importing itself is a cycle', edges: { a: ['a'] }, want: [['a']] },
  {
    name: 'two separate cycles are two',
    edges: { a: ['b'], b: ['a'], c: ['d'], d: ['c'] },
    want: [
      ['a', 'b'],
      ['c', 'd'],
    ],
  },
]) {
  test(`cyclesOf: ${tc.name}`, () => {
    const got = cyclesOf(new Map(Object.entries(tc.edges))).map((c) => c.sort());
    assert.deepEqual(got.sort(), tc.want);
  });
}

test('the scanner sees every kind of import', () => {
  const text = [
    "import a from './a.ts';",
    "import type { B } from './b.ts';",
    "export { c } from './c.ts';",
    "const d = await import('./d.ts');",
    "type E = import('./e.ts').E;",
  ].join('\n');
  const names = ts.preProcessFile(text, true, true).importedFiles.map((i) => i.fileName);
  assert.deepEqual(names.sort(), ['./a.ts', './b.ts', './c.ts', './d.ts', './e.ts']);
});

test("bosun's modules import each other in no cycle", () => {
  const files = ['src', 'bench', 'test/support'].flatMap((d) => sources(join(ROOT, d)));
  assert.ok(files.length > 100, `only ${files.length} modules found`);
  const cycles = cyclesOf(importGraph(files)).map((c) =>
    c
      .map((f) => relative(ROOT, f))
      .sort()
      .join(' <-> '),
  );
  assert.deepEqual(cycles, [], `import cycles:\n${cycles.join('\n')}`);
});
