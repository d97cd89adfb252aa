import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requestInfo, type RequestAttributes } from './request-info.ts';

const base: RequestAttributes = {
  isResourceRequest: true,
  path: '',
  verb: '',
  apiGroup: '',
  apiVersion: 'v1',
  namespace: '',
  resource: '',
  subresource: '',
  name: '',
};

for (const tc of [
  {
    name: 'a GET on a namespaced collection is list',
    method: 'GET',
    url: '/api/v1/namespaces/shop/pods',
    want: { verb: 'list', namespace: 'shop', resource: 'pods' },
  },
  {
    name: 'watch=true makes it a watch; watch=false or 0 stays a list',
    method: 'GET',
    url: '/api/v1/pods?watch=true',
    want: { verb: 'watch', resource: 'pods' },
  },
  {
    name: 'watch=0 is a list',
    method: 'GET',
    url: '/api/v1/pods?watch=0',
    want: { verb: 'list', resource: 'pods' },
  },
  {
    name: 'a list with an exact metadata.name field selector names the object',
    method: 'GET',
    url: '/api/v1/nodes?fieldSelector=metadata.name%3Dworker-1&watch=1',
    want: { verb: 'watch', resource: 'nodes', name: 'worker-1' },
  },
  {
    name: 'a named GET is get',
    method: 'GET',
    url: '/apis/apps/v1/namespaces/kube-system/daemonsets/kube-proxy',
    want: {
      verb: 'get',
      apiGroup: 'apps',
      namespace: 'kube-system',
      resource: 'daemonsets',
      name: 'kube-proxy',
    },
  },
  {
    name: 'the eviction subresource is a create of pods/eviction',
    method: 'POST',
    url: '/api/v1/namespaces/shop/pods/web-1/eviction',
    want: { verb: 'create', namespace: 'shop', resource: 'pods', name: 'web-1', subresource: 'eviction' },
  },
  {
    name: 'a PATCH of nodes/status',
    method: 'PATCH',
    url: '/api/v1/nodes/worker-1/status',
    want: { verb: 'patch', resource: 'nodes', name: 'worker-1', subresource: 'status' },
  },
  {
    name: 'DELETE on a collection is deletecollection',
    method: 'DELETE',
    url: '/api/v1/namespaces/shop/configmaps',
    want: { verb: 'deletecollection', namespace: 'shop', resource: 'configmaps' },
  },
  {
    name: 'a namespace is its own namespace',
    method: 'GET',
    url: '/api/v1/namespaces/shop',
    want: { verb: 'get', namespace: 'shop', resource: 'namespaces', name: 'shop' },
  },
  {
    name: "a namespace's finalize subresource is not a resource called finalize",
    method: 'PUT',
    url: '/api/v1/namespaces/shop/finalize',
    want: {
      verb: 'update',
      namespace: 'shop',
      resource: 'namespaces',
      name: 'shop',
      subresource: 'finalize',
    },
  },
  {
    name: 'creating a namespace is cluster-scoped',
    method: 'POST',
    url: '/api/v1/namespaces',
    want: { verb: 'create', resource: 'namespaces' },
  },
  {
    name: 'the token subresource of a service account',
    method: 'POST',
    url: '/api/v1/namespaces/bosun-system/serviceaccounts/bosun/token',
    want: {
      verb: 'create',
      namespace: 'bosun-system',
      resource: 'serviceaccounts',
      name: 'bosun',
      subresource: 'token',
    },
  },
]) {
  test(tc.name, () => {
    const u = new URL(tc.url, 'https://x');
    assert.deepEqual(requestInfo(tc.method, u.pathname, u.searchParams), {
      ...base,
      path: u.pathname,
      ...tc.want,
    });
  });
}

for (const tc of [
  { name: '/version is a non-resource get', method: 'GET', path: '/version' },
  { name: '/apis/apps (a group document) is non-resource', method: 'GET', path: '/apis/apps' },
  { name: '/api/v1 (a version document) is non-resource', method: 'GET', path: '/api/v1' },
  { name: 'a POST to /healthz keeps its method as the verb', method: 'POST', path: '/healthz' },
  { name: 'the root path', method: 'GET', path: '/' },
]) {
  test(tc.name, () => {
    const r = requestInfo(tc.method, tc.path, new URLSearchParams());
    assert.equal(r.isResourceRequest, false);
    assert.equal(r.verb, tc.method.toLowerCase());
    assert.equal(r.path, tc.path);
  });
}
