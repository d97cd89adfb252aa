// `bosun sandbox up|status|down` as a user runs them, and their refusals: one clear line each,
// a non-zero exit code, and no process left behind.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bosun, processesMentioning, sandboxUp } from './support/cli.ts';
import { eventually, run, scratchDir } from './support/sandbox.ts';
import { KUBECTL } from './support/sandbox.ts';

function errorLines(stderr: string): string[] {
  return stderr.split('\n').filter((l) => l.startsWith('error: '));
}

describe('bosun sandbox up / status / down', () => {
  test('up returns once the cluster is ready, prints the KUBECONFIG line, and down stops exactly what it started', async (t) => {
    const { dir, up } = await sandboxUp(t, 'bosun-cli-', 2);
    assert.equal(up.code, 0, up.stderr);
    assert.equal(up.stdout, `export KUBECONFIG=${dir}/admin.conf\n`);
    assert.match(up.stderr, /kubeadm init/);
    // The cluster answers the real kubectl right away.
    const nodes = await run(KUBECTL, [
      '--kubeconfig',
      join(dir, 'admin.conf'),
      '--cache-dir',
      join(dir, 'kc'),
      'get',
      'nodes',
      '--no-headers',
    ]);
    assert.equal(nodes.code, 0, nodes.stderr);
    assert.equal(nodes.stdout.trim().split('\n').length, 3);
    assert.ok(
      processesMentioning(dir).some((p) => p.cmd.includes('etcd')),
      'etcd runs',
    );

    const st = await bosun(['sandbox', 'status', '--dir', dir, '-o', 'json']);
    assert.equal(st.code, 0, st.stderr);
    const status = JSON.parse(st.stdout) as { running: boolean; nodes: { name: string; ready: boolean }[] };
    assert.equal(status.running, true);
    assert.deepEqual(
      status.nodes.map((n) => `${n.name}:${n.ready}`),
      ['cp-1:true', 'worker-1:true', 'worker-2:true'],
    );

    // up on a running DIR says so instead of starting twice.
    const again = await bosun(['sandbox', 'up', '--dir', dir]);
    assert.equal(again.code, 1);
    assert.deepEqual(errorLines(again.stderr), [
      `error: a sandbox is already running in ${dir} (pid ${/pid (\d+)/.exec(again.stderr)?.[1] ?? ''})`,
    ]);

    const down = await bosun(['sandbox', 'down', '--dir', dir]);
    assert.equal(down.code, 0, down.stderr);
    assert.equal(down.stdout.trim(), `sandbox ${dir} stopped`);
    assert.deepEqual(processesMentioning(dir), []);
    const second = await bosun(['sandbox', 'down', '--dir', dir]);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout.trim(), `sandbox ${dir} is not running`);
    const after = await bosun(['sandbox', 'status', '--dir', dir, '-o', 'json']);
    assert.equal((JSON.parse(after.stdout) as { running: boolean }).running, false);
  });

  test('a sandbox whose process is killed with SIGKILL takes its etcd with it (no handler of its own can run)', async (t) => {
    const { dir, up } = await sandboxUp(t, 'bosun-cli-', 1);
    assert.equal(up.code, 0, up.stderr);
    const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as {
      pid: number;
      etcdPids: Record<string, number>;
    };
    const etcd = processesMentioning(dir).filter((p) => /(^|\/)etcd /.test(p.cmd));
    assert.equal(etcd.length, 1, JSON.stringify(processesMentioning(dir)));
    process.kill(state.pid, 'SIGKILL');
    await eventually('every process of the sandbox gone', () => processesMentioning(dir).length === 0);
  });

  test('up without etcd installed: one clear line, exit 1, nothing started', async (t) => {
    const dir = scratchDir('bosun-cli-');
    const emptyPath = mkdtempSync(join(dir, 'path-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const r = await bosun(['sandbox', 'up', '--dir', join(dir, 'sb')], { env: { PATH: emptyPath } });
    assert.equal(r.code, 1);
    assert.deepEqual(errorLines(r.stderr), ['error: etcd is not installed (no etcd on PATH)']);
    assert.match(r.stderr, /apt-get install etcd-server/);
    assert.deepEqual(processesMentioning(join(dir, 'sb')), []);
  });

  test('up in a directory that cannot be written: one clear line, exit 1', async (t) => {
    const dir = scratchDir('bosun-cli-');
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(join(dir, 'a-file'), '');
    const target = join(dir, 'a-file', 'sb');
    const r = await bosun(['sandbox', 'up', '--dir', target]);
    assert.equal(r.code, 1);
    assert.deepEqual(errorLines(r.stderr), [`error: cannot write to ${target}: a parent is not a directory`]);
    assert.deepEqual(processesMentioning(target), []);
  });

  test('up in a busy directory that holds something else: one clear line, exit 1', async (t) => {
    const dir = scratchDir('bosun-cli-');
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    mkdirSync(join(dir, 'stuff'));
    const r = await bosun(['sandbox', 'up', '--dir', dir]);
    assert.equal(r.code, 1);
    assert.deepEqual(errorLines(r.stderr), [`error: ${dir} is not empty and holds no sandbox`]);
  });

  test('down of a directory that was never up: one clear line, exit 1', async (t) => {
    const dir = scratchDir('bosun-cli-');
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const r = await bosun(['sandbox', 'down', '--dir', dir]);
    assert.equal(r.code, 1);
    assert.deepEqual(errorLines(r.stderr), [`error: no sandbox in ${dir}`]);
  });

  test('up with a version the sandbox does not offer says why on the terminal, exit 2, and leaves nothing running', async (t) => {
    const { dir, up: r } = await sandboxUp(t, 'bosun-cli-', 0, ['--version', 'v9.9.9']);
    assert.equal(r.code, 2, r.stderr);
    assert.deepEqual(errorLines(r.stderr), ['error: unsupported Kubernetes version "v9.9.9"']);
    assert.match(r.stderr, /^The sandbox offers v1\.\d+\.\d+ to v1\.\d+\.\d+\.$/m);
    assert.deepEqual(processesMentioning(dir), []);
  });

  test('bad flags are usage errors (exit 2) that point to the help', async () => {
    const r = await bosun(['sandbox', 'up', '--workers', 'many']);
    assert.equal(r.code, 2);
    assert.match(
      r.stderr,
      /^error: option '--workers <n>' argument 'many' is invalid\. --workers must be a whole number, got "many"$/m,
    );
    assert.match(r.stderr, /See 'bosun sandbox up -h' for help and examples/);
  });
});
