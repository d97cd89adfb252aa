// The sandbox's public surface: the only module the CLI and tests import.
export { Sandbox, readState, readConfig, type SandboxOptions, type NodeSpec, type SandboxConfig, type SandboxState } from './cluster.ts';
export { sandboxUp, sandboxDown, sandboxStatus, sandboxRun, defaultSandboxDir, resolveDir, checkEtcdInstalled, type UpOptions, type SandboxStatus } from './daemon.ts';
export { SandboxLayout, HostLayout } from './layout.ts';
export { TIMINGS, SIM_ANNOTATIONS, type Timing } from './timing.ts';
export type { FaultRule, FaultMatch } from './apiserver/faults.ts';
export { demoWorkload } from './workload.ts';
