// The cluster lock as an upgrade takes it: exclusively (no reboot, no certificate restart, no other
// upgrade beside it), for operation "upgrade", renewed in the background until the rollout ends. A
// second apply either fails at once saying who holds the lock and since when, or, asked to wait,
// waits until the lock is free (a holder that died is taken over once its entry expires).
import { LockHeldError, describeHolder, type ClusterLock } from '../lock/index.ts';
import type { Clock } from '../common/ports.ts';
import type { LockHandle, UpgradeLock } from './apply.ts';

/** The operation an upgrade's lock entry names. */
export const UPGRADE_OPERATION = 'upgrade';

/** The UpgradeLock on bosun's cluster lock. */
export function clusterUpgradeLock(
  lock: ClusterLock,
  o: { identity: string; ttlSeconds: number; clock: Clock },
): UpgradeLock {
  const req = {
    identity: o.identity,
    mode: 'exclusive' as const,
    operation: UPGRADE_OPERATION,
    ttlSeconds: o.ttlSeconds,
  };
  return {
    async acquire({ wait, signal, onBlocked }): Promise<LockHandle> {
      let got;
      if (wait)
        got = await lock.acquire(req, {
          ...(signal ? { signal } : {}),
          onBlocked: (b) => onBlocked?.(b.reason),
        });
      else {
        const r = await lock.tryAcquire(req);
        if (!r.acquired) throw new LockHeldError(r, 'another bosun operation holds the cluster lock');
        got = r;
      }
      const hold = lock.hold(got.holder);
      const now = o.clock.now();
      return {
        signal: hold.signal,
        takenOver: got.takenOver.map((t) => `${describeHolder(t.holder, now)}, ${t.state}`),
        release: () => hold.release(),
      };
    },
  };
}
