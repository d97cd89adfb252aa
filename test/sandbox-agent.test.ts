// A chart shaped like bosun's (test/fixtures/agent-chart) installed into the sandbox with the real
// helm, as a user installs it into a real cluster; its DaemonSet's pods run as real processes
// (test/fixtures/in-cluster-probe.ts) with their ServiceAccount token, env and host mounts; one of
// them reboots its node through nsenter when the node is flagged, and lives across the reboot as a
// new container; the audit record shows that every request it made was allowed and that the
// chart's ClusterRole grants nothing it did not use; deleting a pod kills its process and revokes
// its token; helm uninstall removes everything.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { rawClient } from './support/https-client.ts';
import { eventually, run, startTestSandbox, type RunResult, type TestSandbox } from './support/sandbox.ts';

const HELM = join(import.meta.dirname, '..', '.cache', 'peers', 'helm');
const CHART = join(import.meta.dirname, 'fixtures', 'agent-chart');
const NS = 'bosun-system';
const USER = `system:serviceaccount:${NS}:probe`;

interface PodJson {
  metadata: { name: string; uid: string };
  spec: { nodeName: string };
  status: {
    phase: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: { restartCount: number; ready: boolean; state: { running?: unknown } }[];
  };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function jwtPayload(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}

describe('a chart installed with the real helm, its pods run as processes', () => {
  let s: TestSandbox;
  let helmHome: string;
  before(async () => {
    s = await startTestSandbox({ controlPlanes: 1, workers: 2 });
    helmHome = join(s.dir, 'helm-home');
  });
  after(() => s?.stop());

  const helm = (args: readonly string[]): Promise<RunResult> =>
    run(HELM, args, {
      env: {
        ...process.env,
        HOME: helmHome,
        KUBECONFIG: s.kubeconfig,
        HELM_CACHE_HOME: join(helmHome, 'cache'),
      },
      timeoutMs: 180_000,
    });

  const podOn = async (node: string): Promise<PodJson> => {
    const l = await s.kubectlJson<{ items: PodJson[] }>([
      'get',
      'pods',
      '-n',
      NS,
      '--field-selector',
      `spec.nodeName=${node}`,
    ]);
    const p = l.items[0];
    if (!p) throw new Error(`no pod on ${node}`);
    return p;
  };
  const ready = (p: PodJson): boolean =>
    p.status.phase === 'Running' &&
    (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
  const logs = async (pod: string, extra: string[] = []): Promise<string> => {
    const r = await s.kubectl(['logs', '-n', NS, pod, ...extra]);
    assert.equal(r.code, 0, r.stderr);
    return r.stdout;
  };
  const pidOf = (log: string): number => Number(/pid=(\d+)/.exec(log)?.[1] ?? '0');
  const tokenDir = (node: string, uid: string): string => {
    const base = join(
      s.dir,
      'nodes',
      node,
      'host',
      'var',
      'lib',
      'kubelet',
      'pods',
      uid,
      'volumes',
      'kubernetes.io~projected',
    );
    const vol = readdirSync(base).find((d) => d.startsWith('kube-api-access-'));
    if (!vol) throw new Error(`no token volume in ${base}`);
    return join(base, vol);
  };

  test('helm install --create-namespace --wait installs it as into a real cluster', async () => {
    const r = await helm([
      'install',
      'probe',
      CHART,
      '-n',
      NS,
      '--create-namespace',
      '--wait',
      '--timeout',
      '120s',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^STATUS: deployed$/m);
    const list = await helm(['list', '-n', NS, '-o', 'json']);
    assert.deepEqual(
      (JSON.parse(list.stdout) as { name: string; status: string }[]).map((x) => [x.name, x.status]),
      [['probe', 'deployed']],
    );
    const secrets = await s.kubectlJson<{
      items: { type: string; metadata: { name: string; labels: Record<string, string> } }[];
    }>(['get', 'secrets', '-n', NS, '-l', 'owner=helm']);
    assert.equal(secrets.items.length, 1);
    assert.equal(secrets.items[0]?.type, 'helm.sh/release.v1');
    assert.equal(secrets.items[0]?.metadata.name, 'sh.helm.release.v1.probe.v1');
    assert.equal(secrets.items[0]?.metadata.labels['status'], 'deployed');
    // --wait waited for the DaemonSet: both pods Ready, which only their readiness probe makes them.
    const ds = await s.kubectlJson<{ status: Record<string, number> }>(['get', 'ds', 'probe', '-n', NS]);
    assert.equal(ds.status['desiredNumberScheduled'], 2);
    assert.equal(ds.status['numberReady'], 2);
    for (const n of ['worker-1', 'worker-2']) assert.ok(ready(await podOn(n)), n);
  });

  test('a pod is a real process with its token, its env and the node as /host', async () => {
    const pod = await podOn('worker-1');
    const log = await logs(pod.metadata.name);
    assert.match(
      log,
      new RegExp(`^pid=\\d+ node=worker-1 pod=${NS}/${pod.metadata.name} ip=10\\.244\\.\\d+\\.\\d+$`, 'm'),
    );
    assert.match(log, new RegExp(`^authenticated as ${USER}$`, 'm'));
    const node = await s.kubectlJson<{ status: { nodeInfo: { bootID: string } } }>([
      'get',
      'node',
      'worker-1',
    ]);
    assert.match(log, new RegExp(`^node worker-1 boot ${node.status.nodeInfo.bootID}$`, 'm'));
    assert.ok(alive(pidOf(log)), 'the process runs');
    const dir = tokenDir('worker-1', pod.metadata.uid);
    assert.equal(readFileSync(join(dir, 'namespace'), 'utf8'), NS);
    assert.equal(
      readFileSync(join(dir, 'ca.crt'), 'utf8'),
      readFileSync(join(s.dir, 'nodes', 'cp-1', 'host', 'etc', 'kubernetes', 'pki', 'ca.crt'), 'utf8'),
    );
    const claims = jwtPayload(readFileSync(join(dir, 'token'), 'utf8'));
    assert.equal(claims['sub'], USER);
    const k8s = claims['kubernetes.io'] as {
      pod: { name: string; uid: string };
      node: { name: string };
      warnafter: number;
    };
    assert.deepEqual(k8s.pod, { name: pod.metadata.name, uid: pod.metadata.uid });
    assert.equal(k8s.node.name, 'worker-1');
    // The kubelet asked for 3607 s; kube-apiserver extends such a token to a year and warns after.
    assert.equal(Number(claims['exp']) - Number(claims['iat']), 365 * 24 * 3600);
    assert.equal(k8s.warnafter - Number(claims['iat']), 3607);
  });

  test('a node flagged for reboot is rebooted by its pod through nsenter; the pod lives on as a new container', async () => {
    const before = await podOn('worker-1');
    const oldPid = pidOf(await logs(before.metadata.name));
    const boot0 = (
      await s.kubectlJson<{ status: { nodeInfo: { bootID: string } } }>(['get', 'node', 'worker-1'])
    ).status.nodeInfo.bootID;
    const sentinel = join(s.dir, 'nodes', 'worker-1', 'host', 'var', 'run', 'reboot-required');
    writeFileSync(sentinel, '*** System restart required ***\n');
    const after1 = await eventually(
      'worker-1 rebooted and its pod Ready again as a new container',
      async () => {
        const n = await s.kubectlJson<{
          status: { nodeInfo: { bootID: string } };
          metadata: { annotations: Record<string, string> };
        }>(['get', 'node', 'worker-1']);
        const p = await podOn('worker-1');
        return n.status.nodeInfo.bootID !== boot0 &&
          ready(p) &&
          p.status.containerStatuses?.[0]?.restartCount === 1
          ? { n, p }
          : undefined;
      },
      60_000,
    );
    assert.equal(after1.p.metadata.uid, before.metadata.uid, 'the same pod');
    assert.equal(after1.n.metadata.annotations['sandbox-probe.bosun.dev/rebooted-from'], boot0);
    assert.throws(() => readFileSync(sentinel), 'the reboot cleared the sentinel');
    const previous = await logs(before.metadata.name, ['--previous']);
    assert.match(previous, /^reboot required: rebooting$/m);
    // (Whether `systemctl reboot exited 0` is logged first is a race with the machine going down, as on a real node.)
    assert.match(previous, /^SIGTERM: exiting$/m);
    assert.equal(alive(oldPid), false, 'the old process is gone');
    const current = await eventually('the new container to log its boot', async () => {
      const l = await logs(before.metadata.name);
      return l.includes(`boot ${after1.n.status.nodeInfo.bootID}`) ? l : undefined;
    });
    assert.ok(alive(pidOf(current)));
    assert.notEqual(pidOf(current), oldPid);
  });

  test('the audit record: every request of the pods was allowed, and every rule of the chart was used', () => {
    const records = s.sb.audit({ user: USER });
    assert.ok(records.length >= 6, String(records.length));
    const refused = records.filter((r) => !r.allowed);
    assert.deepEqual(refused, []);
    const used = new Set(
      records.map((r) => `${r.role?.kind ?? ''}/${r.role?.name ?? ''}#${r.ruleIndex ?? -1}`),
    );
    // The chart's two rules, and the self review every authenticated user may make.
    assert.deepEqual([...used].sort(), [
      'ClusterRole/probe#0',
      'ClusterRole/probe#1',
      'ClusterRole/system:basic-user#1',
    ]);
    const patches = records.filter((r) => r.verb === 'patch');
    assert.deepEqual(
      patches.map((r) => [r.resource, r.name, r.binding?.name, r.pod?.startsWith(`${NS}/probe-`)]),
      [['nodes', 'worker-1', 'probe', true]],
    );
  });

  test('deleting a pod kills its process with SIGTERM, and the token bound to it stops working', async () => {
    const pod = await podOn('worker-2');
    const pid = pidOf(await logs(pod.metadata.name));
    const token = readFileSync(join(tokenDir('worker-2', pod.metadata.uid), 'token'), 'utf8');
    const client = rawClient(s.kubeconfig, { anonymous: true });
    const auth = { authorization: `Bearer ${token}` };
    assert.equal((await client.request('GET', '/api/v1/nodes/worker-2', undefined, auth)).status, 200);
    const del = await s.kubectl(['delete', 'pod', '-n', NS, pod.metadata.name]);
    assert.equal(del.code, 0, del.stderr);
    assert.equal(alive(pid), false);
    const r = await client.request('GET', '/api/v1/nodes/worker-2', undefined, auth);
    assert.equal(r.status, 401);
    // The DaemonSet puts a new pod there, with a new process.
    await eventually('a new pod on worker-2', async () => {
      const p = await podOn('worker-2');
      return p.metadata.uid !== pod.metadata.uid && ready(p);
    });
  });

  test('helm uninstall --wait removes the release, its pods and their processes', async () => {
    const pids = await Promise.all(
      ['worker-1', 'worker-2'].map(async (n) => pidOf(await logs((await podOn(n)).metadata.name))),
    );
    const r = await helm(['uninstall', 'probe', '-n', NS, '--wait']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /release "probe" uninstalled/);
    await eventually('the pods to go', async () => {
      const l = await s.kubectlJson<{ items: unknown[] }>(['get', 'pods', '-n', NS]);
      return l.items.length === 0;
    });
    for (const pid of pids) assert.equal(alive(pid), false, `pid ${pid}`);
    const rest = await s.kubectl(['get', 'ds,sa,secrets,clusterrole/probe', '-n', NS, '--ignore-not-found']);
    assert.doesNotMatch(rest.stdout, /probe/);
    assert.equal((await helm(['list', '-n', NS, '-q'])).stdout.trim(), '');
  });
});
