// The scale subresource of Deployments, ReplicaSets and StatefulSets, as kube-apiserver serves it
// (pkg/registry/apps/{deployment,replicaset,statefulset}/storage ScaleREST): an autoscaling/v1 Scale
// made from the object (its name, namespace, uid, resourceVersion and creationTimestamp; spec.replicas;
// status.replicas and the label selector as a string), and a Scale written back as the object's
// spec.replicas, with the Scale's resourceVersion as the precondition when it carries one.
// `kubectl scale` patches it (a merge patch of spec.replicas), or with --current-replicas reads it
// and puts it back. Pure.
import { fromLabelSelector, selectorString } from '../../kube/labels.ts';
import { badRequest, invalid } from './status.ts';
import { isRecord, type KubeObject } from './types.ts';

/** An autoscaling/v1 Scale. */
export interface Scale extends KubeObject {
  kind: 'Scale';
  apiVersion: 'autoscaling/v1';
  spec: { replicas?: number };
  status: { replicas: number; selector?: string };
}

/** The resources that serve a scale subresource. */
export const SCALABLE_RESOURCES: ReadonlySet<string> = new Set([
  'deployments',
  'replicasets',
  'statefulsets',
]);

/**
 * labels.Selector.String() of metav1.LabelSelectorAsSelector: requirements sorted by key, set
 * values sorted.
 */
function selectorText(sel: unknown): string {
  const s = fromLabelSelector(isRecord(sel) ? sel : undefined);
  const reqs = [...s.requirements]
    .map((r) => ({ ...r, values: [...r.values].sort() }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return selectorString({ ...s, requirements: reqs });
}

/** The Scale of a Deployment, ReplicaSet or StatefulSet. */
export function scaleOf(obj: KubeObject): Scale {
  const spec = isRecord(obj['spec']) ? obj['spec'] : {};
  const status = isRecord(obj['status']) ? obj['status'] : {};
  const m = obj.metadata;
  return {
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: {
      name: m.name,
      ...(m.namespace !== undefined ? { namespace: m.namespace } : {}),
      ...(m.uid !== undefined ? { uid: m.uid } : {}),
      ...(m.resourceVersion !== undefined ? { resourceVersion: m.resourceVersion } : {}),
      ...(m.creationTimestamp !== undefined ? { creationTimestamp: m.creationTimestamp } : {}),
    },
    spec: { replicas: typeof spec['replicas'] === 'number' ? spec['replicas'] : 1 },
    status: {
      replicas: typeof status['replicas'] === 'number' ? status['replicas'] : 0,
      selector: selectorText(spec['selector']),
    },
  };
}

/**
 * Reads a Scale written by a client: its spec.replicas (validated as ValidateScale does) and the
 * resourceVersion it carries as a precondition ('' when none).
 */
export function readScale(name: string, body: unknown): { replicas: number; resourceVersion: string } {
  if (!isRecord(body)) throw badRequest('the body of the request was in an unknown format');
  const meta = isRecord(body['metadata']) ? body['metadata'] : {};
  if (meta['name'] !== undefined && meta['name'] !== name)
    throw badRequest(
      `the name of the object (${String(meta['name'])}) does not match the name on the URL (${name})`,
    );
  const spec = isRecord(body['spec']) ? body['spec'] : {};
  const replicas = spec['replicas'] ?? 0;
  if (typeof replicas !== 'number' || !Number.isInteger(replicas)) {
    throw invalid('Scale', 'autoscaling', name, [
      {
        reason: 'FieldValueInvalid',
        field: 'spec.replicas',
        message: `Invalid value: ${JSON.stringify(replicas)}: must be an integer`,
      },
    ]);
  }
  if (replicas < 0) {
    throw invalid('Scale', 'autoscaling', name, [
      {
        reason: 'FieldValueInvalid',
        field: 'spec.replicas',
        message: `Invalid value: ${replicas}: must be greater than or equal to 0`,
      },
    ]);
  }
  const rv = meta['resourceVersion'];
  return { replicas, resourceVersion: typeof rv === 'string' ? rv : '' };
}

/** The object with the Scale's replicas, carrying the Scale's resourceVersion as the precondition. */
export function withReplicas(obj: KubeObject, replicas: number, resourceVersion: string): KubeObject {
  const spec = isRecord(obj['spec']) ? obj['spec'] : {};
  const { resourceVersion: _current, ...metadata } = obj.metadata;
  return {
    ...obj,
    metadata: resourceVersion ? { ...metadata, resourceVersion } : metadata,
    spec: { ...spec, replicas },
  };
}
