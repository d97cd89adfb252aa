// Keys and certificates with @peculiar/x509 on Node's WebCrypto, encoded the way kubeadm's Go code
// encodes them: PKCS#1 "RSA PRIVATE KEY" / SEC1 "EC PRIVATE KEY" keys, Go's x509.CreateCertificate
// extension order (keyUsage, extKeyUsage, basicConstraints, subjectKeyId, authorityKeyId, SAN),
// PrintableString names where Go would use them, random positive 63-bit serials.
// It never writes files and never logs key material.
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { createPrivateKey, createPublicKey, webcrypto, type KeyObject } from 'node:crypto';

// The WebCrypto types come from node:crypto (this project compiles without the DOM lib).
type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
import { BosunError } from '../common/errors.ts';
import { ipBytes, type AltNames, type ExtUsage } from './kubeadm-spec.ts';

const subtle = webcrypto.subtle;
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

/** The key types kubeadm makes: RSA-2048 (default) or ECDSA P-256 (encryptionAlgorithm: ECDSA-P256). */
export type KeyAlgorithm = 'rsa-2048' | 'ecdsa-p256';

/** Every key type bosun can read and re-issue (a hand-made PKI may use others than kubeadm's). */
export type KeyType = KeyAlgorithm | 'rsa-3072' | 'rsa-4096' | 'ecdsa-p384';

/** A key pair usable for signing and for embedding the public half in a certificate. */
export interface KeyPair {
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  type: KeyType;
}

/** Subject fields kubeadm sets: CN and O only. */
export interface SubjectFields {
  commonName: string;
  organization: readonly string[];
}

/** Which keyUsage bits a certificate gets. */
export type KeyUsageKind =
  /** certutil.NewSelfSignedCACert: digitalSignature, keyEncipherment, keyCertSign. */
  | 'ca'
  /** pkiutil.NewSignedCert: digitalSignature, keyEncipherment (whatever the key type, as Go writes it). */
  | 'leaf'
  /** The CSR signer for kubelet client certs: digitalSignature (+ keyEncipherment for RSA keys). */
  | 'kubelet-client';

/** Everything one certificate needs. */
export interface IssueOptions {
  subject: SubjectFields;
  /** The signer; 'self' for a self-signed CA (signed by subjectKey). */
  issuer: { cert: x509.X509Certificate; key: CryptoKey } | 'self';
  subjectKey: KeyPair;
  notBefore: Date;
  notAfter: Date;
  isCA: boolean;
  keyUsage: KeyUsageKind;
  usages: readonly ExtUsage[];
  altNames: AltNames;
}

const EKU_OID: Record<ExtUsage, string> = {
  serverAuth: x509.ExtendedKeyUsage.serverAuth,
  clientAuth: x509.ExtendedKeyUsage.clientAuth,
};

function rsaParams(bits: number): webcrypto.RsaHashedKeyGenParams {
  return {
    name: 'RSASSA-PKCS1-v1_5',
    modulusLength: bits,
    publicExponent: new Uint8Array([1, 0, 1]),
    hash: 'SHA-256',
  };
}

function importParams(type: KeyType): webcrypto.RsaHashedImportParams | webcrypto.EcKeyImportParams {
  if (type.startsWith('rsa')) return { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' };
  return { name: 'ECDSA', namedCurve: type === 'ecdsa-p384' ? 'P-384' : 'P-256' };
}

/** Generates a fresh extractable key pair of the given type. */
export async function generateKeyPair(type: KeyType): Promise<KeyPair> {
  const params =
    type === 'ecdsa-p256' || type === 'ecdsa-p384'
      ? { name: 'ECDSA', namedCurve: type === 'ecdsa-p384' ? 'P-384' : 'P-256' }
      : rsaParams(Number(type.slice(4)));
  const pair = (await subtle.generateKey(params, true, ['sign', 'verify'])) as CryptoKeyPair;
  return { privateKey: pair.privateKey, publicKey: pair.publicKey, type };
}

async function keyObjectOf(key: CryptoKey): Promise<KeyObject> {
  const der = Buffer.from(await subtle.exportKey('pkcs8', key));
  return createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
}

/** The private key in kubeadm's form (keyutil.MarshalPrivateKeyToPEM): PKCS#1 for RSA, SEC1 for EC. */
export async function privateKeyToPem(key: CryptoKey): Promise<string> {
  const ko = await keyObjectOf(key);
  const type = ko.asymmetricKeyType === 'rsa' ? 'pkcs1' : 'sec1';
  return ko.export({ format: 'pem', type }).toString();
}

/** The public key as a PKIX "PUBLIC KEY" PEM block (kubeadm's sa.pub). */
export async function publicKeyToPem(key: CryptoKey): Promise<string> {
  const der = Buffer.from(await subtle.exportKey('spki', key));
  return x509.PemConverter.encode(der, 'PUBLIC KEY') + '\n';
}

/** A private key that could not be read. */
export class KeyParseError extends BosunError {
  override readonly name = 'KeyParseError';
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, 'PKI', options);
  }
}

/** The key type of a Node KeyObject (private or public), or undefined for one bosun cannot sign with. */
export function keyTypeOf(ko: KeyObject): KeyType | undefined {
  if (ko.asymmetricKeyType === 'rsa') {
    const bits = ko.asymmetricKeyDetails?.modulusLength;
    if (bits === 2048 || bits === 3072 || bits === 4096) return `rsa-${bits}`;
    return undefined;
  }
  if (ko.asymmetricKeyType === 'ec') {
    const curve = ko.asymmetricKeyDetails?.namedCurve;
    if (curve === 'prime256v1') return 'ecdsa-p256';
    if (curve === 'secp384r1') return 'ecdsa-p384';
  }
  return undefined;
}

/**
 * Reads a private key PEM in any form kubeadm, openssl or the kubelet writes (PKCS#1, SEC1,
 * PKCS#8; the first key block of a combined cert+key file). Throws KeyParseError.
 */
export async function importPrivateKeyPem(pem: string): Promise<KeyPair> {
  let ko: KeyObject;
  try {
    ko = createPrivateKey({ key: pem, format: 'pem' });
  } catch (e) {
    throw new KeyParseError(
      'no readable private key (expected a PEM "RSA PRIVATE KEY", "EC PRIVATE KEY" or "PRIVATE KEY" block)',
      { cause: e },
    );
  }
  const type = keyTypeOf(ko);
  if (type === undefined) {
    throw new KeyParseError(
      `unsupported private key type ${ko.asymmetricKeyType ?? 'unknown'} (bosun signs with RSA 2048/3072/4096 and ECDSA P-256/P-384)`,
    );
  }
  const der = ko.export({ format: 'der', type: 'pkcs8' });
  const privateKey = await subtle.importKey('pkcs8', der, importParams(type), true, ['sign']);
  const spki = createPublicKey(ko).export({ format: 'der', type: 'spki' });
  const publicKey = await subtle.importKey('spki', spki, importParams(type), true, ['verify']);
  return { privateKey, publicKey, type };
}

/** A random serial in [1, 2^63), as pkiutil.NewSignedCert draws it. */
function randomSerialHex(): string {
  const b = new Uint8Array(8);
  webcrypto.getRandomValues(b);
  // Positive and minimally DER-encoded: the first byte is in 0x01..0x7f.
  b[0] = (b[0] ?? 1) & 0x7f || 1;
  return Buffer.from(b).toString('hex');
}

/** Go's pkix.Name marshalling: PrintableString when every character allows it, else UTF8String. */
function nameValue(text: string): { printableString: string } | { utf8String: string } {
  return /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(text) ? { printableString: text } : { utf8String: text };
}

/** The subject as Go orders it (O before CN), one attribute per RDN. */
function subjectName(s: SubjectFields): x509.Name {
  const rdns: x509.JsonNameParams = s.organization.map((o) => ({ O: [nameValue(o)] }));
  rdns.push({ CN: [nameValue(s.commonName)] });
  return new x509.Name(rdns);
}

function signingAlgorithm(key: CryptoKey): webcrypto.Algorithm | webcrypto.EcdsaParams {
  if (key.algorithm.name !== 'ECDSA') return { name: 'RSASSA-PKCS1-v1_5' };
  // Go signs with SHA-384 for P-384 keys, SHA-256 for P-256.
  const curve = (key.algorithm as webcrypto.EcKeyAlgorithm).namedCurve;
  return { name: 'ECDSA', hash: curve === 'P-384' ? 'SHA-384' : 'SHA-256' } as webcrypto.EcdsaParams;
}

function keyUsageFlags(kind: KeyUsageKind, type: KeyType): number {
  const F = x509.KeyUsageFlags;
  if (kind === 'ca') return F.digitalSignature | F.keyEncipherment | F.keyCertSign;
  if (kind === 'leaf') return F.digitalSignature | F.keyEncipherment;
  return type.startsWith('rsa') ? F.digitalSignature | F.keyEncipherment : F.digitalSignature;
}

/** Issues one certificate. */
export async function issueCertificate(o: IssueOptions): Promise<x509.X509Certificate> {
  const extensions: x509.Extension[] = [
    new x509.KeyUsagesExtension(keyUsageFlags(o.keyUsage, o.subjectKey.type), true),
  ];
  if (o.usages.length > 0)
    extensions.push(
      new x509.ExtendedKeyUsageExtension(
        o.usages.map((u) => EKU_OID[u]),
        false,
      ),
    );
  extensions.push(new x509.BasicConstraintsExtension(o.isCA, undefined, true));
  // Go generates a subjectKeyId for CAs only, and an authorityKeyId from the parent's subjectKeyId.
  if (o.isCA) extensions.push(await x509.SubjectKeyIdentifierExtension.create(o.subjectKey.publicKey));
  if (o.issuer !== 'self') {
    const ski = o.issuer.cert.getExtension(x509.SubjectKeyIdentifierExtension);
    if (ski) extensions.push(new x509.AuthorityKeyIdentifierExtension(ski.keyId, false));
  }
  const sans: x509.JsonGeneralNames = [
    ...o.altNames.dns.map((value) => ({ type: 'dns' as const, value })),
    ...o.altNames.ips.map((value) => ({ type: 'ip' as const, value: ipForPeculiar(value) })),
  ];
  if (sans.length > 0) extensions.push(new x509.SubjectAlternativeNameExtension(sans, false));

  const subject = subjectName(o.subject);
  const signingKey = o.issuer === 'self' ? o.subjectKey.privateKey : o.issuer.key;
  return x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject,
    issuer: o.issuer === 'self' ? subject : o.issuer.cert.subjectName,
    // X.509 times have whole seconds; Go truncates too.
    notBefore: truncSeconds(o.notBefore),
    notAfter: truncSeconds(o.notAfter),
    publicKey: o.subjectKey.publicKey,
    signingKey,
    signingAlgorithm: signingAlgorithm(signingKey),
    extensions,
  });
}

const OID_SKI = '2.5.29.14';
const OID_AKI = '2.5.29.35';

/**
 * Re-issues a certificate for a new key: the same subject (byte for byte), the same extensions
 * (key usage, extended key usage, basic constraints, SANs and anything else, in the same order),
 * except the key identifiers, which are recomputed for the new key and the signing CA. What
 * kubeadm's renewal keeps (certToConfig), kept exactly rather than re-derived.
 */
export async function reissueCertificate(o: {
  old: x509.X509Certificate;
  issuer: { cert: x509.X509Certificate; key: CryptoKey };
  subjectKey: KeyPair;
  notBefore: Date;
  notAfter: Date;
}): Promise<x509.X509Certificate> {
  const extensions: x509.Extension[] = [];
  for (const ext of o.old.extensions) {
    if (ext.type === OID_SKI) {
      extensions.push(await x509.SubjectKeyIdentifierExtension.create(o.subjectKey.publicKey, ext.critical));
    } else if (ext.type === OID_AKI) {
      const ski = o.issuer.cert.getExtension(x509.SubjectKeyIdentifierExtension);
      if (ski) extensions.push(new x509.AuthorityKeyIdentifierExtension(ski.keyId, ext.critical));
    } else {
      extensions.push(new x509.Extension(ext.type, ext.critical, ext.value));
    }
  }
  if (!o.old.extensions.some((e) => e.type === OID_AKI)) {
    const ski = o.issuer.cert.getExtension(x509.SubjectKeyIdentifierExtension);
    if (ski) extensions.push(new x509.AuthorityKeyIdentifierExtension(ski.keyId, false));
  }
  return x509.X509CertificateGenerator.create({
    serialNumber: randomSerialHex(),
    subject: o.old.subjectName,
    issuer: o.issuer.cert.subjectName,
    notBefore: truncSeconds(o.notBefore),
    notAfter: truncSeconds(o.notAfter),
    publicKey: o.subjectKey.publicKey,
    signingKey: o.issuer.key,
    signingAlgorithm: signingAlgorithm(o.issuer.key),
    extensions,
  });
}

function truncSeconds(d: Date): Date {
  return new Date(Math.floor(d.getTime() / 1000) * 1000);
}

/** peculiar parses IPv6 text itself; hand it a full form it accepts. */
function ipForPeculiar(ip: string): string {
  const bytes = ipBytes(ip);
  if (!bytes || bytes.length === 4) return ip;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2)
    groups.push((((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0)).toString(16).padStart(4, '0'));
  return groups.join(':');
}

/** The certificate as a PEM block with a trailing newline, as Go's pem.EncodeToMemory writes it. */
export function certToPem(cert: x509.X509Certificate): string {
  return cert.toString('pem').replace(/\r\n/g, '\n').trimEnd() + '\n';
}

/** Parses the first CERTIFICATE block of a PEM text (or a DER buffer). */
export function parseCertificate(data: string | Buffer): x509.X509Certificate {
  return new x509.X509Certificate(
    typeof data === 'string' ? (firstPemBlock(data, 'CERTIFICATE') ?? data) : data,
  );
}

/** The first PEM block of the given type in text, or undefined. */
export function firstPemBlock(text: string, type: string): string | undefined {
  return allPemBlocks(text, type)[0];
}

/** Every PEM block of the given type in text, in order. */
export function allPemBlocks(text: string, type: string): string[] {
  const re = new RegExp(`-----BEGIN ${type}-----[\\s\\S]*?-----END ${type}-----`, 'g');
  return [...text.matchAll(re)].map((m) => m[0] + '\n');
}

export { x509 };
