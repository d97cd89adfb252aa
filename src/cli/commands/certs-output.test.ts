// The certs printers and exit codes on rows made by hand: kubeadm's tabwriter layout on top of the
// one table writer, and what --served says and exits with when a renewed certificate is not served
// yet (before the CLI boundary, certs/live.ts printed and threw this itself).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { CheckedRow, ServedRow } from '../../certs/index.ts';
import {
  CHECK_EXIT,
  checkFailure,
  expirationInfo,
  formatCheckTable,
  formatPrometheus,
  formatServedTable,
  kubeadmTable,
  servedDocument,
  servedFailure,
} from './certs-output.ts';

for (const tc of [
  {
    name: 'narrow columns are padded to kubeadm tabwriter minwidth of 10',
    lines: [
      ['A', 'BB', 'C'],
      ['dd', 'e', 'last'],
    ],
    want: ['A         BB        C', 'dd        e         last'],
  },
  {
    name: 'a wide column is its widest cell plus three',
    lines: [
      ['CERTIFICATE AUTHORITY', 'X'],
      ['ca', 'yes'],
    ],
    want: ['CERTIFICATE AUTHORITY   X', 'ca                      yes'],
  },
  { name: 'no lines, no output', lines: [], want: [] },
]) {
  test(`kubeadmTable: ${tc.name}`, () => assert.deepEqual(kubeadmTable(tc.lines), tc.want));
}

const now = new Date(Date.UTC(2026, 0, 1));
const facts = {
  notBefore: new Date(Date.UTC(2025, 0, 1)),
  notAfter: new Date(Date.UTC(2026, 11, 1)),
  subject: 'CN = kube-apiserver',
  issuer: 'CN = kubernetes',
  dnsNames: [],
  ipAddresses: [],
  serialNumber: '01',
  sha256: 'aa',
  keyType: undefined,
  isCA: false,
};

test('--served after a renewal without a restart: the stale row says so, one error line, exit 1', () => {
  const rows: ServedRow[] = [
    {
      node: 'cp-1',
      component: 'kube-apiserver',
      endpoint: '127.0.0.1:6443',
      facts,
      onDisk: 'different',
      diskPath: '/etc/kubernetes/pki/apiserver.crt',
      signedByCa: true,
      error: undefined,
      status: 'stale',
    },
    {
      node: 'cp-1',
      component: 'kubelet',
      endpoint: '127.0.0.1:10250',
      facts,
      onDisk: 'same',
      diskPath: '/var/lib/kubelet/pki/kubelet.crt',
      signedByCa: undefined,
      error: undefined,
      status: 'ok',
    },
  ];
  const lines = formatServedTable(rows, now);
  assert.match(lines[0] ?? '', /^NODE +COMPONENT +ENDPOINT +EXPIRES +RESIDUAL TIME +SAME AS DISK +STATUS$/);
  assert.match(
    lines.find((l) => l.startsWith('cp-1') && l.includes('kube-apiserver')) ?? '',
    / NO +serves an older certificate than the one on disk \(restart pending\)$/,
  );
  const e = servedFailure(rows);
  assert.equal(e?.exitCode, 1);
  assert.equal(
    e?.message,
    '1 served certificate needs attention: kube-apiserver on cp-1 (older than on disk)',
  );
});

test('--served with nothing found: exit 1 and a hint about the kubeconfig', () => {
  const e = servedFailure([]);
  assert.equal(e?.exitCode, 1);
  assert.match(e?.message ?? '', /^no endpoints found/);
  assert.match(e?.hint ?? '', /--kubeconfig/);
});

test('--served: what was not checked is a row that says why, and a field of the document', () => {
  const notChecked = [
    {
      node: 'cp-1',
      component: 'kube-apiserver' as const,
      reason: 'no mirror pod kube-system/kube-apiserver-cp-1: it does not run as a static pod there',
    },
  ];
  const lines = formatServedTable([], now, {}, notChecked);
  assert.equal(lines.length, 2);
  assert.match(
    lines[1] ?? '',
    /^cp-1 +kube-apiserver +- +not checked: no mirror pod kube-system\/kube-apiserver-cp-1: it does not run as a static pod there$/,
  );
  assert.deepEqual(servedDocument([], now, notChecked)['notChecked'], notChecked);
});

test('an absent super-admin.conf: a plain row saying why, an absence field in the document, no gauge, exit 0', () => {
  const absence = {
    reason: 'kubeadm writes it only on the node where kubeadm init ran',
    hint: 'kubeadm kubeconfig user --client-name=kubernetes-super-admin --org=system:masters',
  };
  const head = { group: 'certificate' as const, source: 'kubeconfig' as const, caName: 'ca' };
  const rows: CheckedRow[] = [
    {
      ...head,
      name: 'admin.conf',
      path: '/etc/kubernetes/admin.conf',
      externallyManaged: false,
      missing: false,
      facts,
      problems: [],
      status: 'ok',
    },
    {
      ...head,
      name: 'super-admin.conf',
      path: '/etc/kubernetes/super-admin.conf',
      externallyManaged: false,
      missing: true,
      absence,
      facts: undefined,
      problems: [],
      status: 'absent',
    },
  ];
  const table = formatCheckTable(rows, now);
  const line = table[2] ?? '';
  assert.match(line, /^super-admin\.conf +absent: /, 'no !MISSING!, empty date and CA cells');
  assert.equal(line.indexOf('absent: '), table[0]?.indexOf('STATUS'), 'in the STATUS column');
  assert.ok(line.endsWith(`absent: ${absence.reason}; to make one: ${absence.hint}`));
  const doc = expirationInfo(rows, now);
  assert.deepEqual(doc.certificates[1], {
    name: 'super-admin.conf',
    expirationDate: null,
    residualTime: 0,
    externallyManaged: false,
    missing: true,
    status: 'absent',
    path: '/etc/kubernetes/super-admin.conf',
    absence,
    problems: [],
  });
  assert.equal('absence' in (doc.certificates[0] ?? {}), false, 'omitted where there is none');
  assert.deepEqual(
    formatPrometheus(rows, now).filter((l) => l.startsWith('bosun_certificate_ok{')),
    [
      'bosun_certificate_ok{name="admin.conf",group="certificate",ca="ca",path="/etc/kubernetes/admin.conf",status="ok"} 1',
    ],
  );
  assert.equal(checkFailure(rows, 30 * 86_400_000), undefined);
});

test('certs check exit codes: 0 ok, 1 a problem, 3 expired or expiring (2 is a usage error)', () => {
  assert.deepEqual(CHECK_EXIT, { ok: 0, problem: 1, expiring: 3 });
});
