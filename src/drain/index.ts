// The drain feature's public face: the only module other folders (cli, upgrade, reboot) import.
// Library callers build a NodePods port (kube/node-pods.ts) and call drainNodes/drainNode,
// cordonNode/uncordonNode, maintainNode (`bosun maintain`) or runMaintenance (the maintenance
// engine, with a work step of their own) with their own owner and observer.
export {
  BOSUN_PREFIX,
  CORDONED_AT,
  CORDONED_BY,
  CORDON_REASON,
  DRAIN_STATE,
  MAINTENANCE_STATE,
  SAFE_TO_EVICT,
  cordonInfo,
  drainState,
  type CordonInfo,
  type CordonOwner,
  type DrainState,
} from '../kube/annotations.ts';
export { cordonNode, uncordonNode, type CordonResult, type DryRun } from './cordon.ts';
export {
  DEFAULT_DRAIN_OPTIONS,
  SelectorError,
  drainNode,
  drainNodes,
  planDrain,
  startPlanReads,
  type DrainCounts,
  type DrainEvent,
  type DrainObserver,
  type DrainOptions,
  type DrainOutcome,
  type NodeDrainResult,
  type NodePlan,
  type PodOutcome,
} from './drainer.ts';
export {
  DEFAULT_POLICY,
  parseEscalationRule,
  type EscalationPolicy,
  type EscalationRule,
} from './escalation.ts';
export { KUBECTL_MESSAGES, podKey, refusalLine, warningText } from './filters.ts';
export { checkNodeHealth, diagnose } from './health.ts';
export { parseSelector } from '../kube/labels.ts';
export { maintainNode, substituteNode, type MaintainDeps, type MaintainOptions } from './maintain.ts';
export {
  runMaintenance,
  type MaintainEvent,
  type MaintainResult,
  type MaintenanceDeps,
  type MaintenanceOptions,
} from './maintenance.ts';
export {
  MAINTENANCE_STEPS,
  currentStep,
  maintenanceState,
  type MaintenanceState,
  type MaintenanceStep,
  type RecordedProcess,
  type WorkloadRecord,
} from './maintenance-state.ts';
export {
  commandWork,
  looksLikeReboot,
  type CommandWorkOptions,
  type NodeWork,
  type WorkContext,
  type WorkResult,
} from './node-work.ts';
export { PREFLIGHT_CHECKS, type PreflightCheck, type PreflightResult } from './preflight.ts';
export { Reporter, dryRunSuffix, type ReporterOptions } from './progress.ts';
