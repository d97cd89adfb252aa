// `bosun certs renew` on files: re-issues kubeadm's leaf certificates and the client certificates
// embedded in its kubeconfigs, each with the same subject, SANs, usages and key type, a new key,
// signed by its CA. Everything is prepared in memory first and every refusal (missing CA key,
// missing or unreadable certificate, token kubeconfig, a CA that has expired) is found before
// anything is touched; then the old files are copied to a dated backup directory (complete before
// it gets its name), then the new ones are staged beside their final names and renamed into place.
// It never renews a CA and never touches the kubelet's own certificates (the kubelet rotates them).
// `all` skips, and says so, a kubeconfig kubeadm writes only where `kubeadm init` ran when it is
// absent (super-admin.conf on a control plane that joined), as kubeadm's `certs renew all` does;
// named, such a file is refused with why it is absent and how to make one.
import { randomBytes } from 'node:crypto';
import { chmod, copyFile, mkdir, rename, rm } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative } from 'node:path';
import { BosunError, UsageError, errorMessage } from '../common/errors.ts';
import type { CertPaths } from './check.ts';
import {
  formatExpires,
  renewalBlockedByCa,
  renewedNotAfter,
  residualSeconds,
  shortHumanDuration,
} from './expiry.ts';
import { MODE_PUBLIC, MODE_SECRET, commitStaged, readPkiFile, stageFile } from './files.ts';
import { keyMatchesCert, readCertPem, readPrivateKey } from './inspect.ts';
import {
  CA_SPECS,
  KUBECONFIG_SPECS,
  LEAF_SPECS,
  expectedAbsence,
  kubeconfigSpecsFor,
  type Absence,
  type CaName,
} from './kubeadm-spec.ts';
import { KubeconfigError, readKubeconfigCredentials, replaceEmbeddedClientCert } from './kubeconfig.ts';
import type { KubeadmVersion } from './node-version.ts';
import {
  certToPem,
  generateKeyPair,
  importPrivateKeyPem,
  parseCertificate,
  privateKeyToPem,
  reissueCertificate,
  type KeyPair,
  type x509,
} from './x509.ts';

/** The names `certs renew` of kubeadm `version` accepts ("v1.28.15"; undefined: the newest). */
export function renewableFor(version: string | undefined): string[] {
  return [
    ...LEAF_SPECS.map((s) => s.name),
    ...kubeconfigSpecsFor(version)
      .filter((s) => s.name !== 'kubelet.conf')
      .map((s) => s.name),
  ].sort();
}

/** The names `certs renew` accepts, as the newest kubeadm's `certs renew` subcommands name them. */
export const RENEWABLE = renewableFor(undefined);

/** The control-plane static pods that read each renewable certificate (and must restart to use it). */
export const COMPONENTS_USING: Record<string, readonly StaticPodComponent[]> = {
  apiserver: ['kube-apiserver'],
  'apiserver-kubelet-client': ['kube-apiserver'],
  'apiserver-etcd-client': ['kube-apiserver'],
  'front-proxy-client': ['kube-apiserver'],
  'etcd-server': ['etcd'],
  'etcd-peer': ['etcd'],
  // etcd's probes are plain HTTP on the metrics port; this one is for people and scripts.
  'etcd-healthcheck-client': [],
  'admin.conf': [],
  'super-admin.conf': [],
  'controller-manager.conf': ['kube-controller-manager'],
  'scheduler.conf': ['kube-scheduler'],
};

/** kubeadm's static pods, in the order bosun restarts them (etcd last). */
export type StaticPodComponent = 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'etcd';
export const RESTART_ORDER: readonly StaticPodComponent[] = [
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'etcd',
];

/** What `certs renew` was asked. */
export interface RenewRequest {
  /** ['all'] or kubeadm names. */
  names: readonly string[];
  paths: CertPaths;
  /** Parent of the dated backup directory (default: <config-dir>/tmp, kubeadm's tmp dir). */
  backupRoot: string;
  /** How long renewed certificates live (kubeadm: one year), capped at the CA's notAfter. */
  validityMs: number;
  now: Date;
  /** The kubeadm release that laid the node out: what 'all' means. Default: the newest. */
  kubernetesVersion?: KubeadmVersion | undefined;
}

/** One renewed certificate. */
export interface Renewed {
  name: string;
  /** The files rewritten (certificate and key, or the kubeconfig). */
  files: string[];
  notAfter: Date;
  /** The requested validity would have outlived the CA: notAfter is the CA's. */
  cappedByCa: boolean;
}

/** A certificate `all` did not renew because its file is absent where kubeadm does not write it. */
export interface Skipped {
  name: string;
  /** The file that is not there. */
  path: string;
  /** Why that is kubeadm's normal layout ("kubeadm writes it only on the node where kubeadm init ran"). */
  reason: string;
}

/** What a renewal did. */
export interface RenewResult {
  renewed: Renewed[];
  /** What `all` passed over: kubeconfigs kubeadm did not write on this node. Empty for named certificates. */
  skipped: Skipped[];
  backupDir: string;
  /** The static pods that read the renewed files, in restart order. */
  components: StaticPodComponent[];
}

/**
 * Expands and validates the names: 'all', or the names kubeadm of `version` renews. UsageError
 * for anything else (super-admin.conf on a node of kubeadm before v1.29 among them).
 */
export function resolveRenewNames(names: readonly string[], version?: KubeadmVersion): string[] {
  const renewable = renewableFor(version?.version);
  if (names.length === 0) {
    throw new UsageError('specify "all" or at least one certificate name', {
      hint: `Names: ${renewable.join(', ')}`,
    });
  }
  if (names.includes('all')) {
    if (names.length > 1)
      throw new UsageError('"all" cannot be combined with certificate names', {
        hint: "See 'bosun certs renew -h' for help and examples",
      });
    return renewable;
  }
  const out: string[] = [];
  for (const n of names) {
    if (renewable.includes(n)) {
      if (!out.includes(n)) out.push(n);
      continue;
    }
    if (version && RENEWABLE.includes(n)) {
      throw new UsageError(
        `kubeadm ${version.version} (${version.source}) writes no ${n}: it came with v1.29`,
        { hint: `Names: all, ${renewable.join(', ')}` },
      );
    }
    if (n === 'kubelet.conf' || n === 'kubelet-client' || n === 'kubelet-serving') {
      throw new UsageError(
        `${n} is renewed by the kubelet itself (certificate rotation), not by certs renew`,
        {
          hint: 'If the kubelet client certificate has expired, re-join the node or follow the kubeadm guide "Kubelet client certificate rotation fails".',
        },
      );
    }
    if (CA_SPECS.some((c) => c.name === n)) {
      throw new UsageError(
        `${n} is a certificate authority: certs renew re-issues leaves signed by it, not the CA itself`,
        {
          hint: 'Renewing a CA means a new trust root for the whole cluster; see the kubeadm guide "Manual rotation of CA certificates".',
        },
      );
    }
    throw new UsageError(`unknown certificate "${n}"`, { hint: `Names: all, ${renewable.join(', ')}` });
  }
  return out;
}

interface CaMaterial {
  name: CaName;
  cert: x509.X509Certificate;
  key: KeyPair;
  certPath: string;
}

interface PlannedWrite {
  path: string;
  content: string;
  mode: number;
}

interface Planned {
  name: string;
  writes: PlannedWrite[];
  notAfter: Date;
  cappedByCa: boolean;
}

async function readOrNull(path: string): Promise<{ text: string } | { error: string; missing: boolean }> {
  const r = await readPkiFile(path);
  if (r.kind === 'ok') return { text: r.text };
  return r.kind === 'missing'
    ? { error: `${path} does not exist`, missing: true }
    : { error: r.message, missing: false };
}

/** Loads a CA's certificate and key, or says in one phrase why it cannot sign. */
async function loadCaMaterial(pkiDir: string, name: CaName): Promise<CaMaterial | string> {
  const spec = CA_SPECS.find((c) => c.name === name);
  if (!spec) return `unknown CA ${name}`;
  const certPath = join(pkiDir, `${spec.baseName}.crt`);
  const keyPath = join(pkiDir, `${spec.baseName}.key`);
  const c = await readOrNull(certPath);
  if ('error' in c) return `its CA certificate ${c.error.replace(/^cannot read /, '')}`;
  const k = await readOrNull(keyPath);
  if ('error' in k) {
    return k.missing
      ? `the CA key ${keyPath} is absent (external CA): sign the renewal with that CA instead`
      : `the CA key ${k.error.replace(/^cannot read /, '')}`;
  }
  const parsed = readCertPem(c.text);
  if (!parsed.ok) return `its CA certificate ${certPath} is unreadable (${parsed.message})`;
  const ko = readPrivateKey(k.text);
  if (!ko) return `the CA key ${keyPath} is not a readable PEM key`;
  if (!keyMatchesCert(parsed.pem, ko)) return `the CA key ${keyPath} does not match ${certPath}`;
  try {
    return { name, cert: parseCertificate(parsed.pem), key: await importPrivateKeyPem(k.text), certPath };
  } catch (e) {
    return `the CA key ${keyPath} cannot sign (${errorMessage(e)})`;
  }
}

/** Why one certificate cannot be renewed; `byCa` when its CA's expiry is the reason. */
interface Refusal {
  reason: string;
  byCa?: boolean;
}

async function newCertFor(
  oldPem: string,
  ca: CaMaterial,
  req: RenewRequest,
): Promise<{ certPem: string; keyPem: string; notAfter: Date; cappedByCa: boolean } | string | Refusal> {
  const blocked = renewalBlockedByCa(req.now, req.validityMs, ca.cert.notAfter);
  if (blocked !== undefined) {
    const when = formatExpires(ca.cert.notAfter);
    return {
      reason:
        blocked === 'ca-expired'
          ? `its CA ${ca.name} (${ca.certPath}) expired on ${when}; what it signs now is expired from the start`
          : `its CA ${ca.name} (${ca.certPath}) expires on ${when}, in ${shortHumanDuration(residualSeconds(ca.cert.notAfter, req.now))}: the renewed certificate would live less than a day`,
      byCa: true,
    };
  }
  const parsed = readCertPem(oldPem);
  if (!parsed.ok) return `the current certificate is unreadable (${parsed.message})`;
  const type = parsed.facts.keyType;
  if (type === undefined)
    return 'the current certificate has a key type bosun cannot issue (RSA 2048/3072/4096, ECDSA P-256/P-384)';
  const old = parseCertificate(parsed.pem);
  const { notAfter, cappedByCa } = renewedNotAfter(req.now, req.validityMs, ca.cert.notAfter);
  const key = await generateKeyPair(type);
  // pkiutil.NewSignedCert: NotBefore = caCert.NotBefore.
  const cert = await reissueCertificate({
    old,
    issuer: { cert: ca.cert, key: ca.key.privateKey },
    subjectKey: key,
    notBefore: ca.cert.notBefore,
    notAfter,
  });
  return { certPem: certToPem(cert), keyPem: await privateKeyToPem(key.privateKey), notAfter, cappedByCa };
}

async function planOne(
  name: string,
  req: RenewRequest,
  caFor: (n: CaName) => Promise<CaMaterial | string>,
): Promise<Planned | string | Refusal> {
  const leaf = LEAF_SPECS.find((s) => s.name === name);
  if (leaf) {
    const ca = await caFor(leaf.caName);
    if (typeof ca === 'string') return ca;
    const certPath = join(req.paths.pkiDir, `${leaf.baseName}.crt`);
    const keyPath = join(req.paths.pkiDir, `${leaf.baseName}.key`);
    const cur = await readOrNull(certPath);
    if ('error' in cur)
      return `the current certificate ${cur.error.replace(/^cannot read /, '')} (renewal copies its subject and SANs)`;
    const made = await newCertFor(cur.text, ca, req);
    if (typeof made === 'string' || 'reason' in made) return made;
    return {
      name,
      writes: [
        { path: keyPath, content: made.keyPem, mode: MODE_SECRET },
        { path: certPath, content: made.certPem, mode: MODE_PUBLIC },
      ],
      notAfter: made.notAfter,
      cappedByCa: made.cappedByCa,
    };
  }
  // A kubeconfig: its client certificate is signed by the kubernetes CA.
  const ca = await caFor('ca');
  if (typeof ca === 'string') return ca;
  const path = join(req.paths.configDir, name);
  const cur = await readOrNull(path);
  if ('error' in cur) return cur.error;
  let creds;
  try {
    creds = readKubeconfigCredentials(cur.text);
  } catch (e) {
    return e instanceof KubeconfigError ? `${path}: ${e.message}` : errorMessage(e);
  }
  if (creds.auth.kind !== 'embedded') {
    return creds.auth.kind === 'file'
      ? `${path} names its client certificate by file (${creds.auth.certFile}); renew that file instead`
      : `${path} has no client certificate to renew (its user authenticates with ${creds.auth.kind === 'token' ? 'a token' : creds.auth.kind})`;
  }
  const made = await newCertFor(creds.auth.certPem, ca, req);
  if (typeof made === 'string' || 'reason' in made) return made;
  return {
    name,
    writes: [
      { path, content: replaceEmbeddedClientCert(cur.text, made.certPem, made.keyPem), mode: MODE_SECRET },
    ],
    notAfter: made.notAfter,
    cappedByCa: made.cappedByCa,
  };
}

/**
 * When `name` is a kubeconfig kubeadm writes only where `kubeadm init` ran and it is not on this
 * node: where it would be, why that is normal and how to make one. Undefined otherwise (including
 * when it exists, unreadable or not: then it is renewed or refused like the others).
 */
async function absentHere(name: string, paths: CertPaths): Promise<(Absence & { path: string }) | undefined> {
  const spec = KUBECONFIG_SPECS.find((s) => s.name === name);
  const absence = spec && expectedAbsence(spec);
  if (!absence) return undefined;
  const path = join(paths.configDir, name);
  return (await readPkiFile(path)).kind === 'missing' ? { ...absence, path } : undefined;
}

/** kubeadm's dated directory names: 2006-01-02-15-04-05 (UTC here). */
function stamp(d: Date): string {
  return d.toISOString().slice(0, 19).replace(/[T:]/g, '-');
}

/** How an unfinished backup directory is named: `.bosun-certs-backup-STAMP.<12 hex>.part`. */
export const PARTIAL_BACKUP_NAME = /^\.bosun-certs-backup-[^/]*\.[0-9a-f]{12}\.part$/;

/**
 * Copies the files to a fresh dated backup directory under root (0700, files 0600: it holds
 * private keys). The copy is made in a hidden `.part` directory and renamed to its dated name only
 * when complete, so a backup under a final name is never partial. A file absent is skipped.
 */
async function writeBackup(root: string, now: Date, files: { from: string; to: string }[]): Promise<string> {
  await mkdir(root, { recursive: true, mode: 0o700 });
  const base = `bosun-certs-backup-${stamp(now)}`;
  const part = join(root, `.${base}.${randomBytes(6).toString('hex')}.part`);
  await mkdir(part, { mode: 0o700 });
  try {
    for (const f of files) {
      const dest = join(part, f.to);
      await mkdir(dirname(dest), { recursive: true, mode: 0o700 });
      try {
        await copyFile(f.from, dest);
      } catch (e) {
        // A leaf whose key file was missing has nothing to back up for it.
        if ((e as { code?: unknown }).code === 'ENOENT') continue;
        throw e;
      }
      await chmod(dest, MODE_SECRET);
    }
    for (let i = 0; ; i++) {
      const dir = join(root, i === 0 ? base : `${base}-${i}`);
      try {
        await rename(part, dir);
        return dir;
      } catch (e) {
        const code = (e as { code?: unknown }).code;
        if ((code !== 'EEXIST' && code !== 'ENOTEMPTY') || i > 100) throw e;
      }
    }
  } catch (e) {
    await rm(part, { recursive: true, force: true });
    throw e;
  }
}

/** Where a file goes inside the backup: its path relative to the config dir (pki/... for the pki dir). */
function backupName(path: string, paths: CertPaths): string {
  const inConfig = relative(paths.configDir, path);
  if (!inConfig.startsWith('..') && !isAbsolute(inConfig)) return inConfig;
  const inPki = relative(paths.pkiDir, path);
  if (!inPki.startsWith('..') && !isAbsolute(inPki)) return join('pki', inPki);
  return path.replace(/^\/+/, '');
}

/**
 * Renews the named certificates. Throws a BosunError, having changed nothing, when any of them
 * cannot be renewed; otherwise backs up every file it will replace, then writes the new ones.
 */
export async function renewCertificates(req: RenewRequest): Promise<RenewResult> {
  const names = resolveRenewNames(req.names, req.kubernetesVersion);
  const caCache = new Map<CaName, Promise<CaMaterial | string>>();
  const caFor = (n: CaName): Promise<CaMaterial | string> => {
    let p = caCache.get(n);
    if (!p) {
      p = loadCaMaterial(req.paths.pkiDir, n);
      caCache.set(n, p);
    }
    return p;
  };

  const planned: Planned[] = [];
  const skipped: Skipped[] = [];
  const refused: string[] = [];
  let byCa = false;
  let absentHint: string | undefined;
  const all = req.names.includes('all');
  for (const name of names) {
    const absent = await absentHere(name, req.paths);
    if (absent) {
      if (all) skipped.push({ name, path: absent.path, reason: absent.reason });
      else {
        refused.push(`${name}: ${absent.path} does not exist; ${absent.reason}`);
        absentHint = `To make one on this node: ${absent.hint}`;
      }
      continue;
    }
    const p = await planOne(name, req, caFor);
    if (typeof p === 'string') refused.push(`${name}: ${p}`);
    else if ('reason' in p) {
      refused.push(`${name}: ${p.reason}`);
      byCa ||= p.byCa === true;
    } else planned.push(p);
  }
  if (refused.length > 0) {
    throw new BosunError(
      refused.length === 1
        ? `cannot renew ${refused[0] ?? ''}`
        : `cannot renew ${refused.length} certificates: ${refused.join('; ')}`,
      'PKI',
      {
        hint: byCa
          ? 'Nothing was changed. A CA is not renewed in place: rotate it (kubeadm\'s guide "Manual rotation of CA certificates", https://kubernetes.io/docs/tasks/tls/manual-rotation-of-ca-certificates/), then renew the certificates it signs.'
          : absentHint !== undefined && refused.length === 1
            ? `Nothing was changed. ${absentHint}`
            : `Nothing was changed. Renew the others by name, or fix what is named above.${absentHint === undefined ? '' : ` ${absentHint}`}`,
      },
    );
  }

  const backupDir = await writeBackup(
    req.backupRoot,
    req.now,
    planned.flatMap((p) => p.writes.map((w) => ({ from: w.path, to: backupName(w.path, req.paths) }))),
  );
  // Every new file is written and fsynced beside its final name first, then all are renamed into
  // place one after the other: a kill leaves either whole new files or temporary ones, which the
  // next run removes, and the window where a key and its certificate disagree is a few renames.
  const staged: { tmp: string; path: string }[] = [];
  try {
    for (const p of planned)
      for (const w of p.writes)
        staged.push({ tmp: await stageFile(w.path, w.content, w.mode), path: w.path });
  } catch (e) {
    for (const st of staged) await rm(st.tmp, { force: true });
    throw e;
  }
  for (const [i, st] of staged.entries()) {
    try {
      await commitStaged(st.tmp, st.path);
    } catch (e) {
      for (const rest of staged.slice(i + 1)) await rm(rest.tmp, { force: true });
      throw e;
    }
  }

  return {
    renewed: planned.map((p) => ({
      name: p.name,
      files: p.writes.map((w) => w.path),
      notAfter: p.notAfter,
      cappedByCa: p.cappedByCa,
    })),
    skipped,
    backupDir,
    components: componentsUsing(planned.map((p) => p.name)),
  };
}

/** The static pods that read the named certificates (kubeadm names, not 'all'), in restart order. */
export function componentsUsing(names: readonly string[]): StaticPodComponent[] {
  const used = new Set(names.flatMap((n) => COMPONENTS_USING[n] ?? []));
  return RESTART_ORDER.filter((c) => used.has(c));
}
