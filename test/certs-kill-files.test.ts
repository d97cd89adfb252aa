// Kill-anywhere for `bosun certs renew`, part 1 (issue 18): SIGKILL while the files are renewed,
// from the first instant to the end of the renewal, before any restart. See support/certs-kill.ts.
import { join } from 'node:path';
import { describeKillAnywhere } from './support/certs-kill.ts';

describeKillAnywhere(
  'certs renew killed while it renews the files, then run again',
  [
    { name: 'at once', at: 'start' },
    { name: 'once the lock is taken', file: /^\.bosun-certs-renew\.lock$/, dirs: (e) => [e] },
    { name: 'while the backup is written', file: /\.part$/, dirs: (e) => [join(e, 'tmp')] },
    {
      name: 'while the new files are written',
      file: /\.tmp$/,
      dirs: (e) => [join(e, 'pki'), join(e, 'pki/etcd')],
    },
    { name: 'after the renewal, before the restart', line: /^etcd-server renewed/ },
  ],
  { description: 'their lock behind', pattern: /^\.bosun-certs-renew\.lock$/ },
);
