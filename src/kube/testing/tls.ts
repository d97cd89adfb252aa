// Test support for the kube client's tests against real TLS servers: a self-signed serving
// certificate for 127.0.0.1 and a kubeconfig that trusts it and sends a bearer token. Test support
// only: never used by product code.
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
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `- name: c\n  cluster:\n    server: https://127.0.0.1:${port}\n    certificate-authority-data: ${Buffer.from(caPem).toString('base64')}`,
    'users:',
    '- name: u\n  user:\n    token: t',
    'contexts:',
    '- name: c\n  context:\n    cluster: c\n    user: u',
    'current-context: c',
    '',
  ].join('\n');
}
