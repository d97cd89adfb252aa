// Lint rules that keep DESIGN.md's layering honest:
// - no `any` anywhere;
// - features never import the sandbox (to them it is just another cluster);
// - pure decision modules import no Node built-ins, nothing from host/, and from kube/ only the
//   API's data and its pure semantics (types, label selectors, quantities, placement filters);
// - only the composition roots touch ambient state (process.exit, process.env, console).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const nodeBuiltins = [
  'node:*',
  'fs',
  'fs/*',
  'path',
  'os',
  'child_process',
  'net',
  'tls',
  'http',
  'https',
  'crypto',
  'stream',
  'events',
  'util',
  'url',
  'zlib',
  'readline',
  'process',
  'timers',
  'timers/*',
];

/** Modules that only decide: they get data and return verdicts, and never do I/O. */
const pureModules = [
  'src/drain/filters.ts',
  'src/drain/preflight.ts',
  'src/drain/classify.ts',
  'src/drain/escalation.ts',
  'src/kube/labels.ts',
  'src/kube/quantity.ts',
  'src/kube/scheduling.ts',
  'src/kube/pods.ts',
  'src/kube/annotations.ts',
  'src/host/shell.ts',
  'src/drain/quantity.ts',
  'src/drain/health.ts',
  'src/drain/maintenance-state.ts',
  'src/certs/expiry.ts',
  'src/certs/kubeadm-spec.ts',
  'src/certs/quorum.ts',
  'src/upgrade/skew.ts',
  'src/lock/decide.ts',
  'src/reboot/window.ts',
  'src/reboot/states.ts',
  'src/sandbox/apiserver/selectors.ts',
  'src/sandbox/controllers/scheduling.ts',
  'src/sandbox/controllers/hash.ts',
  'src/sandbox/controllers/pod-util.ts',
  'src/sandbox/controllers/disruption-math.ts',
  'src/sandbox/controllers/deployment-util.ts',
  'src/common/duration.ts',
  'src/etcd/bbolt.ts',
  'src/etcd/snapshot-scan.ts',
  'src/etcd/page-index.ts',
  'src/etcd/proto-wire.ts',
  'src/etcd/kv-wire.ts',
  'src/etcd/crc32c.ts',
  'src/etcd/backup-name.ts',
  'src/etcd/retention.ts',
  'src/etcd/member-select.ts',
  'src/etcd/restore-plan.ts',
  'src/etcd/sidecar.ts',
];

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', '.cache/**', '.scratch/**', '.test-bundle-*/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        URL: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
        performance: 'readonly',
        structuredClone: 'readonly',
        fetch: 'readonly',
        crypto: 'readonly',
        queueMicrotask: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    files: ['src/{drain,etcd,certs,upgrade,reboot,lock,journal,kube,host,common}/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/sandbox/**', '**/sandbox/index.ts'],
              message: 'Features never import the sandbox: to them it is just another cluster.',
            },
            { group: ['**/cli/**'], message: 'Dependencies point one way: cli -> features.' },
          ],
        },
      ],
    },
  },
  {
    files: pureModules,
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.filter((m) => !m.includes('*')),
          patterns: [
            { group: ['node:*'], message: 'Pure decision modules import no Node built-ins.' },
            // kube/types.ts is plain API JSON shapes; labels.ts, quantity.ts, scheduling.ts and pods.ts are their
            // label selectors, quantities, placement filters and pod helpers, annotations.ts bosun's keys and
            // the cordon's ownership (data and pure functions, not a client), so pure modules may use them.
            {
              group: [
                '**/kube/**',
                '!**/kube/types.ts',
                '!**/kube/labels.ts',
                '!**/kube/quantity.ts',
                '!**/kube/scheduling.ts',
                '!**/kube/pods.ts',
                '!**/kube/annotations.ts',
                '**/host/**',
                '**/sandbox/**',
              ],
              message: 'Pure decision modules take data, not clients.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: [
      'src/cli/main.ts',
      'src/reboot/agent-main.ts',
      'src/sandbox/daemon-main.ts',
      'src/**/*.test.ts',
    ],
    rules: {
      'no-restricted-properties': [
        'error',
        { object: 'process', property: 'exit', message: 'Only the composition root exits.' },
        {
          object: 'process',
          property: 'env',
          message: 'Only the composition root reads the environment; pass values in.',
        },
      ],
      'no-console': 'error',
    },
  },
);
