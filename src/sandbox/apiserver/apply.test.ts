import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyTo,
  conflictMessage,
  createdManagedFields,
  fieldSetOf,
  fromFieldsV1,
  mergeApplied,
  toFieldsV1,
} from './apply.ts';

const NOW = '2026-01-01T00:00:00Z';

const ds = (image: string, labels: Record<string, string> = { app: 'bosun' }) => ({
  apiVersion: 'apps/v1',
  kind: 'DaemonSet',
  metadata: { name: 'bosun', namespace: 'bosun-system', labels },
  spec: {
    selector: { matchLabels: { app: 'bosun' } },
    template: {
      metadata: { labels: { app: 'bosun' } },
      spec: {
        containers: [
          { name: 'agent', image, args: ['agent'], ports: [{ containerPort: 8080, name: 'http' }] },
        ],
        volumes: [{ name: 'host', hostPath: { path: '/' } }],
      },
    },
  },
});

test('the field set of an applied DaemonSet, in FieldsV1 form', () => {
  assert.deepEqual(toFieldsV1(fieldSetOf(ds('bosun:1'))), {
    'f:metadata': { 'f:labels': { 'f:app': {} } },
    'f:spec': {
      'f:selector': { 'f:matchLabels': { 'f:app': {} } },
      'f:template': {
        'f:metadata': { 'f:labels': { 'f:app': {} } },
        'f:spec': {
          'f:containers': {
            'k:{"name":"agent"}': {
              '.': {},
              'f:args': {},
              'f:image': {},
              'f:name': {},
              'f:ports': {
                'k:{"containerPort":8080,"protocol":"TCP"}': { '.': {}, 'f:containerPort': {}, 'f:name': {} },
              },
            },
          },
          'f:volumes': { 'k:{"name":"host"}': { '.': {}, 'f:hostPath': { 'f:path': {} }, 'f:name': {} } },
        },
      },
    },
  });
});

test('FieldsV1 round-trips', () => {
  const set = fieldSetOf(ds('bosun:1'));
  assert.deepEqual(fromFieldsV1(toFieldsV1(set)), set);
});

function created(config: Record<string, unknown>, manager = 'helm'): Record<string, unknown> {
  const c = structuredClone(config) as { metadata: Record<string, unknown> };
  c.metadata['managedFields'] = createdManagedFields(config, { manager, apiVersion: 'apps/v1', now: NOW });
  // What the API server adds: defaults and status.
  (
    c as unknown as { spec: { template: { spec: { containers: Record<string, unknown>[] } } } }
  ).spec.template.spec.containers[0]!['imagePullPolicy'] = 'IfNotPresent';
  return c;
}

test('a re-apply changes what changed and removes a label the applier stopped applying', () => {
  const live = created(ds('bosun:1', { app: 'bosun', tier: 'ops' }));
  const r = applyTo(live, ds('bosun:2'), { manager: 'helm', apiVersion: 'apps/v1', force: false, now: NOW });
  assert.deepEqual(r.conflicts, []);
  const o = r.object as ReturnType<typeof ds> & { metadata: { managedFields: unknown[] } };
  assert.deepEqual(o.metadata.labels, { app: 'bosun' });
  assert.equal(o.spec.template.spec.containers[0]?.image, 'bosun:2');
  // A default the server set stays.
  assert.equal(
    (o.spec.template.spec.containers[0] as Record<string, unknown>)['imagePullPolicy'],
    'IfNotPresent',
  );
  assert.equal(o.metadata.managedFields.length, 1);
});

test("another applier's field with another value is a conflict; force takes it over", () => {
  const live = created(ds('bosun:1'));
  const other = {
    apiVersion: 'apps/v1',
    kind: 'DaemonSet',
    metadata: { name: 'bosun' },
    spec: { template: { spec: { containers: [{ name: 'agent', image: 'bosun:debug' }] } } },
  };
  const r = applyTo(live, other, { manager: 'kubectl', apiVersion: 'apps/v1', force: false, now: NOW });
  assert.deepEqual(r.conflicts, [
    { manager: 'helm', apiVersion: 'apps/v1', field: '.spec.template.spec.containers[name="agent"].image' },
  ]);
  assert.equal(
    conflictMessage(r.conflicts),
    'Apply failed with 1 conflict: conflict with "helm" using apps/v1: .spec.template.spec.containers[name="agent"].image',
  );
  const f = applyTo(live, other, { manager: 'kubectl', apiVersion: 'apps/v1', force: true, now: NOW });
  assert.deepEqual(f.conflicts, []);
  const o = f.object as ReturnType<typeof ds> & {
    metadata: { managedFields: { manager: string; fieldsV1: unknown }[] };
  };
  assert.equal(o.spec.template.spec.containers[0]?.image, 'bosun:debug');
  const helm = fromFieldsV1(o.metadata.managedFields.find((m) => m.manager === 'helm')?.fieldsV1);
  assert.ok(![...helm].some((p) => p.endsWith('f:image')), 'helm no longer owns the image');
});

test('the same value applied by two managers is shared, not a conflict', () => {
  const live = created(ds('bosun:1'));
  const r = applyTo(live, ds('bosun:1'), { manager: 'other', apiVersion: 'apps/v1', force: false, now: NOW });
  assert.deepEqual(r.conflicts, []);
});

test('keyed lists merge by key and keep items other managers added; atomic lists are replaced', () => {
  const live = {
    spec: {
      containers: [
        { name: 'a', image: 'x', args: ['1', '2'] },
        { name: 'sidecar', image: 'y' },
      ],
    },
  };
  const got = mergeApplied(live, { spec: { containers: [{ name: 'a', image: 'z', args: ['3'] }] } });
  assert.deepEqual(got, {
    spec: {
      containers: [
        { name: 'a', image: 'z', args: ['3'] },
        { name: 'sidecar', image: 'y' },
      ],
    },
  });
  assert.deepEqual(
    mergeApplied({ metadata: { finalizers: ['a'] } }, { metadata: { finalizers: ['b', 'a'] } }),
    {
      metadata: { finalizers: ['a', 'b'] },
    },
  );
});
