// The reboot sentinel: does this node need a reboot? Either a file on the host (Debian's and
// Ubuntu's /var/run/reboot-required, which unattended-upgrades creates and a boot removes), read
// under the host root where the DaemonSet mounts the host's /, or a command whose exit status says
// so (0: a reboot is required, 1: it is not), as Kured's --reboot-sentinel and
// --reboot-sentinel-command do. The command runs through the Exec port it is given; the agent
// passes one that runs it in the host's namespaces.
//
// Unlike Kured's checkers, nothing here logs or exits: an unexpected exit status, a command that
// cannot run or a file that cannot be read is a result (not required, with the problem named), so
// that a misconfigured sentinel never loops reboots and always shows in status and metrics.
//
// The file is resolved inside the host root as the host would resolve it: on most distributions
// /var/run is a symbolic link to /run, whose absolute target must be followed under the host root,
// not in the container.
import { posix } from 'node:path';
import type { Clock, Exec } from '../common/ports.ts';

/** What the sentinel is. */
export type SentinelSpec =
  /** A file: `path` as the host sees it, found under `hostRoot` (the host's / mounted in the container). */
  | { kind: 'file'; path: string; hostRoot: string }
  /** A command, argv form: exit status 0 means a reboot is required, 1 that it is not. */
  | { kind: 'command'; argv: readonly string[] };

/** The file-system calls the file sentinel needs. */
export interface SentinelFiles {
  /** Whether something exists at path (following links). Throws for errors other than "not found". */
  exists(path: string): Promise<boolean>;
  /** The target of the symbolic link at path; undefined when path is not a link or does not exist. */
  readlink(path: string): Promise<string | undefined>;
}

/** The sentinel's answer. */
export interface SentinelResult {
  required: boolean;
  /** One line for people: what was checked and what it said. */
  reason: string;
  /** Set when the sentinel could not give a proper answer (required is then false). */
  problem?: string;
}

/** What a check needs. */
export interface SentinelDeps {
  files: SentinelFiles;
  exec: Exec;
}

/** Symbolic links followed at most while resolving a path (Linux's MAXSYMLINKS). */
const MAX_LINKS = 40;

/**
 * The path in the container of `hostPath` on the host whose / is mounted at `hostRoot`, following
 * symbolic links (absolute ones re-rooted under hostRoot) as the host's kernel would.
 */
export async function resolveInRoot(
  hostRoot: string,
  hostPath: string,
  files: SentinelFiles,
): Promise<string> {
  let pending = posix
    .normalize(hostPath)
    .split('/')
    .filter((c) => c !== '' && c !== '.');
  let resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const [name, ...rest] = pending as [string, ...string[]];
    pending = rest;
    if (name === '..') {
      resolved.pop();
      continue;
    }
    const candidate = [...resolved, name];
    const target = await files.readlink(posix.join(hostRoot, ...candidate));
    if (target === undefined) {
      resolved = candidate;
      continue;
    }
    if (++links > MAX_LINKS) throw new Error(`too many levels of symbolic links resolving ${hostPath}`);
    const parts = target.split('/').filter((c) => c !== '' && c !== '.');
    if (target.startsWith('/')) resolved = [];
    pending = [...parts, ...pending];
  }
  return posix.join(hostRoot, ...resolved);
}

/** Where the file sentinel is looked for (the host path under the host root), for messages. */
export function describeSentinel(spec: SentinelSpec): string {
  return spec.kind === 'file' ? spec.path : spec.argv.join(' ');
}

function tail(text: string, max = 200): string {
  const t = text.trim().replace(/\s+/g, ' ');
  return t.length > max ? `…${t.slice(t.length - max)}` : t;
}

/** Checks the sentinel once. Never throws. */
export async function checkSentinel(
  spec: SentinelSpec,
  deps: SentinelDeps,
  opts: { timeoutMs: number; signal?: AbortSignal },
): Promise<SentinelResult> {
  if (spec.kind === 'file') {
    try {
      const path = await resolveInRoot(spec.hostRoot, spec.path, deps.files);
      const present = await deps.files.exists(path);
      return { required: present, reason: present ? `${spec.path} exists` : `no ${spec.path}` };
    } catch (e) {
      const problem = `cannot read ${spec.path}: ${e instanceof Error ? e.message : String(e)}`;
      return { required: false, reason: problem, problem };
    }
  }
  const [cmd, ...args] = spec.argv;
  const shown = spec.argv.join(' ');
  if (cmd === undefined)
    return { required: false, reason: 'empty sentinel command', problem: 'empty sentinel command' };
  try {
    const r = await deps.exec.run(cmd, args, {
      timeoutMs: opts.timeoutMs,
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    if (r.timedOut) {
      const problem = `sentinel command "${shown}" did not finish within ${Math.round(opts.timeoutMs / 1000)}s`;
      return { required: false, reason: problem, problem };
    }
    if (r.exitCode === 0) return { required: true, reason: `sentinel command "${shown}" exited 0` };
    if (r.exitCode === 1) return { required: false, reason: `sentinel command "${shown}" exited 1` };
    // Kured: anything but 0 and 1 is a misconfigured command; not rebooting is the safe answer.
    const out = tail(r.stderr || r.stdout);
    const problem = `sentinel command "${shown}" exited ${r.exitCode ?? 'on a signal'}${out ? `: ${out}` : ''}`;
    return { required: false, reason: problem, problem };
  } catch (e) {
    const problem = `cannot run sentinel command "${shown}": ${e instanceof Error ? e.message : String(e)}`;
    return { required: false, reason: problem, problem };
  }
}

/** Notifications of changes in a directory (inotify on the host path mount). */
export interface FileEvents {
  /** Calls onChange when something in `dir` changes, until the returned function is called. */
  subscribe(dir: string, onChange: () => void): () => void;
}

/**
 * Checks the sentinel now, then again after every change of the file's directory (when file events
 * are given) and at least every `periodMs`; calls onChange with the first result and with every
 * result that differs from the one before. Resolves when signal aborts.
 */
export async function watchSentinel(
  spec: SentinelSpec,
  opts: { periodMs: number; timeoutMs: number },
  deps: SentinelDeps & { clock: Clock; fileEvents?: FileEvents },
  onChange: (r: SentinelResult) => void,
  signal: AbortSignal,
): Promise<void> {
  let poked = false;
  let wake: AbortController | undefined;
  const poke = (): void => {
    poked = true;
    wake?.abort();
  };
  let unsubscribe: (() => void) | undefined;
  if (spec.kind === 'file' && deps.fileEvents) {
    try {
      const dir = posix.dirname(await resolveInRoot(spec.hostRoot, spec.path, deps.files));
      unsubscribe = deps.fileEvents.subscribe(dir, poke);
    } catch {
      // The directory cannot be watched (yet): the period still checks.
    }
  }
  let last: SentinelResult | undefined;
  try {
    while (!signal.aborted) {
      const r = await checkSentinel(spec, deps, { timeoutMs: opts.timeoutMs, signal });
      if (signal.aborted) return;
      if (last === undefined || last.required !== r.required || last.problem !== r.problem) onChange(r);
      last = r;
      if (poked) {
        // Something changed while this check ran: check again.
        poked = false;
        continue;
      }
      wake = new AbortController();
      const onAbort = (): void => wake?.abort();
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        await deps.clock.sleep(opts.periodMs, wake.signal);
      } catch {
        // woken by a file event or by the caller's signal
      } finally {
        signal.removeEventListener('abort', onAbort);
        wake = undefined;
        poked = false;
      }
    }
  } finally {
    unsubscribe?.();
  }
}
