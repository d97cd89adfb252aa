// The flags drain and maintain share (kubectl drain's, plus bosun's pre-flight, escalation and
// reason), and their validation into the drain feature's DrainOptions.
import type { Command } from 'commander';
import { UsageError } from '../../common/errors.ts';
import type { DrainOptions, PreflightCheck } from '../../drain/index.ts';
import { collect, parseDryRun, parseDurationFlag, parseIntegerFlag, usageError } from '../flags.ts';

/** The drain flags as commander hands them over (strings, before validation). */
export interface DrainFlags {
  force?: boolean;
  ignoreDaemonsets?: boolean;
  deleteEmptydirData?: boolean;
  deleteLocalData?: boolean;
  gracePeriod: string;
  timeout: string;
  selector?: string;
  podSelector?: string;
  disableEviction?: boolean;
  skipWaitForDeleteTimeout: string;
  dryRun: string;
  ignorePreflightErrors?: string;
  escalate: string[];
  evictionConcurrency: string;
  chunkSize: string;
  reason?: string;
  output?: string;
  headers?: boolean;
  check?: boolean;
  recordon?: boolean;
}

/** Adds the flags drain and maintain share, with kubectl's wording where kubectl has the flag. */
export function addDrainFlags(cmd: Command): Command {
  return cmd
    .option(
      '--chunk-size <n>',
      'Return large lists in chunks rather than all at once. Pass 0 to disable.',
      '500',
    )
    .option('--force', 'Continue even if there are pods that do not declare a controller.')
    .option('--ignore-daemonsets', 'Ignore DaemonSet-managed pods.')
    .option(
      '--delete-emptydir-data',
      'Continue even if there are pods using emptyDir (local data that will be deleted when the node is drained).',
    )
    .option('--delete-local-data', 'Deprecated: use --delete-emptydir-data.')
    .option(
      '--grace-period <seconds>',
      'Period of time in seconds given to each pod to terminate gracefully. If negative, the default value specified in the pod will be used.',
      '-1',
    )
    .option('--timeout <duration>', 'The length of time to wait before giving up, zero means infinite', '0s')
    .option('--pod-selector <selector>', 'Label selector to filter pods on the node')
    .option(
      '--disable-eviction',
      'Force drain to use delete, even if eviction is supported. This will bypass checking PodDisruptionBudgets, use with caution.',
    )
    .option(
      '--skip-wait-for-delete-timeout <seconds>',
      'If pod DeletionTimestamp older than N seconds, skip waiting for the pod.  Seconds must be greater than 0 to skip.',
      '0',
    )
    .option(
      '--ignore-preflight-errors <checks>',
      'Pre-flight checks whose failure does not stop the drain: all, or a comma-separated list of pdb-never-allows, multiple-pdbs, unschedulable, opt-out, forbidden.',
    )
    .option(
      '--escalate <rule>',
      'What to do about pods blocked too long: after=DURATION,action=wait|give-up|delete[,namespace=NS][,selector=SELECTOR]. Repeatable.',
      collect,
      [],
    )
    .option('--eviction-concurrency <n>', 'Eviction (or deletion) requests in flight at once.', '64')
    .option(
      '--recordon',
      'If someone uncordons the node during the drain, cordon it again and continue (default: stop with an error).',
    )
    .option('--reason <text>', 'Why the node is taken out of service, recorded on the node with the cordon.');
}

/** Validates the drain flags into DrainOptions (without the owner). */
export async function drainOptions(
  f: DrainFlags,
  command: string,
  out: { warn(line: string): void },
): Promise<Omit<DrainOptions, 'owner'>> {
  const { DEFAULT_DRAIN_OPTIONS, parseEscalationRule, parseSelector, PREFLIGHT_CHECKS } =
    await import('../../drain/index.ts');
  if (f.deleteLocalData)
    out.warn(
      'Flag --delete-local-data has been deprecated, This option is deprecated and will be deleted. Use --delete-emptydir-data.',
    );
  if (f.podSelector !== undefined) {
    const p = parseSelector(f.podSelector);
    if (!p.ok)
      throw usageError(`--pod-selector=<pod_selector> must be a valid label selector: ${p.error}`, command);
  }
  let ignore: ReadonlySet<PreflightCheck> | 'all' = new Set();
  if (f.ignorePreflightErrors !== undefined) {
    const names = f.ignorePreflightErrors
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    if (names.includes('all')) ignore = 'all';
    else {
      for (const n of names) {
        if (!(PREFLIGHT_CHECKS as readonly string[]).includes(n)) {
          throw new UsageError(`unknown pre-flight check "${n}" in --ignore-preflight-errors`, {
            hint: `Known checks: all, ${PREFLIGHT_CHECKS.join(', ')}`,
          });
        }
      }
      ignore = new Set(names as PreflightCheck[]);
    }
  }
  const rules = f.escalate.map((text) => {
    const r = parseEscalationRule(text);
    if (!r.ok) throw usageError(r.error, command);
    return r.rule;
  });
  return {
    ...DEFAULT_DRAIN_OPTIONS,
    force: f.force === true,
    ignoreDaemonSets: f.ignoreDaemonsets === true,
    deleteEmptyDirData: f.deleteEmptydirData === true || f.deleteLocalData === true,
    gracePeriodSeconds: parseIntegerFlag(f.gracePeriod, '--grace-period', command, {
      min: Number.MIN_SAFE_INTEGER,
    }),
    timeoutMs: parseDurationFlag(f.timeout, '--timeout', command, { allowZero: true }),
    podSelector: f.podSelector ?? '',
    disableEviction: f.disableEviction === true,
    skipWaitForDeleteTimeoutSeconds: parseIntegerFlag(
      f.skipWaitForDeleteTimeout,
      '--skip-wait-for-delete-timeout',
      command,
      { min: 0 },
    ),
    dryRun: parseDryRun(f.dryRun, command),
    ignorePreflight: ignore,
    escalation: { rules },
    concurrency: parseIntegerFlag(f.evictionConcurrency, '--eviction-concurrency', command, { min: 1 }),
    chunkSize: parseIntegerFlag(f.chunkSize, '--chunk-size', command, { min: 0 }),
    recordon: f.recordon === true,
  };
}
