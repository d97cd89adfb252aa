// What a request asks for, in the authorizer's terms: kube-apiserver's RequestInfo
// (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go). A path under /api or /apis/GROUP with
// a version is a resource request (verb from the method: get/list/watch, create, update, patch,
// delete/deletecollection; namespace, resource, name, subresource from the path); anything else is
// a non-resource request whose verb is the lowercase method. RBAC rules, the audit record and the
// 403 message are all written in these terms. Pure: no I/O.
import { parseFieldSelector, SelectorError } from './selectors.ts';

/** authorizer.Attributes of one request, without the user. */
export interface RequestAttributes {
  /** A request for an API resource or subresource (else a non-resource path such as /version). */
  isResourceRequest: boolean;
  /** The URL path. */
  path: string;
  /** get, list, watch, create, update, patch, delete, deletecollection; or the lowercase HTTP method. */
  verb: string;
  /** "" for the core group. */
  apiGroup: string;
  apiVersion: string;
  /** "" when the request names no namespace (cluster-scoped, or all namespaces). */
  namespace: string;
  /** Plural, lower case: "pods". */
  resource: string;
  subresource: string;
  /** "" unless the path (or a list's `metadata.name=` field selector) names one object. */
  name: string;
}

/** Subresources of a namespace, which requestinfo.go keeps apart from namespaced resources. */
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

/** The attributes of a request for a non-resource path (verb: the lowercase HTTP method). */
export function nonResourceAttributes(verb: string, path: string): RequestAttributes {
  return {
    isResourceRequest: false,
    path,
    verb: verb.toLowerCase(),
    apiGroup: '',
    apiVersion: '',
    namespace: '',
    resource: '',
    subresource: '',
    name: '',
  };
}

/** path.IsValidPathSegmentName: a name that can stand as one path segment. */
function isValidPathSegmentName(name: string): boolean {
  return name !== '.' && name !== '..' && !name.includes('/') && !name.includes('%');
}

/** The name an exact `metadata.name=` term of a field selector requires, if any. */
function fieldSelectorName(selector: string | null): string | undefined {
  if (!selector) return undefined;
  try {
    const terms = parseFieldSelector(selector);
    const exact = terms.filter((t) => t.field === 'metadata.name' && t.op === '=');
    return exact.length === 1 ? exact[0]?.value : undefined;
  } catch (e) {
    if (e instanceof SelectorError) return undefined;
    throw e;
  }
}

/**
 * The RequestInfo kube-apiserver derives from a request.
 * @param method HTTP method ("GET").
 * @param path URL path, not decoded ("/api/v1/namespaces/x/pods").
 * @param query the query string's parameters (watch, fieldSelector).
 */
export function requestInfo(method: string, path: string, query: URLSearchParams): RequestAttributes {
  const parts = path
    .replace(/^\/+|\/+$/g, '')
    .split('/')
    .filter((p, i, all) => !(p === '' && all.length === 1));
  if (parts.length < 3) return nonResourceAttributes(method, path);
  const prefix = parts[0];
  if (prefix !== 'api' && prefix !== 'apis') return nonResourceAttributes(method, path);
  let cur = parts.slice(1);
  let apiGroup = '';
  if (prefix === 'apis') {
    if (cur.length < 3) return nonResourceAttributes(method, path);
    apiGroup = cur[0] ?? '';
    cur = cur.slice(1);
  }
  const info: RequestAttributes = {
    isResourceRequest: true,
    path,
    verb: '',
    apiGroup,
    apiVersion: cur[0] ?? '',
    namespace: '',
    resource: '',
    subresource: '',
    name: '',
  };
  cur = cur.slice(1);
  if (cur[0] === 'watch' || cur[0] === 'proxy') {
    // Special verbs in the path (/api/v1/watch/pods); the sandbox serves neither, but RBAC sees them so.
    info.verb = cur[0];
    cur = cur.slice(1);
    if (cur.length === 0) return info;
  } else {
    const verbs: Record<string, string> = {
      POST: 'create',
      GET: 'get',
      HEAD: 'get',
      PUT: 'update',
      PATCH: 'patch',
      DELETE: 'delete',
    };
    info.verb = verbs[method.toUpperCase()] ?? '';
  }
  if (cur[0] === 'namespaces') {
    if (cur.length > 1) {
      info.namespace = decodeURIComponent(cur[1] ?? '');
      if (cur.length > 2 && !NAMESPACE_SUBRESOURCES.has(cur[2] ?? '')) cur = cur.slice(2);
    }
  }
  const dec = (s: string | undefined): string => decodeURIComponent(s ?? '');
  if (cur.length >= 3 && info.verb !== 'proxy') info.subresource = dec(cur[2]);
  if (cur.length >= 2) info.name = dec(cur[1]);
  if (cur.length >= 1) info.resource = dec(cur[0]);
  if (info.name === '' && info.verb === 'get') {
    const watch = query.getAll('watch');
    info.verb =
      watch.length > 0 && !['false', '0'].includes((watch[0] ?? '').toLowerCase()) ? 'watch' : 'list';
    const name = fieldSelectorName(query.get('fieldSelector'));
    if (name !== undefined && isValidPathSegmentName(name)) info.name = name;
  }
  if (info.name === '' && info.verb === 'delete') info.verb = 'deletecollection';
  return info;
}
