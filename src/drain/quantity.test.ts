import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatResource, podRequests } from './quantity.ts';
import { pod } from './testing/fixtures.ts';

test('pod requests: sum of containers vs largest init container, plus overhead, plus one pod', () => {
  const p = pod('web-1', { requests: { cpu: '250m', memory: '64Mi' } });
  p.spec!.containers!.push({ name: 'side', resources: { requests: { cpu: '250m' } } });
  p.spec!.initContainers = [{ name: 'init', resources: { requests: { cpu: '1', memory: '32Mi' } } }];
  p.spec!.overhead = { cpu: '10m' };
  const r = podRequests(p);
  assert.equal(r['cpu'], 1.01);
  assert.equal(r['memory'], 64 * 2 ** 20);
  assert.equal(r['pods'], 1);
});

test('resources format for people', () => {
  assert.equal(formatResource('cpu', 0.25), '250m');
  assert.equal(formatResource('cpu', 2), '2');
  assert.equal(formatResource('memory', 2 ** 31), '2Gi');
  assert.equal(formatResource('memory', 96 * 2 ** 20), '96Mi');
});
