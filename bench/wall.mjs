// Runs one command and prints its wall time, from just before the spawn to the moment it exits, as
// one JSON line on stdout: { ms, code, signal, stdout, stderr }.
//
// Why a process of its own: a benchmark that runs the sandbox in its own process learns of a
// child's end only when its event loop gets round to it, and at the end of a drain that loop is
// busy starting the replacement pods. Measured there, a command's time included up to 50 ms of
// the sandbox's own lag. This process does nothing else, so it notices the exit when it happens.
// It collects the child's output itself, so the child never waits on a full pipe either.
// Usage: node bench/wall.mjs COMMAND [ARGS...]
import { spawn } from 'node:child_process';

const [cmd, ...args] = process.argv.slice(2);
if (cmd === undefined) {
  process.stderr.write('usage: node bench/wall.mjs COMMAND [ARGS...]\n');
  process.exit(2);
}
const out = [];
const err = [];
const t0 = performance.now();
const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
child.stdout.on('data', (d) => out.push(d));
child.stderr.on('data', (d) => err.push(d));
let ms;
let status;
child.on('exit', (code, signal) => {
  ms = performance.now() - t0;
  status = { code, signal };
});
child.on('error', (e) => {
  process.stdout.write(
    `${JSON.stringify({ ms: 0, code: null, signal: null, stdout: '', stderr: String(e) })}\n`,
  );
  process.exit(1);
});
// 'close' comes after 'exit' once the output has all been read.
child.on('close', () => {
  process.stdout.write(
    `${JSON.stringify({ ms, ...status, stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() })}\n`,
  );
});
