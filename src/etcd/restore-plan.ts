// What a restore of an HA control plane takes, member by member, written out for the admin.
// Pure: text from the restore's parameters. kubeadm runs etcd as a static pod, so the steps move
// manifests out of /etc/kubernetes/manifests to stop the API servers and etcd, restore every
// member from the same snapshot with the same --initial-cluster, and point etcd at the new dir.

/** One member of --initial-cluster. */
export interface InitialMember {
  name: string;
  peerUrls: string[];
}

/** Parses `name=url,name=url` as etcd's --initial-cluster (http, https, unix, unixs URLs); null when malformed. */
export function parseInitialCluster(text: string): InitialMember[] | null {
  const byName = new Map<string, string[]>();
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) return null;
    const name = part.slice(0, eq).trim();
    const url = part.slice(eq + 1).trim();
    if (!/^(https?|unixs?):\/\/[^\s/]+/.test(url)) return null;
    byName.set(name, [...(byName.get(name) ?? []), url]);
  }
  return [...byName.entries()].map(([name, peerUrls]) => ({ name, peerUrls }));
}

/** Parameters of the plan. */
export interface HaPlanInput {
  file: string;
  dataDir: string;
  members: InitialMember[];
  initialCluster: string;
  initialClusterToken: string;
}

/** The per-member steps, as lines to print; empty for a single-member cluster. */
export function haRestoreSteps(p: HaPlanInput): string[] {
  if (p.members.length < 2) return [];
  const lines = [
    `This snapshot restores a ${p.members.length}-member etcd cluster. On every control-plane node, in this order:`,
    '  1. Stop the API server and etcd (kubeadm static pods): move kube-apiserver.yaml and etcd.yaml out of /etc/kubernetes/manifests/.',
    `  2. Copy ${p.file} to the node (the same file on every member).`,
    '  3. Restore that member:',
  ];
  for (const m of p.members) {
    lines.push(
      `       on ${m.name}: bosun restore ${p.file} --data-dir ${p.dataDir} --name ${m.name} --initial-cluster ${p.initialCluster} --initial-advertise-peer-urls ${m.peerUrls.join(',')} --initial-cluster-token ${p.initialClusterToken}`,
    );
  }
  lines.push(
    `  4. Point etcd.yaml's etcd-data hostPath (and --data-dir) at ${p.dataDir}, then move etcd.yaml back on every member and wait until \`etcdctl endpoint health --cluster\` is healthy.`,
    '  5. Move kube-apiserver.yaml back; then restart kube-controller-manager, kube-scheduler and the kubelets so they drop cached state.',
  );
  return lines;
}
