// Public surface of @fjord/core (STYLE.md item 5): named exports only, one line per module.
export { FjordError, InvalidArgumentError, NotFoundError, AlreadyExistsError, ExhaustedError, FailedPreconditionError, UnavailableError } from './errors.js';
export { type Cidr, prefixSize, parseAddress, formatAddress, parseCidr, formatCidr, addressCount, broadcastAddress, gatewayAddress, usableHostCount, containsAddress, containsCidr, reservedReason, childCount, childCidr, carveChildren } from './cidr.js';
export { type VlanRange, MIN_VLAN, MAX_VLAN, isValidVlan, checkVlan, parseVlanRanges, mergeRanges, formatVlanRanges, rangesContain, allocatableVlans, rangeSize } from './vlan-range.js';
