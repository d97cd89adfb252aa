// bosun cordon|uncordon (issue 3): kubectl's commands, flags and help wording, plus who, why and
// when on every cordon bosun makes, and an uncordon that undoes only bosun's own. Parses and
// validates the flags, reads the nodes, calls the drain feature's cordonNodes/uncordonNodes
// (loaded lazily) and prints each result as it comes. Exit codes: 0 every node done, 1 a node
// cordoned outside bosun was left cordoned (uncordon), or the API failed, 2 usage errors.
import type { Command } from 'commander';
import { BosunError } from '../../common/errors.ts';
import type { NodePods } from '../../kube/ports.ts';
import type { Node } from '../../kube/types.ts';
import type { CliContext } from '../context.ts';
import {
  DRY_RUN_HELP,
  type DryRunStrategy,
  SELECTOR_HELP,
  TABLE_FORMATS,
  identity,
  outputHelp,
  parseDryRun,
  parseOutputFormat,
} from '../flags.ts';
import { checkTargets, nodePodsPort, resolveNodes } from '../nodes.ts';
import { formatDocument, isDocumentFormat } from '../output.ts';
import { cordonDocument, printCordonResult, printUncordonResult } from '../print/cordon.ts';

const CORDON_EXAMPLES = `
Examples:
  # Mark node "foo" as unschedulable, saying why
  bosun cordon foo --reason "disk replacement"

  # Mark every worker as unschedulable
  bosun cordon -l node-role.kubernetes.io/worker`;

const UNCORDON_EXAMPLES = `
bosun uncordons only nodes that bosun cordoned (it records who, why and when on the node);
a node cordoned some other way is left alone unless --force is given.

Examples:
  # Mark node "foo" as schedulable
  bosun uncordon foo

  # Mark node "foo" as schedulable even though someone else cordoned it
  bosun uncordon foo --force`;

/**
 * What cordon and uncordon start from, validated and read before anything changes: the output
 * format, the dry-run strategy, the kube port and the nodes (NODE... or --selector).
 */
async function readTargets(
  command: string,
  names: readonly string[],
  f: { selector?: string; dryRun: string; output?: string },
  cmd: Command,
  ctx: CliContext,
): Promise<{
  format: (typeof TABLE_FORMATS)[number];
  dryRun: DryRunStrategy;
  kube: NodePods;
  nodes: Node[];
}> {
  const format = parseOutputFormat(f.output, TABLE_FORMATS, command);
  checkTargets(names, f.selector, command);
  const dryRun = parseDryRun(f.dryRun, command);
  const { kube } = await nodePodsPort(cmd, ctx);
  const nodes = await resolveNodes(kube, names, f.selector);
  return { format, dryRun, kube, nodes };
}

/** Registers `bosun cordon` and `bosun uncordon`. */
export function registerCordonCommands(program: Command, ctx: CliContext): void {
  program
    .command('cordon')
    .usage('NODE... [options]')
    .description('Mark node as unschedulable')
    .argument('[NODE...]')
    .option('-l, --selector <selector>', SELECTOR_HELP)
    .option('--dry-run <strategy>', DRY_RUN_HELP, 'none')
    .option('--reason <text>', 'Why the node is cordoned, recorded on the node with who and when.', 'cordon')
    .option('-o, --output <format>', outputHelp(TABLE_FORMATS))
    .addHelpText('after', CORDON_EXAMPLES)
    .action(
      async (
        names: string[],
        f: { selector?: string; dryRun: string; reason: string; output?: string },
        cmd: Command,
      ) => {
        const { format, dryRun, kube, nodes } = await readTargets('cordon', names, f, cmd, ctx);
        if (nodes.length === 0) return void ctx.out.err('No resources found');
        const { cordonNodes } = await import('../../drain/index.ts');
        const results = await cordonNodes(
          nodes,
          {
            owner: { who: identity(ctx, 'cordon'), why: f.reason },
            dryRun,
            ...(format === 'table' ? { onResult: (r) => printCordonResult(ctx.out, r) } : {}),
          },
          { kube, clock: ctx.clock },
        );
        if (isDocumentFormat(format)) ctx.out.out(await formatDocument(cordonDocument(results), format));
      },
    );

  program
    .command('uncordon')
    .usage('NODE... [options]')
    .description('Mark node as schedulable')
    .argument('[NODE...]')
    .option('-l, --selector <selector>', SELECTOR_HELP)
    .option('--dry-run <strategy>', DRY_RUN_HELP, 'none')
    .option('--force', 'Uncordon even a node that was cordoned outside bosun.')
    .option('-o, --output <format>', outputHelp(TABLE_FORMATS))
    .addHelpText('after', UNCORDON_EXAMPLES)
    .action(
      async (
        names: string[],
        f: { selector?: string; dryRun: string; force?: boolean; output?: string },
        cmd: Command,
      ) => {
        const { format, dryRun, kube, nodes } = await readTargets('uncordon', names, f, cmd, ctx);
        if (nodes.length === 0) return void ctx.out.err('No resources found');
        const { uncordonNodes } = await import('../../drain/index.ts');
        const many = nodes.length > 1;
        const results = await uncordonNodes(
          nodes,
          {
            force: f.force === true,
            dryRun,
            ...(format === 'table' ? { onResult: (r) => printUncordonResult(ctx.out, r, { many }) } : {}),
          },
          { kube, clock: ctx.clock },
        );
        if (isDocumentFormat(format)) ctx.out.out(await formatDocument(cordonDocument(results), format));
        const refused = results.filter((r) => r.action === 'refused');
        const first = refused[0];
        if (first) {
          throw new BosunError(
            refused.length === 1
              ? (first.message ?? '')
              : `${refused.length} nodes were cordoned outside bosun and left cordoned: ${refused.map((r) => r.node).join(', ')}`,
            'PRECONDITION',
            { hint: 'bosun uncordons only what it cordoned; use --force to uncordon anyway.' },
          );
        }
      },
    );
}
