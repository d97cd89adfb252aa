// The sandbox's kube-controller-manager and kube-scheduler: every in-process controller, built
// (not started) over one ControllerContext. The caller starts each, then the informers.
import type { Controller, ControllerContext } from './context.ts';
import { DaemonSetController } from './daemonset.ts';
import { DeploymentController } from './deployment.ts';
import { DisruptionController } from './disruption.ts';
import { GarbageCollector } from './garbage-collector.ts';
import { JobController } from './job.ts';
import { NamespaceController } from './namespace.ts';
import { NodeLifecycleController } from './node-lifecycle.ts';
import { PodGCController } from './pod-gc.ts';
import { ReplicaSetController } from './replicaset.ts';
import { RootCaPublisher, ServiceAccountsController } from './serviceaccounts.ts';
import { Scheduler } from './scheduler.ts';
import { StatefulSetController } from './statefulset.ts';
import { TaintEvictionController } from './taint-eviction.ts';

/** Builds the sandbox's controllers; call start() on each, then start the informers. */
export function createControllers(ctx: ControllerContext): Controller[] {
  return [
    new Scheduler(ctx),
    new ReplicaSetController(ctx),
    new DeploymentController(ctx),
    new DaemonSetController(ctx),
    new StatefulSetController(ctx),
    new JobController(ctx),
    new DisruptionController(ctx),
    new NodeLifecycleController(ctx),
    new TaintEvictionController(ctx),
    new GarbageCollector(ctx),
    new PodGCController(ctx),
    new NamespaceController(ctx),
    new ServiceAccountsController(ctx),
    ...(ctx.rootCaFile ? [new RootCaPublisher(ctx, ctx.rootCaFile)] : []),
  ];
}
