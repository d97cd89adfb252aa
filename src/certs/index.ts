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
