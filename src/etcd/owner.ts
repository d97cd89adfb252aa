// Who made a temporary file or directory (a backup's `.part`, a restore's staging directory, a
// trial restore's etcd directory), written into its name, and whether it is left over from a run
// that was killed. Node has no lock that the kernel drops when its holder dies (no flock), so the
// name records the owner instead: its pid, the process's start time (so a reused pid is not taken
// for the owner) and where that pid means something, this boot and pid namespace (so a name
// written on another machine sharing the directory, in another container, or before a reboot is
// not judged by this process table). Pure: the caller reads the process table and the file's
// modification time. It never calls a running owner's file stale.

/** The process that owns a temporary file. */
export interface Owner {
  pid: number;
  /** When the process started, in clock ticks since boot (field 22 of /proc/PID/stat). */
  startTicks: number;
  /** 12 hex digits naming the boot and pid namespace the pid belongs to (proc-table.ts). */
  boot: string;
}

/** What bosun asks the process table (the real one reads /proc: proc-table.ts). */
export interface ProcessTable {
  /** This process. */
  self(): Owner;
  /** True when the process `o.pid` runs and started at `o.startTicks` (in this boot and pid namespace). */
  isRunning(o: Owner): boolean;
}

/**
 * A temporary file whose owner cannot be checked from here (written by an older bosun that did
 * not record its owner, by another machine or container sharing the directory, or before a
 * reboot) is left
 * over once nothing wrote to it for this long. A running backup writes its file continuously and
 * renames it as soon as it is verified.
 */
export const UNKNOWN_OWNER_IDLE_MS = 60 * 60_000;

const TAG_RE = /^([0-9a-f]{12})-(\d+)-(\d+)-([0-9a-f]{12})$/;
/** The tag of bosun before owners were recorded: 12 random hex digits. */
const LEGACY_TAG_RE = /^[0-9a-f]{12}$/;

/** `<random>-<pid>-<startTicks>-<boot>`: unique, and says who owns it. `random` is 12 hex digits. */
export function formatOwnerTag(owner: Owner, random: string): string {
  return `${random}-${owner.pid}-${owner.startTicks}-${owner.boot}`;
}

/** Parses a tag; `owner` is null for the legacy form. Null when it is not a tag bosun writes. */
export function parseOwnerTag(tag: string): { owner: Owner | null } | null {
  const m = TAG_RE.exec(tag);
  if (m) return { owner: { pid: Number(m[2]), startTicks: Number(m[3]), boot: m[4] ?? '' } };
  return LEGACY_TAG_RE.test(tag) ? { owner: null } : null;
}

/** Whether a temporary file is left over, and why in words. */
export interface LeftoverVerdict {
  /** `live`: its owner runs (or may run); `stale`: left over by a run that ended. */
  state: 'live' | 'stale';
  why: string;
}

/** Decides whether a temporary file with this owner, not modified for `idleMs`, is left over. */
export function judgeLeftover(
  owner: Owner | null,
  idleMs: number,
  self: Owner,
  isRunning: (o: Owner) => boolean,
): LeftoverVerdict {
  if (owner !== null && owner.boot === self.boot) {
    if (owner.pid === self.pid && owner.startTicks === self.startTicks)
      return { state: 'live', why: 'this process' };
    return isRunning(owner)
      ? { state: 'live', why: `bosun (pid ${owner.pid}) is still running` }
      : { state: 'stale', why: `bosun (pid ${owner.pid}) is gone` };
  }
  const whose = owner === null ? 'an older bosun' : 'another machine, container or boot';
  const minutes = Math.floor(idleMs / 60_000);
  return idleMs >= UNKNOWN_OWNER_IDLE_MS
    ? { state: 'stale', why: `written by ${whose}, untouched for ${minutes} min` }
    : { state: 'live', why: `written by ${whose} ${minutes} min ago; it may still be running` };
}
