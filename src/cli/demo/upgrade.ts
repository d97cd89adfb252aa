// The demo's upgrade chapter (issue 16): what the cluster can move to, the plan for the next minor
// with its pre-flight (which finds the database budget that allows no eviction at all), the budget
// relaxed for the window as a DBA would agree to, then `bosun upgrade apply` carrying the plan out
// on the demo cluster with its progress, and the versions after. It runs the commands exactly as a
// user types them; the only change it makes by itself is the budget's, and it says so.
import { BosunError } from '../../common/errors.ts';
import { kubeRequest } from '../../kube/client.ts';
import { createNodePods } from '../../kube/node-pods.ts';
import { DEMO_BACKUP_DIR } from './backup.ts';
import type { DemoChapter } from './context.ts';

/** The upgrade chapter. */
export const upgradeChapter: DemoChapter = {
  title: 'Upgrade: one minor, in Version Skew Policy order',
  async run(d) {
    // The chapter before restarted the control plane: its nodes may not have reported since.
    const kube = createNodePods(d.kube);
    const deadline = d.cli.clock.now().getTime() + 120_000;
    for (;;) {
      const nodes = await kube.listNodes();
      const ready = nodes.every((n) =>
        (n.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'),
      );
      if (ready) break;
      if (d.cli.clock.now().getTime() > deadline)
        throw new BosunError("the demo cluster's nodes did not become Ready again", 'INTERNAL');
      await d.cli.clock.sleep(250, d.cli.signal);
    }
    d.say(
      'What can this cluster move to? bosun asks the release index, as kubeadm upgrade plan does (the sandbox',
    );
    d.say('has its own package repository), and shows every component with its version:');
    const available = await d.bosun(['upgrade', 'plan', '--no-certificates']);
    const next = available.out
      .map((l) => /^minor\s+(v\d+\.\d+\.\d+)\s/.exec(l)?.[1])
      .find((v) => v !== undefined);
    if (next === undefined)
      throw new BosunError('the demo cluster has no next minor to upgrade to', 'INTERNAL');
    d.say('');
    d.say(
      `The plan to ${next}: a verified etcd backup, the primary control plane, the others, then every kubelet,`,
    );
    d.say(
      'each node drained around its recipe. Before every step bosun proves the skew stays legal. Its pre-flight:',
    );
    const plan = await d.bosun(
      ['upgrade', 'plan', '--to', next, '--no-certificates', '--max-unavailable', '2'],
      {
        allowFailure: true,
      },
    );
    const blocked = plan.out.some((l) => /^drain\s+ERROR\s.*data\/postgres/.test(l));
    if (blocked) {
      d.say('');
      d.say(
        'The postgres budget allows no eviction at all, so no drain of its nodes could ever finish. For the',
      );
      d.say('upgrade window the DBA agrees to one replica at a time (the chapter patches the budget):');
      await kubeRequest(d.kube, {
        method: 'PATCH',
        path: '/apis/policy/v1/namespaces/data/poddisruptionbudgets/postgres',
        body: { spec: { maxUnavailable: 1 } },
        contentType: 'application/merge-patch+json',
      });
      d.show('$ kubectl patch pdb -n data postgres --type merge -p \'{"spec":{"maxUnavailable":1}}\'');
      d.show('poddisruptionbudget.policy/postgres patched');
    }
    d.say('');
    d.say(
      'Now carry it out. The lock is taken, the journal kept in the cluster (run it again anywhere and it',
    );
    d.say('resumes), and every step proven by what the cluster reports, never by an exit code:');
    await d.bosun([
      'upgrade',
      'apply',
      '--to',
      next,
      '--on-node',
      '--yes',
      '--max-unavailable',
      '2',
      '--force',
      '--delete-emptydir-data',
      '--backup-dir',
      DEMO_BACKUP_DIR,
      '--no-certificates',
    ]);
    d.say('');
    d.say('The versions after: every component at the new minor, nothing left to upgrade to:');
    const after = await d.bosun(['upgrade', 'plan', '--no-certificates']);
    if (!after.out.some((l) => new RegExp(`^kubelet\\s+\\S+\\s+${next.replace(/\./g, '\\.')}$`).test(l)))
      throw new BosunError(`the demo cluster does not run ${next} after the upgrade`, 'INTERNAL');
  },
};
