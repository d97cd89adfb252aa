// The commander program factory and the single place that turns errors into a message, a hint and
// an exit code. A fresh program per run (commander's advice, tj/commander.js#1565), so tests can
// call runCli() many times in one process. Every line any command prints passes through
// safeOutput: text from the cluster never reaches the terminal as control characters.
import { Command, CommanderError } from 'commander';
import { isBosunError, type BosunError } from '../common/errors.ts';
import type { CliContext } from './context.ts';
import { registerCommands } from './commands/index.ts';
import { parseVerbosity } from './flags.ts';
import { safeOutput } from './print/terminal.ts';

export { BOSUN_VERSION } from './commands/version.ts';

/** Builds the whole command tree for one invocation. */
export function createProgram(ctx: CliContext): Command {
  const program = new Command('bosun')
    .description('Kubernetes cluster maintenance in the right order, safely.')
    .option('--kubeconfig <path>', 'Path to the kubeconfig file to use for CLI requests.')
    .option('--context <name>', 'The name of the kubeconfig context to use')
    .option('-n, --namespace <namespace>', 'If present, the namespace scope for this CLI request')
    .option(
      '--request-timeout <duration>',
      "The length of time to wait before giving up on a single server request. A value of zero means don't timeout requests.",
      '0',
    )
    .option('-v, --v <level>', 'number for the log level verbosity', parseVerbosity, '0')
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.out.out(s.replace(/\n$/, '')),
      writeErr: (s) => ctx.out.err(s.replace(/\n$/, '')),
      // Errors are printed once, by runCli, with our hint line.
      outputError: () => undefined,
    });
  registerCommands(program, ctx, { runCli });
  return program;
}

/** Runs bosun with argv (without node and script) and returns the process exit code. */
export async function runCli(argv: readonly string[], given: CliContext): Promise<number> {
  const ctx: CliContext = { ...given, out: safeOutput(given.out) };
  const program = createProgram(ctx);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (e) {
    return reportError(e, program, argv, ctx);
  }
}

/** The known command words at the start of argv ("drain", "backup verify"), for the help hint. */
function commandPath(program: Command, argv: readonly string[]): string {
  const words: string[] = [];
  let cmd: Command = program;
  for (const a of argv) {
    if (a.startsWith('-')) break;
    const sub = cmd.commands.find((c) => c.name() === a || c.aliases().includes(a));
    if (!sub) break;
    words.push(sub.name());
    cmd = sub;
  }
  return words.join(' ');
}

function reportError(e: unknown, program: Command, argv: readonly string[], ctx: CliContext): number {
  if (e instanceof CommanderError) {
    // --help and --version end through exitOverride too.
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help')
      return 0;
    if (e.code === 'commander.executeSubCommandAsync') return e.exitCode;
    const msg = e.message.replace(/^error: /, '');
    ctx.out.err(`error: ${msg}`);
    const cmd = commandPath(program, argv);
    ctx.out.err(`See 'bosun${cmd ? ' ' + cmd : ''} -h' for help and examples`);
    return 2;
  }
  if (isBosunError(e)) {
    printBosunError(e, ctx);
    if (debugEnabled(argv, ctx) && e.cause !== undefined)
      ctx.out.err(String((e.cause as Error).stack ?? e.cause));
    return e.exitCode;
  }
  const err = e instanceof Error ? e : new Error(String(e));
  ctx.out.err(`error: this is a bug in bosun: ${err.message}`);
  if (debugEnabled(argv, ctx)) ctx.out.err(err.stack ?? '');
  else ctx.out.err('Run again with -v=4 or BOSUN_DEBUG=1 for the stack trace, and report it.');
  return 1;
}

function printBosunError(e: BosunError, ctx: CliContext): void {
  ctx.out.err(`error: ${e.message}`);
  if (e.hint) ctx.out.err(e.hint);
}

function debugEnabled(argv: readonly string[], ctx: CliContext): boolean {
  if (ctx.env['BOSUN_DEBUG'] && ctx.env['BOSUN_DEBUG'] !== '0') return true;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] ?? '';
    const m = /^(?:-v|--v)=?(\d+)$/.exec(a);
    if (m && Number(m[1]) >= 4) return true;
    if ((a === '-v' || a === '--v') && Number(argv[i + 1]) >= 4) return true;
  }
  return false;
}
