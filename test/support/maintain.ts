// The sandbox the maintain end-to-end tests share the shape of: one control plane, two workers, a
// node-monitor grace period raised from the fast profile's 1.5 s (which a loaded machine can miss)
// but kept under --health-timeout, a reboot that outlasts it, and Deployments of pause pods.
import assert from 'node:assert/strict';
import { workloadsSettled } from './drain.ts';
import { eventually, startTestSandbox, type TestSandbox } from './sandbox.ts';

/** A Deployment of pause pods labelled app=NAME in the default namespace. */
export interface DeploymentSpec {
  name: string;
  replicas: number;
  /** Annotations of its pods (e.g. sandbox.bosun.dev/stop-seconds). */
  podAnnotations?: Record<string, string>;
}

/** Waits until every Deployment and StatefulSet has all its replicas Ready. */
export function settle(t: TestSandbox): Promise<boolean> {
  return eventually('workloads settled', () => workloadsSettled(t), 60_000);
}

/** Starts the sandbox with these Deployments, all Ready; the caller stops it. */
export async function startMaintainSandbox(deployments: readonly DeploymentSpec[]): Promise<TestSandbox> {
  const t = await startTestSandbox({
    controlPlanes: 1,
    workers: 2,
    workload: 'none',
    timing: { nodeMonitorGraceMs: 3_000, rebootMs: 4_000 },
  });
  try {
    for (const d of deployments) {
      const manifest = {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: d.name, namespace: 'default' },
        spec: {
          replicas: d.replicas,
          selector: { matchLabels: { app: d.name } },
          template: {
            metadata: {
              labels: { app: d.name },
              ...(d.podAnnotations ? { annotations: d.podAnnotations } : {}),
            },
            spec: { containers: [{ name: 'c', image: 'registry.k8s.io/pause:3.10' }] },
          },
        },
      };
      const r = await t.kubectl(['create', '--validate=false', '-f', '-'], {
        input: JSON.stringify(manifest),
      });
      assert.equal(r.code, 0, r.stderr);
    }
    await settle(t);
  } catch (e) {
    await t.stop();
    throw e;
  }
  return t;
}
