// Test support for the kube client's tests against real servers: a self-signed serving certificate
// for 127.0.0.1, and kubeconfigs that trust it (or speak plain http) and send a bearer token. Test
// support only: never used by product code.
import { certToPem, generateKeyPair, issueCertificate, privateKeyToPem } from '../../certs/x509.ts';

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
