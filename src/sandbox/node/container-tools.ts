// The two files every process container of the sandbox uses, written once per sandbox directory:
// - bin/nsenter: the nsenter of bosun's image (util-linux). With the pod's hostPID, `nsenter -t 1
//   -m -u -i -n -p -- systemctl reboot` (or Kured's `nsenter -m/proc/1/ns/mnt -- /bin/systemctl
//   reboot`) enters the node: the command runs with the node's shims first on PATH, an absolute
//   program is looked up in the node's host directory (then by its name among the node's shims),
//   and anything else fails as nsenter would ("No such file or directory", 127). Without hostPID
//   PID 1 is the container's own, so the command runs as the container would run it.
// - watchdog.mjs, imported first by every node process: it ends the process when the sandbox that
//   started it is gone (its pipe closes), so a killed sandbox leaves no container behind.
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

const NSENTER = `// nsenter for the bosun sandbox's containers (see src/sandbox/node/container-tools.ts).
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
const SHIMS = new Set(['kubeadm', 'apt-get', 'apt-mark', 'dnf', 'yum', 'systemctl', 'reboot', 'shutdown', 'sed']);
const WITH_VALUE = new Set(['-t', '--target', '-S', '--setuid', '-G', '--setgid', '--wd']);
const args = process.argv.slice(2);
let i = 0;
let target;
for (; i < args.length; i++) {
  const a = args[i];
  if (a === '--') { i++; break; }
  if (!a.startsWith('-')) break;
  if (WITH_VALUE.has(a)) { if (a === '-t' || a === '--target') target = args[i + 1]; i++; continue; }
  if (a.startsWith('--target=')) target = a.slice(9);
  else if (/^-t\\d+$/.test(a)) target = a.slice(2);
}
let view;
try { view = JSON.parse(process.env.BOSUN_SANDBOX_CONTAINER || '{}'); } catch { view = {}; }
const hostRoot = view.hostRoot;
const intoHost = view.hostPID === true && hostRoot && (target === undefined || target === '1');
let cmd = args.slice(i);
if (cmd.length === 0) cmd = [process.env.SHELL || '/bin/sh'];
let env = process.env;
if (intoHost) {
  const bin = join(hostRoot, 'bin');
  env = { ...process.env, PATH: bin + ':' + (process.env.PATH || '') };
  const prog = cmd[0];
  if (prog.startsWith('/')) {
    const onNode = join(hostRoot, prog);
    if (existsSync(onNode) && statSync(onNode).isFile()) cmd[0] = onNode;
    else if (SHIMS.has(basename(prog))) cmd[0] = join(bin, basename(prog));
    else if (!['/bin/sh', '/usr/bin/sh', '/bin/bash', '/usr/bin/bash', '/usr/bin/env', '/bin/true', '/bin/false', '/usr/bin/test'].includes(prog)) {
      process.stderr.write('nsenter: failed to execute ' + prog + ': No such file or directory\\n');
      process.exit(127);
    }
  }
}
const child = spawn(cmd[0], cmd.slice(1), { stdio: 'inherit', env });
child.on('error', (e) => {
  process.stderr.write('nsenter: failed to execute ' + cmd[0] + ': ' + (e.code === 'ENOENT' ? 'No such file or directory' : e.message) + '\\n');
  process.exit(e.code === 'ENOENT' ? 127 : 126);
});
child.on('exit', (code, signal) => { process.exitCode = code ?? (signal ? 128 : 1); });
`;

const WATCHDOG = `// Ends this container process when the bosun sandbox that started it is gone (its fd 3 closes).
import net from 'node:net';
try {
  const s = new net.Socket({ fd: 3, readable: true, writable: false });
  s.on('data', () => {});
  s.on('error', () => {});
  s.on('close', () => process.kill(process.pid, 'SIGKILL'));
  s.unref();
} catch {
  // Not started by the sandbox: nothing to watch.
}
`;

/** Where the tools are. */
export interface ContainerTools {
  /** A directory to put on a container's PATH (holds nsenter). */
  binDir: string;
  /** The module node processes import first (--import). */
  watchdog: string;
}

/** Writes the tools under dir (DIR/containers) for node binary nodeBinary; returns their paths. */
export function writeContainerTools(dir: string, nodeBinary: string): ContainerTools {
  const binDir = join(dir, 'bin');
  mkdirSync(binDir, { recursive: true });
  const nsenterJs = join(dir, 'nsenter.mjs');
  writeFileSync(nsenterJs, NSENTER, { mode: 0o644 });
  const nsenter = join(binDir, 'nsenter');
  writeFileSync(nsenter, `#!/bin/sh\nexec ${shellQuote(nodeBinary)} ${shellQuote(nsenterJs)} "$@"\n`);
  chmodSync(nsenter, 0o755);
  const watchdog = join(dir, 'watchdog.mjs');
  writeFileSync(watchdog, WATCHDOG, { mode: 0o644 });
  return { binDir, watchdog };
}

/**
 * The checkout (or installed package) this code runs from: what bosun's image holds in /opt/bosun.
 * Found by walking up from this module to the directory with bin/bosun.js and package.json.
 */
export function checkoutRoot(from: string = import.meta.dirname): string {
  let dir = from;
  while (true) {
    if (existsSync(join(dir, 'bin', 'bosun.js')) && existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`no bosun checkout above ${from}`);
    dir = up;
  }
}
