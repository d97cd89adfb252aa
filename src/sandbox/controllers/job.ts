// job-controller (pkg/controller/job) for NonIndexed Jobs: keeps min(parallelism, completions -
// succeeded) active pods (terminating ones are replaced, as podReplacementPolicy
// TerminatingOrFailed does), each created with the batch.kubernetes.io/job-tracking finalizer.
// Finished pods are accounted the way kube does it: first into status.uncountedTerminatedPods,
// then their finalizer is removed, then they move into succeeded/failed. A pod deleted before it
// succeeded counts as failed. Once completions succeed: SuccessCriteriaMet, then Complete with
// completionTime when no pod is left terminating (kube 1.31+); more failures than backoffLimit:
// FailureTarget, then Failed. Pod-failure backoff delays, Indexed jobs, suspend and
// activeDeadlineSeconds are not done.
import { clone, isDeleting, keyOf, timestamp } from '../apiserver/meta.ts';
import { resource } from '../apiserver/resources.ts';
import type { Job, Pod } from '../apiserver/types.ts';
import {
  QueueController,
  controllerRefOf,
  errorText,
  isApiError,
  isNamespaceTerminating,
  keyFor,
  splitKey,
} from './base.ts';
import { podFromTemplate } from './claims.ts';
import type { ControllerContext } from './context.ts';
import { Expectations } from './expectations.ts';
import { compareForDeletion, isPodReady, isPodTerminal } from './pod-util.ts';
import { podIndex, type PodIndex } from './pod-index.ts';
import type { EventRecorder } from './recorder.ts';
import { BURST_REPLICAS, slowStartBatch } from './replicaset.ts';

const pods = resource('pods');
const jobs = resource('jobs');
const KIND = { apiVersion: 'batch/v1', kind: 'Job' };

/** The finalizer that keeps a Job's pod until the Job has counted it. */
export const JOB_TRACKING_FINALIZER = 'batch.kubernetes.io/job-tracking';

type JobStatus = NonNullable<Job['status']>;
type JobCondition = NonNullable<JobStatus['conditions']>[number];
interface Uncounted {
  succeeded?: string[];
  failed?: string[];
}

const hasTracking = (p: Pod): boolean => (p.metadata.finalizers ?? []).includes(JOB_TRACKING_FINALIZER);

/** isPodFailed with podReplacementPolicy TerminatingOrFailed: Failed, or deleted before it succeeded. */
export function isJobPodFailed(p: Pod): boolean {
  return p.status?.phase === 'Failed' || (isDeleting(p) && p.status?.phase !== 'Succeeded');
}

function finished(job: Job): 'Complete' | 'Failed' | undefined {
  for (const c of job.status?.conditions ?? [])
    if ((c.type === 'Complete' || c.type === 'Failed') && c.status === 'True') return c.type;
  return undefined;
}

function condition(type: string, reason: string, message: string, now: string): JobCondition {
  return { type, status: 'True', lastProbeTime: now, lastTransitionTime: now, reason, message };
}

/** The Job controller. */
export class JobController extends QueueController {
  private readonly index: PodIndex;
  private readonly expectations: Expectations;
  private readonly recorder: EventRecorder;
  /** job key -> uids already counted whose finalizer removal the cache may not show yet (kube's uidTrackingExpectations). */
  private readonly counted = new Map<string, Set<string>>();

  constructor(ctx: ControllerContext) {
    super('job', ctx, { workers: 4 });
    this.index = podIndex(ctx.informers);
    this.expectations = new Expectations(() => ctx.clock.now().getTime());
    this.recorder = ctx.recorder('job-controller');
  }

  protected register(): void {
    this.ctx.informers.jobs.on((type, job) => {
      if (type === 'DELETED') {
        this.expectations.delete(keyOf(job));
        // Its pods keep their finalizer until someone removes it: that is us.
        for (const p of this.index.controlledBy(job.metadata.uid ?? ''))
          if (hasTracking(p)) this.enqueue(`pod|${keyOf(p)}`);
        return;
      }
      this.enqueue(`job|${keyOf(job)}`);
    });
    this.ctx.informers.pods.on((type, pod, old) => {
      const ref = controllerRefOf(pod);
      if (ref?.kind !== 'Job') return;
      const key = keyFor(pod.metadata.namespace, ref.name);
      const job = this.ctx.informers.jobs.get(key);
      if (!job || job.metadata.uid !== ref.uid) {
        if (type !== 'DELETED' && hasTracking(pod)) this.enqueue(`pod|${keyOf(pod)}`);
        return;
      }
      if (type === 'ADDED' && !isDeleting(pod)) this.expectations.creationObserved(key);
      if (type === 'DELETED' || (isDeleting(pod) && !(old && isDeleting(old))))
        this.expectations.deletionObserved(key, pod.metadata.uid ?? '');
      this.enqueue(`job|${key}`);
    });
  }

  protected async sync(qkey: string): Promise<void> {
    const i = qkey.indexOf('|');
    const kind = qkey.slice(0, i);
    const key = qkey.slice(i + 1);
    if (kind === 'pod') await this.cleanupOrphanPod(key);
    else await this.syncJob(key);
  }

  /** A pod whose Job is gone keeps no tracking finalizer. */
  private async cleanupOrphanPod(key: string): Promise<void> {
    const pod = this.ctx.informers.pods.get(key);
    const ref = pod ? controllerRefOf(pod) : undefined;
    if (!pod || !ref || !hasTracking(pod)) return;
    const job = await this.ctx.api.tryGet(jobs, pod.metadata.namespace, ref.name);
    if (job && job.metadata.uid === ref.uid) return;
    await this.removeFinalizers([pod]);
  }

  private async removeFinalizers(list: Pod[]): Promise<void> {
    await Promise.all(
      list.map(async (p) => {
        const { namespace, name } = splitKey(keyOf(p));
        try {
          await this.ctx.api.guaranteedUpdate(pods, namespace, name, (cur) => {
            if (
              cur.metadata.uid !== p.metadata.uid ||
              !(cur.metadata.finalizers ?? []).includes(JOB_TRACKING_FINALIZER)
            )
              return undefined;
            const rest = (cur.metadata.finalizers ?? []).filter((f) => f !== JOB_TRACKING_FINALIZER);
            if (rest.length > 0) cur.metadata.finalizers = rest;
            else delete cur.metadata.finalizers;
            return cur;
          });
        } catch (e) {
          if (!isApiError(e, 404)) throw e;
        }
      }),
    );
  }

  private async writeStatus(job: Job, status: JobStatus): Promise<Job> {
    if (JSON.stringify(status) === JSON.stringify(job.status ?? {})) return job;
    const updated = await this.ctx.api.update(
      jobs,
      job.metadata.namespace,
      job.metadata.name ?? '',
      { ...job, status },
      { subresource: 'status' },
    );
    return updated as Job;
  }

  private async syncJob(key: string): Promise<void> {
    const cached = this.ctx.informers.jobs.get(key);
    if (!cached) {
      this.expectations.delete(key);
      this.counted.delete(key);
      return;
    }
    let job = clone(cached);
    const owned = this.index.controlledBy(job.metadata.uid ?? '');
    if (finished(job)) {
      const left = owned.filter(hasTracking);
      if (left.length > 0) await this.removeFinalizers(left);
      return;
    }
    const now = timestamp(this.ctx.clock.now());
    const prev = job.status ?? {};
    const uncounted = (prev['uncountedTerminatedPods'] as Uncounted | undefined) ?? {};
    // 1. Finished pods still carrying the finalizer go into uncountedTerminatedPods first.
    const done = this.counted.get(key) ?? new Set<string>();
    for (const uid of [...done]) {
      const p = owned.find((x) => x.metadata.uid === uid);
      if (!p || !hasTracking(p)) done.delete(uid);
    }
    this.counted.set(key, done);
    const seen = new Set([...(uncounted.succeeded ?? []), ...(uncounted.failed ?? []), ...done]);
    const newlySucceeded: Pod[] = [];
    const newlyFailed: Pod[] = [];
    for (const p of owned) {
      if (!hasTracking(p) || seen.has(p.metadata.uid ?? '')) continue;
      if (p.status?.phase === 'Succeeded') newlySucceeded.push(p);
      else if (isJobPodFailed(p)) newlyFailed.push(p);
    }
    let status: JobStatus = { ...prev, startTime: prev.startTime ?? now };
    if (newlySucceeded.length + newlyFailed.length > 0) {
      const u: Uncounted = {
        ...(uncounted.succeeded?.length || newlySucceeded.length
          ? {
              succeeded: [...(uncounted.succeeded ?? []), ...newlySucceeded.map((p) => p.metadata.uid ?? '')],
            }
          : {}),
        ...(uncounted.failed?.length || newlyFailed.length
          ? { failed: [...(uncounted.failed ?? []), ...newlyFailed.map((p) => p.metadata.uid ?? '')] }
          : {}),
      };
      status = { ...status, uncountedTerminatedPods: u };
      job = await this.writeStatus(job, status);
    }
    // 2. Their finalizers go; 3. they move into the counts.
    const pending = (job.status?.['uncountedTerminatedPods'] as Uncounted | undefined) ?? {};
    const pendingUids = new Set([...(pending.succeeded ?? []), ...(pending.failed ?? [])]);
    if (pendingUids.size > 0) {
      await this.removeFinalizers(
        owned.filter((p) => pendingUids.has(p.metadata.uid ?? '') && hasTracking(p)),
      );
      for (const uid of pendingUids) done.add(uid);
      status = {
        ...(job.status ?? {}),
        succeeded: (job.status?.succeeded ?? 0) + (pending.succeeded?.length ?? 0),
        failed: (job.status?.failed ?? 0) + (pending.failed?.length ?? 0),
        uncountedTerminatedPods: {},
      };
    } else
      status = {
        ...(job.status ?? {}),
        startTime: job.status?.startTime ?? now,
        uncountedTerminatedPods: {},
      };
    const succeeded = status.succeeded ?? 0;
    const failed = status.failed ?? 0;
    let active = owned.filter((p) => !isPodTerminal(p) && !isDeleting(p));
    const terminating = owned.filter((p) => isDeleting(p) && !isPodTerminal(p)).length;
    const completions = job.spec.completions ?? 1;
    const parallelism = job.spec.parallelism ?? 1;
    const backoffLimit = job.spec.backoffLimit ?? 6;
    const conditions = [...(status.conditions ?? [])];
    const hasCond = (t: string): boolean => conditions.some((c) => c.type === t && c.status === 'True');
    let event: [string, 'Normal' | 'Warning', string] | undefined;
    if (failed > backoffLimit || hasCond('FailureTarget')) {
      if (!hasCond('FailureTarget'))
        conditions.push(
          condition(
            'FailureTarget',
            'BackoffLimitExceeded',
            'Job has reached the specified backoff limit',
            now,
          ),
        );
      await this.deletePods(key, active);
      active = [];
      if (terminating === 0 && !hasCond('Failed')) {
        conditions.push(
          condition('Failed', 'BackoffLimitExceeded', 'Job has reached the specified backoff limit', now),
        );
        event = ['BackoffLimitExceeded', 'Warning', 'Job has reached the specified backoff limit'];
      }
    } else if (succeeded >= completions || hasCond('SuccessCriteriaMet')) {
      if (!hasCond('SuccessCriteriaMet'))
        conditions.push(
          condition(
            'SuccessCriteriaMet',
            'CompletionsReached',
            'Reached expected number of succeeded pods',
            now,
          ),
        );
      await this.deletePods(key, active);
      active = [];
      if (terminating === 0 && !hasCond('Complete')) {
        const c = condition(
          'Complete',
          'CompletionsReached',
          'Reached expected number of succeeded pods',
          now,
        );
        conditions.push(c);
        status.completionTime = c.lastTransitionTime;
        event = ['Completed', 'Normal', 'Job completed'];
      }
    } else if (this.expectations.satisfied(key)) {
      const want = Math.min(parallelism, completions - succeeded);
      if (active.length < want)
        await this.createPods(key, job, Math.min(want - active.length, BURST_REPLICAS));
      else if (active.length > want) {
        const extra = [...active].sort((a, b) => compareForDeletion(a, b)).slice(0, active.length - want);
        await this.deletePods(key, extra);
        active = active.filter((p) => !extra.includes(p));
      }
    }
    const next: JobStatus = {
      ...(conditions.length > 0 ? { conditions } : {}),
      startTime: status.startTime ?? now,
      ...(status.completionTime ? { completionTime: status.completionTime } : {}),
      ...(active.length ? { active: active.length } : {}),
      ...(succeeded ? { succeeded } : {}),
      ...(failed ? { failed } : {}),
      terminating,
      uncountedTerminatedPods: {},
      ready: active.filter(isPodReady).length,
    };
    await this.writeStatus(job, next);
    if (event) this.recorder.event(job, event[1], event[0], event[2]);
  }

  private async createPods(key: string, job: Job, n: number): Promise<void> {
    this.expectations.expectCreations(key, n);
    const template = clone(job.spec.template);
    template.metadata = {
      ...(template.metadata ?? {}),
      finalizers: [...(template.metadata?.finalizers ?? []), JOB_TRACKING_FINALIZER],
    };
    const { attempted, error } = await slowStartBatch(n, async () => {
      try {
        const created = await this.ctx.api.create(
          pods,
          job.metadata.namespace,
          podFromTemplate(template, job, KIND, `${job.metadata.name ?? ''}-`),
        );
        this.recorder.event(job, 'Normal', 'SuccessfulCreate', `Created pod: ${created.metadata.name ?? ''}`);
      } catch (e) {
        this.expectations.creationObserved(key);
        if (isNamespaceTerminating(e)) return;
        this.recorder.event(job, 'Warning', 'FailedCreate', `Error creating: ${errorText(e)}`);
        throw e;
      }
    });
    for (let i = attempted; i < n; i++) this.expectations.creationObserved(key);
    if (error !== undefined) throw error;
  }

  private async deletePods(key: string, list: Pod[]): Promise<void> {
    if (list.length === 0) return;
    this.expectations.expectDeletions(
      key,
      list.map((p) => p.metadata.uid ?? ''),
    );
    await Promise.all(
      list.map(async (p) => {
        try {
          await this.ctx.api.delete(pods, p.metadata.namespace, p.metadata.name ?? '', {
            preconditions: { uid: p.metadata.uid ?? '' },
          });
          this.recorder.event(
            this.ctx.informers.jobs.get(key) ?? p,
            'Normal',
            'SuccessfulDelete',
            `Deleted pod: ${p.metadata.name ?? ''}`,
          );
        } catch (e) {
          this.expectations.deletionObserved(key, p.metadata.uid ?? '');
          if (!isApiError(e, 404) && !isApiError(e, 409)) throw e;
        }
      }),
    );
  }
}
