// The upgrade's etcd backup, taken from the machine that runs `bosun upgrade apply`, straight from
// the etcd members, through the etcd feature's verified backup (etcd/save.ts): the snapshot is
// streamed over TLS with the kubeadm client certificate, checked (sha256 trailer, every bbolt page)
// and only then named, mode 0600. The members are the ones kubeadm announces on its etcd static
// pods (kubeadm.kubernetes.io/etcd.advertise-client-urls), unless --etcd-endpoints names others.
//
// Why here and not on the primary control plane through the executor: it needs nothing on the node
// (no bosun, no etcdctl: kubeadm's nodes run etcd in a static pod without either), the backup
// lands off the cluster (where it must be when the control plane is lost), and it is verified by
// the same code as `bosun backup`. What it needs is the etcd client PKI where apply runs: on a
// control plane (kubeadm's own `upgrade apply` runs there: /etc/kubernetes/pki is the default), or
// a copy of the apiserver-etcd-client certificate passed with --etcd-pki-dir; for the sandbox, the
// primary's host directory.
import { BosunError } from '../common/errors.ts';
import type { Clock } from '../common/ports.ts';
import type { BackupEvent } from '../etcd/index.ts';
import type { NodePods } from '../kube/ports.ts';
import type { BackupTaker } from './apply.ts';

/** kubeadm's annotation on the etcd static pod: the member's client URLs. */
export const ETCD_CLIENT_URLS_ANNOTATION = 'kubeadm.kubernetes.io/etcd.advertise-client-urls';

/** Where and how the backup is taken. */
export interface EtcdBackupOptions {
  /** --etcd-endpoints; empty: the members kubeadm announces. */
  endpoints: readonly string[];
  /** The kubeadm PKI directory holding etcd/ca.crt and the client certificate. */
  pkiDir: string;
  /** Where the backups go. */
  dir: string;
  /** This machine, for the journal. */
  host: string;
  dialTimeoutMs: number;
}

/** The etcd members' client URLs, as kubeadm announces them on the etcd mirror pods. */
export async function etcdEndpoints(kube: Pick<NodePods, 'listPods'>): Promise<string[]> {
  const pods = await kube.listPods({
    namespace: 'kube-system',
    labelSelector: 'component=etcd,tier=control-plane',
  });
  return pods.items
    .flatMap((p) => (p.metadata.annotations?.[ETCD_CLIENT_URLS_ANNOTATION] ?? '').split(','))
    .map((u) => u.trim())
    .filter((u) => u !== '')
    .sort();
}

/** Takes verified backups with the etcd feature. */
export function etcdBackupTaker(
  o: EtcdBackupOptions,
  deps: { kube: Pick<NodePods, 'listPods'>; clock: Clock; observer?: (e: BackupEvent) => void },
): BackupTaker {
  return {
    describe: () =>
      `etcd ${o.endpoints.length > 0 ? o.endpoints.join(',') : '(the members kubeadm announces)'} into ${o.dir}`,
    async take(signal) {
      const etcd = await import('../etcd/index.ts');
      const endpoints = o.endpoints.length > 0 ? [...o.endpoints] : await etcdEndpoints(deps.kube);
      if (endpoints.length === 0)
        throw new BosunError('no etcd member found: no etcd static pod announces its client URLs', 'ETCD', {
          hint: 'An external etcd? Name its members with --etcd-endpoints, or back it up yourself and pass --skip-backup.',
        });
      const tls = endpoints.some((e) => e.startsWith('https://'))
        ? etcd.loadTls(etcd.kubeadmTlsPaths(o.pkiDir), deps.clock.now())
        : null;
      const port = await etcd.createEtcdPort({ tls, timeoutMs: o.dialTimeoutMs });
      try {
        const r = await etcd.takeBackup(
          { endpoints, dir: o.dir, encryptionKey: null, retention: {} },
          {
            etcd: port,
            fs: etcd.nodeBackupFs,
            clock: deps.clock,
            signal: signal ?? new AbortController().signal,
            observer: deps.observer,
          },
        );
        if (!r.sidecar.verified)
          throw new BosunError(`the backup ${r.file} was not verified`, 'SNAPSHOT_INVALID');
        return {
          file: r.file,
          host: o.host,
          takenAt: r.sidecar.time,
          revision: r.sidecar.revision,
          sha256: r.sidecar.sha256,
        };
      } finally {
        port.close();
      }
    },
  };
}
