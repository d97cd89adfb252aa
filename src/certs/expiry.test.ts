// Residual time, dates, verdicts and exit codes, table-driven.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  checkVerdict,
  formatExpires,
  renewalBlockedByCa,
  renewedNotAfter,
  residualSeconds,
  rowStatus,
  shortHumanDuration,
  statusText,
  type CheckVerdict,
  type RowStatus,
} from './expiry.ts';

const MIN = 60;
const HOUR = 3600;
const DAY = 86400;

for (const tc of [
  { name: 'an expired certificate reads <invalid>', s: -2, want: '<invalid>' },
  { name: 'one second in the past is clock skew: 0s', s: -1, want: '0s' },
  { name: 'seconds below a minute', s: 59, want: '59s' },
  { name: 'whole minutes, truncated', s: 59 * MIN + 59, want: '59m' },
  { name: 'whole hours', s: 23 * HOUR + 59 * MIN, want: '23h' },
  { name: 'days up to a year', s: 364 * DAY + 23 * HOUR, want: '364d' },
  { name: 'a fresh one-year certificate a minute old', s: 365 * DAY - MIN, want: '364d' },
  { name: 'years', s: 9 * 365 * DAY + 364 * DAY, want: '9y' },
]) {
  test(`shortHumanDuration: ${tc.name}`, () => assert.equal(shortHumanDuration(tc.s), tc.want));
}

for (const tc of [
  {
    name: 'future, truncated toward zero',
    after: '2026-01-01T00:00:10.900Z',
    now: '2026-01-01T00:00:00Z',
    want: 10,
  },
  {
    name: 'past, truncated toward zero',
    after: '2026-01-01T00:00:00Z',
    now: '2026-01-01T00:00:10.900Z',
    want: -10,
  },
]) {
  test(`residualSeconds: ${tc.name}`, () =>
    assert.equal(residualSeconds(new Date(tc.after), new Date(tc.now)), tc.want));
}

test('formatExpires: Go layout "Jan 02, 2006 15:04 MST" in UTC', () => {
  assert.equal(formatExpires(new Date('2027-03-01T09:05:59Z')), 'Mar 01, 2027 09:05 UTC');
  assert.equal(formatExpires(new Date('2035-12-31T23:59:00Z')), 'Dec 31, 2035 23:59 UTC');
});

const NOW = new Date('2026-06-01T00:00:00Z');
const at = (days: number): Date => new Date(NOW.getTime() + days * DAY * 1000);
const WARN = 30 * DAY * 1000;
const bad = { code: 'key-mismatch' as const, message: 'private key does not match the certificate' };

for (const tc of [
  {
    name: 'valid for a year is ok',
    row: { missing: false, problems: [], notBefore: at(-1), notAfter: at(365) },
    want: 'ok',
  },
  {
    name: 'inside the warning window is expiring',
    row: { missing: false, problems: [], notBefore: at(-300), notAfter: at(29) },
    want: 'expiring',
  },
  {
    name: 'exactly at the window edge is expiring',
    row: { missing: false, problems: [], notBefore: at(-300), notAfter: at(30) },
    want: 'expiring',
  },
  {
    name: 'expiring exactly now is not yet expired (Go After)',
    row: { missing: false, problems: [], notBefore: at(-300), notAfter: at(0) },
    want: 'expiring',
  },
  {
    name: 'past notAfter is expired',
    row: { missing: false, problems: [], notBefore: at(-400), notAfter: at(-1) },
    want: 'expired',
  },
  {
    name: 'before notBefore is not yet valid',
    row: { missing: false, problems: [], notBefore: at(1), notAfter: at(365) },
    want: 'not-yet-valid',
  },
  { name: 'a missing file is missing', row: { missing: true, problems: [] }, want: 'missing' },
  {
    name: 'a missing file kubeadm does not write on every node is absent',
    row: { missing: true, absenceExpected: true, problems: [] },
    want: 'absent',
  },
  {
    name: 'a present file kubeadm does not write on every node is judged by its dates',
    row: { missing: false, absenceExpected: true, problems: [], notBefore: at(-1), notAfter: at(29) },
    want: 'expiring',
  },
  {
    name: 'a problem makes it invalid even when dates are fine',
    row: { missing: false, problems: [bad], notBefore: at(-1), notAfter: at(365) },
    want: 'invalid',
  },
  {
    name: 'a problem on an expired certificate still reads invalid',
    row: { missing: false, problems: [bad], notAfter: at(-5) },
    want: 'invalid',
  },
]) {
  test(`rowStatus: ${tc.name}`, () => assert.equal(rowStatus(tc.row, NOW, WARN), tc.want));
}

for (const tc of [
  { name: 'all ok', in: ['ok', 'ok'], want: 'ok' },
  { name: 'nothing at all is ok', in: [], want: 'ok' },
  { name: 'expiring', in: ['ok', 'expiring'], want: 'expiring' },
  { name: 'expired reads expiring', in: ['expired', 'ok'], want: 'expiring' },
  { name: 'missing is a problem', in: ['ok', 'missing'], want: 'problem' },
  { name: 'a problem wins over expiry', in: ['expired', 'invalid'], want: 'problem' },
  { name: 'not yet valid is a problem', in: ['not-yet-valid'], want: 'problem' },
  { name: 'absent where kubeadm does not write it is ok', in: ['ok', 'absent'], want: 'ok' },
  { name: 'absent does not hide expiry', in: ['absent', 'expiring'], want: 'expiring' },
] satisfies { name: string; in: RowStatus[]; want: CheckVerdict }[]) {
  test(`checkVerdict: ${tc.name}`, () => assert.equal(checkVerdict(tc.in), tc.want));
}

for (const tc of [
  { name: 'ok', status: 'ok' as const, problems: [], want: 'ok' },
  { name: 'expired shouts', status: 'expired' as const, problems: [], want: 'EXPIRED' },
  {
    name: 'invalid shows the problem',
    status: 'invalid' as const,
    problems: [bad],
    want: 'private key does not match the certificate',
  },
  {
    name: 'invalid counts further problems',
    status: 'invalid' as const,
    problems: [bad, bad],
    want: 'private key does not match the certificate (+1 more)',
  },
  {
    name: 'absent says why and how to make one',
    status: 'absent' as const,
    problems: [],
    absence: {
      reason: 'kubeadm writes it only on the node where kubeadm init ran',
      hint: 'kubeadm kubeconfig user',
    },
    want: 'absent: kubeadm writes it only on the node where kubeadm init ran; to make one: kubeadm kubeconfig user',
  },
]) {
  test(`statusText: ${tc.name}`, () =>
    assert.equal(statusText(tc.status, tc.problems, 'absence' in tc ? tc.absence : undefined), tc.want));
}

for (const tc of [
  { name: 'one year from now when the CA lives longer', caDays: 3000, want: { days: 365, capped: false } },
  { name: 'capped at the CA notAfter', caDays: 100, want: { days: 100, capped: true } },
]) {
  test(`renewedNotAfter: ${tc.name}`, () => {
    const r = renewedNotAfter(NOW, 365 * DAY * 1000, at(tc.caDays));
    assert.deepEqual(
      { days: (r.notAfter.getTime() - NOW.getTime()) / (DAY * 1000), capped: r.cappedByCa },
      tc.want,
    );
  });
}

for (const tc of [
  { name: 'a CA that lives on does not block', caSeconds: 3000 * DAY, validity: 365 * DAY, want: undefined },
  {
    name: 'a CA that caps the validity at two days does not block',
    caSeconds: 2 * DAY,
    validity: 365 * DAY,
    want: undefined,
  },
  { name: 'a CA that expired blocks', caSeconds: -10 * 365 * DAY, validity: 365 * DAY, want: 'ca-expired' },
  { name: 'a CA expiring this very second blocks', caSeconds: 0, validity: 365 * DAY, want: 'ca-expired' },
  {
    name: 'a CA that would leave less than a day blocks',
    caSeconds: 23 * HOUR,
    validity: 365 * DAY,
    want: 'ca-within-a-day',
  },
  { name: 'exactly a day left is enough', caSeconds: DAY, validity: 365 * DAY, want: undefined },
  {
    name: "a short validity the user asked for is not the CA's doing",
    caSeconds: 3000 * DAY,
    validity: HOUR,
    want: undefined,
  },
]) {
  test(`renewalBlockedByCa: ${tc.name}`, () =>
    assert.equal(
      renewalBlockedByCa(NOW, tc.validity * 1000, new Date(NOW.getTime() + tc.caSeconds * 1000)),
      tc.want,
    ));
}
