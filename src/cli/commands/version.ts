// `bosun version`: the client version, as kubectl version --client prints it.
import type { Command } from 'commander';
import type { CliContext } from '../context.ts';
import { TABLE_FORMATS, outputHelp, parseOutputFormat } from '../flags.ts';
import { formatDocument, isDocumentFormat } from '../output.ts';

/** bosun's version, printed by `bosun version`. */
export const BOSUN_VERSION = '0.1.0';

/** Registers `bosun version`. */
export function registerVersion(program: Command, ctx: CliContext): void {
  program
    .command('version')
    .description('Print the bosun version')
    .option('-o, --output <format>', outputHelp(TABLE_FORMATS))
    .action(async (opts: { output?: string }) => {
      const fmt = parseOutputFormat(opts.output, TABLE_FORMATS, 'version');
      const doc = { bosunVersion: BOSUN_VERSION, nodeVersion: process.versions.node };
      if (isDocumentFormat(fmt)) ctx.out.out(await formatDocument(doc, fmt));
      else ctx.out.out(`bosun version: v${BOSUN_VERSION}`);
    });
}
