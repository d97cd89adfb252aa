import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { FakeClock } from '../common/fake-clock.ts';
import { systemClock } from '../common/real.ts';
import { fetchHttp, type HttpPort, type HttpRequest, type HttpResponse } from './http.ts';
import { Notifier, noticeText, slackPayload, webhookPayload, type NotifyConfig } from './notify.ts';
import type { Notice } from './states.ts';

const SLACK = 'https://hooks.slack.com/services/T0001/B0001/XXXXSECRETXXXX';
const cfg: NotifyConfig = {
  node: 'worker-1',
  clusterName: 'prod',
  webhookUrl: 'https://ops.example.com/hooks/bosun?token=abc123',
  slack: { url: SLACK, channel: '#ops', username: 'bosun' },
  timeoutMs: 5000,
  retryDelayMs: 2000,
};
const failed: Notice = {
  kind: 'failed',
  message: 'not healthy within 15m after the reboot; left cordoned',
  diagnosis: ['Ready is Unknown (NodeStatusUnknown)', 'no heartbeat since 22:04'],
};
const now = new Date('2025-01-14T22:19:00.123Z');

test('the generic webhook gets one JSON document with stable fields', () => {
  assert.deepEqual(webhookPayload(cfg, failed, 'failed', now), {
    source: 'bosun',
    cluster: 'prod',
    node: 'worker-1',
    event: 'failed',
    state: 'failed',
    message: 'not healthy within 15m after the reboot; left cordoned',
    diagnosis: ['Ready is Unknown (NodeStatusUnknown)', 'no heartbeat since 22:04'],
    time: '2025-01-14T22:19:00Z',
  });
  const rebooting = webhookPayload(
    { ...cfg, clusterName: undefined },
    { kind: 'rebooting', message: 'drained; rebooting' },
    'rebooting',
    now,
  );
  assert.equal('cluster' in rebooting, false);
  assert.equal('diagnosis' in rebooting, false);
});

for (const tc of [
  {
    notice: { kind: 'blocked', message: 'reboot blocked: an alert firing in Prometheus: KubeNodeNotReady' },
    want: ':no_entry: [prod] worker-1: reboot blocked: an alert firing in Prometheus: KubeNodeNotReady',
  },
  {
    notice: { kind: 'draining', message: 'cordoned; draining' },
    want: ':arrow_down: [prod] worker-1: cordoned; draining',
  },
  {
    notice: { kind: 'rebooting', message: 'drained; rebooting' },
    want: ':arrows_counterclockwise: [prod] worker-1: drained; rebooting',
  },
  {
    notice: { kind: 'back', message: 'rebooted (boot ID b2); waiting until healthy' },
    want: ':arrow_up: [prod] worker-1: rebooted (boot ID b2); waiting until healthy',
  },
  {
    notice: { kind: 'done', message: 'rebooted, healthy and uncordoned' },
    want: ':white_check_mark: [prod] worker-1: rebooted, healthy and uncordoned',
  },
  {
    notice: failed,
    want: ':x: [prod] worker-1: not healthy within 15m after the reboot; left cordoned\n```\nReady is Unknown (NodeStatusUnknown)\nno heartbeat since 22:04\n```',
  },
] as { notice: Notice; want: string }[]) {
  test(`the Slack text for ${tc.notice.kind}`, () => {
    assert.deepEqual(slackPayload(cfg, tc.notice), { text: tc.want, username: 'bosun', channel: '#ops' });
  });
}

test('noticeText without a cluster name', () =>
  assert.equal(noticeText({ node: 'w1' }, { kind: 'done', message: 'x' }), 'w1: x'));

/** An HttpPort that answers from a script per host and records what it was sent. */
function scripted(answers: Record<string, (HttpResponse | Error)[]>): HttpPort & { sent: HttpRequest[] } {
  const sent: HttpRequest[] = [];
  return {
    sent,
    request: async (req) => {
      sent.push(req);
      const a = answers[new URL(req.url).host]?.shift() ?? { status: 200, body: 'ok' };
      if (a instanceof Error) throw a;
      return a;
    },
  };
}

test('a server error is tried once more after the retry delay; the second answer counts', async () => {
  const clock = new FakeClock();
  const http = scripted({
    'ops.example.com': [
      { status: 503, body: 'busy' },
      { status: 200, body: 'ok' },
    ],
  });
  const n = new Notifier({ ...cfg, slack: undefined }, { http, clock });
  const results = await clock.runUntilSettled(n.send({ kind: 'done', message: 'm' }, 'idle'));
  assert.deepEqual(results, [{ target: 'webhook', url: 'https://ops.example.com/…', ok: true }]);
  assert.equal(http.sent.length, 2);
  assert.equal(clock.now().getTime() - Date.UTC(2025, 0, 1), 2000);
});

test('a client error is not retried, and neither the result nor the error shows the token', async () => {
  const clock = new FakeClock();
  const refused = (): Error => new Error(`connect ECONNREFUSED while posting to ${cfg.webhookUrl}`);
  const http = scripted({
    'hooks.slack.com': [{ status: 403, body: `invalid_token for ${SLACK}` }],
    'ops.example.com': [refused(), refused()],
  });
  const n = new Notifier(cfg, { http, clock });
  const results = await clock.runUntilSettled(n.send(failed, 'failed'));
  const byTarget = Object.fromEntries(results.map((r) => [r.target, r]));
  assert.deepEqual(byTarget['slack'], {
    target: 'slack',
    url: 'https://hooks.slack.com/…',
    ok: false,
    error: 'HTTP 403: invalid_token for https://hooks.slack.com/…',
  });
  assert.deepEqual(byTarget['webhook'], {
    target: 'webhook',
    url: 'https://ops.example.com/…',
    ok: false,
    error: 'connect ECONNREFUSED while posting to https://ops.example.com/…',
  });
  const all = JSON.stringify(results);
  assert.ok(!all.includes('XXXXSECRET') && !all.includes('abc123'), all);
  assert.equal(http.sent.length, 3, 'slack once (403), the webhook twice (network error)');
});

test('no target configured: not enabled, nothing sent', async () => {
  const http = scripted({});
  const n = new Notifier(
    { node: 'w1', timeoutMs: 1000, retryDelayMs: 1000 },
    { http, clock: new FakeClock() },
  );
  assert.equal(n.enabled, false);
  assert.deepEqual(await n.send(failed, 'failed'), []);
  assert.equal(http.sent.length, 0);
});

test('over real HTTP: both payloads arrive as JSON POSTs at a server on 127.0.0.1', async (t) => {
  const got: { path: string; type: string | undefined; body: unknown }[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString('utf8')));
    req.on('end', () => {
      got.push({ path: req.url ?? '', type: req.headers['content-type'], body: JSON.parse(body) });
      res.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const n = new Notifier(
    { ...cfg, webhookUrl: `${base}/hook`, slack: { url: `${base}/services/T/B/secret` } },
    { http: fetchHttp, clock: new FakeClock(now) },
  );
  const results = await n.send({ kind: 'rebooting', message: 'drained; rebooting' }, 'rebooting');
  assert.deepEqual(
    results.map((r) => r.ok),
    [true, true],
  );
  got.sort((a, b) => a.path.localeCompare(b.path));
  assert.deepEqual(got, [
    {
      path: '/hook',
      type: 'application/json',
      body: {
        source: 'bosun',
        cluster: 'prod',
        node: 'worker-1',
        event: 'rebooting',
        state: 'rebooting',
        message: 'drained; rebooting',
        time: '2025-01-14T22:19:00Z',
      },
    },
    {
      path: '/services/T/B/secret',
      type: 'application/json',
      body: { text: ':arrows_counterclockwise: [prod] worker-1: drained; rebooting' },
    },
  ]);
});

test('a webhook that never answers times out', async (t) => {
  const server = createServer(() => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(
    () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  );
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  const n = new Notifier(
    { node: 'w1', webhookUrl: url, timeoutMs: 200, retryDelayMs: 0 },
    { http: fetchHttp, clock: systemClock },
  );
  const [r] = await n.send({ kind: 'done', message: 'm' }, 'idle');
  assert.equal(r?.ok, false);
  assert.match(r?.error ?? '', /timeout|aborted/i);
});
