import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isBosunError } from '../common/errors.ts';
import {
  availableUpgrades,
  batchSizeOf,
  hopTargets,
  parseMaxUnavailable,
  planUpgrade,
  validateTarget,
  type UpgradePlan,
} from './plan.ts';
import { parseRecipe } from './recipes.ts';
import { parseVersion } from './skew.ts';
import { LATEST, versionsOf } from './testing/fixtures.ts';

const v = (s: string) => parseVersion(s)!;

function plan(o: Parameters<typeof versionsOf>[0] & { to: string; maxUnavailable?: string }): UpgradePlan {
  return planUpgrade({
    versions: versionsOf(o),
    target: v(o.to),
    latest: LATEST,
    maxUnavailable: o.maxUnavailable ?? '1',
    recipe: undefined,
  });
}

/** "id [batch]" for every step of a hop. */
const stepsOf = (p: UpgradePlan, hop: number): string[] =>
  (p.hops[hop]?.steps ?? []).map((s) => (s.batch ? `${s.id} [${s.batch}]` : s.id));

test('v1.32.9 to v1.34.3: two hops; kubelets lag through the first and move once, in the second', () => {
  const p = plan({ to: 'v1.34.3', maxUnavailable: '2' });
  assert.equal(p.legal, true, p.problems.join('\n'));
  assert.deepEqual(
    p.hops.map((h) => [h.from, h.to, h.kubeadmVersion]),
    [
      ['v1.32.9', 'v1.33.5', 'v1.33.5'],
      ['v1.33.5', 'v1.34.3', 'v1.34.3'],
    ],
  );
  assert.deepEqual(p.hops[0]?.mustMove, []);
  assert.equal(p.hops[0]?.mayLag.length, 7);
  assert.deepEqual(stepsOf(p, 0), [
    'v1.33.5/etcd-backup',
    'v1.33.5/control-plane/cp-1',
    'v1.33.5/control-plane/cp-2',
    'v1.33.5/control-plane/cp-3',
  ]);
  assert.deepEqual(p.hops[1]?.mustMove, [
    'cp-1',
    'cp-2',
    'cp-3',
    'worker-1',
    'worker-2',
    'worker-3',
    'worker-4',
  ]);
  assert.deepEqual(stepsOf(p, 1), [
    'v1.34.3/etcd-backup',
    'v1.34.3/control-plane/cp-1',
    'v1.34.3/control-plane/cp-2',
    'v1.34.3/control-plane/cp-3',
    'v1.34.3/kubelet/cp-1 [1]',
    'v1.34.3/kubelet/cp-2 [2]',
    'v1.34.3/kubelet/cp-3 [3]',
    'v1.34.3/kubelet/worker-1 [4]',
    'v1.34.3/kubelet/worker-2 [4]',
    'v1.34.3/kubelet/worker-3 [5]',
    'v1.34.3/kubelet/worker-4 [5]',
  ]);
  assert.ok(p.hops.every((h) => h.steps.every((s) => s.skew.legal && !s.done)));
});

test('the steps carry their commands, actions and proofs', () => {
  const p = plan({ to: 'v1.34.3', controlPlanes: 1, workers: 1 });
  const [, primary] = p.hops[1]?.steps ?? [];
  assert.equal(primary?.kind, 'primary-control-plane');
  assert.deepEqual(primary?.actions, [
    {
      do: 'run',
      recipe: 'apt',
      commands: [
        "sed -i 's#/core:/stable:/v[0-9][0-9.]*/deb/#/core:/stable:/v1.34/deb/#' /etc/apt/sources.list.d/kubernetes.list",
        'apt-get update',
        'apt-mark unhold kubeadm',
        'apt-get install -y kubeadm=1.34.3-1.1',
        'apt-mark hold kubeadm',
        'kubeadm upgrade apply v1.34.3 -y',
      ],
    },
    { do: 'wait-static-pods', version: 'v1.34.3' },
  ]);
  // The only control plane takes the addons along; its node must be Ready again after its
  // kube-apiserver restarted.
  assert.deepEqual(primary?.proofs, [
    { kind: 'static-pods', node: 'cp-1', version: 'v1.34.3' },
    { kind: 'ready', node: 'cp-1' },
    { kind: 'cluster-version', version: 'v1.34.3' },
    { kind: 'addons', version: 'v1.34.3' },
  ]);
  const worker = p.hops[1]?.steps.find((s) => s.node === 'worker-1');
  assert.deepEqual(
    worker?.actions.map((a) => a.do),
    ['cordon', 'drain', 'run', 'run', 'wait-kubelet', 'uncordon', 'wait-workloads'],
  );
  const runs = worker?.actions.flatMap((a) => (a.do === 'run' ? a.commands : []));
  assert.ok(runs?.includes('kubeadm upgrade node'));
  assert.ok(runs?.includes('apt-get install -y kubelet=1.34.3-1.1 kubectl=1.34.3-1.1'));
  assert.ok(runs?.includes('systemctl restart kubelet'));
  assert.deepEqual(worker?.proofs, [
    { kind: 'kubelet', node: 'worker-1', version: 'v1.34.3' },
    { kind: 'ready', node: 'worker-1' },
    { kind: 'uncordoned', node: 'worker-1' },
  ]);
});

test('v1.31 to v1.34 is three hops', () => {
  const p = plan({ version: 'v1.31.13', to: 'v1.34.3' });
  assert.deepEqual(
    p.hops.map((h) => h.to),
    ['v1.32.9', 'v1.33.5', 'v1.34.3'],
  );
  assert.equal(p.legal, true, p.problems.join('\n'));
});

test('kubelets that the next hop would leave four minors behind move in this hop', () => {
  const p = plan({
    version: 'v1.32.9',
    to: 'v1.34.3',
    kubelets: { 'worker-1': 'v1.30.14', 'worker-2': 'v1.31.13' },
  });
  assert.deepEqual(p.hops[0]?.mustMove, ['worker-1']);
  assert.ok(p.hops[0]?.mayLag.includes('worker-2'));
  assert.deepEqual(
    p.hops[0]?.steps.filter((s) => s.kind === 'kubelet').map((s) => s.id),
    ['v1.33.5/kubelet/worker-1'],
  );
  assert.equal(p.legal, true, p.problems.join('\n'));
});

test('a kubelet three minors behind moves before the control plane (a hop of its own)', () => {
  const p = plan({ version: 'v1.33.5', to: 'v1.34.3', kubelets: { 'worker-3': 'v1.30.14' } });
  assert.deepEqual(
    p.hops.map((h) => [h.to, h.mustMove]),
    [
      ['v1.33.5', ['worker-3']],
      ['v1.34.3', ['cp-1', 'cp-2', 'cp-3', 'worker-1', 'worker-2', 'worker-3', 'worker-4']],
    ],
  );
  const first = p.hops[0]?.steps ?? [];
  // The control planes are already at v1.33.5: their steps are done; only the kubelet moves.
  assert.deepEqual(
    first.filter((s) => s.kind !== 'etcd-backup' && !s.done).map((s) => s.id),
    ['v1.33.5/kubelet/worker-3'],
  );
  assert.equal(p.legal, true, p.problems.join('\n'));
});

test('kubeadm before v1.29 refuses kubelets two minors behind: they move first (kubeadm#2389)', () => {
  const p = plan({ version: 'v1.27.16', to: 'v1.28.15', kubelets: { 'worker-1': 'v1.26.15' } });
  assert.deepEqual(
    p.hops.map((h) => [h.to, h.mustMove.filter((n) => n.startsWith('worker'))]),
    [
      ['v1.27.16', ['worker-1']],
      ['v1.28.15', ['worker-1', 'worker-2', 'worker-3', 'worker-4']],
    ],
  );
  assert.equal(p.legal, true, p.problems.join('\n'));
  // The policy alone allows a v1.26 kubelet under v1.28; kubeadm v1.29 accepts it too.
  const later = plan({ version: 'v1.28.15', to: 'v1.29.15', kubelets: { 'worker-1': 'v1.26.15' } });
  assert.deepEqual(
    later.hops.map((h) => h.to),
    ['v1.29.15'],
  );
});

test('an interrupted hop is finished first: the primary already moved', () => {
  const p = plan({
    version: 'v1.32.9',
    recorded: 'v1.33.5',
    controlPlaneVersions: { 'cp-2': 'v1.33.5' },
    to: 'v1.34.3',
  });
  assert.equal(p.primary, 'cp-2');
  assert.equal(p.from, 'v1.33.5');
  const first = p.hops[0];
  assert.equal(first?.to, 'v1.33.5');
  assert.deepEqual(
    first?.steps.filter((s) => s.kind !== 'etcd-backup').map((s) => [s.id, s.done]),
    [
      ['v1.33.5/control-plane/cp-2', true],
      ['v1.33.5/control-plane/cp-1', false],
      ['v1.33.5/control-plane/cp-3', false],
    ],
  );
  assert.equal(p.legal, true, p.problems.join('\n'));
});

test('a patch upgrade is one hop that moves every kubelet', () => {
  const p = plan({ version: 'v1.34.1', to: 'v1.34.3', controlPlanes: 1, workers: 2 });
  assert.deepEqual(
    p.hops.map((h) => [h.from, h.to, h.mustMove]),
    [['v1.34.1', 'v1.34.3', ['cp-1', 'worker-1', 'worker-2']]],
  );
});

test('a cluster already at the target has nothing left to do', () => {
  const p = plan({ version: 'v1.34.3', to: 'v1.34.3' });
  assert.ok(p.hops.every((h) => h.steps.every((s) => s.done || s.kind === 'etcd-backup')));
  assert.match(p.notes.join('\n'), /nothing to do/);
});

test('a kubelet made newer than the control plane: reported by every step until the control plane catches up', () => {
  const p = plan({ version: 'v1.32.9', to: 'v1.33.5', kubelets: { 'worker-2': 'v1.33.5' } });
  assert.equal(p.legal, true);
  const steps = p.hops[0]?.steps ?? [];
  assert.deepEqual(
    steps.map((s) => s.skew.remaining.map((x) => `${x.rule}@${x.node}`)),
    [
      ['kubelet-newer@worker-2'],
      ['kubelet-newer@worker-2'],
      ['kubelet-newer@worker-2'],
      [],
      [],
      [],
      [],
      [],
      [],
      [],
    ],
  );
  assert.ok(!p.hops[0]?.mustMove.includes('worker-2'));
});

test('a kubelet newer than the target makes the plan say why it cannot be legal', () => {
  const p = plan({ version: 'v1.32.9', to: 'v1.33.5', kubelets: { 'worker-2': 'v1.34.3' } });
  assert.equal(p.legal, false);
  assert.deepEqual(p.problems, [
    'node worker-2: its kubelet v1.34.3 is newer than v1.33.5; bosun never downgrades a kubelet',
  ]);
});

test('recipes: apt for Debian and Ubuntu, dnf for Rocky; an unknown OS is a problem', () => {
  const rocky = plan({ to: 'v1.33.5', osImage: 'Rocky Linux 9.4 (Blue Onyx)', controlPlanes: 1, workers: 0 });
  const cmds = rocky.hops[0]?.steps[1]?.actions.flatMap((a) => (a.do === 'run' ? a.commands : []));
  assert.ok(cmds?.includes('dnf install -y kubeadm-1.33.5-150500.1.1 --disableexcludes=kubernetes'));
  const odd = plan({ to: 'v1.33.5', nodes: { 'worker-1': { osImage: 'Talos (v1.9.0)' } } });
  assert.equal(odd.legal, false);
  assert.match(
    odd.problems[0] ?? '',
    /node worker-1: cannot tell its package manager from its OS image "Talos \(v1\.9\.0\)": pass --recipe FILE/,
  );
});

test('--recipe replaces the defaults for every node', () => {
  const recipe = parseRecipe(
    'primary: ["echo apply {version} on {node}"]\ncontrolPlane: ["echo node"]\nworker: ["echo worker {debVersion}"]\nkubelet: ["echo kubelet {rpmVersion} {minor}"]\n',
    'r.yaml',
  );
  const p = planUpgrade({
    versions: versionsOf({ controlPlanes: 1, workers: 1 }),
    target: v('v1.33.5'),
    latest: LATEST,
    maxUnavailable: '1',
    recipe,
  });
  const runs = p.hops[0]?.steps.flatMap((s) =>
    s.actions.flatMap((a) => (a.do === 'run' ? [`${a.recipe}: ${a.commands.join('; ')}`] : [])),
  );
  assert.deepEqual(runs, [
    'file: echo apply v1.33.5 on cp-1',
    'file: echo kubelet 1.33.5-150500.1.1 v1.33',
    'file: echo worker 1.33.5-1.1',
    'file: echo kubelet 1.33.5-150500.1.1 v1.33',
  ]);
});

for (const tc of [
  { text: '1', workers: 20, want: 1 },
  { text: '3', workers: 20, want: 3 },
  { text: '25%', workers: 20, want: 5 },
  { text: '10%', workers: 4, want: 1 },
  { text: '100%', workers: 4, want: 4 },
]) {
  test(`--max-unavailable ${tc.text} of ${tc.workers} workers: batches of ${tc.want}`, () =>
    assert.equal(batchSizeOf(tc.text, tc.workers), tc.want));
}

for (const bad of ['0', '-1', '0%', '101%', 'two', '1.5']) {
  test(`--max-unavailable ${bad} is a usage error`, () =>
    assert.throws(
      () => parseMaxUnavailable(bad),
      (e) => isBosunError(e) && e.exitCode === 2 && /^invalid --max-unavailable/.test(e.message),
    ));
}

for (const tc of [
  { to: 'latest', err: '--to "latest" is not a Kubernetes version' },
  { to: 'v1.34', err: '--to "v1.34" is not a Kubernetes version' },
  { to: 'v1.31.0', err: '--to v1.31.0 is older than the cluster (v1.32.9)' },
  {
    to: 'v1.99.0',
    err: '--to v1.99.0 is not released: the repository has no v1.99 release (the newest is v1.35.2)',
  },
  {
    to: 'v1.34.9',
    err: '--to v1.34.9 is not released: the newest v1.34 release in the repository is v1.34.3',
  },
]) {
  test(`validateTarget ${tc.to}: one line, exit 2`, () =>
    assert.throws(
      () =>
        validateTarget(
          tc.to,
          v('v1.32.9'),
          LATEST.get(`v1.${tc.to.split('.')[1] ?? ''}`),
          'v1.35.2',
          'the repository',
        ),
      (e) => isBosunError(e) && e.exitCode === 2 && e.message === tc.err,
    ));
}

test('validateTarget accepts a released version at or above the cluster', () => {
  assert.equal(validateTarget('v1.34.3', v('v1.32.9'), 'v1.34.3', 'v1.35.2', 'x').text, 'v1.34.3');
  assert.equal(validateTarget('1.32.9', v('v1.32.9'), 'v1.32.9', 'v1.35.2', 'x').text, 'v1.32.9');
});

test('hopTargets: a minor without a release on the way is a usage error', () => {
  const gap = new Map(LATEST);
  gap.set('v1.33', undefined);
  assert.throws(
    () => hopTargets(v('v1.32.9'), v('v1.34.3'), gap),
    (e) =>
      isBosunError(e) &&
      e.message === 'cannot upgrade from v1.32.9 to v1.34.3: no v1.33 release to pass through',
  );
});

test('availableUpgrades: the newest patch of this minor and the next minor, as kubeadm upgrade plan', () => {
  assert.deepEqual(availableUpgrades(v('v1.32.5'), LATEST), [
    { kind: 'patch', version: 'v1.32.9', command: 'bosun upgrade plan --to v1.32.9' },
    { kind: 'minor', version: 'v1.33.5', command: 'bosun upgrade plan --to v1.33.5' },
  ]);
  assert.deepEqual(availableUpgrades(v('v1.35.2'), LATEST), []);
});
