// Generates a kubeadm-layout PKI: the three CAs and the service-account key pair, a control
// plane's leaf certificates and kubeconfigs, and the kubelet's client and serving certificates,
// with kubeadm's subjects, SANs, usages and validity (see kubeadm-spec.ts). The sandbox builds its
// nodes with it and the certs tests check against it. Time comes in as `now`; nothing here reads
// the clock. It writes only under the directories it is given.
import { randomBytes } from 'node:crypto';
import { readFile, rename, symlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { BosunError, errorMessage } from '../common/errors.ts';
import { MODE_PUBLIC, MODE_SECRET, writeFileAtomic } from './files.ts';
import {
  CA_SPECS,
  KUBEADM_DEFAULTS,
  altNamesFor,
  isIp,
  kubeconfigCommonName,
  kubeconfigSpecsFor,
  leafCommonName,
  leafSpecsFor,
  type AltNameInput,
  type CaName,
  type CaSpec,
} from './kubeadm-spec.ts';
import { buildKubeconfig, type ClientAuth } from './kubeconfig.ts';
import {
  certToPem,
  generateKeyPair,
  importPrivateKeyPem,
  issueCertificate,
  parseCertificate,
  privateKeyToPem,
  publicKeyToPem,
  type KeyAlgorithm,
  type KeyPair,
  type x509,
} from './x509.ts';

export type { KeyAlgorithm } from './x509.ts';

const DAY_MS = 86_400_000;

/** A certificate and its private key, both PEM. */
export interface CertKeyPair {
  certPem: string;
  /** kubeadm's form: "RSA PRIVATE KEY" (PKCS#1) or "EC PRIVATE KEY" (SEC1). */
  keyPem: string;
}

/** The cluster-wide secrets every control plane shares. */
export interface ClusterCas {
  ca: CertKeyPair;
  etcdCa: CertKeyPair;
  frontProxyCa: CertKeyPair;
  /** The service-account token signing key pair (pki/sa.key, pki/sa.pub). */
  sa: { publicKeyPem: string; privateKeyPem: string };
}

/** Options for generateClusterCas. */
export interface ClusterCaOptions {
  now: Date;
  keyAlgorithm: KeyAlgorithm;
  /** Default 3650 (kubeadm's ten years). */
  caValidityDays?: number;
}

/** Creates the kubernetes, etcd and front-proxy CAs and the service-account keys, as `kubeadm init` does. */
export async function generateClusterCas(opts: ClusterCaOptions): Promise<ClusterCas> {
  const validity = (opts.caValidityDays ?? KUBEADM_DEFAULTS.caValidityDays) * DAY_MS;
  const make = async (spec: CaSpec): Promise<CertKeyPair> => {
    const key = await generateKeyPair(opts.keyAlgorithm);
    const cert = await issueCertificate({
      subject: { commonName: spec.commonName, organization: [] },
      issuer: 'self',
      subjectKey: key,
      // pkiutil.NewCertificateAuthority backdates; certutil's NotAfter counts from now.
      notBefore: new Date(opts.now.getTime() - KUBEADM_DEFAULTS.caBackdateMs),
      notAfter: new Date(opts.now.getTime() + validity),
      isCA: true,
      keyUsage: 'ca',
      usages: [],
      // certutil.NewSelfSignedCACert: DNSNames = []string{cfg.CommonName}.
      altNames: { dns: [spec.commonName], ips: [] },
    });
    return { certPem: certToPem(cert), keyPem: await privateKeyToPem(key.privateKey) };
  };
  const [ca, etcdCa, frontProxyCa, saKey] = await Promise.all([
    make(caSpec('ca')),
    make(caSpec('etcd-ca')),
    make(caSpec('front-proxy-ca')),
    generateKeyPair(opts.keyAlgorithm),
  ]);
  return {
    ca,
    etcdCa,
    frontProxyCa,
    sa: {
      publicKeyPem: await publicKeyToPem(saKey.publicKey),
      privateKeyPem: await privateKeyToPem(saKey.privateKey),
    },
  };
}

function caSpec(name: CaName): CaSpec {
  const spec = CA_SPECS.find((c) => c.name === name);
  if (!spec) throw new Error(`unknown CA ${name}`);
  return spec;
}

/** Reads the CAs (and sa keys) back from a control plane's etc/kubernetes dir. */
export async function loadClusterCas(etcKubernetesDir: string): Promise<ClusterCas> {
  const pki = join(etcKubernetesDir, 'pki');
  const read = async (rel: string): Promise<string> => {
    try {
      return await readFile(join(pki, rel), 'utf8');
    } catch (e) {
      throw new BosunError(`cannot read ${join(pki, rel)}: ${errorMessage(e)}`, 'PKI', {
        cause: e,
        hint: 'Point at a control plane whose etc/kubernetes/pki holds the CA certificates and keys.',
      });
    }
  };
  const pair = async (base: string): Promise<CertKeyPair> => ({
    certPem: await read(`${base}.crt`),
    keyPem: await read(`${base}.key`),
  });
  return {
    ca: await pair('ca'),
    etcdCa: await pair('etcd/ca'),
    frontProxyCa: await pair('front-proxy-ca'),
    sa: { publicKeyPem: await read('sa.pub'), privateKeyPem: await read('sa.key') },
  };
}

/** What a node's certificates are made for. */
export interface NodePkiOptions {
  nodeName: string;
  /** The node's IP ('127.0.0.1' in the sandbox): apiserver and etcd SANs. */
  advertiseAddress: string;
  /** 'host:port', written as https://host:port into every kubeconfig's server; its host joins the apiserver SANs. */
  controlPlaneEndpoint: string;
  /** Default 'kubernetes'. */
  clusterName?: string;
  /** The first IP of the service subnet; default '10.96.0.1'. */
  serviceIp?: string;
  /** Default 'cluster.local'. */
  dnsDomain?: string;
  /** Extra apiserver SANs (DNS names or IPs), kubeadm's apiServer.certSANs. */
  apiServerExtraSans?: string[];
  now: Date;
  keyAlgorithm: KeyAlgorithm;
  /**
   * The kubeadm release whose layout to write ("v1.28.15"): before v1.29 no super-admin.conf and
   * system:masters where later releases use kubeadm:cluster-admins or no group. Default: the newest.
   */
  kubernetesVersion?: string;
  /**
   * The control plane joined (`kubeadm join --control-plane`) instead of running `kubeadm init`:
   * it gets no super-admin.conf, which kubeadm writes only on the init node. Default false.
   */
  joined?: boolean;
  /** Default 365. */
  leafValidityDays?: number;
  /**
   * Per-certificate override of notAfter, by kubeadm cert name ('apiserver', 'etcd-server',
   * 'admin.conf', ...); 'kubelet-client' (or 'kubelet.conf', the same certificate) and
   * 'kubelet-serving' (kubelet.crt) for the kubelet's. For tests that need certs expiring in days.
   */
  notAfterOverrides?: Record<string, Date>;
  /**
   * The path kubelet.conf names for its client certificate. Default: the absolute path of
   * kubeletPkiDir/kubelet-client-current.pem.
   */
  kubeletClientCertPathInConfig?: string;
}

/** A CA ready to sign: its certificate parsed, its key imported. */
export interface SigningCa {
  cert: x509.X509Certificate;
  key: KeyPair;
  pem: string;
}

/** Parses a CA's certificate and imports its key, for signing. */
export async function loadSigningCa(pair: CertKeyPair): Promise<SigningCa> {
  return {
    cert: parseCertificate(pair.certPem),
    key: await importPrivateKeyPem(pair.keyPem),
    pem: pair.certPem,
  };
}

function leafNotAfter(node: NodePkiOptions, name: string): Date {
  const override = node.notAfterOverrides?.[name];
  if (override) return override;
  return new Date(node.now.getTime() + (node.leafValidityDays ?? KUBEADM_DEFAULTS.leafValidityDays) * DAY_MS);
}

function altNameInput(node: NodePkiOptions): AltNameInput {
  return {
    nodeName: node.nodeName,
    advertiseAddress: node.advertiseAddress,
    serviceIp: node.serviceIp ?? KUBEADM_DEFAULTS.serviceIp,
    dnsDomain: node.dnsDomain ?? KUBEADM_DEFAULTS.dnsDomain,
    controlPlaneEndpoint: node.controlPlaneEndpoint,
    extraSans: node.apiServerExtraSans ?? [],
  };
}

async function writePair(pki: string, base: string, pair: CertKeyPair): Promise<void> {
  await writeFileAtomic(join(pki, `${base}.key`), pair.keyPem, MODE_SECRET);
  await writeFileAtomic(join(pki, `${base}.crt`), pair.certPem, MODE_PUBLIC);
}

/** What a kubeconfig user's client certificate says. */
export interface ClientCertRequest {
  /** The user name (CN). */
  commonName: string;
  /** The user's groups (O). */
  organization: readonly string[];
  keyAlgorithm: KeyAlgorithm;
  notAfter: Date;
}

/**
 * A kubeconfig user's client certificate and new key, signed by the kubernetes CA, as kubeadm makes
 * them for its own kubeconfigs and for `kubeadm kubeconfig user` (pkiutil.NewCertAndKey ->
 * NewSignedCert): clientAuth only, no SANs, NotBefore the CA's.
 */
export async function issueKubeconfigClientCert(ca: SigningCa, req: ClientCertRequest): Promise<CertKeyPair> {
  const key = await generateKeyPair(req.keyAlgorithm);
  const cert = await issueCertificate({
    subject: { commonName: req.commonName, organization: req.organization },
    issuer: { cert: ca.cert, key: ca.key.privateKey },
    subjectKey: key,
    notBefore: ca.cert.notBefore,
    notAfter: req.notAfter,
    isCA: false,
    keyUsage: 'leaf',
    usages: ['clientAuth'],
    altNames: { dns: [], ips: [] },
  });
  return { certPem: certToPem(cert), keyPem: await privateKeyToPem(key.privateKey) };
}

function server(node: NodePkiOptions): string {
  return `https://${node.controlPlaneEndpoint}`;
}

/**
 * Writes a control plane's full kubeadm set: etcKubernetesDir/pki/{ca,apiserver,
 * apiserver-kubelet-client,apiserver-etcd-client,front-proxy-ca,front-proxy-client,sa}.*,
 * pki/etcd/{ca,server,peer,healthcheck-client}.*, the kubeconfigs admin.conf, super-admin.conf (since
 * v1.29, and only on the node that ran kubeadm init: not when node.joined), controller-manager.conf,
 * scheduler.conf, kubelet.conf; and the kubelet's pki (see writeKubeletPki).
 * Keys and kubeconfigs 0600, certificates 0644.
 */
export async function writeControlPlanePki(
  etcKubernetesDir: string,
  kubeletPkiDir: string,
  cas: ClusterCas,
  node: NodePkiOptions,
): Promise<void> {
  const pki = join(etcKubernetesDir, 'pki');
  const loaded: Record<CaName, SigningCa> = {
    ca: await loadSigningCa(cas.ca),
    'etcd-ca': await loadSigningCa(cas.etcdCa),
    'front-proxy-ca': await loadSigningCa(cas.frontProxyCa),
  };
  await writePair(pki, 'ca', cas.ca);
  await writePair(pki, 'etcd/ca', cas.etcdCa);
  await writePair(pki, 'front-proxy-ca', cas.frontProxyCa);
  await writeFileAtomic(join(pki, 'sa.key'), cas.sa.privateKeyPem, MODE_SECRET);
  await writeFileAtomic(join(pki, 'sa.pub'), cas.sa.publicKeyPem, MODE_PUBLIC);

  const sanInput = altNameInput(node);
  const leaves = await Promise.all(
    leafSpecsFor(node.kubernetesVersion).map(async (spec) => {
      const ca = loaded[spec.caName];
      const key = await generateKeyPair(node.keyAlgorithm);
      const cert = await issueCertificate({
        subject: { commonName: leafCommonName(spec, node.nodeName), organization: spec.organization },
        issuer: { cert: ca.cert, key: ca.key.privateKey },
        subjectKey: key,
        notBefore: ca.cert.notBefore,
        notAfter: leafNotAfter(node, spec.name),
        isCA: false,
        keyUsage: 'leaf',
        usages: spec.usages,
        altNames: altNamesFor(spec.sans, sanInput),
      });
      return { spec, pair: { certPem: certToPem(cert), keyPem: await privateKeyToPem(key.privateKey) } };
    }),
  );
  for (const { spec, pair } of leaves) await writePair(pki, spec.baseName, pair);

  const clusterName = node.clusterName ?? KUBEADM_DEFAULTS.clusterName;
  const kubeletCurrent = await writeKubeletPki(kubeletPkiDir, loaded.ca, node);
  for (const spec of kubeconfigSpecsFor(node.kubernetesVersion)) {
    if (node.joined && spec.initNodeOnly) continue;
    const cn = kubeconfigCommonName(spec, node.nodeName);
    let auth: ClientAuth;
    if (spec.name === 'kubelet.conf') {
      // kubeadm's kubelet-finalize phase points kubelet.conf at the rotated client cert file.
      const path = node.kubeletClientCertPathInConfig ?? kubeletCurrent;
      auth = { certFile: path, keyFile: path };
    } else {
      auth = await issueKubeconfigClientCert(loaded.ca, {
        commonName: cn,
        organization: spec.organization,
        keyAlgorithm: node.keyAlgorithm,
        notAfter: leafNotAfter(node, spec.name),
      });
    }
    const text = buildKubeconfig({
      clusterName,
      server: server(node),
      caPem: cas.ca.certPem,
      userName: cn,
      contextName: `${cn}@${clusterName}`,
      auth,
    });
    await writeFileAtomic(join(etcKubernetesDir, spec.name), text, MODE_SECRET);
  }
}

/** A worker: pki/ca.crt, kubelet.conf (as the kubelet's TLS bootstrap writes it) and the kubelet pki. */
export async function writeWorkerPki(
  etcKubernetesDir: string,
  kubeletPkiDir: string,
  cas: ClusterCas,
  node: NodePkiOptions,
): Promise<void> {
  const ca = await loadSigningCa(cas.ca);
  await writeFileAtomic(join(etcKubernetesDir, 'pki', 'ca.crt'), cas.ca.certPem, MODE_PUBLIC);
  const current = await writeKubeletPki(kubeletPkiDir, ca, node);
  const path = node.kubeletClientCertPathInConfig ?? current;
  // kubelet bootstrap.go writeKubeconfigFromBootstrapping: default-cluster/default-context/default-auth.
  const text = buildKubeconfig({
    clusterName: 'default-cluster',
    server: server(node),
    caPem: cas.ca.certPem,
    userName: 'default-auth',
    contextName: 'default-context',
    auth: { certFile: path, keyFile: path },
  });
  await writeFileAtomic(join(etcKubernetesDir, 'kubelet.conf'), text, MODE_SECRET);
}

/** kubelet certificate_store.go: pem files are named kubelet-client-2006-01-02-15-04-05.pem. */
function kubeletTimestamp(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${d.getUTCFullYear()}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}-${p(d.getUTCHours())}-${p(d.getUTCMinutes())}-${p(d.getUTCSeconds())}`;
}

/**
 * The kubelet's own pki dir: kubelet-client-<timestamp>.pem (cert then key, as the CSR signer of
 * kube-controller-manager issues it for the kubelet's ECDSA P-256 key), the kubelet-client-current.pem
 * symlink to it, and kubelet.crt/kubelet.key, the self-signed serving pair the kubelet makes when
 * serverTLSBootstrap is off (certutil.GenerateSelfSignedCertKey: a "<node>-ca@<unix>" CA and a
 * "<node>@<unix>" serving cert, both in kubelet.crt). Returns the absolute path of the symlink.
 */
async function writeKubeletPki(dir: string, ca: SigningCa, node: NodePkiOptions): Promise<string> {
  const now = node.now.getTime();
  // The kubelet always asks for an ECDSA P-256 client key (certificate manager: MakeEllipticPrivateKeyPEM).
  const clientKey = await generateKeyPair('ecdsa-p256');
  const yearEnd = now + KUBEADM_DEFAULTS.kubeletClientValidityDays * DAY_MS;
  const clientNotAfter =
    node.notAfterOverrides?.['kubelet-client'] ??
    node.notAfterOverrides?.['kubelet.conf'] ??
    new Date(Math.min(yearEnd, ca.cert.notAfter.getTime()));
  const clientCert = await issueCertificate({
    subject: { commonName: `system:node:${node.nodeName}`, organization: ['system:nodes'] },
    issuer: { cert: ca.cert, key: ca.key.privateKey },
    subjectKey: clientKey,
    // The signer backdates by 5 minutes (pkg/controller/certificates/authority).
    notBefore: new Date(now - KUBEADM_DEFAULTS.caBackdateMs),
    notAfter: clientNotAfter,
    isCA: false,
    keyUsage: 'kubelet-client',
    usages: ['clientAuth'],
    altNames: { dns: [], ips: [] },
  });
  const absDir = resolve(dir);
  const pemPath = join(absDir, `kubelet-client-${kubeletTimestamp(node.now)}.pem`);
  await writeFileAtomic(
    pemPath,
    certToPem(clientCert) + (await privateKeyToPem(clientKey.privateKey)),
    MODE_SECRET,
  );
  const current = join(absDir, 'kubelet-client-current.pem');
  await replaceSymlink(pemPath, current);

  // Self-signed serving pair. The real kubelet uses RSA-2048 here; bosun follows keyAlgorithm so
  // that an ECDSA sandbox stays fast.
  const unix = Math.floor(now / 1000);
  const validFrom = new Date(now - 3_600_000);
  const servingNotAfter =
    node.notAfterOverrides?.['kubelet-serving'] ?? new Date(validFrom.getTime() + 365 * DAY_MS);
  const [caKey, srvKey] = await Promise.all([
    generateKeyPair(node.keyAlgorithm),
    generateKeyPair(node.keyAlgorithm),
  ]);
  const selfCa = await issueCertificate({
    subject: { commonName: `${node.nodeName}-ca@${unix}`, organization: [] },
    issuer: 'self',
    subjectKey: caKey,
    notBefore: validFrom,
    notAfter: new Date(validFrom.getTime() + 365 * DAY_MS),
    isCA: true,
    keyUsage: 'ca',
    usages: [],
    altNames: { dns: [], ips: [] },
  });
  const srv = await issueCertificate({
    subject: { commonName: `${node.nodeName}@${unix}`, organization: [] },
    issuer: { cert: selfCa, key: caKey.privateKey },
    subjectKey: srvKey,
    notBefore: validFrom,
    notAfter: servingNotAfter,
    isCA: false,
    keyUsage: 'leaf',
    usages: ['serverAuth'],
    // GenerateSelfSignedCertKey(host): the host is an IP SAN if it parses as one, else a DNS SAN.
    altNames: isIp(node.nodeName) ? { dns: [], ips: [node.nodeName] } : { dns: [node.nodeName], ips: [] },
  });
  await writeFileAtomic(join(absDir, 'kubelet.key'), await privateKeyToPem(srvKey.privateKey), MODE_SECRET);
  await writeFileAtomic(join(absDir, 'kubelet.crt'), certToPem(srv) + certToPem(selfCa), MODE_PUBLIC);
  return current;
}

/** Points link at target, replacing an existing link in one rename. */
async function replaceSymlink(target: string, link: string): Promise<void> {
  const tmp = `${link}.${randomBytes(6).toString('hex')}.tmp`;
  await symlink(target, tmp);
  await rename(tmp, link);
}
