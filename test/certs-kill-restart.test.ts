// Kill-anywhere for `bosun certs renew`, part 2 (issue 18): SIGKILL during the kubeadm-style restart
// of kube-apiserver and etcd, with each manifest moved out and moved back, while it waits for the
// servers, and at the end. See support/certs-kill.ts.
import { join } from 'node:path';
import { describeKillAnywhere } from './support/certs-kill.ts';

describeKillAnywhere(
  'certs renew killed while it restarts the static pods, then run again',
  [
    {
      name: 'with kube-apiserver.yaml moved out',
      file: /^kube-apiserver\.yaml$/,
      dirs: (e) => [join(e, 'tmp/bosun-restart')],
    },
    { name: 'with kube-apiserver.yaml moved back', line: /kube-apiserver-cp-1: manifest moved back/ },
    { name: 'with etcd.yaml moved out', file: /^etcd\.yaml$/, dirs: (e) => [join(e, 'tmp/bosun-restart')] },
    { name: 'with etcd.yaml moved back', line: /etcd-cp-1: manifest moved back/ },
    { name: 'while it waits for the servers', line: /etcd-cp-1: Ready/ },
    { name: 'at the end', line: /^Certificates renewed and served/ },
  ],
  {
    description: 'a manifest out of manifests/',
    pattern: /^tmp\/bosun-restart\/(etcd|kube-apiserver)\.yaml$/,
  },
);
