// `bosun certs check` end to end on files: resolve where the node's certificates are, scan them,
// judge them at deps.clock.now(), print the table / JSON / YAML / prometheus text, and end with
// the documented exit code (a BosunError carrying 1 or 3, so cli/ stays the single exit path).
import { isAbsolute, join } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { BosunError, UsageError } from '../common/errors.ts';
import { parseDuration } from '../common/duration.ts';
import type { Clock, Output } from '../common/ports.ts';
import { judgeRows, scanCertificates, type CertPaths, type CheckedRow } from './check.ts';
import { CHECK_EXIT, checkExitCode } from './expiry.ts';
import { expirationInfo, formatCheckTable, formatPrometheus } from './report.ts';

/** kubeadm's and the kubelet's default locations. */
export const DEFAULT_PATHS = {
  pkiDir: '/etc/kubernetes/pki',
  configDir: '/etc/kubernetes',
  kubeletPkiDir: '/var/lib/kubelet/pki',
} as const;

/** Location flags as the user gave them. */
export interface PathFlags {
  pkiDir?: string | undefined;
  configDir?: string | undefined;
  kubeletPkiDir?: string | undefined;
  /** A node's root filesystem mounted elsewhere (a sandbox node's host dir). */
  root?: string | undefined;
}

/**
 * Where to look: explicit flags win; otherwise kubeadm's defaults, under --root when given. With
 * --root, absolute paths named inside kubeconfigs are read under the root too.
 */
export function resolveCertPaths(flags: PathFlags, cwd: string): CertPaths {
  const abs = (p: string): string => (isAbsolute(p) ? p : join(cwd, p));
  const root = flags.root === undefined ? undefined : abs(flags.root);
  const under = (p: string): string => (root === undefined ? p : join(root, p));
  const paths: CertPaths = {
    pkiDir: abs(flags.pkiDir ?? under(DEFAULT_PATHS.pkiDir)),
    configDir: abs(flags.configDir ?? under(DEFAULT_PATHS.configDir)),
    kubeletPkiDir: abs(flags.kubeletPkiDir ?? under(DEFAULT_PATHS.kubeletPkiDir)),
  };
  if (root !== undefined) {
    paths.mapPath = (p) => (isAbsolute(p) && p !== root && !p.startsWith(root + '/') ? join(root, p) : p);
  }
  return paths;
}

/** Parses --warn-within (e.g. 30d, 720h). */
export function parseWarnWithin(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms < 0) {
    throw new UsageError(`invalid --warn-within "${text}": expected a duration such as 30d, 720h or 2w`, {
      hint: "See 'bosun certs check -h' for help and examples",
    });
  }
  return ms;
}

/** What `certs check` was asked. */
export interface CheckOptions extends PathFlags {
  output: 'table' | 'json' | 'yaml' | 'prometheus';
  warnWithinMs: number;
  noHeaders?: boolean;
  cwd: string;
}

/** Scans and judges the node's certificates at the clock's now. */
export async function checkCertificates(
  paths: CertPaths,
  now: Date,
  warnWithinMs: number,
): Promise<CheckedRow[]> {
  return judgeRows(await scanCertificates(paths), now, warnWithinMs);
}

/** Runs `certs check` on files and prints the result; throws a BosunError for exit codes 1 and 3. */
export async function runCertsCheck(
  opts: CheckOptions,
  deps: { clock: Clock; out: Output },
): Promise<CheckedRow[]> {
  const now = deps.clock.now();
  const rows = await checkCertificates(resolveCertPaths(opts, opts.cwd), now, opts.warnWithinMs);
  printRows(rows, now, opts, deps.out);
  throwForExit(rows, opts.warnWithinMs);
  return rows;
}

/** Prints rows in the requested format on stdout. */
export function printRows(
  rows: readonly CheckedRow[],
  now: Date,
  opts: Pick<CheckOptions, 'output' | 'noHeaders'>,
  out: Output,
): void {
  let lines: string[];
  switch (opts.output) {
    case 'json':
      // kubeadm's printer (k8s JSONPrinter) indents by four spaces.
      lines = [JSON.stringify(expirationInfo(rows, now), null, 4)];
      break;
    case 'yaml':
      lines = [toYaml(expirationInfo(rows, now), { lineWidth: 0 }).trimEnd()];
      break;
    case 'prometheus':
      lines = formatPrometheus(rows, now);
      break;
    default:
      lines = formatCheckTable(rows, now, { noHeaders: opts.noHeaders ?? false });
  }
  for (const l of lines) out.out(l);
}

/** Turns the verdicts into the documented exit code (a BosunError for 1 and 3). */
export function throwForExit(rows: readonly CheckedRow[], warnWithinMs: number): void {
  const code = checkExitCode(rows.map((r) => r.status));
  if (code === CHECK_EXIT.ok) return;
  if (code === CHECK_EXIT.problem) {
    const bad = rows.filter(
      (r) => r.status === 'missing' || r.status === 'invalid' || r.status === 'not-yet-valid',
    );
    throw new BosunError(
      `${bad.length} certificate${bad.length === 1 ? ' has a problem' : 's have problems'}: ${bad.map((r) => `${r.name} (${r.status === 'invalid' ? (r.problems[0]?.message ?? 'invalid') : r.status})`).join(', ')}`,
      'PKI',
      {
        exitCode: 1,
        hint: 'Fix or restore the files named above; `bosun certs renew NAME` re-issues a leaf when its CA key is present.',
      },
    );
  }
  const soon = rows.filter((r) => r.status === 'expiring' || r.status === 'expired');
  const expired = soon.filter((r) => r.status === 'expired');
  const days = Math.round(warnWithinMs / 86_400_000);
  throw new BosunError(
    expired.length > 0
      ? `${expired.length} certificate${expired.length === 1 ? ' has' : 's have'} expired: ${expired.map((r) => r.name).join(', ')}` +
          (soon.length > expired.length
            ? `; ${soon.length - expired.length} more expire within ${days}d`
            : '')
      : `${soon.length} certificate${soon.length === 1 ? ' expires' : 's expire'} within ${days}d: ${soon.map((r) => r.name).join(', ')}`,
    'PKI',
    {
      exitCode: 3,
      hint: 'Renew them with `bosun certs renew all` on each control plane, one node at a time.',
    },
  );
}
