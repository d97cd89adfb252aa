// The sandbox kubelet's process pods as a kubelet runs containers: a container that exits is
// restarted with back-off (or ends the pod, as its restartPolicy says), a failing liveness probe
// gets it killed and started again, a failing readiness probe keeps the pod from Ready, and a
// kubelet that stops leaves its containers running and picks them up when it starts again.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { eventually, startTestSandbox, type TestSandbox } from './support/sandbox.ts';

interface PodJson {
  status: {
    phase: string;
    conditions?: { type: string; status: string }[];
    containerStatuses?: {
      ready: boolean;
      started: boolean;
      restartCount: number;
      state: { running?: unknown; waiting?: { reason: string }; terminated?: { exitCode: number } };
      lastState: { terminated?: { exitCode: number; reason: string } };
    }[];
  };
}

function pod(
  name: string,
  args: string[],
  spec: Record<string, unknown> = {},
  container: Record<string, unknown> = {},
): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default' },
    spec: {
      terminationGracePeriodSeconds: 5,
      containers: [
        {
          name: 'probe',
          image: 'ghcr.io/bosun-dev/bosun:test',
          command: ['node', '--import', 'tsx', '/opt/bosun/test/fixtures/in-cluster-probe.ts'],
          args: ['--no-api', ...args],
          env: [{ name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } }],
          ports: [{ name: 'http', containerPort: 8080 }],
          ...container,
        },
      ],
      ...spec,
    },
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("the kubelet's process pods", () => {
  let s: TestSandbox;
  before(async () => {
    s = await startTestSandbox({ controlPlanes: 1, workers: 1 });
  });
  after(() => s?.stop());

  const apply = async (manifest: string): Promise<void> => {
    const r = await s.kubectl(['apply', '-f', '-'], { input: manifest });
    assert.equal(r.code, 0, r.stderr);
  };
  const get = (name: string): Promise<PodJson> =>
    s.kubectlJson<PodJson>(['get', 'pod', name, '-n', 'default']);
  const status = async (name: string) => (await get(name)).status.containerStatuses?.[0];
  const ready = (p: PodJson): boolean =>
    (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');

  test('a container that exits is restarted with back-off, its exit code kept as its last state', async () => {
    await apply(pod('crashes', ['--exit-after-ms=300', '--exit-code=3']));
    const st = await eventually(
      'two restarts',
      async () => {
        const c = await status('crashes');
        return c && c.restartCount >= 2 && c.lastState.terminated ? c : undefined;
      },
      30_000,
    );
    assert.deepEqual(
      { exitCode: st.lastState.terminated?.exitCode, reason: st.lastState.terminated?.reason },
      { exitCode: 3, reason: 'Error' },
    );
    const events = await s.kubectl([
      'get',
      'events',
      '-n',
      'default',
      '--field-selector',
      'involvedObject.name=crashes',
    ]);
    assert.match(events.stdout, /BackOff\s+pod\/crashes\s+Back-off restarting failed container/);
  });

  test('with restartPolicy Never, the pod ends Succeeded or Failed by its exit code', async () => {
    await apply(pod('done', ['--exit-after-ms=200', '--exit-code=0'], { restartPolicy: 'Never' }));
    await apply(pod('broke', ['--exit-after-ms=200', '--exit-code=2'], { restartPolicy: 'Never' }));
    const done = await eventually('done to succeed', async () =>
      (await get('done')).status.phase === 'Succeeded' ? true : undefined,
    );
    assert.ok(done);
    const broke = await eventually('broke to fail', async () => {
      const p = await get('broke');
      return p.status.phase === 'Failed' ? p : undefined;
    });
    assert.equal(broke.status.containerStatuses?.[0]?.state.terminated?.exitCode, 2);
    assert.equal(broke.status.containerStatuses?.[0]?.restartCount, 0);
  });

  test('a failing liveness probe gets the container killed and started again', async () => {
    await apply(
      pod(
        'unhealthy',
        ['--unhealthy-after-ms=500'],
        {},
        {
          // The initial delay covers the process's start (real seconds in every profile).
          livenessProbe: {
            httpGet: { path: '/healthz', port: 'http' },
            initialDelaySeconds: 3,
            periodSeconds: 1,
            failureThreshold: 1,
          },
        },
      ),
    );
    await eventually('a restart', async () => ((await status('unhealthy'))?.restartCount ?? 0) >= 1, 30_000);
    const events = await s.kubectl([
      'get',
      'events',
      '-n',
      'default',
      '--field-selector',
      'involvedObject.name=unhealthy',
    ]);
    assert.match(events.stdout, /Container probe failed liveness probe, will be restarted/);
    const previous = await s.kubectl(['logs', '-n', 'default', 'unhealthy', '--previous']);
    assert.match(previous.stdout, /^unhealthy now$/m);
    assert.match(previous.stdout, /^SIGTERM: exiting$/m);
  });

  test('a readiness probe that never passes keeps the pod Running but not Ready', async () => {
    await apply(
      pod(
        'unready',
        ['--unhealthy-after-ms=0'],
        {},
        {
          readinessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 1 },
        },
      ),
    );
    await eventually('the container to start and be probed', async () => {
      const logs = await s.kubectl(['logs', '-n', 'default', 'unready']);
      return logs.stdout.includes('serving /healthz');
    });
    const events = await eventually('a failed readiness probe', async () => {
      const e = await s.kubectl([
        'get',
        'events',
        '-n',
        'default',
        '--field-selector',
        'involvedObject.name=unready',
      ]);
      return /Readiness probe failed: HTTP probe failed with statuscode: 503/.test(e.stdout) ? e : undefined;
    });
    assert.ok(events);
    const p = await get('unready');
    assert.equal(p.status.phase, 'Running');
    assert.equal(ready(p), false);
    assert.deepEqual(
      { ready: p.status.containerStatuses?.[0]?.ready, started: p.status.containerStatuses?.[0]?.started },
      { ready: false, started: true },
    );
  });

  test('a stopped kubelet leaves its containers running and takes them up again when it starts', async () => {
    await apply(pod('steady', []));
    const p0 = await eventually('steady to be Ready', async () => {
      const p = await get('steady');
      return ready(p) ? p : undefined;
    });
    const logs = await s.kubectl(['logs', '-n', 'default', 'steady']);
    const pid = Number(/pid=(\d+)/.exec(logs.stdout)?.[1] ?? '0');
    const io = { out: () => undefined, err: () => undefined };
    assert.equal(await s.sb.runShim('worker-1', 'systemctl', ['stop', 'kubelet'], io), 0);
    assert.ok(alive(pid), 'the container runs on without its kubelet');
    assert.equal(await s.sb.runShim('worker-1', 'systemctl', ['start', 'kubelet'], io), 0);
    const p1 = await eventually('steady Ready again', async () => {
      const p = await get('steady');
      return ready(p) ? p : undefined;
    });
    assert.ok(alive(pid), 'the same process');
    assert.equal(
      p1.status.containerStatuses?.[0]?.restartCount,
      p0.status.containerStatuses?.[0]?.restartCount,
    );
  });
});
