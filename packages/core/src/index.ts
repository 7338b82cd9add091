// Public surface of @fjord/core (STYLE.md item 5): named exports only, one line per module.
export { FjordError, InvalidArgumentError, NotFoundError, AlreadyExistsError, ExhaustedError, FailedPreconditionError, UnavailableError } from './errors.js';
export { type Cidr, prefixSize, parseAddress, formatAddress, parseCidr, formatCidr, addressCount, broadcastAddress, gatewayAddress, usableHostCount, containsAddress, containsCidr, reservedReason, childCount, childCidr, carveChildren } from './cidr.js';
export { type VlanRange, MIN_VLAN, MAX_VLAN, isValidVlan, checkVlan, parseVlanRanges, mergeRanges, formatVlanRanges, rangesContain, allocatableVlans, rangeSize } from './vlan-range.js';
export { HostState, type Resources, type Host, ConstraintOp, type LabelConstraint, type PlacementRequest } from './domain.js';
export { type LabelColumn, type PlacementSnapshot, type SnapshotHost, type Placement, type GroupMembers, buildPlacementSnapshot, applyPlan, releasePlacements, updateHosts, removeHosts, resourcesOf } from './placement/snapshot.js';
export { ScoringPolicy, type PlacementPolicy, PlacementFilter, type PlacementFailure, type PlaceResult, place, PlacementSequence, type CheckPlanResult, checkPlan } from './placement/place.js';
export { type ParseResult, isLabelKey, parseConstraint, parseConstraints, parseCpuMillis, parseMemoryBytes, formatConstraint, formatCpuMillis, formatMemoryBytes } from './placement/parse.js';
export { type MockHostOptions, mockHost, mockHosts, mockPlacementRequest, PlacementHarness } from './placement/testing.js';
export { type DesiredContainer, type ObservedRuntimeState, type ObservedContainer, type ObservedPort, type WantedPort, ReconcileActionKind, type ReconcileAction, type InvalidContainer, type ReconcilePlan, CONTAINER_ID_KEY, SPEC_ID_KEY, containerMac, isRuntimeName, runtimeNameOf, vethName, commandArgv, containerFingerprint, planReconcile } from './reconcile.js';
