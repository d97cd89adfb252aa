// Small ports through which every side effect passes. Features take them in a `deps` object;
// the composition roots (cli/main.ts, reboot/agent-main.ts) build the real ones, tests pass fakes.

/** Wall-clock time and waiting. Pass a FakeClock in tests and advance() it. */
export interface Clock {
  now(): Date;
  /** Resolves after ms milliseconds, or rejects with the signal's reason when it aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export interface ExecOptions {
  cwd?: string;
  env?: Record<string, string | undefined>;
  /** Kill the command after this many milliseconds; 0 or undefined means no limit. */
  timeoutMs?: number;
  input?: string | Buffer;
  signal?: AbortSignal;
}

export interface ExecResult {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

/** Runs a program (never through a shell unless the caller runs one explicitly). */
export interface Exec {
  run(cmd: string, args: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
}

/** Result and progress streams, like kubectl's IOStreams: results to out, progress and errors to err. */
export interface Output {
  out(line: string): void;
  err(line: string): void;
  /** True when err is an interactive terminal (live progress allowed). */
  readonly isTTY: boolean;
  /**
   * Writes text to err as is, without adding a newline (cursor movement for live progress on a
   * terminal). Optional: when absent, callers fall back to plain lines.
   */
  errRaw?(text: string): void;
}
