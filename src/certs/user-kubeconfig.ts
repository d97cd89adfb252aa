// A kubeconfig for one more user of a kubeadm cluster, as an admin makes one with
// `kubeadm kubeconfig user --client-name NAME --org GROUP`: a fresh key and a client certificate
// with CN = the user and O = its groups, signed by the cluster CA (pki/ca.crt, pki/ca.key), valid
// for kubeadm's leaf validity unless told otherwise. Such a user has no rights until RBAC binds it.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildKubeconfig } from './kubeconfig.ts';
import {
  certToPem,
  generateKeyPair,
  importPrivateKeyPem,
  issueCertificate,
  parseCertificate,
  privateKeyToPem,
  type KeyAlgorithm,
} from './x509.ts';

/** What the user's kubeconfig says. */
export interface UserKubeconfigOptions {
  /** The control plane's /etc/kubernetes (holds pki/ca.crt and pki/ca.key). */
  etcKubernetesDir: string;
  /** https://host:port of the API server. */
  server: string;
  /** The certificate's CN: the user name. */
  user: string;
  /** The certificate's O values: the user's groups. */
  groups: readonly string[];
  keyAlgorithm: KeyAlgorithm;
  now: Date;
  /** Default: a year after now (kubeadm's leaf validity). */
  notAfter?: Date;
  /** Default: "kubernetes". */
  clusterName?: string;
}

/** Builds the kubeconfig text (it embeds the private key: write it 0600). */
export async function userKubeconfig(o: UserKubeconfigOptions): Promise<string> {
  const caPem = await readFile(join(o.etcKubernetesDir, 'pki', 'ca.crt'), 'utf8');
  const caKey = await importPrivateKeyPem(await readFile(join(o.etcKubernetesDir, 'pki', 'ca.key'), 'utf8'));
  const ca = parseCertificate(caPem);
  const key = await generateKeyPair(o.keyAlgorithm);
  const cert = await issueCertificate({
    subject: { commonName: o.user, organization: o.groups },
    issuer: { cert: ca, key: caKey.privateKey },
    subjectKey: key,
    notBefore: o.now,
    notAfter: o.notAfter ?? new Date(o.now.getTime() + 365 * 24 * 3600 * 1000),
    isCA: false,
    keyUsage: 'leaf',
    usages: ['clientAuth'],
    altNames: { dns: [], ips: [] },
  });
  const cluster = o.clusterName ?? 'kubernetes';
  return buildKubeconfig({
    clusterName: cluster,
    server: o.server,
    caPem,
    userName: o.user,
    contextName: `${o.user}@${cluster}`,
    auth: { certPem: certToPem(cert), keyPem: await privateKeyToPem(key.privateKey) },
  });
}
