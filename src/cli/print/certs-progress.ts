// `bosun certs renew`'s progress: the certs feature's events (CertsEvent) as lines in bosun's
// wording, each with its stream (results on stdout, progress and warnings on stderr, as kubectl's
// IOStreams), for certs-output.ts to print. The feature reports events and never prints.
import { formatExpires, type CertsEvent } from '../../certs/index.ts';

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
