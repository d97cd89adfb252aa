import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { controllerOf, isMirrorPod, isPodReady, podRequests, scaledIntOrPercent } from './pods.ts';
import type { Container, Pod } from './types.ts';

describe('isPodReady (podutil.IsPodReady)', () => {
  for (const tc of [
    { name: 'Ready True', conditions: [{ type: 'Ready', status: 'True' }], want: true },
    { name: 'Ready False', conditions: [{ type: 'Ready', status: 'False' }], want: false },
    { name: 'no Ready condition', conditions: [{ type: 'PodScheduled', status: 'True' }], want: false },
    { name: 'no status', conditions: undefined, want: false },
    {
      name: 'the first Ready condition counts, as GetPodCondition finds it',
      conditions: [
        { type: 'Ready', status: 'False' },
        { type: 'Ready', status: 'True' },
      ],
      want: false,
    },
  ]) {
    test(tc.name, () =>
      assert.equal(isPodReady(tc.conditions ? { status: { conditions: tc.conditions } } : {}), tc.want),
    );
  }
});

describe('controllerOf (metav1.GetControllerOf)', () => {
  type Ref = { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean };
  const rs: Ref = { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'web', uid: 'u1', controller: true };
  const cases: { name: string; refs: Ref[] | undefined; want: Ref | undefined }[] = [
    { name: 'no owners', refs: undefined, want: undefined },
    { name: 'an owner that is not the controller', refs: [{ ...rs, controller: false }], want: undefined },
    {
      name: 'an owner without the controller field',
      refs: [{ ...rs, controller: undefined }],
      want: undefined,
    },
    {
      name: 'the controller among other owners',
      refs: [{ ...rs, uid: 'x', controller: false }, rs],
      want: rs,
    },
  ];
  for (const tc of cases) {
    test(tc.name, () => assert.deepEqual(controllerOf({ metadata: { ownerReferences: tc.refs } }), tc.want));
  }
});

describe('isMirrorPod', () => {
  const cases: { name: string; annotations: Record<string, string> | undefined; want: boolean }[] = [
    {
      name: 'the kubelet annotation marks a mirror pod',
      annotations: { 'kubernetes.io/config.mirror': 'h' },
      want: true,
    },
    { name: 'even when empty', annotations: { 'kubernetes.io/config.mirror': '' }, want: true },
    { name: 'other annotations do not', annotations: { 'kubernetes.io/config.source': 'file' }, want: false },
    { name: 'no annotations', annotations: undefined, want: false },
  ];
  for (const tc of cases) {
    test(tc.name, () => assert.equal(isMirrorPod({ metadata: { annotations: tc.annotations } }), tc.want));
  }
});

describe('podRequests (resource.PodRequests)', () => {
  const c = (requests: Record<string, string>, restartPolicy?: string): Container => ({
    name: 'c',
    resources: { requests },
    ...(restartPolicy ? { restartPolicy } : {}),
  });
  const cases: {
    name: string;
    pod: Pick<Pod, 'spec'>;
    opts?: Parameters<typeof podRequests>[1];
    want: Record<string, number>;
  }[] = [
    {
      name: 'app containers are summed',
      pod: { spec: { containers: [c({ cpu: '250m', memory: '64Mi' }), c({ cpu: '250m' })] } },
      want: { cpu: 0.5, memory: 64 * 2 ** 20 },
    },
    {
      name: 'a larger init container wins per resource, and overhead is added',
      pod: {
        spec: {
          containers: [c({ cpu: '250m', memory: '64Mi' }), c({ cpu: '250m' })],
          initContainers: [c({ cpu: '1', memory: '32Mi' })],
          overhead: { cpu: '10m' },
        },
      },
      want: { cpu: 1.01, memory: 64 * 2 ** 20 },
    },
    {
      name: 'a sidecar (init container with restartPolicy Always) adds to the app containers and to later init containers',
      pod: {
        spec: {
          containers: [c({ cpu: '500m' })],
          initContainers: [c({ cpu: '200m' }, 'Always'), c({ cpu: '600m' })],
        },
      },
      // app 500m + sidecar 200m = 700m vs. the second init container while it runs: 600m + 200m = 800m
      want: { cpu: 0.8 },
    },
    {
      name: 'pod-level requests replace cpu and memory, not other resources',
      pod: {
        spec: {
          containers: [c({ cpu: '2', memory: '1Gi', 'ephemeral-storage': '1Gi' })],
          resources: { requests: { cpu: '1', 'ephemeral-storage': '5Gi' } },
        },
      },
      want: { cpu: 1, memory: 2 ** 30, 'ephemeral-storage': 2 ** 30 },
    },
    { name: 'nothing requested is an empty list', pod: { spec: { containers: [c({})] } }, want: {} },
    {
      name: 'nonMissing fills what a container (init containers too) does not request',
      pod: { spec: { containers: [c({ cpu: '1' })], initContainers: [c({ memory: '1Gi' })] } },
      opts: { nonMissing: { cpu: 0.1, memory: 200 * 2 ** 20 } },
      want: { cpu: 1, memory: 2 ** 30 },
    },
    {
      name: 'a malformed quantity counts as absent',
      pod: { spec: { containers: [c({ cpu: 'lots' })] } },
      want: {},
    },
  ];
  for (const tc of cases) test(tc.name, () => assert.deepEqual(podRequests(tc.pod, tc.opts), tc.want));
});

describe('scaledIntOrPercent (intstr.GetScaledValueFromIntOrPercent)', () => {
  for (const tc of [
    { v: 3, total: 10, up: true, want: { ok: true, value: 3 } },
    { v: '25%', total: 3, up: true, want: { ok: true, value: 1 } },
    { v: '25%', total: 3, up: false, want: { ok: true, value: 0 } },
    { v: '50%', total: 5, up: true, want: { ok: true, value: 3 } },
    { v: '100%', total: 7, up: false, want: { ok: true, value: 7 } },
    { v: '+10%', total: 10, up: true, want: { ok: true, value: 1 } },
    {
      v: '5',
      total: 10,
      up: true,
      want: { ok: false, error: 'invalid value for IntOrString: invalid type: string is not a percentage' },
    },
    {
      v: 'x%',
      total: 10,
      up: true,
      want: {
        ok: false,
        error: 'invalid value for IntOrString: invalid value "x%": strconv.Atoi: parsing "x": invalid syntax',
      },
    },
    {
      v: '99999999999999999999%',
      total: 10,
      up: true,
      want: {
        ok: false,
        error:
          'invalid value for IntOrString: invalid value "99999999999999999999%": strconv.Atoi: parsing "99999999999999999999": value out of range',
      },
    },
  ]) {
    test(`${JSON.stringify(tc.v)} of ${tc.total} rounded ${tc.up ? 'up' : 'down'}`, () =>
      assert.deepEqual(scaledIntOrPercent(tc.v, tc.total, tc.up), tc.want));
  }
});
