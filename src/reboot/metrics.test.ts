import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FakeClock } from '../common/fake-clock.ts';
import { AgentMetrics, Liveness, startMetricsServer } from './metrics.ts';

/** The value of one series in the exposition text, e.g. value(text, 'bosun_reboot_state{node="w1",state="idle"}'). */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('every series exists from the start, at zero, labelled with the node', async () => {
  const m = new AgentMetrics({ node: 'w1' }, { clock: new FakeClock() });
  const text = await m.registry.metrics();
  for (const s of [
    'bosun_reboot_required{node="w1"}',
    'bosun_reboot_lock_held{node="w1"}',
    'bosun_reboots_total{node="w1"}',
    'bosun_reboot_sentinel_error{node="w1"}',
    'bosun_reboot_blocked{node="w1",blocker="pods"}',
    'bosun_reboot_blocked{node="w1",blocker="alerts"}',
    'bosun_reboot_state{node="w1",state="draining"}',
  ])
    assert.equal(value(text, s), 0, s);
  assert.equal(value(text, 'bosun_reboot_state{node="w1",state="idle"}'), 1);
  assert.match(text, /# TYPE bosun_reboot_state_seconds_total counter/);
  assert.doesNotMatch(text, /process_resident_memory_bytes/, 'process metrics only when asked for');
});

test('gauges and counters follow what the loop reports', async () => {
  const m = new AgentMetrics({ node: 'w1' }, { clock: new FakeClock() });
  m.setRebootRequired(true);
  m.setLockHeld(true);
  m.setSentinelError(true);
  m.setBlockers(['pods', 'alerts']);
  m.setBlockers(['alerts']);
  m.rebootCompleted();
  m.rebootFailed('drain');
  m.rebootFailed('drain');
  m.rebootFailed('health');
  const text = await m.registry.metrics();
  assert.equal(value(text, 'bosun_reboot_required{node="w1"}'), 1);
  assert.equal(value(text, 'bosun_reboot_lock_held{node="w1"}'), 1);
  assert.equal(value(text, 'bosun_reboot_sentinel_error{node="w1"}'), 1);
  assert.equal(value(text, 'bosun_reboot_blocked{node="w1",blocker="pods"}'), 0);
  assert.equal(value(text, 'bosun_reboot_blocked{node="w1",blocker="alerts"}'), 1);
  assert.equal(value(text, 'bosun_reboots_total{node="w1"}'), 1);
  assert.equal(value(text, 'bosun_reboot_failures_total{node="w1",phase="drain"}'), 2);
  assert.equal(value(text, 'bosun_reboot_failures_total{node="w1",phase="health"}'), 1);
});

test('seconds in each state add up on the clock, the current state counted up to the scrape', async () => {
  const clock = new FakeClock();
  const m = new AgentMetrics({ node: 'w1' }, { clock });
  m.setState('waiting-lock');
  await clock.advance(30_000);
  m.setState('draining');
  await clock.advance(90_000);
  m.setState('rebooting');
  await clock.advance(45_000);
  let text = await m.registry.metrics();
  assert.equal(value(text, 'bosun_reboot_state_seconds_total{node="w1",state="waiting-lock"}'), 30);
  assert.equal(value(text, 'bosun_reboot_state_seconds_total{node="w1",state="draining"}'), 90);
  assert.equal(value(text, 'bosun_reboot_state_seconds_total{node="w1",state="rebooting"}'), 45);
  assert.equal(value(text, 'bosun_reboot_state{node="w1",state="rebooting"}'), 1);
  assert.equal(value(text, 'bosun_reboot_state{node="w1",state="draining"}'), 0);
  m.setState('rebooting');
  await clock.advance(15_000);
  text = await m.registry.metrics();
  assert.equal(
    value(text, 'bosun_reboot_state_seconds_total{node="w1",state="rebooting"}'),
    60,
    'counted once',
  );
});

test('an agent restarted mid-state counts that state from the time on its record', async () => {
  const clock = new FakeClock();
  const m = new AgentMetrics({ node: 'w1' }, { clock });
  await clock.advance(600_000);
  m.setState('health-gate', new Date(clock.now().getTime() - 120_000));
  await clock.advance(10_000);
  const text = await m.registry.metrics();
  assert.equal(value(text, 'bosun_reboot_state_seconds_total{node="w1",state="health-gate"}'), 130);
  assert.equal(
    value(text, 'bosun_reboot_state_seconds_total{node="w1",state="idle"}'),
    undefined,
    'no time before the first state',
  );
});

test('process metrics when asked for', async () => {
  const m = new AgentMetrics({ node: 'w1', processMetrics: true }, { clock: new FakeClock() });
  assert.match(await m.registry.metrics(), /process_resident_memory_bytes/);
});

test('the server serves /metrics and /healthz on 127.0.0.1, 404 elsewhere, 405 for writes', async (t) => {
  const clock = new FakeClock();
  const m = new AgentMetrics({ node: 'w1' }, { clock });
  const live = new Liveness({ staleAfterMs: 60_000 }, { clock });
  const srv = await startMetricsServer({ host: '127.0.0.1', port: 0, registry: m.registry, health: live });
  t.after(() => srv.close());
  const base = `http://127.0.0.1:${srv.port}`;

  const metrics = await fetch(`${base}/metrics`);
  assert.equal(metrics.status, 200);
  assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  assert.match(await metrics.text(), /bosun_reboot_required\{node="w1"\} 0/);

  let h = await fetch(`${base}/healthz`);
  assert.deepEqual([h.status, await h.text()], [200, 'ok\n']);
  await clock.advance(61_000);
  h = await fetch(`${base}/healthz`);
  assert.deepEqual([h.status, await h.text()], [503, 'the agent loop has not run for 61s\n']);
  live.beat();
  assert.equal((await fetch(`${base}/healthz`)).status, 200);

  const missing = await fetch(`${base}/nope`);
  assert.equal(missing.status, 404);
  await missing.text();
  const post = await fetch(`${base}/metrics`, { method: 'POST' });
  assert.equal(post.status, 405);
  await post.text();
});

test('a port already taken is an error at start', async (t) => {
  const m = new AgentMetrics({ node: 'w1' }, { clock: new FakeClock() });
  const live = new Liveness({ staleAfterMs: 1 }, { clock: new FakeClock() });
  const a = await startMetricsServer({ host: '127.0.0.1', port: 0, registry: m.registry, health: live });
  t.after(() => a.close());
  await assert.rejects(
    startMetricsServer({ host: '127.0.0.1', port: a.port, registry: m.registry, health: live }),
    /EADDRINUSE/,
  );
});
