// Discovery documents (/api, /api/v1, /apis, /apis/GROUP, /apis/GROUP/VERSION, /version) in the
// shapes kube-apiserver serves, which kubectl and client-go read to find resources and to check
// that pods/eviction exists (kubectl pkg/drain CheckEvictionSupport).
import { apiGroups, groupVersion, RESOURCES, type ResourceType } from './resources.ts';

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

function resourceEntries(r: ResourceType): Record<string, unknown>[] {
  const verbs =
    r.verbs ?? (r.resource === 'namespaces' ? VERBS.filter((v) => v !== 'deletecollection') : VERBS);
  const out: Record<string, unknown>[] = [
    {
      name: r.resource,
      singularName: r.singular,
      namespaced: r.namespaced,
      kind: r.kind,
      verbs,
      ...(r.shortNames.length ? { shortNames: r.shortNames } : {}),
      ...(r.categories.length ? { categories: r.categories } : {}),
    },
  ];
  for (const sub of r.subresources) {
    if (sub === 'status')
      out.push({
        name: `${r.resource}/status`,
        singularName: '',
        namespaced: r.namespaced,
        kind: r.kind,
        verbs: ['get', 'patch', 'update'],
      });
    if (sub === 'eviction')
      out.push({
        name: `${r.resource}/eviction`,
        singularName: '',
        namespaced: r.namespaced,
        group: 'policy',
        version: 'v1',
        kind: 'Eviction',
        verbs: ['create'],
      });
    if (sub === 'token')
      out.push({
        name: `${r.resource}/token`,
        singularName: '',
        namespaced: r.namespaced,
        group: 'authentication.k8s.io',
        version: 'v1',
        kind: 'TokenRequest',
        verbs: ['create'],
      });
    if (sub === 'log')
      out.push({
        name: `${r.resource}/log`,
        singularName: '',
        namespaced: r.namespaced,
        kind: 'Pod',
        verbs: ['get'],
      });
    if (sub === 'scale')
      out.push({
        name: `${r.resource}/scale`,
        singularName: '',
        namespaced: r.namespaced,
        group: 'autoscaling',
        version: 'v1',
        kind: 'Scale',
        verbs: ['get', 'patch', 'update'],
      });
    if (sub === 'binding')
      out.push({
        name: `${r.resource}/binding`,
        singularName: '',
        namespaced: r.namespaced,
        kind: 'Binding',
        verbs: ['create'],
      });
  }
  if (r.resource === 'namespaces')
    out.push({
      name: 'namespaces/finalize',
      singularName: '',
      namespaced: false,
      kind: 'Namespace',
      verbs: ['update'],
    });
  return out;
}

/** GET /api */
export function apiVersions(serverAddress: string): Record<string, unknown> {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

/** GET /api/v1 or /apis/GROUP/VERSION; undefined for an unknown group/version. */
export function resourceList(group: string, version: string): Record<string, unknown> | undefined {
  const rs = RESOURCES.filter((r) => r.group === group && r.version === version);
  if (rs.length === 0) return undefined;
  return {
    kind: 'APIResourceList',
    apiVersion: 'v1',
    groupVersion: groupVersion({ group, version }),
    resources: rs.flatMap(resourceEntries),
  };
}

function groupDoc(name: string, version: string): Record<string, unknown> {
  const gv = { groupVersion: `${name}/${version}`, version };
  return { name, versions: [gv], preferredVersion: gv };
}

/** GET /apis */
export function apiGroupList(): Record<string, unknown> {
  return {
    kind: 'APIGroupList',
    apiVersion: 'v1',
    groups: apiGroups().map((g) => groupDoc(g.name, g.version)),
  };
}

/** GET /apis/GROUP */
export function apiGroup(name: string): Record<string, unknown> | undefined {
  const g = apiGroups().find((x) => x.name === name);
  return g ? { kind: 'APIGroup', apiVersion: 'v1', ...groupDoc(g.name, g.version) } : undefined;
}

/** GET /version for a kube-apiserver of this version ("v1.34.3"). */
export function versionInfo(gitVersion: string, buildDate: string): Record<string, string> {
  const m = /^v(\d+)\.(\d+)\.(\d+)/.exec(gitVersion);
  const major = m?.[1] ?? '1';
  const minor = m?.[2] ?? '0';
  return {
    major,
    minor,
    emulationMajor: major,
    emulationMinor: minor,
    minCompatibilityMajor: major,
    minCompatibilityMinor: String(Math.max(0, Number(minor) - 1)),
    gitVersion,
    gitCommit: '0000000000000000000000000000000000000000',
    gitTreeState: 'clean',
    buildDate,
    goVersion: 'go1.24.9',
    compiler: 'gc',
    platform: 'linux/amd64',
  };
}

/**
 * GET /openapi/v3: the index of per-group-version documents. The sandbox publishes operations
 * and their parameters (what kubectl's QueryParamVerifier reads to use server-side field
 * validation) but no schemas.
 */
export function openApiV3Index(): Record<string, unknown> {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  const gvs = new Set(RESOURCES.map((r) => groupVersion(r)));
  for (const gv of gvs) {
    const p = gv.includes('/') ? `apis/${gv}` : `api/${gv}`;
    paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${gv.replace(/[^a-z0-9]/g, '')}` };
  }
  return { paths };
}

const WRITE_PARAMS = ['dryRun', 'fieldManager', 'fieldValidation'].map((name) => ({
  name,
  in: 'query',
  schema: { type: 'string', uniqueItems: true },
}));

/** GET /openapi/v3/api/v1, /openapi/v3/apis/GROUP/VERSION; undefined for an unknown one. */
export function openApiV3Doc(gvPath: string, version: string): Record<string, unknown> | undefined {
  const gv = gvPath.replace(/^apis?\//, '');
  const rs = RESOURCES.filter((r) => groupVersion(r) === gv);
  if (rs.length === 0) return undefined;
  const paths: Record<string, unknown> = {};
  for (const r of rs) {
    const gvk = { 'x-kubernetes-group-version-kind': { group: r.group, version: r.version, kind: r.kind } };
    const base = `/${gvPath}${r.namespaced ? '/namespaces/{namespace}' : ''}/${r.resource}`;
    const op = (action: string, params: unknown[] = []): Record<string, unknown> => ({
      operationId: `${action}${r.kind}`,
      parameters: params,
      responses: { '200': { description: 'OK' } },
      'x-kubernetes-action': action,
      ...gvk,
    });
    if (r.verbs && !r.verbs.includes('get')) {
      // A review kind: POST only.
      paths[base] = { post: op('post', WRITE_PARAMS) };
      continue;
    }
    paths[base] = { get: op('list'), post: op('post', WRITE_PARAMS), delete: op('deletecollection') };
    paths[`${base}/{name}`] = {
      get: op('get'),
      put: op('put', WRITE_PARAMS),
      patch: op('patch', [...WRITE_PARAMS, { name: 'force', in: 'query', schema: { type: 'boolean' } }]),
      delete: op('delete'),
    };
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version }, paths, components: { schemas: {} } };
}
