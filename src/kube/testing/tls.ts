// Test support for the kube client's tests against real servers: a self-signed serving certificate
// for 127.0.0.1, and kubeconfigs that trust it (or speak plain http) and send a bearer token. Test
// support only: never used by product code.
import {
  certToPem,
  generateKeyPair,
  issueCertificate,
  privateKeyToPem,
  type KeyPair,
  x509,
} from '../../certs/x509.ts';

/** A self-signed ECDSA serving certificate for localhost and 127.0.0.1 (its own CA), in PEM. */
export async function selfSignedServing(): Promise<{ cert: string; key: string }> {
  const key = await generateKeyPair('ecdsa-p256');
  const now = Date.now();
  const cert = certToPem(
    await issueCertificate({
      subject: { commonName: 'kube-apiserver', organization: [] },
      issuer: 'self',
      subjectKey: key,
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 3_600_000),
      isCA: false,
      keyUsage: 'leaf',
      usages: ['serverAuth'],
      altNames: { dns: ['localhost'], ips: ['127.0.0.1'] },
    }),
  );
  return { cert, key: await privateKeyToPem(key.privateKey) };
}

/** A kubeconfig for https://127.0.0.1:PORT trusting caPem, as user "u" with bearer token "t". */
export function tokenKubeconfig(port: number, caPem: string): string {
  return kubeconfigFor(
    `https://127.0.0.1:${port}`,
    `certificate-authority-data: ${Buffer.from(caPem).toString('base64')}`,
  );
}

/** A kubeconfig for a plain-http server (tests only), as user "u" with bearer token "t". */
export function plainKubeconfig(server: string): string {
  return kubeconfigFor(server, 'insecure-skip-tls-verify: true');
}

function kubeconfigFor(server: string, trust: string): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: c\n  cluster:\n    server: ${server}\n    ${trust}`,
    'users:',
    '- name: u\n  user:\n    token: t',
    'contexts:',
    '- name: c\n  context:\n    cluster: c\n    user: u',
    'current-context: c',
    '',
  ].join('\n');
}

/** A certificate and its key, in PEM. */
export interface PemPair {
  cert: string;
  key: string;
}

/**
 * A small PKI for 127.0.0.1: a CA, a serving certificate it signed, and client certificates that a
 * server trusting that CA accepts (`client`) or refuses (`expired`, `selfSigned`, `foreign`, signed
 * by another CA).
 */
export async function testPki(): Promise<{
  ca: PemPair;
  serving: PemPair;
  client: PemPair;
  expired: PemPair;
  selfSigned: PemPair;
  foreign: PemPair;
}> {
  const now = Date.now();
  const day = 86_400_000;
  const newCa = async (cn: string): Promise<{ cert: x509.X509Certificate; key: KeyPair['privateKey'] }> => {
    const key = await generateKeyPair('ecdsa-p256');
    const cert = await issueCertificate({
      subject: { commonName: cn, organization: [] },
      issuer: 'self',
      subjectKey: key,
      notBefore: new Date(now - day),
      notAfter: new Date(now + day),
      isCA: true,
      keyUsage: 'ca',
      usages: [],
      altNames: { dns: [], ips: [] },
    });
    return { cert, key: key.privateKey };
  };
  const byCa = await newCa('test-ca');
  const other = await newCa('other-ca');
  const leaf = async (
    cn: string,
    issuer: { cert: x509.X509Certificate; key: KeyPair['privateKey'] } | 'self',
    notAfter: number,
    server = false,
  ): Promise<PemPair> => {
    const key = await generateKeyPair('ecdsa-p256');
    const cert = await issueCertificate({
      subject: { commonName: cn, organization: server ? [] : ['system:masters'] },
      issuer,
      subjectKey: key,
      notBefore: new Date(Math.min(now, notAfter) - day),
      notAfter: new Date(notAfter),
      isCA: false,
      keyUsage: 'leaf',
      usages: [server ? 'serverAuth' : 'clientAuth'],
      altNames: server ? { dns: ['localhost'], ips: ['127.0.0.1'] } : { dns: [], ips: [] },
    });
    return { cert: certToPem(cert), key: await privateKeyToPem(key.privateKey) };
  };
  return {
    ca: { cert: certToPem(byCa.cert), key: await privateKeyToPem(byCa.key) },
    serving: await leaf('kube-apiserver', byCa, now + day, true),
    client: await leaf('admin', byCa, now + day),
    expired: await leaf('admin', byCa, now - 3600_000),
    selfSigned: await leaf('admin', 'self', now + day),
    foreign: await leaf('admin', other, now + day),
  };
}
