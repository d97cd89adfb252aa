// The node shims against what the real commands do on a kubeadm node, command by command: the
// per-minor pkgs.k8s.io repositories (apt and dnf), held packages, kubeadm's version policy, its
// etcd step and its addon phase. A fake NodeOps stands in for the cluster; the host is a temp dir.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { HostLayout } from '../layout.ts';
import {
  goDuration,
  runNodeCommand,
  type ClusterNode,
  type ControlPlanePod,
  type NodeOps,
} from './commands.ts';
import { initHost, readPackages, writeAtomic } from './host.ts';
import { controlPlaneManifests, imageTag } from './manifests.ts';
import { defaultReleases } from './repo.ts';
import type { Pod } from '../apiserver/types.ts';

interface Fake {
  ops: NodeOps;
  host: HostLayout;
  state: {
    clusterVersion: string;
    addons: string | undefined;
    nodes: ClusterNode[];
    pods: ControlPlanePod[];
    /** The component whose new manifest the kubelet never runs. */
    stuck?: string;
    waits: { component: string; timeoutMs: number }[];
  };
  run(command: string, ...args: string[]): Promise<{ code: number; out: string; err: string }>;
}

function fakeNode(
  t: TestContext,
  o: { name?: string; role?: 'control-plane' | 'worker'; release?: string; controlPlanes?: number } = {},
): Fake {
  const name = o.name ?? 'cp-1';
  const role = o.role ?? 'control-plane';
  const release = o.release ?? '1.32.9';
  const root = mkdtempSync(join(tmpdir(), 'bosun-shim-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const host = new HostLayout(root);
  initHost(host, release);
  const cps = Array.from({ length: o.controlPlanes ?? 1 }, (_, i) => `cp-${i + 1}`);
  if (role === 'control-plane') {
    const files = controlPlaneManifests({
      nodeName: name,
      address: '127.0.0.1',
      version: `v${release}`,
      ports: { apiserver: 6443, etcdClient: 2379, etcdPeer: 2380 },
      initialCluster: cps.map((c, i) => `${c}=https://127.0.0.1:${2380 + i}`).join(','),
      initialClusterState: 'new',
    });
    for (const [file, text] of Object.entries(files)) writeAtomic(join(host.manifests, file), text, 0o600);
  }
  const image = (component: string, tag: string): string => `registry.k8s.io/${component}:${tag}`;
  const state: Fake['state'] = {
    clusterVersion: `v${release}`,
    addons: undefined,
    waits: [],
    nodes: [
      ...cps.map((c) => ({ name: c, controlPlane: true, ready: true, kubeletVersion: `v${release}` })),
      { name: 'worker-1', controlPlane: false, ready: true, kubeletVersion: `v${release}` },
    ],
    pods: cps.flatMap((c) =>
      ['kube-apiserver', 'kube-controller-manager', 'kube-scheduler', 'etcd'].map((component) => ({
        node: c,
        component,
        image: image(component, component === 'etcd' ? '3.5.16-0' : `v${release}`),
        ready: true,
      })),
    ),
  };
  const ops: NodeOps = {
    nodeName: name,
    role,
    host,
    releases: () => defaultReleases(),
    reboot: () => undefined,
    restartKubelet: () => Promise.resolve(),
    stopKubelet: () => Promise.resolve(),
    startKubelet: () => Promise.resolve(),
    kubeletActive: () => true,
    clusterVersion: () => Promise.resolve(state.clusterVersion),
    recordClusterVersion: (v) => {
      state.clusterVersion = v;
      return Promise.resolve();
    },
    upgradeAddons: (v) => {
      state.addons = v;
      return Promise.resolve();
    },
    // The kubelet runs the new manifest at once: its mirror pod shows the manifest's image.
    upgradeManifestsTimeoutMs: 9_000,
    waitStaticPod: (component, timeoutMs) => {
      state.waits.push({ component, timeoutMs });
      // A stuck kubelet: the mirror pod keeps its old hash until kubeadm gives up.
      if (state.stuck === component) return Promise.resolve({ stage: 'hash' as const });
      const pod = parse(readFileSync(join(host.manifests, `${component}.yaml`), 'utf8')) as Pod;
      const mirror = state.pods.find((p) => p.node === name && p.component === component);
      if (mirror) mirror.image = pod.spec.containers[0]?.image ?? '';
      return Promise.resolve({ stage: 'done' as const, pods: 1 });
    },
    nodes: () => Promise.resolve(state.nodes),
    controlPlanePods: () => Promise.resolve(state.pods),
  };
  return {
    ops,
    host,
    state,
    async run(command, ...args) {
      let out = '';
      let err = '';
      const code = await runNodeCommand(ops, command, args, {
        out: (s) => void (out += s),
        err: (s) => void (err += s),
      });
      return { code, out, err };
    },
  };
}

const SOURCES = '/etc/apt/sources.list.d/kubernetes.list';
const SWITCH_TO_133 = 's#/core:/stable:/v[0-9][0-9.]*/deb/#/core:/stable:/v1.33/deb/#';

test('apt: a node sees only its repository minor until the source line changes and apt-get update runs', async (t) => {
  const n = fakeNode(t, { role: 'worker', name: 'worker-1' });
  assert.equal((await n.run('apt-mark', 'unhold', 'kubeadm')).code, 0);
  const before = await n.run('apt-get', 'install', '-y', 'kubeadm=1.33.5-1.1');
  assert.equal(before.code, 100);
  assert.equal(before.err, "E: Version '1.33.5-1.1' for 'kubeadm' was not found\n");

  assert.equal((await n.run('sed', '-i', SWITCH_TO_133, SOURCES)).code, 0);
  assert.match(readFileSync(n.host.path(SOURCES), 'utf8'), /core:\/stable:\/v1\.33\/deb\//);
  // The source changed, but apt has no index for it yet: nothing from either repository.
  const stale = await n.run('apt-get', 'install', '-y', 'kubeadm=1.33.5-1.1');
  assert.equal(stale.code, 100);
  assert.equal(stale.err, "E: Version '1.33.5-1.1' for 'kubeadm' was not found\n");

  const update = await n.run('apt-get', 'update');
  assert.equal(update.code, 0);
  assert.match(update.out, /Get:1 https:\/\/pkgs\.k8s\.io\/core:\/stable:\/v1\.33\/deb {2}InRelease/);
  assert.equal((await n.run('apt-get', 'install', '-y', 'kubeadm=1.33.5-1.1')).code, 0);
  assert.equal(readPackages(n.host)['kubeadm']?.version, '1.33.5');
  // The 1.32 index was dropped with its source line: 1.32 packages are gone from apt's view.
  assert.equal((await n.run('apt-get', 'install', '-y', 'kubeadm=1.32.9-1.1')).code, 100);
  assert.deepEqual(readdirSync(n.host.path('/var/lib/apt/lists')), [
    'pkgs.k8s.io_core:_stable:_v1.33_deb_Packages',
  ]);
});

test('apt: a source naming a minor pkgs.k8s.io does not have fails apt-get update with 403', async (t) => {
  const n = fakeNode(t, { role: 'worker', name: 'worker-1' });
  await n.run('sed', '-i', 's#/v1\\.32/#/v1.99/#', SOURCES);
  const r = await n.run('apt-get', 'update');
  assert.equal(r.code, 100);
  assert.match(
    r.err,
    /^E: Failed to fetch https:\/\/pkgs\.k8s\.io\/core:\/stable:\/v1\.99\/deb\/InRelease {2}403 {2}Forbidden/,
  );
});

test('apt: held packages need apt-mark unhold (or --allow-change-held-packages)', async (t) => {
  const n = fakeNode(t, { role: 'worker', name: 'worker-1' });
  const held = await n.run('apt-get', 'install', '-y', 'kubelet=1.32.5-1.1');
  assert.equal(held.code, 100);
  assert.equal(
    held.err,
    'E: Held packages were changed and -y was used without --allow-change-held-packages.\n',
  );
  assert.equal(
    (await n.run('apt-get', 'install', '-y', '--allow-change-held-packages', 'kubelet=1.32.5-1.1')).code,
    0,
  );
  assert.equal((await n.run('apt-mark', 'unhold', 'kubectl')).out, 'kubectl canceled hold.\n');
  assert.equal((await n.run('apt-get', 'install', '-y', 'kubectl=1.32.5-1.1')).code, 0);
  assert.equal((await n.run('apt-mark', 'hold', 'kubectl')).out, 'kubectl set on hold.\n');
  assert.deepEqual((await n.run('apt-mark', 'showhold')).out.trim().split('\n').sort(), [
    'kubeadm',
    'kubectl',
    'kubelet',
  ]);
});

test('dnf: the repo file names the minor; --disableexcludes=kubernetes lets the packages through', async (t) => {
  const n = fakeNode(t, { role: 'worker', name: 'worker-1' });
  const repo = '/etc/yum.repos.d/kubernetes.repo';
  mkdirSync(n.host.path('/etc/yum.repos.d'), { recursive: true });
  writeFileSync(
    n.host.path(repo),
    '[kubernetes]\nname=Kubernetes\nbaseurl=https://pkgs.k8s.io/core:/stable:/v1.32/rpm/\nenabled=1\ngpgcheck=1\ngpgkey=https://pkgs.k8s.io/core:/stable:/v1.32/rpm/repodata/repomd.xml.key\nexclude=kubelet kubeadm kubectl cri-tools kubernetes-cni\n',
  );
  assert.equal((await n.run('dnf', 'install', '-y', 'kubeadm-1.33.5-150500.1.1')).code, 1);
  const excluded = await n.run('dnf', 'install', '-y', 'kubeadm-1.32.5-150500.1.1');
  assert.equal(excluded.code, 1);
  assert.equal(excluded.err, 'Error: Unable to find a match: kubeadm-1.32.5-150500.1.1\n');
  const wrongMinor = await n.run(
    'dnf',
    'install',
    '-y',
    'kubeadm-1.33.5-150500.1.1',
    '--disableexcludes=kubernetes',
  );
  assert.equal(wrongMinor.code, 1);
  assert.equal(wrongMinor.err, 'Error: Unable to find a match: kubeadm-1.33.5-150500.1.1\n');
  await n.run('sed', '-i', 's#/core:/stable:/v[0-9][0-9.]*/rpm/#/core:/stable:/v1.33/rpm/#g', repo);
  assert.equal(
    (await n.run('dnf', 'install', '-y', 'kubeadm-1.33.5-*', '--disableexcludes=kubernetes')).code,
    0,
  );
  assert.equal(readPackages(n.host)['kubeadm']?.version, '1.33.5');
});

test('sed: the recipe line gives the same file as the real GNU sed', async (t) => {
  // GNU sed is part of every Debian system (an Essential package): the shim is compared with it.
  const real = spawnSync('sed', ['--version'], { encoding: 'utf8' });
  assert.equal(real.status, 0, 'sed --version');
  assert.match(real.stdout, /GNU sed/);
  const n = fakeNode(t, { role: 'worker', name: 'worker-1' });
  const scratch = mkdtempSync(join(tmpdir(), 'bosun-sed-'));
  t.after(() => rmSync(scratch, { recursive: true, force: true }));
  const text =
    readFileSync(n.host.path(SOURCES), 'utf8') +
    '# v1.30/deb/ stays a comment\ndeb https://example.com/v1.2/deb/ /\n';
  writeFileSync(n.host.path(SOURCES), text);
  for (const [i, script] of [
    SWITCH_TO_133,
    's|/v1\\.[0-9]*/|/v1.34/|g',
    's/\\(stable:\\/\\)v[0-9.]*/\\1v1.35/',
    's/[[:digit:]]\\+\\.[[:digit:]]\\+/&-x/g',
    's#Deb#DEB#I',
  ].entries()) {
    const copy = join(scratch, `copy-${i}`);
    writeFileSync(copy, text);
    const r = spawnSync('sed', ['-i', script, copy], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    writeFileSync(n.host.path(SOURCES), text);
    const shim = await n.run('sed', '-i', script, SOURCES);
    assert.equal(shim.code, 0, shim.err);
    assert.equal(readFileSync(n.host.path(SOURCES), 'utf8'), readFileSync(copy, 'utf8'), script);
  }
});

test('sed: refuses what it does not implement, and files outside the node', async (t) => {
  const n = fakeNode(t, { role: 'worker', name: 'worker-1' });
  const del = await n.run('sed', '-i', '/deb/d', SOURCES);
  assert.equal(del.code, 1);
  assert.match(del.err, /runs s\/REGEX\/REPLACEMENT\/FLAGS commands only/);
  assert.equal((await n.run('sed', '-i', 's/a/b/', 'relative.list')).code, 2);
  const missing = await n.run('sed', '-i', 's/a/b/', '/etc/yum.repos.d/kubernetes.repo');
  assert.equal(missing.code, 2);
  assert.equal(missing.err, "sed: can't read /etc/yum.repos.d/kubernetes.repo: No such file or directory\n");
  assert.equal((await n.run('sed', '-i', 's/a/b/', '/../../etc/passwd')).code, 2);
  const print = await n.run('sed', 's/deb /DEB /', SOURCES);
  assert.equal(print.code, 0);
  assert.match(print.out, /^DEB \[signed-by/);
});

/** Installs kubeadm of `release` the way a recipe does. */
async function upgradeKubeadm(n: Fake, release: string): Promise<void> {
  const minor = release.split('.').slice(0, 2).join('.');
  assert.equal((await n.run('sed', '-i', `s#/v[0-9][0-9.]*/deb/#/v${minor}/deb/#`, SOURCES)).code, 0);
  assert.equal((await n.run('apt-get', 'update')).code, 0);
  assert.equal((await n.run('apt-mark', 'unhold', 'kubeadm')).code, 0);
  const r = await n.run('apt-get', 'install', '-y', `kubeadm=${release}-1.1`);
  assert.equal(r.code, 0, r.err);
}

function manifestTag(n: Fake, component: string): string {
  const pod = parse(readFileSync(join(n.host.manifests, `${component}.yaml`), 'utf8')) as Pod;
  return imageTag(pod.spec.containers[0]?.image ?? '');
}

test('kubeadm upgrade apply: the primary moves, the addons wait for the other control planes', async (t) => {
  const n = fakeNode(t, { controlPlanes: 3 });
  await upgradeKubeadm(n, '1.33.5');
  const r = await n.run('kubeadm', 'upgrade', 'apply', 'v1.33.5', '-y');
  assert.equal(r.code, 0, r.err);
  assert.equal(manifestTag(n, 'kube-apiserver'), 'v1.33.5');
  assert.equal(manifestTag(n, 'etcd'), '3.5.21-0');
  assert.equal(n.state.clusterVersion, 'v1.33.5');
  assert.equal(n.state.addons, undefined);
  assert.match(
    r.out,
    /skip upgrade addons because control plane instances \[cp-2 cp-3\] have not been upgraded/,
  );
});

test('kubeadm upgrade node: the last control plane upgrades the addons', async (t) => {
  const n = fakeNode(t, { name: 'cp-3', controlPlanes: 3 });
  n.state.clusterVersion = 'v1.33.5';
  for (const p of n.state.pods)
    if (p.node !== 'cp-3' && p.component === 'kube-apiserver')
      p.image = 'registry.k8s.io/kube-apiserver:v1.33.5';
  await upgradeKubeadm(n, '1.33.5');
  const r = await n.run('kubeadm', 'upgrade', 'node');
  assert.equal(r.code, 0, r.err);
  assert.equal(manifestTag(n, 'kube-scheduler'), 'v1.33.5');
  assert.equal(n.state.addons, 'v1.33.5');
});

test('kubeadm upgrade node before the primary was upgraded changes nothing (the cluster version is still old)', async (t) => {
  const n = fakeNode(t, { name: 'cp-2', controlPlanes: 3 });
  await upgradeKubeadm(n, '1.33.5');
  const r = await n.run('kubeadm', 'upgrade', 'node');
  assert.equal(r.code, 0, r.err);
  assert.match(r.out, /Upgrading your Static Pod-hosted control plane instance to version "v1\.32\.9"/);
  assert.match(r.out, /Current and new manifests of kube-apiserver are equal, skipping upgrade/);
  assert.equal(manifestTag(n, 'kube-apiserver'), 'v1.32.9');
});

test('kubeadm upgrade node on a worker only rewrites the kubelet configuration', async (t) => {
  const n = fakeNode(t, { name: 'worker-1', role: 'worker' });
  const r = await n.run('kubeadm', 'upgrade', 'node');
  assert.equal(r.code, 0);
  assert.match(r.out, /Skipping phase\. Not a control plane node\./);
});

for (const tc of [
  {
    name: 'a skipped minor',
    kubeadm: '1.34.3',
    target: 'v1.34.3',
    err: /is too high; kubeadm can upgrade only 1 minor version at a time/,
  },
  {
    name: 'a target newer than kubeadm',
    kubeadm: '1.32.9',
    target: 'v1.33.5',
    err: /at least one minor release higher than the kubeadm minor release \(33 > 32\)/,
  },
  {
    name: 'a patch newer than kubeadm (skippable)',
    kubeadm: '1.33.1',
    target: 'v1.33.5',
    err: /higher than the kubeadm version "v1\.33\.1"[^]*Can be bypassed if you pass the --force flag/,
  },
  {
    name: 'a downgrade',
    kubeadm: '1.32.9',
    target: 'v1.31.13',
    err: /lower than the cluster version "v1\.32\.9"\. Downgrades are not supported yet/,
  },
]) {
  test(`kubeadm upgrade apply refuses ${tc.name}`, async (t) => {
    const n = fakeNode(t);
    await upgradeKubeadm(n, tc.kubeadm);
    const r = await n.run('kubeadm', 'upgrade', 'apply', tc.target, '-y');
    assert.equal(r.code, 1);
    assert.match(r.err, tc.err);
    assert.equal(manifestTag(n, 'kube-apiserver'), 'v1.32.9');
  });
}

test('kubeadm upgrade apply refuses kubelets more than three minors behind, unless --force', async (t) => {
  const n = fakeNode(t, { release: '1.33.5' });
  n.state.nodes.push({ name: 'old', controlPlane: false, ready: true, kubeletVersion: 'v1.30.14' });
  await upgradeKubeadm(n, '1.34.3');
  const r = await n.run('kubeadm', 'upgrade', 'apply', 'v1.34.3', '-y');
  assert.equal(r.code, 1);
  assert.match(
    r.err,
    /There are kubelets in this cluster that are too old that have these versions \[v1\.30\.14\]/,
  );
  const forced = await n.run('kubeadm', 'upgrade', 'apply', 'v1.34.3', '--force');
  assert.equal(forced.code, 0, forced.err);
});

test('kubeadm upgrade apply refuses while a control plane is NotReady', async (t) => {
  const n = fakeNode(t, { controlPlanes: 2 });
  const cp2 = n.state.nodes.find((x) => x.name === 'cp-2');
  if (cp2) cp2.ready = false;
  await upgradeKubeadm(n, '1.33.5');
  const r = await n.run('kubeadm', 'upgrade', 'apply', 'v1.33.5', '-y');
  assert.equal(r.code, 1);
  assert.match(
    r.err,
    /\[ERROR ControlPlaneNodesReady\]: there are NotReady control-planes in the cluster: \[cp-2\]/,
  );
});

test("kubeadm's etcd step: refuses an unhealthy etcd, and never downgrades etcd", async (t) => {
  const sick = fakeNode(t, { controlPlanes: 3 });
  const member = sick.state.pods.find((p) => p.node === 'cp-3' && p.component === 'etcd');
  if (member) member.ready = false;
  await upgradeKubeadm(sick, '1.33.5');
  const r = await sick.run('kubeadm', 'upgrade', 'apply', 'v1.33.5', '-y');
  assert.equal(r.code, 1);
  assert.match(r.err, /etcd cluster is not healthy: etcd members not ready: \[cp-3\]/);
  assert.match(
    r.err,
    /^error execution phase control-plane: couldn't complete the static pod upgrade: etcd cluster is not healthy: /,
  );
  assert.equal(manifestTag(sick, 'kube-apiserver'), 'v1.32.9');

  const newer = fakeNode(t);
  const path = join(newer.host.manifests, 'etcd.yaml');
  writeFileSync(path, readFileSync(path, 'utf8').replace(/etcd:3\.5\.16-0/, 'etcd:3.6.4-0'));
  await upgradeKubeadm(newer, '1.33.5');
  const ok = await newer.run('kubeadm', 'upgrade', 'apply', 'v1.33.5', '-y');
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.out, /Won't downgrade etcd, instead just continue/);
  assert.equal(manifestTag(newer, 'etcd'), '3.6.4-0');
  assert.equal(manifestTag(newer, 'kube-apiserver'), 'v1.33.5');
});

test('kubeadm upgrade apply whose kube-scheduler never restarts: fails as kubeadm does and rolls the manifests back', async (t) => {
  const n = fakeNode(t);
  n.state.stuck = 'kube-scheduler';
  await upgradeKubeadm(n, '1.33.5');
  const r = await n.run('kubeadm', 'upgrade', 'apply', 'v1.33.5', '-y');
  assert.equal(r.code, 1);
  assert.match(
    r.out,
    /Upgrading your static Pod-hosted control plane to version "v1\.33\.5" \(timeout: 9s\)\.\.\./,
  );
  assert.match(r.out, /\[upgrade\/staticpods\] This can take up to 9s\n/);
  assert.equal(
    r.err,
    "error execution phase control-plane: couldn't complete the static pod upgrade: couldn't upgrade control plane. kubeadm has tried to recover everything into the earlier state. Errors faced: static Pod hash for component kube-scheduler on Node cp-1 did not change after 9s: context deadline exceeded\nTo see the stack trace of this error execute with --v=5 or higher\n",
  );
  assert.deepEqual(
    n.state.waits.map((w) => [w.component, w.timeoutMs]),
    [
      ['etcd', 9_000],
      ['kube-apiserver', 9_000],
      ['kube-controller-manager', 9_000],
      ['kube-scheduler', 9_000],
    ],
  );
  // rollbackOldManifests: every component moved in this run goes back, except etcd.
  assert.equal(manifestTag(n, 'kube-scheduler'), 'v1.32.9');
  assert.equal(manifestTag(n, 'kube-controller-manager'), 'v1.32.9');
  assert.equal(manifestTag(n, 'kube-apiserver'), 'v1.32.9');
  assert.notEqual(manifestTag(n, 'etcd'), '3.5.16-0');
  assert.equal(n.state.clusterVersion, 'v1.32.9', 'kubeadm-config is not touched');
  const tmp = readdirSync(n.host.path('/etc/kubernetes/tmp'));
  assert.equal(tmp.length, 1);
  assert.match(tmp[0] ?? '', /^kubeadm-backup-manifests-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d$/);
  // Only etcd's old manifest is left in the backup directory; the others were moved back.
  assert.deepEqual(readdirSync(n.host.path(`/etc/kubernetes/tmp/${tmp[0] ?? ''}`)), ['etcd.yaml']);

  // The kubelet runs manifests again: the same command now goes through.
  n.state.stuck = undefined;
  const again = await n.run('kubeadm', 'upgrade', 'apply', 'v1.33.5', '-y');
  assert.equal(again.code, 0, again.err);
  assert.match(again.out, /Current and new manifests of etcd are equal, skipping upgrade/);
  assert.equal(manifestTag(n, 'kube-scheduler'), 'v1.33.5');
});

test("a timed-out etcd is rolled back too, with kubeadm's etcd messages", async (t) => {
  const n = fakeNode(t);
  n.state.stuck = 'etcd';
  await upgradeKubeadm(n, '1.33.5');
  const r = await n.run('kubeadm', 'upgrade', 'apply', 'v1.33.5', '-y');
  assert.equal(r.code, 1);
  assert.match(r.out, /\[upgrade\/etcd\] Failed to upgrade etcd: couldn't upgrade control plane/);
  assert.match(
    r.err,
    /^error execution phase control-plane: couldn't complete the static pod upgrade: fatal error when trying to upgrade the etcd cluster, rolled the state back to pre-upgrade state: couldn't upgrade control plane\. kubeadm has tried to recover everything into the earlier state\. Errors faced: static Pod hash for component etcd on Node cp-1 did not change after 9s: context deadline exceeded\n/,
  );
  assert.equal(manifestTag(n, 'etcd'), '3.5.16-0');
  assert.equal(manifestTag(n, 'kube-apiserver'), 'v1.32.9');
});

test('goDuration prints durations as Go does', () => {
  for (const [ms, want] of [
    [300, '300ms'],
    [1_500, '1.5s'],
    [9_000, '9s'],
    [5 * 60_000, '5m0s'],
    [90 * 60_000, '1h30m0s'],
  ] as const)
    assert.equal(goDuration(ms), want);
});

test('kubeadm upgrade node on another control plane times out the same way and rolls back', async (t) => {
  const n = fakeNode(t, { name: 'cp-2', controlPlanes: 3 });
  n.state.clusterVersion = 'v1.33.5';
  n.state.stuck = 'kube-apiserver';
  await upgradeKubeadm(n, '1.33.5');
  const r = await n.run('kubeadm', 'upgrade', 'node');
  assert.equal(r.code, 1);
  assert.match(
    r.err,
    /Errors faced: static Pod hash for component kube-apiserver on Node cp-2 did not change after 9s: context deadline exceeded\n/,
  );
  assert.equal(manifestTag(n, 'kube-apiserver'), 'v1.32.9');
  assert.notEqual(manifestTag(n, 'etcd'), '3.5.16-0', "etcd's new manifest stays");
  assert.equal(n.state.addons, undefined);
});
