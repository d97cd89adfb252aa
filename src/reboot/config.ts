// The reboot agent's configuration, read from the flags of flags.ts (AGENT_FLAGS) on the command
// line, in the environment (BOSUN_*) and in a config file (YAML, --config or BOSUN_CONFIG), in that
// order of precedence, then the defaults.
//
// Everything is checked at start-up, before the agent touches anything: a malformed window, time
// zone, duration, selector, regexp, command line or webhook URL, a config file with an unknown key
// or a value of the wrong type, is one UsageError (exit 2) whose line says which value, from
// where, and what is wrong. Secrets (webhook URLs) never appear in messages or in describeConfig().
// No I/O but the config file, read through the port it is given.
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseDuration } from '../common/duration.ts';
import { UsageError } from '../common/errors.ts';
import {
  DEFAULT_DRAIN_OPTIONS,
  PREFLIGHT_CHECKS,
  parseEscalationRule,
  parseSelector,
  type EscalationPolicy,
  type PreflightCheck,
} from '../drain/index.ts';
import { parseExecTemplate } from '../host/index.ts';
import { splitCommandLine } from './argv.ts';
import type { AlertFilter, PodScope } from './blockers.ts';
import { redactUrl } from './http.ts';
import type { SentinelSpec } from './sentinel.ts';
import { AGENT_FLAGS, envOf, flagOf, type FlagSpec } from './flags.ts';
import { describeWindow, parseWindow, type MaintenanceWindow, type WindowInput } from './window.ts';

/** The checked configuration the agent runs with. Durations in milliseconds. */
export interface AgentConfig {
  nodeName: string;
  namespace: string;
  clusterName?: string;
  periodMs: number;
  sentinel: SentinelSpec;
  reboot: { method: 'command'; argv: string[] } | { method: 'signal'; signal: number };
  hostRoot: string;
  /** How host commands run: in the host's namespaces through a template, or where the agent runs. */
  hostExec: { kind: 'local' } | { kind: 'template'; text: string };
  rebootTimeoutMs: number;
  window: MaintenanceWindow;
  concurrency: number;
  lockTtlMs: number;
  blockers: {
    podSelectors: string[];
    podScope: PodScope;
    prometheusUrl?: string;
    alertmanagerUrl?: string;
    alertFilter: AlertFilter;
  };
  notify: {
    webhookUrl?: string;
    slack?: { url: string; channel?: string; username?: string };
  };
  httpTimeoutMs: number;
  drain: {
    timeoutMs: number;
    gracePeriodSeconds: number;
    deleteEmptyDirData: boolean;
    force: boolean;
    podSelector: string;
    skipWaitForDeleteTimeoutSeconds: number;
    disableEviction: boolean;
    ignorePreflight: ReadonlySet<PreflightCheck> | 'all';
    escalation: EscalationPolicy;
  };
  healthTimeoutMs: number;
  healthSettleMs: number;
  restoreTimeoutMs: number;
  retryDelayMs: number;
  retryMaxDelayMs: number;
  metricsHost: string;
  metricsPort: number;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
  /** Where each setting came from, for the start-up log line. */
  sources: Record<string, 'flag' | 'env' | 'file' | 'default'>;
}

/** Where the settings come from. */
export interface ConfigSources {
  /** Flags as the command line parsed them, by camelCase name (only those given). */
  flags: Readonly<Record<string, unknown>>;
  /** The environment (only BOSUN_* is read). */
  env: Readonly<Record<string, string | undefined>>;
  /** Reads the config file (--config / BOSUN_CONFIG). */
  readFile?: (path: string) => Promise<string>;
}

const HINT = "See 'bosun agent -h' for help and examples";

function usage(message: string): UsageError {
  return new UsageError(message, { hint: HINT });
}

type Raw = string | number | boolean | readonly string[];
interface Located {
  value: Raw;
  /** "--period", "BOSUN_PERIOD" or "period in /etc/bosun/agent.yaml". */
  where: string;
  source: 'flag' | 'env' | 'file' | 'default';
}

function show(v: Raw, spec: FlagSpec): string {
  if (spec.secret) return typeof v === 'string' ? `"${redactUrl(v)}"` : '<secret>';
  return JSON.stringify(v);
}

/** The zod schema of the config file: every key optional, no other key allowed. */
function fileSchema(): z.ZodType<Record<string, unknown>> {
  const shape: Record<string, z.ZodType> = {};
  for (const spec of AGENT_FLAGS) {
    if (spec.name === 'config') continue;
    const t =
      spec.kind === 'list'
        ? z.union([z.array(z.string()), z.string()])
        : spec.kind === 'int'
          ? z.union([z.number().int(), z.string()])
          : spec.kind === 'bool'
            ? z.union([z.boolean(), z.string()])
            : spec.kind === 'duration'
              ? z.union([z.string(), z.number()])
              : z.string();
    shape[spec.name] = t.optional();
  }
  return z.strictObject(shape);
}

function levenshtein(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) (d[0] as number[])[j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const row = d[i] as number[];
      const prev = d[i - 1] as number[];
      row[j] = Math.min(
        (prev[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (prev[j - 1] as number) + (a[i - 1]?.toLowerCase() === b[j - 1]?.toLowerCase() ? 0 : 1),
      );
    }
  return (d[a.length] as number[])[b.length] as number;
}

/** The known key closest to an unknown one, when it is close enough to be a typo. */
function suggest(key: string): string | undefined {
  let best: { name: string; d: number } | undefined;
  for (const spec of AGENT_FLAGS) {
    if (spec.name === 'config') continue;
    const d = levenshtein(key, spec.name);
    if (best === undefined || d < best.d) best = { name: spec.name, d };
  }
  return best !== undefined && best.d <= Math.max(2, Math.floor(key.length / 4)) ? best.name : undefined;
}

/** Parses and checks the config file's text. */
export function parseConfigFile(path: string, text: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    const first = ((e instanceof Error ? e.message : String(e)).split('\n')[0] ?? '').replace(/:$/, '');
    throw usage(`config file ${path} is not valid YAML: ${first}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc))
    throw usage(
      `config file ${path} must be a mapping of settings (e.g. "period: 5m"), not a ${Array.isArray(doc) ? 'list' : typeof doc}`,
    );
  const r = fileSchema().safeParse(doc);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  if (issue?.code === 'unrecognized_keys') {
    const key = issue.keys[0] ?? '';
    const near = suggest(key);
    throw usage(`config file ${path}: unknown key "${key}"${near ? ` (did you mean "${near}"?)` : ''}`);
  }
  const key = String(issue?.path[0] ?? '');
  const spec = AGENT_FLAGS.find((s) => s.name === key);
  const want =
    spec?.kind === 'list'
      ? 'a list of strings'
      : spec?.kind === 'int'
        ? 'an integer'
        : spec?.kind === 'bool'
          ? 'true or false'
          : spec?.kind === 'duration'
            ? 'a duration such as 30s, 5m or 1h30m'
            : 'a string';
  throw usage(`config file ${path}: ${key} must be ${want}`);
}

function locate(
  spec: FlagSpec,
  src: ConfigSources,
  file: { path: string; data: Record<string, unknown> } | undefined,
): Located | undefined {
  const flag = src.flags[spec.name];
  if (flag !== undefined) return { value: flag as Raw, where: flagOf(spec.name), source: 'flag' };
  const env = src.env[envOf(spec.name)];
  if (env !== undefined && env !== '') return { value: env, where: envOf(spec.name), source: 'env' };
  const inFile = file?.data[spec.name];
  if (inFile !== undefined && file)
    return { value: inFile as Raw, where: `${spec.name} in ${file.path}`, source: 'file' };
  if (spec.default !== undefined) return { value: spec.default, where: flagOf(spec.name), source: 'default' };
  return undefined;
}

function bad(l: Located, spec: FlagSpec, why: string): UsageError {
  return usage(`invalid value ${show(l.value, spec)} for ${l.where}: ${why}`);
}

function asString(l: Located, spec: FlagSpec): string {
  if (typeof l.value === 'string') return l.value.trim();
  if (typeof l.value === 'number' || typeof l.value === 'boolean') return String(l.value);
  throw bad(l, spec, 'expected one value, not a list');
}

function asList(l: Located, spec: FlagSpec): string[] {
  const sep = spec.separator ?? ',';
  const items =
    typeof l.value === 'string'
      ? [l.value]
      : Array.isArray(l.value)
        ? (l.value as string[])
        : [String(l.value)];
  return items
    .flatMap((i) => String(i).split(sep))
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function asDuration(l: Located, spec: FlagSpec): number {
  const ms = parseDuration(asString(l, spec));
  if (ms === undefined) throw bad(l, spec, 'not a duration (use e.g. 30s, 5m, 1h30m)');
  return ms;
}

function asInt(l: Located, spec: FlagSpec, min: number, max: number): number {
  const s = asString(l, spec);
  if (!/^-?\d+$/.test(s)) throw bad(l, spec, 'not an integer');
  const n = Number(s);
  if (n < min || n > max) throw bad(l, spec, `must be between ${min} and ${max}`);
  return n;
}

function asBool(l: Located, spec: FlagSpec): boolean {
  if (typeof l.value === 'boolean') return l.value;
  const s = asString(l, spec).toLowerCase();
  if (['true', '1', 'yes'].includes(s)) return true;
  if (['false', '0', 'no'].includes(s)) return false;
  throw bad(l, spec, 'must be true or false');
}

function asEnum<T extends string>(l: Located, spec: FlagSpec): T {
  const s = asString(l, spec);
  if (!(spec.values ?? []).includes(s))
    throw bad(l, spec, `must be one of ${(spec.values ?? []).join(', ')}`);
  return s as T;
}

function asUrl(l: Located, spec: FlagSpec): string {
  const s = asString(l, spec);
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw bad(l, spec, 'not a URL (e.g. https://hooks.example.com/...)');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw bad(l, spec, 'must be an http:// or https:// URL');
  if (u.hostname === '') throw bad(l, spec, 'the URL names no host');
  return s;
}

function asRegexp(l: Located, spec: FlagSpec): RegExp {
  const s = asString(l, spec);
  try {
    return new RegExp(s);
  } catch (e) {
    throw bad(
      l,
      spec,
      `not a regular expression: ${e instanceof Error ? e.message.replace(/^Invalid regular expression: /, '') : String(e)}`,
    );
  }
}

function asCommand(l: Located, spec: FlagSpec): string[] {
  const r = splitCommandLine(asString(l, spec));
  if (!r.ok) throw bad(l, spec, r.error);
  if (r.argv.length === 0) throw bad(l, spec, 'the command is empty');
  return r.argv;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/** Resolves and checks the whole configuration. Throws UsageError with one line for the first problem. */
export async function loadAgentConfig(src: ConfigSources): Promise<AgentConfig> {
  const configSpec = AGENT_FLAGS.find((s) => s.name === 'config') as FlagSpec;
  const configLoc = locate(configSpec, src, undefined);
  let file: { path: string; data: Record<string, unknown> } | undefined;
  if (configLoc !== undefined) {
    const path = asString(configLoc, configSpec);
    if (!src.readFile) throw usage(`${configLoc.where} names a config file, but none can be read here`);
    let text: string;
    try {
      text = await src.readFile(path);
    } catch (e) {
      const code = typeof e === 'object' && e !== null ? (e as { code?: string }).code : undefined;
      throw usage(
        `cannot read config file ${path} (from ${configLoc.where}): ${code === 'ENOENT' ? 'no such file' : e instanceof Error ? e.message : String(e)}`,
      );
    }
    file = { path, data: parseConfigFile(path, text) };
  }
  return resolveAgentConfig(src, file);
}

/** As loadAgentConfig, with the config file already read and parsed (parseConfigFile). */
export function resolveAgentConfig(
  src: ConfigSources,
  file?: { path: string; data: Record<string, unknown> },
): AgentConfig {
  const sources: AgentConfig['sources'] = {};
  const spec = (name: string): FlagSpec => {
    const s = AGENT_FLAGS.find((x) => x.name === name);
    if (!s) throw new Error(`no flag ${name}`);
    return s;
  };
  const get = (name: string): Located | undefined => {
    const l = locate(spec(name), src, file);
    if (l) sources[name] = l.source;
    return l;
  };
  const str = (name: string): string | undefined => {
    const l = get(name);
    return l === undefined ? undefined : asString(l, spec(name));
  };
  const opt = (name: string): string | undefined => {
    const v = str(name);
    return v === undefined || v === '' ? undefined : v;
  };
  const dur = (name: string): number => asDuration(get(name) as Located, spec(name));
  const int = (name: string, min: number, max: number): number =>
    asInt(get(name) as Located, spec(name), min, max);
  const bool = (name: string): boolean => asBool(get(name) as Located, spec(name));
  const list = (name: string): string[] => asList(get(name) as Located, spec(name));
  const url = (name: string): string | undefined => {
    const l = get(name);
    if (l === undefined || (typeof l.value === 'string' && l.value.trim() === '')) return undefined;
    return asUrl(l, spec(name));
  };

  // identity
  const nodeName = opt('nodeName');
  if (nodeName === undefined)
    throw usage(
      `the node's name is not set: ${envOf('nodeName')} (the chart sets it from spec.nodeName) or ${flagOf('nodeName')}`,
    );
  const namespace = str('namespace') as string;
  if (!DNS_LABEL.test(namespace))
    throw bad(
      get('namespace') as Located,
      spec('namespace'),
      'not a namespace name (lowercase letters, digits and "-", at most 63)',
    );
  const clusterName = opt('clusterName');

  // sentinel and reboot
  const periodMs = dur('period');
  if (periodMs <= 0) throw bad(get('period') as Located, spec('period'), 'must be greater than zero');
  const hostRoot = str('hostRoot') as string;
  if (!hostRoot.startsWith('/'))
    throw bad(get('hostRoot') as Located, spec('hostRoot'), 'must be an absolute path');
  const sentinelCmd = get('rebootSentinelCommand');
  let sentinel: SentinelSpec;
  if (sentinelCmd !== undefined && asString(sentinelCmd, spec('rebootSentinelCommand')) !== '') {
    sentinel = { kind: 'command', argv: asCommand(sentinelCmd, spec('rebootSentinelCommand')) };
    get('rebootSentinel');
  } else {
    const path = str('rebootSentinel') as string;
    if (!path.startsWith('/'))
      throw bad(
        get('rebootSentinel') as Located,
        spec('rebootSentinel'),
        'must be an absolute path on the host',
      );
    sentinel = { kind: 'file', path, hostRoot };
  }
  const method = asEnum<'command' | 'signal'>(get('rebootMethod') as Located, spec('rebootMethod'));
  const reboot: AgentConfig['reboot'] =
    method === 'signal'
      ? { method, signal: int('rebootSignal', 1, 64) }
      : { method, argv: asCommand(get('rebootCommand') as Located, spec('rebootCommand')) };
  const hostExecText = str('hostExec') as string;
  let hostExec: AgentConfig['hostExec'];
  if (hostExecText === 'local') hostExec = { kind: 'local' };
  else {
    const t = parseExecTemplate(hostExecText);
    if (!t.ok) throw bad(get('hostExec') as Located, spec('hostExec'), t.error);
    hostExec = { kind: 'template', text: hostExecText };
  }
  const rebootTimeoutMs = dur('rebootTimeout');

  // window
  const windowInput: WindowInput = {
    rebootDays: list('rebootDays'),
    startTime: str('startTime') as string,
    endTime: str('endTime') as string,
    timeZone: str('timeZone') as string,
    monthlyRule: list('monthlyRule'),
    blackoutDates: list('blackoutDates'),
  };
  const w = parseWindow(windowInput);
  if (!w.ok) {
    const l = get(w.field) as Located;
    throw usage(`${l.source === 'default' ? flagOf(w.field) : l.where}: ${w.error}`);
  }

  // lock
  const concurrency = int('concurrency', 1, 1000);
  const lockTtlMs = dur('lockTtl');
  if (lockTtlMs < 10_000) throw bad(get('lockTtl') as Located, spec('lockTtl'), 'must be at least 10s');

  // blockers
  const podSelectors = list('blockingPodSelector');
  for (const sel of podSelectors) {
    const p = parseSelector(sel);
    if (!p.ok)
      throw bad(
        get('blockingPodSelector') as Located,
        spec('blockingPodSelector'),
        `"${sel}" is not a label selector: ${p.error}`,
      );
  }
  const podScope = asEnum<PodScope>(get('blockingPodScope') as Located, spec('blockingPodScope'));
  const prometheusUrl = url('prometheusUrl');
  const alertmanagerUrl = url('alertmanagerUrl');
  const regexLoc = get('alertFilterRegexp');
  const regexp =
    regexLoc !== undefined && asString(regexLoc, spec('alertFilterRegexp')) !== ''
      ? asRegexp(regexLoc, spec('alertFilterRegexp'))
      : undefined;
  const matchOnly = bool('alertFilterMatchOnly');
  if (matchOnly && regexp === undefined)
    throw usage(
      `${flagOf('alertFilterMatchOnly')} needs ${flagOf('alertFilterRegexp')}: without it no alert would ever block`,
    );
  const alertFilter: AlertFilter = {
    ...(regexp ? { regexp } : {}),
    matchOnly,
    firingOnly: bool('alertFiringOnly'),
  };

  // notifications
  const webhookUrl = url('notifyUrl');
  const slackUrl = url('slackWebhookUrl');
  const slackChannel = opt('slackChannel');
  const slackUsername = opt('slackUsername');
  const httpTimeoutMs = dur('httpTimeout');
  if (httpTimeoutMs <= 0)
    throw bad(get('httpTimeout') as Located, spec('httpTimeout'), 'must be greater than zero');

  // drain
  const drainPodSelector = str('drainPodSelector') as string;
  if (drainPodSelector !== '') {
    const p = parseSelector(drainPodSelector);
    if (!p.ok)
      throw bad(
        get('drainPodSelector') as Located,
        spec('drainPodSelector'),
        `not a label selector: ${p.error}`,
      );
  }
  const ignoreItems = list('ignorePreflightErrors');
  for (const c of ignoreItems)
    if (c !== 'all' && !(PREFLIGHT_CHECKS as readonly string[]).includes(c))
      throw bad(
        get('ignorePreflightErrors') as Located,
        spec('ignorePreflightErrors'),
        `unknown pre-flight check "${c}" (known: ${PREFLIGHT_CHECKS.join(', ')}, all)`,
      );
  const ignorePreflight: ReadonlySet<PreflightCheck> | 'all' = ignoreItems.includes('all')
    ? 'all'
    : new Set(ignoreItems as PreflightCheck[]);
  const rules = list('escalate').map((text) => {
    const r = parseEscalationRule(text);
    if (!r.ok) throw bad(get('escalate') as Located, spec('escalate'), r.error);
    return r.rule;
  });

  // after the reboot
  const healthTimeoutMs = dur('healthTimeout');
  const retryDelayMs = dur('retryDelay');
  const retryMaxDelayMs = dur('retryMaxDelay');
  if (retryMaxDelayMs < retryDelayMs)
    throw bad(
      get('retryMaxDelay') as Located,
      spec('retryMaxDelay'),
      `must not be shorter than ${flagOf('retryDelay')}`,
    );
  for (const [name, v] of [
    ['rebootTimeout', rebootTimeoutMs],
    ['healthTimeout', healthTimeoutMs],
    ['retryDelay', retryDelayMs],
  ] as const)
    if (v <= 0) throw bad(get(name) as Located, spec(name), 'must be greater than zero');

  return {
    nodeName,
    namespace,
    ...(clusterName ? { clusterName } : {}),
    periodMs,
    sentinel,
    reboot,
    hostRoot,
    hostExec,
    rebootTimeoutMs,
    window: w.window,
    concurrency,
    lockTtlMs,
    blockers: {
      podSelectors,
      podScope,
      ...(prometheusUrl ? { prometheusUrl } : {}),
      ...(alertmanagerUrl ? { alertmanagerUrl } : {}),
      alertFilter,
    },
    notify: {
      ...(webhookUrl ? { webhookUrl } : {}),
      ...(slackUrl
        ? {
            slack: {
              url: slackUrl,
              ...(slackChannel ? { channel: slackChannel } : {}),
              ...(slackUsername ? { username: slackUsername } : {}),
            },
          }
        : {}),
    },
    httpTimeoutMs,
    drain: {
      timeoutMs: dur('drainTimeout'),
      gracePeriodSeconds: int('gracePeriod', -1, 86_400 * 365),
      deleteEmptyDirData: bool('deleteEmptydirData'),
      force: bool('force'),
      podSelector: drainPodSelector,
      skipWaitForDeleteTimeoutSeconds: int('skipWaitForDeleteTimeout', 0, 86_400 * 365),
      disableEviction: bool('disableEviction'),
      ignorePreflight,
      escalation: rules.length > 0 ? { rules } : DEFAULT_DRAIN_OPTIONS.escalation,
    },
    healthTimeoutMs,
    healthSettleMs: dur('healthSettle'),
    restoreTimeoutMs: dur('restoreTimeout'),
    retryDelayMs,
    retryMaxDelayMs,
    metricsHost: str('metricsHost') as string,
    metricsPort: int('metricsPort', 0, 65_535),
    logLevel: asEnum<AgentConfig['logLevel']>(get('logLevel') as Located, spec('logLevel')),
    sources,
  };
}

/** The configuration as the start-up log line shows it: plain values, URLs reduced to scheme and host. */
export function describeConfig(c: AgentConfig): Record<string, unknown> {
  return {
    nodeName: c.nodeName,
    namespace: c.namespace,
    ...(c.clusterName ? { clusterName: c.clusterName } : {}),
    period: `${c.periodMs / 1000}s`,
    sentinel: c.sentinel.kind === 'file' ? c.sentinel.path : c.sentinel.argv.join(' '),
    hostRoot: c.hostRoot,
    hostExec: c.hostExec.kind === 'local' ? 'local' : c.hostExec.text,
    reboot: c.reboot.method === 'command' ? c.reboot.argv.join(' ') : `signal ${c.reboot.signal}`,
    window: describeWindow(c.window),
    concurrency: c.concurrency,
    blockingPodSelector: c.blockers.podSelectors,
    blockingPodScope: c.blockers.podScope,
    ...(c.blockers.prometheusUrl ? { prometheusUrl: redactUrl(c.blockers.prometheusUrl) } : {}),
    ...(c.blockers.alertmanagerUrl ? { alertmanagerUrl: redactUrl(c.blockers.alertmanagerUrl) } : {}),
    ...(c.notify.webhookUrl ? { notifyUrl: redactUrl(c.notify.webhookUrl) } : {}),
    ...(c.notify.slack ? { slackWebhookUrl: redactUrl(c.notify.slack.url) } : {}),
    metrics: `${c.metricsHost || '*'}:${c.metricsPort}`,
    sources: c.sources,
  };
}
