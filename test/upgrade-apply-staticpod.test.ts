// bosun upgrade apply when kubeadm times out waiting for a static pod, on a v1.33.5 sandbox
// (1 control plane, 1 worker): cp-1's kubelet does not pick up kube-scheduler's new manifest (the
// sandbox's `ignore-new` static pod fault). The sandbox's kubeadm gives up after its
// timeouts.upgradeManifests (scaled by the fast timing profile) and rolls the manifests back, as
// kubeadm does; apply stops with exit 1 and says which component, its mirror pod before and now
// with the config.hash, and what to do. The fault cleared, apply again resumes and finishes.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import type { RolloutJournal } from '../src/journal/index.ts';
import type { Pod } from '../src/kube/types.ts';
import type { CliRun } from './support/drain.ts';
import { applyOnNodes, kubeletVersions, upgradeJournal } from './support/upgrade.ts';
import { eventually, startTestSandbox, type TestSandbox } from './support/sandbox.ts';

describe('bosun upgrade apply: kubeadm times out waiting for a static pod', () => {
  let t: TestSandbox;
  const apply = (...args: string[]): Promise<CliRun> => applyOnNodes(t, ...args);
  const journal = (): Promise<RolloutJournal> => upgradeJournal(t);
  const manifestImage = (component: string): string => {
    const file = join(t.dir, 'nodes', 'cp-1', 'host', 'etc', 'kubernetes', 'manifests', `${component}.yaml`);
    const pod = parse(readFileSync(file, 'utf8')) as Pod;
    return pod.spec?.containers?.[0]?.image ?? '';
  };
  const mirror = (component: string): Promise<Pod> =>
    t.kubectlJson<Pod>(['get', 'pod', '-n', 'kube-system', `${component}-cp-1`]);
  const kubelets = (): Promise<Record<string, string>> => kubeletVersions(t);

  before(async () => {
    t = await startTestSandbox({ controlPlanes: 1, workers: 1, version: 'v1.33.5', workload: 'none' });
  });
  after(async () => {
    await t?.stop();
  });

  test("a kube-scheduler the kubelet never restarts: kubeadm's timeout is diagnosed, the manifests are rolled back; cleared, the rerun finishes", async () => {
    const before = await mirror('kube-scheduler');
    const hashBefore = before.metadata.annotations?.['kubernetes.io/config.hash'] ?? '';
    assert.notEqual(hashBefore, '');
    t.sb.setStaticPodFault('cp-1', 'kube-scheduler', 'ignore-new');

    const r = await apply('--to', 'v1.34.3');
    assert.equal(r.code, 1, r.err.join('\n'));
    const all = r.err.join('\n');
    assert.equal(
      r.err.find((l) => l.startsWith('error: ')),
      'error: kubeadm upgrade apply v1.34.3 -y on cp-1: kubeadm timed out waiting for the static pod kube-scheduler',
    );
    // kubeadm's own words, from the node's output.
    assert.ok(
      r.err.includes(
        "! error execution phase control-plane: couldn't complete the static pod upgrade: couldn't upgrade control plane. kubeadm has tried to recover everything into the earlier state. Errors faced: static Pod hash for component kube-scheduler on Node cp-1 did not change after 9s: context deadline exceeded",
      ),
      all,
    );
    // The diagnosis: the component, its mirror pod before and now with the config.hash, and why.
    assert.ok(r.err.includes('kubeadm timed out waiting for the static pod kube-scheduler on cp-1'), all);
    const facts = `image registry.k8s.io/kube-scheduler:v1.33.5, Ready, config.hash ${hashBefore}`;
    assert.ok(r.err.includes(`  mirror pod kube-system/kube-scheduler-cp-1 before the step: ${facts}`), all);
    assert.ok(r.err.includes(`  mirror pod kube-system/kube-scheduler-cp-1 now: ${facts}`), all);
    assert.ok(
      r.err.some((l) =>
        /^ {2}the manifest hash did not change: the kubelet on cp-1 has not picked up the new \/etc\/kubernetes\/manifests\/kube-scheduler\.yaml/.test(
          l,
        ),
      ),
      all,
    );
    assert.equal(
      r.err.at(-1),
      'Fix the cause on the node, then run bosun upgrade apply again: it resumes at this step.',
    );

    // What kubeadm leaves: every manifest it moved in is back, except etcd's; kubeadm-config untouched.
    assert.equal(manifestImage('kube-scheduler'), 'registry.k8s.io/kube-scheduler:v1.33.5');
    assert.equal(manifestImage('kube-controller-manager'), 'registry.k8s.io/kube-controller-manager:v1.33.5');
    assert.equal(manifestImage('kube-apiserver'), 'registry.k8s.io/kube-apiserver:v1.33.5');
    const tmp = join(t.dir, 'nodes', 'cp-1', 'host', 'etc', 'kubernetes', 'tmp');
    const backups = readdirSync(tmp).filter((d) => d.startsWith('kubeadm-backup-manifests-'));
    assert.equal(backups.length, 1);
    assert.deepEqual(readdirSync(join(tmp, backups[0] ?? '')), ['etcd.yaml']);
    const cfg = await t.kubectlJson<{ data: Record<string, string> }>([
      'get',
      'configmap',
      '-n',
      'kube-system',
      'kubeadm-config',
    ]);
    assert.match(cfg.data['ClusterConfiguration'] ?? '', /kubernetesVersion: v1\.33\.5/);
    // The kubelet runs the rolled-back kube-apiserver again.
    await eventually('kube-apiserver-cp-1 back at v1.33.5 and Ready', async () => {
      const p = await mirror('kube-apiserver').catch(() => undefined);
      return (
        p?.spec?.containers?.[0]?.image === 'registry.k8s.io/kube-apiserver:v1.33.5' &&
        (p?.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
      );
    });
    const failed = await journal();
    assert.equal(failed.phase, 'failed');
    assert.equal(failed.outcome?.step, 'v1.34.3/control-plane/cp-1');

    // The fault cleared, apply again resumes at the primary's step and finishes.
    t.sb.setStaticPodFault('cp-1', 'kube-scheduler', false);
    const again = await apply('--to', 'v1.34.3');
    assert.equal(again.code, 0, again.err.join('\n'));
    assert.ok(
      again.err.some((l) => /resuming the upgrade v1\.33\.5 -> v1\.34\.3/.test(l)),
      again.err.join('\n'),
    );
    assert.deepEqual(await kubelets(), { 'cp-1': 'v1.34.3', 'worker-1': 'v1.34.3' });
    const now = await mirror('kube-scheduler');
    assert.equal(now.spec?.containers?.[0]?.image, 'registry.k8s.io/kube-scheduler:v1.34.3');
    assert.notEqual(now.metadata.annotations?.['kubernetes.io/config.hash'], hashBefore);
    const done = await journal();
    assert.equal(done.phase, 'succeeded');
    assert.deepEqual(Object.fromEntries(done.hops.flatMap((h) => h.steps).map((s) => [s.id, s.attempts])), {
      'v1.34.3/etcd-backup': 1,
      'v1.34.3/control-plane/cp-1': 2,
      'v1.34.3/kubelet/cp-1': 1,
      'v1.34.3/kubelet/worker-1': 1,
    });
  });

  test('the no-start fault: the old pod stops and the new manifest never runs; the old manifest back, it runs again', async () => {
    const file = join(
      t.dir,
      'nodes',
      'cp-1',
      'host',
      'etc',
      'kubernetes',
      'manifests',
      'kube-scheduler.yaml',
    );
    const original = readFileSync(file, 'utf8');
    const hash = (await mirror('kube-scheduler')).metadata.annotations?.['kubernetes.io/config.hash'];
    // Through the control endpoint this time, as `curl` or another process would set it.
    const state = JSON.parse(readFileSync(join(t.dir, 'state.json'), 'utf8')) as {
      controlPort: number;
      token: string;
    };
    const control = (body: unknown): Promise<Response> =>
      fetch(`http://127.0.0.1:${state.controlPort}/v1/nodes/cp-1/static-pod-fault`, {
        method: 'POST',
        headers: { authorization: `Bearer ${state.token}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    assert.equal((await control({ component: 'kube-scheduler', mode: 'sometimes' })).status, 400);
    assert.equal((await control({ component: 'kube-scheduler', mode: 'no-start' })).status, 200);
    try {
      const changed = parse(original) as Pod;
      changed.spec?.containers?.[0]?.command?.push('--v=4');
      writeFileSync(file, stringify(changed));
      assert.notEqual(readFileSync(file, 'utf8'), original);
      await eventually('the mirror pod kube-scheduler-cp-1 is gone', async () => {
        const r = await t.kubectl(['get', 'pod', '-n', 'kube-system', 'kube-scheduler-cp-1']);
        return r.code !== 0 && /NotFound/.test(r.stderr);
      });
      // Not a restart caught between delete and create: two heartbeats later it is still gone.
      const renewed = async (): Promise<string> =>
        (
          await t.kubectlJson<{ spec?: { renewTime?: string } }>([
            'get',
            'lease',
            '-n',
            'kube-node-lease',
            'cp-1',
          ])
        ).spec?.renewTime ?? '';
      for (let i = 0, last = await renewed(); i < 2; i++) {
        const seen = last;
        last = await eventually('cp-1 renews its lease', async () => {
          const r = await renewed();
          return r !== seen ? r : undefined;
        });
      }
      const still = await t.kubectl(['get', 'pod', '-n', 'kube-system', 'kube-scheduler-cp-1']);
      assert.match(still.stderr, /NotFound/);
      writeFileSync(file, original);
      await eventually('kube-scheduler-cp-1 runs the old manifest again', async () => {
        const p = await mirror('kube-scheduler').catch(() => undefined);
        return (
          p?.metadata.annotations?.['kubernetes.io/config.hash'] === hash &&
          (p?.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
        );
      });
    } finally {
      writeFileSync(file, original);
      assert.equal((await control({ component: 'kube-scheduler', mode: null })).status, 200);
    }
  });
});
