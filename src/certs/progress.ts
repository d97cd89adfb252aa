// What `certs renew` tells while it works, as values: the renewal done, each step of a static
// pod's restart, a wait, a warning. The feature hands them to deps.onEvent and never prints; the
// CLI turns them into lines (cli/print/certs-progress.ts).
import type { RenewResult, StaticPodComponent } from './renew.ts';

/** One thing `certs renew` did or is waiting for. */
export type CertsEvent =
  /** The files are renewed (and backed up); the restart, if any, comes next. */
  | { type: 'renewed'; result: RenewResult }
  /** A step of one static pod's kubeadm-style restart. */
  | {
      type: 'restart';
      pod: string;
      component: StaticPodComponent;
      step: 'moving-out' | 'moved-back' | 'ready';
      manifestsDir: string;
    }
  /** Still waiting for something after the restarts (said once per new reason). */
  | { type: 'waiting'; what: string }
  /** Something the user should know that does not stop the command. */
  | { type: 'warning'; message: string }
  /** A leftover of an interrupted bosun run, removed or put back (what, and where). */
  | { type: 'recovered'; message: string };

/** Receives events as they happen. */
export type CertsEventSink = (e: CertsEvent) => void;
