// A kubeconfig for one more user of a kubeadm cluster, as an admin makes one with
// `kubeadm kubeconfig user --client-name NAME --org GROUP`: a fresh key and a client certificate
// with CN = the user and O = its groups, signed by the cluster CA (pki/ca.crt, pki/ca.key), valid
// for kubeadm's leaf validity unless told otherwise; the certificate is made by the same code as
// kubeadm's own kubeconfigs (pki-gen.ts). Such a user has no rights until RBAC binds it.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { KUBEADM_DEFAULTS } from './kubeadm-spec.ts';
import { buildKubeconfig } from './kubeconfig.ts';
import { issueKubeconfigClientCert, loadSigningCa } from './pki-gen.ts';
import type { KeyAlgorithm } from './x509.ts';

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
  const pki = join(o.etcKubernetesDir, 'pki');
  const ca = await loadSigningCa({
    certPem: await readFile(join(pki, 'ca.crt'), 'utf8'),
    keyPem: await readFile(join(pki, 'ca.key'), 'utf8'),
  });
  const auth = await issueKubeconfigClientCert(ca, {
    commonName: o.user,
    organization: o.groups,
    keyAlgorithm: o.keyAlgorithm,
    notAfter: o.notAfter ?? new Date(o.now.getTime() + KUBEADM_DEFAULTS.leafValidityDays * 86_400_000),
  });
  const cluster = o.clusterName ?? KUBEADM_DEFAULTS.clusterName;
  return buildKubeconfig({
    clusterName: cluster,
    server: o.server,
    caPem: ca.pem,
    userName: o.user,
    contextName: `${o.user}@${cluster}`,
    auth,
  });
}
