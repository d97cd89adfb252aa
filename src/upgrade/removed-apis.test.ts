import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AnyObject, ApiResource, ClusterInfo } from '../kube/cluster-info.ts';
import { REMOVED_APIS, findRemovedApiUse, readRemovedApiUse, removalsUpTo } from './removed-apis.ts';
import { parseVersion } from './skew.ts';

const v = (s: string) => parseVersion(s)!;

function applied(name: string, apiVersion: string, kind: string, namespace?: string): AnyObject {
  return {
    metadata: {
      name,
      ...(namespace ? { namespace } : {}),
      annotations: {
        'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({
          apiVersion,
          kind,
          metadata: { name },
        }),
      },
    },
  };
}

test('the table is keyed by release and names a replacement unless the API is gone for good', () => {
  for (const [release, apis] of Object.entries(REMOVED_APIS)) {
    assert.ok(parseVersion(release), release);
    for (const a of apis) {
      assert.match(a.groupVersion, /^[a-z0-9.]+\/v\d+(alpha|beta)\d+$/);
      if (a.kinds.includes('PodSecurityPolicy')) assert.deepEqual(a.replacements, []);
      else assert.ok(a.replacements.length > 0, `${a.groupVersion} ${a.kinds.join()}`);
    }
  }
  assert.deepEqual(
    removalsUpTo(v('v1.32.0'))
      .filter((r) => r.removedIn === 'v1.32')
      .map((r) => `${r.groupVersion} ${r.kind}`),
    [
      'flowcontrol.apiserver.k8s.io/v1beta3 FlowSchema',
      'flowcontrol.apiserver.k8s.io/v1beta3 PriorityLevelConfiguration',
    ],
  );
  assert.equal(removalsUpTo(v('v1.31.9')).filter((r) => r.removedIn === 'v1.32').length, 0);
});

test('served today and gone in the target: clients calling it will fail', () => {
  const uses = findRemovedApiUse({
    from: v('v1.31.13'),
    to: v('v1.33.5'),
    served: ['v1', 'flowcontrol.apiserver.k8s.io/v1', 'flowcontrol.apiserver.k8s.io/v1beta3'],
    listed: [],
  });
  assert.deepEqual(
    uses.map((u) => [u.how, u.groupVersion, u.kind, u.removedIn, u.replacement, u.alreadyRemoved]),
    [
      [
        'served',
        'flowcontrol.apiserver.k8s.io/v1beta3',
        'FlowSchema',
        'v1.32',
        'flowcontrol.apiserver.k8s.io/v1',
        false,
      ],
      [
        'served',
        'flowcontrol.apiserver.k8s.io/v1beta3',
        'PriorityLevelConfiguration',
        'v1.32',
        'flowcontrol.apiserver.k8s.io/v1',
        false,
      ],
    ],
  );
});

test('objects last applied with a removed version are found, old removals included', () => {
  const uses = findRemovedApiUse({
    from: v('v1.32.9'),
    to: v('v1.34.3'),
    served: ['v1', 'apps/v1', 'policy/v1'],
    listed: [
      {
        kind: 'Deployment',
        items: [
          applied('web', 'apps/v1beta1', 'Deployment', 'shop'),
          applied('api', 'apps/v1', 'Deployment', 'shop'),
          { metadata: { name: 'bare', namespace: 'shop' } },
        ],
      },
      {
        kind: 'PodDisruptionBudget',
        items: [applied('web', 'policy/v1beta1', 'PodDisruptionBudget', 'shop')],
      },
    ],
  });
  assert.deepEqual(
    uses.map((u) => [u.how, u.groupVersion, u.kind, u.objects, u.replacement, u.alreadyRemoved]),
    [
      ['last-applied', 'apps/v1beta1', 'Deployment', ['shop/web'], 'apps/v1', true],
      ['last-applied', 'policy/v1beta1', 'PodDisruptionBudget', ['shop/web'], 'policy/v1', true],
    ],
  );
});

test('a broken last-applied annotation is ignored', () => {
  const o: AnyObject = {
    metadata: { name: 'x', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{' } },
  };
  assert.deepEqual(
    findRemovedApiUse({
      from: v('v1.32.0'),
      to: v('v1.34.0'),
      served: [],
      listed: [{ kind: 'Deployment', items: [o] }],
    }),
    [],
  );
});

test('readRemovedApiUse lists each kind once, through a served version, and nothing nobody serves', async () => {
  const calls: string[] = [];
  const resources: Record<string, ApiResource[]> = {
    'apps/v1': [
      { name: 'deployments', kind: 'Deployment', namespaced: true, verbs: ['list', 'get'] },
      { name: 'daemonsets', kind: 'DaemonSet', namespaced: true, verbs: ['list'] },
      { name: 'statefulsets', kind: 'StatefulSet', namespaced: true, verbs: ['list'] },
      { name: 'replicasets', kind: 'ReplicaSet', namespaced: true, verbs: ['list'] },
    ],
    'policy/v1': [
      { name: 'poddisruptionbudgets', kind: 'PodDisruptionBudget', namespaced: true, verbs: ['list'] },
    ],
  };
  const info: Pick<ClusterInfo, 'servedGroupVersions' | 'resourcesOf' | 'listObjects'> = {
    servedGroupVersions: () => Promise.resolve(['v1', 'apps/v1', 'policy/v1']),
    resourcesOf: (gv) => {
      calls.push(`resources ${gv}`);
      return Promise.resolve(resources[gv] ?? []);
    },
    listObjects: (gv, r) => {
      calls.push(`list ${gv} ${r}`);
      return Promise.resolve(
        r === 'deployments' ? [applied('web', 'extensions/v1beta1', 'Deployment', 'shop')] : [],
      );
    },
  };
  const r = await readRemovedApiUse(info, v('v1.32.9'), v('v1.34.3'));
  assert.deepEqual(calls.sort(), [
    'list apps/v1 daemonsets',
    'list apps/v1 deployments',
    'list apps/v1 replicasets',
    'list apps/v1 statefulsets',
    'list policy/v1 poddisruptionbudgets',
    'resources apps/v1',
    'resources policy/v1',
  ]);
  assert.deepEqual(
    r.uses.map((u) => `${u.groupVersion} ${u.kind} ${u.objects.join()}`),
    ['extensions/v1beta1 Deployment shop/web'],
  );
});
