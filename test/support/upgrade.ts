// What the `bosun upgrade apply` end-to-end tests read and run against a test sandbox: apply on the
// nodes' shims, the rollout journal bosun keeps in the cluster, and each node's kubelet version.
import { join } from 'node:path';
import type { RolloutJournal } from '../../src/journal/index.ts';
import type { Node } from '../../src/kube/types.ts';
import { bosunOn, type CliRun } from './drain.ts';
import type { TestSandbox } from './sandbox.ts';

/** `bosun upgrade apply --on-node --yes` with backups in the sandbox's directory, plus args. */
export function applyOnNodes(t: TestSandbox, ...args: string[]): Promise<CliRun> {
  return bosunOn(t, [
    'upgrade',
    'apply',
    '--on-node',
    '--yes',
    '--backup-dir',
    join(t.dir, 'backups'),
    ...args,
  ]);
}

/** The rollout journal (bosun-system/bosun-upgrade). */
export async function upgradeJournal(t: TestSandbox): Promise<RolloutJournal> {
  const cm = await t.kubectlJson<{ data: Record<string, string> }>([
    'get',
    'configmap',
    '-n',
    'bosun-system',
    'bosun-upgrade',
  ]);
  return JSON.parse(cm.data['journal.json'] ?? '') as RolloutJournal;
}

/** Each node's status.nodeInfo.kubeletVersion, by name. */
export async function kubeletVersions(t: TestSandbox): Promise<Record<string, string>> {
  return Object.fromEntries(
    (await t.kubectlJson<{ items: Node[] }>(['get', 'nodes'])).items.map((n) => [
      n.metadata.name ?? '',
      n.status?.nodeInfo?.kubeletVersion ?? '',
    ]),
  );
}
