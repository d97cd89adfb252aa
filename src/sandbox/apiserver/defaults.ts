// Defaulting on create, as kube-apiserver's defaulters and default admission plugins do it for the
// fields maintenance tools read (pkg/apis/*/v1/defaults.go, DefaultTolerationSeconds,
// ServiceAccount, NamespaceLifecycle's metadata.name label).
import { isMirrorPod, MIRROR_POD_ANNOTATION } from '../../kube/pods.ts';
import { applyRbacDefaults } from './rbac-objects.ts';
import type { Container, KubeObject, PodSpec } from './types.ts';
import type { Toleration } from '../../kube/types.ts';
import { isRecord } from './types.ts';

export { isMirrorPod };

function defaultContainer(c: Container): void {
  const image = c.image ?? '';
  const tag = image.includes('@') ? 'digest' : (/:([^/]+)$/.exec(image)?.[1] ?? 'latest');
  c.imagePullPolicy ??= tag === 'latest' ? 'Always' : 'IfNotPresent';
  c.terminationMessagePath ??= '/dev/termination-log';
  c.terminationMessagePolicy ??= 'File';
  c.resources ??= {};
  for (const p of c.ports ?? []) p.protocol ??= 'TCP';
}

/** Defaults a pod spec (also a template's). */
export function defaultPodSpec(spec: PodSpec): void {
  for (const c of spec.containers ?? []) defaultContainer(c);
  for (const c of spec.initContainers ?? []) defaultContainer(c);
  spec.restartPolicy ??= 'Always';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.schedulerName ??= 'default-scheduler';
  spec.securityContext ??= {};
  spec.enableServiceLinks ??= true;
  for (const v of spec.volumes ?? []) {
    if (v.emptyDir === undefined && v.hostPath === undefined && Object.keys(v).length === 1) v.emptyDir = {};
  }
}

const NOT_READY = 'node.kubernetes.io/not-ready';
const UNREACHABLE = 'node.kubernetes.io/unreachable';

/** The DefaultTolerationSeconds admission plugin: 300 s for not-ready and unreachable NoExecute. */
function addDefaultTolerations(spec: PodSpec): void {
  const tols: Toleration[] = spec.tolerations ?? [];
  const has = (key: string): boolean =>
    tols.some(
      (t) =>
        (t.key === key || (t.key === undefined && t.operator === 'Exists')) &&
        (t.effect === 'NoExecute' || !t.effect),
    );
  if (!has(NOT_READY))
    tols.push({ key: NOT_READY, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 });
  if (!has(UNREACHABLE))
    tols.push({ key: UNREACHABLE, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 });
  spec.tolerations = tols;
}

function qosClass(spec: PodSpec): 'Guaranteed' | 'Burstable' | 'BestEffort' {
  const all = [...(spec.containers ?? []), ...(spec.initContainers ?? [])];
  let any = false;
  let guaranteed = true;
  for (const c of all) {
    const req = c.resources?.requests ?? {};
    const lim = c.resources?.limits ?? {};
    for (const name of ['cpu', 'memory']) {
      const r = req[name] ?? lim[name];
      const l = lim[name];
      if (r !== undefined || l !== undefined) any = true;
      if (l === undefined || r !== l) guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

function templateSpec(obj: KubeObject): PodSpec | undefined {
  const spec = obj['spec'];
  if (!isRecord(spec)) return undefined;
  const tmpl = spec['template'];
  if (!isRecord(tmpl) || !isRecord(tmpl['spec'])) return undefined;
  return tmpl['spec'] as PodSpec;
}

/** Applies create-time defaults for the object's resource. Mutates obj. */
export function applyCreateDefaults(resource: string, obj: KubeObject): void {
  const spec = (isRecord(obj['spec']) ? obj['spec'] : undefined) as Record<string, unknown> | undefined;
  switch (resource) {
    case 'pods': {
      const ps = obj['spec'] as PodSpec;
      defaultPodSpec(ps);
      if (!isMirrorPod(obj)) {
        ps.serviceAccountName ??= 'default';
        ps['serviceAccount'] ??= ps.serviceAccountName;
      }
      ps.priority ??= 0;
      ps['preemptionPolicy'] ??= 'PreemptLowerPriority';
      addDefaultTolerations(ps);
      // pod strategy PrepareForCreate: status is reset, the kubelet owns it.
      obj['status'] = { phase: 'Pending', qosClass: qosClass(ps) };
      break;
    }
    case 'namespaces': {
      obj.metadata.labels = {
        ...(obj.metadata.labels ?? {}),
        'kubernetes.io/metadata.name': obj.metadata.name ?? '',
      };
      obj['spec'] = { finalizers: ['kubernetes'] };
      obj['status'] = { phase: 'Active' };
      break;
    }
    case 'deployments':
      if (spec) {
        spec['replicas'] ??= 1;
        spec['strategy'] ??= {
          type: 'RollingUpdate',
          rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' },
        };
        spec['revisionHistoryLimit'] ??= 10;
        spec['progressDeadlineSeconds'] ??= 600;
      }
      obj['status'] = {};
      break;
    case 'replicasets':
      if (spec) spec['replicas'] ??= 1;
      obj['status'] = { replicas: 0 };
      break;
    case 'statefulsets':
      if (spec) {
        spec['replicas'] ??= 1;
        spec['podManagementPolicy'] ??= 'OrderedReady';
        spec['updateStrategy'] ??= { type: 'RollingUpdate', rollingUpdate: { partition: 0 } };
        spec['revisionHistoryLimit'] ??= 10;
      }
      obj['status'] = { replicas: 0, availableReplicas: 0 };
      break;
    case 'daemonsets':
      if (spec) {
        spec['updateStrategy'] ??= {
          type: 'RollingUpdate',
          rollingUpdate: { maxUnavailable: 1, maxSurge: 0 },
        };
        spec['revisionHistoryLimit'] ??= 10;
      }
      obj['status'] = {
        currentNumberScheduled: 0,
        numberMisscheduled: 0,
        desiredNumberScheduled: 0,
        numberReady: 0,
      };
      break;
    case 'jobs':
      if (spec) {
        spec['parallelism'] ??= 1;
        spec['completions'] ??= 1;
        spec['backoffLimit'] ??= 6;
        spec['completionMode'] ??= 'NonIndexed';
        spec['suspend'] ??= false;
        // The job strategy generates the selector and template labels from the job's UID.
        if (spec['manualSelector'] !== true) {
          const uid = obj.metadata.uid ?? '';
          const name = obj.metadata.name ?? '';
          const tmpl = (spec['template'] ?? {}) as { metadata?: { labels?: Record<string, string> } };
          tmpl.metadata ??= {};
          tmpl.metadata.labels = {
            ...(tmpl.metadata.labels ?? {}),
            'batch.kubernetes.io/controller-uid': uid,
            'batch.kubernetes.io/job-name': name,
            'controller-uid': uid,
            'job-name': name,
          };
          spec['template'] = tmpl;
          spec['selector'] = { matchLabels: { 'batch.kubernetes.io/controller-uid': uid } };
        }
      }
      obj['status'] = {};
      break;
    case 'poddisruptionbudgets':
      obj['status'] = { disruptionsAllowed: 0, currentHealthy: 0, desiredHealthy: 0, expectedPods: 0 };
      break;
    case 'services':
      if (spec) {
        spec['type'] ??= 'ClusterIP';
        spec['sessionAffinity'] ??= 'None';
        for (const p of (spec['ports'] ?? []) as Record<string, unknown>[]) {
          p['protocol'] ??= 'TCP';
          p['targetPort'] ??= p['port'];
        }
      }
      obj['status'] = { loadBalancer: {} };
      break;
    case 'secrets':
      obj['type'] ??= 'Opaque';
      break;
    default:
      applyRbacDefaults(resource, obj);
      break;
  }
  const ts = templateSpec(obj);
  if (ts) defaultPodSpec(ts);
}

/** The kubelet's mirror-pod annotation: the pod mirrors a static pod from a manifest file. */
export const MIRROR_ANNOTATION = MIRROR_POD_ANNOTATION;
