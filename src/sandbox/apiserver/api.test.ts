// ApiCore's semantics against a real etcd: the kube-apiserver behaviour that clients observe.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startApiHarness, type ApiHarness } from '../../../test/support/api-harness.ts';
import { ApiError } from './status.ts';
import { resource } from './resources.ts';
import type { WatchEvent } from './api.ts';
import type { KubeObject, Pod, PodDisruptionBudget } from './types.ts';

const pods = resource('pods');
const cms = resource('configmaps');
const pdbs = resource('poddisruptionbudgets');

function pod(name: string, labels: Record<string, string> = {}, nodeName?: string): Pod {
  return {
    metadata: { name, labels },
    spec: { ...(nodeName ? { nodeName } : {}), containers: [{ name: 'c', image: 'nginx:1.27' }] },
  };
}

async function apiError(p: Promise<unknown>): Promise<ApiError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof ApiError) return e;
    throw e;
  }
  assert.fail('expected an ApiError');
}

describe('ApiCore', () => {
  let h: ApiHarness;
  before(async () => {
    h = await startApiHarness({ namespaces: ['default', 'web', 'gone'] });
  });
  after(() => h.stop());

  test('create sets uid, creationTimestamp and resourceVersion = etcd revision; a second create is 409 AlreadyExists', async () => {
    const o = await h.api.create(cms, 'default', { metadata: { name: 'a' }, data: { k: 'v' } });
    assert.match(o.metadata.uid ?? '', /^[0-9a-f-]{36}$/);
    assert.match(o.metadata.creationTimestamp ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(String(await h.store.currentRevision()), o.metadata.resourceVersion);
    const e = await apiError(h.api.create(cms, 'default', { metadata: { name: 'a' } }));
    assert.equal(e.code, 409);
    assert.equal(e.reason, 'AlreadyExists');
    assert.equal(e.message, 'configmaps "a" already exists');
  });

  test('an update with a stale resourceVersion is 409 Conflict; with the current one it succeeds', async () => {
    const o = await h.api.create(cms, 'default', { metadata: { name: 'b' }, data: { n: '1' } });
    const o2 = await h.api.update(cms, 'default', 'b', { ...o, data: { n: '2' } });
    assert.notEqual(o2.metadata.resourceVersion, o.metadata.resourceVersion);
    const e = await apiError(h.api.update(cms, 'default', 'b', { ...o, data: { n: '3' } }));
    assert.equal(e.code, 409);
    assert.equal(e.reason, 'Conflict');
    assert.match(e.message, /the object has been modified/);
  });

  test("get of a missing object is 404 NotFound with kube's message", async () => {
    const e = await apiError(h.api.get(pods, 'default', 'nope'));
    assert.equal(e.code, 404);
    assert.equal(e.message, 'pods "nope" not found');
  });

  test('create in a missing namespace is 404 for the namespace', async () => {
    const e = await apiError(h.api.create(cms, 'missing', { metadata: { name: 'x' } }));
    assert.equal(e.message, 'namespaces "missing" not found');
  });

  test('invalid objects are 422 Invalid with field causes', async () => {
    const e = await apiError(
      h.api.create(pods, 'default', { metadata: { name: 'Bad_Name' }, spec: { containers: [] } }),
    );
    assert.equal(e.code, 422);
    assert.equal(e.reason, 'Invalid');
    assert.deepEqual(
      e.status.details?.causes?.map((c) => c.field),
      ['metadata.name', 'spec.containers'],
    );
  });

  test('label and field selectors filter lists; an unsupported field is 400', async () => {
    await h.api.create(pods, 'web', pod('s1', { app: 'a', tier: 'fe' }, 'n1'));
    await h.api.create(pods, 'web', pod('s2', { app: 'b' }, 'n2'));
    await h.api.create(pods, 'web', pod('s3', { app: 'a' }));
    const names = async (o: { labelSelector?: string; fieldSelector?: string }): Promise<string[]> =>
      (await h.api.list(pods, 'web', o)).items.map((p) => p.metadata.name ?? '').sort();
    assert.deepEqual(await names({ labelSelector: 'app=a' }), ['s1', 's3']);
    assert.deepEqual(await names({ labelSelector: 'app in (a,b),!tier' }), ['s2', 's3']);
    assert.deepEqual(await names({ fieldSelector: 'spec.nodeName=n2' }), ['s2']);
    assert.deepEqual(await names({ fieldSelector: 'spec.nodeName=' }), ['s3']);
    assert.deepEqual(await names({ fieldSelector: 'metadata.name!=s1,status.phase=Pending' }), ['s2', 's3']);
    const e = await apiError(h.api.list(pods, 'web', { fieldSelector: 'spec.bogus=x' }));
    assert.equal(e.code, 400);
    assert.match(e.message, /field label not supported: spec.bogus/);
  });

  test('paging with limit and continue returns every item once, with remainingItemCount', async () => {
    for (let i = 0; i < 7; i++) await h.api.create(cms, 'web', { metadata: { name: `page-${i}` } });
    const seen: string[] = [];
    let cont: string | undefined;
    let first = true;
    do {
      const page = await h.api.list(cms, 'web', { limit: 3, ...(cont ? { continue: cont } : {}) });
      if (first) assert.equal(page.remainingItemCount, 4);
      first = false;
      seen.push(...page.items.map((o) => o.metadata.name ?? ''));
      cont = page.continue;
    } while (cont);
    assert.deepEqual(seen, ['page-0', 'page-1', 'page-2', 'page-3', 'page-4', 'page-5', 'page-6']);
  });

  test('watch from a resourceVersion delivers ADDED/MODIFIED/DELETED in order and resumes from any event', async () => {
    const start = await h.api.list(cms, 'default');
    const events: WatchEvent[] = [];
    let done!: () => void;
    const got = new Promise<void>((r) => (done = r));
    const cancel = await h.api.watch(
      cms,
      'default',
      { resourceVersion: start.resourceVersion, labelSelector: 'w=1' },
      (ev) => {
        events.push(ev);
        if (events.length === 4) done();
      },
      () => undefined,
    );
    const c = await h.api.create(cms, 'default', { metadata: { name: 'w', labels: { w: '1' } } });
    const c2 = await h.api.update(cms, 'default', 'w', { ...c, data: { x: 'y' } });
    // Leaving the selector is a DELETED for this watch; deleting it afterwards is not seen.
    await h.api.update(cms, 'default', 'w', { ...c2, metadata: { ...c2.metadata, labels: { w: '2' } } });
    await h.api.create(cms, 'default', { metadata: { name: 'w2', labels: { w: '1' } } });
    await got;
    cancel();
    assert.deepEqual(
      events.map((e) => `${e.type} ${(e.object as KubeObject).metadata.name}`),
      ['ADDED w', 'MODIFIED w', 'DELETED w', 'ADDED w2'],
    );
    const rvs = events.map((e) => Number((e.object as KubeObject).metadata.resourceVersion));
    assert.deepEqual(
      [...rvs].sort((a, b) => a - b),
      rvs,
    );
    // Resume after the second event: exactly the last two come again.
    const resumed: string[] = [];
    let done2!: () => void;
    const got2 = new Promise<void>((r) => (done2 = r));
    const cancel2 = await h.api.watch(
      cms,
      'default',
      { resourceVersion: String(rvs[1]), labelSelector: 'w=1' },
      (ev) => {
        resumed.push(`${ev.type} ${(ev.object as KubeObject).metadata.name}`);
        if (resumed.length === 2) done2();
      },
      () => undefined,
    );
    await got2;
    cancel2();
    assert.deepEqual(resumed, ['DELETED w', 'ADDED w2']);
  });

  test('a watch or exact list from a compacted resourceVersion is 410 Expired', async () => {
    const a = await h.api.create(cms, 'default', { metadata: { name: 'old' } });
    await h.api.create(cms, 'default', { metadata: { name: 'newer' } });
    await h.store.compact(await h.store.currentRevision());
    const e = await apiError(
      h.api.watch(
        cms,
        'default',
        { resourceVersion: a.metadata.resourceVersion ?? '' },
        () => undefined,
        () => undefined,
      ),
    );
    assert.equal(e.code, 410);
    assert.equal(e.reason, 'Expired');
    const e2 = await apiError(
      h.api.list(cms, 'default', {
        resourceVersion: a.metadata.resourceVersion ?? '',
        resourceVersionMatch: 'Exact',
      }),
    );
    assert.equal(e2.code, 410);
  });

  test('deleting a scheduled pod is graceful (deletionTimestamp, still present); an unscheduled pod goes at once', async () => {
    await h.api.create(pods, 'default', pod('g1', {}, 'node-a'));
    const r = await h.api.delete(pods, 'default', 'g1', {});
    assert.equal(r.deleted, false);
    assert.equal(r.obj.metadata.deletionGracePeriodSeconds, 30);
    assert.ok(r.obj.metadata.deletionTimestamp);
    // A second delete with a longer period changes nothing; a shorter one shortens it.
    const again = await h.api.delete(pods, 'default', 'g1', { gracePeriodSeconds: 60 });
    assert.equal(again.obj.metadata.deletionGracePeriodSeconds, 30);
    const shorter = await h.api.delete(pods, 'default', 'g1', { gracePeriodSeconds: 5 });
    assert.equal(shorter.obj.metadata.deletionGracePeriodSeconds, 5);
    const final = await h.api.delete(pods, 'default', 'g1', { gracePeriodSeconds: 0 });
    assert.equal(final.deleted, true);
    await h.api.create(pods, 'default', pod('g2'));
    assert.equal((await h.api.delete(pods, 'default', 'g2', {})).deleted, true);
  });

  test('delete preconditions: a wrong uid is 409', async () => {
    await h.api.create(cms, 'default', { metadata: { name: 'pre' } });
    const e = await apiError(h.api.delete(cms, 'default', 'pre', { preconditions: { uid: 'other' } }));
    assert.equal(e.code, 409);
    assert.match(e.message, /Precondition failed: UID in precondition: other/);
  });

  test('eviction: 201 without a PDB, 429 with the budget cause when none is allowed, 500 with two PDBs', async () => {
    const running = (p: Pod): Pod => ({
      ...p,
      status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
    });
    for (const n of ['e1', 'e2', 'e3']) {
      const created = await h.api.create(
        pods,
        'web',
        pod(n, { app: n === 'e1' ? 'free' : 'guarded' }, 'node-a'),
      );
      await h.api.update(pods, 'web', n, running(created as Pod), { subresource: 'status' });
    }
    const ok = await h.api.evict('web', 'e1', { metadata: { name: 'e1' } });
    assert.equal(ok.code, 201);
    assert.ok((await h.api.get(pods, 'web', 'e1')).metadata.deletionTimestamp);
    const pdb = (await h.api.create(pdbs, 'web', {
      metadata: { name: 'guard' },
      spec: { minAvailable: 2, selector: { matchLabels: { app: 'guarded' } } },
    })) as PodDisruptionBudget;
    await h.api.update(
      pdbs,
      'web',
      'guard',
      {
        ...pdb,
        status: {
          observedGeneration: 1,
          disruptionsAllowed: 0,
          currentHealthy: 2,
          desiredHealthy: 2,
          expectedPods: 2,
        },
      },
      { subresource: 'status' },
    );
    const e = await apiError(h.api.evict('web', 'e2', { metadata: { name: 'e2' } }));
    assert.equal(e.code, 429);
    assert.equal(e.reason, 'TooManyRequests');
    assert.equal(e.message, "Cannot evict pod as it would violate the pod's disruption budget.");
    assert.deepEqual(e.status.details?.causes, [
      {
        reason: 'DisruptionBudget',
        message: 'The disruption budget guard needs 2 healthy pods and has 2 currently',
      },
    ]);
    await h.api.create(pdbs, 'web', {
      metadata: { name: 'guard2' },
      spec: { maxUnavailable: 1, selector: { matchLabels: { app: 'guarded' } } },
    });
    const e2 = await apiError(h.api.evict('web', 'e2', { metadata: { name: 'e2' } }));
    assert.equal(e2.code, 500);
    assert.equal(
      e2.message,
      'This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.',
    );
  });

  test("an eviction whose client goes away after the budget recorded it leaves the pod in status.disruptedPods, still running (kube-apiserver deletes with the request's context)", async () => {
    const running = (p: Pod): Pod => ({
      ...p,
      status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
    });
    for (const n of ['d1', 'd2']) {
      const created = await h.api.create(pods, 'web', pod(n, { app: 'held' }, 'node-a'));
      await h.api.update(pods, 'web', n, running(created as Pod), { subresource: 'status' });
    }
    const b = (await h.api.create(pdbs, 'web', {
      metadata: { name: 'held' },
      spec: { maxUnavailable: 2, selector: { matchLabels: { app: 'held' } } },
    })) as PodDisruptionBudget;
    await h.api.update(
      pdbs,
      'web',
      'held',
      {
        ...b,
        status: {
          observedGeneration: 1,
          disruptionsAllowed: 2,
          currentHealthy: 2,
          desiredHealthy: 0,
          expectedPods: 2,
        },
      },
      { subresource: 'status' },
    );
    // The client goes away right after the budget's update reached etcd.
    const gone = new AbortController();
    const update = h.store.update.bind(h.store);
    h.store.update = async (...a: Parameters<typeof update>) => {
      const r = await update(...a);
      if (a[0].includes('/poddisruptionbudgets/')) gone.abort();
      return r;
    };
    try {
      await h.api
        .evict('web', 'd1', { metadata: { name: 'd1' } }, { signal: gone.signal })
        .catch(() => undefined);
    } finally {
      h.store.update = update;
    }
    const d1 = (await h.api.get(pods, 'web', 'd1')) as Pod;
    assert.equal(d1.metadata.deletionTimestamp, undefined, 'the pod was not deleted');
    let after = (await h.api.get(pdbs, 'web', 'held')) as PodDisruptionBudget;
    assert.deepEqual(Object.keys(after.status?.disruptedPods ?? {}), ['d1']);
    assert.equal(after.status?.disruptionsAllowed, 1);
    // A server-side dry run decides the same and records nothing.
    const dry = await h.api.evict('web', 'd2', {
      metadata: { name: 'd2' },
      deleteOptions: { dryRun: ['All'] },
    });
    assert.equal(dry.code, 201);
    after = (await h.api.get(pdbs, 'web', 'held')) as PodDisruptionBudget;
    assert.deepEqual(Object.keys(after.status?.disruptedPods ?? {}), ['d1']);
    // An eviction whose client stays records the pod and deletes it.
    assert.equal((await h.api.evict('web', 'd2', { metadata: { name: 'd2' } })).code, 201);
    assert.ok(((await h.api.get(pods, 'web', 'd2')) as Pod).metadata.deletionTimestamp);
    after = (await h.api.get(pdbs, 'web', 'held')) as PodDisruptionBudget;
    assert.deepEqual(Object.keys(after.status?.disruptedPods ?? {}).sort(), ['d1', 'd2']);
  });

  test('eviction in a terminating namespace is 403 with the NamespaceTerminating cause', async () => {
    await h.api.create(pods, 'gone', pod('t1', {}, 'node-a'));
    await h.api.delete(resource('namespaces'), undefined, 'gone', {});
    const e = await apiError(h.api.evict('gone', 't1', { metadata: { name: 't1' } }));
    assert.equal(e.code, 403);
    assert.equal(e.status.details?.causes?.[0]?.reason, 'NamespaceTerminating');
  });

  test('orphan propagation keeps the object with the orphan finalizer until it is removed', async () => {
    await h.api.create(cms, 'default', { metadata: { name: 'fin' } });
    const r = await h.api.delete(cms, 'default', 'fin', { propagationPolicy: 'Orphan' });
    assert.equal(r.deleted, false);
    assert.deepEqual(r.obj.metadata.finalizers, ['orphan']);
    const cur = await h.api.get(cms, 'default', 'fin');
    await h.api.update(cms, 'default', 'fin', { ...cur, metadata: { ...cur.metadata, finalizers: [] } });
    await assert.rejects(
      h.api.get(cms, 'default', 'fin'),
      (e: unknown) => e instanceof ApiError && e.code === 404,
    );
  });

  test('a patch without a resourceVersion is retried on a conflict; one with a stale resourceVersion is 409', async () => {
    const nodes = resource('nodes');
    const n = await h.api.create(nodes, undefined, { metadata: { name: 'racy' }, spec: {} });
    // Writers race: every patch lands, none fails.
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        h.api.patch(nodes, undefined, 'racy', 'merge', { metadata: { labels: { [`l${i}`]: 'x' } } }),
      ),
    );
    const got = await h.api.get(nodes, undefined, 'racy');
    assert.equal(Object.keys(got.metadata.labels ?? {}).length, 8);
    const e = await apiError(
      h.api.patch(nodes, undefined, 'racy', 'merge', {
        metadata: { resourceVersion: n.metadata.resourceVersion },
        spec: { unschedulable: true },
      }),
    );
    assert.equal(e.code, 409);
  });

  test('strategic merge patch cordons a node and merge patch with null uncordons it', async () => {
    const nodes = resource('nodes');
    await h.api.create(nodes, undefined, { metadata: { name: 'pn' }, spec: {} });
    const c = await h.api.patch(nodes, undefined, 'pn', 'strategic', { spec: { unschedulable: true } });
    assert.equal((c['spec'] as { unschedulable?: boolean }).unschedulable, true);
    const u = await h.api.patch(nodes, undefined, 'pn', 'merge', { spec: { unschedulable: null } });
    assert.deepEqual(u['spec'], {});
  });
});
