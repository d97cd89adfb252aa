// The upgrade feature's public face: the only module other folders (cli, demo) import.
// `upgrade plan` makes the UpgradePlan (steps with stable ids, their node, commands and proofs);
// `upgrade apply` walks it (apply.ts) through the node-work engine, under the cluster lock, keeping
// its journal in the cluster; `upgrade status` reads that journal.
export {
  SKEW_POLICY,
  SKEW_RULES,
  checkSkew,
  checkStep,
  parseVersion,
  rulesFor,
  type Component,
  type ComponentVersion,
  type ReleaseSkew,
  type SkewRule,
  type SkewViolation,
  type StepVerdict,
  type Version,
} from './skew.ts';
export {
  clusterVersions,
  skewComponents,
  type ClusterVersions,
  type ControlPlaneVersions,
  type NodeVersions,
} from './versions.ts';
export { REMOVED_APIS, findRemovedApiUse, readRemovedApiUse, type RemovedApiUse } from './removed-apis.ts';
export {
  APT_RECIPE,
  DNF_RECIPE,
  PLACEHOLDERS,
  RECIPE_ROLES,
  defaultRecipeFor,
  parseRecipe,
  renderLines,
  type Recipe,
  type RecipeRole,
  type RecipeSource,
} from './recipes.ts';
export {
  availableUpgrades,
  batchSizeOf,
  parseMaxUnavailable,
  planUpgrade,
  proofsHold,
  validateTarget,
  type AvailableUpgrade,
  type StepAction,
  type StepKind,
  type StepProof,
  type UpgradeHop,
  type UpgradePlan,
  type UpgradeStep,
} from './plan.ts';
export {
  UPGRADE_PREFLIGHT_CHECKS,
  assessPreflight,
  type PreflightFinding,
  type UpgradePreflight,
} from './preflight.ts';
export { dlReleaseIndex, listReleaseIndex, type FetchText, type ReleaseIndex } from './releases.ts';
export { readSnapshot, snapshotKube, type ClusterSnapshot } from './snapshot.ts';
export {
  componentRows,
  makeUpgradePlan,
  upgradeDrainOptions,
  type ComponentRow,
  type PlanDeps,
  type PlanOptions,
  type UpgradePlanReport,
} from './planner.ts';
export {
  RolloutFailed,
  applyUpgrade,
  stepLines,
  readLiveVersions,
  type ApplyDeps,
  type ApplyEvent,
  type ApplyOptions,
  type ApplyResult,
  type BackupTaker,
  type KubeletWork,
  type LineResult,
  type LockHandle,
  type NodeMaintainer,
  type RecipeRunner,
  type TimedApplyEvent,
  type UpgradeLock,
} from './apply.ts';
export {
  ETCD_CLIENT_URLS_ANNOTATION,
  etcdBackupTaker,
  etcdEndpoints,
  type EtcdBackupOptions,
} from './backup.ts';
export { UPGRADE_OPERATION, clusterUpgradeLock, upgradeProcessOf } from './lock.ts';
export {
  backupFresh,
  componentsAfter,
  diagnoseStaticPodTimeout,
  groupsOf,
  judgeGroup,
  staticPodTimeout,
  standing,
  unmetProofs,
  type MirrorPodFacts,
  type StepGroup,
  type StepStanding,
} from './rollout.ts';
export {
  upgradeStatus,
  type HopStatus,
  type LockHolderStatus,
  type NodeStatus,
  type UpgradeStatus,
} from './status.ts';
