import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isBosunError } from '../common/errors.ts';
import { describeConfig, loadAgentConfig, type ConfigSources } from './config.ts';
import { AGENT_FLAGS, envOf, flagOf } from './flags.ts';
import { ALWAYS } from './window.ts';

const NODE = { BOSUN_NODE_NAME: 'worker-1' };

function sources(
  o: { flags?: Record<string, unknown>; env?: Record<string, string>; files?: Record<string, string> } = {},
): ConfigSources {
  return {
    flags: o.flags ?? {},
    env: { ...NODE, ...(o.env ?? {}) },
    readFile: async (path) => {
      const text = o.files?.[path];
      if (text === undefined)
        throw Object.assign(new Error(`ENOENT: no such file or directory, open '${path}'`), {
          code: 'ENOENT',
        });
      return text;
    },
  };
}

/** The one line of the UsageError loadAgentConfig throws. */
async function usageLine(src: ConfigSources): Promise<string> {
  try {
    await loadAgentConfig(src);
  } catch (e) {
    assert.ok(isBosunError(e), `not a BosunError: ${String(e)}`);
    assert.equal(e.exitCode, 2);
    assert.equal(e.code, 'USAGE');
    assert.equal(e.hint, "See 'bosun agent -h' for help and examples");
    assert.ok(!e.message.includes('\n'), 'one line');
    return e.message;
  }
  throw new Error('expected a UsageError');
}

test("flag and environment names follow Kured's scheme and never collide", () => {
  assert.equal(flagOf('rebootSentinelCommand'), '--reboot-sentinel-command');
  assert.equal(envOf('rebootSentinelCommand'), 'BOSUN_REBOOT_SENTINEL_COMMAND');
  assert.equal(flagOf('deleteEmptydirData'), '--delete-emptydir-data');
  assert.equal(envOf('lockTtl'), 'BOSUN_LOCK_TTL');
  const names = AGENT_FLAGS.map((s) => s.name);
  assert.equal(new Set(names.map(flagOf)).size, names.length);
  assert.equal(new Set(names.map(envOf)).size, names.length);
  for (const n of names) assert.match(n, /^[a-z][a-zA-Z]*$/, n);
});

test("the defaults: Kured's sentinel and reboot command, always open, one node at a time", async () => {
  const c = await loadAgentConfig(sources());
  assert.equal(c.nodeName, 'worker-1');
  assert.equal(c.namespace, 'bosun-system');
  assert.equal(c.periodMs, 60_000);
  assert.deepEqual(c.sentinel, { kind: 'file', path: '/var/run/reboot-required', hostRoot: '/' });
  assert.deepEqual(c.reboot, { method: 'command', argv: ['systemctl', 'reboot'] });
  assert.deepEqual(c.window, ALWAYS);
  assert.equal(c.concurrency, 1);
  assert.deepEqual(c.blockers, {
    podSelectors: [],
    podScope: 'node',
    alertFilter: { matchOnly: false, firingOnly: false },
  });
  assert.deepEqual(c.notify, {});
  assert.equal(c.drain.timeoutMs, 0);
  assert.equal(c.drain.gracePeriodSeconds, -1);
  assert.deepEqual(c.drain.escalation, { rules: [] });
  assert.equal(c.metricsPort, 8080);
  assert.equal(c.sources['period'], 'default');
  assert.equal(c.sources['nodeName'], 'env');
});

test('precedence: flag, then environment, then config file, then default', async () => {
  const file = { '/etc/bosun/agent.yaml': 'period: 5m\nconcurrency: 3\ntimeZone: Europe/Berlin\n' };
  const c = await loadAgentConfig(
    sources({
      flags: { config: '/etc/bosun/agent.yaml', period: '30s' },
      env: { BOSUN_PERIOD: '2m', BOSUN_CONCURRENCY: '2' },
      files: file,
    }),
  );
  assert.equal(c.periodMs, 30_000);
  assert.equal(c.concurrency, 2);
  assert.equal(c.window.timeZone, 'Europe/Berlin');
  assert.deepEqual(
    { period: c.sources['period'], concurrency: c.sources['concurrency'], timeZone: c.sources['timeZone'] },
    { period: 'flag', concurrency: 'env', timeZone: 'file' },
  );
  const viaEnv = await loadAgentConfig(
    sources({ env: { BOSUN_CONFIG: '/etc/bosun/agent.yaml' }, files: file }),
  );
  assert.equal(viaEnv.periodMs, 300_000);
});

test('every setting is read the same way from a flag, a variable and the file', async () => {
  const yaml = [
    'rebootDays: [mon-fri]',
    'startTime: "22:00"',
    'endTime: 4am',
    'timeZone: America/New_York',
    'monthlyRule: ["2nd tuesday +1d"]',
    'blackoutDates: ["12-24..12-26"]',
    'blockingPodSelector: ["app=backup,tier in (db)", "heavy"]',
    'blockingPodScope: cluster',
    'prometheusUrl: http://prometheus.monitoring:9090',
    'alertFilterRegexp: ^(Watchdog|InfoInhibitor)$',
    'alertFiringOnly: true',
    'notifyUrl: https://ops.example.com/hook?token=abc',
    'slackWebhookUrl: https://hooks.slack.com/services/T/B/secret',
    'slackChannel: "#ops"',
    'drainTimeout: 15m',
    'gracePeriod: 60',
    'deleteEmptydirData: true',
    'ignorePreflightErrors: [opt-out]',
    'escalate: ["after=10m,action=give-up", "after=5m,action=delete,namespace=batch"]',
    'healthTimeout: 20m',
    'rebootSentinelCommand: sh -c "test -f /run/reboot-needed"',
    'rebootMethod: signal',
    'hostRoot: /host',
  ].join('\n');
  const fromFile = await loadAgentConfig(
    sources({ flags: { config: '/c.yaml' }, files: { '/c.yaml': yaml } }),
  );
  const fromEnv = await loadAgentConfig(
    sources({
      env: {
        BOSUN_REBOOT_DAYS: 'mon-fri',
        BOSUN_START_TIME: '22:00',
        BOSUN_END_TIME: '4am',
        BOSUN_TIME_ZONE: 'America/New_York',
        BOSUN_MONTHLY_RULE: '2nd tuesday +1d',
        BOSUN_BLACKOUT_DATES: '12-24..12-26',
        BOSUN_BLOCKING_POD_SELECTOR: 'app=backup,tier in (db);heavy',
        BOSUN_BLOCKING_POD_SCOPE: 'cluster',
        BOSUN_PROMETHEUS_URL: 'http://prometheus.monitoring:9090',
        BOSUN_ALERT_FILTER_REGEXP: '^(Watchdog|InfoInhibitor)$',
        BOSUN_ALERT_FIRING_ONLY: 'true',
        BOSUN_NOTIFY_URL: 'https://ops.example.com/hook?token=abc',
        BOSUN_SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T/B/secret',
        BOSUN_SLACK_CHANNEL: '#ops',
        BOSUN_DRAIN_TIMEOUT: '15m',
        BOSUN_GRACE_PERIOD: '60',
        BOSUN_DELETE_EMPTYDIR_DATA: 'true',
        BOSUN_IGNORE_PREFLIGHT_ERRORS: 'opt-out',
        BOSUN_ESCALATE: 'after=10m,action=give-up;after=5m,action=delete,namespace=batch',
        BOSUN_HEALTH_TIMEOUT: '20m',
        BOSUN_REBOOT_SENTINEL_COMMAND: 'sh -c "test -f /run/reboot-needed"',
        BOSUN_REBOOT_METHOD: 'signal',
        BOSUN_HOST_ROOT: '/host',
      },
    }),
  );
  const fromFlags = await loadAgentConfig(
    sources({
      flags: {
        rebootDays: ['mon-fri'],
        startTime: '22:00',
        endTime: '4am',
        timeZone: 'America/New_York',
        monthlyRule: ['2nd tuesday +1d'],
        blackoutDates: ['12-24..12-26'],
        blockingPodSelector: ['app=backup,tier in (db)', 'heavy'],
        blockingPodScope: 'cluster',
        prometheusUrl: 'http://prometheus.monitoring:9090',
        alertFilterRegexp: '^(Watchdog|InfoInhibitor)$',
        alertFiringOnly: true,
        notifyUrl: 'https://ops.example.com/hook?token=abc',
        slackWebhookUrl: 'https://hooks.slack.com/services/T/B/secret',
        slackChannel: '#ops',
        drainTimeout: '15m',
        gracePeriod: '60',
        deleteEmptydirData: true,
        ignorePreflightErrors: ['opt-out'],
        escalate: ['after=10m,action=give-up', 'after=5m,action=delete,namespace=batch'],
        healthTimeout: '20m',
        rebootSentinelCommand: 'sh -c "test -f /run/reboot-needed"',
        rebootMethod: 'signal',
        hostRoot: '/host',
      },
    }),
  );
  for (const c of [fromFile, fromEnv, fromFlags]) {
    const { sources: _s, ...rest } = c;
    const { sources: _t, ...want } = fromFile;
    assert.deepEqual(rest, want);
  }
  const c = fromFile;
  assert.equal(c.window.timeZone, 'America/New_York');
  assert.deepEqual(c.window.days, [1, 2, 3, 4, 5]);
  assert.deepEqual(c.blockers.podSelectors, ['app=backup,tier in (db)', 'heavy']);
  assert.equal(c.blockers.alertFilter.regexp?.test('Watchdog'), true);
  assert.deepEqual(c.sentinel, { kind: 'command', argv: ['sh', '-c', 'test -f /run/reboot-needed'] });
  assert.deepEqual(c.reboot, { method: 'signal', signal: 39 });
  assert.deepEqual(c.notify.slack, {
    url: 'https://hooks.slack.com/services/T/B/secret',
    channel: '#ops',
    username: 'bosun',
  });
  assert.deepEqual([...(c.drain.ignorePreflight as Set<string>)], ['opt-out']);
  assert.deepEqual(
    c.drain.escalation.rules.map((r) => r.text),
    ['after=10m,action=give-up', 'after=5m,action=delete,namespace=batch'],
  );
});

const errors: { name: string; src: Parameters<typeof sources>[0]; want: string }[] = [
  {
    name: 'no node name',
    src: { env: { BOSUN_NODE_NAME: '' } },
    want: "the node's name is not set: BOSUN_NODE_NAME (the chart sets it from spec.nodeName) or --node-name",
  },
  {
    name: 'a malformed duration',
    src: { env: { BOSUN_PERIOD: '2x' } },
    want: 'invalid value "2x" for BOSUN_PERIOD: not a duration (use e.g. 30s, 5m, 1h30m)',
  },
  {
    name: 'a zero period',
    src: { flags: { period: '0s' } },
    want: 'invalid value "0s" for --period: must be greater than zero',
  },
  {
    name: 'an unknown time zone',
    src: { env: { BOSUN_TIME_ZONE: 'Europe/Atlantis' } },
    want: 'BOSUN_TIME_ZONE: unknown time zone "Europe/Atlantis" (use an IANA name such as Europe/Berlin or America/New_York, or UTC)',
  },
  {
    name: 'a malformed start time in the file',
    src: { flags: { config: '/c.yaml' }, files: { '/c.yaml': 'startTime: "25:00"\n' } },
    want: 'startTime in /c.yaml: invalid startTime "25:00" (use HH:MM, HH:MM:SS or 10pm, 00:00 to 23:59)',
  },
  {
    name: 'a monthly rule that never falls on a reboot day',
    src: { flags: { monthlyRule: ['first monday'], rebootDays: ['sat,sun'] } },
    want: '--monthly-rule: monthlyRule "first monday" never falls on rebootDays (sun,sat): the window would never open',
  },
  {
    name: 'a malformed selector',
    src: { env: { BOSUN_BLOCKING_POD_SELECTOR: 'app in (' } },
    want: "invalid value \"app in (\" for BOSUN_BLOCKING_POD_SELECTOR: \"app in (\" is not a label selector: unable to parse requirement: found '', expected: ',', ')' or identifier",
  },
  {
    name: 'a URL with another scheme',
    src: { env: { BOSUN_PROMETHEUS_URL: 'ftp://prom:9090' } },
    want: 'invalid value "ftp://prom:9090" for BOSUN_PROMETHEUS_URL: must be an http:// or https:// URL',
  },
  {
    name: 'a webhook URL that is not a URL, without showing it',
    src: { env: { BOSUN_SLACK_WEBHOOK_URL: 'hooks.slack.com/services/T/B/s3cr3t' } },
    want: 'invalid value "<invalid URL>" for BOSUN_SLACK_WEBHOOK_URL: not a URL (e.g. https://hooks.example.com/...)',
  },
  {
    name: 'a webhook URL with another scheme, shown without its token',
    src: { flags: { notifyUrl: 'ftp://ops.example.com/hook/s3cr3t' } },
    want: 'invalid value "ftp://ops.example.com/…" for --notify-url: must be an http:// or https:// URL',
  },
  {
    name: 'a malformed regexp',
    src: { env: { BOSUN_ALERT_FILTER_REGEXP: '(Watchdog' } },
    want: 'invalid value "(Watchdog" for BOSUN_ALERT_FILTER_REGEXP: not a regular expression: /(Watchdog/: Unterminated group',
  },
  {
    name: 'match-only without a regexp',
    src: { env: { BOSUN_ALERT_FILTER_MATCH_ONLY: 'true' } },
    want: '--alert-filter-match-only needs --alert-filter-regexp: without it no alert would ever block',
  },
  {
    name: 'a concurrency of zero',
    src: { flags: { concurrency: '0' } },
    want: 'invalid value "0" for --concurrency: must be between 1 and 1000',
  },
  {
    name: 'a port out of range',
    src: { env: { BOSUN_METRICS_PORT: '70000' } },
    want: 'invalid value "70000" for BOSUN_METRICS_PORT: must be between 0 and 65535',
  },
  {
    name: 'a boolean that is not one',
    src: { env: { BOSUN_FORCE: 'maybe' } },
    want: 'invalid value "maybe" for BOSUN_FORCE: must be true or false',
  },
  {
    name: 'an unterminated quote in the reboot command',
    src: { flags: { rebootCommand: "sh -c 'systemctl reboot" } },
    want: 'invalid value "sh -c \'systemctl reboot" for --reboot-command: unterminated single quote',
  },
  {
    name: 'a relative sentinel path',
    src: { env: { BOSUN_REBOOT_SENTINEL: 'var/run/reboot-required' } },
    want: 'invalid value "var/run/reboot-required" for BOSUN_REBOOT_SENTINEL: must be an absolute path on the host',
  },
  {
    name: 'an unknown reboot method',
    src: { env: { BOSUN_REBOOT_METHOD: 'kexec' } },
    want: 'invalid value "kexec" for BOSUN_REBOOT_METHOD: must be one of command, signal',
  },
  {
    name: 'an unknown pre-flight check',
    src: { flags: { ignorePreflightErrors: ['opt-out,bogus'] } },
    want: 'invalid value ["opt-out,bogus"] for --ignore-preflight-errors: unknown pre-flight check "bogus" (known: pdb-never-allows, multiple-pdbs, unschedulable, opt-out, forbidden, all)',
  },
  {
    name: 'an escalation rule that deletes everywhere',
    src: { env: { BOSUN_ESCALATE: 'after=5m,action=delete' } },
    want: 'invalid value "after=5m,action=delete" for BOSUN_ESCALATE: invalid escalation rule "after=5m,action=delete": a rule that deletes pods must name a namespace or a selector',
  },
  {
    name: 'a retry cap below the first retry',
    src: { env: { BOSUN_RETRY_DELAY: '10m', BOSUN_RETRY_MAX_DELAY: '5m' } },
    want: 'invalid value "5m" for BOSUN_RETRY_MAX_DELAY: must not be shorter than --retry-delay',
  },
  {
    name: 'a lock TTL too short to renew',
    src: { env: { BOSUN_LOCK_TTL: '1s' } },
    want: 'invalid value "1s" for BOSUN_LOCK_TTL: must be at least 10s',
  },
  {
    name: 'a namespace that is not a name',
    src: { env: { BOSUN_NAMESPACE: 'Bosun_System' } },
    want: 'invalid value "Bosun_System" for BOSUN_NAMESPACE: not a namespace name (lowercase letters, digits and "-", at most 63)',
  },
  // the config file
  {
    name: 'an unknown key in the config file, with the key it resembles',
    src: { flags: { config: '/c.yaml' }, files: { '/c.yaml': 'period: 5m\nrebootDay: [mon]\n' } },
    want: 'config file /c.yaml: unknown key "rebootDay" (did you mean "rebootDays"?)',
  },
  {
    name: 'an unknown key that resembles nothing',
    src: { flags: { config: '/c.yaml' }, files: { '/c.yaml': 'colour: blue\n' } },
    want: 'config file /c.yaml: unknown key "colour"',
  },
  {
    name: 'a Kured-style kebab-case key',
    src: { flags: { config: '/c.yaml' }, files: { '/c.yaml': 'reboot-days: [mon]\n' } },
    want: 'config file /c.yaml: unknown key "reboot-days" (did you mean "rebootDays"?)',
  },
  {
    name: 'a value of the wrong type in the file',
    src: { flags: { config: '/c.yaml' }, files: { '/c.yaml': 'rebootDays: {mon: true}\n' } },
    want: 'config file /c.yaml: rebootDays must be a list of strings',
  },
  {
    name: 'a config file that is not a mapping',
    src: { flags: { config: '/c.yaml' }, files: { '/c.yaml': '- period\n' } },
    want: 'config file /c.yaml must be a mapping of settings (e.g. "period: 5m"), not a list',
  },
  {
    name: 'a config file that is not YAML',
    src: { flags: { config: '/c.yaml' }, files: { '/c.yaml': 'period: [5m\n' } },
    want: 'config file /c.yaml is not valid YAML: Flow sequence in block collection must be sufficiently indented and end with a ] at line 2, column 1',
  },
  {
    name: 'a config file that does not exist',
    src: { env: { BOSUN_CONFIG: '/etc/bosun/missing.yaml' } },
    want: 'cannot read config file /etc/bosun/missing.yaml (from BOSUN_CONFIG): no such file',
  },
];
for (const tc of errors) {
  test(`bad input is one clear line at start-up (exit 2): ${tc.name}`, async () => {
    assert.equal(await usageLine(sources(tc.src)), tc.want);
  });
}

test('an empty config file is no setting at all', async () => {
  const c = await loadAgentConfig(
    sources({ flags: { config: '/c.yaml' }, files: { '/c.yaml': '# nothing yet\n' } }),
  );
  assert.equal(c.periodMs, 60_000);
});

test('describeConfig shows the settings without any token', async () => {
  const c = await loadAgentConfig(
    sources({
      env: {
        BOSUN_NOTIFY_URL: 'https://ops.example.com/hook?token=abc123',
        BOSUN_SLACK_WEBHOOK_URL: 'https://hooks.slack.com/services/T0/B0/s3cr3t',
        BOSUN_PROMETHEUS_URL: 'http://admin:pw@prom:9090',
        BOSUN_START_TIME: '22:00',
        BOSUN_END_TIME: '04:00',
      },
    }),
  );
  const d = describeConfig(c);
  const text = JSON.stringify(d);
  for (const secret of ['abc123', 's3cr3t', 'admin', ':pw@'])
    assert.ok(!text.includes(secret), `${secret} in ${text}`);
  assert.equal(d['notifyUrl'], 'https://ops.example.com/…');
  assert.equal(d['slackWebhookUrl'], 'https://hooks.slack.com/…');
  assert.equal(d['prometheusUrl'], 'http://prom:9090');
  assert.equal(d['window'], 'every day 22:00-04:00 UTC');
  assert.equal(d['reboot'], 'systemctl reboot');
});
