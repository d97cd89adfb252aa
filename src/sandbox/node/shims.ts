// The host shims of a sandbox node: tiny scripts in DIR/nodes/NAME/host/bin named after the real
// commands (kubeadm, apt-get, apt-mark, dnf, yum, systemctl, reboot, shutdown, and sed for the
// node's own files). Each forwards its argv to the running sandbox's control endpoint through
// DIR/shim.mjs and prints what comes back, with the command's exit code. Put that bin/ first on PATH and recipes run against the sandbox.
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SandboxLayout } from '../layout.ts';

/** The commands every node has a shim for. */
export const SHIM_COMMANDS = [
  'kubeadm',
  'apt-get',
  'apt-mark',
  'dnf',
  'yum',
  'systemctl',
  'reboot',
  'shutdown',
  'sed',
] as const;

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The client the shims run: plain JavaScript, no dependencies, so it starts fast. */
const SHIM_CLIENT = `// Forwards a node shim's command to the sandbox (see src/sandbox/node/shims.ts).
import { request } from 'node:http';
import { readFileSync } from 'node:fs';
const [, , node, command, ...args] = process.argv;
let state;
try {
  state = JSON.parse(readFileSync(new URL('./state.json', import.meta.url), 'utf8'));
} catch {
  process.stderr.write(command + ': the sandbox is not running (no state.json)\\n');
  process.exit(1);
}
const body = JSON.stringify({ node, command, args, cwd: process.cwd() });
const req = request(
  { host: '127.0.0.1', port: state.controlPort, path: '/v1/shim', method: 'POST',
    headers: { 'content-type': 'application/json', authorization: 'Bearer ' + state.token } },
  (res) => {
    let buf = '';
    res.setEncoding('utf8');
    res.on('data', (d) => {
      buf += d;
      let i;
      while ((i = buf.indexOf('\\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (!line) continue;
        const m = JSON.parse(line);
        if (m.stdout) process.stdout.write(m.stdout);
        if (m.stderr) process.stderr.write(m.stderr);
        if (m.exitCode !== undefined) process.exitCode = m.exitCode;
      }
    });
    res.on('end', () => { if (process.exitCode === undefined) process.exitCode = 1; });
  },
);
req.on('error', (e) => {
  process.stderr.write(command + ': the sandbox is not running (' + e.message + ')\\n');
  process.exitCode = 1;
});
req.end(body);
`;

/** Writes DIR/shim.mjs and every node's bin/ shims. */
export function writeShims(layout: SandboxLayout, nodes: readonly string[], nodeBinary: string): void {
  writeFileSync(layout.shimClient, SHIM_CLIENT, { mode: 0o644 });
  for (const node of nodes) {
    const bin = layout.host(node).bin;
    mkdirSync(bin, { recursive: true });
    for (const cmd of SHIM_COMMANDS) {
      const p = join(bin, cmd);
      writeFileSync(
        p,
        `#!/bin/sh\n# bosun sandbox shim: ${cmd} on node ${node}\nexec ${shellQuote(nodeBinary)} ${shellQuote(layout.shimClient)} ${shellQuote(node)} ${shellQuote(cmd)} "$@"\n`,
      );
      chmodSync(p, 0o755);
    }
  }
}
