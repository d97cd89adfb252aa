// The three patch types kube-apiserver accepts: JSON merge patch (RFC 7386), strategic merge patch
// (the subset kubectl sends: merge keys for the lists maintenance touches, $patch and
// $deleteFromPrimitiveList directives) and JSON patch (RFC 6902).
import { isRecord } from './types.ts';

/** Raised for a patch that cannot be applied (answered as 400 or 422). */
export class PatchError extends Error {}

type Json = unknown;

/** RFC 7386: objects merge recursively, null deletes, anything else replaces. */
export function mergePatch(target: Json, patch: Json): Json {
  if (!isRecord(patch)) return patch;
  const out: Record<string, Json> = isRecord(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

/**
 * Merge keys of the lists a strategic merge patch merges instead of replacing
 * (the patchMergeKey tags in k8s.io/api). Lists not named here are replaced, as kube does
 * for lists without a patch strategy (e.g. tolerations, taints).
 */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  volumes: 'name',
  imagePullSecrets: 'name',
  env: 'name',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  conditions: 'type',
  ownerReferences: 'uid',
  addresses: 'type',
  hostAliases: 'ip',
  topologySpreadConstraints: 'topologyKey',
  resourceClaims: 'name',
};

/** Lists of scalars that merge as sets (patchStrategy:"merge" on []string). */
const PRIMITIVE_MERGE = new Set(['finalizers']);

function mergeKeyFor(field: string, path: string[]): string | undefined {
  if (field === 'ports') {
    // Service ports merge by port; container ports by containerPort.
    return path[path.length - 1] === 'spec' && path.length === 1 ? 'port' : 'containerPort';
  }
  return MERGE_KEYS[field];
}

function smpList(field: string, path: string[], target: Json, patch: Json[]): Json[] {
  const key = mergeKeyFor(field, path);
  const cur = Array.isArray(target) ? [...target] : [];
  if (PRIMITIVE_MERGE.has(field)) {
    for (const v of patch) if (!cur.includes(v)) cur.push(v);
    return cur;
  }
  if (key === undefined) {
    // No strategy: replace, but honour a {"$patch":"replace"} marker if present.
    return patch.filter((e) => !(isRecord(e) && e['$patch'] === 'replace'));
  }
  if (patch.some((e) => isRecord(e) && e['$patch'] === 'replace')) {
    return patch.filter((e) => !(isRecord(e) && e['$patch'] === 'replace'));
  }
  for (const item of patch) {
    if (!isRecord(item))
      throw new PatchError(
        `unable to find api field in struct for the list "${field}": element is not an object`,
      );
    const id = item[key];
    const idx = cur.findIndex((e) => isRecord(e) && e[key] === id);
    if (item['$patch'] === 'delete') {
      if (idx >= 0) cur.splice(idx, 1);
      continue;
    }
    if (idx >= 0) cur[idx] = strategicMergePatch(cur[idx], item, [...path, field]);
    else cur.push(strategicMergePatch(undefined, item, [...path, field]));
  }
  return cur;
}

/** Applies a strategic merge patch (the subset described above). path is the field path so far. */
export function strategicMergePatch(target: Json, patch: Json, path: string[] = []): Json {
  if (!isRecord(patch)) return patch;
  if (patch['$patch'] === 'replace') {
    const { $patch: _p, ...rest } = patch;
    return rest;
  }
  if (patch['$patch'] === 'delete') return undefined;
  const out: Record<string, Json> = isRecord(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k.startsWith('$setElementOrder/') || k === '$retainKeys') continue;
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      const list = out[field];
      if (Array.isArray(list) && Array.isArray(v)) out[field] = list.filter((e) => !v.includes(e));
      continue;
    }
    if (v === null) delete out[k];
    else if (Array.isArray(v)) out[k] = smpList(k, path, out[k], v);
    else if (isRecord(v)) {
      const merged = strategicMergePatch(out[k], v, [...path, k]);
      if (merged === undefined) delete out[k];
      else out[k] = merged;
    } else out[k] = v;
  }
  return out;
}

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new PatchError(`invalid JSON pointer "${path}"`);
  return path
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function parentOf(
  doc: Json,
  parts: string[],
  op: string,
): { parent: Record<string, Json> | Json[]; last: string } {
  let cur: Json = doc;
  for (const p of parts.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(p)];
    else if (isRecord(cur)) cur = cur[p];
    else cur = undefined;
    if (cur === undefined)
      throw new PatchError(`${op} operation does not apply: doc is missing path: /${parts.join('/')}`);
  }
  if (!Array.isArray(cur) && !isRecord(cur))
    throw new PatchError(`${op} operation does not apply: doc is missing path: /${parts.join('/')}`);
  return { parent: cur, last: parts[parts.length - 1] ?? '' };
}

function getAt(doc: Json, parts: string[]): Json {
  let cur: Json = doc;
  for (const p of parts) {
    if (Array.isArray(cur)) cur = cur[Number(p)];
    else if (isRecord(cur)) cur = cur[p];
    else return undefined;
  }
  return cur;
}

/** RFC 6902 JSON patch. */
export function jsonPatch(doc: Json, ops: Json): Json {
  if (!Array.isArray(ops))
    throw new PatchError('json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  let out: Json = structuredClone(doc);
  for (const raw of ops) {
    if (!isRecord(raw) || typeof raw['op'] !== 'string' || typeof raw['path'] !== 'string') {
      throw new PatchError('invalid JSON patch operation');
    }
    const op = raw['op'];
    const parts = pointer(raw['path']);
    const value = structuredClone(raw['value']);
    if (op === 'test') {
      if (JSON.stringify(getAt(out, parts)) !== JSON.stringify(value))
        throw new PatchError(`testing value /${parts.join('/')} failed: test failed`);
      continue;
    }
    if (op === 'move' || op === 'copy') {
      const from = pointer(String(raw['from'] ?? ''));
      const v = structuredClone(getAt(out, from));
      if (v === undefined)
        throw new PatchError(
          `${op} operation does not apply: doc is missing from path: ${String(raw['from'])}`,
        );
      if (op === 'move') out = jsonPatch(out, [{ op: 'remove', path: raw['from'] }]);
      out = jsonPatch(out, [{ op: 'add', path: raw['path'], value: v }]);
      continue;
    }
    if (parts.length === 0) {
      if (op === 'remove') throw new PatchError('remove operation does not apply: doc is missing path: ');
      out = value;
      continue;
    }
    const { parent, last } = parentOf(out, parts, op);
    if (Array.isArray(parent)) {
      const idx = last === '-' ? parent.length : Number(last);
      if (!Number.isInteger(idx) || idx < 0 || idx > parent.length)
        throw new PatchError(`${op} operation does not apply: index out of range: ${last}`);
      if (op === 'add') parent.splice(idx, 0, value);
      else if (op === 'remove') {
        if (idx >= parent.length)
          throw new PatchError(`remove operation does not apply: doc is missing path: /${parts.join('/')}`);
        parent.splice(idx, 1);
      } else if (op === 'replace') {
        if (idx >= parent.length)
          throw new PatchError(`replace operation does not apply: doc is missing key: /${parts.join('/')}`);
        parent[idx] = value;
      } else throw new PatchError(`Unexpected kind: ${op}`);
    } else {
      if (op === 'add') parent[last] = value;
      else if (op === 'remove' || op === 'replace') {
        if (!(last in parent))
          throw new PatchError(`${op} operation does not apply: doc is missing path: /${parts.join('/')}`);
        if (op === 'remove') delete parent[last];
        else parent[last] = value;
      } else throw new PatchError(`Unexpected kind: ${op}`);
    }
  }
  return out;
}
