// How long a certificate has left and what bosun says about it: kubeadm's residual-time format
// (apimachinery duration.ShortHumanDuration) and date format, the per-row verdict, and the exit
// code of `bosun certs check`. Pure: data in, verdicts out; no I/O, no clock (now is passed in).

/** What `certs check` found wrong with one row, beside its dates. */
export type ProblemCode =
  | 'unreadable'
  | 'malformed-pem'
  | 'key-missing'
  | 'key-malformed'
  | 'key-mismatch'
  | 'ca-missing'
  | 'not-signed-by-ca'
  | 'kubeconfig-invalid'
  | 'no-client-certificate'
  | 'ca-data-mismatch';

/** One problem with a row, with a one-line message a user can act on. */
export interface Problem {
  code: ProblemCode;
  message: string;
}

/** Why a row's file is absent without being a problem, and how to make one (see kubeadm-spec.ts). */
export interface AbsenceText {
  reason: string;
  hint: string;
}

/**
 * The verdict on one row. 'absent': missing, but kubeadm does not write it on every node
 * (super-admin.conf on a control plane that joined), so no problem.
 */
export type RowStatus = 'ok' | 'expiring' | 'expired' | 'not-yet-valid' | 'missing' | 'absent' | 'invalid';

/** What the verdict needs to know about a row. */
export interface RowFacts {
  missing: boolean;
  /** kubeadm does not write this file on every node: when missing, it is absent, not missing. */
  absenceExpected?: boolean;
  problems: readonly Problem[];
  notBefore?: Date | undefined;
  notAfter?: Date | undefined;
}

/**
 * The verdict on a set of certificates: 'ok' (every one present, valid, and not expiring within
 * --warn-within), 'problem' (one is missing, unreadable, malformed, with the wrong key, not signed
 * by its CA, not yet valid), 'expiring' (nothing is broken, but one expires within --warn-within
 * or has expired). The CLI turns it into `certs check`'s exit code.
 */
export type CheckVerdict = 'ok' | 'problem' | 'expiring';

/**
 * Residual time as kubeadm prints it: int64(d / time.Second), truncated toward zero, like Go's
 * integer division of a Duration.
 */
export function residualSeconds(notAfter: Date, now: Date): number {
  return Math.trunc((notAfter.getTime() - now.getTime()) / 1000);
}

/**
 * apimachinery duration.ShortHumanDuration, which kubeadm's check-expiration table uses for
 * RESIDUAL TIME: "<invalid>" below -1s (so an expired certificate reads "<invalid>"), then the
 * largest whole unit: "45s", "59m", "23h", "364d", "9y".
 */
export function shortHumanDuration(seconds: number): string {
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 60) return `${seconds}s`;
  const minutes = Math.trunc(seconds / 60);
  if (minutes < 60) return `${minutes}m`;
  const hours = Math.trunc(seconds / 3600);
  if (hours < 24) return `${hours}h`;
  if (hours < 24 * 365) return `${Math.trunc(hours / 24)}d`;
  return `${Math.trunc(hours / 24 / 365)}y`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** kubeadm's EXPIRES column: Go layout "Jan 02, 2006 15:04 MST" of the UTC notAfter. */
export function formatExpires(d: Date): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${MONTHS[d.getUTCMonth()] ?? '???'} ${p(d.getUTCDate())}, ${d.getUTCFullYear()} ${p(d.getUTCHours())}:${p(d.getUTCMinutes())} UTC`;
}

/**
 * The verdict on a row. Missing beats everything (absent when kubeadm does not write that file on
 * every node); then any problem makes it invalid; then the
 * dates: expired once now is after notAfter (Go's time.Now().After(NotAfter)), not yet valid
 * before notBefore, expiring when notAfter is within warnWithinMs of now.
 */
export function rowStatus(row: RowFacts, now: Date, warnWithinMs: number): RowStatus {
  if (row.missing) return row.absenceExpected ? 'absent' : 'missing';
  if (row.problems.length > 0 || !row.notAfter) return 'invalid';
  const t = now.getTime();
  if (t > row.notAfter.getTime()) return 'expired';
  if (row.notBefore && t < row.notBefore.getTime()) return 'not-yet-valid';
  if (row.notAfter.getTime() - t <= warnWithinMs) return 'expiring';
  return 'ok';
}

/**
 * The verdict on a set of row statuses: a problem before expiry before all fine. A file that is
 * absent where kubeadm does not write it is fine.
 */
export function checkVerdict(statuses: readonly RowStatus[]): CheckVerdict {
  if (statuses.some((s) => s === 'missing' || s === 'invalid' || s === 'not-yet-valid')) return 'problem';
  if (statuses.some((s) => s === 'expired' || s === 'expiring')) return 'expiring';
  return 'ok';
}

/**
 * The STATUS column: a word for the verdict, the first problem's message, or for an absent file
 * why it is absent and how to make one.
 */
export function statusText(status: RowStatus, problems: readonly Problem[], absence?: AbsenceText): string {
  switch (status) {
    case 'ok':
      return 'ok';
    case 'expiring':
      return 'expiring';
    case 'expired':
      return 'EXPIRED';
    case 'not-yet-valid':
      return 'not yet valid';
    case 'missing':
      return 'missing';
    case 'absent':
      return absence ? `absent: ${absence.reason}; to make one: ${absence.hint}` : 'absent';
    case 'invalid': {
      const first = problems[0];
      if (!first) return 'invalid';
      return problems.length > 1 ? `${first.message} (+${problems.length - 1} more)` : first.message;
    }
  }
}

/**
 * The notAfter a renewed certificate gets: now + validity, but never past its CA's notAfter (a
 * certificate cannot outlive the CA that vouches for it; kubeadm warns about the same case).
 */
export function renewedNotAfter(
  now: Date,
  validityMs: number,
  caNotAfter: Date,
): { notAfter: Date; cappedByCa: boolean } {
  const want = now.getTime() + validityMs;
  if (want > caNotAfter.getTime()) return { notAfter: new Date(caNotAfter.getTime()), cappedByCa: true };
  return { notAfter: new Date(want), cappedByCa: false };
}

/** Why a CA cannot sign a renewal: it has expired, or would leave the new certificate under a day. */
export type CaBlock = 'ca-expired' | 'ca-within-a-day';

/** The least a renewed certificate must live for bosun to write it in place of the old one. */
export const MIN_RENEWED_LIFETIME_MS = 86_400_000;

/**
 * Whether a renewal signed by a CA that expires at caNotAfter is refused: always once the CA has
 * expired (a certificate it signs is expired from the start), and when the CA's expiry would cut
 * the renewed certificate below a day. A short validity the user asked for is not refused.
 */
export function renewalBlockedByCa(now: Date, validityMs: number, caNotAfter: Date): CaBlock | undefined {
  if (caNotAfter.getTime() <= now.getTime()) return 'ca-expired';
  const { notAfter, cappedByCa } = renewedNotAfter(now, validityMs, caNotAfter);
  if (cappedByCa && notAfter.getTime() - now.getTime() < MIN_RENEWED_LIFETIME_MS) return 'ca-within-a-day';
  return undefined;
}
