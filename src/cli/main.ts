#!/usr/bin/env node
// The CLI's composition root: the only place that reads process.env, builds the real ports, and
// calls process.exit. Everything else receives what it needs through CliContext.
import os from 'node:os';
import { createInterface } from 'node:readline/promises';
import { processExec, processOutput, systemClock } from '../common/real.ts';
import { runCli } from './program.ts';
import type { CliContext } from './context.ts';

const controller = new AbortController();
let interrupts = 0;
const onSignal = (sig: NodeJS.Signals): void => {
  interrupts++;
  if (interrupts > 1) {
    process.stderr.write(`\nerror: interrupted twice (${sig}); exiting now\n`);
    process.exit(130);
  }
  controller.abort(new Error(`interrupted (${sig})`));
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

const ctx: CliContext = {
  out: processOutput(process.stdout, process.stderr),
  env: process.env,
  cwd: process.cwd(),
  clock: systemClock,
  exec: processExec,
  signal: controller.signal,
  self: { execPath: process.execPath, args: [...process.execArgv, process.argv[1] ?? ''] },
  home: os.homedir(),
  process: {
    pid: process.pid,
    alive: (pid: number): boolean => {
      try {
        process.kill(pid, 0);
        return true;
      } catch (e) {
        // EPERM: it runs, as another user.
        return (e as NodeJS.ErrnoException).code === 'EPERM';
      }
    },
  },
  ...(process.stdin.isTTY
    ? {
        ask: async (question: string): Promise<string> => {
          const rl = createInterface({ input: process.stdin, output: process.stderr });
          try {
            return await rl.question(question, { signal: controller.signal });
          } finally {
            rl.close();
          }
        },
      }
    : {}),
};

const code = await runCli(process.argv.slice(2), ctx);
process.exitCode = code;
// Let stdout drain, then leave even if a library left a handle open.
process.stdout.write('', () => process.exit(code));
