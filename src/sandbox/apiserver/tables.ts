// Server-side printing: the meta.k8s.io/v1 Table kube-apiserver returns when kubectl asks for
// `as=Table`, with the columns of pkg/printers/internalversion/printers.go for each resource.
import { humanDuration } from '../../common/duration.ts';
import type { ResourceType } from './resources.ts';
import type {
  DaemonSet,
  Deployment,
  Job,
  KubeEvent,
  KubeObject,
  Lease,
  Namespace,
  Node,
  Pod,
  PodDisruptionBudget,
  ReplicaSet,
  StatefulSet,
} from './types.ts';
import { isRecord } from './types.ts';

interface Column {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  format: string;
  description: string;
  priority: number;
}

type Cell = string | number | boolean;

interface Printer {
  columns: Column[];
  row(o: KubeObject, now: number): Cell[];
}

const col = (name: string, type: Column['type'] = 'string', priority = 0, format = ''): Column => ({
  name,
  type,
  format: name === 'Name' ? 'name' : format,
  description:
    name === 'Name'
      ? 'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names'
      : name,
  priority,
});

function age(o: KubeObject, now: number): string {
  const t = o.metadata.creationTimestamp;
  if (!t) return '<unknown>';
  return humanDuration(now - Date.parse(t));
}

function since(t: string | undefined, now: number): string {
  return t ? humanDuration(now - Date.parse(t)) : '<unknown>';
}

function templateInfo(spec: {
  template?: { spec?: { containers?: { name: string; image?: string }[] } };
}): [string, string] {
  const cs = spec.template?.spec?.containers ?? [];
  return [cs.map((c) => c.name).join(','), cs.map((c) => c.image ?? '').join(',')];
}

function selectorText(sel: unknown): string {
  if (!isRecord(sel)) return '<none>';
  const parts: string[] = [];
  const ml = isRecord(sel['matchLabels']) ? (sel['matchLabels'] as Record<string, string>) : {};
  for (const [k, v] of Object.entries(ml)) parts.push(`${k}=${v}`);
  for (const e of (Array.isArray(sel['matchExpressions']) ? sel['matchExpressions'] : []) as {
    key: string;
    operator: string;
    values?: string[];
  }[]) {
    if (e.operator === 'In') parts.push(`${e.key} in (${(e.values ?? []).join(',')})`);
    else if (e.operator === 'NotIn') parts.push(`${e.key} notin (${(e.values ?? []).join(',')})`);
    else if (e.operator === 'Exists') parts.push(e.key);
    else parts.push(`!${e.key}`);
  }
  return parts.length ? parts.join(',') : '<none>';
}

/** printPod's STATUS column. */
export function podStatusReason(pod: Pod): {
  reason: string;
  ready: number;
  total: number;
  restarts: number;
  lastRestart?: string;
} {
  let reason: string = pod.status?.reason || pod.status?.phase || 'Pending';
  const statuses = pod.status?.containerStatuses ?? [];
  let ready = 0;
  let restarts = 0;
  let lastRestart: string | undefined;
  let hasRunning = false;
  for (let i = statuses.length - 1; i >= 0; i--) {
    const c = statuses[i];
    if (!c) continue;
    restarts += c.restartCount;
    const fin = c.lastState?.terminated?.finishedAt;
    if (fin && (!lastRestart || fin > lastRestart)) lastRestart = fin;
    if (c.state.waiting?.reason) reason = c.state.waiting.reason;
    else if (c.state.terminated?.reason) reason = c.state.terminated.reason;
    else if (c.state.terminated)
      reason = c.state.terminated.signal
        ? `Signal:${c.state.terminated.signal}`
        : `ExitCode:${c.state.terminated.exitCode}`;
    else if (c.ready && c.state.running) {
      hasRunning = true;
      ready++;
    }
  }
  if (reason === 'Completed' && hasRunning) {
    reason = (pod.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True')
      ? 'Running'
      : 'NotReady';
  }
  const phase = pod.status?.phase;
  if (pod.metadata.deletionTimestamp && pod.status?.reason === 'NodeLost') reason = 'Unknown';
  else if (pod.metadata.deletionTimestamp && phase !== 'Succeeded' && phase !== 'Failed')
    reason = 'Terminating';
  return {
    reason,
    ready,
    total: pod.spec.containers.length,
    restarts,
    ...(lastRestart ? { lastRestart } : {}),
  };
}

/** printNode's STATUS column. */
export function nodeStatusText(node: Node): string {
  const ready = (node.status?.conditions ?? []).find((c) => c.type === 'Ready');
  const parts = [ready ? (ready.status === 'True' ? 'Ready' : 'NotReady') : 'Unknown'];
  if (node.spec?.unschedulable) parts.push('SchedulingDisabled');
  return parts.join(',');
}

/** printNode's ROLES column. */
export function nodeRoles(node: Node): string {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(node.metadata.labels ?? {})) {
    if (k.startsWith('node-role.kubernetes.io/')) {
      const role = k.slice('node-role.kubernetes.io/'.length);
      if (role) roles.add(role);
    } else if (k === 'kubernetes.io/role' && v) roles.add(v);
  }
  return roles.size ? [...roles].sort().join(',') : '<none>';
}

function intOrString(v: unknown): string {
  return v === undefined || v === null ? 'N/A' : String(v);
}

/** printRoleBinding / printClusterRoleBinding: the role, and with -o wide who it binds. */
function bindingPrinter(): Printer {
  return {
    columns: [
      col('Name'),
      col('Role'),
      col('Age'),
      col('Users', 'string', 1),
      col('Groups', 'string', 1),
      col('ServiceAccounts', 'string', 1),
    ],
    row(o, now) {
      const ref = isRecord(o['roleRef']) ? o['roleRef'] : {};
      const subjects = (Array.isArray(o['subjects']) ? o['subjects'] : []) as {
        kind?: string;
        name?: string;
        namespace?: string;
      }[];
      const of = (kind: string): string =>
        subjects
          .filter((x) => x.kind === kind)
          .map((x) => (kind === 'ServiceAccount' ? `${x.namespace ?? ''}/${x.name ?? ''}` : (x.name ?? '')))
          .join(', ');
      return [
        o.metadata.name ?? '',
        `${String(ref['kind'] ?? '')}/${String(ref['name'] ?? '')}`,
        age(o, now),
        of('User'),
        of('Group'),
        of('ServiceAccount'),
      ];
    },
  };
}

const PRINTERS: Record<string, Printer> = {
  pods: {
    columns: [
      col('Name'),
      col('Ready'),
      col('Status'),
      col('Restarts'),
      col('Age'),
      col('IP', 'string', 1),
      col('Node', 'string', 1),
      col('Nominated Node', 'string', 1),
      col('Readiness Gates', 'string', 1),
    ],
    row(o, now) {
      const p = o as Pod;
      const s = podStatusReason(p);
      const restarts = s.lastRestart
        ? `${s.restarts} (${since(s.lastRestart, now)} ago)`
        : String(s.restarts);
      return [
        o.metadata.name ?? '',
        `${s.ready}/${s.total}`,
        s.reason,
        restarts,
        age(o, now),
        p.status?.podIP ?? '<none>',
        p.spec.nodeName || '<none>',
        p.status?.nominatedNodeName ?? '<none>',
        '<none>',
      ];
    },
  },
  nodes: {
    columns: [
      col('Name'),
      col('Status'),
      col('Roles'),
      col('Age'),
      col('Version'),
      col('Internal-IP', 'string', 1),
      col('External-IP', 'string', 1),
      col('OS-Image', 'string', 1),
      col('Kernel-Version', 'string', 1),
      col('Container-Runtime', 'string', 1),
    ],
    row(o, now) {
      const n = o as Node;
      const addr = (t: string): string => n.status?.addresses?.find((a) => a.type === t)?.address ?? '<none>';
      const info = n.status?.nodeInfo;
      return [
        o.metadata.name ?? '',
        nodeStatusText(n),
        nodeRoles(n),
        age(o, now),
        info?.kubeletVersion ?? '',
        addr('InternalIP'),
        addr('ExternalIP'),
        info?.osImage ?? '<unknown>',
        info?.kernelVersion ?? '<unknown>',
        info?.containerRuntimeVersion ?? '<unknown>',
      ];
    },
  },
  namespaces: {
    columns: [col('Name'), col('Status'), col('Age')],
    row: (o, now) => [o.metadata.name ?? '', (o as Namespace).status?.phase ?? '', age(o, now)],
  },
  deployments: {
    columns: [
      col('Name'),
      col('Ready'),
      col('Up-to-date', 'integer'),
      col('Available', 'integer'),
      col('Age'),
      col('Containers', 'string', 1),
      col('Images', 'string', 1),
      col('Selector', 'string', 1),
    ],
    row(o, now) {
      const d = o as Deployment;
      const [cs, imgs] = templateInfo(d.spec);
      return [
        o.metadata.name ?? '',
        `${d.status?.readyReplicas ?? 0}/${d.spec.replicas ?? 0}`,
        d.status?.updatedReplicas ?? 0,
        d.status?.availableReplicas ?? 0,
        age(o, now),
        cs,
        imgs,
        selectorText(d.spec.selector),
      ];
    },
  },
  replicasets: {
    columns: [
      col('Name'),
      col('Desired', 'integer'),
      col('Current', 'integer'),
      col('Ready', 'integer'),
      col('Age'),
      col('Containers', 'string', 1),
      col('Images', 'string', 1),
      col('Selector', 'string', 1),
    ],
    row(o, now) {
      const r = o as ReplicaSet;
      const [cs, imgs] = templateInfo(r.spec);
      return [
        o.metadata.name ?? '',
        r.spec.replicas ?? 0,
        r.status?.replicas ?? 0,
        r.status?.readyReplicas ?? 0,
        age(o, now),
        cs,
        imgs,
        selectorText(r.spec.selector),
      ];
    },
  },
  daemonsets: {
    columns: [
      col('Name'),
      col('Desired', 'integer'),
      col('Current', 'integer'),
      col('Ready', 'integer'),
      col('Up-to-date', 'integer'),
      col('Available', 'integer'),
      col('Node Selector'),
      col('Age'),
      col('Containers', 'string', 1),
      col('Images', 'string', 1),
      col('Selector', 'string', 1),
    ],
    row(o, now) {
      const d = o as DaemonSet;
      const [cs, imgs] = templateInfo(d.spec);
      const ns =
        Object.entries(d.spec.template.spec.nodeSelector ?? {})
          .map(([k, v]) => `${k}=${v}`)
          .join(',') || '<none>';
      const s = d.status;
      return [
        o.metadata.name ?? '',
        s?.desiredNumberScheduled ?? 0,
        s?.currentNumberScheduled ?? 0,
        s?.numberReady ?? 0,
        s?.updatedNumberScheduled ?? 0,
        s?.numberAvailable ?? 0,
        ns,
        age(o, now),
        cs,
        imgs,
        selectorText(d.spec.selector),
      ];
    },
  },
  statefulsets: {
    columns: [
      col('Name'),
      col('Ready'),
      col('Age'),
      col('Containers', 'string', 1),
      col('Images', 'string', 1),
    ],
    row(o, now) {
      const s = o as StatefulSet;
      const [cs, imgs] = templateInfo(s.spec);
      return [
        o.metadata.name ?? '',
        `${s.status?.readyReplicas ?? 0}/${s.spec.replicas ?? 0}`,
        age(o, now),
        cs,
        imgs,
      ];
    },
  },
  jobs: {
    columns: [
      col('Name'),
      col('Status'),
      col('Completions'),
      col('Duration'),
      col('Age'),
      col('Containers', 'string', 1),
      col('Images', 'string', 1),
      col('Selector', 'string', 1),
    ],
    row(o, now) {
      const j = o as Job;
      const conds = j.status?.conditions ?? [];
      const status = conds.some((c) => c.type === 'Complete' && c.status === 'True')
        ? 'Complete'
        : conds.some((c) => c.type === 'Failed' && c.status === 'True')
          ? 'Failed'
          : 'Running';
      const start = j.status?.startTime ? Date.parse(j.status.startTime) : undefined;
      const end = j.status?.completionTime ? Date.parse(j.status.completionTime) : now;
      const [cs, imgs] = templateInfo(j.spec);
      return [
        o.metadata.name ?? '',
        status,
        `${j.status?.succeeded ?? 0}/${j.spec.completions ?? 1}`,
        start ? humanDuration(end - start) : '',
        age(o, now),
        cs,
        imgs,
        selectorText(j.spec.selector),
      ];
    },
  },
  poddisruptionbudgets: {
    columns: [
      col('Name'),
      col('Min Available'),
      col('Max Unavailable'),
      col('Allowed Disruptions', 'integer'),
      col('Age'),
    ],
    row(o, now) {
      const p = o as PodDisruptionBudget;
      return [
        o.metadata.name ?? '',
        intOrString(p.spec.minAvailable),
        intOrString(p.spec.maxUnavailable),
        p.status?.disruptionsAllowed ?? 0,
        age(o, now),
      ];
    },
  },
  leases: {
    columns: [col('Name'), col('Holder'), col('Age')],
    row: (o, now) => [o.metadata.name ?? '', (o as Lease).spec.holderIdentity ?? '', age(o, now)],
  },
  events: {
    columns: [
      col('Last Seen'),
      col('Type'),
      col('Reason'),
      col('Object'),
      col('Subobject', 'string', 1),
      col('Source', 'string', 1),
      col('Message'),
      col('First Seen', 'string', 1),
      col('Count', 'integer', 1),
      col('Name', 'string', 1),
    ],
    row(o, now) {
      const e = o as KubeEvent;
      const last = e.lastTimestamp ?? e.eventTime ?? e.metadata.creationTimestamp ?? undefined;
      const obj = `${(e.involvedObject.kind ?? '').toLowerCase()}/${e.involvedObject.name ?? ''}`;
      const src = [e.source?.component, e.source?.host].filter(Boolean).join(', ');
      return [
        since(last ?? undefined, now),
        e.type ?? '',
        e.reason ?? '',
        obj,
        e.involvedObject.fieldPath ?? '',
        src,
        e.message ?? '',
        since(e.firstTimestamp ?? last ?? undefined, now),
        e.count ?? 1,
        o.metadata.name ?? '',
      ];
    },
  },
  services: {
    columns: [
      col('Name'),
      col('Type'),
      col('Cluster-IP'),
      col('External-IP'),
      col('Port(s)'),
      col('Age'),
      col('Selector', 'string', 1),
    ],
    row(o, now) {
      const spec = (isRecord(o['spec']) ? o['spec'] : {}) as {
        type?: string;
        clusterIP?: string;
        ports?: { port: number; protocol?: string }[];
        selector?: Record<string, string>;
      };
      const ports = (spec.ports ?? []).map((p) => `${p.port}/${p.protocol ?? 'TCP'}`).join(',') || '<none>';
      const sel =
        Object.entries(spec.selector ?? {})
          .map(([k, v]) => `${k}=${v}`)
          .join(',') || '<none>';
      return [
        o.metadata.name ?? '',
        spec.type ?? 'ClusterIP',
        spec.clusterIP ?? '<none>',
        '<none>',
        ports,
        age(o, now),
        sel,
      ];
    },
  },
  configmaps: {
    columns: [col('Name'), col('Data', 'integer'), col('Age')],
    row: (o, now) => [
      o.metadata.name ?? '',
      Object.keys(isRecord(o['data']) ? o['data'] : {}).length +
        Object.keys(isRecord(o['binaryData']) ? o['binaryData'] : {}).length,
      age(o, now),
    ],
  },
  secrets: {
    columns: [col('Name'), col('Type'), col('Data', 'integer'), col('Age')],
    row: (o, now) => [
      o.metadata.name ?? '',
      String(o['type'] ?? 'Opaque'),
      Object.keys(isRecord(o['data']) ? o['data'] : {}).length,
      age(o, now),
    ],
  },
  serviceaccounts: {
    columns: [col('Name'), col('Secrets', 'integer'), col('Age')],
    row: (o, now) => [
      o.metadata.name ?? '',
      Array.isArray(o['secrets']) ? o['secrets'].length : 0,
      age(o, now),
    ],
  },
  rolebindings: bindingPrinter(),
  clusterrolebindings: bindingPrinter(),
  controllerrevisions: {
    columns: [col('Name'), col('Controller'), col('Revision', 'integer'), col('Age')],
    row(o, now) {
      const ref = o.metadata.ownerReferences?.find((r) => r.controller);
      return [
        o.metadata.name ?? '',
        ref ? `${ref.kind.toLowerCase()}.${ref.apiVersion.split('/')[0] ?? ''}/${ref.name}` : '<none>',
        Number(o['revision'] ?? 0),
        age(o, now),
      ];
    },
  },
};

/** How much of each object a Table row carries (?includeObject=). */
export type IncludeObject = 'None' | 'Metadata' | 'Object';

/** Converts objects to a meta.k8s.io/v1 Table. */
export function toTable(
  r: ResourceType,
  items: KubeObject[],
  resourceVersion: string,
  include: IncludeObject,
  now: number,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  const printer: Printer = PRINTERS[r.resource] ?? {
    columns: [col('Name'), col('Created At', 'date')],
    row: (o: KubeObject) => [o.metadata.name ?? '', o.metadata.creationTimestamp ?? ''],
  };
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: { resourceVersion, ...extra },
    columnDefinitions: printer.columns,
    rows: items.map((o) => ({
      cells: printer.row(o, now),
      object:
        include === 'None'
          ? undefined
          : include === 'Object'
            ? { ...o, apiVersion: o.apiVersion, kind: o.kind }
            : { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: o.metadata },
    })),
  };
}
