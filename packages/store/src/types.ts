/** A tenant network as the allocator reports it. */
export interface Network {
  /** Database id (uuid). */
  id: string;
  /** Owning tenant. */
  tenant: string;
  /** Name, unique within the tenant. */
  name: string;
  /** Physical network whose VLAN range the VLAN came from. */
  physicalNetwork: string;
  /** 802.1Q VLAN id, unique on the physical network. */
  vlan: number;
  /** Subnet, `a.b.c.d/len`. */
  cidr: string;
  /** Gateway address: the first host of the subnet (never handed out). */
  gateway: string;
  /** Pool the subnet was carved from, or null when it was given. */
  subnetPool: string | null;
  /** Addresses currently allocated. */
  allocated: number;
  /** Addresses that can be allocated in total (subnet size minus network, gateway, broadcast). */
  capacity: number;
  /** When the network was created. */
  createdAt: Date;
}

/** One allocated address. */
export interface Allocation {
  /** Tenant of the network. */
  tenant: string;
  /** Network name. */
  network: string;
  /** The address, dotted quad. */
  address: string;
  /** Free-form owner (e.g. a container id); empty when not given. */
  owner: string;
  /** Idempotency key of the request that allocated it, or null. */
  idempotencyKey: string | null;
  /** When it was allocated. */
  createdAt: Date;
}

/** An allocated VRRP virtual router id. */
export interface RouterIdAllocation {
  /** The id, 1..255. */
  routerId: number;
  /** Free-form owner (e.g. an HA group id). */
  owner: string;
  /** When it was allocated. */
  createdAt: Date;
}

/** A physical network's configuration and VLAN usage. */
export interface PhysicalNetworkUsage {
  /** Name, e.g. `physnet1`. */
  name: string;
  /** Configured range text, canonical form (e.g. `100-3999`). */
  vlanRanges: string;
  /** VLAN ids excluded from the range. */
  reservedVlans: number[];
  /** VLANs held by networks (including ones outside a since-shrunk range). */
  vlansInUse: number;
  /** VLANs the range can hand out (range minus reserved). */
  vlansTotal: number;
}

/** A subnet pool's configuration and usage. */
export interface SubnetPoolUsage {
  /** Name, e.g. `pool1`. */
  name: string;
  /** The pool's prefix. */
  cidr: string;
  /** Length of the children it hands out. */
  prefixLength: number;
  /** Children held by networks. */
  subnetsInUse: number;
  /** Children the pool can hand out. */
  subnetsTotal: number;
}

/** Request for {@link Allocator.createNetwork}: exactly one of `cidr` or `subnetPool`. */
export interface CreateNetworkRequest {
  tenant: string;
  name: string;
  physicalNetwork: string;
  /** A specific VLAN id; otherwise the lowest free one. */
  vlan?: number;
  /** A subnet given outright (/16../30). Two tenants may use the same one. */
  cidr?: string;
  /** Carve the subnet from this pool. */
  subnetPool?: string;
  /** With `subnetPool`: must equal the pool's child length (defaults to it). */
  prefixLength?: number;
}

/** Options for {@link Allocator.allocateAddress}. */
export interface AllocateAddressOptions {
  /** A specific address; otherwise the lowest free one the allocator can take without waiting. */
  address?: string;
  /** Free-form owner recorded with the allocation. */
  owner?: string;
  /** A retried request with the same key returns the same address. */
  idempotencyKey?: string;
}

/** Options for {@link Allocator.allocateAddresses}. */
export interface AllocateAddressesOptions {
  /** Free-form owner recorded with every address. */
  owner?: string;
  /** A retried request with the same key returns the same addresses. */
  idempotencyKey?: string;
}

/** What {@link Allocator.deleteNetwork} released along with the network. */
export interface DeleteNetworkResult {
  /** Addresses that were still allocated (only non-zero with `force`). */
  releasedAddresses: number;
  /** Router ids that were still allocated (only non-zero with `force`). */
  releasedRouterIds: number;
}
