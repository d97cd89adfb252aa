// The Helm chart in deploy/helm/bosun, checked with the real helm (extracted by scripts/peers.mjs
// into .cache/peers/helm): it lints, it renders least-privilege RBAC (no wildcard, no Secrets,
// exactly the permissions the agent uses), and the values named after the agent's flags reach the
// DaemonSet as arguments the agent's own configuration loader accepts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml, parseAllDocuments } from 'yaml';
import { loadAgentConfig } from '../src/reboot/config.ts';
import { AGENT_FLAGS, flagOf } from '../src/reboot/flags.ts';

const ROOT = join(import.meta.dirname, '..');
const HELM = join(ROOT, '.cache', 'peers', 'helm');
const CHART = join(ROOT, 'deploy', 'helm', 'bosun');

interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [k: string]: unknown;
}
interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
}
interface Container {
  name: string;
  args: string[];
  env: { name: string; value?: string; valueFrom?: Record<string, Record<string, unknown>> }[];
  ports: { name: string; containerPort: number }[];
  livenessProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
  securityContext: { privileged?: boolean };
  volumeMounts: { name: string; mountPath: string; readOnly?: boolean }[];
}
interface PodSpec {
  hostPID?: boolean;
  serviceAccountName: string;
  containers: Container[];
  volumes: { name: string; hostPath?: { path: string } }[];
  tolerations: { key: string; effect: string; operator: string }[];
}

function helm(args: string[]): { status: number | null; stdout: string; stderr: string } {
  assert.ok(existsSync(HELM), `no helm at ${HELM}: run node scripts/ensure-deps.mjs`);
  const r = spawnSync(HELM, args, {
    encoding: 'utf8',
    env: { ...process.env, HELM_CACHE_HOME: join(ROOT, '.cache', 'helm') },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `helm template` with --set-string/--set values; every rendered object. */
function render(set: string[] = [], setString: string[] = []): K8sObject[] {
  const r = helm([
    'template',
    'bosun',
    CHART,
    '--namespace',
    'bosun-system',
    ...set.flatMap((s) => ['--set', s]),
    ...setString.flatMap((s) => ['--set-string', s]),
  ]);
  assert.equal(r.status, 0, r.stderr);
  return parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as K8sObject | null)
    .filter((o): o is K8sObject => o !== null);
}

function one(objs: K8sObject[], kind: string, name?: string): K8sObject {
  const found = objs.filter((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  assert.equal(found.length, 1, `${kind} ${name ?? ''}: ${found.length} rendered`);
  return found[0] as K8sObject;
}

function podSpec(objs: K8sObject[]): PodSpec {
  const ds = one(objs, 'DaemonSet') as unknown as { spec: { template: { spec: PodSpec } } };
  return ds.spec.template.spec;
}

function agent(objs: K8sObject[]): Container {
  const c = podSpec(objs).containers.find((x) => x.name === 'agent');
  assert.ok(c, 'the agent container');
  return c;
}

/** The rendered arguments as the flags record the CLI would hand to loadAgentConfig. */
function flagsOf(args: string[]): Record<string, unknown> {
  assert.equal(args[0], 'agent');
  const flags: Record<string, unknown> = {};
  for (const a of args.slice(1)) {
    const m = /^--([a-z-]+)=(.*)$/s.exec(a);
    assert.ok(m, `argument ${a} is --flag=value`);
    const spec = AGENT_FLAGS.find((s) => flagOf(s.name) === `--${m[1]}`);
    assert.ok(spec, `--${m[1]} is a flag of bosun agent`);
    if (spec.kind === 'list')
      flags[spec.name] = [...((flags[spec.name] as string[] | undefined) ?? []), m[2]];
    else {
      assert.equal(flags[spec.name], undefined, `--${m[1]} given once`);
      flags[spec.name] = m[2];
    }
  }
  return flags;
}

test('helm lint --strict passes', () => {
  const r = helm(['lint', '--strict', CHART]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
});

test('the RBAC grants exactly what the agent uses: no wildcard, no Secrets, delete on pods only when asked', () => {
  const objs = render();
  const rules = (kind: string, name: string): Rule[] =>
    (one(objs, kind, name) as unknown as { rules: Rule[] }).rules;
  const flat = (rs: Rule[]): string[] =>
    rs
      .flatMap((r) =>
        r.apiGroups.flatMap((g) =>
          r.resources.flatMap((res) => r.verbs.map((v) => `${g || 'core'}/${res}:${v}`)),
        ),
      )
      .sort();

  assert.deepEqual(flat(rules('ClusterRole', 'bosun')), [
    'apps/daemonsets:get',
    'apps/replicasets:get',
    'apps/statefulsets:get',
    'core/events:create',
    'core/events:list',
    'core/nodes:get',
    'core/nodes:list',
    'core/nodes:patch',
    'core/nodes:watch',
    'core/pods/eviction:create',
    'core/pods:list',
    'core/pods:watch',
    'core/replicationcontrollers:get',
    'policy/poddisruptionbudgets:list',
  ]);
  const lock = one(objs, 'Role', 'bosun-lock');
  assert.equal(lock.metadata.namespace, 'bosun-system');
  assert.deepEqual(flat(rules('Role', 'bosun-lock')), [
    'coordination.k8s.io/leases:create',
    'coordination.k8s.io/leases:get',
    'coordination.k8s.io/leases:update',
    'coordination.k8s.io/leases:watch',
  ]);
  assert.equal(one(objs, 'Role', 'bosun-node-heartbeat').metadata.namespace, 'kube-node-lease');
  assert.deepEqual(flat(rules('Role', 'bosun-node-heartbeat')), ['coordination.k8s.io/leases:get']);

  for (const o of objs.filter((x) => x.kind === 'ClusterRole' || x.kind === 'Role')) {
    for (const r of (o as unknown as { rules: Rule[] }).rules) {
      for (const field of [r.apiGroups, r.resources, r.verbs])
        assert.ok(!field.includes('*'), `${o.kind} ${o.metadata.name}: wildcard`);
      assert.ok(!r.resources.some((x) => x.startsWith('secrets')), `${o.kind} ${o.metadata.name}: secrets`);
    }
  }
  // Every binding binds the chart's ServiceAccount to the chart's role.
  for (const b of objs.filter((x) => x.kind === 'ClusterRoleBinding' || x.kind === 'RoleBinding')) {
    const binding = b as unknown as {
      roleRef: { kind: string; name: string };
      subjects: { kind: string; name: string; namespace: string }[];
    };
    assert.deepEqual(binding.subjects, [
      { kind: 'ServiceAccount', name: 'bosun', namespace: 'bosun-system' },
    ]);
    assert.ok(binding.roleRef.name === b.metadata.name, `${b.kind} ${b.metadata.name} binds its own role`);
  }

  for (const set of [['disableEviction=true'], ['escalate[0]=after=5m\\,action=delete\\,namespace=batch']]) {
    const pods = (one(render(set), 'ClusterRole', 'bosun') as unknown as { rules: Rule[] }).rules.find((r) =>
      r.resources.includes('pods'),
    );
    assert.deepEqual(pods?.verbs, ['list', 'watch', 'delete'], set.join(' '));
  }
  const giveUp = render(['escalate[0]=after=10m\\,action=give-up']);
  const pods = (one(giveUp, 'ClusterRole', 'bosun') as unknown as { rules: Rule[] }).rules.find((r) =>
    r.resources.includes('pods'),
  );
  assert.deepEqual(pods?.verbs, ['list', 'watch'], 'a rule that only gives up deletes nothing');

  const noRbac = render(['rbac.create=false']);
  assert.equal(noRbac.filter((o) => o.apiVersion.startsWith('rbac.authorization.k8s.io')).length, 0);
});

test('the DaemonSet runs `bosun agent` with the host mounts and namespaces it needs, probes on /healthz, on control planes too', () => {
  const objs = render();
  const spec = podSpec(objs);
  const c = agent(objs);
  assert.equal(spec.hostPID, true, 'nsenter into PID 1 and signals to the host init');
  assert.equal(spec.serviceAccountName, 'bosun');
  assert.equal(c.securityContext.privileged, true);
  assert.deepEqual(c.volumeMounts, [{ name: 'host-root', mountPath: '/host', readOnly: true }]);
  assert.deepEqual(spec.volumes, [{ name: 'host-root', hostPath: { path: '/', type: 'Directory' } }]);
  assert.deepEqual(c.args.slice(0, 3), ['agent', '--namespace=bosun-system', '--host-root=/host']);
  assert.deepEqual(c.env.slice(0, 3), [
    { name: 'BOSUN_NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
    // Its own pod, which the health gate after the reboot does not wait for.
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
  ]);
  assert.deepEqual(c.ports, [{ name: 'metrics', containerPort: 8080, protocol: 'TCP' }]);
  assert.deepEqual(c.livenessProbe.httpGet, { path: '/healthz', port: 'metrics' });
  assert.deepEqual(c.readinessProbe.httpGet, { path: '/healthz', port: 'metrics' });
  assert.ok(
    spec.tolerations.some(
      (t) => t.key === 'node-role.kubernetes.io/control-plane' && t.effect === 'NoSchedule',
    ),
  );
  assert.equal(objs.filter((o) => o.kind === 'Secret').length, 0, 'no Secret without webhook URLs');
  assert.equal(objs.filter((o) => o.kind === 'ServiceMonitor' || o.kind === 'Service').length, 0);
});

test("values.yaml's defaults are the agent's, for every flag the chart passes", () => {
  const values = parseYaml(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Record<string, unknown>;
  const managed = ['config', 'nodeName', 'namespace', 'hostRoot', 'metricsHost'];
  for (const spec of AGENT_FLAGS) {
    if (managed.includes(spec.name)) {
      assert.equal(values[spec.name], undefined, `${spec.name} is set by the chart, not a value`);
      continue;
    }
    assert.ok(spec.name in values, `values.yaml has ${spec.name}`);
    const want = spec.default === undefined ? '' : spec.default;
    assert.deepEqual(
      values[spec.name],
      want,
      `${spec.name}: values.yaml ${JSON.stringify(values[spec.name])}, agent ${JSON.stringify(want)}`,
    );
  }
});

test('the default DaemonSet arguments are accepted by the agent as they are', async () => {
  const c = agent(render());
  const cfg = await loadAgentConfig({ flags: flagsOf(c.args), env: { BOSUN_NODE_NAME: 'worker-1' } });
  assert.equal(cfg.namespace, 'bosun-system');
  assert.equal(cfg.hostRoot, '/host');
  assert.deepEqual(cfg.sentinel, { kind: 'file', path: '/var/run/reboot-required', hostRoot: '/host' });
  // Every setting comes from the DaemonSet but the ones whose default is empty (nothing to pass).
  const fromDefaults = Object.entries(cfg.sources)
    .filter(([, source]) => source !== 'flag' && source !== 'env')
    .map(([name]) => name)
    .sort();
  const empty = AGENT_FLAGS.filter(
    (s) => s.default === '' || (Array.isArray(s.default) && s.default.length === 0),
  ).map((s) => s.name);
  assert.deepEqual(fromDefaults, empty.sort());
});

test('values flow into the arguments, and the agent reads them back', async () => {
  const objs = render(
    [
      'period=2s',
      'concurrency=3',
      'rebootDays={mon,tue,wed}',
      'monthlyRule={2nd tuesday}',
      'blackoutDates={12-24..12-26}',
      'blockingPodSelector={app=backup\\,tier in (db),heavy}',
      'blockingPodScope=cluster',
      'prometheusUrl=http://prometheus.monitoring:9090',
      'alertFilterRegexp=^(Watchdog|InfoInhibitor)$',
      'deleteEmptydirData=true',
      'gracePeriod=120',
      'ignorePreflightErrors={opt-out,unschedulable}',
      'escalate={after=10m\\,action=give-up}',
      'healthTimeout=20m',
      'metricsPort=9100',
      'rebootCommand=/usr/bin/systemctl reboot --message=bosun',
    ],
    ['startTime=22:00', 'endTime=04:00', 'timeZone=Europe/Berlin', 'slackChannel=#ops'],
  );
  const c = agent(objs);
  for (const a of [
    '--period=2s',
    '--concurrency=3',
    '--reboot-days=mon',
    '--reboot-days=wed',
    '--monthly-rule=2nd tuesday',
    '--blocking-pod-selector=app=backup,tier in (db)',
    '--blocking-pod-selector=heavy',
    '--start-time=22:00',
    '--time-zone=Europe/Berlin',
    '--slack-channel=#ops',
    '--delete-emptydir-data=true',
    '--escalate=after=10m,action=give-up',
    '--metrics-port=9100',
  ])
    assert.ok(c.args.includes(a), `${a} in ${c.args.join(' ')}`);
  assert.equal(c.ports[0]?.containerPort, 9100, 'the metrics port follows metricsPort');

  const cfg = await loadAgentConfig({ flags: flagsOf(c.args), env: { BOSUN_NODE_NAME: 'worker-1' } });
  assert.equal(cfg.periodMs, 2000);
  assert.equal(cfg.concurrency, 3);
  assert.deepEqual(cfg.window.days, [1, 2, 3]);
  assert.equal(cfg.window.timeZone, 'Europe/Berlin');
  assert.equal(cfg.window.monthly[0]?.text, '2nd tuesday');
  assert.deepEqual(cfg.blockers.podSelectors, ['app=backup,tier in (db)', 'heavy']);
  assert.equal(cfg.blockers.podScope, 'cluster');
  assert.equal(cfg.blockers.alertFilter.regexp?.source, '^(Watchdog|InfoInhibitor)$');
  assert.equal(cfg.drain.deleteEmptyDirData, true);
  assert.equal(cfg.drain.gracePeriodSeconds, 120);
  assert.deepEqual([...(cfg.drain.ignorePreflight as Set<string>)].sort(), ['opt-out', 'unschedulable']);
  assert.equal(cfg.healthTimeoutMs, 20 * 60_000);
  assert.equal(cfg.metricsPort, 9100);
  assert.deepEqual(cfg.reboot, {
    method: 'command',
    argv: ['/usr/bin/systemctl', 'reboot', '--message=bosun'],
  });
});

test('webhook URLs go into a Secret and reach the agent through its environment, never its arguments', async () => {
  const notify = 'https://ops.example.com/hooks/bosun?token=abc123';
  const slack = 'https://hooks.slack.com/services/T000/B000/s3cr3t';
  const objs = render([], [`notifyUrl=${notify}`, `slackWebhookUrl=${slack}`]);
  const secret = one(objs, 'Secret', 'bosun-webhooks') as unknown as { stringData: Record<string, string> };
  assert.deepEqual(secret.stringData, { notifyUrl: notify, slackWebhookUrl: slack });
  const c = agent(objs);
  assert.ok(!c.args.some((a) => a.includes('abc123') || a.includes('s3cr3t')), 'no token in the arguments');
  const env = Object.fromEntries(c.env.map((e) => [e.name, e.valueFrom?.['secretKeyRef']]));
  assert.deepEqual(env['BOSUN_NOTIFY_URL'], { name: 'bosun-webhooks', key: 'notifyUrl', optional: false });
  assert.deepEqual(env['BOSUN_SLACK_WEBHOOK_URL'], {
    name: 'bosun-webhooks',
    key: 'slackWebhookUrl',
    optional: false,
  });
  // What the kubelet would put in the environment is read by the agent.
  const cfg = await loadAgentConfig({
    flags: flagsOf(c.args),
    env: { BOSUN_NODE_NAME: 'worker-1', BOSUN_NOTIFY_URL: notify, BOSUN_SLACK_WEBHOOK_URL: slack },
  });
  assert.equal(cfg.notify.webhookUrl, notify);
  assert.equal(cfg.notify.slack?.url, slack);

  const existing = render([], ['existingSecret=team-webhooks']);
  assert.equal(
    existing.filter((o) => o.kind === 'Secret').length,
    0,
    'an existing Secret is used, not created',
  );
  const envs = Object.fromEntries(agent(existing).env.map((e) => [e.name, e.valueFrom?.['secretKeyRef']]));
  assert.deepEqual(envs['BOSUN_NOTIFY_URL'], { name: 'team-webhooks', key: 'notifyUrl', optional: true });
});

test('the ServiceMonitor option renders a metrics Service and a ServiceMonitor scraping /metrics', () => {
  const objs = render([
    'serviceMonitor.enabled=true',
    'serviceMonitor.interval=30s',
    'serviceMonitor.labels.release=prom',
  ]);
  const svc = one(objs, 'Service', 'bosun-metrics') as unknown as {
    spec: { selector: Record<string, string>; ports: { name: string; port: number; targetPort: string }[] };
  };
  assert.deepEqual(svc.spec.ports, [{ name: 'metrics', port: 8080, targetPort: 'metrics', protocol: 'TCP' }]);
  const sm = one(objs, 'ServiceMonitor', 'bosun') as unknown as {
    metadata: { labels: Record<string, string> };
    spec: {
      selector: { matchLabels: Record<string, string> };
      endpoints: { port: string; path: string; interval: string }[];
    };
  };
  assert.equal(sm.metadata.labels['release'], 'prom');
  assert.deepEqual(sm.spec.selector.matchLabels, svc.spec.selector);
  assert.deepEqual(sm.spec.endpoints, [{ port: 'metrics', path: '/metrics', interval: '30s' }]);
});

test('values.schema.json makes helm refuse a value of the wrong type, naming it', () => {
  for (const tc of [
    { set: 'concurrency=abc', want: "at '/concurrency': got string, want integer" },
    { set: 'period=2x', want: "at '/period': '2x' does not match pattern" },
    { set: 'rebootMethod=kexec', want: "at '/rebootMethod': value must be one of 'command', 'signal'" },
    { set: 'deleteEmptydirData=yes', want: "at '/deleteEmptydirData': got string, want boolean" },
    { set: 'notifyUrl=hooks.example.com/x', want: "at '/notifyUrl'" },
  ]) {
    const r = helm(['template', 'bosun', CHART, '--set-string', tc.set]);
    assert.notEqual(r.status, 0, tc.set);
    assert.ok(r.stderr.includes(tc.want), `${tc.set}: ${r.stderr}`);
  }
  // A duration may be a bare number of seconds, as the agent reads it.
  assert.equal(helm(['template', 'bosun', CHART, '--set', 'drainTimeout=0', '--set', 'period=90']).status, 0);
});
