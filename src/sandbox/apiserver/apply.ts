// Server-side apply (PATCH with application/apply-patch+yaml), what helm 4 sends for every object
// it installs: the applied configuration is the applier's intent. Its field set (in managedFields'
// FieldsV1 form: "f:" fields, "k:{...}" items of keyed lists, "v:" items of sets, "." for an item
// itself) becomes the applier's entry; fields the applier owned before and no longer applies are
// removed unless another manager owns them; the configuration is merged into the live object with
// the list semantics of the built-in types (containers by name, container ports by containerPort
// and protocol, env by name, volumeMounts by mountPath, finalizers as a set, other lists atomic);
// and a field another manager owns with a different value is a conflict (409, kube's message)
// unless force=true, which takes it over. Managers are tracked for applies only: the sandbox
// records no managedFields for create, update or patch, so it cannot report a conflict with a
// field a non-apply client set. Pure: no I/O.
import { isRecord } from './types.ts';

type Json = unknown;

/** One element of a field path. */
type PathElement = string;

/** A set of field paths, each path's elements joined by '\n'. */
export type FieldSet = Set<string>;

/** metav1.ManagedFieldsEntry. */
export interface ManagedFieldsEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time?: string;
  fieldsType: 'FieldsV1';
  fieldsV1: Record<string, unknown>;
  subresource?: string;
}

/** Top-level and metadata fields that are never owned. */
const IGNORED_TOP = new Set(['apiVersion', 'kind', 'status']);
const IGNORED_META = new Set([
  'name',
  'namespace',
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'managedFields',
  'selfLink',
]);

const NAME_KEYED = new Set([
  'containers',
  'initContainers',
  'ephemeralContainers',
  'volumes',
  'imagePullSecrets',
  'env',
  'resourceClaims',
]);

/** The list semantics of a field, from the path of field names above it. */
function listType(fields: readonly string[], field: string): string[] | 'set' | 'atomic' {
  if (NAME_KEYED.has(field)) return ['name'];
  if (field === 'ports') {
    const inContainer = fields.some((f) => f === 'containers' || f === 'initContainers');
    return inContainer ? ['containerPort', 'protocol'] : ['port', 'protocol'];
  }
  if (field === 'volumeMounts') return ['mountPath'];
  if (field === 'volumeDevices') return ['devicePath'];
  if (field === 'conditions') return ['type'];
  if (field === 'ownerReferences') return ['uid'];
  if (field === 'hostAliases') return ['ip'];
  if (field === 'readinessGates') return ['conditionType'];
  if (field === 'topologySpreadConstraints') return ['topologyKey', 'whenUnsatisfiable'];
  if (field === 'finalizers') return 'set';
  return 'atomic';
}

/** The key of a keyed list's item, with kube's defaults for a missing protocol. */
function itemKey(item: Record<string, Json>, keys: string[]): string {
  const k: Record<string, Json> = {};
  for (const name of [...keys].sort()) {
    let v = item[name];
    if (v === undefined && name === 'protocol') v = 'TCP';
    if (v !== undefined) k[name] = v;
  }
  return `k:${JSON.stringify(k)}`;
}

/** The field set of an applied configuration. */
export function fieldSetOf(config: Record<string, Json>): FieldSet {
  const out: FieldSet = new Set();
  const walk = (v: Json, path: PathElement[], fields: string[]): void => {
    if (isRecord(v)) {
      const entries = Object.entries(v);
      if (entries.length === 0 && path.length > 0) {
        out.add(path.join('\n'));
        return;
      }
      for (const [k, child] of entries) {
        if (path.length === 0 && IGNORED_TOP.has(k)) continue;
        if (path.length === 1 && path[0] === 'f:metadata' && IGNORED_META.has(k)) continue;
        const p = [...path, `f:${k}`];
        if (Array.isArray(child)) {
          const lt = listType(fields, k);
          if (lt === 'atomic') out.add(p.join('\n'));
          else if (lt === 'set')
            for (const item of child) out.add([...p, `v:${JSON.stringify(item)}`].join('\n'));
          else
            for (const item of child) {
              if (!isRecord(item)) continue;
              const ip = [...p, itemKey(item, lt)];
              out.add([...ip, '.'].join('\n'));
              walk(item, ip, [...fields, k]);
            }
        } else if (isRecord(child)) walk(child, p, [...fields, k]);
        else out.add(p.join('\n'));
      }
      return;
    }
    if (path.length > 0) out.add(path.join('\n'));
  };
  walk(config, [], []);
  return out;
}

/** FieldsV1 JSON (nested objects, "." for an item itself) of a field set. */
export function toFieldsV1(set: FieldSet): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const p of [...set].sort()) {
    let cur = root;
    for (const el of p.split('\n')) {
      cur[el] ??= {};
      cur = cur[el] as Record<string, unknown>;
    }
  }
  return root;
}

/** The field set of a FieldsV1 document. */
export function fromFieldsV1(doc: unknown): FieldSet {
  const out: FieldSet = new Set();
  const walk = (v: unknown, path: string[]): void => {
    if (!isRecord(v)) return;
    const keys = Object.keys(v);
    if (keys.length === 0 && path.length > 0) {
      out.add(path.join('\n'));
      return;
    }
    for (const k of keys) walk(v[k], [...path, k]);
  };
  walk(doc, []);
  return out;
}

/** The value at a field path (undefined when absent). */
function valueAt(obj: Json, path: string): Json {
  let cur: Json = obj;
  for (const el of path.split('\n')) {
    if (el === '.') return cur;
    if (el.startsWith('f:')) {
      if (!isRecord(cur)) return undefined;
      cur = cur[el.slice(2)];
    } else if (el.startsWith('k:')) {
      if (!Array.isArray(cur)) return undefined;
      const want = JSON.parse(el.slice(2)) as Record<string, Json>;
      cur = cur.find(
        (i: Json) =>
          isRecord(i) &&
          Object.entries(want).every(([k, v]) => (i[k] ?? (k === 'protocol' ? 'TCP' : undefined)) === v),
      );
    } else if (el.startsWith('v:')) {
      if (!Array.isArray(cur)) return undefined;
      const want = el.slice(2);
      return cur.some((i: Json) => JSON.stringify(i) === want) ? JSON.parse(want) : undefined;
    } else return undefined;
  }
  return cur;
}

/** Removes the field at a path from obj (an item of a list for a "." or "v:" path). */
function removeAt(obj: Json, path: string): void {
  const els = path.split('\n');
  let parent: Json = obj;
  for (let i = 0; i < els.length - 1; i++) {
    const el = els[i] ?? '';
    const last = els[i + 1];
    if (el.startsWith('k:') && last === '.' && i === els.length - 2 && Array.isArray(parent)) {
      const want = JSON.parse(el.slice(2)) as Record<string, Json>;
      const idx = parent.findIndex(
        (it: Json) =>
          isRecord(it) &&
          Object.entries(want).every(([k, v]) => (it[k] ?? (k === 'protocol' ? 'TCP' : undefined)) === v),
      );
      if (idx >= 0) parent.splice(idx, 1);
      return;
    }
    parent = valueAt(parent, el);
    if (parent === undefined) return;
  }
  const leaf = els[els.length - 1] ?? '';
  if (leaf.startsWith('f:') && isRecord(parent)) delete parent[leaf.slice(2)];
  else if (leaf.startsWith('v:') && Array.isArray(parent)) {
    const idx = parent.findIndex((i: Json) => JSON.stringify(i) === leaf.slice(2));
    if (idx >= 0) parent.splice(idx, 1);
  }
}

/** Merges an applied configuration into the live object with the built-in types' list semantics. */
export function mergeApplied(live: Json, config: Json, fields: string[] = []): Json {
  if (!isRecord(config) || !isRecord(live)) return structuredClone(config);
  const out: Record<string, Json> = { ...live };
  for (const [k, v] of Object.entries(config)) {
    if (Array.isArray(v)) {
      const lt = listType(fields, k);
      const cur = out[k];
      if (lt === 'atomic' || !Array.isArray(cur)) out[k] = structuredClone(v);
      else if (lt === 'set') {
        const merged = [...cur];
        for (const item of v)
          if (!merged.some((m) => JSON.stringify(m) === JSON.stringify(item))) merged.push(item);
        out[k] = merged;
      } else {
        const merged = [...cur];
        for (const item of v) {
          if (!isRecord(item)) continue;
          const key = itemKey(item, lt);
          const idx = merged.findIndex((m) => isRecord(m) && itemKey(m, lt) === key);
          if (idx >= 0) merged[idx] = mergeApplied(merged[idx], item, [...fields, k]);
          else merged.push(structuredClone(item));
        }
        out[k] = merged;
      }
    } else if (isRecord(v) && isRecord(out[k])) out[k] = mergeApplied(out[k], v, [...fields, k]);
    else out[k] = structuredClone(v);
  }
  return out;
}

/** A field another manager owns with another value. */
export interface ApplyConflict {
  manager: string;
  apiVersion: string;
  /** kube's form: ".spec.replicas", `.spec.containers[name="c"].image`. */
  field: string;
}

/** A field path as kube prints it in a conflict. */
export function printPath(path: string): string {
  let s = '';
  for (const el of path.split('\n')) {
    if (el === '.') continue;
    if (el.startsWith('f:')) s += `.${el.slice(2)}`;
    else if (el.startsWith('k:')) {
      const k = JSON.parse(el.slice(2)) as Record<string, Json>;
      s += `[${Object.entries(k)
        .map(([n, v]) => `${n}=${JSON.stringify(v)}`)
        .join(',')}]`;
    } else if (el.startsWith('v:')) s += `[=${el.slice(2)}]`;
  }
  return s;
}

/** The outcome of an apply on an existing object. */
export interface ApplyResult {
  /** The object to store (managedFields updated). */
  object: Record<string, Json>;
  /** Conflicts (nothing to store when non-empty and not forced). */
  conflicts: ApplyConflict[];
}

/**
 * Applies `config` by `manager` onto `live` (which carries its managedFields).
 * @param now RFC 3339 time of the apply, for the manager's entry.
 */
export function applyTo(
  live: Record<string, Json>,
  config: Record<string, Json>,
  opts: { manager: string; apiVersion: string; force: boolean; now: string },
): ApplyResult {
  const meta = isRecord(live['metadata']) ? live['metadata'] : {};
  const entries = (Array.isArray(meta['managedFields']) ? meta['managedFields'] : []).filter(
    (e): e is ManagedFieldsEntry => isRecord(e) && typeof e['manager'] === 'string',
  );
  const mine = entries.find((e) => e.manager === opts.manager && e.operation === 'Apply' && !e.subresource);
  const others = entries.filter((e) => e !== mine);
  const prev = mine ? fromFieldsV1(mine.fieldsV1) : new Set<string>();
  const next = fieldSetOf(config);
  const otherSets = others.map((e) => ({ e, set: fromFieldsV1(e.fieldsV1) }));
  const conflicts: ApplyConflict[] = [];
  for (const p of next) {
    // An item's identity is its key, and a map left empty owns only itself: neither can differ.
    if (p.endsWith('\n.')) continue;
    const want = valueAt(config, p);
    if (isRecord(want)) continue;
    if (JSON.stringify(valueAt(live, p)) === JSON.stringify(want)) continue;
    for (const o of otherSets)
      if (o.set.has(p))
        conflicts.push({ manager: o.e.manager, apiVersion: o.e.apiVersion, field: printPath(p) });
  }
  if (conflicts.length > 0 && !opts.force) return { object: live, conflicts };
  if (opts.force) for (const o of otherSets) for (const p of next) o.set.delete(p);
  const obj = structuredClone(live);
  for (const p of prev) {
    if (next.has(p) || otherSets.some((o) => o.set.has(p))) continue;
    removeAt(obj, p);
  }
  const merged = mergeApplied(obj, config) as Record<string, Json>;
  const mergedMeta = isRecord(merged['metadata']) ? merged['metadata'] : {};
  const managed: ManagedFieldsEntry[] = [
    ...otherSets.filter((o) => o.set.size > 0).map((o) => ({ ...o.e, fieldsV1: toFieldsV1(o.set) })),
    {
      manager: opts.manager,
      operation: 'Apply',
      apiVersion: opts.apiVersion,
      time: opts.now,
      fieldsType: 'FieldsV1',
      fieldsV1: toFieldsV1(next),
    },
  ];
  merged['metadata'] = { ...mergedMeta, managedFields: managed };
  return { object: merged, conflicts: opts.force ? [] : conflicts };
}

/** The managedFields of an object an apply creates. */
export function createdManagedFields(
  config: Record<string, Json>,
  opts: { manager: string; apiVersion: string; now: string },
): ManagedFieldsEntry[] {
  return [
    {
      manager: opts.manager,
      operation: 'Apply',
      apiVersion: opts.apiVersion,
      time: opts.now,
      fieldsType: 'FieldsV1',
      fieldsV1: toFieldsV1(fieldSetOf(config)),
    },
  ];
}

/**
 * kube's 409 for an apply with conflicts: `Apply failed with 1 conflict: conflict with "helm"
 * using apps/v1: .spec.replicas`.
 */
export function conflictMessage(conflicts: readonly ApplyConflict[]): string {
  const n = conflicts.length;
  const lines = conflicts.map((c) => `conflict with "${c.manager}" using ${c.apiVersion}: ${c.field}`);
  return n === 1
    ? `Apply failed with 1 conflict: ${lines[0] ?? ''}`
    : `Apply failed with ${n} conflicts: ${lines.join('\n')}`;
}
