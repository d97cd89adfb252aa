// How a process the bosun sandbox runs as a container sees its container's filesystem and ports.
// A real container has its own mount and network namespaces; the sandbox's kubelet runs bosun's
// own pods as plain processes of this machine, all on 127.0.0.1, so it tells each process, in the
// environment variable BOSUN_SANDBOX_CONTAINER, where its mounts are on this machine and which
// port of this machine stands for each container port. bosun's host layer and its servers apply
// the translation when the variable is set (and only then):
//
//   BOSUN_SANDBOX_CONTAINER={"node":"worker-1",
//     "mounts":[{"containerPath":"/host","hostPath":"/tmp/sb/nodes/worker-1/host","readOnly":true},
//               {"containerPath":"/var/run/secrets/kubernetes.io/serviceaccount","hostPath":"...","readOnly":true}],
//     "ports":{"8080":41234},"hostRoot":"/tmp/sb/nodes/worker-1/host","hostPID":true}
//
// A path under a mount's containerPath is read at hostPath plus the rest (the longest match wins);
// any other path is the machine's own, as an image's files would be. A server that would listen
// on a container port listens on the mapped port. Pure: no I/O.

/** The environment variable that carries the view. */
export const SANDBOX_CONTAINER_ENV = 'BOSUN_SANDBOX_CONTAINER';

/** One volume mount of the container. */
export interface ContainerMount {
  /** Where the container sees it ("/host"). */
  containerPath: string;
  /** Where it is on this machine. */
  hostPath: string;
  readOnly: boolean;
}

/** A container's view of this machine. */
export interface SandboxContainer {
  /** The sandbox node the container runs on. */
  node: string;
  mounts: ContainerMount[];
  /** Container port -> port of this machine (on 127.0.0.1). */
  ports: Record<string, number>;
  /** The node's host directory (what the node's / is), for nsenter into the host. */
  hostRoot?: string;
  /** Does the pod share the host's PID namespace (so nsenter -t 1 reaches the node)? */
  hostPID?: boolean;
}

/** Thrown for a variable that does not hold a view. */
export class SandboxContainerError extends Error {}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses the variable's value; undefined when it is unset or empty (not in the sandbox). */
export function parseSandboxContainer(value: string | undefined): SandboxContainer | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  let v: unknown;
  try {
    v = JSON.parse(value);
  } catch (e) {
    throw new SandboxContainerError(`${SANDBOX_CONTAINER_ENV} is not JSON: ${(e as Error).message}`);
  }
  if (!isRecord(v) || typeof v['node'] !== 'string' || !Array.isArray(v['mounts']) || !isRecord(v['ports']))
    throw new SandboxContainerError(`${SANDBOX_CONTAINER_ENV} needs node, mounts and ports`);
  const mounts: ContainerMount[] = [];
  for (const m of v['mounts']) {
    if (!isRecord(m) || typeof m['containerPath'] !== 'string' || typeof m['hostPath'] !== 'string')
      throw new SandboxContainerError(`${SANDBOX_CONTAINER_ENV}: a mount needs containerPath and hostPath`);
    mounts.push({
      containerPath: m['containerPath'],
      hostPath: m['hostPath'],
      readOnly: m['readOnly'] === true,
    });
  }
  const ports: Record<string, number> = {};
  for (const [k, p] of Object.entries(v['ports'])) {
    if (typeof p !== 'number' || !Number.isInteger(p))
      throw new SandboxContainerError(`${SANDBOX_CONTAINER_ENV}: port ${k} is not mapped to a port`);
    ports[k] = p;
  }
  return {
    node: v['node'],
    mounts,
    ports,
    ...(typeof v['hostRoot'] === 'string' ? { hostRoot: v['hostRoot'] } : {}),
    ...(typeof v['hostPID'] === 'boolean' ? { hostPID: v['hostPID'] } : {}),
  };
}

function normalize(p: string): string {
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') out.pop();
    else out.push(seg);
  }
  return `/${out.join('/')}`;
}

/**
 * The machine's path for a path the container would use. Relative paths and paths under no mount
 * are returned as they are.
 */
export function hostPathOf(view: SandboxContainer, containerPath: string): string {
  if (!containerPath.startsWith('/')) return containerPath;
  const p = normalize(containerPath);
  let best: ContainerMount | undefined;
  for (const m of view.mounts) {
    const mp = normalize(m.containerPath);
    const under = mp === '/' || p === mp || p.startsWith(`${mp}/`);
    if (under && (!best || mp.length > normalize(best.containerPath).length)) best = m;
  }
  if (!best) return p;
  const mp = normalize(best.containerPath);
  const rest = mp === '/' ? p : p.slice(mp.length);
  return rest === '' || rest === '/' ? best.hostPath : `${best.hostPath.replace(/\/+$/, '')}${rest}`;
}

/** Is the path under a read-only mount? */
export function isReadOnly(view: SandboxContainer, containerPath: string): boolean {
  const p = normalize(containerPath);
  let best: ContainerMount | undefined;
  for (const m of view.mounts) {
    const mp = normalize(m.containerPath);
    if (
      (mp === '/' || p === mp || p.startsWith(`${mp}/`)) &&
      (!best || mp.length > normalize(best.containerPath).length)
    )
      best = m;
  }
  return best?.readOnly ?? false;
}

/** The machine's port for a container port (the same port when it is not mapped). */
export function hostPortOf(view: SandboxContainer, containerPort: number): number {
  return view.ports[String(containerPort)] ?? containerPort;
}
