// Bundles the CLI with esbuild into dist/ (code-split, so each command loads only what it uses).
// Type checking is `npm run typecheck`; this only transpiles. Whitespace and syntax are minified
// (V8 parses a third less at every start); names are kept, so stack traces still read.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// What the CLI does not run stays out of what it loads at every start:
// - @kubernetes/client-node's modules have no side effects on import, but its package.json does not
//   say so, so esbuild kept all of them: exec/attach/port-forward (ws), cp (tar), and the generated
//   API and model classes (1.7 MB), which bosun does not use (kube/client.ts's kubeRequest).
// - client-node's config.js imports, at its own load, what only some kubeconfigs or APIs use: the
//   proxy agents for a cluster's proxy-url (socks-proxy-agent, hpagent), node-fetch's Headers for
//   its fetch-based API, and jsonpath-plus for the GCP and Azure auth providers' token paths. With
//   the Node built-ins they pull in (http, https, zlib, dns), that was a fifth of a drain's start.
//   Each is replaced by a stand-in that requires the real package the first time it is used,
//   resolved from client-node's own place, as its import would have been.
const clientNodeDist = '/node_modules/@kubernetes/client-node/dist/';
const LAZY = {
  'socks-proxy-agent': { classes: ['SocksProxyAgent'] },
  hpagent: { classes: ['HttpProxyAgent', 'HttpsProxyAgent'] },
  'node-fetch': { classes: ['Headers', 'AbortError', 'FetchError'], defaultFunction: true },
  'jsonpath-plus': { functions: ['JSONPath'] },
};
// A stand-in must name what the real package exports, whichever version is installed: checked here.
{
  const fromClientNode = createRequire(createRequire(import.meta.url).resolve('@kubernetes/client-node'));
  for (const [pkg, { classes = [], functions = [], defaultFunction = false }] of Object.entries(LAZY)) {
    const real = fromClientNode(pkg);
    for (const name of [...classes, ...functions, ...(defaultFunction ? ['default'] : [])])
      if (typeof real[name] !== 'function')
        throw new Error(`${pkg} exports no function ${name}: update LAZY in scripts/build.mjs`);
  }
}
function lazyModule(pkg) {
  const { classes = [], functions = [], defaultFunction = false } = LAZY[pkg];
  return [
    "import { createRequire } from 'node:module';",
    'let real;',
    // From client-node's own directory, so a copy nested under it is found as its import finds it.
    `const load = () => (real ??= createRequire(createRequire(import.meta.url).resolve('@kubernetes/client-node'))(${JSON.stringify(pkg)}));`,
    // A constructor that returns an object makes \`new\` yield that object: the real class's instance.
    ...classes.map((c) => `export function ${c}(...a) { return new (load().${c})(...a); }`),
    ...functions.map((f) => `export function ${f}(...a) { return load().${f}(...a); }`),
    ...(defaultFunction ? ['export default function (...a) { return load().default(...a); }'] : []),
  ].join('\n');
}
const slim = {
  name: 'bosun-slim',
  setup(b) {
    b.onResolve({ filter: /.*/ }, (args) =>
      Object.hasOwn(LAZY, args.path) && args.importer.includes(clientNodeDist)
        ? { path: args.path, namespace: 'bosun-lazy' }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'bosun-lazy' }, (args) => ({
      contents: lazyModule(args.path),
      loader: 'js',
    }));
    b.onResolve({ filter: /.*/ }, async (args) => {
      if (args.pluginData?.bosunSlim) return undefined;
      if (args.path !== '@kubernetes/client-node' && !args.importer.includes(clientNodeDist))
        return undefined;
      const r = await b.resolve(args.path, {
        kind: args.kind,
        resolveDir: args.resolveDir,
        importer: args.importer,
        pluginData: { bosunSlim: true },
      });
      if (r.errors.length > 0) return undefined;
      return r.path.includes(clientNodeDist) ? { ...r, sideEffects: false } : r;
    });
  },
};
// --outdir DIR (relative to the repository) builds elsewhere than dist/: the bundle's own test.
const at = process.argv.indexOf('--outdir');
const outdir = at > 0 && process.argv[at + 1] ? process.argv[at + 1] : 'dist';
rmSync(join(root, outdir), { recursive: true, force: true });
await build({
  absWorkingDir: root,
  entryPoints: { bosun: 'src/cli/main.ts' },
  outdir,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  sourcemap: 'linked',
  chunkNames: 'chunks/[name]-[hash]',
  banner: {
    js: "import { createRequire as __bosunCreateRequire } from 'node:module'; const require = __bosunCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
  minifyWhitespace: true,
  minifySyntax: true,
  plugins: [slim],
});
