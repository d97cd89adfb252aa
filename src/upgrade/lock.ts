// The cluster lock as an upgrade takes it: exclusively (no reboot, no certificate restart, no other
// upgrade beside it), for operation "upgrade", renewed in the background until the rollout ends. A
// second apply either fails at once saying who holds the lock and since when, or, asked to wait,
// waits until the lock is free (a holder that died is taken over once its entry expires). An
// upgrade's entry names its machine and process ("alice@ops-1 (bosun upgrade apply) pid 4242/3f9a1c"):
// one left by a process of this very machine that is gone (killed, crashed) is released at once
// instead of waited out. A pid that is in use again only makes bosun wait for the entry to expire.
import { LockHeldError, describeHolder, type ClusterLock } from '../lock/index.ts';
import { BosunError } from '../common/errors.ts';
import type { Clock } from '../common/ports.ts';
import type { LockHandle, UpgradeLock } from './apply.ts';

const HELD = 'another bosun operation holds the cluster lock';

/** The operation an upgrade's lock entry names. */
export const UPGRADE_OPERATION = 'upgrade';

/** The process an upgrade's lock identity names, on which machine; undefined for other identities. */
export function upgradeProcessOf(identity: string): { host: string; pid: number } | undefined {
  const m = /^[^@\s]*@(\S+) \(bosun upgrade apply\) pid (\d+)\//.exec(identity);
  return m ? { host: m[1] ?? '', pid: Number(m[2]) } : undefined;
}

/** The UpgradeLock on bosun's cluster lock. */
export function clusterUpgradeLock(
  lock: ClusterLock,
  o: {
    identity: string;
    ttlSeconds: number;
    clock: Clock;
    /** This machine's name, as identities name it. */
    host: string;
    /** Whether a process of this machine still runs. */
    processAlive: (pid: number) => boolean;
  },
): UpgradeLock {
  const reaped: string[] = [];
  /** Releases the entries of upgrades whose process on this machine is gone. */
  const reapDead = async (): Promise<void> => {
    const d = await lock.describe();
    for (const h of d.holders) {
      const p = upgradeProcessOf(h.identity);
      if (h.identity === o.identity || h.state !== 'live' || !p || p.host !== o.host || o.processAlive(p.pid))
        continue;
      if (await lock.release(h.identity)) reaped.push(`${h.text}, its process ${p.pid} on ${p.host} is gone`);
    }
  };
  const req = {
    identity: o.identity,
    mode: 'exclusive' as const,
    operation: UPGRADE_OPERATION,
    ttlSeconds: o.ttlSeconds,
  };
  return {
    async check() {
      await reapDead();
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
      await reapDead();
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
        takenOver: [
          ...reaped.splice(0),
          ...got.takenOver.map((t) => `${describeHolder(t.holder, now)}, ${t.state}`),
        ],
        release: () => hold.release(),
      };
    },
  };
}
