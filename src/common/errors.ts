// The one family of failures bosun raises. Expected outcomes (a pod refused by a filter, a
// certificate about to expire) are values, not errors; these are for "the operation did not
// happen". cli/main.ts is the only place that turns them into a message, a hint and an exit code.

/** Stable machine-readable error codes; the CLI prints them under -o json. */
export type ErrorCode =
  | 'USAGE'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'KUBE_API'
  | 'EXEC'
  | 'ETCD'
  | 'TLS'
  | 'SNAPSHOT_INVALID'
  | 'PKI'
  | 'SANDBOX'
  | 'PRECONDITION'
  | 'TIMEOUT'
  | 'INTERRUPTED'
  | 'IO'
  | 'INTERNAL';

/**
 * The exit codes a BosunError carries; runCli (cli/program.ts) returns it as the exit code of the
 * process, and 0 on success:
 * - 1: the operation failed, or a check found a problem (each command's help says which).
 * - 2: a usage or validation error: a bad flag, argument, version, window, PEM or file the user
 *   named (UsageError). Commander's own parse errors exit 2 too.
 * - 3: `bosun certs check` (and `--served`) only: nothing is broken, but a certificate has expired
 *   or expires within --warn-within, as its help says; a cron job can tell "renew soon" from
 *   "broken".
 * Outside this type, cli/main.ts exits 130 (128 + SIGINT, as shells report it) when a second
 * SIGINT or SIGTERM arrives.
 */
export type ExitCode = 1 | 2 | 3;

export interface BosunErrorOptions extends ErrorOptions {
  /** What the user can do about it, printed on the line after the message. */
  hint?: string;
  exitCode?: ExitCode;
}

/** A failure a user can act on: one line of message, an optional hint, an exit code. */
export class BosunError extends Error {
  readonly code: ErrorCode;
  readonly exitCode: ExitCode;
  readonly hint: string | undefined;
  override readonly name: string = 'BosunError';
  constructor(message: string, code: ErrorCode, options: BosunErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.exitCode = options.exitCode ?? 1;
    this.hint = options.hint;
  }
}

/** A bad flag, version, window, PEM or argument: exit code 2. */
export class UsageError extends BosunError {
  override readonly name = 'UsageError';
  constructor(message: string, options: Omit<BosunErrorOptions, 'exitCode'> = {}) {
    super(message, 'USAGE', { ...options, exitCode: 2 });
  }
}

/** A command bosun ran failed (ssh, a recipe step, etcdctl). */
export class ExecError extends BosunError {
  override readonly name = 'ExecError';
  readonly command: string;
  readonly commandExitCode: number | null;
  readonly stderrTail: string;
  readonly timedOut: boolean;
  constructor(
    message: string,
    fields: { command: string; exitCode: number | null; stderrTail: string; timedOut: boolean },
    options: BosunErrorOptions = {},
  ) {
    super(message, 'EXEC', options);
    this.command = fields.command;
    this.commandExitCode = fields.exitCode;
    this.stderrTail = fields.stderrTail;
    this.timedOut = fields.timedOut;
  }
}

/** Something that should not happen: a bug in bosun. */
export class InternalError extends BosunError {
  override readonly name = 'InternalError';
  constructor(message: string, options: BosunErrorOptions = {}) {
    super(message, 'INTERNAL', options);
  }
}

/** Guard that works across module copies (no bare instanceof across packages). */
export function isBosunError(e: unknown): e is BosunError {
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof (e as { code?: unknown }).code === 'string' &&
    typeof (e as { exitCode?: unknown }).exitCode === 'number' &&
    e instanceof Error
  );
}

/** The message of anything thrown, for wrapping into a BosunError. */
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}
