// The host layer's public face (DESIGN.md "Node work"): how commands reach a node. Features
// (maintain, the upgrade, the reboot agent) take a NodeExecutor and never spawn processes or know
// a sandbox node's directory themselves.
export {
  argvOf,
  type HostCommand,
  type NodeExecutor,
  type ProcessState,
  type RunOptions,
  type RunResult,
  type StartedProcess,
} from './executor.ts';
export { LocalExecutor, NEVER_STARTED_EXIT, findOnPath, type LocalExecutorOptions } from './local.ts';
export {
  createSandboxExecutor,
  resolveSandboxDir,
  sandboxShimDir,
  type SandboxExecutorOptions,
} from './sandbox.ts';
export {
  TEMPLATE_PLACEHOLDERS,
  expandTemplate,
  parseExecTemplate,
  shellJoin,
  shellQuote,
  splitShellWords,
  type ExecTemplate,
} from './shell.ts';
export { TemplateExecutor, type TemplateExecutorOptions } from './template.ts';
