// The lines `bosun certs renew` prints for the certs feature's events, and their streams. The
// feature's own tests (certs/restart.test.ts) check which events it reports; these check the words.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CertsEvent } from '../../certs/index.ts';
import { describeEvent } from './certs-progress.ts';

const NOT_AFTER = new Date(Date.UTC(2026, 0, 2, 3, 4));

const CASES: { name: string; event: CertsEvent; lines: { stream: 'out' | 'err'; text: string }[] }[] = [
  {
    name: 'a renewal: each file renewed (stdout), a CA-capped one warned of (stderr), the skipped, the backup',
    event: {
      type: 'renewed',
      result: {
        renewed: [
          { name: 'apiserver', files: ['a.crt', 'a.key'], notAfter: NOT_AFTER, cappedByCa: false },
          { name: 'admin.conf', files: ['admin.conf'], notAfter: NOT_AFTER, cappedByCa: true },
        ],
        skipped: [
          {
            name: 'super-admin.conf',
            path: '/etc/kubernetes/super-admin.conf',
            reason: 'kubeadm writes it only on the node where kubeadm init ran',
          },
        ],
        backupDir: '/etc/kubernetes/tmp/bosun-renew-1',
        components: [],
      },
    },
    lines: [
      { stream: 'out', text: 'apiserver renewed (expires Jan 02, 2026 03:04 UTC)' },
      { stream: 'out', text: 'admin.conf renewed (expires Jan 02, 2026 03:04 UTC)' },
      {
        stream: 'err',
        text: 'WARNING: admin.conf expires with its CA, before the requested validity; renew the CA in time',
      },
      {
        stream: 'out',
        text: 'super-admin.conf skipped: /etc/kubernetes/super-admin.conf does not exist; kubeadm writes it only on the node where kubeadm init ran',
      },
      { stream: 'out', text: 'previous files saved in /etc/kubernetes/tmp/bosun-renew-1' },
    ],
  },
  {
    name: 'a restart step: moving the manifest out',
    event: {
      type: 'restart',
      pod: 'etcd-cp-1',
      component: 'etcd',
      step: 'moving-out',
      manifestsDir: '/etc/kubernetes/manifests',
    },
    lines: [
      { stream: 'err', text: '[restart] etcd-cp-1: moving etcd.yaml out of /etc/kubernetes/manifests' },
    ],
  },
  {
    name: 'a restart step: the manifest moved back',
    event: { type: 'restart', pod: 'etcd-cp-1', component: 'etcd', step: 'moved-back', manifestsDir: '' },
    lines: [{ stream: 'err', text: '[restart] etcd-cp-1: manifest moved back' }],
  },
  {
    name: 'a restart step: Ready',
    event: { type: 'restart', pod: 'etcd-cp-1', component: 'etcd', step: 'ready', manifestsDir: '' },
    lines: [{ stream: 'err', text: '[restart] etcd-cp-1: Ready' }],
  },
  {
    name: 'a wait',
    event: { type: 'waiting', what: 'the API server' },
    lines: [{ stream: 'err', text: '[restart] waiting for the API server' }],
  },
  {
    name: 'a warning',
    event: { type: 'warning', message: 'single-member etcd: the API is unavailable while it restarts' },
    lines: [{ stream: 'err', text: 'WARNING: single-member etcd: the API is unavailable while it restarts' }],
  },
  {
    name: 'a leftover recovered',
    event: { type: 'recovered', message: 'put kube-scheduler.yaml back' },
    lines: [{ stream: 'err', text: 'put kube-scheduler.yaml back' }],
  },
];

for (const c of CASES) {
  test(`certs progress: ${c.name}`, () => {
    assert.deepEqual(describeEvent(c.event), c.lines);
  });
}
