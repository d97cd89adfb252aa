// Starts an in-process sandbox for an end-to-end test (on tmpfs when the machine has one, so etcd's
// fsyncs are cheap), and runs the real kubectl and etcdctl against it. stop() ends every process.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processExec, systemClock } from '../../src/common/real.ts';
import { Sandbox, TIMINGS, type Timing } from '../../src/sandbox/index.ts';

/** Where the real kubectl v1.35 was extracted by scripts/ensure-deps.mjs. */
export const KUBECTL = join(import.meta.dirname, '..', '..', '.cache', 'peers', 'kubectl');

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a program and collects its output (never throws for a non-zero exit). */
export function run(
  cmd: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string; cwd?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
      cwd: opts.cwd,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const t = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? '');
  });
}

export interface TestSandbox {
  sb: Sandbox;
  dir: string;
  kubeconfig: string;
  logs: string[];
  /** Runs the real kubectl against the sandbox. */
  kubectl(args: readonly string[], opts?: { timeoutMs?: number; input?: string }): Promise<RunResult>;
  /** kubectl ... -o json, parsed. */
  kubectlJson<T = unknown>(args: readonly string[]): Promise<T>;
  stop(): Promise<void>;
}

/** A scratch directory on tmpfs when available. */
export function scratchDir(prefix: string): string {
  const base = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
  return mkdtempSync(join(base, prefix));
}

/** Starts a sandbox; the caller stops it in t.after / after(). */
export async function startTestSandbox(
  opts: {
    controlPlanes?: number;
    workers?: number;
    workload?: 'demo' | 'none';
    version?: string;
    timing?: Partial<Timing>;
    pkiNotAfterOverrides?: Readonly<Record<string, Date>>;
    maxPods?: number;
  } = {},
): Promise<TestSandbox> {
  const dir = scratchDir('bosun-sb-');
  const logs: string[] = [];
  let sb: Sandbox;
  try {
    sb = await Sandbox.start({
      dir,
      controlPlanes: opts.controlPlanes ?? 1,
      workers: opts.workers ?? 2,
      version: opts.version ?? 'v1.34.3',
      workload: opts.workload ?? 'none',
      timing: { ...TIMINGS.fast, ...(opts.timing ?? {}) },
      keyAlgorithm: 'ecdsa-p256',
      ...(opts.pkiNotAfterOverrides ? { pkiNotAfterOverrides: opts.pkiNotAfterOverrides } : {}),
      ...(opts.maxPods !== undefined ? { maxPods: opts.maxPods } : {}),
      nodeBinary: process.execPath,
      clock: systemClock,
      exec: processExec,
      env: process.env,
      log: (l) => void logs.push(l),
    });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const home = join(dir, 'kubectl-home');
  const kubectl = (
    args: readonly string[],
    o: { timeoutMs?: number; input?: string } = {},
  ): Promise<RunResult> =>
    run(KUBECTL, ['--kubeconfig', sb.kubeconfig, '--cache-dir', join(home, 'cache'), ...args], {
      env: { ...process.env, HOME: home, KUBECONFIG: '' },
      ...o,
    });
  return {
    sb,
    dir,
    kubeconfig: sb.kubeconfig,
    logs,
    kubectl,
    async kubectlJson<T>(args: readonly string[]): Promise<T> {
      const r = await kubectl([...args, '-o', 'json']);
      if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${r.stderr}`);
      return JSON.parse(r.stdout) as T;
    },
    async stop() {
      await sb.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Polls fn until it returns a truthy value or the deadline passes (no fixed sleeps). */
export async function eventually<T>(
  what: string,
  fn: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}
