// The demo workload: what a drain has to get right on a real cluster. Several namespaces with
// Deployments spread over the workers, three PodDisruptionBudgets (minAvailable, maxUnavailable,
// and one that allows no disruption at all), a StatefulSet, a DaemonSet, a pod with an emptyDir,
// a bare pod with no controller, and a finished Job pod.
import type { ApiCore } from './apiserver/api.ts';
import { resource } from './apiserver/resources.ts';
import { ApiError } from './apiserver/status.ts';
import type { Container, KubeObject } from './apiserver/types.ts';

function container(name: string, image: string, cpu: string, memory: string): Container {
  return {
    name,
    image,
    resources: { requests: { cpu, memory }, limits: { memory } },
    ports: [{ containerPort: 8080 }],
  };
}

function deployment(
  ns: string,
  name: string,
  replicas: number,
  image: string,
  cpu: string,
  memory: string,
  extra: Record<string, unknown> = {},
): [string, string, KubeObject] {
  return [
    'deployments',
    ns,
    {
      metadata: { name, labels: { app: name } },
      spec: {
        replicas,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: {
            containers: [container(name, image, cpu, memory)],
            terminationGracePeriodSeconds: 30,
            ...extra,
          },
        },
      },
    },
  ];
}

/** The demo objects, in creation order: [resource, namespace, object]. */
export function demoWorkload(): [string, string | undefined, KubeObject][] {
  return [
    ['namespaces', undefined, { metadata: { name: 'shop' } }],
    ['namespaces', undefined, { metadata: { name: 'data' } }],
    ['namespaces', undefined, { metadata: { name: 'ops' } }],
    ['namespaces', undefined, { metadata: { name: 'batch' } }],
    // shop: a web tier guarded by minAvailable, a cart guarded by maxUnavailable.
    deployment('shop', 'frontend', 4, 'ghcr.io/bosun-demo/frontend:1.4.2', '100m', '128Mi'),
    [
      'poddisruptionbudgets',
      'shop',
      {
        metadata: { name: 'frontend' },
        spec: { minAvailable: 3, selector: { matchLabels: { app: 'frontend' } } },
      },
    ],
    deployment('shop', 'cart', 3, 'ghcr.io/bosun-demo/cart:2.0.1', '200m', '256Mi'),
    [
      'poddisruptionbudgets',
      'shop',
      { metadata: { name: 'cart' }, spec: { maxUnavailable: 1, selector: { matchLabels: { app: 'cart' } } } },
    ],
    deployment('shop', 'checkout', 2, 'ghcr.io/bosun-demo/checkout:0.9.0', '100m', '128Mi'),
    // data: a database that must never be disrupted without a human.
    [
      'statefulsets',
      'data',
      {
        metadata: { name: 'postgres', labels: { app: 'postgres' } },
        spec: {
          replicas: 3,
          serviceName: 'postgres',
          selector: { matchLabels: { app: 'postgres' } },
          template: {
            metadata: { labels: { app: 'postgres' } },
            spec: {
              containers: [container('postgres', 'postgres:16.4', '250m', '512Mi')],
              terminationGracePeriodSeconds: 60,
            },
          },
        },
      },
    ],
    [
      'poddisruptionbudgets',
      'data',
      {
        metadata: { name: 'postgres' },
        spec: { maxUnavailable: 0, selector: { matchLabels: { app: 'postgres' } } },
      },
    ],
    // ops: a per-node agent, and a cache that keeps scratch data in an emptyDir.
    [
      'daemonsets',
      'ops',
      {
        metadata: { name: 'node-exporter', labels: { app: 'node-exporter' } },
        spec: {
          selector: { matchLabels: { app: 'node-exporter' } },
          template: {
            metadata: { labels: { app: 'node-exporter' } },
            spec: {
              containers: [
                container('node-exporter', 'quay.io/prometheus/node-exporter:v1.8.2', '50m', '64Mi'),
              ],
              tolerations: [
                { key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' },
              ],
            },
          },
        },
      },
    ],
    deployment('ops', 'cache', 2, 'redis:7.4', '100m', '256Mi', {
      volumes: [{ name: 'scratch', emptyDir: {} }],
    }),
    // default: somebody's debugging pod, created by hand (no controller).
    [
      'pods',
      'default',
      {
        metadata: { name: 'debug-shell', labels: { run: 'debug-shell' } },
        spec: { containers: [container('shell', 'busybox:1.36', '10m', '16Mi')] },
      },
    ],
    // batch: a report job that has already finished.
    [
      'jobs',
      'batch',
      {
        metadata: { name: 'nightly-report' },
        spec: {
          completions: 1,
          template: {
            spec: {
              restartPolicy: 'Never',
              containers: [container('report', 'ghcr.io/bosun-demo/report:1.0', '100m', '64Mi')],
            },
          },
        },
      },
    ],
  ];
}

/** Creates the demo workload. Safe to run again. */
export async function applyDemoWorkload(api: ApiCore): Promise<void> {
  for (const [res, ns, obj] of demoWorkload()) {
    try {
      await api.create(resource(res), ns, obj);
    } catch (e) {
      if (!(e instanceof ApiError && e.code === 409)) throw e;
    }
  }
}
