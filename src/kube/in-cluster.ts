// In-cluster configuration, as client-go's rest.InClusterConfig builds it for a pod: the API server
// from KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT, the pod's ServiceAccount token as the
// bearer token, its ca.crt as the CA, and its namespace file (POD_NAMESPACE first, as clientcmd's
// in-cluster config reads it). The token is a projected volume the kubelet rotates, so it is read
// again as client-go reads it (transport.NewCachedFileTokenSource): when the copy in hand is older
// than a minute less ten seconds of leeway, and at once after a 401.
//
// The environment and the files are passed in (the agent's composition root reads process.env; the
// sandbox maps the paths onto a node's directory). It never prints: problems are BosunErrors, and
// what client-go only logs comes back as warnings.
import path from 'node:path';
import type { Clock } from '../common/ports.ts';
import { BosunError, errorMessage } from '../common/errors.ts';

/** Where a pod's ServiceAccount is mounted. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** What the in-cluster configuration is read from. */
export interface InClusterSource {
  /** The environment (KUBERNETES_SERVICE_HOST, KUBERNETES_SERVICE_PORT, POD_NAMESPACE). */
  env: Readonly<Record<string, string | undefined>>;
  /** The ServiceAccount directory holding token, ca.crt and namespace (default SERVICE_ACCOUNT_DIR). */
  serviceAccountDir?: string;
}

/** Reads a file whole; rejects with the system's error (code ENOENT, ...). */
export type ReadFile = (file: string) => Promise<Buffer>;

/** The configuration a pod's client uses. */
export interface InClusterConfig {
  /** https://HOST:PORT of the kubernetes Service. */
  server: string;
  /** The token file, read again as it rotates (see FileTokenSource). */
  tokenFile: string;
  /** The CA bundle to verify the server with; undefined when ca.crt could not be read. */
  caFile: string | undefined;
  /** POD_NAMESPACE, else the namespace file, else "default". */
  namespace: string;
  /** What client-go logs and goes on without (an unreadable ca.crt). */
  warnings: string[];
}

/** client-go's ErrNotInCluster, word for word. */
export const NOT_IN_CLUSTER =
  'unable to load in-cluster configuration, KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be defined';

/**
 * Builds the in-cluster configuration as rest.InClusterConfig does.
 * @throws BosunError when the service variables are not set (not in a pod) or the token cannot be read.
 */
export async function inClusterConfig(src: InClusterSource, readFile: ReadFile): Promise<InClusterConfig> {
  const host = src.env['KUBERNETES_SERVICE_HOST'] ?? '';
  const port = src.env['KUBERNETES_SERVICE_PORT'] ?? '';
  if (host === '' || port === '')
    throw new BosunError(NOT_IN_CLUSTER, 'USAGE', {
      hint: 'Outside a pod, pass --kubeconfig (or set KUBECONFIG) instead.',
    });
  const dir = src.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const tokenFile = path.join(dir, 'token');
  // The token must be readable now (client-go fails here too); later reads go through the source.
  await readToken(tokenFile, readFile);
  const warnings: string[] = [];
  let caFile: string | undefined = path.join(dir, 'ca.crt');
  try {
    const ca = await readFile(caFile);
    if (!ca.toString('utf8').includes('-----BEGIN CERTIFICATE-----'))
      throw new Error('no PEM certificate in it');
  } catch (e) {
    warnings.push(
      `expected to load root CA config from ${caFile}, but got err: ${errorMessage(e)}; verifying the API server against the system's CAs`,
    );
    caFile = undefined;
  }
  let namespace = src.env['POD_NAMESPACE'] ?? '';
  if (namespace === '') {
    try {
      namespace = (await readFile(path.join(dir, 'namespace'))).toString('utf8').trim();
    } catch {
      namespace = '';
    }
  }
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    tokenFile,
    caFile,
    namespace: namespace || 'default',
    warnings,
  };
}

async function readToken(file: string, readFile: ReadFile): Promise<string> {
  let text: string;
  try {
    text = (await readFile(file)).toString('utf8').trim();
  } catch (e) {
    throw new BosunError(`unable to read the ServiceAccount token ${file}: ${errorMessage(e)}`, 'USAGE', {
      cause: e,
      hint: 'Is the pod running with a ServiceAccount token mounted (automountServiceAccountToken)?',
    });
  }
  if (text === '')
    throw new BosunError(`read empty token from file ${JSON.stringify(file)}`, 'USAGE', {
      hint: 'Is the pod running with a ServiceAccount token mounted (automountServiceAccountToken)?',
    });
  return text;
}

/** client-go's fileTokenSource period (a minute) less cachingTokenSource's leeway (ten seconds). */
export const TOKEN_REREAD_MS = 50_000;

/**
 * A bearer token read from a file and read again as the kubelet rotates it: after TOKEN_REREAD_MS,
 * or on the next request after a 401 (client-go's ResettableTokenSource). When a later read fails,
 * the token in hand is used (client-go logs "Unable to rotate token" and does the same).
 */
export class FileTokenSource {
  private cached: { token: string; readAt: number } | undefined;

  constructor(
    readonly file: string,
    private readonly deps: { clock: Clock; readFile: ReadFile },
  ) {}

  /** The token to send now. @throws BosunError when it was never readable. */
  async token(): Promise<string> {
    const now = this.deps.clock.now().getTime();
    if (this.cached !== undefined && now - this.cached.readAt < TOKEN_REREAD_MS) return this.cached.token;
    try {
      const token = await readToken(this.file, this.deps.readFile);
      this.cached = { token, readAt: now };
    } catch (e) {
      if (this.cached === undefined) throw e;
    }
    return this.cached.token;
  }

  /** The server refused the token: read the file again before the next request. */
  reset(): void {
    if (this.cached) this.cached.readAt = -Infinity;
  }
}
