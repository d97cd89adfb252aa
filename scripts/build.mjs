// Bundles the CLI with esbuild into dist/ (code-split, so each command loads only what it uses).
// Type checking is `npm run typecheck`; this only transpiles. Whitespace and syntax are minified
// (V8 parses a third less at every start); names are kept, so stack traces still read.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

// What the CLI does not run stays out of what it loads at every start:
// - @kubernetes/client-node's modules have no side effects on import, but its package.json does not
//   say so, so esbuild kept all of them: exec/attach/port-forward (ws), cp (tar), and the generated
//   API and model classes (1.7 MB), which bosun does not use (kube/client.ts's kubeRequest).
// - node-fetch 2 imports whatwg-url (with tr46's 260 KB table) only as a fallback for runtimes
//   without url.URL (lib/index.js: `Url.URL || whatwgUrl.URL`); Node has had url.URL since 10.
const clientNodeDist = '/node_modules/@kubernetes/client-node/dist/';
const slim = {
  name: 'bosun-slim',
  setup(b) {
    b.onResolve({ filter: /^whatwg-url$/ }, (args) =>
      args.importer.includes('/node_modules/node-fetch/')
        ? { path: 'whatwg-url', namespace: 'bosun-slim' }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'bosun-slim' }, () => ({
      contents: 'export default { URL: globalThis.URL };',
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
  // etcd3 loads its .proto files from its own directory at run time: keep it (and gRPC) in node_modules.
  external: ['etcd3', '@grpc/grpc-js', '@grpc/proto-loader', 'pino', 'prom-client'],
  banner: {
    js: "import { createRequire as __bosunCreateRequire } from 'node:module'; const require = __bosunCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
  minifyWhitespace: true,
  minifySyntax: true,
  plugins: [slim],
});
