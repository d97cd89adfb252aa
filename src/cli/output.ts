// Printing results the way kubectl does: a table with uppercase headers by default, or one JSON /
// YAML document per invocation, or resource/name lines. Only results go to stdout.
import { oneLine } from './print/terminal.ts';

// -o parsing lives with the other flags; certs.ts still imports it from here.
export { parseOutputFormat, type OutputFormat } from './flags.ts';

/**
 * Lays out rows like kubectl's tabwriter (padding 3): every column but the last is padded to its
 * widest cell plus three spaces, and to at least minWidth (kubeadm's certs table uses 10). A cell
 * is one line: a newline or control character in it is shown escaped (print/terminal.ts).
 */
export function formatTable(
  headers: readonly string[] | null,
  rows: readonly (readonly string[])[],
  opts: { minWidth?: number } = {},
): string[] {
  const all = (headers === null ? rows : [headers, ...rows]).map((row) => row.map(oneLine));
  const widths: number[] = [];
  for (const row of all) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return all.map((row) =>
    row
      .map((cell, i) =>
        i === row.length - 1 ? cell : cell.padEnd(Math.max(opts.minWidth ?? 0, (widths[i] ?? 0) + 3)),
      )
      .join('')
      .trimEnd(),
  );
}

/** One JSON document, two-space indented, as kubectl -o json prints. */
export function formatJson(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

/** The formats that print the result as one document: JSON or YAML. */
export type DocumentFormat = 'json' | 'yaml';

/** Is this -o value one of the document formats? */
export function isDocumentFormat(format: string): format is DocumentFormat {
  return format === 'json' || format === 'yaml';
}

/** One JSON or YAML document, as -o json / -o yaml print it. */
export async function formatDocument(value: unknown, format: DocumentFormat): Promise<string> {
  return format === 'json' ? formatJson(value) : formatYaml(value);
}

/** One YAML document. The yaml library is loaded only here: every command but -o yaml goes without it. */
export async function formatYaml(value: unknown): Promise<string> {
  // yaml is CommonJS: its functions are on the default export when bundled, and on both otherwise.
  const mod: typeof import('yaml') & { default?: typeof import('yaml') } = await import('yaml');
  return (mod.default ?? mod).stringify(value, { lineWidth: 0 }).trimEnd();
}
