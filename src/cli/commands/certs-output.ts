// How `bosun certs` prints its results and which exit code they make: kubeadm's check-expiration
// table (its columns, date and residual-time formats, Go tabwriter layout with minwidth 10 and
// padding 3) plus a STATUS column; kubeadm's -o json document (output.kubeadm.k8s.io/v1alpha3
// CertificateExpirationInfo) with bosun's extra fields after kubeadm's; a node-exporter
// text-collector file; the --served table and document; what `certs renew` says at the end. The
// certs feature returns rows and outcomes; only this module and certs.ts turn them into text and
// into the documented exit codes (BosunErrors carrying 1 or 3, so cli/main.ts stays the single
// exit path).
import { BosunError } from '../../common/errors.ts';
import type { Clock, Output } from '../../common/ports.ts';
import {
  checkVerdict,
  type CheckVerdict,
  formatExpires,
  residualSeconds,
  runCertsRenew,
  servedVerdict,
  shortHumanDuration,
  statusText,
  type CertsEventSink,
  type ClusterVersionReader,
  type CheckedRow,
  type NotChecked,
  type RenewOptions,
  type RenewOutcome,
  type RestartPhase,
  type ServedCheck,
  type ServedRow,
  type StaticPodComponent,
} from '../../certs/index.ts';
import { describeEvent } from '../print/certs-progress.ts';
import { formatTable, formatYaml } from '../output.ts';

/** kubeadm's output API version for check-expiration. */
export const KUBEADM_OUTPUT_API_VERSION = 'output.kubeadm.k8s.io/v1alpha3';

/** One entry of kubeadm's CertificateExpirationInfo, plus bosun's fields. */
export interface CertificateJson {
  // kubeadm's fields (cmd/kubeadm/app/apis/output/v1alpha3 Certificate), in its order.
  name: string;
  /** RFC 3339 UTC, seconds (metav1.Time); null when missing or unreadable (Go's zero Time). */
  expirationDate: string | null;
  /** Seconds left (negative once expired); 0 when missing. */
  residualTime: number;
  externallyManaged: boolean;
  /** Omitted for CAs (omitempty), as kubeadm does. */
  caName?: string;
  missing: boolean;
  // bosun's additions.
  status: string;
  path: string;
  /** Only on an absent row (status 'absent'): why kubeadm did not write it here, and how to make one. */
  absence?: { reason: string; hint: string };
  subject?: string;
  dnsNames?: string[];
  ipAddresses?: string[];
  problems: { code: string; message: string }[];
}

/** kubeadm's CertificateExpirationInfo document. */
export interface CertificateExpirationInfo {
  kind: 'CertificateExpirationInfo';
  apiVersion: typeof KUBEADM_OUTPUT_API_VERSION;
  certificates: CertificateJson[];
  certificateAuthorities: CertificateJson[];
}

function rfc3339(d: Date): string {
  return new Date(Math.floor(d.getTime() / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

function toJson(r: CheckedRow, now: Date): CertificateJson {
  const facts = r.missing ? undefined : r.facts;
  return {
    name: r.name,
    expirationDate: facts ? rfc3339(facts.notAfter) : null,
    residualTime: facts ? residualSeconds(facts.notAfter, now) : 0,
    externallyManaged: r.missing ? false : r.externallyManaged,
    ...(!r.missing && r.caName !== '' && r.group === 'certificate' ? { caName: r.caName } : {}),
    missing: r.missing,
    status: r.status,
    path: r.path,
    ...(r.absence ? { absence: { reason: r.absence.reason, hint: r.absence.hint } } : {}),
    ...(facts ? { subject: facts.subject, dnsNames: facts.dnsNames, ipAddresses: facts.ipAddresses } : {}),
    problems: r.problems.map((p) => ({ code: p.code, message: p.message })),
  };
}

/** The -o json / -o yaml document. */
export function expirationInfo(rows: readonly CheckedRow[], now: Date): CertificateExpirationInfo {
  return {
    kind: 'CertificateExpirationInfo',
    apiVersion: KUBEADM_OUTPUT_API_VERSION,
    certificates: rows.filter((r) => r.group === 'certificate').map((r) => toJson(r, now)),
    certificateAuthorities: rows.filter((r) => r.group === 'ca').map((r) => toJson(r, now)),
  };
}

/**
 * Go's text/tabwriter as kubeadm configures it (minwidth 10, padding 3): every cell but the last
 * of a line is padded to max(10, widest cell in its column + 3). formatTable pads to the widest
 * cell + 3, so cells are first widened to 7.
 */
export function kubeadmTable(lines: readonly (readonly string[])[]): string[] {
  return formatTable(
    null,
    lines.map((cells) => cells.map((c, i) => (i < cells.length - 1 ? c.padEnd(7) : c))),
  );
}

const yesNo = (b: boolean): string => (b ? 'yes' : 'no');

/** kubeadm's two tables (certificates, then CAs, separated by a blank line), with STATUS added. */
export function formatCheckTable(
  rows: readonly CheckedRow[],
  now: Date,
  opts: { noHeaders?: boolean } = {},
): string[] {
  const certLines: string[][] = [];
  const caLines: string[][] = [];
  if (!opts.noHeaders) {
    certLines.push([
      'CERTIFICATE',
      'EXPIRES',
      'RESIDUAL TIME',
      'CERTIFICATE AUTHORITY',
      'EXTERNALLY MANAGED',
      'STATUS',
    ]);
    caLines.push(['CERTIFICATE AUTHORITY', 'EXPIRES', 'RESIDUAL TIME', 'EXTERNALLY MANAGED', 'STATUS']);
  }
  for (const r of rows) {
    const status = statusText(r.status, r.problems, r.absence);
    const isCa = r.group === 'ca';
    let cells: string[];
    if (r.status === 'absent') {
      // kubeadm's normal layout, not a problem: no !MISSING! (kubeadm prints that for it too).
      cells = isCa ? [r.name, '', '', '', status] : [r.name, '', '', '', '', status];
    } else if (r.missing) {
      cells = isCa
        ? [`!MISSING! ${r.name}`, '', '', '', status]
        : [`!MISSING! ${r.name}`, '', '', '', '', status];
    } else {
      const f = r.facts;
      const expires = f ? formatExpires(f.notAfter) : '';
      const residual = f ? shortHumanDuration(residualSeconds(f.notAfter, now)) : '';
      cells = isCa
        ? [r.name, expires, residual, yesNo(r.externallyManaged), status]
        : [r.name, expires, residual, r.caName, yesNo(r.externallyManaged), status];
    }
    (isCa ? caLines : certLines).push(cells);
  }
  return [...kubeadmTable(certLines), '', ...kubeadmTable(caLines)];
}

function label(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/**
 * A node-exporter text-collector file: each certificate's notAfter and notBefore as Unix
 * seconds, a 0/1 health gauge with the verdict as a label, and when the check ran.
 */
export function formatPrometheus(rows: readonly CheckedRow[], now: Date): string[] {
  const lines: string[] = [];
  const labels = (r: CheckedRow): string =>
    `name="${label(r.name)}",group="${r.group}",ca="${label(r.caName)}",path="${label(r.path)}"`;
  lines.push(
    '# HELP bosun_certificate_expiry_timestamp_seconds When the certificate expires (notAfter), in seconds since the Unix epoch.',
  );
  lines.push('# TYPE bosun_certificate_expiry_timestamp_seconds gauge');
  for (const r of rows)
    if (!r.missing && r.facts)
      lines.push(
        `bosun_certificate_expiry_timestamp_seconds{${labels(r)}} ${Math.floor(r.facts.notAfter.getTime() / 1000)}`,
      );
  lines.push(
    '# HELP bosun_certificate_not_before_timestamp_seconds When the certificate became valid (notBefore), in seconds since the Unix epoch.',
  );
  lines.push('# TYPE bosun_certificate_not_before_timestamp_seconds gauge');
  for (const r of rows)
    if (!r.missing && r.facts)
      lines.push(
        `bosun_certificate_not_before_timestamp_seconds{${labels(r)}} ${Math.floor(r.facts.notBefore.getTime() / 1000)}`,
      );
  lines.push(
    '# HELP bosun_certificate_ok 1 when the certificate is present, readable, matches its key, is signed by its CA and is not expired or expiring; 0 otherwise.',
  );
  lines.push('# TYPE bosun_certificate_ok gauge');
  // A file kubeadm never wrote on this node (status absent) has no certificate to watch.
  for (const r of rows)
    if (r.status !== 'absent')
      lines.push(`bosun_certificate_ok{${labels(r)},status="${r.status}"} ${r.status === 'ok' ? 1 : 0}`);
  lines.push(
    '# HELP bosun_certificate_check_timestamp_seconds When bosun certs check ran, in seconds since the Unix epoch.',
  );
  lines.push('# TYPE bosun_certificate_check_timestamp_seconds gauge');
  lines.push(`bosun_certificate_check_timestamp_seconds ${Math.floor(now.getTime() / 1000)}`);
  return lines;
}

/** What `certs check` was asked to print. */
export interface CheckPrintOptions {
  output: 'table' | 'json' | 'yaml' | 'prometheus';
  noHeaders?: boolean;
}

/** Prints `certs check` rows in the requested format on stdout. */
export async function printCheckRows(
  rows: readonly CheckedRow[],
  now: Date,
  opts: CheckPrintOptions,
  out: Pick<Output, 'out'>,
): Promise<void> {
  let lines: string[];
  switch (opts.output) {
    case 'json':
      // kubeadm's printer (k8s JSONPrinter) indents by four spaces.
      lines = [JSON.stringify(expirationInfo(rows, now), null, 4)];
      break;
    case 'yaml':
      lines = [await formatYaml(expirationInfo(rows, now))];
      break;
    case 'prometheus':
      lines = formatPrometheus(rows, now);
      break;
    default:
      lines = formatCheckTable(rows, now, { noHeaders: opts.noHeaders ?? false });
  }
  for (const l of lines) out.out(l);
}

/** `bosun certs check`'s exit code per verdict (documented in its help; 2 is a usage error). */
export const CHECK_EXIT = { ok: 0, problem: 1, expiring: 3 } as const satisfies Record<CheckVerdict, number>;

/**
 * The error that carries `certs check`'s exit code (CHECK_EXIT: 1 a problem, 3 expired or
 * expiring), with the certificates it is about; undefined when the check exits 0.
 */
export function checkFailure(rows: readonly CheckedRow[], warnWithinMs: number): BosunError | undefined {
  const verdict = checkVerdict(rows.map((r) => r.status));
  if (verdict === 'ok') return undefined;
  if (verdict === 'problem') {
    const bad = rows.filter(
      (r) => r.status === 'missing' || r.status === 'invalid' || r.status === 'not-yet-valid',
    );
    return new BosunError(
      `${bad.length} certificate${bad.length === 1 ? ' has a problem' : 's have problems'}: ${bad.map((r) => `${r.name} (${r.status === 'invalid' ? (r.problems[0]?.message ?? 'invalid') : r.status})`).join(', ')}`,
      'PKI',
      {
        exitCode: CHECK_EXIT.problem,
        hint: 'Fix or restore the files named above; `bosun certs renew NAME` re-issues a leaf when its CA key is present.',
      },
    );
  }
  const soon = rows.filter((r) => r.status === 'expiring' || r.status === 'expired');
  const expired = soon.filter((r) => r.status === 'expired');
  const days = Math.round(warnWithinMs / 86_400_000);
  return new BosunError(
    expired.length > 0
      ? `${expired.length} certificate${expired.length === 1 ? ' has' : 's have'} expired: ${expired.map((r) => r.name).join(', ')}` +
          (soon.length > expired.length
            ? `; ${soon.length - expired.length} more expire within ${days}d`
            : '')
      : `${soon.length} certificate${soon.length === 1 ? ' expires' : 's expire'} within ${days}d: ${soon.map((r) => r.name).join(', ')}`,
    'PKI',
    {
      exitCode: CHECK_EXIT.expiring,
      hint: 'Renew them with `bosun certs renew all` on each control plane, one node at a time.',
    },
  );
}

/** The --served table: one row per endpoint, then one per server that was not checked. */
export function formatServedTable(
  rows: readonly ServedRow[],
  now: Date,
  opts: { noHeaders?: boolean } = {},
  notChecked: readonly NotChecked[] = [],
): string[] {
  const lines: string[][] = [];
  if (!opts.noHeaders)
    lines.push(['NODE', 'COMPONENT', 'ENDPOINT', 'EXPIRES', 'RESIDUAL TIME', 'SAME AS DISK', 'STATUS']);
  for (const r of rows) {
    const f = r.facts;
    const disk = r.onDisk === 'same' ? 'yes' : r.onDisk === 'different' ? 'NO' : '-';
    const status =
      r.status === 'unreachable'
        ? `unreachable: ${r.error ?? ''}`
        : r.status === 'stale'
          ? 'serves an older certificate than the one on disk (restart pending)'
          : r.signedByCa === false
            ? `${r.status}, not signed by the CA on disk`
            : r.status;
    lines.push([
      r.node,
      r.component,
      r.endpoint,
      f ? formatExpires(f.notAfter) : '',
      f ? shortHumanDuration(residualSeconds(f.notAfter, now)) : '',
      disk,
      status,
    ]);
  }
  for (const n of notChecked) lines.push([n.node, n.component, '-', '', '', '', `not checked: ${n.reason}`]);
  return kubeadmTable(lines);
}

/** The --served -o json / -o yaml document. */
export function servedDocument(
  rows: readonly ServedRow[],
  now: Date,
  notChecked: readonly NotChecked[] = [],
): Record<string, unknown> {
  return {
    kind: 'ServedCertificateList',
    apiVersion: 'bosun.dev/v1alpha1',
    items: rows.map((r) => ({
      node: r.node,
      component: r.component,
      endpoint: r.endpoint,
      expirationDate: r.facts ? r.facts.notAfter.toISOString().replace(/\.\d{3}Z$/, 'Z') : null,
      residualTime: r.facts ? residualSeconds(r.facts.notAfter, now) : 0,
      subject: r.facts?.subject ?? null,
      serialNumber: r.facts?.serialNumber ?? null,
      sameAsDisk: r.onDisk === 'unknown' ? null : r.onDisk === 'same',
      diskPath: r.diskPath ?? null,
      signedByCa: r.signedByCa ?? null,
      status: r.status,
      error: r.error ?? null,
    })),
    notChecked: notChecked.map((n) => ({ node: n.node, component: n.component, reason: n.reason })),
  };
}

/** Prints what --served found as a table or one document on stdout. */
export async function printServed(
  served: ServedCheck,
  now: Date,
  opts: { output: 'table' | 'json' | 'yaml'; noHeaders?: boolean },
  out: Pick<Output, 'out'>,
): Promise<void> {
  if (opts.output === 'table') {
    for (const l of formatServedTable(served.rows, now, opts, served.notChecked)) out.out(l);
    return;
  }
  const doc = servedDocument(served.rows, now, served.notChecked);
  out.out(opts.output === 'json' ? JSON.stringify(doc, null, 4) : await formatYaml(doc));
}

/** The error that carries --served's exit code (1: a problem; 3: expiry); undefined for 0. */
export function servedFailure(rows: readonly ServedRow[]): BosunError | undefined {
  if (rows.length === 0) {
    return new BosunError(
      'no endpoints found: the cluster lists no nodes with an InternalIP and no kube-apiserver/etcd mirror pods',
      'NOT_FOUND',
      { hint: 'Check --kubeconfig/--context point at the cluster this node belongs to.' },
    );
  }
  const verdict = servedVerdict(rows);
  if (verdict === 'problem') {
    const bad = rows.filter(
      (r) => r.status === 'unreachable' || r.status === 'stale' || r.signedByCa === false,
    );
    return new BosunError(
      `${bad.length} served certificate${bad.length === 1 ? ' needs' : 's need'} attention: ${bad.map((r) => `${r.component} on ${r.node} (${r.status === 'stale' ? 'older than on disk' : r.status === 'unreachable' ? 'unreachable' : 'not signed by the CA on disk'})`).join(', ')}`,
      'TLS',
      {
        hint: 'A certificate that differs from disk was renewed without a restart: restart that static pod (bosun certs renew restarts them unless --no-restart).',
      },
    );
  }
  if (verdict === 'expiring') {
    const soon = rows.filter((r) => r.status === 'expiring' || r.status === 'expired');
    return new BosunError(
      `${soon.length} served certificate${soon.length === 1 ? '' : 's'} expired or expiring: ${soon.map((r) => `${r.component} on ${r.node}`).join(', ')}`,
      'TLS',
      { exitCode: CHECK_EXIT.expiring, hint: 'Renew with `bosun certs renew all` on each control plane, one node at a time.' },
    );
  }
  return undefined;
}

function componentList(cs: readonly StaticPodComponent[]): string {
  if (cs.length <= 1) return cs.join('');
  return `${cs.slice(0, -1).join(', ')} and ${cs[cs.length - 1] ?? ''}`;
}

/**
 * Prints how a renewal ended (after the renewed files, which were printed as they happened): the
 * static pods to restart by hand, or the served table and "renewed and served". Throws the
 * BosunError (exit 1) when the restarted servers do not serve the new certificates.
 */
export function finishRenew(outcome: RenewOutcome, now: Date, out: Pick<Output, 'out'>): void {
  const { result, restart } = outcome;
  if (result.components.length === 0) return;
  if (!restart) {
    out.out(
      `Done renewing certificates. You must restart the ${componentList(result.components)}, so that they can use the new certificates.`,
    );
    return;
  }
  if (restart.served.length > 0) for (const l of formatServedTable(restart.served, now)) out.out(l);
  const here = restart.node;
  const problem = restart.problem;
  const notRestarted = restart.notRestarted.map((n) => `${n.component} (${n.reason})`).join(', ');
  if (problem?.kind === 'timeout') {
    throw new BosunError(
      `restarted, but timed out after ${Math.round(restart.timeoutMs / 1000)}s waiting for ${problem.waiting}${notRestarted === '' ? '' : `; not restarted: ${notRestarted}`}`,
      'TIMEOUT',
      {
        hint: 'The new files are on disk and the old ones are in the backup directory; check the static pods on this node and run `bosun certs check --served`.',
      },
    );
  }
  if (problem?.kind === 'not-live') {
    throw new BosunError(
      `restarted, but ${problem.rows.map((r) => `${r.component} (${r.endpoint}) ${r.status === 'unreachable' ? 'is unreachable' : 'still serves the old certificate'}`).join(', ')} on ${here}${notRestarted === '' ? '' : `; not restarted: ${notRestarted}`}`,
      'TLS',
      {
        hint: 'The new files are on disk and the old ones are in the backup directory; check the static pod and run `bosun certs check --served`.',
      },
    );
  }
  if (notRestarted !== '') {
    throw new BosunError(`renewed, but not restarted on ${here}: ${notRestarted}`, 'PRECONDITION', {
      hint: `The new files are on disk and the old ones are in the backup directory. Restart ${componentList(restart.notRestarted.map((n) => n.component))} the way it runs on this node so that it reads them, then run \`bosun certs check --served\`.`,
    });
  }
  out.out(
    `Certificates renewed and served on ${here}. Renew the next control plane only after this one is healthy (bosun certs check --served).`,
  );
}

/** Prints certs events on out as they come: results on stdout, progress and warnings on stderr. */
export function printEvents(out: Pick<Output, 'out' | 'err'>): CertsEventSink {
  return (e) => {
    for (const l of describeEvent(e)) out[l.stream](l.text);
  };
}

/**
 * `certs renew` as the CLI runs it: renews (and restarts, when `restart` is given), printing as it
 * goes, then says how it ended. Throws the BosunError of a refusal or of a restart whose servers
 * do not serve the new certificates.
 */
export async function renewAndReport(
  opts: RenewOptions,
  deps: {
    clock: Clock;
    out: Pick<Output, 'out' | 'err'>;
    restart?: RestartPhase;
    clusterVersion?: ClusterVersionReader;
  },
): Promise<RenewOutcome> {
  const outcome = await runCertsRenew(opts, {
    clock: deps.clock,
    onEvent: printEvents(deps.out),
    ...(deps.restart ? { restart: deps.restart } : {}),
    ...(deps.clusterVersion ? { clusterVersion: deps.clusterVersion } : {}),
  });
  finishRenew(outcome, deps.clock.now(), deps.out);
  return outcome;
}
