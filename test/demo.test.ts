// `bosun demo` as the README runs it (smaller, to keep the suite fast): every chapter runs, the
// sandbox goes away afterwards, and no process is left behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { bosun, processesMentioning } from './support/cli.ts';

test('bosun demo runs the whole story on a sandbox and cleans up after itself', async () => {
  const r = await bosun(['demo', '--control-planes', '1', '--workers', '4'], { timeoutMs: 300_000 });
  assert.equal(r.code, 0, r.stderr.slice(-3000));
  const dir = /Starting a sandbox cluster .* in (\S+)/.exec(r.stderr)?.[1];
  assert.ok(dir, r.stderr);
  for (const heading of [
    /^== 1\. The cluster =+$/m,
    /^== 2\. Save game: back up etcd first =+$/m,
    /^== 3\. Node maintenance: cordon, drain, reboot, uncordon =+$/m,
    /^== 4\. Certificates: checked, renewed, and the renewed ones served =+$/m,
    /^== 5\. Upgrade: one minor, in Version Skew Policy order =+$/m,
    /^== 6\. Rolling reboots: the bosun agent =+$/m,
  ]) {
    assert.match(r.stdout, heading);
  }
  // The overview: nodes and the workloads with their budgets.
  assert.match(r.stdout, /^ +NODE +ROLE +VERSION +READY +SCHEDULABLE$/m);
  assert.match(r.stdout, /^ +data +StatefulSet +postgres +3\/3 +postgres \(maxUnavailable=0, allows 0\)$/m);
  // The PDB-blocked drain is predicted and stops before the cordon; another node is maintained.
  assert.match(r.stdout, /pdb-never-allows: PodDisruptionBudget data\/postgres \(maxUnavailable: 0\)/);
  assert.match(r.stdout, /the node was not cordoned/);
  assert.match(r.stdout, /^ +node\/worker-\d maintained$/m);
  assert.match(r.stdout, /boot ID \S+ -> \S+, Ready, schedulable again\./);
  // The agent as a user installs it: bosun's chart with the real helm, one Ready pod per node.
  assert.match(
    r.stdout,
    /^ +\$ helm install bosun .*deploy\/helm\/bosun -n bosun-system --create-namespace --wait /m,
  );
  assert.match(
    r.stdout,
    /^ +5 agent pods Ready \(bosun-system\), on cp-1, worker-1, worker-2, worker-3, worker-4$/m,
  );
  // The rolling reboot: one node held back by its backup pod, then rolled once the pod is gone.
  assert.match(r.stdout, /^ +\S+s +worker-\d +blocked: a pod matching demo\.bosun\.dev\/hold=reboot/m);
  assert.match(r.stdout, /^ +\S+s +worker-\d +rebooting$/m);
  assert.match(r.stdout, /^ +NODE +REQUIRED +STATE +SINCE +BLOCKED BY +LOCK$/m);
  // bosun reboot status runs once the two other nodes rolled, while the held one is blocked.
  const status = r.stdout.indexOf('$ bosun reboot status');
  assert.equal([...r.stdout.slice(0, status).matchAll(/^ +\S+s +worker-\d +rebooting$/gm)].length, 2);
  assert.match(
    r.stdout.slice(status),
    /^ +worker-\d +yes +blocked +\S+ +a pod matching demo\.bosun\.dev\/hold=reboot/m,
  );
  assert.match(r.stdout, /rebooted once, healthy and schedulable again/);
  // The upgrade: the next minor planned, applied with its progress, every kubelet at it after.
  assert.match(r.stdout, /^ +\$ bosun upgrade apply --to v1\.35\.2 --on-node --yes/m);
  assert.match(r.stdout, /^ +upgrade to v1\.35\.2 succeeded: \d+ steps run/m);
  assert.match(r.stdout, /^ +kubelet +worker-4 +v1\.35\.2$/m);
  // The sandbox is gone.
  assert.equal(existsSync(dir), false);
  assert.deepEqual(processesMentioning(dir), []);
});
