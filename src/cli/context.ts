// What a command gets from the composition root: streams, environment, clock, exec, and how to
// start bosun itself again (for the sandbox daemon and node shims). Commands never touch process.*.
import type { Clock, Exec, Output } from '../common/ports.ts';

/** How to run this very bosun again: the node binary, its flags (e.g. a TypeScript loader) and entry. */
export interface SelfCommand {
  execPath: string;
  args: readonly string[];
}

export interface CliContext {
  out: Output;
  /** The environment the CLI was started with (read-only view). */
  env: Readonly<Record<string, string | undefined>>;
  cwd: string;
  clock: Clock;
  exec: Exec;
  /** Aborted on the first SIGINT/SIGTERM; long operations stop at a safe point. */
  signal: AbortSignal;
  self: SelfCommand;
  /** Home directory, for ~/.bosun defaults. */
  home: string;
  /**
   * Asks a question on the terminal and resolves with the line typed in answer; absent when the
   * standard input is not a terminal (a command that needs a confirmation then refuses, or takes
   * --yes).
   */
  ask?: (question: string) => Promise<string>;
  /**
   * This process and a look at others of this machine (a lock entry whose process is gone is
   * released at once). Absent in-process (tests): no process is then taken for gone.
   */
  process?: { pid: number; alive(pid: number): boolean };
}

/** Global flags shared by every command, with kubectl's names. */
export interface GlobalOptions {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  requestTimeout?: string;
  v?: string;
}
