// What can be wrong with a kubeconfig's own files and credentials, said the way a user can fix it:
// the files the chosen context names (certificate-authority, client-certificate, client-key) as
// clientcmd's validation checks them before any request, a client certificate and key that do not
// go together, and an exec credential plugin that is missing or fails. Each error names the
// kubeconfig file and what is wrong in one line (exit code 1), never "a bug in bosun".
//
// It reads the files it checks and nothing else; it never prints.
import { readFileSync, statSync } from 'node:fs';
import type { Cluster, KubeConfig, User } from '@kubernetes/client-node';
import { BosunError, errorMessage } from '../common/errors.ts';

/** Which kubeconfig file defined each cluster and user name (the first file to define it wins). */
export interface KubeconfigOrigins {
  clusters: ReadonlyMap<string, string>;
  users: ReadonlyMap<string, string>;
}

const FIX_HINT = 'Fix the path in the kubeconfig, or point --kubeconfig or KUBECONFIG at a valid one.';

/** Why a referenced file cannot be read, in the words of the system call (ENOENT, EISDIR, EACCES). */
function unreadable(file: string): string | undefined {
  try {
    if (statSync(file).isDirectory()) return 'is a directory';
    readFileSync(file);
    return undefined;
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code === 'ENOENT') return 'no such file or directory';
    if (code === 'EACCES') return 'permission denied';
    if (code === 'EISDIR') return 'is a directory';
    return errorMessage(e);
  }
}

/**
 * Checks that the files the current context's cluster and user name can be read, as clientcmd's
 * validateClusterInfo and validateAuthInfo do ("unable to read client-key ... for ... due to ...").
 * @throws BosunError naming the kubeconfig, the field, the path and what is wrong.
 */
export function checkReferencedFiles(kc: KubeConfig, origins: KubeconfigOrigins): void {
  const cluster = kc.getCurrentCluster();
  const user = kc.getCurrentUser();
  const checks: { field: string; file: string | undefined; owner: string; origin: string | undefined }[] = [];
  if (cluster)
    checks.push({
      field: 'certificate-authority',
      file: cluster.caFile,
      owner: `cluster "${cluster.name}"`,
      origin: origins.clusters.get(cluster.name),
    });
  if (user)
    for (const [field, file] of [
      ['client-certificate', user.certFile],
      ['client-key', user.keyFile],
    ] as const)
      checks.push({ field, file, owner: `user "${user.name}"`, origin: origins.users.get(user.name) });
  for (const c of checks) {
    if (c.file === undefined || c.file === '') continue;
    const why = unreadable(c.file);
    if (why !== undefined)
      throw new BosunError(
        `${inFile(c.origin)}unable to read ${c.field} ${c.file} for ${c.owner}: ${why}`,
        'USAGE',
        { hint: FIX_HINT },
      );
  }
}

function inFile(origin: string | undefined): string {
  return origin ? `kubeconfig ${origin}: ` : '';
}

/** What failed while applying the kubeconfig's credentials to a request, as a BosunError. */
export function credentialError(
  e: unknown,
  user: User | null,
  cluster: Cluster | null,
  origins: KubeconfigOrigins,
): BosunError {
  const where = inFile(user ? origins.users.get(user.name) : undefined);
  const who = user ? `user "${user.name}"` : 'the current user';
  const exec = user?.exec as { command?: string; installHint?: string } | undefined;
  if (exec?.command) {
    const code = (e as { code?: unknown }).code;
    if (code === 'ENOENT' || code === 'EACCES')
      return new BosunError(
        `${where}the exec credential plugin "${exec.command}" of ${who} ${code === 'ENOENT' ? 'was not found' : 'cannot be run (permission denied)'}`,
        'USAGE',
        {
          cause: e,
          hint:
            exec.installHint?.trim().split('\n')[0] ||
            'Install the plugin (it must be on PATH, or the command an absolute path), or use another kubeconfig.',
        },
      );
    const first = errorMessage(e).trim().split('\n')[0] ?? '';
    return new BosunError(
      `${where}the exec credential plugin "${exec.command}" of ${who} failed${e instanceof SyntaxError ? ': its output is not an ExecCredential' : first ? `: ${first}` : ''}`,
      'USAGE',
      { cause: e, hint: 'Run the plugin by hand to see why; or use another kubeconfig.' },
    );
  }
  const msg = errorMessage(e);
  if ((e as { code?: unknown }).code === 'ENOENT' || (e as { code?: unknown }).code === 'EISDIR') {
    // A file that went away (or was replaced) after the kubeconfig was loaded.
    const path = (e as { path?: unknown }).path;
    return new BosunError(
      `${where}unable to read ${typeof path === 'string' ? path : 'a file'} for ${who}: ${msg}`,
      'USAGE',
      { cause: e, hint: FIX_HINT },
    );
  }
  return new BosunError(
    `${where}the credentials of ${who}${cluster ? ` for cluster "${cluster.name}"` : ''} cannot be used: ${msg}`,
    'USAGE',
    {
      cause: e,
      hint: 'Check that client-certificate and client-key are a PEM certificate and its own private key.',
    },
  );
}
