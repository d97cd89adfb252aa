// The real kubectl v1.35 against the sandbox: the sandbox's fidelity is the point, so these are
// kubectl's own commands and outputs, not bosun's.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { eventually, run, startTestSandbox, type TestSandbox } from './support/sandbox.ts';

interface PodList {
  items: {
    metadata: { name: string; namespace: string; ownerReferences?: { kind: string }[] };
    spec: { nodeName?: string };
    status: { phase: string };
  }[];
}

describe('sandbox with the real kubectl', () => {
  let s: TestSandbox;
  before(async () => {
    s = await startTestSandbox({ controlPlanes: 1, workers: 4, workload: 'demo' });
  });
  after(() => s?.stop());

  const podsOn = async (node: string): Promise<PodList['items']> =>
    (await s.kubectlJson<PodList>(['get', 'pods', '-A', '--field-selector', `spec.nodeName=${node}`])).items;

  test('kubectl get nodes lists every node Ready with its role and version', async () => {
    const r = await s.kubectl(['get', 'nodes']);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0] ?? '', /^NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION$/);
    assert.match(r.stdout, /^cp-1\s+Ready\s+control-plane\s+\S+\s+v1\.34\.3$/m);
    for (const w of ['worker-1', 'worker-2', 'worker-3', 'worker-4'])
      assert.match(r.stdout, new RegExp(`^${w}\\s+Ready\\s+<none>\\s+\\S+\\s+v1\\.34\\.3$`, 'm'));
  });

  test('kubectl get pods -A shows the control plane mirror pods, the addons and the demo workload running', async () => {
    const r = await s.kubectl(['get', 'pods', '-A']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^NAMESPACE\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/m);
    for (const name of [
      'etcd-cp-1',
      'kube-apiserver-cp-1',
      'kube-controller-manager-cp-1',
      'kube-scheduler-cp-1',
    ]) {
      assert.match(r.stdout, new RegExp(`^kube-system\\s+${name}\\s+1/1\\s+Running`, 'm'));
    }
    assert.match(r.stdout, /^kube-system\s+coredns-\S+\s+1\/1\s+Running/m);
    assert.match(r.stdout, /^kube-system\s+kube-proxy-\S+\s+1\/1\s+Running/m);
    assert.match(r.stdout, /^shop\s+frontend-\S+\s+1\/1\s+Running/m);
    assert.match(r.stdout, /^data\s+postgres-0\s+1\/1\s+Running/m);
    assert.match(r.stdout, /^batch\s+nightly-report-\S+\s+0\/1\s+Completed/m);
    const mirror = await s.kubectlJson<{
      metadata: { annotations: Record<string, string>; labels: Record<string, string> };
      spec: { containers: { image: string }[] };
    }>(['get', 'pod', '-n', 'kube-system', 'kube-apiserver-cp-1']);
    assert.ok(mirror.metadata.annotations['kubernetes.io/config.mirror']);
    assert.deepEqual(mirror.metadata.labels, { component: 'kube-apiserver', tier: 'control-plane' });
    assert.equal(mirror.spec.containers[0]?.image, 'registry.k8s.io/kube-apiserver:v1.34.3');
  });

  test('kubectl version reports the server like kube-apiserver', async () => {
    const r = await s.kubectl(['version', '-o', 'json']);
    assert.equal(r.code, 0, r.stderr);
    const v = JSON.parse(r.stdout) as { serverVersion: { gitVersion: string; major: string; minor: string } };
    assert.equal(v.serverVersion.gitVersion, 'v1.34.3');
    assert.equal(v.serverVersion.minor, '34');
  });

  test('kubectl apply creates, then leaves unchanged; kubectl delete waits until the object is gone', async () => {
    const manifest = JSON.stringify({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'applied', namespace: 'default' },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: 'applied' } },
        template: {
          metadata: { labels: { app: 'applied' } },
          spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] },
        },
      },
    });
    let r = await s.kubectl(['apply', '-f', '-'], { input: manifest });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'deployment.apps/applied created');
    r = await s.kubectl(['apply', '-f', '-'], { input: manifest });
    assert.equal(r.stdout.trim(), 'deployment.apps/applied unchanged');
    r = await s.kubectl(['delete', 'deployment', 'applied', '--timeout=30s']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /deployment.apps "applied" deleted/);
    r = await s.kubectl(['get', 'deployment', 'applied']);
    assert.match(r.stderr, /NotFound/);
  });

  test('kubectl cordon and uncordon', async () => {
    let r = await s.kubectl(['cordon', 'worker-3']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'node/worker-3 cordoned');
    r = await s.kubectl(['get', 'node', 'worker-3']);
    assert.match(r.stdout, /^worker-3\s+Ready,SchedulingDisabled/m);
    r = await s.kubectl(['cordon', 'worker-3']);
    assert.equal(r.stdout.trim(), 'node/worker-3 already cordoned');
    r = await s.kubectl(['uncordon', 'worker-3']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), 'node/worker-3 uncordoned');
    r = await s.kubectl(['get', 'node', 'worker-3']);
    assert.match(r.stdout, /^worker-3\s+Ready\s/m);
  });

  test('kubectl drain completes and the evicted pods are recreated elsewhere', async () => {
    // Drain a worker that runs no postgres pod (its PDB allows no disruption at all).
    const workers = ['worker-1', 'worker-2', 'worker-3', 'worker-4'];
    let target: string | undefined;
    for (const w of workers) if (!(await podsOn(w)).some((p) => p.metadata.namespace === 'data')) target = w;
    assert.ok(target, 'some worker runs no postgres pod');
    const before = (await podsOn(target)).filter(
      (p) => !p.metadata.ownerReferences?.some((o) => o.kind === 'DaemonSet') && p.status.phase === 'Running',
    );
    const r = await s.kubectl(
      ['drain', target, '--ignore-daemonsets', '--delete-emptydir-data', '--force', '--timeout=90s'],
      { timeoutMs: 120_000 },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`node/${target} drained`));
    for (const p of before) assert.match(r.stdout, new RegExp(`pod/${p.metadata.name} evicted`));
    const left = await podsOn(target);
    assert.ok(
      left.every((p) => p.metadata.ownerReferences?.some((o) => o.kind === 'DaemonSet')),
      `only DaemonSet pods remain: ${left.map((p) => p.metadata.name).join(',')}`,
    );
    // The controllers recreated them on the other nodes and they run.
    await eventually('the evicted workloads to be available again', async () => {
      const d = await s.kubectlJson<{
        items: {
          metadata: { name: string };
          spec: { replicas: number };
          status: { availableReplicas?: number };
        }[];
      }>(['get', 'deployments', '-n', 'shop']);
      return d.items.every((x) => x.status.availableReplicas === x.spec.replicas);
    });
    const r2 = await s.kubectl(['uncordon', target]);
    assert.equal(r2.code, 0, r2.stderr);
  });

  test('kubectl drain blocked by the no-disruption PDB reports the budget error and retries until its timeout', async () => {
    const pg = (await s.kubectlJson<PodList>(['get', 'pods', '-n', 'data'])).items.find(
      (p) => p.spec.nodeName,
    );
    assert.ok(pg?.spec.nodeName);
    const node = pg.spec.nodeName;
    const r = await s.kubectl(
      ['drain', node, '--ignore-daemonsets', '--delete-emptydir-data', '--force', '--timeout=7s'],
      { timeoutMs: 60_000 },
    );
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Cannot evict pod as it would violate the pod's disruption budget\./);
    assert.match(
      r.stderr,
      new RegExp(`error when evicting pods/"${pg.metadata.name}" -n "data" \\(will retry after 5s\\)`),
    );
    assert.match(r.stderr, /global timeout reached: 7s/);
    // The postgres pod still runs where it was.
    const still = await podsOn(node);
    assert.ok(still.some((p) => p.metadata.name === pg.metadata.name && p.status.phase === 'Running'));
    await s.kubectl(['uncordon', node]);
  });

  test('kubectl scale: StatefulSets, ReplicaSets and Deployments serve the scale subresource (autoscaling/v1 Scale)', async () => {
    const template = (app: string): Record<string, unknown> => ({
      metadata: { labels: { app } },
      spec: { containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] },
    });
    const objects = [
      {
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: { name: 'scaled-sts', namespace: 'default' },
        spec: {
          replicas: 1,
          serviceName: 'scaled-sts',
          selector: { matchLabels: { app: 'scaled-sts' } },
          template: template('scaled-sts'),
        },
      },
      {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        metadata: { name: 'scaled-rs', namespace: 'default' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'scaled-rs' } },
          template: template('scaled-rs'),
        },
      },
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: 'scaled-deploy', namespace: 'default' },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: 'scaled-deploy' } },
          template: template('scaled-deploy'),
        },
      },
    ];
    for (const o of objects) {
      const c = await s.kubectl(['create', '--validate=false', '-f', '-'], { input: JSON.stringify(o) });
      assert.equal(c.code, 0, c.stderr);
    }
    try {
      for (const [kind, name] of [
        ['statefulset', 'scaled-sts'],
        ['replicaset', 'scaled-rs'],
        ['deployment', 'scaled-deploy'],
      ] as const) {
        const r = await s.kubectl(['scale', kind, name, '--replicas', '3']);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout.trim(), `${kind}.apps/${name} scaled`);
        const scale = JSON.parse(
          (await s.kubectl(['get', '--raw', `/apis/apps/v1/namespaces/default/${kind}s/${name}/scale`]))
            .stdout,
        ) as {
          kind: string;
          apiVersion: string;
          metadata: { name: string; namespace: string; uid?: string; resourceVersion?: string };
          spec: { replicas: number };
          status: { replicas: number; selector: string };
        };
        assert.equal(scale.kind, 'Scale');
        assert.equal(scale.apiVersion, 'autoscaling/v1');
        assert.equal(scale.metadata.name, name);
        assert.ok(scale.metadata.uid && scale.metadata.resourceVersion);
        assert.equal(scale.spec.replicas, 3);
        assert.equal(scale.status.selector, `app=${name}`);
        await eventually(`${name} has 3 pods running`, async () => {
          const pods = await s.kubectlJson<PodList>(['get', 'pods', '-n', 'default', '-l', `app=${name}`]);
          return pods.items.filter((p) => p.status.phase === 'Running').length === 3;
        });
        // --current-replicas makes kubectl GET the scale, check it, and PUT it back.
        const wrong = await s.kubectl(['scale', kind, name, '--current-replicas', '2', '--replicas', '1']);
        assert.notEqual(wrong.code, 0);
        assert.match(wrong.stderr, /Expected replicas to be 2, was 3/);
        const down = await s.kubectl(['scale', kind, name, '--current-replicas', '3', '--replicas', '1']);
        assert.equal(down.code, 0, down.stderr);
        const obj = await s.kubectlJson<{ spec: { replicas: number } }>(['get', kind, name, '-n', 'default']);
        assert.equal(obj.spec.replicas, 1);
      }
      const bad = await s.kubectl([
        'scale',
        'daemonset',
        'kube-proxy',
        '-n',
        'kube-system',
        '--replicas',
        '2',
      ]);
      assert.notEqual(bad.code, 0, 'DaemonSets have no scale subresource');
    } finally {
      for (const [kind, name] of [
        ['statefulset', 'scaled-sts'],
        ['replicaset', 'scaled-rs'],
        ['deployment', 'scaled-deploy'],
      ])
        await s.kubectl(['delete', kind ?? '', name ?? '', '-n', 'default']);
    }
  });
});

describe('etcdctl against the sandbox etcd', () => {
  let s: TestSandbox;
  before(async () => {
    s = await startTestSandbox({ controlPlanes: 1, workers: 1 });
  });
  after(() => s?.stop());

  const etcdctl = (args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> => {
    const cp = s.sb.nodes.find((n) => n.name === 'cp-1');
    const pki = join(s.dir, 'nodes', 'cp-1', 'host', 'etc', 'kubernetes', 'pki', 'etcd');
    return run(
      'etcdctl',
      [
        `--endpoints=https://127.0.0.1:${cp?.etcdClientPort ?? 0}`,
        `--cacert=${join(pki, 'ca.crt')}`,
        `--cert=${join(pki, 'healthcheck-client.crt')}`,
        `--key=${join(pki, 'healthcheck-client.key')}`,
        ...args,
      ],
      {
        env: { ...process.env, ETCDCTL_API: '3' },
      },
    );
  };

  test('endpoint health answers healthy with the kubeadm etcd certificates', async () => {
    const r = await etcdctl(['endpoint', 'health']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout + r.stderr, /is healthy: successfully committed proposal/);
  });

  test("get /registry --prefix --keys-only lists the cluster state under kube-apiserver's keys", async () => {
    const r = await etcdctl(['get', '/registry', '--prefix', '--keys-only']);
    assert.equal(r.code, 0, r.stderr);
    const keys = r.stdout.split('\n').filter(Boolean);
    for (const k of [
      '/registry/minions/cp-1',
      '/registry/minions/worker-1',
      '/registry/namespaces/kube-system',
      '/registry/pods/kube-system/kube-apiserver-cp-1',
      '/registry/leases/kube-node-lease/worker-1',
      '/registry/configmaps/kube-system/kubeadm-config',
    ]) {
      assert.ok(keys.includes(k), `${k} in ${keys.length} keys`);
    }
  });
});
