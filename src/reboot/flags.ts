// The reboot agent's flags: one table from which the command line, the environment and the config
// file are all read (config.ts), and from which the Helm chart's values take their names. Names are
// camelCase (the config file key and the Helm value); the flag is their kebab-case form
// (--reboot-sentinel-command); the environment variable is BOSUN_ plus the flag in upper snake case
// (BOSUN_REBOOT_SENTINEL_COMMAND), as Kured's flagToEnvVar binds KURED_*. Kured's names are kept
// where bosun does the same thing (period, rebootSentinel, rebootDays, startTime, endTime,
// timeZone, blockingPodSelector, prometheusUrl, alertFilterRegexp, notifyUrl, lockTtl, ...), and
// the drain's flags keep kubectl's names and help text. Pure: data only.
// The pre-flight's pure module itself, not drain/index.ts: `bosun -h` lists these flags, and must not
// load the drain engine to do so.
import { PREFLIGHT_CHECKS } from '../drain/preflight.ts';

/** How a flag's text is read. */
export type FlagKind = 'string' | 'duration' | 'int' | 'bool' | 'list' | 'enum' | 'url' | 'regexp';

/** One flag of the agent. */
export interface FlagSpec {
  /** camelCase: the config file key and the Helm value. */
  name: string;
  kind: FlagKind;
  /** The default as a user would write it; undefined for none. */
  default?: string | number | boolean | readonly string[];
  /** Help text, kubectl's style. */
  description: string;
  /** Lists: what separates items in one flag, variable or string ("," or ";" for lists of selectors and rules, which contain commas). */
  separator?: ',' | ';';
  /** Enums: the accepted values. */
  values?: readonly string[];
  /** Holds a secret (a URL with a token): never shown. */
  secret?: boolean;
}

const f = (spec: FlagSpec): FlagSpec => spec;

/** Every flag of `bosun agent`, in the order `-h` lists them. */
export const AGENT_FLAGS: readonly FlagSpec[] = [
  f({
    name: 'config',
    kind: 'string',
    description:
      'A YAML file with any of these settings, keyed by their camelCase names (flags and environment variables win over it).',
  }),
  f({
    name: 'nodeName',
    kind: 'string',
    description: 'The node this agent runs on (the chart sets BOSUN_NODE_NAME from spec.nodeName).',
  }),
  f({
    name: 'namespace',
    kind: 'string',
    default: 'bosun-system',
    description: "bosun's namespace, where the lock's Leases live.",
  }),
  f({ name: 'clusterName', kind: 'string', description: 'A name for the cluster, shown in notifications.' }),
  // the sentinel and the reboot
  f({
    name: 'period',
    kind: 'duration',
    default: '1m',
    description:
      'How often the sentinel and the blockers are checked when nothing changed (a sentinel file is also watched for changes).',
  }),
  f({
    name: 'rebootSentinel',
    kind: 'string',
    default: '/var/run/reboot-required',
    description:
      'The file whose existence on the host means a reboot is required (a host path, found under --host-root).',
  }),
  f({
    name: 'rebootSentinelCommand',
    kind: 'string',
    description:
      'A command run in the host namespaces instead of the file check: exit status 0 means a reboot is required, 1 that it is not.',
  }),
  f({
    name: 'rebootMethod',
    kind: 'enum',
    values: ['command', 'signal'],
    default: 'command',
    description: 'How to reboot: run --reboot-command, or send --reboot-signal to the host init (PID 1).',
  }),
  f({
    name: 'rebootCommand',
    kind: 'string',
    default: 'systemctl reboot',
    description: 'The command that reboots the node, run in the host namespaces.',
  }),
  f({
    name: 'rebootSignal',
    kind: 'int',
    default: 39,
    description:
      "The signal sent to the host's PID 1 with --reboot-method=signal (39 is SIGRTMIN+5: systemd's reboot).",
  }),
  f({
    name: 'hostRoot',
    kind: 'string',
    default: '/',
    description: "Where the host's / is mounted in the container (the chart mounts it at /host).",
  }),
  f({
    name: 'hostExec',
    kind: 'string',
    default: 'nsenter --target 1 --mount --uts --ipc --net --pid -- {argv}',
    description:
      'How the reboot command and a sentinel command reach the host: a command template ({argv}: the command\'s words; the default enters the host\'s namespaces, as Kured does), or "local" to run them where the agent runs.',
  }),
  f({
    name: 'rebootTimeout',
    kind: 'duration',
    default: '10m',
    description:
      'How long after the reboot command the node must come back with a new boot ID; otherwise the reboot failed and the node is given back.',
  }),
  // the maintenance window
  f({
    name: 'rebootDays',
    kind: 'list',
    separator: ',',
    default: [],
    description:
      'Days on which a window opens: su, mo, ... or full names, 0-6, ranges such as mon-fri (default: every day).',
  }),
  f({
    name: 'startTime',
    kind: 'string',
    default: '00:00',
    description: 'When the window opens on those days (HH:MM, or 10pm).',
  }),
  f({
    name: 'endTime',
    kind: 'string',
    default: '24:00',
    description: 'When the window closes; earlier than --start-time means the next day (22:00 to 04:00).',
  }),
  f({
    name: 'timeZone',
    kind: 'string',
    default: 'UTC',
    description: 'The time zone of the window (an IANA name such as Europe/Berlin).',
  }),
  f({
    name: 'monthlyRule',
    kind: 'list',
    separator: ',',
    default: [],
    description:
      'Only open on days these rules pick: "2nd tuesday", "last friday", "2nd tuesday +4d", "day 15", "last day".',
  }),
  f({
    name: 'blackoutDates',
    kind: 'list',
    separator: ',',
    default: [],
    description: 'Days the window stays closed: 2025-12-24, 2025-12-24..2025-12-26, or 12-25 for every year.',
  }),
  // the lock
  f({
    name: 'concurrency',
    kind: 'int',
    default: 1,
    description: 'How many nodes may be cordoned or rebooting at once.',
  }),
  f({
    name: 'lockTtl',
    kind: 'duration',
    default: '5m',
    description:
      "How long a lock holder that stops renewing keeps its slot (a holder whose node shows a reboot in progress keeps it until that reboot's timeouts pass).",
  }),
  // blockers
  f({
    name: 'blockingPodSelector',
    kind: 'list',
    separator: ';',
    default: [],
    description:
      'Label selectors of pods whose presence blocks the reboot (repeat the flag; ";" separates them in one value).',
  }),
  f({
    name: 'blockingPodScope',
    kind: 'enum',
    values: ['node', 'cluster'],
    default: 'node',
    description: 'Where a blocking pod counts: on this node, or anywhere in the cluster.',
  }),
  f({
    name: 'prometheusUrl',
    kind: 'url',
    description: 'A Prometheus whose active alerts block the reboot (/api/v1/alerts).',
  }),
  f({
    name: 'alertmanagerUrl',
    kind: 'url',
    description: 'An Alertmanager whose active, unsilenced alerts block the reboot (/api/v2/alerts).',
  }),
  f({
    name: 'alertFilterRegexp',
    kind: 'regexp',
    description: 'Alert names that do not block (with --alert-filter-match-only: the only ones that do).',
  }),
  f({
    name: 'alertFilterMatchOnly',
    kind: 'bool',
    default: false,
    description: 'Only alerts matching --alert-filter-regexp block.',
  }),
  f({
    name: 'alertFiringOnly',
    kind: 'bool',
    default: false,
    description: 'Only firing alerts block, not pending ones (Prometheus).',
  }),
  // notifications
  f({
    name: 'notifyUrl',
    kind: 'url',
    secret: true,
    description: 'A webhook that receives a JSON document at every state change that matters.',
  }),
  f({
    name: 'slackWebhookUrl',
    kind: 'url',
    secret: true,
    description: 'A Slack-compatible incoming webhook for the same notifications.',
  }),
  f({
    name: 'slackChannel',
    kind: 'string',
    description: "The Slack channel to post to (default: the webhook's own).",
  }),
  f({
    name: 'slackUsername',
    kind: 'string',
    default: 'bosun',
    description: 'The name the Slack messages are posted as.',
  }),
  f({
    name: 'httpTimeout',
    kind: 'duration',
    default: '10s',
    description: 'Timeout of each request to Prometheus, Alertmanager and the webhooks.',
  }),
  // the drain
  f({
    name: 'drainTimeout',
    kind: 'duration',
    default: '0s',
    description: 'The length of time to wait before giving up on the drain, zero means infinite.',
  }),
  f({
    name: 'gracePeriod',
    kind: 'int',
    default: -1,
    description:
      'Period of time in seconds given to each pod to terminate gracefully. If negative, the default value specified in the pod will be used.',
  }),
  f({
    name: 'deleteEmptydirData',
    kind: 'bool',
    default: false,
    description:
      'Continue even if there are pods using emptyDir (local data that will be deleted when the node is drained).',
  }),
  f({
    name: 'force',
    kind: 'bool',
    default: false,
    description: 'Continue even if there are pods that do not declare a controller.',
  }),
  f({
    name: 'drainPodSelector',
    kind: 'string',
    default: '',
    description: 'Label selector to filter pods on the node: only these are drained.',
  }),
  f({
    name: 'skipWaitForDeleteTimeout',
    kind: 'int',
    default: 0,
    description:
      'If pod DeletionTimestamp older than N seconds, skip waiting for the pod. Seconds must be greater than 0 to skip.',
  }),
  f({
    name: 'disableEviction',
    kind: 'bool',
    default: false,
    description:
      'Force drain to use delete, even if eviction is supported. This will bypass checking PodDisruptionBudgets, use with caution.',
  }),
  f({
    name: 'ignorePreflightErrors',
    kind: 'list',
    separator: ',',
    default: [],
    description: `Pre-flight checks that do not stop the drain: ${PREFLIGHT_CHECKS.join(', ')}, or all.`,
  }),
  f({
    name: 'escalate',
    kind: 'list',
    separator: ';',
    default: [],
    description:
      'What to do about pods whose eviction stays blocked, e.g. "after=10m,action=give-up" (repeat the flag; ";" separates rules in one value).',
  }),
  // after the reboot
  f({
    name: 'healthTimeout',
    kind: 'duration',
    default: '10m',
    description:
      'How long after the new boot the node must be healthy; otherwise it stays cordoned, the lock stays held and the failure is notified.',
  }),
  f({
    name: 'healthSettle',
    kind: 'duration',
    default: '10s',
    description: 'How long the node must stay healthy before it is uncordoned.',
  }),
  f({
    name: 'restoreTimeout',
    kind: 'duration',
    default: '10m',
    description: 'How long to wait for the evicted workloads to be Ready again after the uncordon.',
  }),
  f({
    name: 'retryDelay',
    kind: 'duration',
    default: '5m',
    description:
      'The wait before a failed drain or reboot is tried again; it doubles with each failure in a row.',
  }),
  f({
    name: 'retryMaxDelay',
    kind: 'duration',
    default: '1h',
    description: 'The longest wait between retries.',
  }),
  // serving
  f({
    name: 'metricsHost',
    kind: 'string',
    default: '',
    description: 'The address /metrics and /healthz listen on (empty: every address).',
  }),
  f({
    name: 'metricsPort',
    kind: 'int',
    default: 8080,
    description: 'The port /metrics and /healthz listen on (0: a free port the system picks, logged at start-up).',
  }),
  f({
    name: 'logLevel',
    kind: 'enum',
    values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace'],
    default: 'info',
    description: 'The least severe level of the JSON log lines written.',
  }),
];

/** --reboot-sentinel-command: the flag of a camelCase name. */
export function flagOf(name: string): string {
  return `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** BOSUN_REBOOT_SENTINEL_COMMAND: the environment variable of a camelCase name (Kured's flagToEnvVar). */
export function envOf(name: string): string {
  return `BOSUN_${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}
