// apply's decisions, table-driven: groups, the state a step leaves, the skew judged on live
// versions, whether a step is done already, the backup's age, and what a kubeadm timeout waited for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planUpgrade } from './plan.ts';
import {
  backupFresh,
  diagnoseStaticPodTimeout,
  groupsOf,
  judgeGroup,
  staticPodTimeout,
  standing,
  unmetProofs,
} from './rollout.ts';
import { parseVersion } from './skew.ts';
import { LATEST, versionsOf } from './testing/fixtures.ts';

const plan = (maxUnavailable = '2') =>
  planUpgrade({
    versions: versionsOf({ workers: 5 }),
    target: parseVersion('v1.34.3')!,
    latest: LATEST,
    maxUnavailable,
    recipe: undefined,
  });

test('groups: the backup, each control plane alone, then each batch of kubelets', () => {
  const hop = plan().hops[1]!;
  assert.deepEqual(
    groupsOf(hop).map((g) => [g.kind, g.steps.map((s) => s.node ?? '-').join(',')]),
    [
      ['backup', '-'],
      ['control-plane', 'cp-1'],
      ['control-plane', 'cp-2'],
      ['control-plane', 'cp-3'],
      ['kubelets', 'cp-1'],
      ['kubelets', 'cp-2'],
      ['kubelets', 'cp-3'],
      ['kubelets', 'worker-1,worker-2'],
      ['kubelets', 'worker-3,worker-4'],
      ['kubelets', 'worker-5'],
    ],
  );
});

const hop1 = plan().hops[0]!;
const hop2 = plan().hops[1]!;
const byId = (id: string) => [...hop1.steps, ...hop2.steps].find((s) => s.id === id)!;

for (const tc of [
  {
    name: 'the primary on a cluster at v1.32.9 keeps to the policy',
    live: versionsOf(),
    ids: ['v1.33.5/control-plane/cp-1'],
    legal: true,
  },
  {
    name: 'the primary of the second hop while the cluster is still at v1.32.9 skips a minor',
    live: versionsOf(),
    ids: ['v1.34.3/control-plane/cp-1'],
    legal: false,
    rule: 'apiserver-step',
  },
  {
    name: 'a worker kubelet at v1.34.3 while a kube-apiserver is at v1.33.5 is newer than it',
    live: versionsOf({ version: 'v1.33.5', controlPlaneVersions: { 'cp-1': 'v1.34.3' } }),
    ids: ['v1.34.3/kubelet/worker-1'],
    legal: false,
    rule: 'kubelet-newer',
  },
  {
    name: 'a batch of two workers once every control plane is at v1.34.3',
    live: versionsOf({
      version: 'v1.33.5',
      controlPlaneVersions: { 'cp-1': 'v1.34.3', 'cp-2': 'v1.34.3', 'cp-3': 'v1.34.3' },
    }),
    ids: ['v1.34.3/kubelet/worker-1', 'v1.34.3/kubelet/worker-2'],
    legal: true,
  },
  {
    name: "the primary's kubeadm refuses a kubelet four minors behind",
    live: versionsOf({ version: 'v1.33.5', kubelets: { 'worker-3': 'v1.29.15' } }),
    ids: ['v1.34.3/control-plane/cp-1'],
    legal: false,
    rule: 'kubeadm-kubelet-skew',
  },
])
  test(`judgeGroup: ${tc.name}`, () => {
    const steps = tc.ids.map(byId);
    const v = judgeGroup(
      tc.live,
      { kind: steps[0]!.kind === 'kubelet' ? 'kubelets' : 'control-plane', steps },
      steps[0]!.id.split('/')[0]!,
    );
    assert.equal(v.legal, tc.legal, JSON.stringify(v.introduced));
    if (tc.rule)
      assert.ok(
        v.introduced.some((x) => x.rule === tc.rule),
        JSON.stringify(v.introduced),
      );
  });

const done34 = versionsOf({ version: 'v1.34.3' });
for (const tc of [
  {
    name: 'a backup is never done by its proofs',
    id: 'v1.34.3/etcd-backup',
    live: done34,
    journal: true,
    busy: [],
    want: 'todo',
  },
  {
    name: 'proofs hold and the journal agrees',
    id: 'v1.34.3/kubelet/worker-1',
    live: done34,
    journal: true,
    busy: [],
    want: 'done',
  },
  {
    name: 'proofs hold, the journal never heard',
    id: 'v1.34.3/kubelet/worker-1',
    live: done34,
    journal: false,
    busy: [],
    want: 'found-done',
  },
  {
    name: 'proofs hold but the node still carries a maintenance (killed before the workloads came back)',
    id: 'v1.34.3/kubelet/worker-1',
    live: done34,
    journal: false,
    busy: ['worker-1'],
    want: 'todo',
  },
  {
    name: 'the journal says done, the cluster disagrees (someone downgraded)',
    id: 'v1.34.3/kubelet/worker-1',
    live: versionsOf({ version: 'v1.34.3', kubelets: { 'worker-1': 'v1.33.5' } }),
    journal: true,
    busy: [],
    want: 'todo',
  },
  {
    name: 'a control plane whose scheduler is not Ready is not done',
    id: 'v1.34.3/control-plane/cp-2',
    live: (() => {
      const v = versionsOf({ version: 'v1.34.3' });
      v.controlPlanes[1]!.scheduler!.ready = false;
      return v;
    })(),
    journal: true,
    busy: [],
    want: 'todo',
  },
] as const)
  test(`standing: ${tc.name}`, () =>
    assert.equal(standing(byId(tc.id), tc.journal, tc.live, new Set<string>(tc.busy)), tc.want));

test('unmetProofs names what is missing', () => {
  const live = versionsOf({
    version: 'v1.34.3',
    kubelets: { 'worker-1': 'v1.33.5' },
    nodes: { 'worker-1': { unschedulable: true } },
  });
  assert.deepEqual(unmetProofs(byId('v1.34.3/kubelet/worker-1').proofs, live), [
    'kubelet on worker-1 reports v1.33.5, not v1.34.3',
    'worker-1 is cordoned',
  ]);
  const cp = versionsOf({ version: 'v1.33.5' });
  assert.deepEqual(unmetProofs(byId('v1.34.3/control-plane/cp-1').proofs, cp), [
    'kube-apiserver on cp-1 runs v1.33.5, not v1.34.3',
    'kube-controller-manager on cp-1 runs v1.33.5, not v1.34.3',
    'kube-scheduler on cp-1 runs v1.33.5, not v1.34.3',
    'kubeadm-config says v1.33.5, not v1.34.3',
  ]);
});

const NOW = new Date('2026-12-07T12:00:00Z');
const ago = (m: number) => new Date(NOW.getTime() - m * 60_000).toISOString();
for (const tc of [
  { name: 'none taken', backups: [], fresh: false },
  { name: '59 minutes old with max 1h', backups: [{ takenAt: ago(59), file: 'a' }], fresh: true },
  { name: '61 minutes old with max 1h', backups: [{ takenAt: ago(61), file: 'a' }], fresh: false },
  {
    name: 'only the newest counts',
    backups: [
      { takenAt: ago(1), file: 'a' },
      { takenAt: ago(90), file: 'b' },
    ],
    fresh: false,
  },
  { name: 'from the future (skewed clock)', backups: [{ takenAt: ago(-10), file: 'a' }], fresh: false },
  { name: 'an unreadable time', backups: [{ takenAt: 'yesterday', file: 'a' }], fresh: false },
])
  test(`backupFresh: ${tc.name}`, () =>
    assert.equal(backupFresh(tc.backups, NOW, 3_600_000) !== undefined, tc.fresh));

for (const tc of [
  {
    name: 'the sandbox and kubeadm 1.3x: timed out after "Preparing for kube-scheduler"',
    out: [
      '[upgrade/staticpods] Preparing for "kube-apiserver" upgrade',
      '[upgrade/staticpods] Component "kube-apiserver" upgraded successfully!',
      '[upgrade/staticpods] Preparing for "kube-scheduler" upgrade',
      '[upgrade/staticpods] Waiting for the kubelet to restart the component',
      "! [upgrade/staticpods] FATAL: couldn't upgrade control plane. Errors faced: timed out waiting for the condition",
    ],
    want: 'kube-scheduler',
  },
  {
    name: 'newer kubeadm: context deadline exceeded',
    out: [
      '[upgrade/staticpods] Preparing for "etcd" upgrade',
      'static Pod hash for component etcd on Node cp-1 did not change after 5m0s: context deadline exceeded',
    ],
    want: 'etcd',
  },
  {
    name: 'kubeadm 1.32+ through its phase runner: the component named in the error wins',
    out: [
      '[upgrade/staticpods] Preparing for "kube-scheduler" upgrade',
      '[upgrade/staticpods] This can take up to 5m0s',
      "error execution phase control-plane: couldn't complete the static pod upgrade: couldn't upgrade control plane. kubeadm has tried to recover everything into the earlier state. Errors faced: static Pod hash for component kube-controller-manager on Node cp-1 did not change after 5m0s: context deadline exceeded",
    ],
    want: 'kube-controller-manager',
  },
  { name: 'another failure is not a timeout', out: ['E: Unable to locate package kubeadm'], want: undefined },
])
  test(`staticPodTimeout: ${tc.name}`, () => assert.equal(staticPodTimeout(tc.out), tc.want));

test('a timeout whose hash did not change: the kubelet never picked up the manifest', () => {
  const before = {
    component: 'kube-scheduler',
    image: 'k8s/kube-scheduler:v1.33.5',
    ready: true,
    hash: 'abc',
  };
  const lines = diagnoseStaticPodTimeout('cp-2', 'kube-scheduler', before, { ...before });
  assert.equal(lines[0], 'kubeadm timed out waiting for the static pod kube-scheduler on cp-2');
  assert.match(
    lines[1] ?? '',
    /before the step: image k8s\/kube-scheduler:v1\.33\.5, Ready, config\.hash abc/,
  );
  assert.match(lines.at(-1) ?? '', /the manifest hash did not change: the kubelet on cp-2 has not picked up/);
});

test('a timeout whose new pod never became Ready, and one whose pod is gone', () => {
  const before = { component: 'etcd', image: 'etcd:3.5.16-0', ready: true, hash: 'abc' };
  assert.match(
    diagnoseStaticPodTimeout('cp-1', 'etcd', before, {
      ...before,
      image: 'etcd:3.5.21-0',
      ready: false,
      hash: 'def',
    }).at(-1) ?? '',
    /runs the new manifest \(hash def\) but etcd does not become Ready/,
  );
  assert.match(diagnoseStaticPodTimeout('cp-1', 'etcd', before, undefined).at(-1) ?? '', /shows no etcd pod/);
});

test('planUpgrade plans an unfinished kubelet step again though its node reports the version', () => {
  const versions = versionsOf({
    version: 'v1.34.3',
    kubelets: { 'worker-1': 'v1.33.5', 'worker-2': 'v1.33.5' },
    nodes: { 'worker-3': { unschedulable: true } },
  });
  const p = planUpgrade({
    versions,
    target: parseVersion('v1.34.3')!,
    latest: LATEST,
    maxUnavailable: '1',
    recipe: undefined,
    unfinished: [
      { hop: 'v1.34.3', node: 'worker-3' },
      { hop: 'v1.33.5', node: 'worker-4' },
      { hop: 'v1.34.3', node: 'gone-node' },
    ],
  });
  assert.deepEqual(
    p.hops.map((h) => h.mustMove),
    [['worker-1', 'worker-2', 'worker-3']],
  );
  const w3 = p.hops[0]?.steps.find((s) => s.id === 'v1.34.3/kubelet/worker-3');
  assert.equal(w3?.done, false, 'cordoned: its uncordoned proof does not hold');
});
