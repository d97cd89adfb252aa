// What every in-process controller gets: the API, the shared informers, a clock, the timing
// profile, an event recorder factory and a log. Controllers never talk HTTP and never touch etcd.
import type { Clock } from '../../common/ports.ts';
import type { ApiCore } from '../apiserver/api.ts';
import type { Timing } from '../timing.ts';
import type { Informers } from './informer.ts';
import type { EventRecorder } from './recorder.ts';

// The informers are declared beside the Informer class (informer.ts) so that the two modules do
// not import each other; they are re-exported here for the controllers that import the context.
export type { Informers };

export interface ControllerContext {
  api: ApiCore;
  informers: Informers;
  clock: Clock;
  timing: Timing;
  recorder(component: string, host?: string): EventRecorder;
  log(line: string): void;
  /** kube-controller-manager's --root-ca-file: the CA the root CA publisher puts in every namespace. */
  rootCaFile?: string;
}

/** A controller: registers handlers on the informers in start() and stops its queues in stop(). */
export interface Controller {
  readonly name: string;
  start(): void;
  stop(): void;
  /** Resolves when the controller has no queued or running work (for tests). */
  idle(): Promise<void>;
}
