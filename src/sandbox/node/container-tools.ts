// The two files every process container of the sandbox uses, written once per sandbox directory:
// - bin/nsenter: the nsenter of bosun's image (util-linux). With the pod's hostPID, `nsenter -t 1
//   -m -u -i -n -p -- systemctl reboot` (or Kured's `nsenter -m/proc/1/ns/mnt -- /bin/systemctl
//   reboot`) enters the node: the command runs with the node's shims first on PATH, an absolute
//   program is looked up in the node's host directory (then by its name among the node's shims),
//   and anything else fails as nsenter would ("No such file or directory", 127). Without hostPID
//   PID 1 is the container's own, so the command runs as the container would run it.
// - watchdog.mjs, imported first by every node process: it ends the process when the sandbox that
//   started it is gone (its pipe closes), so a killed sandbox leaves no container behind.
// And the image's /opt/bosun (imageRoot): deploy/Dockerfile's image holds the CLI bundled by
// scripts/build.mjs, which starts in a fraction of the time the TypeScript sources take through
// tsx (a DaemonSet's pod starts again after every reboot of its node, so that time is in every
// node's turn of a rolling reboot). A checkout whose dist/ is up to date, or an installed package
// (no src/), is the image as it is. Otherwise the checkout's sources are bundled once into
// .cache/image/KEY/dist of the checkout (KEY: a hash of the sources' names, sizes and times, so
// every sandbox of the same sources shares it), beside links to the checkout's other files and a
// copy of its bin/ (bin/bosun.js finds the bundle beside itself); the checkout's own dist/ is left
// alone. A bundle is built in a directory of its own and renamed into place when complete, so
// sandboxes building at the same time never see half of one.
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative } from 'node:path';

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
  /**
   * What the image's /opt/bosun is on this machine: the checkout, or its bundled copy (see the
   * header). Prepared at the first call, which the later ones share; never rejects (a bundle that
   * cannot be built leaves the checkout, whose sources then run through tsx, and says why in log).
   */
  imageRoot(checkout: string, log: (line: string) => void): Promise<string>;
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
  let image: Promise<string> | undefined;
  return {
    binDir,
    watchdog,
    imageRoot: (checkout, log) =>
      (image ??= prepareImage(checkout, nodeBinary).catch((e: unknown) => {
        log(`the image's bundle could not be built (its pods run the sources through tsx): ${String(e)}`);
        return checkout;
      })),
  };
}

/** The .ts files under dir, as [relative path, size, mtime] (sorted). */
function sources(dir: string, base = dir, out: [string, number, number][] = []): [string, number, number][] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) sources(p, base, out);
    else if (e.name.endsWith('.ts')) {
      const st = statSync(p);
      out.push([relative(base, p), st.size, st.mtimeMs]);
    }
  }
  return out.sort((x, y) => (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0));
}

/** Is dist/bosun.mjs under root at least as new as every source (bin/bosun.js's own test)? */
function bundleFresh(root: string): boolean {
  const bundle = join(root, 'dist', 'bosun.mjs');
  return (
    existsSync(bundle) && sources(join(root, 'src')).every(([, , mtime]) => mtime <= statSync(bundle).mtimeMs)
  );
}

/** Days an unused bundle of older sources is kept (a sandbox still running may use it). */
const KEEP_OLD_IMAGES_MS = 24 * 3600 * 1000;

/** The image's /opt/bosun for a checkout (see the header). */
async function prepareImage(checkout: string, nodeBinary: string): Promise<string> {
  const build = join(checkout, 'scripts', 'build.mjs');
  if (!existsSync(join(checkout, 'src')) || !existsSync(build) || bundleFresh(checkout)) return checkout;
  const key = createHash('sha256')
    .update(JSON.stringify(sources(join(checkout, 'src'))))
    .update(readdirSync(join(checkout, 'bin')).join('/'))
    .digest('hex')
    .slice(0, 16);
  const images = join(checkout, '.cache', 'image');
  const dir = join(images, key);
  if (existsSync(join(dir, 'dist', 'bosun.mjs'))) return dir;
  const tmp = join(images, `.${key}-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    mkdirSync(join(tmp, 'bin'), { recursive: true });
    for (const e of readdirSync(checkout)) {
      if (e.startsWith('.') || e === 'dist' || e === 'bin') continue;
      symlinkSync(join(checkout, e), join(tmp, e));
    }
    for (const e of readdirSync(join(checkout, 'bin')))
      copyFileSync(join(checkout, 'bin', e), join(tmp, 'bin', e));
    // scripts/build.mjs takes its --outdir relative to the checkout.
    await new Promise<void>((resolve, reject) =>
      execFile(
        nodeBinary,
        [build, '--outdir', relative(checkout, join(tmp, 'dist'))],
        { cwd: checkout, timeout: 300_000 },
        (e, _out, err) =>
          e ? reject(new Error(err.trim().split('\n').at(-1) || e.message.split('\n')[0])) : resolve(),
      ),
    );
    try {
      renameSync(tmp, dir);
    } catch (e) {
      // Another sandbox finished the same bundle first: use that one.
      if (!existsSync(join(dir, 'dist', 'bosun.mjs'))) throw e;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  // Bundles of older sources nobody used for a day go.
  for (const e of readdirSync(images)) {
    const p = join(images, e);
    if (e !== key && Date.now() - statSync(p).mtimeMs > KEEP_OLD_IMAGES_MS)
      rmSync(p, { recursive: true, force: true });
  }
  return dir;
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
