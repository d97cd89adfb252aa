// The drain feature's public face: the only module other folders (cli, upgrade, reboot) import.
// Library callers build a NodePods port (kube/node-pods.ts) and call drainNodes/drainNode,
// cordonNode/uncordonNode, maintainNode (`bosun maintain`) or runMaintenance (the maintenance
// engine, with a work step of their own) with their own owner and observer.
//
// An orchestrator maintains one node with runMaintenance(node, options, deps) and calls it again,
// with the same options, to resume (after a crash, a reboot of its own host, or on another
// machine): the state is on the Node. Its work is a NodeWork; commandWork({ executor, commands })
// runs commands through a host/ NodeExecutor (LocalExecutor, createSandboxExecutor,
// TemplateExecutor), a recipe line as { shell: LINE }. For example:
//   upgrade: work = { describe, probe: executor.probe, run: commandWork(recipe lines).run, then
//            read the Node until status.nodeInfo.kubeletVersion is the new version, else
//            { ok: false, message } }; owner { who: 'bosun upgrade (...)', why: 'upgrade to v1.N.x' };
//            expectReboot: false.
//   agent:   work = commandWork({ executor, commands: () => [{ argv: ['systemctl', 'reboot'] }] });
//            owner { who: 'bosun-agent/NODE', why: 'reboot-required' }; expectReboot: true (after
//            the reboot the restarted agent calls again, and the new boot ID says the work is done).
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
export { cordonNodes, uncordonNodes, type CordonResultObserver } from './cordon-nodes.ts';
export {
  DEFAULT_DRAIN_OPTIONS,
  SelectorError,
  type DrainCounts,
  type DrainEvent,
  type DrainObserver,
  type DrainOptions,
  type DrainOutcome,
  type NodeDrainResult,
  type NodePlan,
  type PlanReads,
  type PodOutcome,
} from './drain-contract.ts';
export { drainNode, drainNodes, planDrain, planReadsOf, startPlanReads } from './drainer.ts';
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
  type WorkloadCount,
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
