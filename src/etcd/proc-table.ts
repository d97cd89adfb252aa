// The real process table of owner.ts, read from Linux's /proc: a process's start time (field 22
// of /proc/PID/stat, clock ticks since boot), and where pids mean something: this boot (the
// kernel's boot id) and this pid namespace (a bosun in a container sees other pids than one on the
// host, though both share the boot id and may share a backup directory). Where /proc does not
// show a process (hidepid, no /proc), a pid that answers signal 0 counts as running (a reused pid
// then keeps a leftover alive, never the other way round).
import { createHash } from 'node:crypto';
import { readFileSync, readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import type { Owner, ProcessTable } from './owner.ts';

/**
 * Start time of a process in clock ticks since boot; 'gone' when it has exited (a zombie);
 * 'unseen' when /proc does not show it (it exited, /proc is mounted with hidepid, or there is no
 * /proc): the caller then asks the kernel.
 */
export function processStartTicks(pid: number): number | 'gone' | 'unseen' {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return 'unseen';
  }
  // The command name (field 2) is in parentheses and may hold spaces and parentheses itself.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); the start time is field 22.
  if (fields[0] === 'Z' || fields[0] === 'X') return 'gone';
  const start = Number(fields[19]);
  return Number.isSafeInteger(start) ? start : 'unseen';
}

/** 12 hex digits naming this boot and pid namespace (Owner.boot). */
function pidSpace(): string {
  let boot: string;
  try {
    boot = readFileSync('/proc/sys/kernel/random/boot_id', 'latin1').trim();
  } catch {
    // not Linux: the host name stands in (pids are then checked as if on every boot)
    boot = hostname();
  }
  let ns = '';
  try {
    ns = readlinkSync('/proc/self/ns/pid');
  } catch {
    // no pid namespaces
  }
  return createHash('sha256').update(`${boot}\n${ns}`).digest('hex').slice(0, 12);
}

let selfOwner: Owner | null = null;

/** The process table of this machine. */
export const procTable: ProcessTable = {
  self() {
    if (selfOwner === null) {
      const start = processStartTicks(process.pid);
      selfOwner = { pid: process.pid, startTicks: typeof start === 'number' ? start : 0, boot: pidSpace() };
    }
    return selfOwner;
  },
  isRunning(o) {
    const start = processStartTicks(o.pid);
    if (typeof start === 'number') return start === o.startTicks;
    if (start === 'gone') return false;
    // Not shown: signal 0 tells a process that exists (EPERM: another user's) from none (ESRCH).
    try {
      process.kill(o.pid, 0);
      return true;
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'EPERM';
    }
  },
};
