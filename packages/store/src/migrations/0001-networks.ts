import { type Kysely, type Migration, sql } from 'kysely';

/**
 * Networks and their allocators: physical networks with one row per allocatable VLAN, subnet pools
 * with one row per carvable child, tenant networks, and per-network address blocks (32 addresses a
 * row, a bitmap of what is taken) backing the address rows. See packages/store/src/allocator.ts for
 * how these are used under contention.
 */
export const migration0001Networks: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await sql`
      CREATE TABLE physical_networks (
        name text PRIMARY KEY,
        vlan_ranges text NOT NULL,
        reserved_vlans integer[] NOT NULL DEFAULT '{}',
        updated_at timestamptz NOT NULL DEFAULT now()
      );

      CREATE TABLE subnet_pools (
        name text PRIMARY KEY,
        cidr cidr NOT NULL,
        prefix_length integer NOT NULL CHECK (prefix_length BETWEEN 0 AND 32),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CHECK (prefix_length >= masklen(cidr))
      );

      -- physical_network and subnet_pool have no foreign key: every concurrent create would share-lock
      -- the same parent row (a new MultiXact per create). The VLAN and subnet a network holds are
      -- rows of vlans/pool_subnets, which do reference their physical network and pool.
      CREATE TABLE networks (
        id uuid PRIMARY KEY,
        tenant text NOT NULL,
        name text NOT NULL,
        physical_network text NOT NULL,
        vlan integer NOT NULL CHECK (vlan BETWEEN 1 AND 4094),
        cidr cidr NOT NULL,
        subnet_pool text,
        capacity integer NOT NULL CHECK (capacity >= 0),
        created_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT networks_tenant_name_key UNIQUE (tenant, name),
        CONSTRAINT networks_physical_network_vlan_key UNIQUE (physical_network, vlan)
      );

      -- One row per VLAN id a physical network may hand out. network_id marks it taken.
      -- in_range = false: no longer in the configured range, kept only while a network holds it.
      CREATE TABLE vlans (
        physical_network text NOT NULL REFERENCES physical_networks (name) ON DELETE CASCADE,
        vlan integer NOT NULL CHECK (vlan BETWEEN 1 AND 4094),
        in_range boolean NOT NULL DEFAULT true,
        network_id uuid REFERENCES networks (id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED,
        PRIMARY KEY (physical_network, vlan),
        CONSTRAINT vlans_network_id_key UNIQUE (network_id)
      );
      CREATE INDEX vlans_free_idx ON vlans (physical_network, vlan) WHERE network_id IS NULL AND in_range;

      -- One row per child prefix a pool may hand out; same scheme as vlans.
      CREATE TABLE pool_subnets (
        subnet_pool text NOT NULL REFERENCES subnet_pools (name) ON DELETE CASCADE,
        cidr cidr NOT NULL,
        in_range boolean NOT NULL DEFAULT true,
        network_id uuid REFERENCES networks (id) ON DELETE SET NULL DEFERRABLE INITIALLY DEFERRED,
        PRIMARY KEY (subnet_pool, cidr),
        CONSTRAINT pool_subnets_network_id_key UNIQUE (network_id)
      );
      CREATE INDEX pool_subnets_free_idx ON pool_subnets (subnet_pool, cidr) WHERE network_id IS NULL AND in_range;

      -- 32 consecutive host offsets of a network; bit i of bitmap set = offset block_start + i is
      -- taken (by an address row) or reserved (network, gateway, broadcast, beyond the subnet).
      -- No foreign key (a check per row, eight to 2,048 per create): rows are inserted in the
      -- statement that inserts their network and deleted by Allocator.deleteNetwork before it.
      CREATE TABLE address_blocks (
        network_id uuid NOT NULL,
        block_start integer NOT NULL CHECK (block_start >= 0 AND block_start % 32 = 0),
        bitmap integer NOT NULL,
        PRIMARY KEY (network_id, block_start)
      );
      CREATE INDEX address_blocks_free_idx ON address_blocks (network_id, block_start) WHERE bitmap <> -1;

      -- An allocated address, as its offset from the network address. The primary key is what makes
      -- an address unique within its network. There is deliberately no foreign key: a check per
      -- inserted row was a quarter of a batch's cost, and the allocator only inserts an address
      -- while it holds the row lock of its (existing) block and deletes a network's addresses
      -- before the network (Allocator.deleteNetwork).
      CREATE TABLE addresses (
        network_id uuid NOT NULL,
        host integer NOT NULL CHECK (host > 0),
        block_start integer NOT NULL,
        owner text NOT NULL DEFAULT '',
        idempotency_key text,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (network_id, host),
        CHECK (block_start = host - host % 32)
      );
      CREATE INDEX addresses_idempotency_idx ON addresses (network_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

      -- A retried allocation with the same key returns the same addresses.
      CREATE TABLE idempotency_keys (
        network_id uuid NOT NULL REFERENCES networks (id) ON DELETE CASCADE,
        key text NOT NULL,
        count integer NOT NULL CHECK (count > 0),
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (network_id, key)
      );

      -- VRRP virtual router ids, unique per network (and so per VLAN).
      CREATE TABLE router_ids (
        network_id uuid NOT NULL REFERENCES networks (id) ON DELETE CASCADE,
        router_id integer NOT NULL CHECK (router_id BETWEEN 1 AND 255),
        owner text NOT NULL DEFAULT '',
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (network_id, router_id)
      );
    `.execute(db);
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await sql`
      DROP TABLE router_ids, idempotency_keys, addresses, address_blocks, pool_subnets, vlans, networks,
        subnet_pools, physical_networks;
    `.execute(db);
  },
};
