// Kubeconfig files as kubeadm and the kubelet write them (clientcmd's field order), and the few
// reads `certs check`/`renew` need: the current context's user and its client certificate, either
// embedded (`client-certificate-data`) or by file path. Rewrites keep every other field as it was.
// Never logs the file: it holds private keys and maybe tokens.
import { isMap, isSeq, parseDocument, stringify, type Document } from 'yaml';
import { BosunError } from '../common/errors.ts';

/** How the user authenticates: embedded PEM data, or files on disk. */
export type ClientAuth = { certPem: string; keyPem: string } | { certFile: string; keyFile: string };

/** Input for a single-cluster, single-user kubeconfig. */
export interface KubeconfigInput {
  clusterName: string;
  /** https://host:port */
  server: string;
  caPem: string;
  userName: string;
  contextName: string;
  auth: ClientAuth;
}

/** Renders a kubeconfig like clientcmd.WriteToFile does for kubeadm's files. */
export function buildKubeconfig(k: KubeconfigInput): string {
  const user: Record<string, string> =
    'certPem' in k.auth
      ? { 'client-certificate-data': b64(k.auth.certPem), 'client-key-data': b64(k.auth.keyPem) }
      : { 'client-certificate': k.auth.certFile, 'client-key': k.auth.keyFile };
  const doc = {
    apiVersion: 'v1',
    clusters: [
      { cluster: { 'certificate-authority-data': b64(k.caPem), server: k.server }, name: k.clusterName },
    ],
    contexts: [{ context: { cluster: k.clusterName, user: k.userName }, name: k.contextName }],
    'current-context': k.contextName,
    kind: 'Config',
    preferences: {},
    users: [{ name: k.userName, user }],
  };
  // clientcmd (sigs.k8s.io/yaml) writes sequences flush with their key.
  return stringify(doc, { lineWidth: 0, indentSeq: false });
}

function b64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

/** What a kubeconfig says about its current user's credentials. */
export interface KubeconfigCredentials {
  contextName: string;
  userName: string;
  clusterName: string;
  server: string | undefined;
  /** The cluster's CA, when embedded. */
  caPem: string | undefined;
  /** How the user authenticates; 'token' / 'exec' / 'none' when it has no client certificate. */
  auth:
    | { kind: 'embedded'; certPem: string; keyPem: string | undefined }
    | { kind: 'file'; certFile: string; keyFile: string | undefined }
    | { kind: 'token' | 'exec' | 'auth-provider' | 'basic' | 'none' };
}

/**
 * A kubeconfig that cannot be read for its current user (one line: what is wrong). A user's
 * mistake, not a bug: exit code 1 with a hint.
 */
export class KubeconfigError extends BosunError {
  override readonly name = 'KubeconfigError';
  constructor(message: string) {
    super(message, 'USAGE', {
      hint: 'Fix the kubeconfig, or write it again (kubeadm init phase kubeconfig, kubeadm kubeconfig user).',
    });
  }
}

type Obj = Record<string, unknown>;

function asObj(v: unknown): Obj | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Obj) : undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function named(list: unknown, name: string, field: string): Obj | undefined {
  if (!Array.isArray(list)) return undefined;
  for (const item of list) {
    const o = asObj(item);
    if (o && o['name'] === name) return asObj(o[field]);
  }
  return undefined;
}

function unb64(v: unknown): string | undefined {
  const s = str(v);
  return s === undefined ? undefined : Buffer.from(s, 'base64').toString('utf8');
}

/** Reads the current context's user credentials. Throws KubeconfigError on malformed input. */
export function readKubeconfigCredentials(text: string): KubeconfigCredentials {
  let root: Obj | undefined;
  try {
    const doc = parseDocument(text);
    if (doc.errors.length > 0) throw doc.errors[0];
    root = asObj(doc.toJS());
  } catch (e) {
    throw new KubeconfigError(
      `not a valid kubeconfig (YAML): ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`,
    );
  }
  if (!root) throw new KubeconfigError('not a valid kubeconfig: the file is empty or not a YAML mapping');
  const contextName = str(root['current-context']) ?? '';
  if (contextName === '') throw new KubeconfigError('kubeconfig has no current-context');
  const ctx = named(root['contexts'], contextName, 'context');
  if (!ctx)
    throw new KubeconfigError(`kubeconfig's current-context "${contextName}" is not among its contexts`);
  const userName = str(ctx['user']) ?? '';
  const clusterName = str(ctx['cluster']) ?? '';
  const user = named(root['users'], userName, 'user');
  if (!user)
    throw new KubeconfigError(
      `kubeconfig's user "${userName}" (of context "${contextName}") is not among its users`,
    );
  const cluster = named(root['clusters'], clusterName, 'cluster');
  const creds: Omit<KubeconfigCredentials, 'auth'> = {
    contextName,
    userName,
    clusterName,
    server: str(cluster?.['server']),
    caPem: unb64(cluster?.['certificate-authority-data']),
  };
  const certData = unb64(user['client-certificate-data']);
  if (certData !== undefined)
    return {
      ...creds,
      auth: { kind: 'embedded', certPem: certData, keyPem: unb64(user['client-key-data']) },
    };
  const certFile = str(user['client-certificate']);
  if (certFile !== undefined)
    return { ...creds, auth: { kind: 'file', certFile, keyFile: str(user['client-key']) } };
  if (str(user['token']) !== undefined || str(user['tokenFile']) !== undefined)
    return { ...creds, auth: { kind: 'token' } };
  if (user['exec'] !== undefined) return { ...creds, auth: { kind: 'exec' } };
  if (user['auth-provider'] !== undefined) return { ...creds, auth: { kind: 'auth-provider' } };
  if (user['username'] !== undefined) return { ...creds, auth: { kind: 'basic' } };
  return { ...creds, auth: { kind: 'none' } };
}

/**
 * Replaces the embedded client certificate and key of the current context's user, keeping every
 * other field, comment and ordering as it was (kubeadm's renewal rewrites only these two).
 */
export function replaceEmbeddedClientCert(text: string, certPem: string, keyPem: string): string {
  const doc: Document = parseDocument(text);
  const creds = readKubeconfigCredentials(text);
  if (creds.auth.kind !== 'embedded')
    throw new KubeconfigError('kubeconfig has no embedded client certificate to replace');
  const users = doc.get('users');
  if (!isSeq(users)) throw new KubeconfigError('kubeconfig has no users list');
  for (const item of users.items) {
    if (isMap(item) && item.get('name') === creds.userName) {
      const user = item.get('user');
      if (!isMap(user)) break;
      user.set('client-certificate-data', b64(certPem));
      user.set('client-key-data', b64(keyPem));
      return doc.toString({ lineWidth: 0, indentSeq: false });
    }
  }
  throw new KubeconfigError(`kubeconfig's user "${creds.userName}" not found`);
}
