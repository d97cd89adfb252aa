// The Job controller with the scheduler and a stand-in kubelet.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startApiHarness, type ApiHarness } from '../../../test/support/api-harness.ts';
import { resource } from '../apiserver/resources.ts';
import type { Job, KubeEvent, Pod } from '../apiserver/types.ts';
import { isJobPodFailed, JOB_TRACKING_FINALIZER, JobController } from './job.ts';
import { isPodActive } from './pod-util.ts';
import { Scheduler } from './scheduler.ts';
import { createNode, TinyKubelet, waitFor } from './testing/sim.ts';

const jobs = resource('jobs');
const pods = resource('pods');
const events = resource('events');

function job(
  name: string,
  o: { completions?: number; parallelism?: number; backoffLimit?: number; stuck?: boolean } = {},
): Job {
  return {
    metadata: { name },
    spec: {
      completions: o.completions ?? 1,
      parallelism: o.parallelism ?? 1,
      ...(o.backoffLimit !== undefined ? { backoffLimit: o.backoffLimit } : {}),
      template: {
        spec: {
          restartPolicy: 'Never',
          containers: [{ name: 'c', image: 'busybox' }],
          ...(o.stuck ? { nodeSelector: { nowhere: 'true' } } : {}),
        },
      },
    },
  };
}

test('a pod deleted before it succeeded counts as failed; a succeeded one does not', () => {
  const p = (phase: 'Running' | 'Succeeded', deleting: boolean): Pod => ({
    metadata: { ...(deleting ? { deletionTimestamp: '2025-01-01T00:00:00Z' } : {}) },
    spec: { containers: [] },
    status: { phase },
  });
  assert.equal(isJobPodFailed(p('Running', true)), true);
  assert.equal(isJobPodFailed(p('Succeeded', true)), false);
  assert.equal(isJobPodFailed(p('Running', false)), false);
});

describe('job controller', () => {
  let h: ApiHarness;
  let kubelet: TinyKubelet;
  const controllers: { stop(): void }[] = [];
  const podsOf = (name: string): Pod[] =>
    h.informers.pods.list('default').filter((p) => p.metadata.labels?.['job-name'] === name);
  const get = async (name: string): Promise<Job> => (await h.api.get(jobs, 'default', name)) as Job;

  before(async () => {
    h = await startApiHarness();
    await createNode(h.api, 'worker-1');
    const cs = [new Scheduler(h.ctx), new JobController(h.ctx)];
    controllers.push(...cs);
    for (const c of cs) c.start();
    kubelet = new TinyKubelet(h.api, h.informers);
    await h.startInformers();
  });
  after(async () => {
    for (const c of controllers) c.stop();
    kubelet.stop();
    await h.stop();
  });

  test('runs pods up to parallelism until completions succeed, then SuccessCriteriaMet and Complete', async () => {
    let maxActive = 0;
    let finalizerOnCreate = true;
    h.informers.pods.on((type, p) => {
      if (p.metadata.labels?.['job-name'] !== 'batch') return;
      if (type === 'ADDED' && !(p.metadata.finalizers ?? []).includes(JOB_TRACKING_FINALIZER))
        finalizerOnCreate = false;
      maxActive = Math.max(maxActive, podsOf('batch').filter(isPodActive).length);
    });
    await h.api.create(jobs, 'default', job('batch', { completions: 3, parallelism: 2 }));
    const done = await waitFor(async () => {
      const j = await get('batch');
      return j.status?.conditions?.some((c) => c.type === 'Complete') ? j : undefined;
    }, 'batch to complete');
    const { conditions, startTime, completionTime, ...counts } = done.status ?? {};
    assert.deepEqual(counts, { succeeded: 3, terminating: 0, uncountedTerminatedPods: {}, ready: 0 });
    assert.ok(startTime);
    assert.equal(completionTime, conditions?.find((c) => c.type === 'Complete')?.lastTransitionTime);
    assert.deepEqual(
      conditions?.map((c) => [c.type, c.status, c.reason, c.message]),
      [
        ['SuccessCriteriaMet', 'True', 'CompletionsReached', 'Reached expected number of succeeded pods'],
        ['Complete', 'True', 'CompletionsReached', 'Reached expected number of succeeded pods'],
      ],
    );
    assert.ok(maxActive <= 2, `at most parallelism active pods, saw ${maxActive}`);
    assert.ok(finalizerOnCreate, 'every pod is created with the job-tracking finalizer');
    await waitFor(
      () =>
        podsOf('batch').length === 3 &&
        podsOf('batch').every((p) => !(p.metadata.finalizers ?? []).includes(JOB_TRACKING_FINALIZER)),
      'finalizers removed after accounting',
    );
    // Events are written asynchronously, as client-go's recorder does.
    const evs = await waitFor(async () => {
      const all = ((await h.api.list(events, 'default')).items as KubeEvent[]).filter(
        (e) => e.involvedObject.name === 'batch',
      );
      return all.some((e) => e.reason === 'Completed') ? all : undefined;
    }, 'the Completed event');
    assert.equal(evs.filter((e) => e.reason === 'SuccessfulCreate').length, 3);
    assert.equal(evs.find((e) => e.reason === 'Completed')?.message, 'Job completed');
  });

  test('a deleted pod counts as failed and is replaced; more failures than backoffLimit fail the Job', async () => {
    await h.api.create(jobs, 'default', job('bad', { backoffLimit: 1, stuck: true }));
    const first = await waitFor(() => podsOf('bad')[0], 'the first pod');
    await h.api.delete(pods, 'default', first.metadata.name ?? '', {});
    const second = await waitFor(
      () => podsOf('bad').find((p) => p.metadata.uid !== first.metadata.uid && isPodActive(p)),
      'a replacement',
    );
    await waitFor(async () => (await get('bad')).status?.failed === 1, 'failed 1');
    await waitFor(
      () => !podsOf('bad').some((p) => p.metadata.uid === first.metadata.uid),
      'the deleted pod to go once counted',
    );
    await h.api.guaranteedUpdate(
      pods,
      'default',
      second.metadata.name ?? '',
      (cur) => {
        const x = cur as Pod;
        x.status = { ...(x.status ?? {}), phase: 'Failed' };
        return x;
      },
      { subresource: 'status' },
    );
    const failed = await waitFor(async () => {
      const j = await get('bad');
      return j.status?.conditions?.some((c) => c.type === 'Failed') ? j : undefined;
    }, 'the Job to fail');
    assert.equal(failed.status?.failed, 2);
    assert.deepEqual(
      failed.status?.conditions?.map((c) => [c.type, c.reason, c.message]),
      [
        ['FailureTarget', 'BackoffLimitExceeded', 'Job has reached the specified backoff limit'],
        ['Failed', 'BackoffLimitExceeded', 'Job has reached the specified backoff limit'],
      ],
    );
  });

  test('the pods of a deleted Job lose their tracking finalizer', async () => {
    await h.api.create(jobs, 'default', job('gone', { stuck: true }));
    const p = await waitFor(() => podsOf('gone')[0], 'a pod');
    await h.api.delete(jobs, 'default', 'gone', { propagationPolicy: 'Background' });
    await waitFor(
      async () =>
        !((await h.api.get(pods, 'default', p.metadata.name ?? '')).metadata.finalizers ?? []).includes(
          JOB_TRACKING_FINALIZER,
        ),
      'the finalizer to go',
    );
  });
});
