// kubeadm's certificate table, as data: which certificates a control plane holds, their file base
// names, signing CA, subject, extended key usages and SAN rules, plus the kubeconfig client
// certificates. Read from kubeadm cmd/kubeadm/app/phases/certs/certlist.go, util/pkiutil/
// pki_helpers.go (GetAPIServerAltNames, getAltNames, NewSignedCert) and phases/kubeconfig.
// Pure: no I/O, no Node built-ins. The generator, `certs check` and `certs renew` all read it,
// so a certificate bosun makes and one it checks can never disagree about what kubeadm expects.

/** The three kubeadm certificate authorities, by kubeadm's name. */
export type CaName = 'ca' | 'etcd-ca' | 'front-proxy-ca';

/** Extended key usages kubeadm puts on its certificates. */
export type ExtUsage = 'serverAuth' | 'clientAuth';

/** How a leaf's subjectAltName is built. */
export type SanRule = 'apiserver' | 'etcd' | 'none';

/** One certificate authority, as in certlist.go. */
export interface CaSpec {
  name: CaName;
  /** Path of cert/key under the pki dir without extension: `etcd/ca` -> pki/etcd/ca.crt. */
  baseName: string;
  commonName: string;
}

/** One leaf certificate with files in the pki dir, as in certlist.go. */
export interface LeafSpec {
  name: string;
  baseName: string;
  caName: CaName;
  /** Fixed CN, or 'node-name' for etcd-server/etcd-peer (setCommonNameToNodeName). */
  commonName: string | 'node-name';
  organization: readonly string[];
  usages: readonly ExtUsage[];
  sans: SanRule;
}

/** One kubeconfig file whose user authenticates with a client certificate signed by `ca`. */
export interface KubeconfigSpec {
  /** kubeadm's name, which is also the file name under the config dir (admin.conf, ...). */
  name: string;
  /** CN of the client certificate; 'node' for kubelet.conf (system:node:NAME). */
  commonName: string | 'node';
  organization: readonly string[];
  /**
   * kubeadm writes it only on the node where `kubeadm init` ran, never on a control plane that
   * joined (super-admin.conf, KEP 4214): where it is missing, that is kubeadm's normal layout.
   */
  initNodeOnly?: boolean;
}

/** kubeadm's CAs (certlist.go KubeadmCertRootCA, KubeadmCertEtcdCA, KubeadmCertFrontProxyCA). */
export const CA_SPECS: readonly CaSpec[] = [
  { name: 'ca', baseName: 'ca', commonName: 'kubernetes' },
  { name: 'etcd-ca', baseName: 'etcd/ca', commonName: 'etcd-ca' },
  { name: 'front-proxy-ca', baseName: 'front-proxy-ca', commonName: 'front-proxy-ca' },
];

/**
 * kubeadm's leaf certificates. Since v1.29 apiserver-kubelet-client is in kubeadm:cluster-admins
 * (not system:masters) and the etcd clients carry no O at all.
 */
export const LEAF_SPECS: readonly LeafSpec[] = [
  {
    name: 'apiserver',
    baseName: 'apiserver',
    caName: 'ca',
    commonName: 'kube-apiserver',
    organization: [],
    usages: ['serverAuth'],
    sans: 'apiserver',
  },
  {
    name: 'apiserver-kubelet-client',
    baseName: 'apiserver-kubelet-client',
    caName: 'ca',
    commonName: 'kube-apiserver-kubelet-client',
    organization: ['kubeadm:cluster-admins'],
    usages: ['clientAuth'],
    sans: 'none',
  },
  {
    name: 'front-proxy-client',
    baseName: 'front-proxy-client',
    caName: 'front-proxy-ca',
    commonName: 'front-proxy-client',
    organization: [],
    usages: ['clientAuth'],
    sans: 'none',
  },
  // etcd 3.2 wants ClientAuth on the server cert too (certlist.go's TODO, etcd-io/etcd#9785).
  {
    name: 'etcd-server',
    baseName: 'etcd/server',
    caName: 'etcd-ca',
    commonName: 'node-name',
    organization: [],
    usages: ['serverAuth', 'clientAuth'],
    sans: 'etcd',
  },
  {
    name: 'etcd-peer',
    baseName: 'etcd/peer',
    caName: 'etcd-ca',
    commonName: 'node-name',
    organization: [],
    usages: ['serverAuth', 'clientAuth'],
    sans: 'etcd',
  },
  {
    name: 'etcd-healthcheck-client',
    baseName: 'etcd/healthcheck-client',
    caName: 'etcd-ca',
    commonName: 'kube-etcd-healthcheck-client',
    organization: [],
    usages: ['clientAuth'],
    sans: 'none',
  },
  {
    name: 'apiserver-etcd-client',
    baseName: 'apiserver-etcd-client',
    caName: 'etcd-ca',
    commonName: 'kube-apiserver-etcd-client',
    organization: [],
    usages: ['clientAuth'],
    sans: 'none',
  },
];

/** kubeadm's kubeconfig files (phases/kubeconfig/kubeconfig.go getKubeConfigSpecsBase). */
export const KUBECONFIG_SPECS: readonly KubeconfigSpec[] = [
  { name: 'admin.conf', commonName: 'kubernetes-admin', organization: ['kubeadm:cluster-admins'] },
  {
    name: 'super-admin.conf',
    commonName: 'kubernetes-super-admin',
    organization: ['system:masters'],
    initNodeOnly: true,
  },
  { name: 'controller-manager.conf', commonName: 'system:kube-controller-manager', organization: [] },
  { name: 'scheduler.conf', commonName: 'system:kube-scheduler', organization: [] },
  { name: 'kubelet.conf', commonName: 'node', organization: ['system:nodes'] },
];

/** Why a file kubeadm does not write on every node is absent here, and the command that makes one. */
export interface Absence {
  /** "kubeadm writes it only on the node where kubeadm init ran". */
  reason: string;
  /** The kubeadm command that makes one, for whoever wants it on this node. */
  hint: string;
}

/**
 * For a kubeconfig kubeadm writes only where `kubeadm init` ran (super-admin.conf): why its absence
 * is kubeadm's normal layout, and how to make one (kubeadm's own advice, KEP 4214). Undefined for a
 * kubeconfig every control plane gets, whose absence is a problem.
 */
export function expectedAbsence(spec: KubeconfigSpec): Absence | undefined {
  if (!spec.initNodeOnly) return undefined;
  return {
    reason: 'kubeadm writes it only on the node where kubeadm init ran',
    hint: `kubeadm kubeconfig user --client-name=${spec.commonName} --org=${spec.organization.join(',')}`,
  };
}

/** The minor of a Kubernetes version ("v1.28.15" -> 28); undefined when it is not one. */
export function kubernetesMinor(version: string): number | undefined {
  const m = /^v?1\.(\d+)(?:\.|$)/.exec(version.trim());
  return m ? Number(m[1]) : undefined;
}

/** The first kubeadm with super-admin.conf and the kubeadm:cluster-admins group (kubernetes#121305). */
const SUPER_ADMIN_MINOR = 29;

/** Before v1.29 (no version: the newest kubeadm), true. */
function before129(version: string | undefined): boolean {
  const minor = version === undefined ? undefined : kubernetesMinor(version);
  return minor !== undefined && minor < SUPER_ADMIN_MINOR;
}

/** kubeadm's system:masters group, which its certificates left in v1.29. */
const MASTERS = ['system:masters'];

/**
 * The kubeconfigs kubeadm of `version` writes on a control plane ("v1.28.15"; undefined: the
 * newest kubeadm). Before v1.29 there is no super-admin.conf and admin.conf is in system:masters.
 */
export function kubeconfigSpecsFor(version: string | undefined): readonly KubeconfigSpec[] {
  if (!before129(version)) return KUBECONFIG_SPECS;
  return KUBECONFIG_SPECS.filter((s) => s.name !== 'super-admin.conf').map((s) =>
    s.name === 'admin.conf' ? { ...s, organization: MASTERS } : s,
  );
}

/**
 * kubeadm's leaf certificates as kubeadm of `version` issues them: the same files in every
 * release; before v1.29 apiserver-kubelet-client (kubernetes#121837) and the etcd clients
 * (#119859, #120521) were in system:masters.
 */
export function leafSpecsFor(version: string | undefined): readonly LeafSpec[] {
  if (!before129(version)) return LEAF_SPECS;
  const masters = new Set(['apiserver-kubelet-client', 'apiserver-etcd-client', 'etcd-healthcheck-client']);
  return LEAF_SPECS.map((s) => (masters.has(s.name) ? { ...s, organization: MASTERS } : s));
}

/**
 * The Kubernetes version in a static pod manifest's image of `component`
 * ("registry.k8s.io/kube-apiserver:v1.28.15" -> "v1.28.15"), whichever registry; undefined when the
 * image of that component carries no version tag.
 */
export function imageVersion(manifestText: string, component: string): string | undefined {
  // component is one of kubeadm's names (letters and dashes): nothing in it needs escaping.
  const re = new RegExp(`/${component}:(v\\d+\\.\\d+\\.\\d+[0-9A-Za-z.+-]*)`);
  return re.exec(manifestText)?.[1];
}

/** kubernetesVersion of a ClusterConfiguration as kubeadm stores it in kube-system/kubeadm-config. */
export function versionFromClusterConfiguration(text: string): string | undefined {
  return /^kubernetesVersion:\s*["']?(v?\d+\.\d+\.\d+[0-9A-Za-z.+-]*)["']?\s*$/m.exec(text)?.[1];
}

/** kubeadm's defaults (constants.go, apis/kubeadm/v1beta4 defaults). */
export const KUBEADM_DEFAULTS = {
  clusterName: 'kubernetes',
  serviceIp: '10.96.0.1',
  dnsDomain: 'cluster.local',
  /** constants.CertificateValidity: one year. */
  leafValidityDays: 365,
  /** certutil.NewSelfSignedCACert: ten 365-day years. */
  caValidityDays: 3650,
  /** constants.CertificateBackdate: CAs start 5 minutes in the past to allow small clock jumps. */
  caBackdateMs: 5 * 60_000,
  /** kube-controller-manager --cluster-signing-duration default (kubelet client certs). */
  kubeletClientValidityDays: 365,
} as const;

/** A certificate's subjectAltName split the way Go's x509 template holds it. */
export interface AltNames {
  dns: string[];
  /** Canonical text form (IPv4 dotted, IPv6 as openssl prints it: 8 uncompressed groups). */
  ips: string[];
}

/** What the SAN rules need to know about a node. */
export interface AltNameInput {
  nodeName: string;
  advertiseAddress: string;
  serviceIp: string;
  dnsDomain: string;
  /** 'host:port' or '[v6]:port'; its host joins the apiserver SANs. Empty: none. */
  controlPlaneEndpoint: string;
  extraSans: readonly string[];
}

/** The subject's CN for a leaf on a given node. */
export function leafCommonName(spec: LeafSpec, nodeName: string): string {
  return spec.commonName === 'node-name' ? nodeName : spec.commonName;
}

/** The client certificate CN of a kubeconfig on a given node. */
export function kubeconfigCommonName(spec: KubeconfigSpec, nodeName: string): string {
  return spec.commonName === 'node' ? `system:node:${nodeName}` : spec.commonName;
}

/** The SANs kubeadm gives a leaf (GetAPIServerAltNames / getAltNames), deduplicated and DNS-sorted. */
export function altNamesFor(rule: SanRule, input: AltNameInput): AltNames {
  if (rule === 'none') return { dns: [], ips: [] };
  if (rule === 'etcd') {
    return normalizeAltNames({
      dns: [input.nodeName, 'localhost'],
      ips: [input.advertiseAddress, '127.0.0.1', '::1'],
    });
  }
  const dns = [
    input.nodeName,
    'kubernetes',
    'kubernetes.default',
    'kubernetes.default.svc',
    `kubernetes.default.svc.${input.dnsDomain}`,
  ];
  const ips = [input.serviceIp, input.advertiseAddress];
  if (input.controlPlaneEndpoint !== '') {
    const host = splitHostPort(input.controlPlaneEndpoint).host;
    if (isIp(host)) ips.push(host);
    else dns.push(host);
  }
  for (const san of input.extraSans) {
    if (isIp(san)) ips.push(san);
    else dns.push(san);
  }
  return normalizeAltNames({ dns, ips });
}

/**
 * pkiutil.RemoveDuplicateAltNames: DNS names become a sorted set (sets.List), IPs keep their
 * first-seen order without repeats. IPs are put in canonical form first.
 */
export function normalizeAltNames(names: AltNames): AltNames {
  const dns = [...new Set(names.dns)].sort();
  const ips: string[] = [];
  for (const ip of names.ips) {
    const c = canonicalIp(ip);
    if (c !== undefined && !ips.includes(c)) ips.push(c);
  }
  return { dns, ips };
}

/** Splits 'host:port' or '[v6]:port' (kubeadmutil.ParseHostPort); a bare host has port ''. */
export function splitHostPort(endpoint: string): { host: string; port: string } {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(endpoint);
  if (v6) return { host: v6[1] ?? '', port: v6[2] ?? '' };
  const i = endpoint.lastIndexOf(':');
  if (i >= 0 && endpoint.indexOf(':') === i)
    return { host: endpoint.slice(0, i), port: endpoint.slice(i + 1) };
  return { host: endpoint, port: '' };
}

/** True for a textual IPv4 or IPv6 address. */
export function isIp(text: string): boolean {
  return canonicalIp(text) !== undefined;
}

/**
 * The canonical text of an IP as openssl prints a SAN: IPv4 dotted quad; IPv6 as eight
 * uncompressed lowercase hex groups without leading zeros ("0:0:0:0:0:0:0:1"). IPv4-mapped
 * IPv6 becomes IPv4, as Go's net.IP.To4 stores it. Undefined when it is not an IP.
 */
export function canonicalIp(text: string): string | undefined {
  const v4 = parseIpv4(text);
  if (v4) return v4.join('.');
  const v6 = parseIpv6(text);
  if (!v6) return undefined;
  if (v6.slice(0, 5).every((g) => g === 0) && v6[5] === 0xffff) {
    const [a = 0, b = 0] = [v6[6], v6[7]];
    return [a >> 8, a & 255, b >> 8, b & 255].join('.');
  }
  return v6.map((g) => g.toString(16)).join(':');
}

/** The 4 or 16 bytes of an IP for the SAN's iPAddress, undefined when not an IP. */
export function ipBytes(text: string): number[] | undefined {
  const v4 = parseIpv4(text);
  if (v4) return v4;
  const v6 = parseIpv6(text);
  if (!v6) return undefined;
  return v6.flatMap((g) => [g >> 8, g & 255]);
}

function parseIpv4(text: string): number[] | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  return parts.every((p) => p <= 255) ? parts : undefined;
}

function parseIpv6(text: string): number[] | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(text) || !text.includes(':')) return undefined;
  let s = text;
  const lastColon = s.lastIndexOf(':');
  const last = s.slice(lastColon + 1);
  if (last.includes('.')) {
    // An embedded IPv4 tail ("::ffff:10.0.0.1") is two 16-bit groups.
    const v4 = parseIpv4(last);
    if (!v4) return undefined;
    const [a = 0, b = 0, c = 0, d = 0] = v4;
    s = `${s.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const parse = (h: string): number[] | undefined => {
    if (h === '') return [];
    const out: number[] = [];
    for (const g of h.split(':')) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = parse(halves[0] ?? '');
  const rest = halves.length === 2 ? parse(halves[1] ?? '') : [];
  if (!head || !rest) return undefined;
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  const fill = 8 - head.length - rest.length;
  if (fill < 1) return undefined;
  return [...head, ...new Array<number>(fill).fill(0), ...rest];
}
