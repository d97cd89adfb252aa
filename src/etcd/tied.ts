// Runs a program that must not outlive bosun (the trial restore's etcd, etcdctl writing a restore):
// through a small watchdog, `node -e WATCHDOG SPEC`, that starts the program, forwards SIGTERM,
// SIGINT and SIGHUP to it, exits with its status, and SIGKILLs it as soon as bosun is gone, even
// after a SIGKILL of bosun, which no handler in bosun can see. Linux's prctl(PR_SET_PDEATHSIG) is
// not available to Node, so the watchdog notices the death itself, in one of two ways:
//  - `stdin`: bosun holds the write end of the watchdog's stdin; the kernel closes it when bosun
//    dies, and the watchdog reads end-of-file at once. Used where bosun spawns the watchdog itself.
//  - `parent`: the watchdog checks ten times a second whether its parent changed (an orphan is
//    adopted by init or a subreaper), and before it starts the program. Used through the Exec
//    port, which closes stdin at once.
// The watchdog is plain CommonJS in a string, so it runs the same from the sources and the bundle.

/** How the watchdog learns that bosun is gone. */
export type TiedWatch = 'stdin' | 'parent';

/** The program to run tied to bosun. */
export interface TiedSpec {
  cmd: string;
  args: readonly string[];
  /** Working directory of the program. */
  cwd?: string;
  watch: TiedWatch;
  /** bosun's pid: with `parent`, the watchdog also stops the program when bosun died before it looked. */
  parentPid: number;
}

/** Exit status of the watchdog when the program could not be started (as a shell's 127). */
export const TIED_NOT_STARTED = 127;

const WATCHDOG = `'use strict';
const { spawn } = require('node:child_process');
const { constants } = require('node:os');
const spec = JSON.parse(process.argv[1]);
let child = null;
const stop = (sig) => {
  if (child !== null && child.exitCode === null && child.signalCode === null) child.kill(sig);
};
const orphaned = () => stop('SIGKILL');
if (spec.watch === 'stdin') {
  process.stdin.on('data', () => undefined);
  process.stdin.on('end', orphaned);
  process.stdin.on('error', orphaned);
}
const parentGone = () => process.ppid !== spec.parentPid;
setInterval(() => {
  if (parentGone()) orphaned();
}, 100);
for (const s of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(s, () => stop(s));
if (parentGone()) process.exit(${TIED_NOT_STARTED});
child = spawn(spec.cmd, spec.args, { stdio: ['ignore', 'inherit', 'inherit'], cwd: spec.cwd });
child.on('error', (e) => {
  process.stderr.write('bosun watchdog: cannot run ' + spec.cmd + ': ' + (e.code || e.message) + '\\n');
  process.exit(${TIED_NOT_STARTED});
});
child.on('exit', (code, signal) => process.exit(code ?? 128 + (constants.signals[signal] ?? 9)));
`;

/** The arguments for `node` (process.execPath) that run `spec` under the watchdog. */
export function tiedNodeArgs(spec: TiedSpec): string[] {
  return ['-e', WATCHDOG, JSON.stringify({ ...spec, args: [...spec.args] })];
}
