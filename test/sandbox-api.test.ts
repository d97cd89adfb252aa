// kube-apiserver semantics of the sandbox, seen on the wire: status codes and Status bodies,
// optimistic concurrency, watch order and resume, 410 after compaction, selectors, graceful
// deletion, eviction against PDBs, cascading deletion, authentication.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, renameSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { rawClient, type RawClient } from './support/https-client.ts';
import { eventually, startTestSandbox, type TestSandbox } from './support/sandbox.ts';

type Obj = {
  metadata: {
    name: string;
    resourceVersion: string;
    uid: string;
    deletionTimestamp?: string;
    finalizers?: string[];
    ownerReferences?: { uid: string }[];
  };
  [k: string]: unknown;
};

describe('sandbox API semantics over HTTPS', () => {
  let s: TestSandbox;
  let c: RawClient;
  before(async () => {
    s = await startTestSandbox({ controlPlanes: 1, workers: 2 });
    c = rawClient(s.kubeconfig);
    const r = await c.request('POST', '/api/v1/namespaces', { metadata: { name: 'api' } });
    assert.equal(r.status, 201, r.body);
  });
  after(() => s?.stop());

  test('a request without a client certificate is anonymous and forbidden; /version is public', async () => {
    const anon = rawClient(s.kubeconfig, { anonymous: true });
    const r = await anon.request('GET', '/api/v1/pods');
    assert.equal(r.status, 403);
    assert.equal(r.json().reason, 'Forbidden');
    const v = await anon.request('GET', '/version');
    assert.equal(v.status, 200);
    assert.equal(v.json().gitVersion, 'v1.34.3');
  });

  test('create is 201, a duplicate 409 AlreadyExists, a stale update 409 Conflict', async () => {
    const r = await c.request('POST', '/api/v1/namespaces/api/configmaps', {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'cfg' },
      data: { a: '1' },
    });
    assert.equal(r.status, 201);
    const cm = r.json<Obj>();
    const dup = await c.request('POST', '/api/v1/namespaces/api/configmaps', { metadata: { name: 'cfg' } });
    assert.equal(dup.status, 409);
    assert.deepEqual(
      { reason: dup.json().reason, message: dup.json().message },
      { reason: 'AlreadyExists', message: 'configmaps "cfg" already exists' },
    );
    const ok = await c.request('PUT', '/api/v1/namespaces/api/configmaps/cfg', { ...cm, data: { a: '2' } });
    assert.equal(ok.status, 200);
    const stale = await c.request('PUT', '/api/v1/namespaces/api/configmaps/cfg', {
      ...cm,
      data: { a: '3' },
    });
    assert.equal(stale.status, 409);
    assert.equal(stale.json().reason, 'Conflict');
    assert.equal(
      stale.json().message,
      'Operation cannot be fulfilled on configmaps "cfg": the object has been modified; please apply your changes to the latest version and try again',
    );
  });

  test('a missing object is 404 with a NotFound Status; an unknown path too', async () => {
    const r = await c.request('GET', '/apis/apps/v1/namespaces/api/deployments/nope');
    assert.equal(r.status, 404);
    assert.deepEqual(r.json(), {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'deployments.apps "nope" not found',
      reason: 'NotFound',
      details: { name: 'nope', group: 'apps', kind: 'deployments' },
      code: 404,
    });
    assert.equal((await c.request('GET', '/apis/nothing/v1')).status, 404);
  });

  test('label and field selectors on lists', async () => {
    for (const [name, labels] of [
      ['l1', { tier: 'fe', app: 'x' }],
      ['l2', { tier: 'be', app: 'x' }],
      ['l3', { app: 'y' }],
    ] as const) {
      await c.request('POST', '/api/v1/namespaces/api/configmaps', { metadata: { name, labels } });
    }
    const names = async (q: string): Promise<string[]> =>
      (await c.request('GET', `/api/v1/namespaces/api/configmaps?${q}`))
        .json<{ items: Obj[] }>()
        .items.map((o) => o.metadata.name)
        .sort();
    assert.deepEqual(await names('labelSelector=app%3Dx'), ['l1', 'l2']);
    assert.deepEqual(await names('labelSelector=app%3Dx%2Ctier%21%3Dfe'), ['l2']);
    assert.deepEqual(await names('labelSelector=tier%20in%20(fe%2Cbe)&fieldSelector=metadata.name%21%3Dl1'), [
      'l2',
    ]);
    const nodes = (await c.request('GET', '/api/v1/pods?fieldSelector=spec.nodeName%3Dcp-1')).json<{
      items: { spec: { nodeName: string } }[];
    }>();
    assert.ok(nodes.items.length >= 4 && nodes.items.every((p) => p.spec.nodeName === 'cp-1'));
    const bad = await c.request('GET', '/api/v1/pods?fieldSelector=spec.color%3Dred');
    assert.equal(bad.status, 400);
    const badLabels = await c.request(
      'GET',
      `/api/v1/pods?labelSelector=${encodeURIComponent('tier in (fe')}`,
    );
    assert.equal(badLabels.status, 400);
    assert.match(badLabels.json<{ message: string }>().message, /^unable to parse requirement: /);
  });

  test('watch from a resourceVersion delivers events in order; resuming from one of them repeats exactly the later ones', async () => {
    const start = (await c.request('GET', '/api/v1/namespaces/api/configmaps')).json<{
      metadata: { resourceVersion: string };
    }>().metadata.resourceVersion;
    const path = `/api/v1/namespaces/api/configmaps?watch=true&labelSelector=w%3D1&resourceVersion=${start}`;
    const watching = c.watch(path, (ev) => ev.length >= 3);
    const created = (
      await c.request('POST', '/api/v1/namespaces/api/configmaps', {
        metadata: { name: 'w1', labels: { w: '1' } },
      })
    ).json<Obj>();
    await c.request(
      'PATCH',
      '/api/v1/namespaces/api/configmaps/w1',
      { data: { k: 'v' } },
      { 'content-type': 'application/merge-patch+json' },
    );
    await c.request('DELETE', '/api/v1/namespaces/api/configmaps/w1');
    const events = await watching;
    assert.deepEqual(
      events.map((e) => e.type),
      ['ADDED', 'MODIFIED', 'DELETED'],
    );
    const rvs = events.map((e) => Number((e.object as Obj).metadata.resourceVersion));
    assert.ok(rvs[0]! < rvs[1]! && rvs[1]! < rvs[2]!, `increasing: ${rvs.join(',')}`);
    assert.equal((events[0]?.object as Obj).metadata.uid, created.metadata.uid);
    const resumed = await c.watch(
      `/api/v1/namespaces/api/configmaps?watch=true&labelSelector=w%3D1&resourceVersion=${rvs[0]}`,
      (ev) => ev.length >= 2,
    );
    assert.deepEqual(
      resumed.map((e) => `${e.type}@${(e.object as Obj).metadata.resourceVersion}`),
      [`MODIFIED@${rvs[1]}`, `DELETED@${rvs[2]}`],
    );
  });

  test('a streaming list (sendInitialEvents) ends its initial events with the initial-events-end bookmark', async () => {
    await c.request('POST', '/api/v1/namespaces/api/configmaps', {
      metadata: { name: 's1', labels: { s: '1' } },
    });
    await c.request('POST', '/api/v1/namespaces/api/configmaps', {
      metadata: { name: 's2', labels: { s: '1' } },
    });
    const events = await c.watch(
      '/api/v1/namespaces/api/configmaps?watch=true&labelSelector=s%3D1&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan',
      (ev) => ev.some((e) => e.type === 'BOOKMARK'),
    );
    assert.deepEqual(
      events.map((e) => e.type),
      ['ADDED', 'ADDED', 'BOOKMARK'],
    );
    const bm = events[2]?.object as {
      kind: string;
      metadata: { resourceVersion: string; annotations: Record<string, string> };
    };
    assert.equal(bm.kind, 'ConfigMap');
    assert.equal(bm.metadata.annotations['k8s.io/initial-events-end'], 'true');
    assert.ok(Number(bm.metadata.resourceVersion) > 0);
  });

  test('after compaction a watch from an old resourceVersion gets 410 Gone (Expired) as an ERROR event', async () => {
    const old = (
      await c.request('POST', '/api/v1/namespaces/api/configmaps', { metadata: { name: 'old' } })
    ).json<Obj>().metadata.resourceVersion;
    await c.request('POST', '/api/v1/namespaces/api/configmaps', { metadata: { name: 'newer' } });
    await s.sb.compact();
    const events = await c.watch(
      `/api/v1/namespaces/api/configmaps?watch=true&resourceVersion=${old}`,
      (ev) => ev.length >= 1,
    );
    assert.equal(events[0]?.type, 'ERROR');
    assert.equal(events[0]?.object['code'], 410);
    assert.equal(events[0]?.object['reason'], 'Expired');
  });

  test('deleting a running pod is graceful: it terminates (deletionTimestamp) and the kubelet removes it', async () => {
    const r = await c.request('POST', '/api/v1/namespaces/api/pods', {
      metadata: { name: 'g' },
      spec: {
        nodeName: 'worker-1',
        terminationGracePeriodSeconds: 30,
        containers: [{ name: 'c', image: 'nginx:1.27' }],
      },
    });
    assert.equal(r.status, 201, r.body);
    await eventually(
      'the pod to run',
      async () =>
        (await c.request('GET', '/api/v1/namespaces/api/pods/g')).json<{ status: { phase: string } }>().status
          .phase === 'Running',
    );
    const del = await c.request('DELETE', '/api/v1/namespaces/api/pods/g');
    assert.equal(del.status, 200);
    const body = del.json<Obj & { metadata: { deletionGracePeriodSeconds: number } }>();
    assert.ok(body.metadata.deletionTimestamp);
    assert.equal(body.metadata.deletionGracePeriodSeconds, 30);
    await eventually(
      'the kubelet to finish the deletion',
      async () => (await c.request('GET', '/api/v1/namespaces/api/pods/g')).status === 404,
    );
  });

  test('the kubelet records Killing when a graceful stop begins, not when it is over', async () => {
    const pod = {
      metadata: { name: 'k', annotations: { 'sandbox.bosun.dev/stop-seconds': 'full' } },
      spec: {
        nodeName: 'worker-1',
        terminationGracePeriodSeconds: 600,
        containers: [{ name: 'c', image: 'nginx:1.27' }],
      },
    };
    assert.equal((await c.request('POST', '/api/v1/namespaces/api/pods', pod)).status, 201);
    await eventually(
      'the pod to run',
      async () =>
        (await c.request('GET', '/api/v1/namespaces/api/pods/k')).json<{ status: { phase: string } }>().status
          .phase === 'Running',
    );
    assert.equal((await c.request('DELETE', '/api/v1/namespaces/api/pods/k')).status, 200);
    const killing = async (): Promise<boolean> =>
      (await c.request('GET', '/api/v1/namespaces/api/events'))
        .json<{ items: { reason: string; message: string; involvedObject: { name: string } }[] }>()
        .items.some(
          (e) =>
            e.involvedObject.name === 'k' && e.reason === 'Killing' && e.message === 'Stopping container c',
        );
    await eventually('the Killing event', killing);
    assert.equal(
      (await c.request('GET', '/api/v1/namespaces/api/pods/k')).status,
      200,
      'the pod is still stopping (600 s grace)',
    );
    assert.equal(
      (await c.request('DELETE', '/api/v1/namespaces/api/pods/k', { gracePeriodSeconds: 0 })).status,
      200,
    );
  });

  test('eviction: 201 without a budget; 429 with the DisruptionBudget cause when the PDB allows none', async () => {
    await c.request('POST', '/apis/apps/v1/namespaces/api/deployments', {
      metadata: { name: 'web' },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] },
        },
      },
    });
    await c.request('POST', '/apis/policy/v1/namespaces/api/poddisruptionbudgets', {
      metadata: { name: 'web' },
      spec: { minAvailable: 2, selector: { matchLabels: { app: 'web' } } },
    });
    await c.request('POST', '/api/v1/namespaces/api/pods', {
      metadata: { name: 'free', labels: { app: 'free' } },
      spec: { containers: [{ name: 'c', image: 'nginx:1.27' }] },
    });
    await eventually('the budget to be computed', async () => {
      const pdb = (await c.request('GET', '/apis/policy/v1/namespaces/api/poddisruptionbudgets/web')).json<{
        status?: { currentHealthy?: number };
      }>();
      return pdb.status?.currentHealthy === 2;
    });
    await eventually(
      'the free pod to run',
      async () =>
        (await c.request('GET', '/api/v1/namespaces/api/pods/free')).json<{ status: { phase: string } }>()
          .status.phase === 'Running',
    );
    const web = (await c.request('GET', '/api/v1/namespaces/api/pods?labelSelector=app%3Dweb')).json<{
      items: Obj[];
    }>().items[0];
    assert.ok(web);
    const blocked = await c.request('POST', `/api/v1/namespaces/api/pods/${web.metadata.name}/eviction`, {
      apiVersion: 'policy/v1',
      kind: 'Eviction',
      metadata: { name: web.metadata.name, namespace: 'api' },
    });
    assert.equal(blocked.status, 429);
    assert.equal(blocked.json().message, "Cannot evict pod as it would violate the pod's disruption budget.");
    assert.deepEqual((blocked.json().details as { causes: unknown[] }).causes, [
      {
        reason: 'DisruptionBudget',
        message: 'The disruption budget web needs 2 healthy pods and has 2 currently',
      },
    ]);
    const ok = await c.request('POST', '/api/v1/namespaces/api/pods/free/eviction', {
      apiVersion: 'policy/v1',
      kind: 'Eviction',
      metadata: { name: 'free', namespace: 'api' },
    });
    assert.equal(ok.status, 201);
    assert.equal(ok.json().status, 'Success');
  });

  test("cascading deletion: background removes a Deployment's ReplicaSets and pods; orphan keeps them", async () => {
    for (const name of ['bg', 'orph']) {
      await c.request('POST', '/apis/apps/v1/namespaces/api/deployments', {
        metadata: { name },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: name } },
          template: {
            metadata: { labels: { app: name } },
            spec: { containers: [{ name, image: 'nginx:1.27' }] },
          },
        },
      });
    }
    const rsOf = async (app: string): Promise<Obj[]> =>
      (await c.request('GET', `/apis/apps/v1/namespaces/api/replicasets?labelSelector=app%3D${app}`)).json<{
        items: Obj[];
      }>().items;
    const podsOf = async (app: string): Promise<Obj[]> =>
      (await c.request('GET', `/api/v1/namespaces/api/pods?labelSelector=app%3D${app}`)).json<{
        items: Obj[];
      }>().items;
    await eventually(
      'pods of both',
      async () => (await podsOf('bg')).length === 1 && (await podsOf('orph')).length === 1,
    );
    const bg = await c.request('DELETE', '/apis/apps/v1/namespaces/api/deployments/bg', {
      propagationPolicy: 'Background',
    });
    assert.equal(bg.status, 200);
    assert.equal(bg.json().status, 'Success');
    await eventually(
      'the background deletion to remove the ReplicaSet and its pod',
      async () => (await rsOf('bg')).length === 0 && (await podsOf('bg')).length === 0,
    );
    const orphan = await c.request('DELETE', '/apis/apps/v1/namespaces/api/deployments/orph', {
      propagationPolicy: 'Orphan',
    });
    assert.equal(orphan.status, 200);
    await eventually(
      'the Deployment to go',
      async () => (await c.request('GET', '/apis/apps/v1/namespaces/api/deployments/orph')).status === 404,
    );
    const rs = await rsOf('orph');
    assert.equal(rs.length, 1);
    assert.equal(rs[0]?.metadata.ownerReferences, undefined);
    assert.equal((await podsOf('orph')).length, 1);
  });

  test("kubectl get uses server-side Tables with kube's columns", async () => {
    const r = await c.request('GET', '/api/v1/nodes', undefined, {
      accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json',
    });
    const t = r.json<{
      kind: string;
      columnDefinitions: { name: string; priority: number }[];
      rows: { cells: unknown[] }[];
    }>();
    assert.equal(t.kind, 'Table');
    assert.deepEqual(
      t.columnDefinitions.filter((c) => c.priority === 0).map((c) => c.name),
      ['Name', 'Status', 'Roles', 'Age', 'Version'],
    );
    assert.equal(t.rows.length, 3);
  });

  // Last: it takes the API down for a while.
  test('a kube-apiserver whose port was taken while it was down starts once the port is free again (the kubelet retries)', async () => {
    const port = Number(/server: https:\/\/127\.0\.0\.1:(\d+)/.exec(readFileSync(s.kubeconfig, 'utf8'))?.[1]);
    assert.ok(port > 0);
    const manifest = join(s.dir, 'nodes', 'cp-1', 'host', 'etc', 'kubernetes', 'manifests', 'kube-apiserver.yaml');
    const parked = join(s.dir, 'kube-apiserver.yaml.parked');
    // A client in the middle of its TLS handshake when kube-apiserver stops: the stop must not
    // wait for it (the kubelet's restart would then never end).
    const handshaking = net.connect({ host: '127.0.0.1', port });
    handshaking.on('error', () => undefined);
    await new Promise<void>((resolve) => handshaking.once('connect', () => resolve()));
    renameSync(manifest, parked);
    const refused = (): Promise<boolean> =>
      new Promise((resolve) => {
        const sock = net.connect({ host: '127.0.0.1', port });
        sock.once('connect', () => {
          sock.destroy();
          resolve(false);
        });
        sock.once('error', () => resolve(true));
      });
    await eventually('kube-apiserver stopped', refused);
    // Some other process takes the port meanwhile (as the source port of its connection can).
    const squatter = net.createServer();
    await new Promise<void>((resolve) => squatter.listen({ host: '127.0.0.1', port, exclusive: true }, resolve));
    try {
      renameSync(parked, manifest);
      await eventually('the start failed', () =>
        s.logs.some((l) => /static pod kube-apiserver\S* failed to start/.test(l)),
      );
    } finally {
      await new Promise<void>((resolve) => squatter.close(() => resolve()));
    }
    handshaking.destroy();
    await eventually(
      'the API answers again',
      async () => (await c.request('GET', '/version').catch(() => ({ status: 0 }))).status === 200,
      30_000,
    );
  });
});
