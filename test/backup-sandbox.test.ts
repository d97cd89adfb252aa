// The restore drill (issue 4) on the sandbox: back its etcd up with `bosun backup` and the
// sandbox's own kubeadm PKI, delete a namespace, cordon a node and create something new, then
// `bosun sandbox restore`: the namespace and its workload are back, the node is uncordoned again,
// what was created after the backup is gone, and the cluster converges and keeps working (its
// controllers and kubelets relisted, so they act on the restored state). Checked with the real
// kubectl. One in-process sandbox (restored through the CLI and the control endpoint, then
// stopped, restored on disk and started again), and one HA sandbox run as a daemon by
// `bosun sandbox up`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../src/cli/program.ts';
import { systemClock } from '../src/common/real.ts';
import { Sandbox, TIMINGS } from '../src/sandbox/index.ts';
import { bosun as bosunProcess, processesMentioning } from './support/cli.ts';
import { captureCtx } from './support/etcd-backup.ts';
import {
  eventually,
  KUBECTL,
  run,
  scratchDir,
  startTestSandbox,
  type RunResult,
  type TestSandbox,
} from './support/sandbox.ts';

interface NodeJson {
  spec?: { unschedulable?: boolean };
  status?: { conditions?: { type: string; status: string }[] };
}
interface DeploymentJson {
  status?: { readyReplicas?: number };
}

/** Runs the real bosun CLI (in this process, as `bosun ARGS`). */
async function bosun(cwd: string, args: string[]): Promise<{ code: number; out: string; err: string }> {
  const c = captureCtx({ cwd });
  const code = await runCli(args, c.ctx);
  return { code, out: c.out.join('\n'), err: c.err.join('\n') };
}

function errorLines(text: string): string[] {
  return text.split('\n').filter((l) => l.startsWith('error: '));
}

function namespace(name: string): unknown {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name } };
}

function ready(n: NodeJson): boolean {
  return n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
}

describe('restore drill on an in-process sandbox', () => {
  let s: TestSandbox;
  let backupDir: string;
  let backup: string;

  before(async () => {
    s = await startTestSandbox({ controlPlanes: 1, workers: 2 });
    backupDir = join(s.dir, 'backups');
  });
  after(async () => {
    await s?.stop();
  });

  const kubectl = async (args: string[], input?: string): Promise<RunResult> => {
    const r = await s.kubectl(args, input === undefined ? {} : { input });
    assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.stderr}`);
    return r;
  };
  // kubectl's --wait needs watch-list bookmarks, which the sandbox does not send: poll instead.
  const deleteNamespace = async (name: string): Promise<void> => {
    await kubectl(['delete', 'namespace', name, '--wait=false']);
    await eventually(
      `namespace ${name} to be gone`,
      async () => (await s.kubectl(['get', 'namespace', name])).code === 1,
      60_000,
    );
  };
  // The sandbox speaks JSON, not protobuf: objects go in as JSON through `kubectl create -f -`.
  const create = (obj: unknown): Promise<RunResult> =>
    kubectl(['create', '--validate=false', '-f', '-'], JSON.stringify(obj));

  test('bosun backup takes a verified snapshot of the sandbox with its kubeadm PKI', async () => {
    await create(namespace('shop'));
    await create({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'web', namespace: 'shop' },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'web', image: 'nginx:1.27' }] },
        },
      },
    });
    await create({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'settings', namespace: 'shop' },
      data: { mode: 'blue' },
    });
    await eventually(
      'shop/web to be ready',
      async () =>
        ((await s.kubectlJson<DeploymentJson>(['-n', 'shop', 'get', 'deployment', 'web'])).status
          ?.readyReplicas ?? 0) === 2,
    );
    const cp = s.sb.nodes.find((n) => n.name === 'cp-1');
    // As a user runs it (a process of its own), so that its stderr shows any warning Node prints.
    const r = await bosunProcess([
      'backup',
      '--endpoints',
      `https://127.0.0.1:${cp?.etcdClientPort ?? 0}`,
      '--pki-dir',
      join(s.dir, 'nodes/cp-1/host/etc/kubernetes/pki'),
      '--dir',
      backupDir,
      '-o',
      'name',
    ]);
    assert.equal(r.code, 0, r.stderr);
    backup = r.stdout.trim();
    assert.ok(existsSync(backup), backup);
    // Over TLS to an IP endpoint, without Node's warning about an IP as TLS server name (DEP0123).
    assert.doesNotMatch(r.stderr, /DEP0123|DeprecationWarning/);
  });

  test('a snapshot that is not valid is refused before anything stops: one line, exit 1, cluster untouched', async () => {
    const bad = join(s.dir, 'not-a-snapshot.db');
    writeFileSync(bad, Buffer.alloc(64 * 1024, 7));
    await create(namespace('still-here'));
    const r = await bosun(s.dir, ['sandbox', 'restore', '--dir', s.dir, bad]);
    assert.equal(r.code, 1);
    assert.equal(errorLines(r.err).length, 1, r.err);
    assert.match(errorLines(r.err)[0] ?? '', /^error: snapshot .*not-a-snapshot\.db is invalid: /);
    assert.match(r.err, /Nothing was changed/);
    await kubectl(['get', 'namespace', 'still-here']);
    await kubectl(['delete', 'namespace', 'still-here', '--wait=false']);
  });

  test('delete a namespace, cordon a node, restore: both are as they were, and what came later is gone', async () => {
    await kubectl(['cordon', 'worker-1']);
    await deleteNamespace('shop');
    await create(namespace('after-backup'));

    const r = await bosun(s.dir, ['sandbox', 'restore', '--dir', s.dir, backup]);
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.out,
      new RegExp(`^sandbox ${s.dir} restored to revision \\d+ \\(\\d+ keys, members cp-1\\)$`),
    );
    assert.match(r.err, /Stopping kube-apiserver and etcd on cp-1/);
    assert.ok(
      existsSync(join(s.dir, 'nodes/cp-1/host/var/lib/etcd.before-restore/member')),
      'the old data dir is kept aside',
    );
    assert.ok(existsSync(join(s.dir, 'nodes/cp-1/host/etc/kubernetes/manifests/etcd.yaml')));
    assert.ok(existsSync(join(s.dir, 'nodes/cp-1/host/etc/kubernetes/manifests/kube-apiserver.yaml')));

    // The namespace and its objects are back; what was created after the backup is gone.
    const ns = await s.kubectlJson<{ status?: { phase?: string } }>(['get', 'namespace', 'shop']);
    assert.equal(ns.status?.phase, 'Active');
    const cm = await s.kubectlJson<{ data?: Record<string, string> }>([
      '-n',
      'shop',
      'get',
      'configmap',
      'settings',
    ]);
    assert.deepEqual(cm.data, { mode: 'blue' });
    const later = await s.kubectl(['get', 'namespace', 'after-backup']);
    assert.equal(later.code, 1);
    assert.match(later.stderr, /namespaces "after-backup" not found/);
    // The node is as it was then: schedulable, and Ready again (its kubelet re-registered).
    const w1 = await s.kubectlJson<NodeJson>(['get', 'node', 'worker-1']);
    assert.notEqual(w1.spec?.unschedulable, true);
    const nodes = await s.kubectlJson<{ items: NodeJson[] }>(['get', 'nodes']);
    assert.equal(nodes.items.length, 3);
    assert.ok(nodes.items.every(ready), 'every node Ready');
    // The workload runs again: the kubelets restarted the restored pods.
    const pods = await s.kubectlJson<{ items: { status?: { phase?: string } }[] }>([
      '-n',
      'shop',
      'get',
      'pods',
    ]);
    assert.equal(pods.items.length, 2);
    assert.ok(pods.items.every((p) => p.status?.phase === 'Running'));
  });

  test('after the restore the controllers and kubelets act on the restored state', async () => {
    // A scale-up needs the informers of the ReplicaSet controller, the scheduler and a kubelet.
    await kubectl([
      '-n',
      'shop',
      'patch',
      'deployment',
      'web',
      '--type=merge',
      '-p',
      '{"spec":{"replicas":3}}',
    ]);
    await eventually(
      'shop/web to have 3 ready replicas',
      async () =>
        ((await s.kubectlJson<DeploymentJson>(['-n', 'shop', 'get', 'deployment', 'web'])).status
          ?.readyReplicas ?? 0) === 3,
      30_000,
    );
    // Deleting the restored namespace again empties and removes it (namespace controller, GC).
    await deleteNamespace('shop');
    // Node writes work: a cordon after the restore sticks.
    await kubectl(['cordon', 'worker-2']);
    assert.equal((await s.kubectlJson<NodeJson>(['get', 'node', 'worker-2'])).spec?.unschedulable, true);
  });

  test('a stopped sandbox only gets new etcd data dirs, and starts again from them', async () => {
    await s.sb.stop();
    const r = await bosun(s.dir, ['sandbox', 'restore', '--dir', s.dir, backup]);
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.out,
      /^sandbox \S+ \(stopped\) restored to revision \d+ .*start it with: bosun sandbox up --dir \S+$/,
    );
    assert.doesNotMatch(r.err, /Stopping kube-apiserver/);
    // The same cluster, started again from the restored data: shop (deleted above) is back.
    const again = await Sandbox.start({
      dir: s.dir,
      controlPlanes: 1,
      workers: 2,
      version: 'v1.34.3',
      workload: 'none',
      timing: TIMINGS.fast,
      keyAlgorithm: 'ecdsa-p256',
      nodeBinary: process.execPath,
      clock: systemClock,
      log: () => undefined,
    });
    try {
      const ns = await s.kubectlJson<{ status?: { phase?: string } }>(['get', 'namespace', 'shop']);
      assert.equal(ns.status?.phase, 'Active');
      assert.notEqual((await s.kubectlJson<NodeJson>(['get', 'node', 'worker-2'])).spec?.unschedulable, true);
    } finally {
      await again.stop();
    }
  });
});

describe('restore drill on an HA sandbox run by `bosun sandbox up`', () => {
  test('three members restored from one snapshot with a new cluster token; the cluster converges', async (t) => {
    const dir = scratchDir('bosun-restore-ha-');
    t.after(async () => {
      await bosunProcess(['sandbox', 'down', '--dir', dir]);
      for (const p of processesMentioning(dir)) process.kill(p.pid, 'SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    });
    const up = await bosunProcess([
      'sandbox',
      'up',
      '--dir',
      dir,
      '--control-planes',
      '3',
      '--workers',
      '1',
      '--workload',
      'none',
    ]);
    assert.equal(up.code, 0, up.stderr);
    const home = join(dir, 'kubectl-home');
    const kubectl = (args: string[]): Promise<RunResult> =>
      run(KUBECTL, ['--kubeconfig', join(dir, 'admin.conf'), '--cache-dir', join(home, 'cache'), ...args], {
        env: { ...process.env, HOME: home, KUBECONFIG: '' },
      });
    assert.equal(
      (
        await run(
          KUBECTL,
          [
            '--kubeconfig',
            join(dir, 'admin.conf'),
            '--cache-dir',
            join(home, 'cache'),
            'create',
            '--validate=false',
            '-f',
            '-',
          ],
          { env: { ...process.env, HOME: home, KUBECONFIG: '' }, input: JSON.stringify(namespace('keep')) },
        )
      ).code,
      0,
    );
    const cfg = JSON.parse((await import('node:fs')).readFileSync(join(dir, 'config.json'), 'utf8')) as {
      nodes: { name: string; etcdClientPort?: number }[];
    };
    const endpoints = cfg.nodes
      .filter((n) => n.etcdClientPort)
      .map((n) => `https://127.0.0.1:${n.etcdClientPort ?? 0}`);
    /** The cluster ID each member reports (etcdctl endpoint status). */
    const memberStatus = async (): Promise<string[]> => {
      const pki = join(dir, 'nodes/cp-1/host/etc/kubernetes/pki/etcd');
      const tls = [
        '--cacert',
        join(pki, 'ca.crt'),
        '--cert',
        join(pki, 'healthcheck-client.crt'),
        '--key',
        join(pki, 'healthcheck-client.key'),
      ];
      const r = await run(
        'etcdctl',
        ['--endpoints', endpoints.join(','), ...tls, 'endpoint', 'status', '-w', 'json'],
        { env: { ...process.env, ETCDCTL_API: '3' } },
      );
      assert.equal(r.code, 0, r.stderr);
      // cluster_id is a uint64: compare its digits, not a rounded number.
      return [...r.stdout.matchAll(/"cluster_id":(\d+)/g)].map((m) => m[1] ?? '');
    };
    const b = await bosun(dir, [
      'backup',
      '--endpoints',
      endpoints.join(','),
      '--pki-dir',
      join(dir, 'nodes/cp-2/host/etc/kubernetes/pki'),
      '--dir',
      join(dir, 'backups'),
      '-o',
      'name',
    ]);
    assert.equal(b.code, 0, b.err);
    assert.equal((await kubectl(['delete', 'namespace', 'keep', '--wait=false'])).code, 0);
    await eventually(
      'namespace keep to be gone',
      async () => (await kubectl(['get', 'namespace', 'keep'])).code === 1,
      60_000,
    );
    assert.equal((await kubectl(['cordon', 'cp-3'])).code, 0);

    const before = await memberStatus();
    const r = await bosun(dir, ['sandbox', 'restore', '--dir', dir, b.out.trim(), '-o', 'json']);
    assert.equal(r.code, 0, r.err);
    const res = JSON.parse(r.out) as {
      live: boolean;
      members: string[];
      initialCluster: string;
      initialClusterToken: string;
    };
    assert.equal(res.live, true);
    assert.deepEqual(res.members, ['cp-1', 'cp-2', 'cp-3']);
    assert.equal(res.initialCluster.split(',').length, 3);
    assert.match(res.initialClusterToken, /^bosun-restore-[0-9a-f]{12}$/);

    assert.equal((await kubectl(['get', 'namespace', 'keep'])).code, 0);
    const cp3 = JSON.parse((await kubectl(['get', 'node', 'cp-3', '-o', 'json'])).stdout) as NodeJson;
    assert.notEqual(cp3.spec?.unschedulable, true);
    // Every member is up and belongs to one cluster, a new one (new token, new cluster ID).
    const afterIds = await memberStatus();
    assert.equal(afterIds.length, 3);
    assert.equal(new Set(afterIds).size, 1);
    assert.notEqual(afterIds[0], before[0]);
    const status = await bosun(dir, ['sandbox', 'status', '--dir', dir, '-o', 'json']);
    const st = JSON.parse(status.out) as {
      notReady: string[];
      nodes: { name: string; ready: boolean; etcdRunning?: boolean }[];
    };
    assert.deepEqual(st.notReady, []);
    assert.ok(
      st.nodes.every((n) => n.ready && n.etcdRunning !== false),
      status.out,
    );
    for (const n of ['cp-1', 'cp-2', 'cp-3'])
      assert.ok(readdirSync(join(dir, 'nodes', n, 'host/var/lib')).includes('etcd.before-restore'));
  });
});
