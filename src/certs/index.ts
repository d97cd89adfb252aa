// The certs feature's public surface: the only module other folders import.
// PKI generation (used by the sandbox), expiry checks and renewal (issue 5).
export {
  generateClusterCas,
  loadClusterCas,
  writeControlPlanePki,
  writeWorkerPki,
  type CertKeyPair,
  type ClusterCas,
  type ClusterCaOptions,
  type KeyAlgorithm,
  type NodePkiOptions,
} from './pki-gen.ts';
export {
  DEFAULT_PATHS,
  checkCertificates,
  parseWarnWithin,
  printRows,
  throwForExit,
  resolveCertPaths,
  runCertsCheck,
  type CheckOptions,
  type PathFlags,
} from './check-command.ts';
export { scanCertificates, judgeRows, type CertPaths, type CertRow, type CheckedRow } from './check.ts';
export { CHECK_EXIT, formatExpires } from './expiry.ts';
export {
  RENEWABLE,
  componentsUsing,
  renewCertificates,
  resolveRenewNames,
  type RenewResult,
  type Renewed,
  type StaticPodComponent,
} from './renew.ts';
export { parseValidity, runCertsRenew, type RenewOptions, type RestartPhase } from './renew-command.ts';
export {
  livePortsFromClients,
  makeRestartPhase,
  realLivePorts,
  runServedCheck,
  formatServedTable,
  type LivePorts,
} from './live.ts';
export { checkServed, type ReadyzProbe, type ServedRow, type ServedKube, type TlsProbe } from './served.ts';
export type { StaticPodsKube } from './restart.ts';
export { certsKube } from './kube-adapter.ts';
export { etcdRestartAllowed } from './quorum.ts';
export { userKubeconfig, type UserKubeconfigOptions } from './user-kubeconfig.ts';
