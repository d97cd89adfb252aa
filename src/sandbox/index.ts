// The sandbox's public surface: the only module the CLI and tests import.
export {
  Sandbox,
  readState,
  readConfig,
  type SandboxOptions,
  type SandboxRestoreRequest,
  type NodeSpec,
  type SandboxConfig,
  type SandboxState,
} from './cluster.ts';
export {
  sandboxUp,
  sandboxDown,
  sandboxStatus,
  sandboxRun,
  defaultSandboxDir,
  resolveDir,
  checkEtcdInstalled,
  sandboxRestore,
  type UpOptions,
  type SandboxStatus,
  type SandboxRestoreOutcome,
} from './daemon.ts';
export type { SandboxRestoreResult } from './restore.ts';
export { SandboxLayout, HostLayout } from './layout.ts';
export { TIMINGS, SIM_ANNOTATIONS, type Timing } from './timing.ts';
export type { FaultRule, FaultMatch } from './apiserver/faults.ts';
export type { AuditRecord, AuditQuery } from './apiserver/audit.ts';
export { demoWorkload } from './workload.ts';
export { AGENT_CHART, installAgentChart, type AgentChart, type AgentInstall } from './agent-chart.ts';
