// makeUpgradePlan against in-memory fakes: the cluster is read once for the whole plan, whatever the
// number of nodes and batches; a --to that is not a version is refused before anything is read;
// and the snapshot's NodePods view refuses writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isBosunError } from '../common/errors.ts';
import { FakeClock } from '../common/fake-clock.ts';
import type { ClusterInfo } from '../kube/cluster-info.ts';
import { FakeCluster } from '../kube/testing/fake-cluster.ts';
import type { Node, Pod } from '../kube/types.ts';
import { makeUpgradePlan, type PlanOptions } from './planner.ts';
import { listReleaseIndex } from './releases.ts';
import { snapshotKube } from './snapshot.ts';

const NOW = new Date('2025-06-01T00:00:00Z');
const VERSION = 'v1.32.9';

function node(name: string, cp: boolean): Node {
  return {
    metadata: { name, labels: cp ? { 'node-role.kubernetes.io/control-plane': '' } : {} },
    status: {
      conditions: [{ type: 'Ready', status: 'True' }],
      nodeInfo: { kubeletVersion: VERSION, osImage: 'Debian GNU/Linux 12 (bookworm)' },
    },
  };
}

function mirror(component: string, nodeName: string): Pod {
  return {
    metadata: {
      name: `${component}-${nodeName}`,
      namespace: 'kube-system',
      labels: { component, tier: 'control-plane' },
    },
    spec: {
      nodeName,
      containers: [
        {
          name: component,
          image: `registry.k8s.io/${component}:${component === 'etcd' ? '3.5.16-0' : VERSION}`,
        },
      ],
    },
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

function workload(nodeName: string, i: number): Pod {
  return {
    metadata: {
      name: `web-${nodeName}-${i}`,
      namespace: 'shop',
      labels: { app: 'web' },
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web-1', uid: 'rs', controller: true },
      ],
    },
    spec: { nodeName, containers: [{ name: 'web', image: 'nginx' }] },
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
  };
}

/** A fake cluster with 3 control planes and `workers` workers, and a counting ClusterInfo. */
function cluster(workers: number): { kube: FakeCluster; info: ClusterInfo; infoCalls: string[] } {
  const kube = new FakeCluster(new FakeClock(NOW));
  for (const cp of ['cp-1', 'cp-2', 'cp-3']) {
    kube.addNode(node(cp, true));
    for (const c of ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'etcd'])
      kube.addPod(mirror(c, cp));
  }
  for (let i = 1; i <= workers; i++) {
    kube.addNode(node(`worker-${i}`, false));
    for (let k = 0; k < 3; k++) kube.addPod(workload(`worker-${i}`, k));
  }
  const infoCalls: string[] = [];
  const call = <T>(name: string, v: T): Promise<T> => {
    infoCalls.push(name);
    return Promise.resolve(v);
  };
  const info: ClusterInfo = {
    getVersion: () => call('getVersion', { gitVersion: VERSION }),
    getConfigMap: (ns, name) =>
      call(`getConfigMap ${name}`, {
        metadata: { name, namespace: ns },
        data: { ClusterConfiguration: `kubernetesVersion: ${VERSION}\n` },
      }),
    findDaemonSet: () => call('findDaemonSet', undefined),
    findDeployment: () => call('findDeployment', undefined),
    listDaemonSets: () => call('listDaemonSets', []),
    servedGroupVersions: () => call('servedGroupVersions', ['v1', 'apps/v1']),
    resourcesOf: (gv) => call(`resourcesOf ${gv}`, []),
    listObjects: (gv, r) => call(`listObjects ${gv} ${r}`, []),
  };
  return { kube, info, infoCalls };
}

const OPTS: PlanOptions = {
  to: 'v1.34.3',
  maxUnavailable: '1',
  recipe: undefined,
  drain: { force: false, deleteEmptyDirData: false },
  windowMs: 86_400_000,
  skipCertificates: true,
};
const RELEASES = listReleaseIndex(['1.32.9', '1.33.5', '1.34.3'], 'the test repository');

test('the cluster is read once for the whole plan, however many nodes and batches it has', async () => {
  const requests: Record<number, string[]> = {};
  for (const workers of [2, 9]) {
    const c = cluster(workers);
    const report = await makeUpgradePlan(OPTS, {
      info: c.info,
      kube: c.kube,
      releases: RELEASES,
      tls: { servedCertificate: () => Promise.reject(new Error('no TLS here')) },
      clock: new FakeClock(NOW),
    });
    const batches = new Set(
      report.preflight.findings.filter((f) => f.check === 'drain').map((f) => f.subject),
    );
    assert.equal(batches.size, 3 + workers, 'a drain verdict for every batch');
    requests[workers] = [...c.kube.actions.map((a) => `${a.verb} ${a.resource}`), ...c.infoCalls].sort();
  }
  assert.deepEqual(requests[9], requests[2]);
  assert.deepEqual(
    requests[2],
    [
      'getConfigMap kubeadm-config',
      'getVersion',
      'findDeployment',
      'list nodes',
      'list poddisruptionbudgets',
      'list pods',
      'listDaemonSets',
      'resourcesOf apps/v1',
      'servedGroupVersions',
    ].sort(),
  );
});

test('a --to that is not a version is refused before the cluster is read', async () => {
  const c = cluster(1);
  await assert.rejects(
    makeUpgradePlan(
      { ...OPTS, to: 'next' },
      {
        info: c.info,
        kube: c.kube,
        releases: RELEASES,
        tls: { servedCertificate: () => Promise.reject(new Error('x')) },
        clock: new FakeClock(NOW),
      },
    ),
    (e) => isBosunError(e) && e.exitCode === 2 && e.message === '--to "next" is not a Kubernetes version',
  );
  assert.deepEqual(c.kube.actions, []);
  assert.deepEqual(c.infoCalls, []);
});

test('the snapshot view answers reads and refuses writes', async () => {
  const kube = snapshotKube({
    version: {},
    kubeadmConfig: undefined,
    nodes: [node('worker-1', false)],
    pods: { items: [workload('worker-1', 0), mirror('etcd', 'cp-1')], resourceVersion: '7' },
    pdbs: [],
    daemonSets: [],
    coredns: undefined,
    versions: {
      kubernetesVersion: undefined,
      servingApiserver: undefined,
      controlPlanes: [],
      nodes: [],
      kubeProxy: undefined,
      coredns: undefined,
    },
  });
  assert.equal(
    (await kube.listPods({ namespace: 'kube-system', labelSelector: 'component=etcd' })).items.length,
    1,
  );
  assert.equal((await kube.listPods({ fieldSelector: 'spec.nodeName=worker-1' })).items.length, 1);
  await assert.rejects(
    kube.getDaemonSet('kube-system', 'kube-proxy'),
    (e) => isBosunError(e) && /not found/.test(e.message),
  );
  await assert.rejects(
    kube.patchNode('worker-1', { spec: { unschedulable: true } }),
    /the upgrade plan only reads/,
  );
});
