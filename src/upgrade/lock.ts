// The cluster lock as an upgrade takes it: exclusively (no reboot, no certificate restart, no other
// upgrade beside it), for operation "upgrade", renewed in the background until the rollout ends. A
// second apply either fails at once saying who holds the lock and since when, or, asked to wait,
// waits until the lock is free (a holder that died is taken over once its entry expires).
import { LockHeldError, describeHolder, type ClusterLock } from '../lock/index.ts';
import { BosunError } from '../common/errors.ts';
import type { Clock } from '../common/ports.ts';
import type { LockHandle, UpgradeLock } from './apply.ts';

const HELD = 'another bosun operation holds the cluster lock';

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
    async check() {
      const d = await lock.describe();
      const live = d.holders.filter((h) => h.state === 'live' && h.identity !== o.identity);
      if (live.length === 0) return;
      const exclusive = live.filter((h) => h.mode === 'exclusive');
      const reason =
        exclusive.length > 0
          ? `the lock is held exclusively by ${exclusive.map((h) => h.text).join(', ')}`
          : `the lock is held (shared) by ${live.map((h) => h.text).join(', ')}; an exclusive holder waits for all of them`;
      throw new BosunError(`${HELD}: ${reason}`, 'PRECONDITION', {
        hint: 'Wait until it is released, or, if its holder is gone for good, until its entry expires (bosun takes it over then); --wait-for-lock waits.',
      });
    },
    async acquire({ wait, signal, onBlocked }): Promise<LockHandle> {
      let got;
      if (wait)
        got = await lock.acquire(req, {
          ...(signal ? { signal } : {}),
          onBlocked: (b) => onBlocked?.(b.reason),
        });
      else {
        const r = await lock.tryAcquire(req);
        if (!r.acquired) throw new LockHeldError(r, HELD);
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
