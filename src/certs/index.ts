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
export { DEFAULT_PATHS, resolveCertPaths, type PathFlags } from './paths.ts';
export {
  checkCertificates,
  scanCertificates,
  judgeRows,
  type CertPaths,
  type CertRow,
  type CheckedRow,
} from './check.ts';
export {
  checkVerdict,
  type CheckVerdict,
  formatExpires,
  residualSeconds,
  shortHumanDuration,
  statusText,
  type AbsenceText,
  type RowStatus,
} from './expiry.ts';
export {
  RENEWABLE,
  componentsUsing,
  renewCertificates,
  resolveRenewNames,
  type RenewResult,
  type Renewed,
  type Skipped,
  type StaticPodComponent,
} from './renew.ts';
export {
  runCertsRenew,
  type RenewOptions,
  type RenewOutcome,
  type RestartOutcome,
  type RestartPhase,
} from './renew-command.ts';
export type { CertsEvent, CertsEventSink } from './progress.ts';
export {
  livePortsFromClients,
  makeRestartPhase,
  realClusterVersion,
  realLivePorts,
  type LivePorts,
} from './live.ts';
export {
  nodeKubeadmVersion,
  type ClusterVersionReader,
  type KubeadmVersion,
} from './node-version.ts';
export {
  checkServed,
  localNodeName,
  servedVerdict,
  type NotChecked,
  type ReadyzProbe,
  type ServedCheck,
  type ServedRow,
  type ServedKube,
  type TlsProbe,
} from './served.ts';
export type { StaticPodsKube } from './restart.ts';
export { certsKube } from './kube-adapter.ts';
export { etcdRestartAllowed } from './quorum.ts';
export { userKubeconfig, type UserKubeconfigOptions } from './user-kubeconfig.ts';
