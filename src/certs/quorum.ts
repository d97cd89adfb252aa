// Whether an etcd member may be restarted now: only while the other members still form a quorum
// (more than half of all members), so the cluster keeps accepting writes. Pure: no I/O.

/** etcd may restart a member only if the others still form a quorum (more than half of all members). */
export function etcdRestartAllowed(
  members: { name: string; ready: boolean }[],
  self: string,
): { allowed: boolean; reason: string } {
  const total = members.length;
  if (total <= 1)
    return { allowed: true, reason: 'single-member etcd: the API is unavailable while it restarts' };
  const othersReady = members.filter((m) => m.name !== self && m.ready).length;
  const quorum = Math.floor(total / 2) + 1;
  if (othersReady >= quorum)
    return { allowed: true, reason: `${othersReady} of ${total} other members Ready, quorum ${quorum}` };
  return {
    allowed: false,
    reason: `only ${othersReady} of the other ${total - 1} etcd members are Ready; restarting ${self} would lose quorum (${quorum} of ${total} needed)`,
  };
}
