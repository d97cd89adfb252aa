// `bosun sandbox up --agent`: the sandbox starts, then the agent's chart (deploy/helm/bosun) is
// installed with the real helm as a user installs it; its pods (one per node, control plane
// included, as the chart's tolerations say) run the real agent as processes of this checkout, Ready
// by their probes; every request they made was allowed; `sandbox down` stops them with everything
// else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AGENT_CHART } from '../src/sandbox/index.ts';
import { bosun, processesMentioning, sandboxUp } from './support/cli.ts';
import { KUBECTL, run } from './support/sandbox.ts';

test('sandbox up --agent installs the agent chart with helm; down stops its processes too', async (t) => {
  const { dir, up } = await sandboxUp(t, 'bosun-agent-', 2, ['--agent']);
  assert.equal(up.code, 0, up.stderr);
  assert.equal(up.stdout, `export KUBECONFIG=${dir}/admin.conf\n`);
  assert.ok(
    up.stderr.includes(
      `helm install bosun ${AGENT_CHART.path} -n bosun-system --create-namespace --wait --timeout ${AGENT_CHART.timeout}`,
    ),
    up.stderr,
  );
  assert.match(up.stderr, /^agent installed: release bosun in namespace bosun-system/m);
  const pods = await run(KUBECTL, [
    '--kubeconfig',
    join(dir, 'admin.conf'),
    '--cache-dir',
    join(dir, 'kc'),
    'get',
    'pods',
    '-n',
    'bosun-system',
    '--no-headers',
  ]);
  assert.equal(pods.code, 0, pods.stderr);
  const lines = pods.stdout.trim().split('\n');
  assert.equal(lines.length, 3, pods.stdout);
  for (const l of lines) assert.match(l, /^bosun-\S+\s+1\/1\s+Running\s+0\s/);
  // The pods are processes of this machine (they import the sandbox's watchdog).
  const procs = processesMentioning(join(dir, 'containers', 'watchdog.mjs'));
  assert.equal(procs.length, 3, JSON.stringify(procs));
  // The image's command: the agent, with the chart's flags and the sandbox's timings.
  for (const p of procs)
    assert.match(p.cmd, /\/bin\/bosun\.js agent --namespace=bosun-system --host-root=\/host .*--period=2s/);
  const name = lines[0]?.split(/\s+/)[0] ?? '';
  const log = await run(KUBECTL, [
    '--kubeconfig',
    join(dir, 'admin.conf'),
    '--cache-dir',
    join(dir, 'kc'),
    'logs',
    '-n',
    'bosun-system',
    name,
  ]);
  assert.equal(log.code, 0, log.stderr);
  assert.match(log.stdout, /"msg":"agent started"/);
  // The audit record through the control endpoint: the agents' requests, all allowed.
  const state = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as {
    controlPort: number;
    token: string;
  };
  const res = await fetch(
    `http://127.0.0.1:${state.controlPort}/v1/audit?user=${encodeURIComponent('system:serviceaccount:bosun-system:bosun')}`,
    { headers: { authorization: `Bearer ${state.token}` } },
  );
  assert.equal(res.status, 200);
  const records = (await res.json()) as { allowed: boolean; role?: { name: string } }[];
  assert.ok(records.length > 0);
  assert.deepEqual(
    records.filter((r) => !r.allowed),
    [],
  );
  const refused = await fetch(`http://127.0.0.1:${state.controlPort}/v1/audit?allowed=false&since=0`, {
    headers: { authorization: `Bearer ${state.token}` },
  });
  assert.equal(refused.status, 200);
  const down = await bosun(['sandbox', 'down', '--dir', dir]);
  assert.equal(down.code, 0, down.stderr);
  assert.deepEqual(processesMentioning(dir), []);
});
