// What every chapter of `bosun demo` gets: the sandbox, kube clients for it, and a way to run bosun
// commands exactly as a user types them. The runner is passed in (runCli from program.ts) instead
// of imported: the demo is itself one of the commands runCli knows, and importing it back would
// make the CLI's modules import each other.
import { BosunError } from '../../common/errors.ts';
import { createKubeClients, type KubeClients } from '../../kube/client.ts';
import type { CliContext } from '../context.ts';
import type { Sandbox } from '../../sandbox/index.ts';

/** Runs bosun with argv (without node and script) and returns its exit code: program.ts's runCli. */
export type RunCli = (argv: readonly string[], ctx: CliContext) => Promise<number>;

/** What `bosun ARGS` printed and how it ended, when a chapter runs it. */
export interface CommandResult {
  code: number;
  out: string[];
  err: string[];
}

/** What every chapter gets. */
export interface DemoContext {
  cli: CliContext;
  sandbox: Sandbox;
  kube: KubeClients;
  /**
   * Runs `bosun ARGS` exactly as a user types it (the same program, in this process, from the
   * sandbox directory, with KUBECONFIG pointing at it), showing the command and its output.
   * A non-zero exit fails the chapter unless allowFailure is set.
   */
  bosun(args: string[], opts?: { allowFailure?: boolean }): Promise<CommandResult>;
  /** A heading for a chapter. */
  heading(title: string): void;
  /** A line of narration (stderr) or of result (stdout). */
  say(line: string): void;
  show(line: string): void;
}

/** A chapter of the demo. */
export interface DemoChapter {
  title: string;
  run(d: DemoContext): Promise<void>;
}

/**
 * A chapter's context on a sandbox: kube clients for its kubeconfig, and a `bosun` runner that
 * shows each command and its output (stderr and stdout in the order they came) through show().
 */
export function createDemoContext(o: {
  cli: CliContext;
  sandbox: Sandbox;
  heading: (t: string) => void;
  say: (l: string) => void;
  show: (l: string) => void;
  /** How a chapter's `bosun ARGS` runs: program.ts's runCli. */
  runCli: RunCli;
}): DemoContext {
  const { cli, sandbox } = o;
  const kube = createKubeClients({
    kubeconfig: sandbox.kubeconfig,
    home: cli.home,
    signal: cli.signal,
    clock: cli.clock,
  });
  return {
    cli,
    sandbox,
    kube,
    heading: o.heading,
    say: o.say,
    show: o.show,
    async bosun(args, opts = {}) {
      const r: CommandResult = { code: 0, out: [], err: [] };
      const sub: CliContext = {
        ...cli,
        cwd: sandbox.layout.dir,
        env: { ...cli.env, KUBECONFIG: sandbox.kubeconfig },
        out: {
          out: (l) => {
            r.out.push(l);
            o.show(l);
          },
          err: (l) => {
            r.err.push(l);
            o.show(`  ${l}`);
          },
          isTTY: false,
        },
      };
      o.show(`$ bosun ${args.join(' ')}`);
      r.code = await o.runCli(args, sub);
      if (r.code !== 0 && !opts.allowFailure) {
        const why = r.err
          .filter((l) => l.startsWith('error: '))
          .map((l) => l.slice(7))
          .join('; ');
        const firstFlag = args.findIndex((a) => a.startsWith('-'));
        const words = args.slice(0, Math.max(1, firstFlag < 0 ? args.length : firstFlag));
        throw new BosunError(
          `bosun ${words.join(' ')} exited with ${r.code}${why ? `: ${why}` : ''}`,
          'INTERNAL',
        );
      }
      return r;
    },
  };
}
