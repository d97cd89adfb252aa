import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fromStatus } from '../kube/errors.ts';
import type { ConfigMap } from '../kube/cluster-info.ts';
import type { Namespace } from '../kube/types.ts';
import { JOURNAL_KEY, JournalStore, type ConfigMapObjects } from './store.ts';
import { newJournal, stepAction, type RolloutJournal } from './rollout.ts';

/** An API server's ConfigMaps in memory: resourceVersions, 409s, and a record of the calls. */
class FakeConfigMaps implements ConfigMapObjects {
  rv = 0;
  cm: ConfigMap | undefined;
  namespaces = new Set<string>();
  calls: string[] = [];
  /** Runs before a write is judged (another writer sneaking in). */
  beforeWrite: (() => void) | undefined;

  getConfigMap(): Promise<ConfigMap | undefined> {
    this.calls.push('get');
    return Promise.resolve(this.cm ? structuredClone(this.cm) : undefined);
  }
  createConfigMap(cm: ConfigMap): Promise<ConfigMap> {
    this.calls.push('create');
    this.beforeWrite?.();
    if (!this.namespaces.has(cm.metadata.namespace ?? ''))
      return Promise.reject(
        fromStatus(
          404,
          { reason: 'NotFound', message: 'namespaces "bosun-system" not found' },
          { resource: 'configmaps', verb: 'create' },
        ),
      );
    if (this.cm)
      return Promise.reject(
        fromStatus(
          409,
          { reason: 'AlreadyExists', message: 'exists' },
          { resource: 'configmaps', verb: 'create' },
        ),
      );
    this.cm = { ...structuredClone(cm), metadata: { ...cm.metadata, resourceVersion: String(++this.rv) } };
    return Promise.resolve(structuredClone(this.cm));
  }
  updateConfigMap(cm: ConfigMap): Promise<ConfigMap> {
    this.calls.push('update');
    this.beforeWrite?.();
    if (!this.cm || cm.metadata.resourceVersion !== this.cm.metadata.resourceVersion)
      return Promise.reject(
        fromStatus(
          409,
          { reason: 'Conflict', message: 'the object has been modified' },
          { resource: 'configmaps', verb: 'update' },
        ),
      );
    this.cm = { ...structuredClone(cm), metadata: { ...cm.metadata, resourceVersion: String(++this.rv) } };
    return Promise.resolve(structuredClone(this.cm));
  }
  getNamespace(name: string): Promise<Namespace> {
    this.calls.push('getNamespace');
    if (!this.namespaces.has(name))
      return Promise.reject(
        fromStatus(
          404,
          { reason: 'NotFound', message: `namespaces "${name}" not found` },
          { resource: 'namespaces', verb: 'get' },
        ),
      );
    return Promise.resolve({ metadata: { name } });
  }
  createNamespace(ns: Namespace): Promise<Namespace> {
    this.calls.push('createNamespace');
    this.namespaces.add(ns.metadata.name ?? '');
    return Promise.resolve(ns);
  }
  journal(): RolloutJournal {
    return JSON.parse(this.cm?.data?.[JOURNAL_KEY] ?? '') as RolloutJournal;
  }
}

const T0 = new Date('2026-12-07T10:00:00Z');
const j0 = (): RolloutJournal =>
  newJournal({
    from: 'v1.33.5',
    to: 'v1.34.3',
    maxUnavailable: '1',
    batchSize: 1,
    hops: [
      {
        index: 1,
        from: 'v1.33.5',
        to: 'v1.34.3',
        steps: [{ id: 'v1.34.3/kubelet/w1', kind: 'kubelet', node: 'w1', batch: 1 }],
      },
    ],
    by: 'a',
    now: T0,
  });

test('the first write makes the namespace and creates the ConfigMap', async () => {
  const kube = new FakeConfigMaps();
  const store = new JournalStore(kube);
  assert.deepEqual(await store.read(), { found: 'none' });
  await store.update(() => j0());
  assert.deepEqual(kube.calls, ['get', 'getNamespace', 'createNamespace', 'create']);
  assert.equal(kube.cm?.metadata.namespace, 'bosun-system');
  assert.equal(kube.cm?.metadata.name, 'bosun-upgrade');
  assert.equal(kube.journal().id, j0().id);
});

test('later writes send the version last written: no read between writes', async () => {
  const kube = new FakeConfigMaps();
  const store = new JournalStore(kube);
  await store.update(() => j0());
  kube.calls = [];
  for (let i = 0; i < 3; i++)
    await store.update((j) => j && stepAction(j, 'v1.34.3/kubelet/w1', `a${i}`, T0));
  assert.deepEqual(kube.calls, ['update', 'update', 'update']);
  assert.equal(kube.journal().hops[0]?.steps[0]?.actions.length, 3);
});

test('a 409 re-reads the journal and decides again on what it finds', async () => {
  const kube = new FakeConfigMaps();
  const store = new JournalStore(kube);
  await store.update(() => j0());
  // Another writer adds an action between our read and our write.
  const other = new JournalStore(kube);
  await other.read();
  await other.update((j) => j && stepAction(j, 'v1.34.3/kubelet/w1', 'theirs', T0));
  const seen: string[][] = [];
  await store.update((j) => {
    seen.push(j?.hops[0]?.steps[0]?.actions.map((a) => a.what) ?? []);
    return j && stepAction(j, 'v1.34.3/kubelet/w1', 'ours', T0);
  });
  assert.deepEqual(seen, [[], ['theirs']], 'decided twice: on the stale view, then on the fresh one');
  assert.deepEqual(
    kube.journal().hops[0]?.steps[0]?.actions.map((a) => a.what),
    ['theirs', 'ours'],
  );
});

test('a decision that throws on the fresh view ends the update with its error', async () => {
  const kube = new FakeConfigMaps();
  const store = new JournalStore(kube);
  await store.update(() => j0());
  const other = new JournalStore(kube);
  await other.read();
  await other.update(() => ({ ...j0(), id: 'someone-else' }));
  await assert.rejects(
    store.update((j) => {
      if (j?.id !== j0().id) throw new Error(`the journal now belongs to ${j?.id ?? 'nobody'}`);
      return j;
    }),
    /now belongs to someone-else/,
  );
});

test('parallel updates of one process are queued, none lost', async () => {
  const kube = new FakeConfigMaps();
  const store = new JournalStore(kube);
  await store.update(() => j0());
  await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      store.update((j) => j && stepAction(j, 'v1.34.3/kubelet/w1', `p${i}`, T0)),
    ),
  );
  assert.equal(kube.journal().hops[0]?.steps[0]?.actions.length, 8);
  assert.ok(!kube.calls.includes('get') || kube.calls.filter((c) => c === 'get').length === 1);
});

test('a writer that always loses gives up with one line', async () => {
  const kube = new FakeConfigMaps();
  const store = new JournalStore(kube);
  await store.update(() => j0());
  kube.beforeWrite = () => {
    if (kube.cm) kube.cm.metadata.resourceVersion = String(++kube.rv);
  };
  await assert.rejects(
    store.update((j) => j && stepAction(j, 'v1.34.3/kubelet/w1', 'x', T0)),
    /the journal bosun-system\/bosun-upgrade kept changing under bosun \(20 conflicts\)/,
  );
});

test('an unreadable journal is reported as such, with its version', async () => {
  const kube = new FakeConfigMaps();
  kube.cm = {
    metadata: { name: 'bosun-upgrade', namespace: 'bosun-system', resourceVersion: '7' },
    data: { [JOURNAL_KEY]: 'garbage' },
  };
  assert.deepEqual(await new JournalStore(kube).read(), { found: 'unreadable', resourceVersion: '7' });
});

test('a write whose answer was lost (an API server restarting) is not written twice', async () => {
  const { FakeClock } = await import('../common/fake-clock.ts');
  const clock = new FakeClock(T0);
  const kube = new FakeConfigMaps();
  const store = new JournalStore(kube, { clock });
  await store.update(() => j0());
  // The next update is applied, but its answer never arrives; the one after finds the server down.
  const update = kube.updateConfigMap.bind(kube);
  let lost = 0;
  kube.updateConfigMap = async (cm) => {
    if (lost++ === 0) {
      await update(cm);
      throw fromStatus(
        503,
        { reason: 'ServiceUnavailable', message: 'apiserver is shutting down' },
        { resource: 'configmaps', verb: 'update' },
      );
    }
    return update(cm);
  };
  const getConfigMap = kube.getConfigMap.bind(kube);
  let down = 1;
  kube.getConfigMap = () =>
    down-- > 0
      ? Promise.reject(
          fromStatus(
            503,
            { reason: 'ServiceUnavailable', message: 'down' },
            { resource: 'configmaps', verb: 'get' },
          ),
        )
      : getConfigMap();
  const p = store.update((j) => j && stepAction(j, 'v1.34.3/kubelet/w1', 'once', T0));
  await clock.runUntilSettled(p);
  assert.deepEqual(
    kube.journal().hops[0]?.steps[0]?.actions.map((a) => a.what),
    ['once'],
  );
});
