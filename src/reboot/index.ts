// The reboot feature's public face: the only module other folders (cli, the agent's composition
// root) import. The agent loop composes these parts with the drain engine, the executors and the
// lock: config -> window + sentinel + blockers -> states (what to do next) -> notify + metrics.
export { splitCommandLine } from './argv.ts';
export {
  BLOCKER_KINDS,
  agentIdentity,
  alertBlocker,
  annotationBlocker,
  checkBlockers,
  cordonBlocker,
  podBlocker,
  type AlertFilter,
  type AlertSource,
  type Blocker,
  type BlockerKind,
  type BlockerPods,
  type BlockerVerdict,
  type PodScope,
} from './blockers.ts';
export {
  describeConfig,
  loadAgentConfig,
  parseConfigFile,
  resolveAgentConfig,
  type AgentConfig,
  type ConfigSources,
} from './config.ts';
export { AGENT_FLAGS, envOf, flagOf, type FlagKind, type FlagSpec } from './flags.ts';
export {
  fetchHttp,
  redactError,
  redactUrl,
  type HttpPort,
  type HttpRequest,
  type HttpResponse,
} from './http.ts';
export { REBOOT_BLOCKED, REBOOT_STATE, REBOOT_STUCK } from '../kube/annotations.ts';
export {
  AgentMetrics,
  Liveness,
  startMetricsServer,
  type HealthProbe,
  type MetricsServer,
} from './metrics.ts';
export {
  Notifier,
  noticeText,
  slackPayload,
  webhookPayload,
  type NotifyConfig,
  type NotifyResult,
  type WebhookPayload,
} from './notify.ts';
export {
  checkSentinel,
  describeSentinel,
  resolveInRoot,
  watchSentinel,
  type FileEvents,
  type SentinelDeps,
  type SentinelFiles,
  type SentinelResult,
  type SentinelSpec,
} from './sentinel.ts';
export { nodeFileEvents, nodeSentinelFiles } from './adapters.ts';
export {
  AGENT_STATES,
  initialRecord,
  judgeHolder,
  nextAction,
  parseRecord,
  retryDelayMs,
  serializeRecord,
  transition,
  type AgentAction,
  type AgentEvent,
  type AgentState,
  type FailurePhase,
  type HolderVerdict,
  type MachineOptions,
  type Notice,
  type RebootRecord,
  type Transition,
} from './states.ts';
export {
  ALWAYS,
  describeWindow,
  formatInZone,
  inWindow,
  nextWindowStart,
  parseWindow,
  windowClosesAt,
  windowState,
  type MaintenanceWindow,
  type WindowInput,
  type WindowState,
} from './window.ts';
