// The kubeadm-style static pod restart against a hand-written fake kubelet/API that reacts to the
// real manifest files, and a clock that moves only when the code sleeps.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { isBosunError } from '../common/errors.ts';
import type { Clock } from '../common/ports.ts';
import type { CertsEvent, CertsEventSink } from './progress.ts';
import {
  API_UNAVAILABLE,
  etcdRestartAllowed,
  restartStaticPods,
  type MirrorPodView,
  type StaticPodsKube,
} from './restart.ts';

/** A clock whose sleeps return at once, moving its time forward by the slept amount. */
class SteppingClock implements Clock {
  t = Date.UTC(2026, 0, 1);
  now(): Date {
    return new Date(this.t);
  }
  async sleep(ms: number): Promise<void> {
    this.t += ms;
    await Promise.resolve();
  }
}

interface Behaviour {
  /** Polls after the manifest leaves before the mirror pod is deleted; Infinity = never. */
  goneAfter: number;
  /** Polls after the mirror pod comes back before it is Ready. */
  readyAfter: number;
  /** The API answers with errors while this component is out (kube-apiserver on a single control plane). */
  apiDownWhileOut?: boolean;
  /**
   * Polls after the manifest leaves during which the old kube-apiserver still runs and serves an
   * expired certificate, which the client rejects (a TLS error, not an unavailable API).
   */
  expiredServingPolls?: number;
}

/** The kubelet and API as far as mirror pods go: they follow the manifest files on disk. */
class FakeKubelet implements StaticPodsKube {
  pods = new Map<string, MirrorPodView & { polls: number }>();
  calls: string[] = [];
  uid = 0;
  constructor(
    private manifests: string,
    private node: string,
    private behaviour: Record<string, Behaviour>,
    public etcdMembers: { name: string; ready: boolean }[] = [],
  ) {}
  seed(component: string): void {
    this.pods.set(`${component}-${this.node}`, { uid: `uid-${this.uid++}`, ready: true, polls: 0 });
  }
  getMirrorPod(name: string): Promise<MirrorPodView | null | typeof API_UNAVAILABLE> {
    this.calls.push(`get ${name}`);
    const component = name.slice(0, -(this.node.length + 1));
    const b = this.behaviour[component] ?? { goneAfter: 1, readyAfter: 1 };
    const present = existsSync(join(this.manifests, `${component}.yaml`));
    const pod = this.pods.get(name);
    if (!present) {
      this.calls.push(`  ${component} out`);
      if (b.expiredServingPolls !== undefined && b.expiredServingPolls-- > 0) {
        return Promise.reject(new Error('TLS handshake with the API server failed: certificate has expired'));
      }
      if (b.apiDownWhileOut) return Promise.resolve(API_UNAVAILABLE);
      if (pod) {
        pod.polls++;
        if (pod.polls >= b.goneAfter) this.pods.delete(name);
      }
      return Promise.resolve(this.pods.has(name) ? { uid: pod?.uid ?? '', ready: false } : null);
    }
    if (!pod) {
      this.pods.set(name, { uid: `uid-${this.uid++}`, ready: false, polls: 0 });
      return Promise.resolve({ uid: `uid-${this.uid - 1}`, ready: false });
    }
    if (!pod.ready) {
      pod.polls++;
      if (pod.polls >= b.readyAfter) pod.ready = true;
    }
    return Promise.resolve({ uid: pod.uid, ready: pod.ready });
  }
  listEtcdPods(): Promise<{ name: string; ready: boolean }[]> {
    this.calls.push('list etcd');
    return Promise.resolve(this.etcdMembers);
  }
}

/** The events a restart reports (the lines the CLI prints for them: cli/print/certs-progress.test.ts). */
function capture(): { events: CertsEvent[]; onEvent: CertsEventSink } {
  const events: CertsEvent[] = [];
  return { events, onEvent: (e) => events.push(e) };
}

let dir = '';
let manifests = '';
let parking = '';
const ALL = ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'etcd'] as const;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'bosun-restart-'));
  manifests = join(dir, 'etc/kubernetes/manifests');
  parking = join(dir, 'etc/kubernetes/tmp/bosun-restart');
  await mkdir(manifests, { recursive: true });
  for (const c of ALL) await writeFile(join(manifests, `${c}.yaml`), `# ${c}\n`);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('restarts each component in order: out, gone, back, Ready; every manifest back in place', async () => {
  const kube = new FakeKubelet(manifests, 'cp-1', { 'kube-apiserver': { goneAfter: 3, readyAfter: 2 } }, [
    { name: 'etcd-cp-1', ready: true },
  ]);
  for (const c of ALL) kube.seed(c);
  const out = capture();
  await restartStaticPods(
    { node: 'cp-1', components: ALL, manifestsDir: manifests, parkingDir: parking, timeoutMs: 60_000 },
    { kube, clock: new SteppingClock(), onEvent: out.onEvent },
  );
  assert.deepEqual((await readdir(manifests)).sort(), [
    'etcd.yaml',
    'kube-apiserver.yaml',
    'kube-controller-manager.yaml',
    'kube-scheduler.yaml',
  ]);
  assert.deepEqual(await readdir(parking), []);
  assert.deepEqual(
    out.events.flatMap((e) => (e.type === 'restart' ? [`${e.pod} (${e.component}): ${e.step}`] : [])),
    ALL.flatMap((c) => [
      `${c}-cp-1 (${c}): moving-out`,
      `${c}-cp-1 (${c}): moved-back`,
      `${c}-cp-1 (${c}): ready`,
    ]),
  );
  assert.ok(
    out.events.some(
      (e) =>
        e.type === 'warning' && e.message === 'single-member etcd: the API is unavailable while it restarts',
    ),
  );
  for (const c of ALL) assert.equal(kube.pods.get(`${c}-cp-1`)?.ready, true);
});

test('kube-apiserver: an API that does not answer while it is out counts as gone', async () => {
  const kube = new FakeKubelet(manifests, 'cp-1', {
    'kube-apiserver': { goneAfter: Infinity, readyAfter: 1, apiDownWhileOut: true },
  });
  kube.seed('kube-apiserver');
  await restartStaticPods(
    {
      node: 'cp-1',
      components: ['kube-apiserver'],
      manifestsDir: manifests,
      parkingDir: parking,
      timeoutMs: 60_000,
    },
    { kube, clock: new SteppingClock(), onEvent: capture().onEvent },
  );
  assert.ok(existsSync(join(manifests, 'kube-apiserver.yaml')));
});

test('an API server that still serves an expired certificate has not gone away: the manifest stays out until it stops', async () => {
  const kube = new FakeKubelet(manifests, 'cp-1', {
    'kube-apiserver': { goneAfter: Infinity, readyAfter: 1, apiDownWhileOut: true, expiredServingPolls: 3 },
  });
  kube.seed('kube-apiserver');
  await restartStaticPods(
    {
      node: 'cp-1',
      components: ['kube-apiserver'],
      manifestsDir: manifests,
      parkingDir: parking,
      timeoutMs: 60_000,
    },
    { kube, clock: new SteppingClock(), onEvent: capture().onEvent },
  );
  // Three TLS rejections while the old process runs, then unavailable (stopped): only then back.
  assert.deepEqual(kube.calls.filter((c) => c.endsWith(' out')).length, 4);
  assert.ok(existsSync(join(manifests, 'kube-apiserver.yaml')));
});

test('a mirror pod that never goes away: TIMEOUT, and the manifest is moved back', async () => {
  const kube = new FakeKubelet(manifests, 'cp-1', {
    'kube-scheduler': { goneAfter: Infinity, readyAfter: 1 },
  });
  kube.seed('kube-scheduler');
  const clock = new SteppingClock();
  await assert.rejects(
    restartStaticPods(
      {
        node: 'cp-1',
        components: ['kube-scheduler'],
        manifestsDir: manifests,
        parkingDir: parking,
        timeoutMs: 30_000,
        pollMs: 1000,
      },
      { kube, clock, onEvent: capture().onEvent },
    ),
    (e: unknown) =>
      isBosunError(e) &&
      e.code === 'TIMEOUT' &&
      e.message === 'timed out after 30s waiting for kube-scheduler-cp-1 to go away',
  );
  assert.ok(existsSync(join(manifests, 'kube-scheduler.yaml')), 'manifest back in manifests/');
  assert.equal(clock.t - Date.UTC(2026, 0, 1), 30_000, 'waited exactly the timeout on the clock');
});

test('an API error for a component that does not serve the API is not "gone": it keeps waiting', async () => {
  const kube = new FakeKubelet(manifests, 'cp-1', {
    'kube-controller-manager': { goneAfter: Infinity, readyAfter: 1, apiDownWhileOut: true },
  });
  kube.seed('kube-controller-manager');
  await assert.rejects(
    restartStaticPods(
      {
        node: 'cp-1',
        components: ['kube-controller-manager'],
        manifestsDir: manifests,
        parkingDir: parking,
        timeoutMs: 5_000,
      },
      { kube, clock: new SteppingClock(), onEvent: capture().onEvent },
    ),
    (e: unknown) =>
      isBosunError(e) &&
      e.message ===
        'timed out after 5s waiting for kube-controller-manager-cp-1 to go away (last error: the API is unavailable)',
  );
  assert.ok(existsSync(join(manifests, 'kube-controller-manager.yaml')));
});

test('etcd is not restarted when the others would not keep quorum; its manifest is untouched', async () => {
  const kube = new FakeKubelet(manifests, 'cp-1', {}, [
    { name: 'etcd-cp-1', ready: true },
    { name: 'etcd-cp-2', ready: true },
    { name: 'etcd-cp-3', ready: false },
  ]);
  kube.seed('etcd');
  await assert.rejects(
    restartStaticPods(
      { node: 'cp-1', components: ['etcd'], manifestsDir: manifests, parkingDir: parking, timeoutMs: 60_000 },
      { kube, clock: new SteppingClock(), onEvent: capture().onEvent },
    ),
    (e: unknown) =>
      isBosunError(e) &&
      e.code === 'PRECONDITION' &&
      e.message ===
        'not restarting etcd: only 1 of the other 2 etcd members are Ready; restarting etcd-cp-1 would lose quorum (2 of 3 needed)',
  );
  assert.ok(existsSync(join(manifests, 'etcd.yaml')));
  assert.deepEqual(kube.calls, ['list etcd']);
});

test('a component without a manifest (external etcd) is skipped with a warning', async () => {
  await rm(join(manifests, 'etcd.yaml'));
  const kube = new FakeKubelet(manifests, 'cp-1', {});
  const out = capture();
  await restartStaticPods(
    { node: 'cp-1', components: ['etcd'], manifestsDir: manifests, parkingDir: parking, timeoutMs: 60_000 },
    { kube, clock: new SteppingClock(), onEvent: out.onEvent },
  );
  assert.deepEqual(out.events, [
    {
      type: 'warning',
      message: `${join(manifests, 'etcd.yaml')} does not exist; etcd is not a static pod on this node, skipped`,
    },
  ]);
});

test('a manifest left parked by an interrupted run: refuse and say how to put it back', async () => {
  await mkdir(parking, { recursive: true });
  await rm(join(manifests, 'kube-scheduler.yaml'));
  await writeFile(join(parking, 'kube-scheduler.yaml'), '# parked\n');
  await assert.rejects(
    restartStaticPods(
      {
        node: 'cp-1',
        components: ['kube-scheduler'],
        manifestsDir: manifests,
        parkingDir: parking,
        timeoutMs: 60_000,
      },
      {
        kube: new FakeKubelet(manifests, 'cp-1', {}),
        clock: new SteppingClock(),
        onEvent: capture().onEvent,
      },
    ),
    (e: unknown) =>
      isBosunError(e) &&
      /a previous restart was interrupted$/.test(e.message) &&
      (e.hint ?? '').startsWith(`Move it back (mv ${join(parking, 'kube-scheduler.yaml')}`),
  );
});

for (const tc of [
  {
    name: 'single member: allowed, with the reason',
    members: [['etcd-a', true]],
    self: 'etcd-a',
    want: true,
  },
  {
    name: '3 members, both others Ready: allowed',
    members: [
      ['etcd-a', true],
      ['etcd-b', true],
      ['etcd-c', true],
    ],
    self: 'etcd-a',
    want: true,
  },
  {
    name: '3 members, one other down: refused',
    members: [
      ['etcd-a', true],
      ['etcd-b', false],
      ['etcd-c', true],
    ],
    self: 'etcd-a',
    want: false,
  },
  {
    name: '2 members: the other alone is no quorum',
    members: [
      ['etcd-a', true],
      ['etcd-b', true],
    ],
    self: 'etcd-a',
    want: false,
  },
  {
    name: '5 members, one other down: 3 left is quorum',
    members: [
      ['a', true],
      ['b', true],
      ['c', true],
      ['d', true],
      ['e', false],
    ],
    self: 'a',
    want: true,
  },
  {
    name: 'self not Ready does not count for the others',
    members: [
      ['a', false],
      ['b', true],
      ['c', true],
    ],
    self: 'a',
    want: true,
  },
] as const) {
  test(`etcdRestartAllowed: ${tc.name}`, () => {
    assert.equal(
      etcdRestartAllowed(
        tc.members.map(([name, ready]) => ({ name, ready })),
        tc.self,
      ).allowed,
      tc.want,
    );
  });
}
