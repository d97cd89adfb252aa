// The progress of `bosun backup`, `bosun restore` and `bosun backup verify --trial-restore`: the
// etcd feature's events (EtcdEvent) as the lines bosun prints on stderr. The feature reports
// events and never prints.
import { humanBytes, type EtcdEvent } from '../../etcd/index.ts';

/** The line bosun prints (on stderr) for an event of the etcd feature. */
export function etcdEventLine(e: EtcdEvent): string {
  switch (e.type) {
    case 'member':
      return `${e.chosen ? 'using' : 'skipping'} ${e.endpoint}: ${e.why}`;
    case 'leftover-scan-failed':
      return `WARNING: could not look for leftovers of interrupted backups in ${e.dir}: ${e.error}`;
    case 'leftover-not-removed':
      return `WARNING: could not remove ${e.path} (${e.why}): ${e.error}`;
    case 'sidecar-completed':
      return `Completed ${e.file}: an interrupted backup had verified it but not yet named its sidecar`;
    case 'leftovers-removed': {
      const n = e.files.length;
      const bytes = e.files.reduce((a, f) => a + f.size, 0);
      return `Removed ${n} leftover temporary ${n === 1 ? 'file' : 'files'} of interrupted backups (${humanBytes(bytes)})`;
    }
    case 'snapshot-started': {
      const who = e.member ? `member ${e.member} (${e.endpoint})` : e.endpoint;
      return `Taking a snapshot from ${who}${e.keyId !== null ? `, encrypting with key ${e.keyId}` : ''}`;
    }
    case 'snapshot-progress':
      return `  ${humanBytes(e.received)} of ${humanBytes(e.total)} (${Math.floor((e.received / e.total) * 100)}%)`;
    case 'snapshot-received':
      return `Received ${humanBytes(e.bytes)}; verifying`;
    case 'saved':
      return `Saved ${e.file} (revision ${e.revision}, ${e.liveKeys} keys, ${humanBytes(e.size)}, verified)`;
    case 'pruned':
      return `Pruned ${e.path}`;
    case 'prune-failed':
      return `WARNING: could not prune ${e.path}: ${e.error}`;
    case 'leftover-removed':
      return `Removed ${e.path}, left by an interrupted ${e.by === 'restore' ? 'restore' : 'trial restore'} (${e.why})`;
    case 'verifying':
      return `Verifying ${e.file}`;
    case 'restoring':
      return `Restoring with ${e.tool} into ${e.dataDir}`;
    case 'trial-etcd-starting':
      return 'Starting etcd on the restored data (unix sockets only)';
  }
}
