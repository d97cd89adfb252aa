import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatResource, placementNeeds } from './quantity.ts';
import { pod } from './testing/fixtures.ts';

test("placement needs: the pod's requests and one pod slot", () => {
  const r = placementNeeds(pod('web-1', { requests: { cpu: '250m', memory: '64Mi' } }));
  assert.deepEqual(r, { cpu: 0.25, memory: 64 * 2 ** 20, pods: 1 });
});

test('resources format for people', () => {
  assert.equal(formatResource('cpu', 0.25), '250m');
  assert.equal(formatResource('cpu', 2), '2');
  assert.equal(formatResource('memory', 2 ** 31), '2Gi');
  assert.equal(formatResource('memory', 96 * 2 ** 20), '96Mi');
});
