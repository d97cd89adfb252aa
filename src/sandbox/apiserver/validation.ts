// The validation kube-apiserver applies that clients of the sandbox can observe: names, required
// fields, selector/template agreement, immutable fields. Answers 422 Invalid with field causes.
import { isEverything, labelSelectorAsSelector, matches } from '../../kube/labels.ts';
import { RBAC_RESOURCES, validateRbacCreate, validateRbacUpdate } from './rbac-objects.ts';
import type { StatusCause } from './status.ts';
import type { KubeObject, PodSpec } from './types.ts';
import type { LabelSelector } from '../../kube/types.ts';
import { isRecord } from './types.ts';

const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

function nameCauses(resource: string, name: string): StatusCause[] {
  const label = resource === 'namespaces' || resource === 'services';
  const re = label ? DNS1123_LABEL : DNS1123_SUBDOMAIN;
  const max = label ? 63 : 253;
  if (name.length > max) {
    return [
      {
        reason: 'FieldValueInvalid',
        field: 'metadata.name',
        message: `Invalid value: "${name}": must be no more than ${max} characters`,
      },
    ];
  }
  if (!re.test(name)) {
    const msg = label
      ? `a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`
      : `a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`;
    return [
      { reason: 'FieldValueInvalid', field: 'metadata.name', message: `Invalid value: "${name}": ${msg}` },
    ];
  }
  return [];
}

function podSpecCauses(spec: unknown, path: string): StatusCause[] {
  if (!isRecord(spec)) return [{ reason: 'FieldValueRequired', field: path, message: 'Required value' }];
  const ps = spec as PodSpec;
  const causes: StatusCause[] = [];
  if (!Array.isArray(ps.containers) || ps.containers.length === 0) {
    causes.push({ reason: 'FieldValueRequired', field: `${path}.containers`, message: 'Required value' });
  } else {
    ps.containers.forEach((c, i) => {
      if (!c.name)
        causes.push({
          reason: 'FieldValueRequired',
          field: `${path}.containers[${i}].name`,
          message: 'Required value',
        });
      if (!c.image)
        causes.push({
          reason: 'FieldValueRequired',
          field: `${path}.containers[${i}].image`,
          message: 'Required value',
        });
    });
  }
  if (ps.terminationGracePeriodSeconds !== undefined && ps.terminationGracePeriodSeconds < 0) {
    causes.push({
      reason: 'FieldValueInvalid',
      field: `${path}.terminationGracePeriodSeconds`,
      message: `Invalid value: ${ps.terminationGracePeriodSeconds}: must be greater than or equal to 0`,
    });
  }
  return causes;
}

function selectorTemplateCauses(spec: Record<string, unknown>): StatusCause[] {
  const causes: StatusCause[] = [];
  const sel = spec['selector'] as LabelSelector | undefined;
  if (!isRecord(sel))
    return [{ reason: 'FieldValueRequired', field: 'spec.selector', message: 'Required value' }];
  const tmpl = spec['template'];
  const labels =
    isRecord(tmpl) && isRecord(tmpl['metadata'])
      ? (tmpl['metadata']['labels'] as Record<string, string> | undefined)
      : undefined;
  const converted = labelSelectorAsSelector(sel);
  if (!converted.ok) {
    causes.push({ reason: 'FieldValueInvalid', field: 'spec.selector', message: converted.error });
  } else if (isEverything(converted.selector)) {
    causes.push({
      reason: 'FieldValueInvalid',
      field: 'spec.selector',
      message: `Invalid value: v1.LabelSelector{MatchLabels:map[string]string(nil), MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment`,
    });
  } else if (!matches(converted.selector, labels)) {
    const shown = Object.entries(labels ?? {})
      .map(([k, v]) => `"${k}":"${v}"`)
      .join(', ');
    causes.push({
      reason: 'FieldValueInvalid',
      field: 'spec.template.metadata.labels',
      message: `Invalid value: map[string]string{${shown}}: \`selector\` does not match template \`labels\``,
    });
  }
  if (isRecord(tmpl)) causes.push(...podSpecCauses(tmpl['spec'], 'spec.template.spec'));
  else causes.push({ reason: 'FieldValueRequired', field: 'spec.template', message: 'Required value' });
  return causes;
}

/** Validation on create. Returns the causes of a 422, empty when valid. */
export function validateCreate(resource: string, obj: KubeObject): StatusCause[] {
  if (RBAC_RESOURCES.has(resource)) return validateRbacCreate(resource, obj);
  const causes = nameCauses(resource, obj.metadata.name ?? '');
  const spec = obj['spec'];
  switch (resource) {
    case 'pods':
      causes.push(...podSpecCauses(spec, 'spec'));
      break;
    case 'deployments':
    case 'replicasets':
    case 'daemonsets':
    case 'statefulsets':
      if (!isRecord(spec))
        causes.push({ reason: 'FieldValueRequired', field: 'spec', message: 'Required value' });
      else {
        causes.push(...selectorTemplateCauses(spec));
        const r = spec['replicas'];
        if (typeof r === 'number' && r < 0)
          causes.push({
            reason: 'FieldValueInvalid',
            field: 'spec.replicas',
            message: `Invalid value: ${r}: must be greater than or equal to 0`,
          });
      }
      break;
    case 'jobs':
      if (!isRecord(spec) || !isRecord(spec['template']))
        causes.push({ reason: 'FieldValueRequired', field: 'spec.template', message: 'Required value' });
      else causes.push(...podSpecCauses(spec['template']['spec'], 'spec.template.spec'));
      break;
    case 'poddisruptionbudgets':
      if (isRecord(spec) && spec['minAvailable'] !== undefined && spec['maxUnavailable'] !== undefined) {
        causes.push({
          reason: 'FieldValueInvalid',
          field: 'spec',
          message:
            'Invalid value: policy.PodDisruptionBudgetSpec: minAvailable and maxUnavailable cannot be both set',
        });
      }
      break;
    default:
      break;
  }
  return causes;
}

/** Validation on update: what create checks, plus the fields kube makes immutable. */
export function validateUpdate(resource: string, obj: KubeObject, old: KubeObject): StatusCause[] {
  if (RBAC_RESOURCES.has(resource)) return validateRbacUpdate(resource, obj, old);
  const causes = validateCreate(resource, obj).filter((c) => c.field !== 'metadata.name');
  const spec = obj['spec'];
  const oldSpec = old['spec'];
  if (resource === 'pods' && isRecord(spec) && isRecord(oldSpec)) {
    const oldNode = oldSpec['nodeName'];
    if (oldNode && spec['nodeName'] !== oldNode) {
      causes.push({
        reason: 'FieldValueForbidden',
        field: 'spec',
        message:
          'Forbidden: pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)',
      });
    }
  }
  if (
    ['deployments', 'replicasets', 'daemonsets', 'statefulsets'].includes(resource) &&
    isRecord(spec) &&
    isRecord(oldSpec)
  ) {
    if (JSON.stringify(spec['selector']) !== JSON.stringify(oldSpec['selector'])) {
      causes.push({
        reason: 'FieldValueInvalid',
        field: 'spec.selector',
        message: 'Invalid value: ...: field is immutable',
      });
    }
  }
  return causes;
}
