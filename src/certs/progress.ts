// What `certs renew` tells while it works, as values: the renewal done, each step of a static
// pod's restart, a wait, a warning. The feature hands them to deps.onEvent and never prints;
// describeEvent gives each its lines in bosun's wording (results on stdout, progress and warnings
// on stderr, as kubectl's IOStreams), for the CLI, the demo and tests to print or compare.
import { formatExpires } from './expiry.ts';
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

/** One line of an event, and the stream it belongs on. */
export interface EventLine {
  stream: 'out' | 'err';
  text: string;
}

/** The lines bosun prints for an event. */
export function describeEvent(e: CertsEvent): EventLine[] {
  switch (e.type) {
    case 'renewed': {
      const lines: EventLine[] = [];
      for (const r of e.result.renewed) {
        lines.push({ stream: 'out', text: `${r.name} renewed (expires ${formatExpires(r.notAfter)})` });
        if (r.cappedByCa)
          lines.push({
            stream: 'err',
            text: `WARNING: ${r.name} expires with its CA, before the requested validity; renew the CA in time`,
          });
      }
      // kubeadm's `certs renew all` says "MISSING! ..." for these and goes on; bosun says why.
      for (const k of e.result.skipped)
        lines.push({ stream: 'out', text: `${k.name} skipped: ${k.path} does not exist; ${k.reason}` });
      lines.push({ stream: 'out', text: `previous files saved in ${e.result.backupDir}` });
      return lines;
    }
    case 'restart':
      return [
        {
          stream: 'err',
          text:
            e.step === 'moving-out'
              ? `[restart] ${e.pod}: moving ${e.component}.yaml out of ${e.manifestsDir}`
              : e.step === 'moved-back'
                ? `[restart] ${e.pod}: manifest moved back`
                : `[restart] ${e.pod}: Ready`,
        },
      ];
    case 'waiting':
      return [{ stream: 'err', text: `[restart] waiting for ${e.what}` }];
    case 'warning':
      return [{ stream: 'err', text: `WARNING: ${e.message}` }];
    case 'recovered':
      return [{ stream: 'err', text: e.message }];
  }
}
