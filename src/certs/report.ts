// How `bosun certs check` prints its rows: kubeadm's check-expiration table (its columns, date and
// residual-time formats, Go tabwriter layout with minwidth 10 and padding 3) plus a STATUS column;
// kubeadm's -o json document (output.kubeadm.k8s.io/v1alpha3 CertificateExpirationInfo) with
// bosun's extra fields after kubeadm's; and a node-exporter text-collector file. No I/O.
import type { CheckedRow } from './check.ts';
import { formatExpires, residualSeconds, shortHumanDuration, statusText } from './expiry.ts';

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
 * Go's text/tabwriter as kubeadm configures it (minwidth 10, padding 3, padchar ' '): every cell
 * but the last of a line is padded to max(10, widest cell in its column + 3). Trailing blanks are
 * trimmed.
 */
export function tabwrite(lines: readonly (readonly string[])[]): string[] {
  const widths: number[] = [];
  for (const cells of lines) {
    cells.forEach((c, i) => {
      if (i < cells.length - 1) widths[i] = Math.max(widths[i] ?? 0, c.length);
    });
  }
  return lines.map((cells) =>
    cells
      .map((c, i) => (i < cells.length - 1 ? c.padEnd(Math.max(10, (widths[i] ?? 0) + 3)) : c))
      .join('')
      .trimEnd(),
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
    const status = statusText(r.status, r.problems);
    const isCa = r.group === 'ca';
    let cells: string[];
    if (r.missing) {
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
  return [...tabwrite(certLines), '', ...tabwrite(caLines)];
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
  for (const r of rows)
    lines.push(`bosun_certificate_ok{${labels(r)},status="${r.status}"} ${r.status === 'ok' ? 1 : 0}`);
  lines.push(
    '# HELP bosun_certificate_check_timestamp_seconds When bosun certs check ran, in seconds since the Unix epoch.',
  );
  lines.push('# TYPE bosun_certificate_check_timestamp_seconds gauge');
  lines.push(`bosun_certificate_check_timestamp_seconds ${Math.floor(now.getTime() / 1000)}`);
  return lines;
}
