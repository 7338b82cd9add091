import type { PlacementTables } from './schema-placement.js';
import type { ColumnType, Generated } from 'kysely';

/** `timestamptz` columns: read as Date, written as Date or ISO text, defaulted by the database. */
type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;

/** A configured physical network and its VLAN range text. */
export interface PhysicalNetworksTable {
  name: string;
  vlan_ranges: string;
  reserved_vlans: ColumnType<number[], number[] | undefined, number[]>;
  updated_at: Timestamp;
}

/** A configured subnet pool handing out children of `prefix_length`. */
export interface SubnetPoolsTable {
  name: string;
  cidr: string;
  prefix_length: number;
  updated_at: Timestamp;
}

/** A tenant network. */
export interface NetworksTable {
  id: string;
  tenant: string;
  name: string;
  physical_network: string;
  vlan: number;
  cidr: string;
  subnet_pool: string | null;
  capacity: number;
  created_at: Timestamp;
}

/** One allocatable VLAN id of a physical network; `network_id` set when taken. */
export interface VlansTable {
  physical_network: string;
  vlan: number;
  in_range: Generated<boolean>;
  network_id: string | null;
}

/** One carvable child prefix of a subnet pool; `network_id` set when taken. */
export interface PoolSubnetsTable {
  subnet_pool: string;
  cidr: string;
  in_range: Generated<boolean>;
  network_id: string | null;
}

/** 32 host offsets of a network and the bitmap of those taken or reserved. */
export interface AddressBlocksTable {
  network_id: string;
  block_start: number;
  bitmap: number;
}

/** An allocated address, stored as its offset (`host`) from the network address. */
export interface AddressesTable {
  network_id: string;
  host: number;
  block_start: number;
  owner: Generated<string>;
  idempotency_key: string | null;
  created_at: Timestamp;
}

/** An idempotency key already used for an allocation of `count` addresses. */
export interface IdempotencyKeysTable {
  network_id: string;
  key: string;
  count: number;
  created_at: Timestamp;
}

/** An allocated VRRP virtual router id. */
export interface RouterIdsTable {
  network_id: string;
  router_id: number;
  owner: Generated<string>;
  created_at: Timestamp;
}

/** Every table, for `Kysely<Database>`. Later migrations add theirs here. */
export interface Database extends PlacementTables {
  physical_networks: PhysicalNetworksTable;
  subnet_pools: SubnetPoolsTable;
  networks: NetworksTable;
  vlans: VlansTable;
  pool_subnets: PoolSubnetsTable;
  address_blocks: AddressBlocksTable;
  addresses: AddressesTable;
  idempotency_keys: IdempotencyKeysTable;
  router_ids: RouterIdsTable;
}
