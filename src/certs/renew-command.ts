// `bosun certs renew` end to end: renew the files, then (unless --no-restart) restart the static
// pods that read them the kubeadm way and prove with a served-certificate check that the new ones
// are live. Results on stdout, progress and warnings on stderr; failures are BosunErrors.
import { isAbsolute, join } from 'node:path';
import { UsageError } from '../common/errors.ts';
import { parseDuration } from '../common/duration.ts';
import type { Clock, Output } from '../common/ports.ts';
import { resolveCertPaths, type PathFlags } from './check-command.ts';
import type { CertPaths } from './check.ts';
import { formatExpires } from './expiry.ts';
import {
  componentsUsing,
  renewCertificates,
  resolveRenewNames,
  type RenewResult,
  type StaticPodComponent,
} from './renew.ts';

/** What `certs renew` was asked. */
export interface RenewOptions extends PathFlags {
  names: readonly string[];
  /** Parent of the dated backup dir; default <config-dir>/tmp. */
  backupDir?: string | undefined;
  validityMs: number;
  restart: boolean;
  cwd: string;
}

/** The restart phase of a renewal; built only when --no-restart is not given. */
export interface RestartPhase {
  /**
   * Runs before anything is renewed, with the static pods the renewal will restart: refuses early
   * (unknown node name, no kubeconfig, an etcd restart that would lose quorum).
   */
  preflight(paths: CertPaths, components: readonly StaticPodComponent[]): Promise<void>;
  /** Restarts the static pods that read the renewed files and proves the new ones are served. */
  run(result: RenewResult, paths: CertPaths): Promise<void>;
}

/** Parses --validity (kubeadm's certificateValidityPeriod; default 1y). */
export function parseValidity(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms < 60_000) {
    throw new UsageError(
      `invalid --validity "${text}": expected a duration of at least a minute, such as 1y, 90d or 8760h`,
      {
        hint: "See 'bosun certs renew -h' for help and examples",
      },
    );
  }
  return ms;
}

function componentList(cs: readonly StaticPodComponent[]): string {
  if (cs.length <= 1) return cs.join('');
  return `${cs.slice(0, -1).join(', ')} and ${cs[cs.length - 1] ?? ''}`;
}

/** Renews on files and, when asked, restarts and verifies through `restart`. */
export async function runCertsRenew(
  opts: RenewOptions,
  deps: { clock: Clock; out: Output; restart?: RestartPhase },
): Promise<RenewResult> {
  const paths = resolveCertPaths(opts, opts.cwd);
  const backupRoot =
    opts.backupDir === undefined
      ? join(paths.configDir, 'tmp')
      : isAbsolute(opts.backupDir)
        ? opts.backupDir
        : join(opts.cwd, opts.backupDir);
  if (opts.restart && deps.restart)
    await deps.restart.preflight(paths, componentsUsing(resolveRenewNames(opts.names)));
  const result = await renewCertificates({
    names: opts.names,
    paths,
    backupRoot,
    validityMs: opts.validityMs,
    now: deps.clock.now(),
  });
  for (const r of result.renewed) {
    deps.out.out(`${r.name} renewed (expires ${formatExpires(r.notAfter)})`);
    if (r.cappedByCa)
      deps.out.err(
        `WARNING: ${r.name} expires with its CA, before the requested validity; renew the CA in time`,
      );
  }
  deps.out.out(`previous files saved in ${result.backupDir}`);
  if (result.components.length === 0) return result;
  if (!opts.restart || !deps.restart) {
    deps.out.out(
      `Done renewing certificates. You must restart the ${componentList(result.components)}, so that they can use the new certificates.`,
    );
    return result;
  }
  await deps.restart.run(result, paths);
  return result;
}
