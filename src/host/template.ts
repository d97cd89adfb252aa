// Running through a command template: `--exec 'ssh {node} sudo {command}'`, or any other carrier
// (`ssh -o BatchMode=yes admin@{node}.lan sudo {command}`, `nsenter -t 1 -m -u -i -n -p -- {argv}`).
// The template is split into words once (shell.ts), and for each run its placeholders are
// replaced: {node} by the node's name, {command} by the command as one shell-quoted word (so ssh,
// which joins its arguments into one line for the remote shell, hands the remote shell the same
// words), {argv} by the command's words as separate arguments. A shell line (HostCommand.shell) is
// `sh -c LINE` there as everywhere. The carrier runs on this machine (LocalExecutor), so what it
// started is recorded and probed like every other local process.
import type {
  HostCommand,
  NodeExecutor,
  ProcessState,
  RunOptions,
  RunResult,
  StartedProcess,
} from './executor.ts';
import { argvOf } from './executor.ts';
import { LocalExecutor } from './local.ts';
import { expandTemplate, shellJoin, type ExecTemplate } from './shell.ts';

/** Options of {@link TemplateExecutor}. */
export interface TemplateExecutorOptions {
  template: ExecTemplate;
  /** The environment of the carrier (ssh) on this machine. */
  env: Readonly<Record<string, string | undefined>>;
  cwd?: string | undefined;
}

/** Runs commands through a template such as `ssh {node} sudo {command}`. */
export class TemplateExecutor implements NodeExecutor {
  private readonly local: LocalExecutor;

  constructor(private readonly opts: TemplateExecutorOptions) {
    this.local = new LocalExecutor({ env: opts.env, cwd: opts.cwd });
  }

  /** The carrier's argv for this node and command. */
  argvFor(node: string, cmd: HostCommand): string[] {
    return expandTemplate(this.opts.template, node, argvOf(cmd));
  }

  describe(node: string, cmd: HostCommand): string {
    return shellJoin(this.argvFor(node, cmd));
  }

  run(node: string, cmd: HostCommand, opts: RunOptions = {}): Promise<RunResult> {
    return this.local.run(node, { argv: this.argvFor(node, cmd) }, opts);
  }

  probe(p: StartedProcess): Promise<ProcessState> {
    return this.local.probe(p);
  }
}
