// `bosun agent` refuses bad input before it touches anything (issue 17): malformed windows, time
// zones, durations, selectors, webhook URLs, a config file with unknown keys, from a flag, a
// BOSUN_* variable or the file. Each is one clear line naming the value and where it came from,
// then kubectl's help hint, and exit code 2; a webhook URL's secret path never shows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock, processExec } from '../src/common/real.ts';
import type { CliContext } from '../src/cli/context.ts';
import { runCli } from '../src/cli/program.ts';

async function agent(
  args: readonly string[],
  env: Record<string, string> = {},
): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const ctx: CliContext = {
    out: { out: (l) => out.push(l), err: (l) => err.push(l), isTTY: false },
    env: { BOSUN_NODE_NAME: 'worker-1', ...env },
    cwd: tmpdir(),
    clock: systemClock,
    exec: processExec,
    signal: new AbortController().signal,
    self: { execPath: process.execPath, args: [] },
    home: tmpdir(),
  };
  const code = await runCli(['agent', ...args], ctx);
  return { code, out, err };
}

const dir = mkdtempSync(join(tmpdir(), 'bosun-agent-input-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

for (const tc of [
  {
    name: 'a start time that is no time',
    args: ['--start-time=25:00'],
    want: /^error: --start-time: invalid startTime "25:00"/,
  },
  {
    name: 'an unknown day',
    args: ['--reboot-days=mo,funday'],
    want: /^error: --reboot-days: .*funday/,
  },
  { name: 'an unknown time zone', args: ['--time-zone=Mars/Olympus_Mons'], want: /Mars\/Olympus_Mons/ },
  { name: 'a monthly rule that is none', args: ['--monthly-rule=every full moon'], want: /every full moon/ },
  { name: 'a blackout date that is none', args: ['--blackout-dates=2025-13-45'], want: /2025-13-45/ },
  {
    name: 'a duration with a unit that is none',
    args: ['--period=5x'],
    want: /^error: invalid value "5x" for --period: not a duration/,
  },
  {
    name: 'a duration from the environment',
    args: [],
    env: { BOSUN_LOCK_TTL: 'forever' },
    want: /^error: invalid value "forever" for BOSUN_LOCK_TTL: not a duration/,
  },
  {
    name: 'a blocking-pod selector that does not parse',
    args: ['--blocking-pod-selector=app in (a'],
    want: /^error: invalid value .* for --blocking-pod-selector: "app in \(a" is not a label selector/,
  },
  {
    name: 'a webhook URL that is not http',
    args: ['--notify-url=ftp://hooks.example.com/T000/B000/secret-token'],
    want: /^error: invalid value "ftp:\/\/hooks\.example\.com\/…" for --notify-url: must be an http/,
  },
  {
    name: 'a Slack URL that is no URL, from the environment',
    args: [],
    env: { BOSUN_SLACK_WEBHOOK_URL: 'hooks.slack.com/services/T000/B000/secret-token' },
    want: /^error: invalid value .* for BOSUN_SLACK_WEBHOOK_URL: not a URL/,
  },
  {
    name: 'a concurrency of zero',
    args: ['--concurrency=0'],
    want: /^error: invalid value "0" for --concurrency: must be between 1 and 1000/,
  },
  {
    name: 'a config file with an unknown key',
    args: () => [`--config=${file('typo.yaml', 'perod: 5m\n')}`],
    want: /^error: config file .*typo\.yaml: unknown key "perod" \(did you mean "period"\?\)/,
  },
  {
    name: 'a config file with a value of the wrong type',
    args: () => [`--config=${file('type.yaml', 'concurrency: [1, 2]\n')}`],
    want: /^error: config file .*type\.yaml: concurrency must be an integer/,
  },
  {
    name: 'a config file that does not exist',
    args: () => [`--config=${join(dir, 'missing.yaml')}`],
    want: /^error: cannot read config file .*missing\.yaml .*no such file/,
  },
  {
    name: 'a host-exec template without the command',
    args: ['--host-exec=ssh {node}'],
    want: /^error: invalid value "ssh \{node\}" for --host-exec: the template has neither/,
  },
  {
    name: 'no node name',
    args: [],
    env: { BOSUN_NODE_NAME: '' },
    want: /^error: the node's name is not set: BOSUN_NODE_NAME/,
  },
] as { name: string; args: string[] | (() => string[]); env?: Record<string, string>; want: RegExp }[]) {
  test(`bosun agent refuses ${tc.name}: one line, exit 2`, async () => {
    const r = await agent(typeof tc.args === 'function' ? tc.args() : tc.args, tc.env);
    assert.equal(r.code, 2, r.err.join('\n'));
    assert.deepEqual(r.out, []);
    assert.equal(r.err.length, 2, r.err.join('\n'));
    assert.match(r.err[0] ?? '', tc.want);
    assert.equal(r.err[1], "See 'bosun agent -h' for help and examples");
    assert.ok(!r.err.join('\n').includes('secret-token'), 'the secret part of a webhook URL never shows');
  });
}

test('bosun agent -h lists every flag of the agent', async () => {
  const r = await agent(['-h']);
  assert.equal(r.code, 0);
  const help = r.out.join('\n');
  for (const f of [
    '--reboot-sentinel',
    '--concurrency',
    '--blocking-pod-selector',
    '--host-exec',
    '--escalate',
  ])
    assert.ok(help.includes(f), f);
});
