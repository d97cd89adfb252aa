import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { Deployment, ReplicaSet } from '../apiserver/types.ts';
import {
  calculateStatus,
  deploymentComplete,
  equalIgnoreHash,
  maxSurge,
  maxUnavailable,
  newRSNewReplicas,
  resolveFenceposts,
  setCondition,
  newCondition,
  type DeploymentStatus,
} from './deployment-util.ts';

function deployment(replicas: number, strategy?: Deployment['spec']['strategy']): Deployment {
  return {
    metadata: { name: 'd', generation: 1 },
    spec: {
      replicas,
      selector: { matchLabels: { app: 'd' } },
      template: { metadata: { labels: { app: 'd' } }, spec: { containers: [{ name: 'c', image: 'x' }] } },
      ...(strategy ? { strategy } : {}),
    },
  };
}

function rs(name: string, replicas: number, available = replicas): ReplicaSet {
  return {
    metadata: { name },
    spec: { replicas, selector: {}, template: { spec: { containers: [] } } },
    status: { replicas, readyReplicas: available, availableReplicas: available },
  };
}

describe('fenceposts', () => {
  for (const tc of [
    {
      name: '25%/25% of 4',
      surge: '25%',
      unavailable: '25%',
      desired: 4,
      want: { surge: 1, unavailable: 1 },
    },
    {
      name: '25%/25% of 3: surge rounds up, unavailable down',
      surge: '25%',
      unavailable: '25%',
      desired: 3,
      want: { surge: 1, unavailable: 0 },
    },
    {
      name: 'both 0 means 1 unavailable',
      surge: 0,
      unavailable: 0,
      desired: 3,
      want: { surge: 0, unavailable: 1 },
    },
    { name: 'absolute numbers', surge: 2, unavailable: 1, desired: 10, want: { surge: 2, unavailable: 1 } },
  ]) {
    test(tc.name, () => assert.deepEqual(resolveFenceposts(tc.surge, tc.unavailable, tc.desired), tc.want));
  }
  test('Recreate has no surge and no unavailability budget', () => {
    const d = deployment(3, { type: 'Recreate' });
    assert.equal(maxSurge(d), 0);
    assert.equal(maxUnavailable(d), 0);
  });
  test('maxUnavailable is capped at replicas', () =>
    assert.equal(
      maxUnavailable(
        deployment(2, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 5 } }),
      ),
      2,
    ));
});

describe('newRSNewReplicas', () => {
  const d = deployment(3, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
  for (const tc of [
    { name: 'a fresh rollout adds maxSurge beside the old set', all: [rs('old', 3), rs('new', 0)], want: 1 },
    {
      name: 'no room while old + new already reach replicas + surge',
      all: [rs('old', 3), rs('new', 1)],
      want: 1,
    },
    { name: 'room opens as the old set shrinks', all: [rs('old', 2), rs('new', 1)], want: 2 },
    { name: 'never above replicas', all: [rs('old', 0), rs('new', 3)], want: 3 },
  ]) {
    test(tc.name, () => assert.equal(newRSNewReplicas(d, tc.all, tc.all[1] as ReplicaSet), tc.want));
  }
});

test('templates differing only in pod-template-hash (or in defaults) are equal', () => {
  const a = {
    metadata: { labels: { app: 'd', 'pod-template-hash': 'abc' } },
    spec: { containers: [{ name: 'c', image: 'x' }] },
  };
  const b = {
    metadata: { labels: { app: 'd' } },
    spec: {
      containers: [{ name: 'c', image: 'x', imagePullPolicy: 'IfNotPresent' }],
      restartPolicy: 'Always' as const,
    },
  };
  assert.equal(equalIgnoreHash(a, b), false, 'x has tag latest, so its default pull policy is Always');
  assert.equal(
    equalIgnoreHash(a, {
      ...b,
      spec: { ...b.spec, containers: [{ name: 'c', image: 'x', imagePullPolicy: 'Always' }] },
    }),
    true,
  );
  assert.equal(equalIgnoreHash(a, { metadata: { labels: { app: 'e' } }, spec: a.spec }), false);
});

describe('status and conditions', () => {
  const NOW = '2025-01-01T00:00:00Z';
  test('counts come from the ReplicaSets; unavailable = sum of spec.replicas - available', () => {
    const d = deployment(3);
    const newRS = rs('new', 2, 1);
    const s = calculateStatus([rs('old', 2), newRS], newRS, d, NOW);
    assert.deepEqual(
      {
        replicas: s.replicas,
        updated: s.updatedReplicas,
        ready: s.readyReplicas,
        available: s.availableReplicas,
        unavailable: s.unavailableReplicas,
      },
      { replicas: 4, updated: 2, ready: 3, available: 3, unavailable: 1 },
    );
    assert.deepEqual(
      s.conditions?.map((c) => [c.type, c.status, c.reason]),
      [['Available', 'True', 'MinimumReplicasAvailable']],
    );
    assert.equal(deploymentComplete(d, s), false);
  });
  test('SetDeploymentCondition keeps the transition time when only the reason changes and moves the condition last', () => {
    const s: DeploymentStatus = {
      conditions: [
        newCondition('Progressing', 'True', 'NewReplicaSetCreated', 'm', '2025-01-01T00:00:00Z'),
        newCondition('Available', 'True', 'MinimumReplicasAvailable', 'm', NOW),
      ],
    };
    setCondition(
      s,
      newCondition('Progressing', 'True', 'NewReplicaSetAvailable', 'done', '2025-01-01T00:05:00Z'),
    );
    assert.deepEqual(
      s.conditions?.map((c) => [c.type, c.reason, c.lastTransitionTime, c.lastUpdateTime]),
      [
        ['Available', 'MinimumReplicasAvailable', NOW, NOW],
        ['Progressing', 'NewReplicaSetAvailable', '2025-01-01T00:00:00Z', '2025-01-01T00:05:00Z'],
      ],
    );
  });
});
