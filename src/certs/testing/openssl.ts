// Test helpers: the real `openssl` as the peer that says what a certificate file holds. Used only
// by tests, never by bosun itself.
import { spawnSync } from 'node:child_process';

/** Runs openssl and returns stdout; throws with stderr when it fails. */
export function openssl(args: readonly string[], input?: string): string {
  const r = spawnSync('openssl', args, { encoding: 'utf8', input });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** True when `openssl verify -CAfile ca leaf` accepts the leaf. */
export function opensslVerifies(caFile: string, leafFile: string): boolean {
  const r = spawnSync('openssl', ['verify', '-CAfile', caFile, leafFile], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim().endsWith(': OK');
}

/** What openssl says a certificate file holds, as the lines tests compare against. */
export interface OpensslCertView {
  /** `subject=` value, e.g. "O = kubeadm:cluster-admins, CN = kubernetes-admin". */
  subject: string;
  /** `notAfter=` as a Date. */
  notAfter: Date;
  /** SAN entries as openssl prints them ("DNS:cp-1", "IP Address:127.0.0.1"); [] when absent. */
  sans: string[];
  /** "Digital Signature, Key Encipherment"; '' when absent. */
  keyUsage: string;
  /** "TLS Web Server Authentication, ..."; '' when absent. */
  extKeyUsage: string;
}

/** `openssl x509 -noout -subject -enddate -ext subjectAltName,keyUsage,extendedKeyUsage` on a file. */
export function opensslView(certFile: string): OpensslCertView {
  const out = openssl([
    'x509',
    '-in',
    certFile,
    '-noout',
    '-subject',
    '-enddate',
    '-ext',
    'subjectAltName,keyUsage,extendedKeyUsage',
  ]);
  const lines = out.split('\n');
  const subject = (lines.find((l) => l.startsWith('subject=')) ?? '').slice('subject='.length).trim();
  const notAfter = new Date(
    (lines.find((l) => l.startsWith('notAfter=')) ?? '').slice('notAfter='.length).trim(),
  );
  const after = (header: string): string => {
    const i = lines.findIndex((l) => l.trim().startsWith(header));
    return i < 0 ? '' : (lines[i + 1] ?? '').trim();
  };
  const san = after('X509v3 Subject Alternative Name');
  return {
    subject,
    notAfter,
    sans: san === '' ? [] : san.split(', '),
    keyUsage: after('X509v3 Key Usage'),
    extKeyUsage: after('X509v3 Extended Key Usage'),
  };
}

/** The SPKI (public key) PEM of a certificate file, per openssl. */
export function opensslCertPubkey(certFile: string): string {
  return openssl(['x509', '-in', certFile, '-noout', '-pubkey']);
}

/** The SPKI (public key) PEM derived from a private key file, per openssl. */
export function opensslKeyPubkey(keyFile: string): string {
  return openssl(['pkey', '-in', keyFile, '-pubout']);
}
