import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  KUBECTL_MESSAGES,
  decidePod,
  decidePods,
  refusalLine,
  refusals,
  warningText,
  warnings,
  type DaemonSetLookup,
  type FilterContext,
  type FilterOptions,
} from './filters.ts';
import { pod } from './testing/fixtures.ts';
import type { Pod } from '../kube/types.ts';

const NOW = new Date('2025-01-01T01:00:00Z');
const none: FilterOptions = {
  force: false,
  ignoreDaemonSets: false,
  deleteEmptyDirData: false,
  skipWaitForDeleteTimeoutSeconds: 0,
};

function ctx(opts: Partial<FilterOptions> = {}, ds: Record<string, DaemonSetLookup> = {}): FilterContext {
  return {
    options: { ...none, ...opts },
    now: NOW,
    daemonSet: (ns, name) => ds[`${ns}/${name}`] ?? { found: true },
  };
}

const dsPod = (o: Parameters<typeof pod>[1] = {}): Pod =>
  pod('kube-proxy-abc', { namespace: 'kube-system', owner: { kind: 'DaemonSet', name: 'kube-proxy' }, ...o });
const orphan: Record<string, DaemonSetLookup> = {
  'kube-system/kube-proxy': { found: false, notFound: true, error: 'daemonsets.apps "kube-proxy" not found' },
};

for (const tc of [
  { name: 'a ReplicaSet pod is evicted', pod: pod('web-1'), opts: {}, want: 'evict', cat: null },
  {
    name: 'a StatefulSet pod is evicted',
    pod: pod('db-0', { owner: { kind: 'StatefulSet', name: 'db' } }),
    opts: {},
    want: 'evict',
    cat: null,
  },
  {
    name: 'a daemonset pod without --ignore-daemonsets refuses',
    pod: dsPod(),
    opts: {},
    want: 'refuse',
    cat: 'daemonset-managed',
  },
  {
    name: 'a daemonset pod with --ignore-daemonsets is skipped with a warning',
    pod: dsPod(),
    opts: { ignoreDaemonSets: true },
    want: 'skip',
    cat: 'daemonset-managed',
  },
  {
    name: 'a finished daemonset pod is evicted',
    pod: dsPod({ phase: 'Failed' }),
    opts: {},
    want: 'evict',
    cat: null,
  },
  {
    name: 'an orphaned daemonset pod refuses without --force',
    pod: dsPod(),
    opts: { ignoreDaemonSets: true },
    ds: orphan,
    want: 'refuse',
    cat: 'orphaned-daemonset',
  },
  {
    name: 'an orphaned daemonset pod is deleted with --force, with a warning',
    pod: dsPod(),
    opts: { force: true },
    ds: orphan,
    want: 'evict',
    cat: null,
  },
  {
    name: 'a daemonset lookup that fails refuses with the error',
    pod: dsPod(),
    opts: { ignoreDaemonSets: true, force: true },
    ds: {
      'kube-system/kube-proxy': {
        found: false,
        notFound: false,
        error: 'daemonsets.apps "kube-proxy" is forbidden',
      },
    },
    want: 'refuse',
    cat: 'daemonset-lookup-failed',
  },
  {
    name: 'a mirror pod is skipped',
    pod: pod('kube-apiserver-cp-1', {
      namespace: 'kube-system',
      owner: { kind: 'Node', name: 'cp-1' },
      mirror: true,
    }),
    opts: {},
    want: 'skip',
    cat: 'mirror',
  },
  {
    name: 'a pod with emptyDir refuses without --delete-emptydir-data',
    pod: pod('cache-1', { emptyDir: true }),
    opts: {},
    want: 'refuse',
    cat: 'local-storage',
  },
  {
    name: 'a pod with emptyDir is evicted with --delete-emptydir-data',
    pod: pod('cache-1', { emptyDir: true }),
    opts: { deleteEmptyDirData: true },
    want: 'evict',
    cat: null,
  },
  {
    name: 'a finished pod with emptyDir is evicted',
    pod: pod('job-x', { emptyDir: true, phase: 'Succeeded', owner: { kind: 'Job', name: 'job' } }),
    opts: {},
    want: 'evict',
    cat: null,
  },
  {
    name: 'a bare pod refuses without --force',
    pod: pod('bare', { owner: 'none' }),
    opts: {},
    want: 'refuse',
    cat: 'no-controller',
  },
  {
    name: 'a bare pod is deleted with --force',
    pod: pod('bare', { owner: 'none' }),
    opts: { force: true },
    want: 'evict',
    cat: null,
  },
  {
    name: 'a finished bare pod is evicted without --force',
    pod: pod('bare', { owner: 'none', phase: 'Succeeded' }),
    opts: {},
    want: 'evict',
    cat: null,
  },
  {
    name: 'a daemonset pod with emptyDir refuses as daemonset-managed (first filter wins)',
    pod: dsPod({ emptyDir: true }),
    opts: {},
    want: 'refuse',
    cat: 'daemonset-managed',
  },
  {
    name: 'a bare pod with emptyDir refuses for local storage first',
    pod: pod('bare', { owner: 'none', emptyDir: true }),
    opts: {},
    want: 'refuse',
    cat: 'local-storage',
  },
  {
    name: 'a pod terminating longer than --skip-wait-for-delete-timeout is skipped',
    pod: pod('web-1', { deletionTimestamp: '2025-01-01T00:58:00Z' }),
    opts: { skipWaitForDeleteTimeoutSeconds: 60 },
    want: 'skip',
    cat: 'deleted-too-long',
  },
  {
    name: 'a pod terminating for less than --skip-wait-for-delete-timeout is still evicted',
    pod: pod('web-1', { deletionTimestamp: '2025-01-01T00:59:30Z' }),
    opts: { skipWaitForDeleteTimeoutSeconds: 60 },
    want: 'evict',
    cat: null,
  },
  {
    name: 'a terminating pod is not skipped when the timeout is 0',
    pod: pod('web-1', { deletionTimestamp: '2025-01-01T00:00:00Z' }),
    opts: {},
    want: 'evict',
    cat: null,
  },
]) {
  test(tc.name, () => {
    const v = decidePod(tc.pod, ctx(tc.opts, (tc as { ds?: Record<string, DaemonSetLookup> }).ds ?? {}));
    assert.equal(v.action, tc.want);
    assert.equal(v.category, tc.cat);
  });
}

test('every refusal is collected and printed in kubectl words, listing every offending pod', () => {
  const pods = [
    dsPod(),
    pod('cache-1', { emptyDir: true }),
    pod('bare', { owner: 'none' }),
    pod('bare2', { owner: 'none', namespace: 'other' }),
    pod('web-1'),
  ];
  const v = decidePods(pods, ctx());
  assert.deepEqual(refusals(v).map(refusalLine), [
    'cannot delete DaemonSet-managed Pods (use --ignore-daemonsets to ignore): kube-system/kube-proxy-abc',
    'cannot delete Pods with local storage (use --delete-emptydir-data to override): demo/cache-1',
    'cannot delete Pods that declare no controller (use --force to override): demo/bare, other/bare2',
  ]);
});

test('warnings are grouped per message as kubectl prints them after Warning:', () => {
  const pods = [dsPod(), pod('cache-1', { emptyDir: true }), pod('bare', { owner: 'none' })];
  const v = decidePods(pods, ctx({ ignoreDaemonSets: true, deleteEmptyDirData: true, force: true }));
  assert.equal(refusals(v).length, 0);
  assert.equal(
    warningText(warnings(v)),
    `${KUBECTL_MESSAGES.daemonSetWarning}: kube-system/kube-proxy-abc; ${KUBECTL_MESSAGES.localStorageWarning}: demo/cache-1; ${KUBECTL_MESSAGES.unmanagedWarning}: demo/bare`,
  );
});

test('an orphaned daemonset refusal reads like kubectl: "cannot delete <error>: pod"', () => {
  const v = decidePods([dsPod()], ctx({}, orphan));
  assert.deepEqual(refusals(v).map(refusalLine), [
    'cannot delete daemonsets.apps "kube-proxy" not found: kube-system/kube-proxy-abc',
  ]);
});
