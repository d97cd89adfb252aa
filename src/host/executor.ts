// How a command reaches a node: the NodeExecutor port (DESIGN.md "Node work"). An orchestrator
// (maintain, the upgrade, the reboot agent) decides what runs and when; an executor carries it to
// the host: where bosun runs (local), through a sandbox node's shims, or through a template such
// as `ssh {node} sudo {command}`. Every executor runs a process on this machine, so each can tell
// what it started (pid, start time, host, boot ID) before the command runs, and later whether that
// process still runs: an orchestrator killed mid-command must not act as if the command had ended.

/** What to run: a program and its arguments, or one shell line (run as `sh -c LINE`). */
export type HostCommand = { argv: readonly string[] } | { shell: string };

/** The argv a command runs as: a shell line is `sh -c LINE`. */
export function argvOf(cmd: HostCommand): readonly string[] {
  return 'shell' in cmd ? ['sh', '-c', cmd.shell] : cmd.argv;
}

/** A process an executor started, as recorded before the command ran. */
export interface StartedProcess {
  /** The process ID on host. */
  pid: number;
  /** Its start time in clock ticks since boot (/proc/PID/stat field 22): tells a reused pid apart. */
  startTicks: string;
  /** The machine it runs on (hostname). */
  host: string;
  /** That machine's boot ID at the time: after a reboot every process of the old boot is gone. */
  bootId: string;
}

/** Whether a recorded process still runs: 'unknown' when this machine cannot tell (another host). */
export type ProcessState = 'running' | 'gone' | 'unknown';

/** Options of one run. */
export interface RunOptions {
  /** Aborting sends SIGTERM to the process; the run then resolves with exitCode null. */
  signal?: AbortSignal;
  /** Kill (SIGKILL) after this many milliseconds; 0 or absent: no limit. */
  timeoutMs?: number;
  /** Each line of output as it comes (without its newline). */
  onOutput?: (stream: 'stdout' | 'stderr', line: string) => void;
  /**
   * Called once the process exists and before the command runs; the command starts only when the
   * returned promise resolves, so a caller can record what it started first. If it rejects, the
   * process is killed without having run the command, and run rejects with that error.
   */
  onStart?: (p: StartedProcess) => Promise<void>;
}

/** How a run ended. */
export interface RunResult {
  /** The exit code; null when the process was ended by a signal. */
  exitCode: number | null;
  /** Killed because timeoutMs passed. */
  timedOut: boolean;
  /** The last lines of stderr (at most 4 KiB), for messages. */
  stderrTail: string;
}

/** Carries commands to nodes. */
export interface NodeExecutor {
  /**
   * The command line that would run for this node, for --dry-run and messages (shell-quoted, so it
   * can be pasted into a shell).
   */
  describe(node: string, cmd: HostCommand): string;
  /**
   * Runs cmd for node and resolves when it ends (whatever its exit code). Rejects when it cannot
   * start at all (e.g. `ExecError` "reboot: not found"), or when onStart rejects.
   */
  run(node: string, cmd: HostCommand, opts?: RunOptions): Promise<RunResult>;
  /** Whether a process this kind of executor started (see RunOptions.onStart) still runs. */
  probe(p: StartedProcess): Promise<ProcessState>;
}
