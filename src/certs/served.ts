// `bosun certs check --served`: what is actually served. Finds every control plane's
// kube-apiserver and etcd (client and peer ports) from their mirror pods' command lines and every
// node's kubelet from the Node objects, does a TLS handshake with each, and reports the served
// certificate's expiry and, for this node, whether it is the certificate on disk (after a renewal
// without a restart they differ). Never sends anything after the handshake.
import { join } from 'node:path';
import type { CertPaths } from './check.ts';
import { checkVerdict, rowStatus, type CheckVerdict, type RowStatus } from './expiry.ts';
import { readPkiFile } from './files.ts';
import { readCertPem, signedBy, type CertFacts } from './inspect.ts';

/** A node as --served needs it. */
export interface ClusterNode {
  name: string;
  internalIP: string | undefined;
  /** status.daemonEndpoints.kubeletEndpoint.Port (the kubelet's default 10250 when unset). */
  kubeletPort: number;
  /** Labelled node-role.kubernetes.io/control-plane (or the older .../master). */
  controlPlane?: boolean;
}

/** The narrow kube port --served needs. */
export interface ServedKube {
  listNodes(): Promise<ClusterNode[]>;
  /** The command line (command + args) of a kube-system pod's first container; null when the pod does not exist. */
  getPodCommand(name: string): Promise<string[] | null>;
}

/** A TLS endpoint and the client credentials to present (etcd requires them). */
export interface TlsTarget {
  host: string;
  port: number;
  servername?: string;
  certPem?: string;
  keyPem?: string;
}

/** Does one TLS handshake and returns the served leaf certificate as PEM. Throws when it cannot. */
export interface TlsProbe {
  servedCertificate(target: TlsTarget): Promise<string>;
}

/**
 * Asks a kube-apiserver whether it is ready: an anonymous GET /readyz (allowed to unauthenticated
 * users by kube's system:public-info-viewer role). Resolves with the HTTP status; throws when the
 * server cannot be reached.
 */
export interface ReadyzProbe {
  readyz(target: { host: string; port: number }): Promise<number>;
}

/** Which server a row is about. */
export type ServedComponent = 'kube-apiserver' | 'etcd-client' | 'etcd-peer' | 'kubelet';

/** One served endpoint and what bosun found there. */
export interface ServedRow {
  node: string;
  component: ServedComponent;
  /** host:port */
  endpoint: string;
  facts: CertFacts | undefined;
  /** 'same' / 'different' from the file on disk; 'unknown' for other nodes or when there is no file. */
  onDisk: 'same' | 'different' | 'unknown';
  diskPath: string | undefined;
  /** The served certificate verifies against the CA on disk. */
  signedByCa: boolean | undefined;
  error: string | undefined;
  status: RowStatus | 'unreachable' | 'stale';
}

/** A server --served did not check, and why (it is no static pod, the Node has no address). */
export interface NotChecked {
  node: string;
  component: ServedComponent | 'etcd';
  reason: string;
}

/** What --served found: the endpoints it checked, and what it could not check. */
export interface ServedCheck {
  rows: ServedRow[];
  notChecked: NotChecked[];
}

/** The value of --flag=value or --flag value on a command line. */
export function flagValue(command: readonly string[], flag: string): string | undefined {
  for (let i = 0; i < command.length; i++) {
    const a = command[i] ?? '';
    if (a.startsWith(`${flag}=`)) return a.slice(flag.length + 1);
    if (a === flag) return command[i + 1];
  }
  return undefined;
}

/** Picks the URL of a comma-separated etcd listen list that a client on this node should dial. */
export function pickListenUrl(
  list: string | undefined,
  preferHost: string | undefined,
): { host: string; port: number } | undefined {
  if (!list) return undefined;
  const urls: { host: string; port: number }[] = [];
  for (const raw of list.split(',')) {
    try {
      const u = new URL(raw.trim());
      urls.push({
        host: u.hostname.replace(/^\[|\]$/g, ''),
        port: Number(u.port || (u.protocol === 'https:' ? 443 : 80)),
      });
    } catch {
      // an unparsable entry is skipped
    }
  }
  return (
    urls.find((u) => u.host === preferHost) ??
    urls.find((u) => u.host !== '0.0.0.0' && u.host !== '::') ??
    urls[0]
  );
}

async function readOptional(path: string): Promise<string | undefined> {
  const r = await readPkiFile(path);
  return r.kind === 'ok' ? r.text : undefined;
}

/** This node's name, from its etcd server certificate (kubeadm: CN = node name) or kubelet client cert. */
export async function localNodeName(paths: CertPaths): Promise<string | undefined> {
  const etcd = await readOptional(join(paths.pkiDir, 'etcd', 'server.crt'));
  if (etcd) {
    const r = readCertPem(etcd);
    const cn = r.ok ? /(?:^|, )CN = ([^,]+)/.exec(r.facts.subject)?.[1] : undefined;
    if (cn) return cn;
  }
  const kubelet = await readOptional(join(paths.kubeletPkiDir, 'kubelet-client-current.pem'));
  if (kubelet) {
    const r = readCertPem(kubelet);
    const cn = r.ok ? /CN = system:node:([^,]+)/.exec(r.facts.subject)?.[1] : undefined;
    if (cn) return cn;
  }
  return undefined;
}

interface Planned {
  node: string;
  component: ServedComponent;
  target: TlsTarget;
  diskFile: string | undefined;
  caFile: string | undefined;
}

/**
 * Finds the endpoints, probes each, compares with disk for the local node. A control plane (by its
 * label, or this node when it holds pki/apiserver.crt) whose kube-apiserver or etcd has no mirror
 * pod, and a Node without an InternalIP, are returned as not checked, with the reason.
 */
export async function checkServed(
  opts: {
    paths: CertPaths;
    localNode: string | undefined;
    now: Date;
    warnWithinMs: number;
    /** Probe this node's endpoints only (after a restart on it); default every node. */
    onlyNode?: string;
  },
  deps: { kube: ServedKube; tls: TlsProbe },
): Promise<ServedCheck> {
  const { paths } = opts;
  const pki = paths.pkiDir;
  const etcdClientCert = await readOptional(join(pki, 'apiserver-etcd-client.crt'));
  const etcdClientKey = await readOptional(join(pki, 'apiserver-etcd-client.key'));
  const peerCert = await readOptional(join(pki, 'etcd', 'peer.crt'));
  const peerKey = await readOptional(join(pki, 'etcd', 'peer.key'));
  const servingRotated = join(paths.kubeletPkiDir, 'kubelet-server-current.pem');
  const kubeletServing =
    (await readOptional(servingRotated)) !== undefined
      ? servingRotated
      : join(paths.kubeletPkiDir, 'kubelet.crt');

  const localControlPlane = (await readOptional(join(pki, 'apiserver.crt'))) !== undefined;
  const plans: Planned[] = [];
  const notChecked: NotChecked[] = [];
  for (const n of await deps.kube.listNodes()) {
    if (opts.onlyNode !== undefined && n.name !== opts.onlyNode) continue;
    const local = n.name === opts.localNode;
    const host = n.internalIP;
    const controlPlane = n.controlPlane === true || (local && localControlPlane);
    const apiserver = await deps.kube.getPodCommand(`kube-apiserver-${n.name}`);
    if (apiserver && host) {
      const port = Number(flagValue(apiserver, '--secure-port') ?? '6443');
      plans.push({
        node: n.name,
        component: 'kube-apiserver',
        target: { host, port },
        diskFile: local ? join(pki, 'apiserver.crt') : undefined,
        caFile: join(pki, 'ca.crt'),
      });
    }
    const etcd = await deps.kube.getPodCommand(`etcd-${n.name}`);
    if (etcd) {
      const client = pickListenUrl(flagValue(etcd, '--listen-client-urls'), host);
      if (client) {
        plans.push({
          node: n.name,
          component: 'etcd-client',
          target: {
            ...client,
            ...(etcdClientCert && etcdClientKey ? { certPem: etcdClientCert, keyPem: etcdClientKey } : {}),
          },
          diskFile: local ? join(pki, 'etcd', 'server.crt') : undefined,
          caFile: join(pki, 'etcd', 'ca.crt'),
        });
      }
      const peer = pickListenUrl(flagValue(etcd, '--listen-peer-urls'), host);
      if (peer) {
        plans.push({
          node: n.name,
          component: 'etcd-peer',
          target: { ...peer, ...(peerCert && peerKey ? { certPem: peerCert, keyPem: peerKey } : {}) },
          diskFile: local ? join(pki, 'etcd', 'peer.crt') : undefined,
          caFile: join(pki, 'etcd', 'ca.crt'),
        });
      }
    }
    if (host)
      plans.push({
        node: n.name,
        component: 'kubelet',
        target: { host, port: n.kubeletPort },
        diskFile: local ? kubeletServing : undefined,
        caFile: undefined,
      });
    else
      notChecked.push({
        node: n.name,
        component: 'kubelet',
        reason: `the Node lists no InternalIP address to reach its servers at`,
      });
    const notStatic = (pod: string): string =>
      `no mirror pod kube-system/${pod}: it does not run as a static pod there`;
    if (controlPlane && !apiserver)
      notChecked.push({
        node: n.name,
        component: 'kube-apiserver',
        reason: notStatic(`kube-apiserver-${n.name}`),
      });
    if (controlPlane && !etcd)
      notChecked.push({
        node: n.name,
        component: 'etcd',
        reason: `${notStatic(`etcd-${n.name}`)} (external etcd?)`,
      });
  }

  const rows: ServedRow[] = [];
  for (const p of plans) {
    const endpoint = `${p.target.host.includes(':') ? `[${p.target.host}]` : p.target.host}:${p.target.port}`;
    const base = { node: p.node, component: p.component, endpoint, diskPath: p.diskFile };
    let pem: string;
    try {
      pem = await deps.tls.servedCertificate(p.target);
    } catch (e) {
      rows.push({
        ...base,
        facts: undefined,
        onDisk: 'unknown',
        signedByCa: undefined,
        error: e instanceof Error ? e.message : String(e),
        status: 'unreachable',
      });
      continue;
    }
    const served = readCertPem(pem);
    if (!served.ok) {
      rows.push({
        ...base,
        facts: undefined,
        onDisk: 'unknown',
        signedByCa: undefined,
        error: served.message,
        status: 'unreachable',
      });
      continue;
    }
    let onDisk: ServedRow['onDisk'] = 'unknown';
    if (p.diskFile) {
      const disk = await readOptional(p.diskFile);
      const d = disk === undefined ? undefined : readCertPem(disk);
      if (d?.ok) onDisk = d.facts.sha256 === served.facts.sha256 ? 'same' : 'different';
    }
    const caPem = p.caFile ? await readOptional(p.caFile) : undefined;
    const signed = caPem === undefined ? undefined : signedBy(served.pem, caPem);
    const dated = rowStatus(
      { missing: false, problems: [], notBefore: served.facts.notBefore, notAfter: served.facts.notAfter },
      opts.now,
      opts.warnWithinMs,
    );
    rows.push({
      ...base,
      facts: served.facts,
      onDisk,
      signedByCa: signed,
      error: undefined,
      status: onDisk === 'different' ? 'stale' : dated,
    });
  }
  return { rows, notChecked };
}

/**
 * The verdict on --served rows, as checkVerdict's: a problem (unreachable, stale, not signed by
 * the CA on disk), else expired or expiring, else ok.
 */
export function servedVerdict(rows: readonly ServedRow[]): CheckVerdict {
  if (rows.some((r) => r.status === 'unreachable' || r.status === 'stale' || r.signedByCa === false))
    return 'problem';
  return checkVerdict(
    rows.map((r) => (r.status === 'unreachable' || r.status === 'stale' ? 'invalid' : r.status)),
  );
}
