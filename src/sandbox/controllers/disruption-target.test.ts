// addConditionAndDeletePod against the API harness (a real etcd): the condition, the phase and the
// delete each controller asks for. The pods carry a finalizer, so what the delete left can be read.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startApiHarness, type ApiHarness } from '../../../test/support/api-harness.ts';
import { resource } from '../apiserver/resources.ts';
import type { Pod } from '../apiserver/types.ts';
import { addConditionAndDeletePod } from './disruption-target.ts';

const pods = resource('pods');
const FINALIZER = 'test.bosun.dev/hold';

describe('addConditionAndDeletePod', () => {
  let h: ApiHarness;
  before(async () => {
    h = await startApiHarness();
  });
  after(async () => {
    await h.stop();
  });

  const running = async (name: string): Promise<Pod> => {
    await h.api.create(pods, 'default', {
      metadata: { name, finalizers: [FINALIZER] },
      spec: { nodeName: 'gone-node', containers: [{ name: 'c', image: 'pause' }] },
    } satisfies Pod);
    return (await h.api.guaranteedUpdate(
      pods,
      'default',
      name,
      (cur) => ({ ...(cur as Pod), status: { phase: 'Running' } }),
      { subresource: 'status' },
    )) as Pod;
  };
  const release = async (name: string): Promise<void> => {
    await h.api.guaranteedUpdate(pods, 'default', name, (cur) => ({
      ...(cur as Pod),
      metadata: { ...(cur as Pod).metadata, finalizers: [] },
    }));
  };

  test("podgc's way: marked Failed with the condition, deleted without a grace period", async () => {
    const pod = await running('orphan');
    await addConditionAndDeletePod(h.ctx, pod, {
      reason: 'DeletionByPodGC',
      message: 'PodGC: node no longer exists',
      fail: true,
    });
    const got = (await h.api.get(pods, 'default', 'orphan')) as Pod;
    assert.equal(got.status?.phase, 'Failed');
    assert.deepEqual(
      got.status?.conditions?.filter((c) => c.type === 'DisruptionTarget').map((c) => [c.status, c.reason]),
      [['True', 'DeletionByPodGC']],
    );
    assert.ok(got.metadata.deletionTimestamp);
    assert.equal(got.metadata.deletionGracePeriodSeconds, 0);
    await release('orphan');
  });

  test("the taint manager's way: the condition, the phase left alone, the pod's own grace period", async () => {
    const pod = await running('tainted');
    await addConditionAndDeletePod(h.ctx, pod, {
      reason: 'DeletionByTaintManager',
      message: 'm',
      fail: false,
    });
    const got = (await h.api.get(pods, 'default', 'tainted')) as Pod;
    assert.equal(got.status?.phase, 'Running');
    assert.deepEqual(
      got.status?.conditions?.filter((c) => c.type === 'DisruptionTarget').map((c) => c.reason),
      ['DeletionByTaintManager'],
    );
    assert.equal(got.metadata.deletionGracePeriodSeconds, 30);
    await release('tainted');
  });

  test('a pod replaced by a new one of the same name is left alone', async () => {
    const old = await running('reborn');
    await release('reborn');
    await h.api.delete(pods, 'default', 'reborn', { gracePeriodSeconds: 0 });
    await running('reborn');
    await addConditionAndDeletePod(h.ctx, old, { reason: 'DeletionByPodGC', message: 'm', fail: true });
    const got = (await h.api.get(pods, 'default', 'reborn')) as Pod;
    assert.equal(got.status?.phase, 'Running');
    assert.equal(got.metadata.deletionTimestamp, undefined);
    await release('reborn');
  });

  test('a pod already gone is no error', async () => {
    const pod = await running('vanished');
    await release('vanished');
    await h.api.delete(pods, 'default', 'vanished', { gracePeriodSeconds: 0 });
    await addConditionAndDeletePod(h.ctx, pod, { reason: 'DeletionByPodGC', message: 'm', fail: true });
  });
});
