// Where a node keeps its certificates: kubeadm's and the kubelet's default directories, taken under
// --root for a node whose root filesystem is mounted elsewhere (a sandbox node's host directory),
// unless a flag names a directory itself. Only computes paths; reads nothing.
import { isAbsolute, join } from 'node:path';
import type { CertPaths } from './check.ts';

/** kubeadm's and the kubelet's default locations. */
export const DEFAULT_PATHS = {
  pkiDir: '/etc/kubernetes/pki',
  configDir: '/etc/kubernetes',
  kubeletPkiDir: '/var/lib/kubelet/pki',
} as const;

/** Location flags as the user gave them. */
export interface PathFlags {
  pkiDir?: string | undefined;
  configDir?: string | undefined;
  kubeletPkiDir?: string | undefined;
  /** A node's root filesystem mounted elsewhere (a sandbox node's host dir). */
  root?: string | undefined;
}

/**
 * Where to look: explicit flags win; otherwise kubeadm's defaults, under --root when given. With
 * --root, absolute paths named inside kubeconfigs are read under the root too.
 */
export function resolveCertPaths(flags: PathFlags, cwd: string): CertPaths {
  const abs = (p: string): string => (isAbsolute(p) ? p : join(cwd, p));
  const root = flags.root === undefined ? undefined : abs(flags.root);
  const under = (p: string): string => (root === undefined ? p : join(root, p));
  const paths: CertPaths = {
    pkiDir: abs(flags.pkiDir ?? under(DEFAULT_PATHS.pkiDir)),
    configDir: abs(flags.configDir ?? under(DEFAULT_PATHS.configDir)),
    kubeletPkiDir: abs(flags.kubeletPkiDir ?? under(DEFAULT_PATHS.kubeletPkiDir)),
  };
  if (root !== undefined) {
    paths.mapPath = (p) => (isAbsolute(p) && p !== root && !p.startsWith(root + '/') ? join(root, p) : p);
  }
  return paths;
}
