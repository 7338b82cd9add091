/**
 * Configuration sync run at service start: physical networks (VLAN ranges) and subnet pools are
 * upserted, and their pre-populated rows brought in line with the configured ranges.
 *
 * Shrinking a range never touches a VLAN or subnet that a network holds: free rows outside the new
 * range are deleted, held ones are marked out of range (never handed out again) and deleted when
 * their network is. Physical networks and pools missing from the config are left as they are.
 */
import { InvalidArgumentError, allocatableVlans, carveChildren, formatCidr, formatVlanRanges, parseCidr, parseVlanRanges } from '@fjord/core';
import { type Kysely, sql } from 'kysely';
import { MAX_NETWORK_PREFIX, MIN_NETWORK_PREFIX } from './allocator.js';
import type { Database } from './schema.js';
import { inTransaction } from './tx.js';
import { checkName } from './validate.js';

/** Most children one subnet pool may be carved into. */
export const MAX_POOL_CHILDREN = 65_536;

/** A physical network as configured. */
export interface PhysicalNetworkConfig {
  /** Name, e.g. `physnet1`. */
  name: string;
  /** VLAN range text, e.g. `100-3999,4000`. */
  vlanRanges: string;
  /** Ids inside the range never handed out. */
  reservedVlans?: number[];
}

/** A subnet pool as configured. */
export interface SubnetPoolConfig {
  /** Name, e.g. `pool1`. */
  name: string;
  /** The pool's prefix, e.g. `10.0.0.0/16`. */
  cidr: string;
  /** Length of the children it hands out, e.g. 24. */
  prefixLength: number;
}

/** What a sync changed for one physical network or pool. */
export interface SyncResult {
  /** Physical network or pool name. */
  name: string;
  /** VLAN ids or subnets outside the new configuration that networks still hold (kept until deleted). */
  outOfRangeInUse: (number | string)[];
}

/** Upserts physical networks and their VLAN rows; idempotent; see the module comment on shrinking. */
export async function syncPhysicalNetworks(db: Kysely<Database>, configs: readonly PhysicalNetworkConfig[]): Promise<SyncResult[]> {
  const parsed = configs.map((c) => {
    const name = checkName(c.name, 'physical_network');
    const runs = parseVlanRanges(c.vlanRanges, 'vlan_ranges');
    const reserved = [...new Set(c.reservedVlans ?? [])].sort((a, b) => a - b);
    return { name, text: formatVlanRanges(runs), reserved, ids: allocatableVlans(runs, reserved, 'reserved_vlans') };
  });
  checkUnique(parsed.map((p) => p.name), 'physical_network');
  return inTransaction(db, async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(hashtext('fjord.sync.physical_networks'))`.execute(trx);
    const out: SyncResult[] = [];
    for (const p of parsed) {
      await sql`
        INSERT INTO physical_networks (name, vlan_ranges, reserved_vlans) VALUES (${p.name}, ${p.text}, ${p.reserved}::int[])
        ON CONFLICT (name) DO UPDATE SET vlan_ranges = excluded.vlan_ranges, reserved_vlans = excluded.reserved_vlans, updated_at = now()
        WHERE (physical_networks.vlan_ranges, physical_networks.reserved_vlans) IS DISTINCT FROM (excluded.vlan_ranges, excluded.reserved_vlans)`.execute(trx);
      await sql`
        INSERT INTO vlans (physical_network, vlan) SELECT ${p.name}, unnest(${p.ids}::int[])
        ON CONFLICT (physical_network, vlan) DO UPDATE SET in_range = true WHERE NOT vlans.in_range`.execute(trx);
      await sql`
        UPDATE vlans SET in_range = false WHERE physical_network = ${p.name} AND in_range AND vlan <> ALL(${p.ids}::int[])`.execute(trx);
      await sql`DELETE FROM vlans WHERE physical_network = ${p.name} AND NOT in_range AND network_id IS NULL`.execute(trx);
      const { rows } = await sql<{ vlan: number }>`
        SELECT vlan FROM vlans WHERE physical_network = ${p.name} AND NOT in_range ORDER BY vlan`.execute(trx);
      out.push({ name: p.name, outOfRangeInUse: rows.map((r) => r.vlan) });
    }
    return out;
  });
}

/** Upserts subnet pools and their child rows; idempotent; see the module comment on shrinking. */
export async function syncSubnetPools(db: Kysely<Database>, configs: readonly SubnetPoolConfig[]): Promise<SyncResult[]> {
  const parsed = configs.map((c) => {
    const name = checkName(c.name, 'subnet_pool');
    const cidr = parseCidr(c.cidr, 'cidr');
    if (!Number.isInteger(c.prefixLength) || c.prefixLength < Math.max(cidr.prefixLength, MIN_NETWORK_PREFIX) || c.prefixLength > MAX_NETWORK_PREFIX) {
      throw new InvalidArgumentError(
        'prefix_length',
        `subnet pool ${name}: /${c.prefixLength} cannot be carved from ${c.cidr} (want ${Math.max(cidr.prefixLength, MIN_NETWORK_PREFIX)}..${MAX_NETWORK_PREFIX})`,
      );
    }
    if (2 ** (c.prefixLength - cidr.prefixLength) > MAX_POOL_CHILDREN) {
      throw new InvalidArgumentError('prefix_length', `subnet pool ${name}: more than ${MAX_POOL_CHILDREN} /${c.prefixLength} children in ${c.cidr}`);
    }
    return { name, cidr: formatCidr(cidr), prefixLength: c.prefixLength, children: carveChildren(cidr, c.prefixLength).map(formatCidr) };
  });
  checkUnique(parsed.map((p) => p.name), 'subnet_pool');
  return inTransaction(db, async (trx) => {
    await sql`SELECT pg_advisory_xact_lock(hashtext('fjord.sync.subnet_pools'))`.execute(trx);
    const out: SyncResult[] = [];
    for (const p of parsed) {
      await sql`
        INSERT INTO subnet_pools (name, cidr, prefix_length) VALUES (${p.name}, ${p.cidr}::cidr, ${p.prefixLength}::int)
        ON CONFLICT (name) DO UPDATE SET cidr = excluded.cidr, prefix_length = excluded.prefix_length, updated_at = now()
        WHERE (subnet_pools.cidr, subnet_pools.prefix_length) IS DISTINCT FROM (excluded.cidr, excluded.prefix_length)`.execute(trx);
      await sql`
        INSERT INTO pool_subnets (subnet_pool, cidr) SELECT ${p.name}, unnest(${p.children}::cidr[])
        ON CONFLICT (subnet_pool, cidr) DO UPDATE SET in_range = true WHERE NOT pool_subnets.in_range`.execute(trx);
      await sql`
        UPDATE pool_subnets SET in_range = false
        WHERE subnet_pool = ${p.name} AND in_range AND NOT (masklen(cidr) = ${p.prefixLength}::int AND cidr <<= ${p.cidr}::cidr)`.execute(trx);
      await sql`DELETE FROM pool_subnets WHERE subnet_pool = ${p.name} AND NOT in_range AND network_id IS NULL`.execute(trx);
      const { rows } = await sql<{ cidr: string }>`
        SELECT cidr FROM pool_subnets WHERE subnet_pool = ${p.name} AND NOT in_range ORDER BY cidr`.execute(trx);
      out.push({ name: p.name, outOfRangeInUse: rows.map((r) => r.cidr) });
    }
    return out;
  });
}

function checkUnique(names: string[], field: string): void {
  const seen = new Set<string>();
  for (const n of names) {
    if (seen.has(n)) throw new InvalidArgumentError(field, `${n} is configured twice`);
    seen.add(n);
  }
}
