/**
 * The network allocator: VLANs, subnets, IP addresses and VRRP router ids, backed by Postgres.
 *
 * Concurrency design. Every hand-out is a row that a unique constraint protects, so no code path can
 * give one thing out twice; speed comes from never queueing on a shared row:
 *
 * - VLANs and pool subnets are pre-populated rows (`vlans`, `pool_subnets`). Taking one locks the
 *   lowest free row with `FOR UPDATE SKIP LOCKED`, so concurrent creators take different rows
 *   instead of waiting on each other. A network is created in ONE statement (pick VLAN, pick subnet,
 *   insert network, mark both taken, insert its address blocks), so in autocommit it costs one round
 *   trip and one commit, and inside a caller's transaction it either happens whole or not at all.
 * - Addresses live in `addresses` (primary key network + host offset). Next to them, each network
 *   has one `address_blocks` row per 32 addresses holding a bitmap of what is taken. Allocating locks
 *   the lowest non-full block with `SKIP LOCKED`, picks its lowest clear bit, inserts the address
 *   and sets the bit, all in one statement. Sixteen concurrent allocators therefore work on sixteen
 *   different blocks. None ever waits for a block lock: when every free block is locked by someone
 *   else the statement backs off a few milliseconds and looks again (a waiting locking scan would
 *   keep the rows it skipped after re-checking them, and two such scans can deadlock); after about
 *   five seconds of that it gives up with UnavailableError. A batch that needs more blocks than it
 *   can take gives back what it holds and is retried. There is no per-network counter row:
 *   `allocated` is counted when read.
 * - Lock order is always block, then address rows, so a release (which locks the block first) and
 *   an allocation of a specific address cannot deadlock.
 * - Outside a caller's transaction, concurrent single allocations on one network are group-committed
 *   (combiner.ts): while one statement is in flight the next requests queue and are then served by
 *   one statement, so throughput is no longer bounded by one commit per address.
 * - Router ids are rare: the network row is locked `FOR NO KEY UPDATE` (which does not block the
 *   foreign-key checks of other inserts) and the lowest free id 1..255 inserted.
 *
 * Every method works on a plain `Kysely` (it then opens a transaction only when it needs more than
 * one statement) or on a `Transaction` (it never issues BEGIN/COMMIT and raises no SQL error in
 * expected cases, so the caller's transaction stays usable after a domain error).
 */
import { randomUUID } from 'node:crypto';
import {
  AlreadyExistsError,
  type Cidr,
  ExhaustedError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  UnavailableError,
  checkVlan,
  formatAddress,
  formatCidr,
  gatewayAddress,
  parseAddress,
  parseCidr,
  reservedReason,
} from '@fjord/core';
import { type Kysely, type RawBuilder, sql } from 'kysely';
import { CombinedNetworkMissing, type CombinedResult, combinedAllocate, combinedCreate } from './combiner.js';
import type { Database } from './schema.js';
import { RetryTransactionError, inTransaction } from './tx.js';
import type {
  AllocateAddressOptions,
  AllocateAddressesOptions,
  Allocation,
  CreateNetworkRequest,
  DeleteNetworkResult,
  Network,
  PhysicalNetworkUsage,
  RouterIdAllocation,
  SubnetPoolUsage,
} from './types.js';
import { checkInt, checkName, checkText } from './validate.js';

/** Shortest prefix a network may have (65,536 addresses, 2,048 address blocks). */
export const MIN_NETWORK_PREFIX = 16;
/** Longest prefix a network may have (/30: one usable address after network, gateway, broadcast). */
export const MAX_NETWORK_PREFIX = 30;
/** Most addresses one {@link Allocator.allocateAddresses} call may ask for. */
export const MAX_BATCH = 65_536;

const BLOCK = 32;
/** How often a create that lost every free row to concurrent creators is retried. */
const CREATE_ATTEMPTS = 8;

interface NetworkRow {
  id: string;
  tenant: string;
  name: string;
  physical_network: string;
  vlan: number;
  cidr: string;
  subnet_pool: string | null;
  capacity: number;
  created_at: Date;
  allocated: number;
}

interface AddressRow {
  host: number;
  owner: string;
  idempotency_key: string | null;
  created_at: Date;
}

/** Allocates VLANs, subnets, addresses and router ids; see the module comment for the design. */
export class Allocator {
  /** `db` may be a plain Kysely or a Transaction; see the module comment. */
  constructor(private readonly db: Kysely<Database>) {}

  /**
   * Creates network `tenant/name` on `physicalNetwork` with a free (or the requested) VLAN and a
   * given or pool-carved subnet.
   */
  async createNetwork(req: CreateNetworkRequest): Promise<Network> {
    const tenant = checkName(req.tenant, 'tenant');
    const name = checkName(req.name, 'name');
    const physnet = checkName(req.physicalNetwork, 'physical_network');
    const vlan = req.vlan === undefined ? undefined : checkVlan(req.vlan, 'vlan');
    let given: Cidr | undefined;
    let pool: string | undefined;
    if (req.cidr !== undefined && req.subnetPool !== undefined) {
      throw new InvalidArgumentError('cidr', 'give either cidr or subnet_pool, not both');
    }
    if (req.cidr !== undefined) {
      given = parseCidr(req.cidr, 'cidr');
      if (given.prefixLength < MIN_NETWORK_PREFIX || given.prefixLength > MAX_NETWORK_PREFIX) {
        throw new InvalidArgumentError('cidr', `${req.cidr}: prefix length must be ${MIN_NETWORK_PREFIX}..${MAX_NETWORK_PREFIX}`);
      }
      if (req.prefixLength !== undefined && req.prefixLength !== given.prefixLength) {
        throw new InvalidArgumentError('prefix_length', `${req.prefixLength} does not match cidr ${req.cidr}`);
      }
    } else if (req.subnetPool !== undefined) {
      pool = checkName(req.subnetPool, 'subnet_pool');
      if (req.prefixLength !== undefined) checkInt(req.prefixLength, 'prefix_length', MIN_NETWORK_PREFIX, MAX_NETWORK_PREFIX);
    } else {
      throw new InvalidArgumentError('cidr', 'a network needs a cidr or a subnet_pool');
    }

    const id = randomUUID();
    if (pool !== undefined && vlan === undefined && !this.db.isTransaction) {
      // Concurrent creates of this kind share one statement and one commit (combiner.ts).
      const r = await combinedCreate(this.db, physnet, pool, req.prefixLength, { id, tenant, name });
      if (r) {
        return toNetwork({ id, tenant, name, physical_network: physnet, vlan: r.vlan, cidr: r.cidr, subnet_pool: pool, capacity: r.capacity, created_at: r.createdAt, allocated: 0 });
      }
    }
    const vlanPick =
      vlan === undefined
        ? sql`SELECT vlan FROM vlans WHERE physical_network = ${physnet} AND network_id IS NULL AND in_range
              ORDER BY vlan LIMIT 1 FOR UPDATE SKIP LOCKED`
        : sql`SELECT vlan FROM vlans WHERE physical_network = ${physnet} AND vlan = ${vlan}::int
              AND network_id IS NULL AND in_range FOR UPDATE`;
    const subnetPick =
      pool === undefined
        ? sql`SELECT ${formatCidr(given!)}::cidr AS cidr`
        : sql`SELECT cidr FROM pool_subnets WHERE subnet_pool = ${pool} AND network_id IS NULL AND in_range
              ${req.prefixLength === undefined ? sql`` : sql`AND masklen(cidr) = ${req.prefixLength}::int`}
              ORDER BY cidr LIMIT 1 FOR UPDATE SKIP LOCKED`;
    const markPool =
      pool === undefined
        ? sql``
        : sql`, s AS (UPDATE pool_subnets p SET network_id = n.id FROM n WHERE p.subnet_pool = ${pool} AND p.cidr = n.cidr)`;

    // One statement: nothing is written unless the network row is inserted, and the network row is
    // inserted only when a VLAN and a subnet were both locked and the name is free.
    const query = sql<NetworkRow>`
      WITH vc AS MATERIALIZED (${vlanPick}),
      sc AS MATERIALIZED (${subnetPick}),
      n AS (
        INSERT INTO networks (id, tenant, name, physical_network, vlan, cidr, subnet_pool, capacity)
        SELECT ${id}::uuid, ${tenant}, ${name}, ${physnet}, vc.vlan, sc.cidr, ${pool ?? null}::text,
               (1 << (32 - masklen(sc.cidr))) - 3
        FROM vc, sc
        ON CONFLICT (tenant, name) DO NOTHING
        RETURNING *, (1 << (32 - masklen(cidr))) AS size
      ),
      v AS (UPDATE vlans SET network_id = n.id FROM n WHERE vlans.physical_network = n.physical_network AND vlans.vlan = n.vlan)
      ${markPool},
      b AS (
        INSERT INTO address_blocks (network_id, block_start, bitmap)
        SELECT n.id, g,
          (CASE WHEN g = 0 THEN 3 ELSE 0 END)
          | (CASE WHEN g = (n.size - 1) / 32 * 32 THEN 1 << ((n.size - 1) % 32) ELSE 0 END)
          | (CASE WHEN n.size < 32 THEN ~((1 << n.size) - 1) ELSE 0 END)
        FROM n, generate_series(0, n.size - 1, 32) g
      )
      SELECT id, tenant, name, physical_network, vlan, cidr, subnet_pool, capacity, created_at, 0 AS allocated FROM n`;

    for (let attempt = 1; ; attempt++) {
      const { rows } = await query.execute(this.db);
      if (rows[0]) return toNetwork(rows[0]);
      // Nothing written: find out why. Only "free rows exist but were all locked" is worth a retry.
      await this.explainCreateFailure(tenant, name, physnet, vlan, pool, req.prefixLength, attempt >= CREATE_ATTEMPTS);
    }
  }

  private async explainCreateFailure(
    tenant: string,
    name: string,
    physnet: string,
    vlan: number | undefined,
    pool: string | undefined,
    prefixLength: number | undefined,
    lastAttempt: boolean,
  ): Promise<void> {
    const { rows } = await sql<{
      exists: boolean;
      physnet: string | null;
      vlan_row: { in_range: boolean; network_id: string | null } | null;
      free_vlans: number;
      pool_prefix: number | null;
      free_subnets: number;
    }>`
      SELECT
        EXISTS (SELECT 1 FROM networks WHERE tenant = ${tenant} AND name = ${name}) AS exists,
        (SELECT vlan_ranges FROM physical_networks WHERE name = ${physnet}) AS physnet,
        (SELECT json_build_object('in_range', in_range, 'network_id', network_id) FROM vlans
          WHERE physical_network = ${physnet} AND vlan = ${vlan ?? 0}::int) AS vlan_row,
        (SELECT count(*)::int FROM vlans WHERE physical_network = ${physnet} AND network_id IS NULL AND in_range) AS free_vlans,
        (SELECT prefix_length FROM subnet_pools WHERE name = ${pool ?? ''}) AS pool_prefix,
        (SELECT count(*)::int FROM pool_subnets WHERE subnet_pool = ${pool ?? ''} AND network_id IS NULL AND in_range) AS free_subnets
    `.execute(this.db);
    const r = rows[0]!;
    if (r.exists) throw new AlreadyExistsError('name', `network ${tenant}/${name} already exists`);
    if (r.physnet === null) throw new NotFoundError('physical_network', `physical network ${physnet} is not configured`);
    if (vlan !== undefined) {
      if (!r.vlan_row || !r.vlan_row.in_range) {
        throw new InvalidArgumentError('vlan', `vlan ${vlan} is outside the range of ${physnet} (${r.physnet}) or reserved`);
      }
      if (r.vlan_row.network_id !== null) throw new AlreadyExistsError('vlan', `vlan ${vlan} on ${physnet} is in use`);
    } else if (r.free_vlans === 0) {
      throw new ExhaustedError(`vlan range of ${physnet}`, `vlan range of ${physnet} (${r.physnet}) is exhausted`);
    }
    if (pool !== undefined) {
      if (r.pool_prefix === null) throw new NotFoundError('subnet_pool', `subnet pool ${pool} is not configured`);
      if (prefixLength !== undefined && prefixLength !== r.pool_prefix) {
        throw new InvalidArgumentError('prefix_length', `subnet pool ${pool} hands out /${r.pool_prefix}, not /${prefixLength}`);
      }
      if (r.free_subnets === 0) throw new ExhaustedError(`subnet pool ${pool}`, `subnet pool ${pool} is exhausted`);
    }
    if (lastAttempt) {
      throw new ExhaustedError(`vlan range of ${physnet}`, `create network ${tenant}/${name}: lost the race for a free vlan or subnet too often`);
    }
  }

  /** The network `tenant/name`, or NotFoundError (field `network`). */
  async getNetwork(tenant: string, name: string): Promise<Network> {
    return toNetwork(await this.networkRow(tenant, name));
  }

  /** Every network, or every network of `tenant`, ordered by tenant and name. */
  async listNetworks(tenant?: string): Promise<Network[]> {
    if (tenant !== undefined) checkName(tenant, 'tenant');
    const { rows } = await sql<NetworkRow>`
      SELECT n.*, (SELECT count(*)::int FROM addresses a WHERE a.network_id = n.id) AS allocated
      FROM networks n ${tenant === undefined ? sql`` : sql`WHERE n.tenant = ${tenant}`}
      ORDER BY n.tenant, n.name`.execute(this.db);
    return rows.map(toNetwork);
  }

  /**
   * Deletes a network, returning its VLAN and (if carved) its subnet to their pools. Refused with
   * FailedPreconditionError while containers are placed on it, and while addresses or router ids
   * are allocated unless `force` (they are then released and counted in the result).
   */
  async deleteNetwork(tenant: string, name: string, options: { force?: boolean } = {}): Promise<DeleteNetworkResult> {
    checkName(tenant, 'tenant');
    checkName(name, 'name');
    return inTransaction(this.db, async (trx) => {
      const { rows } = await sql<{ id: string; physical_network: string; subnet_pool: string | null; cidr: string }>`
        SELECT id, physical_network, subnet_pool, cidr FROM networks WHERE tenant = ${tenant} AND name = ${name} FOR UPDATE`.execute(trx);
      const net = rows[0];
      if (!net) throw notFoundNetwork(tenant, name);
      // Containers hold their addresses: not even `force` releases those. (The row lock above
      // keeps new placements off the network until this commits.)
      const holders = await containersHolding(trx, net.id);
      if (holders.length > 0) {
        throw new FailedPreconditionError(`delete network ${tenant}/${name}: containers are placed on it (${describeHolders(holders)}); delete them first`);
      }
      // Lock every block so no allocation is in flight while we count.
      const { rows: counts } = await sql<{ addresses: number; router_ids: number }>`
        WITH locked AS MATERIALIZED (SELECT block_start FROM address_blocks WHERE network_id = ${net.id} ORDER BY block_start FOR UPDATE)
        SELECT (SELECT count(*)::int FROM locked) * 0 + (SELECT count(*)::int FROM addresses WHERE network_id = ${net.id}) AS addresses,
               (SELECT count(*)::int FROM router_ids WHERE network_id = ${net.id}) AS router_ids`.execute(trx);
      const { addresses, router_ids: routerIds } = counts[0]!;
      if ((addresses > 0 || routerIds > 0) && !options.force) {
        throw new FailedPreconditionError(
          `delete network ${tenant}/${name}: ${addresses} addresses and ${routerIds} router ids still allocated (release them or use force)`,
        );
      }
      // addresses and address_blocks have no foreign key (see migration 0001): they go first, explicitly.
      await sql`
        WITH a AS (DELETE FROM addresses WHERE network_id = ${net.id})
        DELETE FROM address_blocks WHERE network_id = ${net.id}`.execute(trx);
      await sql`DELETE FROM networks WHERE id = ${net.id}`.execute(trx);
      // Rows that left the configured range were kept only while this network held them.
      await sql`DELETE FROM vlans WHERE physical_network = ${net.physical_network} AND network_id IS NULL AND NOT in_range`.execute(trx);
      if (net.subnet_pool !== null) {
        await sql`DELETE FROM pool_subnets WHERE subnet_pool = ${net.subnet_pool} AND network_id IS NULL AND NOT in_range`.execute(trx);
      }
      return { releasedAddresses: addresses, releasedRouterIds: routerIds };
    });
  }

  /** Every physical network with its VLAN usage, by name. */
  async listPhysicalNetworks(): Promise<PhysicalNetworkUsage[]> {
    const { rows } = await sql<{ name: string; vlan_ranges: string; reserved_vlans: number[]; in_use: number; total: number }>`
      SELECT p.name, p.vlan_ranges, p.reserved_vlans,
        count(v.vlan) FILTER (WHERE v.network_id IS NOT NULL)::int AS in_use,
        count(v.vlan) FILTER (WHERE v.in_range)::int AS total
      FROM physical_networks p LEFT JOIN vlans v ON v.physical_network = p.name
      GROUP BY p.name ORDER BY p.name`.execute(this.db);
    return rows.map((r) => ({
      name: r.name,
      vlanRanges: r.vlan_ranges,
      reservedVlans: r.reserved_vlans,
      vlansInUse: r.in_use,
      vlansTotal: r.total,
    }));
  }

  /** Every subnet pool with its usage, by name. */
  async listSubnetPools(): Promise<SubnetPoolUsage[]> {
    const { rows } = await sql<{ name: string; cidr: string; prefix_length: number; in_use: number; total: number }>`
      SELECT p.name, p.cidr, p.prefix_length,
        count(s.cidr) FILTER (WHERE s.network_id IS NOT NULL)::int AS in_use,
        count(s.cidr) FILTER (WHERE s.in_range)::int AS total
      FROM subnet_pools p LEFT JOIN pool_subnets s ON s.subnet_pool = p.name
      GROUP BY p.name ORDER BY p.name`.execute(this.db);
    return rows.map((r) => ({ name: r.name, cidr: r.cidr, prefixLength: r.prefix_length, subnetsInUse: r.in_use, subnetsTotal: r.total }));
  }

  /**
   * Allocates one address in `tenant/network`: the requested one, or a free one (lowest free in
   * the first block nobody else has locked). With an idempotency key, a retry returns the address
   * the first call got.
   */
  async allocateAddress(tenant: string, network: string, options: AllocateAddressOptions = {}): Promise<Allocation> {
    checkName(tenant, 'tenant');
    checkName(network, 'network');
    const owner = options.owner === undefined ? '' : checkText(options.owner, 'owner');
    const key = options.idempotencyKey === undefined ? null : checkIdempotencyKey(options.idempotencyKey);
    const requested = options.address === undefined ? undefined : parseAddress(options.address, 'address');

    if (key === null && requested === undefined) {
      if (this.db.isTransaction) return this.allocateNext(tenant, network, owner, null);
      // Outside a caller transaction, concurrent single allocations are group-committed.
      let r: CombinedResult | undefined;
      try {
        r = await combinedAllocate(this.db, tenant, network, owner);
      } catch (err) {
        if (err instanceof CombinedNetworkMissing) throw notFoundNetwork(tenant, network);
        throw err;
      }
      if (!r) return this.allocateNext(tenant, network, owner, null);
      return { tenant, network, address: hostAddress(r.cidr, r.host), owner, idempotencyKey: null, createdAt: r.createdAt };
    }
    return inTransaction(this.db, async (trx) => {
      const alloc = new Allocator(trx);
      if (key !== null) {
        const prior = await alloc.claimKey(tenant, network, key, 1);
        if (prior) {
          if (requested !== undefined && prior[0]?.address !== formatAddress(requested)) {
            throw new InvalidArgumentError('idempotency_key', `key ${key} was used to allocate ${prior[0]?.address ?? 'another address'}`);
          }
          if (prior.length > 0) return prior[0]!;
        }
      }
      if (requested === undefined) return alloc.allocateNext(tenant, network, owner, key);
      return alloc.allocateRequested(tenant, network, requested, owner, key);
    });
  }

  private async allocateNext(tenant: string, network: string, owner: string, key: string | null): Promise<Allocation> {
    for (let attempt = 1; ; attempt++) {
      const { rows } = await sql<{ cidr: string; host: number | null; created_at: Date | null; any_free: boolean | null }>`
        WITH net AS MATERIALIZED (SELECT id, cidr FROM networks WHERE tenant = ${tenant} AND name = ${network}),
        blk AS MATERIALIZED (
          SELECT network_id, block_start, bitmap FROM address_blocks
          WHERE network_id = (SELECT id FROM net) AND bitmap <> -1
          ORDER BY block_start LIMIT 1 FOR UPDATE SKIP LOCKED
        ),
        pick AS MATERIALIZED (
          SELECT network_id, block_start,
            (SELECT g FROM generate_series(0, 31) g WHERE (blk.bitmap >> g) & 1 = 0 ORDER BY g LIMIT 1) AS bit
          FROM blk
        ),
        ins AS (
          INSERT INTO addresses (network_id, host, block_start, owner, idempotency_key)
          SELECT network_id, block_start + bit, block_start, ${owner}, ${key}::text FROM pick
          RETURNING host, created_at
        ),
        upd AS (
          UPDATE address_blocks b SET bitmap = b.bitmap | (1 << pick.bit)
          FROM pick WHERE b.network_id = pick.network_id AND b.block_start = pick.block_start
        )
        SELECT net.cidr, ins.host, ins.created_at,
          -- Only when nothing was taken: is anything free at all (locked by others), or is it full?
          CASE WHEN ins.host IS NULL THEN EXISTS (SELECT 1 FROM address_blocks WHERE network_id = net.id AND bitmap <> -1) END AS any_free
        FROM net LEFT JOIN ins ON true`.execute(this.db);
      const row = rows[0];
      if (!row) throw notFoundNetwork(tenant, network);
      if (row.host !== null) {
        return { tenant, network, address: hostAddress(row.cidr, row.host), owner, idempotencyKey: key, createdAt: row.created_at! };
      }
      if (!row.any_free) throw await this.exhausted(tenant, network, 1);
      await backOffFromLockedBlocks(tenant, network, attempt);
    }
  }

  private async allocateRequested(tenant: string, network: string, address: number, owner: string, key: string | null): Promise<Allocation> {
    const net = await this.networkRow(tenant, network);
    const cidr = parseCidr(net.cidr);
    checkAssignable(cidr, address);
    const host = address - cidr.network;
    const blockStart = host - (host % BLOCK);
    const bit = host % BLOCK;
    const { rows } = await sql<{ created_at: Date }>`
      WITH blk AS MATERIALIZED (
        SELECT network_id, block_start, bitmap FROM address_blocks
        WHERE network_id = ${net.id} AND block_start = ${blockStart}::int FOR UPDATE
      ),
      ins AS (
        INSERT INTO addresses (network_id, host, block_start, owner, idempotency_key)
        SELECT network_id, ${host}::int, block_start, ${owner}, ${key}::text FROM blk WHERE (bitmap >> ${bit}::int) & 1 = 0
        RETURNING created_at
      ),
      upd AS (
        UPDATE address_blocks b SET bitmap = b.bitmap | (1 << ${bit}::int)
        FROM ins WHERE b.network_id = ${net.id} AND b.block_start = ${blockStart}::int
      )
      SELECT created_at FROM ins`.execute(this.db);
    if (!rows[0]) {
      throw new AlreadyExistsError('address', `${formatAddress(address)} is already allocated in network ${tenant}/${network}`);
    }
    return { tenant, network, address: formatAddress(address), owner, idempotencyKey: key, createdAt: rows[0].created_at };
  }

  /**
   * Claims an idempotency key for `count` addresses. Returns undefined when the key is new (the
   * caller allocates), or the addresses a previous request with this key got. Must run in a
   * transaction: a concurrent claim of the same key waits for ours to commit or roll back.
   */
  private async claimKey(tenant: string, network: string, key: string, count: number): Promise<Allocation[] | undefined> {
    const { rows } = await sql<{ id: string; claimed: boolean; count: number }>`
      WITH net AS MATERIALIZED (SELECT id FROM networks WHERE tenant = ${tenant} AND name = ${network}),
      k AS (
        INSERT INTO idempotency_keys (network_id, key, count) SELECT id, ${key}, ${count}::int FROM net
        ON CONFLICT (network_id, key) DO NOTHING RETURNING network_id
      )
      SELECT net.id, EXISTS (SELECT 1 FROM k) AS claimed,
        (SELECT count FROM idempotency_keys WHERE network_id = net.id AND key = ${key}) AS count
      FROM net`.execute(this.db);
    const row = rows[0];
    if (!row) throw notFoundNetwork(tenant, network);
    if (row.claimed) return undefined;
    // The snapshot of the statement above may predate the other request's commit; re-read the count.
    const prior = await this.allocationsWhere(tenant, network, sql`a.idempotency_key = ${key}`);
    const { rows: keyRows } = await sql<{ count: number }>`
      SELECT count FROM idempotency_keys WHERE network_id = ${row.id} AND key = ${key}`.execute(this.db);
    const priorCount = keyRows[0]?.count ?? count;
    if (priorCount !== count) {
      throw new InvalidArgumentError('idempotency_key', `key ${key} was used for a request of ${priorCount} addresses, not ${count}`);
    }
    if (prior.length === 0) {
      // Everything the key allocated was released meanwhile: allocate afresh under the same key.
      return undefined;
    }
    return prior;
  }

  /**
   * Allocates `count` addresses in one call (each the lowest free in blocks nobody else holds).
   * All or nothing: ExhaustedError when fewer are free. An idempotency key makes retries return the
   * same set.
   */
  async allocateAddresses(tenant: string, network: string, count: number, options: AllocateAddressesOptions = {}): Promise<Allocation[]> {
    checkName(tenant, 'tenant');
    checkName(network, 'network');
    checkInt(count, 'count', 1, MAX_BATCH);
    const owner = options.owner === undefined ? '' : checkText(options.owner, 'owner');
    const key = options.idempotencyKey === undefined ? null : checkIdempotencyKey(options.idempotencyKey);
    if (key === null && !this.db.isTransaction) {
      // Usually one statement in autocommit serves the whole batch; the stepwise path is for when
      // the lowest free blocks are locked by others or too fragmented.
      const fast = await this.allocateBatchFast(tenant, network, count, owner, null);
      if (fast) return fast;
    }
    return inTransaction(this.db, async (trx) => {
      const alloc = new Allocator(trx);
      if (key !== null) {
        const prior = await alloc.claimKey(tenant, network, key, count);
        if (prior) return prior;
      }
      return (await alloc.allocateBatchFastOrRelease(tenant, network, count, owner, key)) ?? alloc.allocateBatch(tenant, network, count, owner, key);
    });
  }

  /**
   * {@link allocateBatchFast} inside a transaction. A fast attempt that falls short must not keep
   * the blocks it locked: {@link allocateBatch} must know every block it holds, since it gives them
   * all back rather than wait for more.
   */
  private async allocateBatchFastOrRelease(tenant: string, network: string, count: number, owner: string, key: string | null): Promise<Allocation[] | undefined> {
    await sql`SAVEPOINT batch_fast`.execute(this.db);
    const fast = await this.allocateBatchFast(tenant, network, count, owner, key);
    await sql.raw(fast ? 'RELEASE SAVEPOINT batch_fast' : 'ROLLBACK TO SAVEPOINT batch_fast').execute(this.db);
    return fast;
  }

  /**
   * One statement: lock the lowest free blocks nobody holds (enough for `count` if they are mostly
   * empty), and, only if their clear bits number at least `count`, insert the addresses and set the
   * bits. Returns undefined (having written nothing) when those blocks were not enough.
   */
  private async allocateBatchFast(tenant: string, network: string, count: number, owner: string, key: string | null): Promise<Allocation[] | undefined> {
    const { rows } = await sql<{ cidr: string; host: number | null; created_at: Date | null }>`
      WITH net AS MATERIALIZED (SELECT id, cidr FROM networks WHERE tenant = ${tenant} AND name = ${network}),
      want AS MATERIALIZED (SELECT id AS network_id, ${count}::int AS count FROM net),
      ${fastAllocationCtes(owner, key)}
      SELECT net.cidr, ins.host, ins.created_at FROM net LEFT JOIN ins ON true ORDER BY ins.host`.execute(this.db);
    if (rows.length === 0) throw notFoundNetwork(tenant, network);
    if (rows[0]!.host === null) return undefined;
    const base = parseCidr(rows[0]!.cidr).network;
    return rows.map((r) => ({ tenant, network, address: formatAddress(base + r.host!), owner, idempotencyKey: key, createdAt: r.created_at! }));
  }

  private async allocateBatch(tenant: string, network: string, count: number, owner: string, key: string | null): Promise<Allocation[]> {
    const net = await this.networkRow(tenant, network, false);
    const hosts: number[] = [];
    const held: number[] = [];
    const masks = new Map<number, number>();
    let waits = 0;
    const take = (blocks: { block_start: number; bitmap: number }[]): void => {
      for (const b of blocks) {
        held.push(b.block_start);
        let mask = 0;
        for (let bit = 0; bit < BLOCK && hosts.length < count; bit++) {
          if (((b.bitmap >>> bit) & 1) === 0) {
            hosts.push(b.block_start + bit);
            mask |= 1 << bit;
          }
        }
        if (mask !== 0) masks.set(b.block_start, mask);
      }
    };
    while (hosts.length < count) {
      const want = Math.ceil((count - hosts.length) / BLOCK) + 1;
      const { rows } = await sql<{ block_start: number; bitmap: number }>`
        SELECT block_start, bitmap FROM address_blocks
        WHERE network_id = ${net.id} AND bitmap <> -1 AND block_start <> ALL(${held}::int[])
        ORDER BY block_start LIMIT ${want}::int FOR UPDATE SKIP LOCKED`.execute(this.db);
      if (rows.length > 0) {
        take(rows);
        continue;
      }
      // Every free block not ours is locked by someone else, or there is none. Holding blocks while
      // waiting for others could deadlock, so a batch that holds some gives them back and is retried;
      // one that holds none backs off and looks again.
      const { rows: rest } = await sql<{ n: number }>`
        SELECT count(*)::int AS n FROM address_blocks
        WHERE network_id = ${net.id} AND bitmap <> -1 AND block_start <> ALL(${held}::int[])`.execute(this.db);
      if (rest[0]!.n === 0) throw await this.exhausted(tenant, network, count);
      if (held.length > 0) {
        throw new RetryTransactionError(`allocate ${count} addresses in network ${tenant}/${network}: free blocks are held by concurrent allocations`);
      }
      await backOffFromLockedBlocks(tenant, network, ++waits);
    }
    const starts = [...masks.keys()];
    const { rows } = await sql<{ host: number; created_at: Date }>`
      WITH ins AS (
        INSERT INTO addresses (network_id, host, block_start, owner, idempotency_key)
        SELECT ${net.id}::uuid, h, h - h % 32, ${owner}, ${key}::text FROM unnest(${hosts}::int[]) AS h
        RETURNING host, created_at
      ),
      upd AS (
        UPDATE address_blocks b SET bitmap = b.bitmap | m.mask
        FROM unnest(${starts}::int[], ${starts.map((s) => masks.get(s)!)}::int[]) AS m(start, mask)
        WHERE b.network_id = ${net.id}::uuid AND b.block_start = m.start
      )
      SELECT host, created_at FROM ins ORDER BY host`.execute(this.db);
    const base = parseCidr(net.cidr).network;
    return rows.map((r) => ({ tenant, network, address: formatAddress(base + r.host), owner, idempotencyKey: key, createdAt: r.created_at }));
  }

  /** Releases one address; NotFoundError (field `address`) when it is not allocated. */
  async releaseAddress(tenant: string, network: string, address: string): Promise<void> {
    checkName(tenant, 'tenant');
    checkName(network, 'network');
    const value = parseAddress(address, 'address');
    const net = await this.networkRow(tenant, network, false);
    const cidr = parseCidr(net.cidr);
    checkAssignable(cidr, value);
    const host = value - cidr.network;
    const blockStart = host - (host % BLOCK);
    const { rows } = await sql<{ n: number }>`
      WITH blk AS MATERIALIZED (
        SELECT network_id, block_start FROM address_blocks WHERE network_id = ${net.id} AND block_start = ${blockStart}::int FOR UPDATE
      ),
      del AS (
        DELETE FROM addresses a USING blk WHERE a.network_id = blk.network_id AND a.host = ${host}::int
          AND NOT EXISTS (SELECT 1 FROM containers c WHERE c.network_id = a.network_id AND c.address_host = a.host)
        RETURNING a.idempotency_key
      ),
      upd AS (
        UPDATE address_blocks b SET bitmap = b.bitmap & ~(1 << ${host % BLOCK}::int)
        FROM del WHERE b.network_id = ${net.id} AND b.block_start = ${blockStart}::int
      ),
      k AS (
        DELETE FROM idempotency_keys k USING del
        WHERE k.network_id = ${net.id} AND k.key = del.idempotency_key
          AND NOT EXISTS (SELECT 1 FROM addresses a WHERE a.network_id = ${net.id} AND a.idempotency_key = del.idempotency_key AND a.host <> ${host}::int)
      )
      SELECT count(*)::int AS n FROM del`.execute(this.db);
    if (rows[0]?.n === 1) return;
    // Nothing released: a container's address is left alone (the delete above), else it was not allocated.
    const holders = await containersHolding(this.db, net.id, host);
    if (holders.length > 0) {
      throw new FailedPreconditionError(`release ${address} in network ${tenant}/${network}: container ${describeHolders(holders)} holds it; delete the container instead`);
    }
    throw new NotFoundError('address', `${address} is not allocated in network ${tenant}/${network}`);
  }

  /** Every allocated address of `tenant/network`, in address order. */
  async listAllocations(tenant: string, network: string): Promise<Allocation[]> {
    checkName(tenant, 'tenant');
    checkName(network, 'network');
    const rows = await this.allocationsWhere(tenant, network, sql`true`);
    if (rows.length === 0) await this.networkRow(tenant, network, false); // NotFoundError if it does not exist
    return rows;
  }

  private async allocationsWhere(tenant: string, network: string, where: RawBuilder<unknown>): Promise<Allocation[]> {
    const { rows } = await sql<AddressRow & { cidr: string }>`
      SELECT n.cidr, a.host, a.owner, a.idempotency_key, a.created_at
      FROM networks n JOIN addresses a ON a.network_id = n.id
      WHERE n.tenant = ${tenant} AND n.name = ${network} AND ${where}
      ORDER BY a.host`.execute(this.db);
    return rows.map((r) => ({
      tenant,
      network,
      address: hostAddress(r.cidr, r.host),
      owner: r.owner,
      idempotencyKey: r.idempotency_key,
      createdAt: r.created_at,
    }));
  }

  /** Allocates the lowest free VRRP router id (1..255) on the network's VLAN. */
  async allocateRouterId(tenant: string, network: string, owner = ''): Promise<RouterIdAllocation> {
    checkName(tenant, 'tenant');
    checkName(network, 'network');
    checkText(owner, 'owner');
    return inTransaction(this.db, async (trx) => {
      const { rows: nets } = await sql<{ id: string; vlan: number }>`
        SELECT id, vlan FROM networks WHERE tenant = ${tenant} AND name = ${network} FOR NO KEY UPDATE`.execute(trx);
      const net = nets[0];
      if (!net) throw notFoundNetwork(tenant, network);
      const { rows } = await sql<{ router_id: number; created_at: Date }>`
        INSERT INTO router_ids (network_id, router_id, owner)
        SELECT ${net.id}::uuid, g, ${owner} FROM generate_series(1, 255) g
        WHERE NOT EXISTS (SELECT 1 FROM router_ids r WHERE r.network_id = ${net.id}::uuid AND r.router_id = g)
        ORDER BY g LIMIT 1
        RETURNING router_id, created_at`.execute(trx);
      const row = rows[0];
      if (!row) {
        const pool = `router ids of network ${tenant}/${network}`;
        throw new ExhaustedError(pool, `${pool} (vlan ${net.vlan}) are exhausted: all 255 in use`);
      }
      return { routerId: row.router_id, owner, createdAt: row.created_at };
    });
  }

  /** Releases a router id; NotFoundError (field `router_id`) when it is not allocated. */
  async releaseRouterId(tenant: string, network: string, routerId: number): Promise<void> {
    checkName(tenant, 'tenant');
    checkName(network, 'network');
    checkInt(routerId, 'router_id', 1, 255);
    const { rows } = await sql<{ found: boolean; n: number }>`
      WITH net AS MATERIALIZED (SELECT id FROM networks WHERE tenant = ${tenant} AND name = ${network}),
      del AS (DELETE FROM router_ids r USING net WHERE r.network_id = net.id AND r.router_id = ${routerId}::int RETURNING 1)
      SELECT EXISTS (SELECT 1 FROM net) AS found, (SELECT count(*)::int FROM del) AS n`.execute(this.db);
    if (!rows[0]?.found) throw notFoundNetwork(tenant, network);
    if (rows[0].n !== 1) throw new NotFoundError('router_id', `router id ${routerId} is not allocated in network ${tenant}/${network}`);
  }

  /** Every allocated router id of `tenant/network`, ascending. */
  async listRouterIds(tenant: string, network: string): Promise<RouterIdAllocation[]> {
    const net = await this.networkRow(tenant, network, false);
    const { rows } = await sql<{ router_id: number; owner: string; created_at: Date }>`
      SELECT router_id, owner, created_at FROM router_ids WHERE network_id = ${net.id} ORDER BY router_id`.execute(this.db);
    return rows.map((r) => ({ routerId: r.router_id, owner: r.owner, createdAt: r.created_at }));
  }

  private async networkRow(tenant: string, name: string, withCount = true): Promise<NetworkRow> {
    checkName(tenant, 'tenant');
    checkName(name, 'network');
    const { rows } = await sql<NetworkRow>`
      SELECT n.*, ${withCount ? sql`(SELECT count(*)::int FROM addresses a WHERE a.network_id = n.id)` : sql`0`} AS allocated
      FROM networks n WHERE n.tenant = ${tenant} AND n.name = ${name}`.execute(this.db);
    if (!rows[0]) throw notFoundNetwork(tenant, name);
    return rows[0];
  }

  private async exhausted(tenant: string, network: string, wanted: number): Promise<Error> {
    const net = await this.networkRow(tenant, network);
    const pool = `addresses of network ${tenant}/${network} (${net.cidr})`;
    const free = net.capacity - net.allocated;
    return new ExhaustedError(pool, `${pool} exhausted: ${wanted} wanted, ${free} of ${net.capacity} free`);
  }
}

/** How often an allocation looks for a free block nobody has locked before giving up (about 5 s). */
const MAX_LOCKED_BLOCK_WAITS = 250;

/**
 * Sleeps a little before looking again for a free block that no concurrent statement holds. Scans
 * for free blocks never wait on a lock: a locking scan keeps the rows it re-checked and skipped, so
 * two waiting scans could hold what the other wants.
 */
async function backOffFromLockedBlocks(tenant: string, network: string, attempt: number): Promise<void> {
  const delay = Math.min(attempt, 20) * (0.5 + Math.random());
  if (attempt > MAX_LOCKED_BLOCK_WAITS) {
    throw new UnavailableError(`network ${tenant}/${network}: every free address block stayed locked by concurrent allocations; retry`);
  }
  await new Promise((resolve) => setTimeout(resolve, delay));
}

function toNetwork(r: NetworkRow): Network {
  return {
    id: r.id,
    tenant: r.tenant,
    name: r.name,
    physicalNetwork: r.physical_network,
    vlan: r.vlan,
    cidr: r.cidr,
    gateway: formatAddress(gatewayAddress(parseCidr(r.cidr))),
    subnetPool: r.subnet_pool,
    allocated: r.allocated,
    capacity: r.capacity,
    createdAt: r.created_at,
  };
}

function hostAddress(cidr: string, host: number): string {
  return formatAddress(parseCidr(cidr).network + host);
}

/** At most this many containers are named in an error about the containers holding addresses. */
const HOLDERS_NAMED = 3;

/** Up to {@link HOLDERS_NAMED} + 1 containers (`tenant/name`) holding an address of network `networkId` (only `host`, if given). */
async function containersHolding(db: Kysely<Database>, networkId: string, host?: number): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`
    SELECT tenant || '/' || name AS name FROM containers
    WHERE network_id = ${networkId} ${host === undefined ? sql`` : sql`AND address_host = ${host}::int`}
    ORDER BY tenant, name LIMIT ${HOLDERS_NAMED + 1}`.execute(db);
  return rows.map((r) => r.name);
}

/** `a/x, a/y, a/z and more`: the holders found by {@link containersHolding}. */
function describeHolders(holders: readonly string[]): string {
  return holders.length > HOLDERS_NAMED ? `${holders.slice(0, HOLDERS_NAMED).join(', ')} and more` : holders.join(', ');
}

function notFoundNetwork(tenant: string, name: string): NotFoundError {
  return new NotFoundError('network', `network ${tenant}/${name} does not exist`);
}

function checkAssignable(cidr: Cidr, address: number): void {
  const why = reservedReason(cidr, address);
  if (why === 'outside') throw new InvalidArgumentError('address', `${formatAddress(address)} is outside ${formatCidr(cidr)}`);
  if (why !== undefined) throw new InvalidArgumentError('address', `${formatAddress(address)} is the ${why} address of ${formatCidr(cidr)}`);
}

function checkIdempotencyKey(key: unknown): string {
  const k = checkText(key, 'idempotency_key', 128);
  if (k === '') throw new InvalidArgumentError('idempotency_key', 'must not be empty');
  return k;
}

/**
 * The one-statement batch allocation as CTEs, for a statement that defines `want` (network_id,
 * count) before them. For each network, the lowest free blocks nobody holds are locked (enough
 * for `count` if they are mostly empty); only if their clear bits number at least `count` are that
 * many addresses inserted and their bits set. Defines `short` (network_id: the networks where
 * those blocks fell short, and nothing was taken), `pick` (network_id, host, rn: the rn-th address
 * taken in its network, lowest first) and `ins` (the inserted addresses).
 *
 * The block size goes in as a literal, not a parameter: with parameters there Postgres estimated a
 * generic plan dearer than a custom one and so planned the statement afresh on every execution
 * (~0.5 ms, a third of a small placement's statement); as literals its cached plan is reused.
 */
export function fastAllocationCtes(owner: string, key: string | null): RawBuilder<unknown> {
  return sql`blk AS MATERIALIZED (
      SELECT b.network_id, b.block_start, b.bitmap FROM want w CROSS JOIN LATERAL (
        SELECT network_id, block_start, bitmap FROM address_blocks
        WHERE network_id = w.network_id AND bitmap <> -1
        ORDER BY block_start LIMIT (w.count + ${sql.lit(BLOCK - 1)}) / ${sql.lit(BLOCK)} + 2 FOR UPDATE SKIP LOCKED
      ) b
    ),
    free AS MATERIALIZED (
      SELECT network_id, block_start, g AS bit, row_number() OVER (PARTITION BY network_id ORDER BY block_start, g) AS rn
      FROM blk, generate_series(0, ${sql.lit(BLOCK - 1)}) g WHERE (blk.bitmap >> g) & 1 = 0
    ),
    short AS MATERIALIZED (
      SELECT w.network_id FROM want w WHERE (SELECT count(*) FROM free f WHERE f.network_id = w.network_id) < w.count
    ),
    pick AS MATERIALIZED (
      SELECT f.network_id, f.block_start, f.bit, f.block_start + f.bit AS host, f.rn FROM free f JOIN want w USING (network_id)
      WHERE f.rn <= w.count AND f.network_id NOT IN (SELECT network_id FROM short)
    ),
    ins AS (
      INSERT INTO addresses (network_id, host, block_start, owner, idempotency_key)
      SELECT network_id, host, block_start, ${owner}, ${key}::text FROM pick
      RETURNING network_id, host, created_at
    ),
    upd AS (
      UPDATE address_blocks b SET bitmap = b.bitmap | m.mask
      FROM (SELECT network_id, block_start, bit_or(1 << bit) AS mask FROM pick GROUP BY network_id, block_start) m
      WHERE b.network_id = m.network_id AND b.block_start = m.block_start
    )`;
}
