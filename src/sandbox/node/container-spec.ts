// What the sandbox's kubelet needs to run a container of bosun's own image as a process of this
// machine, decided without I/O: whether an image is bosun's (ghcr.io/bosun-dev/bosun, any tag or
// digest), the command line (the image's ENTRYPOINT ["node", "/opt/bosun/bin/bosun.js"] and CMD
// ["agent"] unless the pod says otherwise, as a container runtime combines them; the image's files
// are this checkout's), the environment (value, $(VAR) references, fieldRef and resourceFieldRef
// as the kubelet resolves them, the kubernetes Service variables), the ports a probe reaches, and
// when the kubelet refreshes a projected token (token_manager.go). Pure: no I/O.
import { parseQuantity } from '../../kube/quantity.ts';
import type { Container, Pod } from '../apiserver/types.ts';

/** bosun's image as deploy/Dockerfile builds it. */
export interface BosunImage {
  /** Images of this repository (any tag or digest) are bosun's. */
  repository: string;
  /** The image's WORKDIR, where the checkout's files are. */
  appDir: string;
  entrypoint: readonly string[];
  cmd: readonly string[];
}

/** deploy/Dockerfile's image. */
export const BOSUN_IMAGE: BosunImage = {
  repository: 'ghcr.io/bosun-dev/bosun',
  appDir: '/opt/bosun',
  entrypoint: ['node', '/opt/bosun/bin/bosun.js'],
  cmd: ['agent'],
};

/** Is image a tag or digest of the repository? */
export function isImageOf(image: string | undefined, repository: string): boolean {
  if (!image) return false;
  return image === repository || image.startsWith(`${repository}:`) || image.startsWith(`${repository}@`);
}

/** Expands $(VAR) from vars; $$ escapes a $; an unknown reference stays as written (expansion.go). */
export function expandVars(text: string, vars: Readonly<Record<string, string>>): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c !== '$' || i + 1 >= text.length) {
      out += c;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '(') {
      const end = text.indexOf(')', i + 2);
      if (end < 0) {
        out += text.slice(i);
        break;
      }
      const name = text.slice(i + 2, end);
      out += name in vars ? vars[name] : `$(${name})`;
      i = end;
    } else out += c;
  }
  return out;
}

/** The host paths an argument of the image's files maps to (this checkout). */
function mapImagePath(arg: string, image: BosunImage, root: string): string {
  const dir = image.appDir.replace(/\/+$/, '');
  const swap = (p: string): string =>
    p === dir ? root : p.startsWith(`${dir}/`) ? `${root.replace(/\/+$/, '')}${p.slice(dir.length)}` : p;
  const eq = /^(--?[^=]+=)(.*)$/.exec(arg);
  return eq ? `${eq[1] ?? ''}${swap(eq[2] ?? '')}` : swap(arg);
}

/** The process to start for a container of bosun's image. */
export interface ProcessCommand {
  /** argv[0] is the program (node: this machine's node binary). */
  argv: string[];
  /** The working directory on this machine. */
  cwd: string;
}

/**
 * The command line of a container, as a runtime combines the image's ENTRYPOINT/CMD with the
 * pod's command/args (args replace CMD; command replaces both), $(VAR)s expanded, the image's
 * files mapped onto the checkout and `node` onto this machine's node binary.
 */
export function containerCommand(
  c: Container,
  image: BosunImage,
  opts: { root: string; nodeBinary: string; env: Readonly<Record<string, string>> },
): ProcessCommand {
  const command = c.command && c.command.length > 0 ? c.command : undefined;
  const args = c.args && c.args.length > 0 ? c.args : undefined;
  const raw = command ? [...command, ...(args ?? [])] : [...image.entrypoint, ...(args ?? image.cmd)];
  let argv = raw.map((a) => mapImagePath(expandVars(a, opts.env), image, opts.root));
  if (argv[0] === 'bosun') argv = ['node', `${opts.root.replace(/\/+$/, '')}/bin/bosun.js`, ...argv.slice(1)];
  if (argv[0] === 'node' || argv[0] === '/usr/local/bin/node' || argv[0] === '/usr/bin/node')
    argv = [opts.nodeBinary, ...argv.slice(1)];
  const wd = typeof c['workingDir'] === 'string' && c['workingDir'] !== '' ? c['workingDir'] : image.appDir;
  return { argv, cwd: mapImagePath(wd, image, opts.root) };
}

/** The value of a downward API field path of a pod (fieldRef), as the kubelet reads it. */
export function fieldRefValue(
  pod: Pod,
  fieldPath: string,
  hostIP: string,
  podIP: string,
): string | undefined {
  const m = /^metadata\.(labels|annotations)\['(.*)'\]$/.exec(fieldPath);
  if (m) {
    const map = m[1] === 'labels' ? pod.metadata.labels : pod.metadata.annotations;
    return map?.[m[2] ?? ''] ?? '';
  }
  switch (fieldPath) {
    case 'metadata.name':
      return pod.metadata.name ?? '';
    case 'metadata.namespace':
      return pod.metadata.namespace ?? '';
    case 'metadata.uid':
      return pod.metadata.uid ?? '';
    case 'spec.nodeName':
      return pod.spec.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec.serviceAccountName ?? '';
    case 'status.hostIP':
    case 'status.hostIPs':
      return hostIP;
    case 'status.podIP':
    case 'status.podIPs':
      return podIP;
    default:
      return undefined;
  }
}

/**
 * A resourceFieldRef's value (resource.ExtractContainerResourceValue): the container's request or
 * limit of cpu or memory, divided by the divisor and rounded up; a missing limit is the node's
 * allocatable, as the kubelet fills it in; a missing request is 0.
 */
export function resourceFieldValue(
  c: Container,
  resource: string,
  divisor: string | undefined,
  allocatable: Readonly<Record<string, string>>,
): string | undefined {
  const [kind, what] = resource.split('.');
  if ((kind !== 'limits' && kind !== 'requests') || !what) return undefined;
  const set = c.resources?.[kind]?.[what];
  const value = parseQuantity(set ?? (kind === 'limits' ? allocatable[what] : '0'));
  const div = parseQuantity(divisor ?? '1') ?? 1;
  if (value === undefined || div <= 0) return undefined;
  return String(Math.ceil(value / div - 1e-9));
}

/** The kubernetes Service's variables, as the kubelet sets them in every container. */
export function serviceEnv(host: string, port: number): Record<string, string> {
  return {
    KUBERNETES_SERVICE_HOST: host,
    KUBERNETES_SERVICE_PORT: String(port),
    KUBERNETES_SERVICE_PORT_HTTPS: String(port),
    KUBERNETES_PORT: `tcp://${host}:${port}`,
    [`KUBERNETES_PORT_${port}_TCP`]: `tcp://${host}:${port}`,
    [`KUBERNETES_PORT_${port}_TCP_PROTO`]: 'tcp',
    [`KUBERNETES_PORT_${port}_TCP_PORT`]: String(port),
    [`KUBERNETES_PORT_${port}_TCP_ADDR`]: host,
  };
}

/** The container port a probe's port (a number, or the name of a container port) stands for. */
export function probePort(c: Container, port: unknown): number | undefined {
  if (typeof port === 'number') return port;
  if (typeof port === 'string') {
    if (/^\d+$/.test(port)) return Number(port);
    return c.ports?.find((p) => p.name === port)?.containerPort;
  }
  return undefined;
}

/** The most a projected token lives before the kubelet refreshes it (maxTTL). */
const MAX_TTL_MS = 24 * 3600 * 1000;

/**
 * When the kubelet's token manager refreshes a token (requiresRefresh): 80% into its requested
 * TTL, or a day after it was issued, whichever is first, less the jitter (kube: up to 10 s).
 * @param expirationMs the TokenRequest's status.expirationTimestamp (of the requested TTL).
 */
export function tokenRefreshAt(expirationMs: number, expirationSeconds: number, jitterMs: number): number {
  const ttlMs = expirationSeconds * 1000;
  const issuedMs = expirationMs - ttlMs;
  return Math.min(issuedMs + MAX_TTL_MS, expirationMs - ttlMs / 5) - jitterMs;
}
