// The flags several commands share, parsed in one place: -o/--output and --no-headers, --dry-run,
// -l/--selector, integers, durations, repeatable flags, -v, and who bosun says did a change.
// Every parser turns a bad value into a UsageError (exit 2) that names the flag and ends with
// kubectl's "See 'bosun CMD -h' for help and examples"; none of them prints.
import os from 'node:os';
import { InvalidArgumentError } from 'commander';
import { UsageError } from '../common/errors.ts';
import { parseDuration } from '../common/duration.ts';
import type { CliContext } from './context.ts';

/** kubectl's UsageErrorf hint: where to read about the command. */
export function seeHelp(command: string): string {
  return `See 'bosun ${command} -h' for help and examples`;
}

/** A usage error (exit 2) of `bosun COMMAND`, with the help hint. */
export function usageError(message: string, command: string): UsageError {
  return new UsageError(message, { hint: seeHelp(command) });
}

// ---- -o/--output and --no-headers ----

/** The output formats a command may accept with -o/--output; `table` is the default everywhere. */
export type OutputFormat = 'table' | 'json' | 'yaml' | 'name';

/**
 * Older names of a format, still accepted and read as the new one. `text` was the drain commands'
 * name for the table until the formats got one name everywhere.
 */
const FORMAT_ALIASES: Readonly<Record<string, OutputFormat>> = { text: 'table' };

/** The formats of a command whose result is a table (the default) or one JSON or YAML document. */
export const TABLE_FORMATS = ['table', 'json', 'yaml'] as const;

/** As TABLE_FORMATS, and `name`: one resource or file name per line. */
export const TABLE_AND_NAME_FORMATS = ['table', 'json', 'yaml', 'name'] as const;

/** The help of -o/--output for a command that prints these formats. */
export function outputHelp(formats: readonly string[]): string {
  return `Output format. One of: ${formats.join('|')}`;
}

/** The help of --no-headers. */
export const NO_HEADERS_HELP = "When using the default output format, don't print headers";

/**
 * Validates an -o value against the formats a command supports (the first is the default when
 * the flag is absent). A deprecated alias (`text`) is read as its format when the command has it.
 */
export function parseOutputFormat<F extends string>(
  value: string | undefined,
  allowed: readonly F[],
  command: string,
): F {
  const given = value ?? allowed[0] ?? 'table';
  const v = FORMAT_ALIASES[given] ?? given;
  const found = allowed.find((a) => a === v);
  if (found === undefined) {
    throw usageError(
      `unable to match a printer suitable for the output format "${given}", allowed formats are: ${allowed.join(',')}`,
      command,
    );
  }
  return found;
}

// ---- --dry-run ----

/** kubectl's --dry-run strategies. */
export type DryRunStrategy = 'none' | 'client' | 'server';

/** kubectl's help of --dry-run. */
export const DRY_RUN_HELP =
  'Must be "none", "server", or "client". If client strategy, only print the object that would be sent, without sending it. If server strategy, submit server-side request without persisting the resource.';

/** Validates --dry-run as kubectl does. */
export function parseDryRun(v: string, command: string): DryRunStrategy {
  if (v === 'none' || v === 'client' || v === 'server') return v;
  throw usageError(`Invalid dry-run value (${v}). Must be "none", "server", or "client".`, command);
}

// ---- -l/--selector ----

/** kubectl's help of -l/--selector. */
export const SELECTOR_HELP =
  "Selector (label query) to filter on, supports '=', '==', '!=', 'in', 'notin'.(e.g. -l key1=value1,key2=value2,key3 in (value3)). Matching objects must satisfy all of the specified label constraints.";

// ---- numbers and durations ----

/** A whole number written in decimal digits (no sign, no exponent), or undefined. */
export function parseWholeNumber(text: string): number | undefined {
  return /^\d+$/.test(text) ? Number(text) : undefined;
}

/** An integer flag, kubectl's wording: at least `min` (Number.MIN_SAFE_INTEGER: negatives allowed too). */
export function parseIntegerFlag(v: string, flag: string, command: string, opts: { min: number }): number {
  const { min } = opts;
  if (!/^-?\d+$/.test(v.trim()) || Number(v) < min) {
    const bound = min === 0 ? ' of zero or more' : min > 0 ? ` of at least ${min}` : '';
    throw usageError(`invalid argument "${v}" for "${flag}": must be an integer${bound}`, command);
  }
  return Number(v);
}

/**
 * A commander argument parser for a whole-number option of at least `min` (its error becomes
 * commander's "option '--workers <n>' argument 'x' is invalid. ..." line, exit 2).
 */
export function wholeNumberArg(flag: string, opts: { min: number } = { min: 0 }): (v: string) => number {
  return (v) => {
    const n = parseWholeNumber(v);
    if (n === undefined || n < opts.min)
      throw new InvalidArgumentError(
        `${flag} must be a whole number${opts.min > 0 ? ` of at least ${opts.min}` : ''}, got "${v}"`,
      );
    return n;
  };
}

/** A duration flag (30s, 5m, 1h, 1h30m, 7d) in milliseconds; zero only where it means something. */
export function parseDurationFlag(
  v: string,
  flag: string,
  command: string,
  opts: { allowZero: boolean },
): number {
  const ms = parseDuration(v);
  if (ms === undefined)
    throw usageError(
      `invalid argument "${v}" for "${flag}": expected a duration such as 30s, 5m or 1h`,
      command,
    );
  if (ms === 0 && !opts.allowZero) throw usageError(`${flag} must be greater than zero`, command);
  return ms;
}

/** Commander's accumulator for a repeatable flag (--escalate A --escalate B). */
export function collect(v: string, prev: string[]): string[] {
  return [...prev, v];
}

// ---- global flags ----

/** A commander argument parser for -v/--v: a log level is a whole number (kubectl's klog -v). */
export function parseVerbosity(v: string): string {
  if (parseWholeNumber(v) === undefined)
    throw new InvalidArgumentError(`the log level must be a whole number such as 0 or 4, got "${v}"`);
  return v;
}

// ---- who did it ----

/** Who bosun records as the author of a change: user@host and the command ("alice@ops-1 (bosun drain)"). */
export function identity(ctx: CliContext, what: string): string {
  let user = ctx.env['USER'] ?? ctx.env['LOGNAME'];
  if (!user) {
    try {
      user = os.userInfo().username;
    } catch {
      user = 'unknown';
    }
  }
  return `${user}@${os.hostname()} (bosun ${what})`;
}
