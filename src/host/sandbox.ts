// Running on a sandbox node: the sandbox gives every node a host directory with shims named after
// the real commands (DIR/nodes/NODE/host/bin: kubeadm, apt-get, systemctl, reboot, ...) that change
// that simulated node, so a command run here with those shims first on PATH acts on the node, and
// the very same recipe text runs against the sandbox and against a real host. This module is all
// bosun's features know of a sandbox node's directory (they never import src/sandbox/).
import { LocalExecutor } from './local.ts';

/** Where the sandbox keeps a node's host shims, given the sandbox directory. */
export function sandboxShimDir(sandboxDir: string, node: string): string {
  return `${sandboxDir.replace(/\/+$/, '')}/nodes/${node}/host/bin`;
}

/**
 * The sandbox directory for --on-node: --sandbox-dir when given, else the directory of the
 * kubeconfig in use when it is a sandbox's admin.conf (DIR/admin.conf with DIR/nodes beside it).
 */
export function resolveSandboxDir(opts: {
  sandboxDir?: string | undefined;
  kubeconfigFiles: readonly string[];
  isDir: (p: string) => boolean;
}): string | undefined {
  if (opts.sandboxDir) return opts.sandboxDir;
  for (const f of opts.kubeconfigFiles) {
    const slash = f.lastIndexOf('/');
    const dir = slash > 0 ? f.slice(0, slash) : '.';
    if (f.endsWith('/admin.conf') && opts.isDir(`${dir}/nodes`)) return dir;
  }
  return undefined;
}

/** Options of {@link createSandboxExecutor}. */
export interface SandboxExecutorOptions {
  /** The sandbox directory (DIR of DIR/nodes/NODE/host/bin). */
  sandboxDir: string;
  /** The environment of every command; each node's shims go first on its PATH. */
  env: Readonly<Record<string, string | undefined>>;
  cwd?: string | undefined;
}

/** An executor that runs each node's commands here, with that node's shims first on PATH. */
export function createSandboxExecutor(opts: SandboxExecutorOptions): LocalExecutor {
  return new LocalExecutor({
    env: opts.env,
    cwd: opts.cwd,
    pathFor: (node) => sandboxShimDir(opts.sandboxDir, node),
  });
}
