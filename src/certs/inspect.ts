// Reads what a certificate holds (dates, subject, SANs, key type, fingerprint) and answers the
// three questions `certs check` asks of every file: is the key the certificate's key, was the
// certificate signed by its CA, is the PEM readable at all. Answers are values, never throws
// for bad input that a user could have on disk.
import { X509Certificate as NodeX509, createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { canonicalIp } from './kubeadm-spec.ts';
import { allPemBlocks, keyTypeOf, parseCertificate, x509, type KeyType } from './x509.ts';

/** What a certificate says about itself. */
export interface CertFacts {
  notBefore: Date;
  notAfter: Date;
  /** Like openssl's default: "O = kubeadm:cluster-admins, CN = kubernetes-admin". */
  subject: string;
  issuer: string;
  dnsNames: string[];
  /** Canonical text (see kubeadm-spec canonicalIp), in certificate order. */
  ipAddresses: string[];
  serialNumber: string;
  /** SHA-256 of the DER, hex; identifies the exact certificate (served vs on disk). */
  sha256: string;
  keyType: KeyType | undefined;
  isCA: boolean;
}

/** The result of reading a PEM certificate: facts, or why it could not be read. */
export type ReadCert = { ok: true; facts: CertFacts; pem: string } | { ok: false; message: string };

/** Formats a Name the way openssl x509 -subject prints it by default. */
export function describeName(name: x509.Name): string {
  const parts: string[] = [];
  for (const rdn of name.toJSON()) {
    for (const [type, values] of Object.entries(rdn)) for (const v of values) parts.push(`${type} = ${v}`);
  }
  return parts.join(', ');
}

/** Reads the first CERTIFICATE block of a PEM text. */
export function readCertPem(text: string): ReadCert {
  const blocks = allPemBlocks(text, 'CERTIFICATE');
  const first = blocks[0];
  if (first === undefined) return { ok: false, message: 'malformed PEM: no CERTIFICATE block' };
  try {
    const cert = parseCertificate(first);
    const node = new NodeX509(first);
    const san = cert.getExtension(x509.SubjectAlternativeNameExtension);
    const dnsNames: string[] = [];
    const ipAddresses: string[] = [];
    for (const n of san?.names.items ?? []) {
      if (n.type === 'dns') dnsNames.push(n.value);
      else if (n.type === 'ip') ipAddresses.push(canonicalIp(n.value) ?? n.value);
    }
    const bc = cert.getExtension(x509.BasicConstraintsExtension);
    return {
      ok: true,
      pem: first,
      facts: {
        notBefore: cert.notBefore,
        notAfter: cert.notAfter,
        subject: describeName(cert.subjectName),
        issuer: describeName(cert.issuerName),
        dnsNames,
        ipAddresses,
        serialNumber: cert.serialNumber,
        sha256: node.fingerprint256.replace(/:/g, '').toLowerCase(),
        keyType: keyTypeOf(createPublicKey(node.publicKey.export({ format: 'pem', type: 'spki' }))),
        isCA: bc?.ca ?? false,
      },
    };
  } catch (e) {
    return { ok: false, message: `malformed PEM: the certificate cannot be parsed (${firstLine(e)})` };
  }
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '';
}

/** Reads a private key PEM (any form); undefined when there is none or it is unreadable. */
export function readPrivateKey(text: string): KeyObject | undefined {
  try {
    return createPrivateKey({ key: text, format: 'pem' });
  } catch {
    return undefined;
  }
}

/** True when the private key is the certificate's key. */
export function keyMatchesCert(certPem: string, key: KeyObject): boolean {
  try {
    return new NodeX509(certPem).checkPrivateKey(key);
  } catch {
    return false;
  }
}

/** True when caPem's key signed certPem and its subject is certPem's issuer. */
export function signedBy(certPem: string, caPem: string): boolean {
  try {
    const leaf = new NodeX509(certPem);
    const ca = new NodeX509(caPem);
    return leaf.checkIssued(ca) && leaf.verify(ca.publicKey);
  } catch {
    return false;
  }
}
