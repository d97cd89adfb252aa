// Starts and stops one etcd member process (Debian's etcd-server binary) and waits until it is
// healthy. Used by `backup verify --trial-restore`, by the sandbox's control planes and by tests.
// It never leaves a process behind when start fails: the child is killed before the error is thrown.
// A member may listen on unix sockets (etcd 3.4 takes unix://NAME:PORT URLs, and makes the socket
// NAME:PORT in its working directory) and may run tied to bosun (tied.ts), so that it dies with it.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import { join } from 'node:path';
import { BosunError } from '../common/errors.ts';
import { tiedNodeArgs, TIED_NOT_STARTED } from './tied.ts';

/** TLS files for etcd's client and peer listeners, laid out as kubeadm does under pki/etcd/. */
export interface EtcdTlsFiles {
  certFile: string;
  keyFile: string;
  trustedCaFile: string;
  peerCertFile: string;
  peerKeyFile: string;
  peerTrustedCaFile: string;
}

/** One member's flags, in kubeadm's etcd static pod manifest vocabulary. */
export interface EtcdMemberSpec {
  name: string;
  dataDir: string;
  clientPort: number;
  peerPort: number;
  /** Listen/advertise host; always 127.0.0.1 for bosun's own servers. */
  host?: string;
  /** Without TLS the member serves plain http (tests of bosun's error paths only). */
  tls?: EtcdTlsFiles;
  /** `name=https://host:peerPort,...`; defaults to this member alone. */
  initialCluster?: string;
  initialClusterState?: 'new' | 'existing';
  initialClusterToken?: string;
  /** Raft heartbeat and election timings in ms (etcd defaults 100 / 1000). */
  heartbeatMs?: number;
  electionMs?: number;
  snapshotCount?: number;
  /** Back-end quota in bytes (0 = etcd's default of 2 GiB). */
  quotaBackendBytes?: number;
  /**
   * Client and peer URLs instead of host and ports: `unix://client.sock:0` listens on the socket
   * `client.sock:0` in the member's working directory (StartEtcdOptions.cwd), and nowhere else.
   */
  urls?: { client: string; peer: string };
}

/** The command line kubeadm would put in etcd.yaml for this member. */
export function etcdArgs(spec: EtcdMemberSpec): string[] {
  const host = spec.host ?? '127.0.0.1';
  const scheme = spec.tls ? 'https' : 'http';
  const client = spec.urls?.client ?? `${scheme}://${host}:${spec.clientPort}`;
  const peer = spec.urls?.peer ?? `${scheme}://${host}:${spec.peerPort}`;
  const args = [
    `--name=${spec.name}`,
    `--data-dir=${spec.dataDir}`,
    `--advertise-client-urls=${client}`,
    `--listen-client-urls=${client}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--listen-peer-urls=${peer}`,
    `--initial-cluster=${spec.initialCluster ?? `${spec.name}=${peer}`}`,
    `--initial-cluster-state=${spec.initialClusterState ?? 'new'}`,
    `--initial-cluster-token=${spec.initialClusterToken ?? 'etcd-cluster'}`,
    `--snapshot-count=${spec.snapshotCount ?? 10000}`,
    `--heartbeat-interval=${spec.heartbeatMs ?? 100}`,
    `--election-timeout=${spec.electionMs ?? 1000}`,
    '--logger=zap',
    '--log-outputs=stderr',
  ];
  if (spec.quotaBackendBytes !== undefined) args.push(`--quota-backend-bytes=${spec.quotaBackendBytes}`);
  if (spec.tls) {
    args.push(
      `--cert-file=${spec.tls.certFile}`,
      `--key-file=${spec.tls.keyFile}`,
      `--trusted-ca-file=${spec.tls.trustedCaFile}`,
      '--client-cert-auth=true',
      `--peer-cert-file=${spec.tls.peerCertFile}`,
      `--peer-key-file=${spec.tls.peerKeyFile}`,
      `--peer-trusted-ca-file=${spec.tls.peerTrustedCaFile}`,
      '--peer-client-cert-auth=true',
    );
  }
  return args;
}

/** Client credentials for talking to a member's client port. */
export interface EtcdClientTls {
  caFile: string;
  certFile: string;
  keyFile: string;
}

export interface StartEtcdOptions {
  /** The etcd binary; defaults to `etcd` on PATH. */
  binary?: string;
  args: readonly string[];
  /** Client URL to poll /health on. */
  clientUrl: string;
  clientTls?: EtcdClientTls;
  /** etcd's log (stderr) goes here; the tail is quoted when start fails. */
  logFile: string;
  /** How long to wait for /health; default 20 s. 0 means do not wait. */
  readyTimeoutMs?: number;
  /** Start detached in its own process group (survives the parent, as a daemon's child must not). */
  detached?: boolean;
  /** Working directory of etcd (where its unix sockets are made). */
  cwd?: string;
  /**
   * Run under the watchdog of tied.ts, so that etcd dies with this process even after a SIGKILL:
   * the node binary that runs the watchdog, and this process's pid.
   */
  tiedTo?: { nodeBinary: string; pid: number };
}

/** A running etcd member. */
export interface EtcdProcess {
  readonly pid: number;
  readonly clientUrl: string;
  /** Resolves with the exit code (or signal) when the process ends. */
  readonly exited: Promise<number | NodeJS.Signals>;
  /** SIGTERM, then SIGKILL after graceMs (default 5 s); resolves when the process is gone. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL at once, as a crash would. */
  kill(): Promise<void>;
}

/** The line of etcd's log that says why it stopped (a fatal/error entry, a flag error), else the tail. */
function failureReason(file: string, lines = 6): string {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return '';
  }
  const all = text.trimEnd().split('\n');
  const why = all.filter((l) =>
    /"level":"(fatal|error|panic)"|flag provided but not defined|invalid value|error:/i.test(l),
  );
  return (why.length > 0 ? why.slice(-2) : all.slice(-lines)).join('\n');
}

/** Starts an etcd process and waits for /health to answer true. */
export async function startEtcd(opts: StartEtcdOptions): Promise<EtcdProcess> {
  const binary = opts.binary ?? 'etcd';
  const fd = openSync(opts.logFile, 'a', 0o600);
  const tied = opts.tiedTo;
  let child: ChildProcess;
  try {
    child = tied
      ? // The watchdog reads its stdin, a pipe whose other end only this process holds.
        spawn(
          tied.nodeBinary,
          tiedNodeArgs({ cmd: binary, args: opts.args, cwd: opts.cwd, watch: 'stdin', parentPid: tied.pid }),
          { stdio: ['pipe', fd, fd], cwd: opts.cwd },
        )
      : spawn(binary, [...opts.args], {
          stdio: ['ignore', fd, fd],
          detached: opts.detached ?? false,
          cwd: opts.cwd,
        });
  } finally {
    closeSync(fd);
  }
  const exited = new Promise<number | NodeJS.Signals>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? signal ?? 'SIGKILL'));
  });
  const spawnError = await new Promise<Error | null>((resolve) => {
    child.once('spawn', () => resolve(null));
    child.once('error', (e) => resolve(e));
  });
  if (spawnError || child.pid === undefined) {
    const notFound = (spawnError as NodeJS.ErrnoException | null)?.code === 'ENOENT';
    throw new BosunError(
      notFound
        ? `etcd is not installed (no ${binary} on PATH)`
        : `cannot start etcd: ${spawnError?.message ?? 'no pid'}`,
      'ETCD',
      {
        hint: notFound ? 'Install it: apt-get install etcd-server' : undefined,
        cause: spawnError ?? undefined,
      },
    );
  }
  const pid = child.pid;
  let gone = false;
  void exited.then(() => (gone = true));
  // Tied: a SIGKILL of the watchdog would orphan etcd; closing its stdin makes it SIGKILL etcd.
  const hardKill = (): void => {
    if (tied) child.stdin?.destroy();
    else child.kill('SIGKILL');
  };
  const proc: EtcdProcess = {
    pid,
    clientUrl: opts.clientUrl,
    exited,
    async stop(graceMs = 5000) {
      if (gone) return;
      child.kill('SIGTERM');
      const timer = setTimeout(hardKill, graceMs);
      await exited;
      clearTimeout(timer);
    },
    async kill() {
      if (gone) return;
      hardKill();
      await exited;
    },
  };
  const timeoutMs = opts.readyTimeoutMs ?? 20_000;
  if (timeoutMs === 0) return proc;
  const deadline = Date.now() + timeoutMs;
  while (true) {
    if (gone) {
      const code = await exited;
      const reason = failureReason(opts.logFile);
      if (tied && code === TIED_NOT_STARTED && /cannot run .*ENOENT/.test(reason))
        throw new BosunError(`etcd is not installed (no ${binary} on PATH)`, 'ETCD', {
          hint: 'Install it: apt-get install etcd-server',
        });
      throw new BosunError(`etcd exited during start (${String(code)}):\n${reason}`, 'ETCD');
    }
    if (await etcdHealthy(opts.clientUrl, opts.clientTls, 1000, opts.cwd)) return proc;
    if (Date.now() > deadline) {
      await proc.kill();
      throw new BosunError(
        `etcd did not become healthy within ${timeoutMs} ms:\n${failureReason(opts.logFile)}`,
        'ETCD',
      );
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The socket file of a `unix://NAME:PORT` URL: NAME:PORT in etcd's working directory. */
export function unixSocketPath(url: string, cwd: string | undefined): string {
  const name = url.replace(/^unixs?:\/\//, '');
  return name.startsWith('/') || cwd === undefined ? name : join(cwd, name);
}

/** GET /health on an etcd client URL; true when etcd answers {"health":"true"}. */
export function etcdHealthy(
  clientUrl: string,
  tls: EtcdClientTls | undefined,
  timeoutMs: number,
  cwd?: string,
): Promise<boolean> {
  return new Promise((resolve) => {
    const url = new URL('/health', clientUrl.startsWith('unix:') ? 'http://localhost' : clientUrl);
    const onRes = (res: http.IncomingMessage): void => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve(res.statusCode === 200 && /"health":\s*"true"/.test(body)));
      res.on('error', () => resolve(false));
    };
    const req =
      url.protocol === 'https:'
        ? https.get(
            url,
            {
              ca: tls ? readFileSync(tls.caFile) : undefined,
              cert: tls ? readFileSync(tls.certFile) : undefined,
              key: tls ? readFileSync(tls.keyFile) : undefined,
              timeout: timeoutMs,
              agent: false,
            },
            onRes,
          )
        : http.get(
            url,
            {
              timeout: timeoutMs,
              agent: false,
              ...(clientUrl.startsWith('unix:') ? { socketPath: unixSocketPath(clientUrl, cwd) } : {}),
            },
            onRes,
          );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}
