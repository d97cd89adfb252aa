// `bosun sandbox up|down|status|run|restore`: the sandbox as a background process. `up` starts
// `bosun sandbox run` detached and returns once it reports ready; `down` stops exactly the
// processes that sandbox started (its own pid and its etcd members, each checked against
// /proc/PID/cmdline so a reused pid is never killed); `status` reads state.json and asks the
// running sandbox for its nodes.
import { spawn } from 'node:child_process';
import {
  accessSync,
  closeSync,
  constants,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import http from 'node:http';
import { isAbsolute, join, resolve } from 'node:path';
import { BosunError, errorMessage, UsageError } from '../common/errors.ts';
import type { Clock, Exec } from '../common/ports.ts';
import { readKeyFile, tmpDir } from '../etcd/index.ts';
import { readConfig, readState, Sandbox, type SandboxOptions, type SandboxState } from './cluster.ts';
import { SandboxLayout } from './layout.ts';
import { restoreSandboxEtcd, type SandboxRestoreResult } from './restore.ts';

/** How to start bosun itself (the daemon is `bosun sandbox run`). */
export interface SelfCommand {
  execPath: string;
  args: readonly string[];
}

/** Options of `sandbox up` / `sandbox run`, as flags give them. */
export interface UpOptions {
  dir: string;
  controlPlanes: number;
  workers: number;
  version: string;
  workload: 'demo' | 'none';
  timing: 'fast' | 'realistic';
  keyAlgorithm: 'ecdsa-p256' | 'rsa-2048';
}

export interface DaemonDeps {
  exec: Exec;
  clock: Clock;
  self: SelfCommand;
  /** Progress lines (stderr). */
  progress: (line: string) => void;
  signal: AbortSignal;
}

/** Where the sandbox lives when --dir is not given. */
export function defaultSandboxDir(home: string): string {
  return join(home, '.bosun', 'sandbox');
}

/** Resolves DIR to an absolute path. */
export function resolveDir(dir: string, cwd: string): string {
  return isAbsolute(dir) ? dir : resolve(cwd, dir);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Is pid alive and a process of this sandbox (its command line names DIR)? */
function ownedBy(pid: number, dir: string): boolean {
  if (!pid || !alive(pid)) return false;
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
    return cmd.includes(dir);
  } catch {
    return false;
  }
}

/** Fails with one clear line when the etcd binary is missing. */
export async function checkEtcdInstalled(exec: Exec): Promise<void> {
  try {
    const r = await exec.run('etcd', ['--version'], { timeoutMs: 10_000 });
    if (r.exitCode === 0) return;
    throw new Error(r.stderr.trim() || `exit ${String(r.exitCode)}`);
  } catch (e) {
    const notFound = (e as NodeJS.ErrnoException).code === 'ENOENT';
    throw new BosunError(
      notFound ? 'etcd is not installed (no etcd on PATH)' : `etcd does not run: ${errorMessage(e)}`,
      'SANDBOX',
      {
        hint: 'Install it: apt-get install etcd-server (npm run demo and npm test install it for you)',
      },
    );
  }
}

/** Checks that DIR can hold a new sandbox or is a stopped one; creates it. */
function prepareDir(layout: SandboxLayout): void {
  const dir = layout.dir;
  if (existsSync(dir)) {
    let st;
    try {
      st = statSync(dir);
    } catch (e) {
      throw new BosunError(
        `cannot use ${dir}: ${(e as NodeJS.ErrnoException).code ?? errorMessage(e)}`,
        'IO',
      );
    }
    if (!st.isDirectory()) throw new BosunError(`cannot use ${dir}: it is not a directory`, 'IO');
    const state = readState(layout);
    if (state && ownedBy(state.pid, dir)) {
      throw new BosunError(`a sandbox is already running in ${dir} (pid ${state.pid})`, 'SANDBOX', {
        hint: `Use it: export KUBECONFIG=${layout.adminConf}\nStop it: bosun sandbox down --dir ${dir}`,
      });
    }
    if (!readConfig(layout) && readdirSync(dir).length > 0) {
      throw new BosunError(`${dir} is not empty and holds no sandbox`, 'SANDBOX', {
        hint: 'Choose an empty or new directory with --dir.',
      });
    }
  }
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    accessSync(dir, constants.W_OK);
    const probe = join(dir, `.write-test-${process.pid}`);
    writeFileSync(probe, '');
    rmSync(probe);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why =
      code === 'EACCES' || code === 'EPERM'
        ? 'permission denied'
        : code === 'EROFS'
          ? 'read-only file system'
          : code === 'ENOTDIR'
            ? 'a parent is not a directory'
            : code === 'ENOSPC'
              ? 'no space left on device'
              : errorMessage(e);
    throw new BosunError(`cannot write to ${dir}: ${why}`, 'IO');
  }
}

function flags(o: UpOptions): string[] {
  return [
    '--dir',
    o.dir,
    '--control-planes',
    String(o.controlPlanes),
    '--workers',
    String(o.workers),
    '--version',
    o.version,
    '--workload',
    o.workload,
    '--timing',
    o.timing,
    '--key-algorithm',
    o.keyAlgorithm,
  ];
}

/**
 * `bosun sandbox up`: starts the sandbox in the background and resolves when it is ready, with
 * the kubeconfig path. A failure leaves no process behind.
 */
export async function sandboxUp(
  o: UpOptions,
  deps: DaemonDeps,
): Promise<{ kubeconfig: string; reused: boolean }> {
  if (o.controlPlanes < 1)
    throw new UsageError(`--control-planes must be at least 1, got ${o.controlPlanes}`, {
      hint: "See 'bosun sandbox up -h' for help and examples",
    });
  if (o.workers < 0)
    throw new UsageError(`--workers must not be negative, got ${o.workers}`, {
      hint: "See 'bosun sandbox up -h' for help and examples",
    });
  await checkEtcdInstalled(deps.exec);
  const layout = new SandboxLayout(o.dir);
  prepareDir(layout);
  const reused = readConfig(layout) !== undefined;
  rmSync(layout.stateFile, { force: true });
  const logFd = openSync(layout.logFile, 'a', 0o600);
  let child;
  try {
    child = spawn(deps.self.execPath, [...deps.self.args, 'sandbox', 'run', ...flags(o)], {
      detached: true,
      stdio: ['ignore', logFd, logFd],
    });
  } finally {
    closeSync(logFd);
  }
  child.unref();
  const pid = child.pid ?? 0;
  let exited = false;
  let exitCode: number | null = null;
  child.once('exit', (code) => {
    exited = true;
    exitCode = code;
  });
  let logPos = statSync(layout.logFile).size;
  const startPos = logPos;
  const tail = (): void => {
    try {
      const buf = readFileSync(layout.logFile);
      const text = buf.subarray(logPos).toString('utf8');
      const nl = text.lastIndexOf('\n');
      if (nl < 0) return;
      logPos += Buffer.byteLength(text.slice(0, nl + 1));
      for (const line of text.slice(0, nl).split('\n')) {
        const m = /^progress: (.*)$/.exec(line);
        if (m && !m[1]?.startsWith('ready: ')) deps.progress(m[1] ?? '');
      }
    } catch {
      // the log is best effort
    }
  };
  const onAbort = (): void => {
    if (alive(pid)) process.kill(pid, 'SIGTERM');
  };
  deps.signal.addEventListener('abort', onAbort, { once: true });
  try {
    while (true) {
      tail();
      const st = readState(layout);
      if (st && st.pid === pid && st.phase === 'ready') return { kubeconfig: layout.adminConf, reused };
      if (st && st.pid === pid && st.phase === 'failed') {
        await waitGone(pid, 30_000);
        throw new BosunError(`the sandbox did not start: ${st.error ?? 'unknown error'}`, 'SANDBOX', {
          hint: `See ${layout.logFile}`,
        });
      }
      if (exited || (pid && !alive(pid))) {
        await stopStrays(layout, readState(layout));
        let log = '';
        try {
          log = readFileSync(layout.logFile).subarray(startPos).toString('utf8');
        } catch {
          // the log is best effort
        }
        throw startFailure(log, exitCode, layout.logFile);
      }
      if (deps.signal.aborted) {
        await waitGone(pid, 30_000);
        throw new BosunError('interrupted: the sandbox was stopped before it was ready', 'INTERRUPTED');
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    deps.signal.removeEventListener('abort', onAbort);
  }
}

/**
 * The error of a `sandbox run` that exited before it was ready: the `error:` line it printed (and
 * the hint line after it) when there is one, with its exit code (2 for a usage error such as a
 * version the sandbox does not offer), so the reason reaches the terminal and not only the log.
 * @param log what the process wrote to the log since it started
 */
export function startFailure(log: string, exitCode: number | null, logFile: string): BosunError {
  const lines = log.split('\n');
  let at = -1;
  for (let i = lines.length - 1; i >= 0; i--) {
    if (lines[i]?.startsWith('error: ')) {
      at = i;
      break;
    }
  }
  if (at < 0)
    return new BosunError('the sandbox process exited while starting', 'SANDBOX', { hint: `See ${logFile}` });
  const message = (lines[at] ?? '').slice('error: '.length);
  const next = lines[at + 1] ?? '';
  const hint =
    next !== '' && !next.startsWith('progress: ') && !next.startsWith('error: ') ? next : `See ${logFile}`;
  return exitCode === 2 ? new UsageError(message, { hint }) : new BosunError(message, 'SANDBOX', { hint });
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (alive(pid)) {
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}

async function stopStrays(layout: SandboxLayout, st: SandboxState | undefined): Promise<number> {
  let n = 0;
  for (const pid of Object.values(st?.etcdPids ?? {})) {
    if (!ownedBy(pid, layout.dir)) continue;
    process.kill(pid, 'SIGTERM');
    if (!(await waitGone(pid, 5000))) process.kill(pid, 'SIGKILL');
    n++;
  }
  return n;
}

/** `bosun sandbox down`: stops the sandbox in DIR. Returns a one-line result for stdout. */
export async function sandboxDown(dir: string): Promise<string> {
  const layout = new SandboxLayout(dir);
  const st = readState(layout);
  if (!st && !readConfig(layout)) {
    throw new BosunError(`no sandbox in ${dir}`, 'NOT_FOUND', {
      hint: `Start one with: bosun sandbox up --dir ${dir}`,
    });
  }
  if (!st || !ownedBy(st.pid, dir)) {
    const strays = await stopStrays(layout, st);
    return strays > 0
      ? `sandbox ${dir} was not running; stopped ${strays} leftover etcd process(es)`
      : `sandbox ${dir} is not running`;
  }
  process.kill(st.pid, 'SIGTERM');
  if (!(await waitGone(st.pid, 60_000))) {
    process.kill(st.pid, 'SIGKILL');
    await waitGone(st.pid, 5000);
  }
  await stopStrays(layout, st);
  return `sandbox ${dir} stopped`;
}

/** What `bosun sandbox status` shows. */
export interface SandboxStatus {
  dir: string;
  running: boolean;
  phase: string;
  pid?: number;
  kubeconfig: string;
  server?: string;
  version?: string;
  nodes: {
    name: string;
    role: string;
    ready: boolean;
    schedulable: boolean;
    kubeletVersion: string;
    kubeletRunning?: boolean;
    etcdRunning?: boolean;
    apiserverRunning?: boolean;
  }[];
  pods?: number;
  notReady?: string[];
}

function controlGet(port: number, token: string, path: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = http.get(
      { host: '127.0.0.1', port, path, headers: { authorization: `Bearer ${token}` }, timeout: 5000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => {
          try {
            resolve(JSON.parse(body) as unknown);
          } catch (e) {
            reject(e);
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** `bosun sandbox status`. */
export async function sandboxStatus(dir: string): Promise<SandboxStatus> {
  const layout = new SandboxLayout(dir);
  const st = readState(layout);
  const cfg = readConfig(layout);
  if (!st && !cfg)
    throw new BosunError(`no sandbox in ${dir}`, 'NOT_FOUND', {
      hint: `Start one with: bosun sandbox up --dir ${dir}`,
    });
  const running = st !== undefined && ownedBy(st.pid, dir);
  if (running && st) {
    try {
      const live = (await controlGet(st.controlPort, st.token, '/v1/status')) as Omit<
        SandboxStatus,
        'dir' | 'running'
      >;
      return { ...live, dir, running: true, pid: st.pid, kubeconfig: layout.adminConf };
    } catch {
      // fall through to what the files say
    }
  }
  return {
    dir,
    running,
    phase: running ? (st?.phase ?? 'unknown') : 'stopped',
    ...(running && st ? { pid: st.pid } : {}),
    kubeconfig: layout.adminConf,
    ...(cfg ? { version: cfg.version, server: `https://${cfg.controlPlaneEndpoint}` } : {}),
    nodes: (cfg?.nodes ?? []).map((n) => ({
      name: n.name,
      role: n.role,
      ready: false,
      schedulable: false,
      kubeletVersion: '',
    })),
  };
}

/** `bosun sandbox run`: runs the sandbox in this process until the signal aborts or `down` asks. */
export async function sandboxRun(
  opts: Omit<SandboxOptions, 'progress'>,
  deps: { signal: AbortSignal; progress: (line: string) => void },
): Promise<void> {
  const sb = await Sandbox.start({ ...opts, progress: (l) => deps.progress(l) });
  deps.progress(`ready: export KUBECONFIG=${sb.kubeconfig}`);
  await new Promise<void>((resolveWait) => {
    if (deps.signal.aborted) resolveWait();
    deps.signal.addEventListener('abort', () => resolveWait(), { once: true });
    sb.onShutdownRequest(() => resolveWait());
  });
  deps.progress('stopping');
  await sb.stop();
}

/** What `bosun sandbox restore` did. */
export interface SandboxRestoreOutcome extends SandboxRestoreResult {
  /** True when the sandbox was running (restored live), false when only its data dirs changed. */
  live: boolean;
}

/** POST /v1/restore on a running sandbox, relaying its progress lines. */
function controlRestore(
  port: number,
  token: string,
  body: { file: string; keyFile?: string },
  progress: (line: string) => void,
): Promise<SandboxRestoreResult> {
  return new Promise((resolve, reject) => {
    const payload = JSON.stringify(body);
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        path: '/v1/restore',
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(payload),
        },
      },
      (res) => {
        let buf = '';
        let done = false;
        const line = (text: string): void => {
          if (text.trim() === '') return;
          let rec: {
            progress?: string;
            result?: SandboxRestoreResult;
            error?: string;
            hint?: string;
            exitCode?: number;
          };
          try {
            rec = JSON.parse(text) as typeof rec;
          } catch {
            return;
          }
          if (rec.progress !== undefined) progress(rec.progress);
          else if (rec.result !== undefined) {
            done = true;
            resolve(rec.result);
          } else if (rec.error !== undefined) {
            done = true;
            reject(
              new BosunError(rec.error, 'SANDBOX', {
                ...(rec.hint ? { hint: rec.hint } : {}),
                exitCode: rec.exitCode === 2 ? 2 : 1,
              }),
            );
          }
        };
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          buf += d;
          let nl: number;
          while ((nl = buf.indexOf('\n')) >= 0) {
            line(buf.slice(0, nl));
            buf = buf.slice(nl + 1);
          }
        });
        res.on('end', () => {
          line(buf);
          if (!done)
            reject(
              new BosunError(
                res.statusCode === 200
                  ? 'the sandbox ended the restore without a result'
                  : `the sandbox refused the restore (HTTP ${res.statusCode ?? '?'})`,
                'SANDBOX',
              ),
            );
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/**
 * `bosun sandbox restore`: brings the sandbox in DIR back to a snapshot. A running sandbox does
 * it itself (POST /v1/restore: API servers and etcd stop, every member is restored, everything
 * restarts and converges); a stopped one gets new etcd data dirs that its next `up` starts from.
 */
export async function sandboxRestore(
  dir: string,
  file: string,
  opts: { keyFile?: string },
  deps: {
    exec: Exec;
    env: Readonly<Record<string, string | undefined>>;
    clock: Clock;
    progress: (line: string) => void;
  },
): Promise<SandboxRestoreOutcome> {
  const layout = new SandboxLayout(dir);
  const cfg = readConfig(layout);
  if (!cfg)
    throw new BosunError(`no sandbox in ${dir}`, 'NOT_FOUND', {
      hint: `Start one with: bosun sandbox up --dir ${dir}`,
    });
  const key = opts.keyFile ? readKeyFile(opts.keyFile) : null;
  const st = readState(layout);
  if (st && st.phase !== 'stopped' && st.phase !== 'failed' && alive(st.pid)) {
    if (st.phase !== 'ready')
      throw new BosunError(`the sandbox in ${dir} is ${st.phase}`, 'SANDBOX', {
        hint: 'Wait until it is ready, then restore.',
      });
    try {
      const r = await controlRestore(
        st.controlPort,
        st.token,
        { file, ...(opts.keyFile ? { keyFile: opts.keyFile } : {}) },
        deps.progress,
      );
      return { ...r, live: true };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ECONNREFUSED') {
        throw new BosunError(
          `the sandbox in ${dir} (pid ${st.pid}) does not answer on its control endpoint`,
          'SANDBOX',
          {
            hint: `Stop it (bosun sandbox down --dir ${dir}), then restore: a stopped sandbox's etcd data is restored in place.`,
          },
        );
      }
      throw e;
    }
  }
  const strays = Object.values(st?.etcdPids ?? {}).filter((pid) => ownedBy(pid, dir));
  if (strays.length > 0) {
    throw new BosunError(
      `etcd processes of the sandbox in ${dir} still run (pid ${strays.join(', ')})`,
      'SANDBOX',
      { hint: `Stop them first: bosun sandbox down --dir ${dir}` },
    );
  }
  const cps = cfg.nodes.filter((n) => n.role === 'control-plane').map((n) => n.name);
  const r = await restoreSandboxEtcd(layout, cps, {
    file,
    key,
    exec: deps.exec,
    env: deps.env,
    tmpDir: tmpDir(deps.env),
    progress: deps.progress,
    now: deps.clock.now(),
  });
  return { ...r, live: false };
}
