// The executor that runs commands on this machine, the base of the other two: the sandbox's (the
// same, with a node's shims first on PATH) and the template's (the same, with the command wrapped
// in `ssh {node} sudo {command}` or any other carrier).
//
// A command never runs unrecorded: the process starts as `sh -c GATE`, which waits for one line on
// file descriptor 3 before it execs the command (same pid, same start time). bosun reports the
// process through onStart, writes the line only once the caller has recorded it, and if bosun dies
// before that the pipe closes and the shell exits (125) without running anything. Whether a
// recorded process still runs is then read from /proc: same host, same boot, same pid with the
// same start time.
import { spawn } from 'node:child_process';
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import type { Writable } from 'node:stream';
import { ExecError } from '../common/errors.ts';
import {
  argvOf,
  type HostCommand,
  type NodeExecutor,
  type ProcessState,
  type RunOptions,
  type RunResult,
  type StartedProcess,
} from './executor.ts';
import { shellJoin } from './shell.ts';

/** Waits for the go line on fd 3, closes it, and becomes the command ($0 "$@"). */
const GATE = 'read -r _ <&3 || exit 125; exec 3<&-; exec "$0" "$@"';

/** The exit code of a process that was never released to run its command. */
export const NEVER_STARTED_EXIT = 125;

const STDERR_TAIL_BYTES = 4096;

/** Options of {@link LocalExecutor}. */
export interface LocalExecutorOptions {
  /** The environment of every command (PATH included). */
  env: Readonly<Record<string, string | undefined>>;
  /** The working directory of every command (default: bosun's). */
  cwd?: string | undefined;
  /** A directory to put first on PATH for this node's commands (the sandbox's shims), if any. */
  pathFor?: (node: string) => string | undefined;
  /** /proc (tests may point elsewhere). */
  procRoot?: string;
  /** This machine's name (default os.hostname()). */
  hostname?: string;
}

function isExecutableFile(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

/** Where PATH finds cmd, or undefined (a cmd with a slash is taken as a path, relative to cwd). */
export function findOnPath(cmd: string, path: string | undefined, cwd: string): string | undefined {
  if (cmd.includes('/')) {
    const p = isAbsolute(cmd) ? cmd : resolve(cwd, cmd);
    return isExecutableFile(p) ? p : undefined;
  }
  for (const dir of (path ?? '/usr/local/bin:/usr/bin:/bin').split(':')) {
    const p = join(dir === '' ? cwd : resolve(cwd, dir), cmd);
    if (isExecutableFile(p)) return p;
  }
  return undefined;
}

/** Field 22 of /proc/PID/stat (start time in clock ticks since boot) and field 3 (state). */
function readStat(procRoot: string, pid: number): { startTicks: string; state: string } | undefined {
  let text: string;
  try {
    text = readFileSync(`${procRoot}/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) is in parentheses and may contain spaces or parentheses itself.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  const startTicks = fields[19];
  return state && startTicks ? { startTicks, state } : undefined;
}

function readBootId(procRoot: string): string {
  try {
    return readFileSync(`${procRoot}/sys/kernel/random/boot_id`, 'utf8').trim();
  } catch {
    return '';
  }
}

/** Splits a stream into lines as they come; flush() emits a last line without a newline. */
class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private pending = '';
  constructor(private readonly emit: (line: string) => void) {}
  write(chunk: Buffer): void {
    this.pending += this.decoder.write(chunk);
    let i: number;
    while ((i = this.pending.indexOf('\n')) >= 0) {
      this.emit(this.pending.slice(0, i).replace(/\r$/, ''));
      this.pending = this.pending.slice(i + 1);
    }
  }
  flush(): void {
    this.pending += this.decoder.end();
    if (this.pending !== '') this.emit(this.pending);
    this.pending = '';
  }
}

/** Runs commands on this machine (for every node alike, unless pathFor adds a node's own directory). */
export class LocalExecutor implements NodeExecutor {
  private readonly procRoot: string;
  private readonly host: string;

  constructor(private readonly opts: LocalExecutorOptions) {
    this.procRoot = opts.procRoot ?? '/proc';
    this.host = opts.hostname ?? os.hostname();
  }

  /** The environment for node's commands. */
  envFor(node: string): Record<string, string | undefined> {
    const env = { ...this.opts.env };
    const first = this.opts.pathFor?.(node);
    if (first !== undefined) env['PATH'] = `${first}${env['PATH'] ? `:${env['PATH']}` : ''}`;
    return env;
  }

  describe(node: string, cmd: HostCommand): string {
    const first = this.opts.pathFor?.(node);
    return `${first !== undefined ? `PATH=${shellJoin([first])}:$PATH ` : ''}${shellJoin(argvOf(cmd))}`;
  }

  run(node: string, cmd: HostCommand, opts: RunOptions = {}): Promise<RunResult> {
    const argv = argvOf(cmd);
    const [program, ...args] = argv;
    if (program === undefined) return Promise.reject(new ExecError('no command to run', noRun('')));
    const env = this.envFor(node);
    const cwd = this.opts.cwd ?? process.cwd();
    if (findOnPath(program, env['PATH'], cwd) === undefined)
      return Promise.reject(new ExecError(`spawn ${program} ENOENT`, noRun(program)));
    return new Promise<RunResult>((resolvePromise, reject) => {
      const child = spawn('/bin/sh', ['-c', GATE, program, ...args], {
        cwd,
        env: env as NodeJS.ProcessEnv,
        stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
      });
      const gate = child.stdio[3] as Writable;
      gate.on('error', () => undefined); // the shell may be gone already (killed, or exited)
      let timedOut = false;
      let failed: unknown;
      let stderrTail = '';
      const out = new LineSplitter((l) => opts.onOutput?.('stdout', l));
      const err = new LineSplitter((l) => opts.onOutput?.('stderr', l));
      child.stdout?.on('data', (d: Buffer) => out.write(d));
      child.stderr?.on('data', (d: Buffer) => {
        err.write(d);
        stderrTail = (stderrTail + d.toString('utf8')).slice(-STDERR_TAIL_BYTES);
      });
      const timer =
        opts.timeoutMs !== undefined && opts.timeoutMs > 0
          ? setTimeout(() => {
              timedOut = true;
              child.kill('SIGKILL');
            }, opts.timeoutMs)
          : undefined;
      const onAbort = (): void => void child.kill('SIGTERM');
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      child.on('error', (e) => {
        failed ??= e;
      });
      child.on('close', (code) => {
        if (timer) clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        out.flush();
        err.flush();
        if (failed !== undefined) reject(failed);
        else resolvePromise({ exitCode: code, timedOut, stderrTail });
      });
      const release = async (): Promise<void> => {
        const pid = child.pid;
        if (pid === undefined) return; // spawn failed: 'error' and 'close' follow
        if (opts.onStart) {
          const stat = readStat(this.procRoot, pid);
          await opts.onStart({
            pid,
            startTicks: stat?.startTicks ?? '',
            host: this.host,
            bootId: readBootId(this.procRoot),
          });
        }
        if (opts.signal?.aborted) throw opts.signal.reason;
        gate.end('go\n');
      };
      release().catch((e: unknown) => {
        failed ??= e;
        child.kill('SIGKILL');
      });
      if (opts.signal?.aborted) onAbort();
    });
  }

  probe(p: StartedProcess): Promise<ProcessState> {
    if (p.host !== this.host) return Promise.resolve('unknown');
    if (p.bootId !== '' && p.bootId !== readBootId(this.procRoot)) return Promise.resolve('gone');
    const stat = readStat(this.procRoot, p.pid);
    if (stat === undefined || stat.state === 'Z' || stat.state === 'X') return Promise.resolve('gone');
    return Promise.resolve(stat.startTicks === p.startTicks ? 'running' : 'gone');
  }
}

function noRun(command: string): { command: string; exitCode: null; stderrTail: string; timedOut: boolean } {
  return { command, exitCode: null, stderrTail: '', timedOut: false };
}
