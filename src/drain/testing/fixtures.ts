// Builders for the API objects drain's tests need, as plain JSON the way kube-apiserver serves them.
// Test support only.
import type { Node, Pod, PodDisruptionBudget, Taint, Toleration } from '../../kube/types.ts';
import { MIRROR_POD_ANNOTATION } from '../../kube/pods.ts';

let uidSeq = 0;
/** A fresh uid. */
export function uid(prefix = 'uid'): string {
  uidSeq++;
  return `${prefix}-${uidSeq.toString().padStart(6, '0')}`;
}

/** Options for {@link pod}. */
export interface PodSpecOpts {
  namespace?: string;
  node?: string;
  /** Controller kind and name; 'none' for a bare pod. Default: ReplicaSet `${app}-rs`. */
  owner?: { kind: string; name: string; uid?: string } | 'none';
  phase?: 'Pending' | 'Running' | 'Succeeded' | 'Failed';
  ready?: boolean;
  emptyDir?: boolean;
  mirror?: boolean;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  requests?: Record<string, string>;
  deletionTimestamp?: string;
  tolerations?: Toleration[];
  nodeSelector?: Record<string, string>;
  requiredNodeAffinity?: { key: string; operator: string; values?: string[] }[];
  antiAffinity?: { matchLabels: Record<string, string>; topologyKey: string }[];
  terminationGracePeriodSeconds?: number;
  uid?: string;
}

/** A pod on a node (default worker-1, namespace demo, owned by a ReplicaSet, Running and Ready). */
export function pod(name: string, o: PodSpecOpts = {}): Pod {
  const ns = o.namespace ?? 'demo';
  const app = name.replace(/-[a-z0-9]{1,5}$/, '');
  const owner = o.owner ?? { kind: 'ReplicaSet', name: `${app}-rs` };
  const phase = o.phase ?? 'Running';
  const ready = o.ready ?? phase === 'Running';
  const p: Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: ns,
      uid: o.uid ?? uid(name),
      resourceVersion: '1',
      creationTimestamp: '2025-01-01T00:00:00Z',
      labels: o.labels ?? { app },
      ...(o.annotations || o.mirror
        ? {
            annotations: {
              ...(o.annotations ?? {}),
              ...(o.mirror ? { [MIRROR_POD_ANNOTATION]: 'abc' } : {}),
            },
          }
        : {}),
      ...(owner === 'none'
        ? {}
        : {
            ownerReferences: [
              {
                apiVersion: owner.kind === 'Node' ? 'v1' : 'apps/v1',
                kind: owner.kind,
                name: owner.name,
                uid: owner.uid ?? `uid-${owner.kind}-${owner.name}`,
                controller: true,
              },
            ],
          }),
      ...(o.deletionTimestamp
        ? { deletionTimestamp: o.deletionTimestamp, deletionGracePeriodSeconds: 30 }
        : {}),
    },
    spec: {
      nodeName: o.node ?? 'worker-1',
      containers: [
        {
          name: 'main',
          image: 'registry.k8s.io/pause:3.10',
          ...(o.requests ? { resources: { requests: o.requests } } : {}),
        },
      ],
      ...(o.emptyDir ? { volumes: [{ name: 'scratch', emptyDir: {} }] } : {}),
      ...(o.tolerations ? { tolerations: o.tolerations } : {}),
      ...(o.nodeSelector ? { nodeSelector: o.nodeSelector } : {}),
      ...(o.requiredNodeAffinity || o.antiAffinity
        ? {
            affinity: {
              ...(o.requiredNodeAffinity
                ? {
                    nodeAffinity: {
                      requiredDuringSchedulingIgnoredDuringExecution: {
                        nodeSelectorTerms: [{ matchExpressions: o.requiredNodeAffinity }],
                      },
                    },
                  }
                : {}),
              ...(o.antiAffinity
                ? {
                    podAntiAffinity: {
                      requiredDuringSchedulingIgnoredDuringExecution: o.antiAffinity.map((a) => ({
                        labelSelector: { matchLabels: a.matchLabels },
                        topologyKey: a.topologyKey,
                      })),
                    },
                  }
                : {}),
            },
          }
        : {}),
      terminationGracePeriodSeconds: o.terminationGracePeriodSeconds ?? 30,
    },
    status: {
      phase,
      conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
    },
  };
  return p;
}

/** Options for {@link node}. */
export interface NodeOpts {
  unschedulable?: boolean;
  ready?: boolean;
  taints?: Taint[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  allocatable?: Record<string, string>;
}

/** A Ready worker node with 4 cpu, 8Gi and 110 pods allocatable. */
export function node(name: string, o: NodeOpts = {}): Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      uid: uid(name),
      resourceVersion: '1',
      labels: o.labels ?? { 'kubernetes.io/hostname': name, 'kubernetes.io/os': 'linux' },
      ...(o.annotations ? { annotations: o.annotations } : {}),
    },
    spec: { ...(o.unschedulable ? { unschedulable: true } : {}), ...(o.taints ? { taints: o.taints } : {}) },
    status: {
      allocatable: o.allocatable ?? { cpu: '4', memory: '8Gi', pods: '110' },
      capacity: o.allocatable ?? { cpu: '4', memory: '8Gi', pods: '110' },
      conditions: [
        {
          type: 'Ready',
          status: o.ready === false ? 'False' : 'True',
          lastHeartbeatTime: '2025-01-01T00:00:00Z',
        },
      ],
      nodeInfo: { kubeletVersion: 'v1.34.3', bootID: 'boot-1' },
    },
  };
}

/** Options for {@link pdb}. */
export interface PdbOpts {
  namespace?: string;
  minAvailable?: number | string;
  maxUnavailable?: number | string;
  policy?: 'IfHealthyBudget' | 'AlwaysAllow';
  currentHealthy?: number;
  desiredHealthy?: number;
  expectedPods?: number;
  disruptionsAllowed?: number;
}

/** A PDB selecting app=<app> with the given spec and status. */
export function pdb(name: string, app: string, o: PdbOpts = {}): PodDisruptionBudget {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: { name, namespace: o.namespace ?? 'demo', uid: uid(name), generation: 1 },
    spec: {
      selector: { matchLabels: { app } },
      ...(o.minAvailable !== undefined ? { minAvailable: o.minAvailable } : {}),
      ...(o.maxUnavailable !== undefined ? { maxUnavailable: o.maxUnavailable } : {}),
      ...(o.policy ? { unhealthyPodEvictionPolicy: o.policy } : {}),
    },
    status: {
      observedGeneration: 1,
      currentHealthy: o.currentHealthy ?? 3,
      desiredHealthy: o.desiredHealthy ?? 2,
      expectedPods: o.expectedPods ?? 3,
      disruptionsAllowed: o.disruptionsAllowed ?? 1,
    },
  };
}
