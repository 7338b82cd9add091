// Public surface of @fjord/store (STYLE.md item 5): named exports only.
export { Allocator, MIN_NETWORK_PREFIX, MAX_NETWORK_PREFIX, MAX_BATCH } from './allocator.js';
export { type Db, type CreateDbOptions, createDb } from './db.js';
export { migrations, migrateToLatest } from './migrate.js';
export type { Database } from './schema.js';
export { type PhysicalNetworkConfig, type SubnetPoolConfig, type SyncResult, MAX_POOL_CHILDREN, syncPhysicalNetworks, syncSubnetPools } from './sync.js';
export { inTransaction, sqlState, refusedByPostgres, constraintName, RetryTransactionError } from './tx.js';
export { checkName, checkText } from './validate.js';
export type {
  Network,
  Allocation,
  RouterIdAllocation,
  PhysicalNetworkUsage,
  SubnetPoolUsage,
  CreateNetworkRequest,
  AllocateAddressOptions,
  AllocateAddressesOptions,
  DeleteNetworkResult,
} from './types.js';
export {
  type ContainerRecord,
  type ContainerToPlace,
  type ContainerFilter,
  AddressesShortError,
  placeContainers,
  type ObservedUpdate,
  placeContainersInTransaction,
  findContainers,
  findNetworks,
  listContainers,
  deleteContainerRow,
  recordObserved,
  groupMembers,
} from './containers.js';
export { type DesiredContainerRow, type HostDesiredRead, type PublishedGeneration, readDesiredStates, recordRemovals, pruneRemovals } from './desired.js';
export { type NewEvent, type EventRecord, recordChanges, listEvents, eventsBySequence, lastEventSequence, readOutbox, deleteOutbox } from './events.js';
export {
  type HostRecord,
  type HostRegistration,
  type StaleMark,
  registerHosts,
  bumpGenerations,
  hostGenerations,
  setHostState,
  recordHeartbeatTimes,
  recordStaleMarks,
  staleHosts,
  recordAppliedGenerations,
  listHosts,
} from './hosts.js';
export { type Lease, type Fence, FencedError, acquireOrRenewLease, releaseLease, checkLease, currentLease } from './lease.js';
export type { PlacementTables } from './schema-placement.js';
