// `bosun certs check` on files: every certificate `kubeadm certs check-expiration` lists (the
// leaves in pki/, the client certificates of the kubeconfigs, the three CAs) plus the kubelet's
// client certificate, its serving certificate and kubelet.conf. Each row carries the certificate's
// facts and the problems found (missing, unreadable, malformed PEM, key mismatch, not signed by
// its CA); one bad file never stops the others. A missing file kubeadm writes only where `kubeadm
// init` ran (super-admin.conf on a control plane that joined) is absent, which is no problem. It
// only reads.
import { stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { BosunError, errorMessage } from '../common/errors.ts';
import { rowStatus, type Problem, type RowStatus } from './expiry.ts';
import { readPkiFile } from './files.ts';
import { readCertPem, keyMatchesCert, readPrivateKey, signedBy, type CertFacts } from './inspect.ts';
import {
  CA_SPECS,
  LEAF_SPECS,
  expectedAbsence,
  kubeconfigSpecsFor,
  type Absence,
  type CaName,
  type KubeconfigSpec,
} from './kubeadm-spec.ts';
import { KubeconfigError, readKubeconfigCredentials } from './kubeconfig.ts';

/** Where a node keeps its certificates. */
export interface CertPaths {
  /** kubeadm's certificatesDir: /etc/kubernetes/pki. */
  pkiDir: string;
  /** Where the kubeconfigs are: /etc/kubernetes. */
  configDir: string;
  /** The kubelet's cert dir: /var/lib/kubelet/pki. */
  kubeletPkiDir: string;
  /**
   * Maps an absolute path written inside a kubeconfig (client-certificate: /var/lib/kubelet/...)
   * onto this machine, for a node whose root is mounted elsewhere (--root). Identity by default.
   */
  mapPath?: (p: string) => string;
}

/** Which part of the node a row comes from. */
export type RowSource = 'pki' | 'kubeconfig' | 'kubelet' | 'ca';

/** One certificate `certs check` reports. */
export interface CertRow {
  /** kubeadm's name (apiserver, admin.conf, etcd-ca, ...) or kubelet-client / kubelet-serving. */
  name: string;
  /** kubeadm's two lists: certificates and certificateAuthorities. */
  group: 'certificate' | 'ca';
  source: RowSource;
  /** The file that holds the certificate (the kubeconfig itself when embedded). */
  path: string;
  /** The signing CA's kubeadm name; '' for CAs and self-signed kubelet serving certs. */
  caName: string;
  /** kubeadm's meaning: the CA key is absent, so the certificate is managed outside kubeadm (bosun). */
  externallyManaged: boolean;
  missing: boolean;
  /**
   * Set only on a missing file that kubeadm does not write on every node (super-admin.conf where
   * `kubeadm init` did not run): why that is normal, and how to make one. Its verdict is 'absent'.
   */
  absence?: Absence;
  facts: CertFacts | undefined;
  problems: Problem[];
}

/** A row with its verdict for a given time and warning window. */
export interface CheckedRow extends CertRow {
  status: RowStatus;
}

/** What to expect on the node. */
export interface ScanOptions {
  /** The kubeadm release that laid the node out ("v1.28.15"); default the newest one's files. */
  kubernetesVersion?: string | undefined;
}

/** Scans and judges the node's certificates at now (the caller's clock). */
export async function checkCertificates(
  paths: CertPaths,
  now: Date,
  warnWithinMs: number,
  opts: ScanOptions = {},
): Promise<CheckedRow[]> {
  return judgeRows(await scanCertificates(paths, opts), now, warnWithinMs);
}

/** Adds the verdict to every row. */
export function judgeRows(rows: readonly CertRow[], now: Date, warnWithinMs: number): CheckedRow[] {
  return rows.map((r) => ({
    ...r,
    status: rowStatus(
      {
        missing: r.missing,
        absenceExpected: r.absence !== undefined,
        problems: r.problems,
        notBefore: r.facts?.notBefore,
        notAfter: r.facts?.notAfter,
      },
      now,
      warnWithinMs,
    ),
  }));
}

interface CaState {
  spec: (typeof CA_SPECS)[number];
  certPath: string;
  keyPath: string;
  certPem: string | undefined;
  keyPresent: boolean;
}

/** Refuses early, with one line, when the directories cannot be what the user meant. */
async function checkDirs(paths: CertPaths): Promise<void> {
  const probe = async (dir: string): Promise<'dir' | 'absent' | string> => {
    try {
      const s = await stat(dir);
      return s.isDirectory() ? 'dir' : `${dir} is not a directory`;
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (code === 'ENOENT') return 'absent';
      if (code === 'ENOTDIR') return `${dir} is not a directory`;
      return `cannot read ${dir}: ${errorMessage(e)}`;
    }
  };
  const [pki, config] = await Promise.all([probe(paths.pkiDir), probe(paths.configDir)]);
  for (const r of [pki, config]) {
    if (r !== 'dir' && r !== 'absent') {
      throw new BosunError(r, 'PKI', {
        hint: "Point --pki-dir and --config-dir (or --root) at the node's kubeadm directories.",
      });
    }
  }
  if (pki === 'absent' && config === 'absent') {
    throw new BosunError(
      `no kubeadm certificates here: neither ${paths.pkiDir} nor ${paths.configDir} exists`,
      'PKI',
      {
        hint: "Run on a kubeadm node, or point --pki-dir and --config-dir (or --root) at one's directories.",
      },
    );
  }
}

/**
 * Scans a node's certificates: the files kubeadm of opts.kubernetesVersion writes. Throws only when
 * the directories themselves are unusable.
 */
export async function scanCertificates(paths: CertPaths, opts: ScanOptions = {}): Promise<CertRow[]> {
  await checkDirs(paths);
  const mapPath = paths.mapPath ?? ((p: string) => p);
  const cas = new Map<CaName, CaState>();
  for (const spec of CA_SPECS) {
    const certPath = join(paths.pkiDir, `${spec.baseName}.crt`);
    const keyPath = join(paths.pkiDir, `${spec.baseName}.key`);
    const c = await readPkiFile(certPath);
    const k = await readPkiFile(keyPath);
    cas.set(spec.name, {
      spec,
      certPath,
      keyPath,
      certPem: c.kind === 'ok' ? c.text : undefined,
      keyPresent: k.kind !== 'missing',
    });
  }
  const caOf = (name: CaName): CaState => {
    const ca = cas.get(name);
    if (!ca) throw new Error(`unknown CA ${name}`);
    return ca;
  };

  const rows: CertRow[] = [];

  for (const spec of LEAF_SPECS) {
    const ca = caOf(spec.caName);
    const certPath = join(paths.pkiDir, `${spec.baseName}.crt`);
    const keyPath = join(paths.pkiDir, `${spec.baseName}.key`);
    rows.push(
      await certRow(
        {
          name: spec.name,
          group: 'certificate',
          source: 'pki',
          caName: spec.caName,
          externallyManaged: !ca.keyPresent,
        },
        certPath,
        { keyPath },
        ca,
      ),
    );
  }

  for (const spec of kubeconfigSpecsFor(opts.kubernetesVersion)) {
    const path = join(paths.configDir, spec.name);
    rows.push(await kubeconfigRow(spec, path, caOf('ca'), mapPath));
  }

  // kubeadm lists certificates sorted by name; the kubelet's rows follow, as bosun's additions.
  rows.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const kubeletConf = rows.findIndex((r) => r.name === 'kubelet.conf');
  const [kubeletConfRow] = rows.splice(kubeletConf, 1);

  const kubeletRows: CertRow[] = [];
  if (kubeletConfRow) kubeletRows.push(kubeletConfRow);
  const clientPath = join(paths.kubeletPkiDir, 'kubelet-client-current.pem');
  kubeletRows.push(
    await certRow(
      {
        name: 'kubelet-client',
        group: 'certificate',
        source: 'kubelet',
        caName: 'ca',
        externallyManaged: false,
      },
      clientPath,
      { keyInSameFile: true },
      caOf('ca'),
    ),
  );
  // With serverTLSBootstrap the kubelet rotates a CA-signed serving cert; otherwise it made its own.
  const rotatedServing = join(paths.kubeletPkiDir, 'kubelet-server-current.pem');
  const rotated = await readPkiFile(rotatedServing);
  if (rotated.kind !== 'missing') {
    kubeletRows.push(
      await certRow(
        {
          name: 'kubelet-serving',
          group: 'certificate',
          source: 'kubelet',
          caName: 'ca',
          externallyManaged: false,
        },
        rotatedServing,
        { keyInSameFile: true },
        caOf('ca'),
      ),
    );
  } else {
    kubeletRows.push(
      await certRow(
        {
          name: 'kubelet-serving',
          group: 'certificate',
          source: 'kubelet',
          caName: '',
          externallyManaged: false,
        },
        join(paths.kubeletPkiDir, 'kubelet.crt'),
        { keyPath: join(paths.kubeletPkiDir, 'kubelet.key'), selfSignedChain: true },
        undefined,
      ),
    );
  }

  const caRows: CertRow[] = [];
  for (const ca of cas.values()) {
    caRows.push(
      await certRow(
        { name: ca.spec.name, group: 'ca', source: 'ca', caName: '', externallyManaged: !ca.keyPresent },
        ca.certPath,
        { keyPath: ca.keyPath, keyOptional: true },
        undefined,
      ),
    );
  }
  return [...rows, ...kubeletRows, ...caRows];
}

interface RowHead {
  name: string;
  group: 'certificate' | 'ca';
  source: RowSource;
  caName: string;
  externallyManaged: boolean;
}

interface KeySource {
  keyPath?: string;
  /** The key is in the certificate's own file (kubelet pem files). */
  keyInSameFile?: boolean;
  /** Embedded key text (kubeconfig client-key-data); null when the kubeconfig has none. */
  keyText?: string | null;
  /** A CA key may be absent: that is an external CA, not a problem. */
  keyOptional?: boolean;
  /** The file holds the leaf followed by the CA that signed it (the kubelet's self-signed pair). */
  selfSignedChain?: boolean;
}

async function certRow(
  head: RowHead,
  certPath: string,
  key: KeySource,
  ca: CaState | undefined,
  certText?: string,
): Promise<CertRow> {
  const row: CertRow = { ...head, path: certPath, missing: false, facts: undefined, problems: [] };
  let text = certText;
  if (text === undefined) {
    const r = await readPkiFile(certPath);
    if (r.kind === 'missing') return { ...row, missing: true };
    if (r.kind === 'error') return { ...row, problems: [{ code: 'unreadable', message: r.message }] };
    text = r.text;
  }
  const parsed = readCertPem(text);
  if (!parsed.ok) return { ...row, problems: [{ code: 'malformed-pem', message: parsed.message }] };
  row.facts = parsed.facts;

  // The private key.
  let keyText: string | undefined;
  if (key.keyInSameFile) keyText = text;
  else if (key.keyText !== undefined) keyText = key.keyText ?? undefined;
  else if (key.keyPath) {
    const k = await readPkiFile(key.keyPath);
    if (k.kind === 'ok') keyText = k.text;
    else if (k.kind === 'error') row.problems.push({ code: 'unreadable', message: k.message });
    else if (!key.keyOptional)
      row.problems.push({ code: 'key-missing', message: `private key ${key.keyPath} is missing` });
  }
  if (keyText !== undefined) {
    const ko = readPrivateKey(keyText);
    if (!ko)
      row.problems.push({
        code: 'key-malformed',
        message:
          key.keyText !== undefined
            ? 'client-key-data is not a readable private key'
            : `private key ${key.keyPath ?? certPath} is not a readable PEM key`,
      });
    else if (!keyMatchesCert(parsed.pem, ko))
      row.problems.push({ code: 'key-mismatch', message: 'private key does not match the certificate' });
  } else if (key.keyText === null) {
    row.problems.push({
      code: 'key-missing',
      message: 'kubeconfig has client-certificate-data but no client-key-data',
    });
  }

  // The signature.
  if (ca) {
    if (ca.certPem === undefined)
      row.problems.push({
        code: 'ca-missing',
        message: `cannot check the signature: CA certificate ${ca.certPath} is missing or unreadable`,
      });
    else if (!signedBy(parsed.pem, ca.certPem))
      row.problems.push({
        code: 'not-signed-by-ca',
        message: `not signed by ${ca.spec.name} (${ca.certPath})`,
      });
  } else if (key.selfSignedChain) {
    const blocks = text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
    const issuer = blocks[1] ?? blocks[0];
    if (issuer !== undefined && !signedBy(parsed.pem, issuer))
      row.problems.push({
        code: 'not-signed-by-ca',
        message: 'not signed by the CA that follows it in the file',
      });
  } else if (head.group === 'ca' && !signedBy(parsed.pem, parsed.pem)) {
    row.problems.push({ code: 'not-signed-by-ca', message: 'CA certificate is not self-signed' });
  }
  return row;
}

async function kubeconfigRow(
  spec: KubeconfigSpec,
  path: string,
  ca: CaState,
  mapPath: (p: string) => string,
): Promise<CertRow> {
  const head: RowHead = {
    name: spec.name,
    group: 'certificate',
    source: 'kubeconfig',
    caName: 'ca',
    externallyManaged: !ca.keyPresent,
  };
  const base: CertRow = { ...head, path, missing: false, facts: undefined, problems: [] };
  const r = await readPkiFile(path);
  if (r.kind === 'missing') {
    const absence = expectedAbsence(spec);
    return { ...base, missing: true, ...(absence ? { absence } : {}) };
  }
  if (r.kind === 'error') return { ...base, problems: [{ code: 'unreadable', message: r.message }] };
  let creds;
  try {
    creds = readKubeconfigCredentials(r.text);
  } catch (e) {
    const message = e instanceof KubeconfigError ? e.message : errorMessage(e);
    return { ...base, problems: [{ code: 'kubeconfig-invalid', message }] };
  }
  let row: CertRow;
  if (creds.auth.kind === 'embedded') {
    row = await certRow(head, path, { keyText: creds.auth.keyPem ?? null }, ca, creds.auth.certPem);
  } else if (creds.auth.kind === 'file') {
    // clientcmd resolves relative paths against the kubeconfig's directory.
    const certFile = mapPath(
      isAbsolute(creds.auth.certFile) ? creds.auth.certFile : resolve(dirname(path), creds.auth.certFile),
    );
    const keyFile =
      creds.auth.keyFile === undefined
        ? undefined
        : mapPath(
            isAbsolute(creds.auth.keyFile) ? creds.auth.keyFile : resolve(dirname(path), creds.auth.keyFile),
          );
    row = await certRow(
      head,
      certFile,
      keyFile === undefined
        ? { keyText: null }
        : keyFile === certFile
          ? { keyInSameFile: true }
          : { keyPath: keyFile },
      ca,
    );
    if (row.missing)
      row = {
        ...row,
        missing: false,
        problems: [
          {
            code: 'unreadable',
            message: `${path} names client-certificate ${certFile}, which does not exist`,
          },
        ],
      };
  } else {
    return {
      ...base,
      problems: [
        {
          code: 'no-client-certificate',
          message: `no client certificate: the kubeconfig's user authenticates with ${authWord(creds.auth.kind)}`,
        },
      ],
    };
  }
  if (
    creds.caPem !== undefined &&
    ca.certPem !== undefined &&
    normalizePem(creds.caPem) !== normalizePem(ca.certPem)
  ) {
    row.problems.push({
      code: 'ca-data-mismatch',
      message: `certificate-authority-data is not ${ca.certPath}`,
    });
  }
  return row;
}

function authWord(kind: string): string {
  switch (kind) {
    case 'token':
      return 'a token';
    case 'exec':
      return 'an exec plugin';
    case 'auth-provider':
      return 'an auth provider';
    case 'basic':
      return 'a username and password';
    default:
      return 'nothing at all';
  }
}

function normalizePem(pem: string): string {
  return pem.replace(/\r\n/g, '\n').trim();
}
