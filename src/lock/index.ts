// bosun's one lock for disruptive work (upgrades, the reboot agent, certificate restarts): a Lease in
// bosun's namespace with exclusive and shared holders. The only module other folders import.
export {
  ClusterLock,
  LOCK_LEASE_NAME,
  LockHeldError,
  LockLostError,
  type Acquired,
  type Blocked,
  type Hold,
  type LockDeps,
  type LockDescription,
  type LockLost,
  type LockOptions,
} from './lock.ts';
export {
  LOCK_HOLDERS_ANNOTATION,
  describeHolder,
  type HolderState,
  type LockHolder,
  type LockMode,
  type LockRequest,
  type TakenOver,
} from './decide.ts';
export { nodeExistsVia } from './node-exists.ts';
