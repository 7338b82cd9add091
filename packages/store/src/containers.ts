import { type Kysely, type RawBuilder, sql } from 'kysely';
import { NotFoundError } from '@fjord/core';
import { Allocator, fastAllocationCtes } from './allocator.js';
import { planPerCall } from './db.js';
import { recordChangesCte } from './events.js';
import { bumpGenerationsCte } from './hosts.js';
import { FencedError, fenceCte, type Fence } from './lease.js';
import { RetryTransactionError, sqlState } from './tx.js';
import type { Database } from './schema.js';

/** A container as stored, with its network's name, VLAN and subnet. */
export interface ContainerRecord {
  id: string;
  tenant: string;
  name: string;
  networkId: string;
  network: string;
  vlan: number;
  cidr: string;
  address: string;
  addressHost: number;
  host: string;
  template: string;
  cpuMillis: number;
  memoryBytes: number;
  constraints: string[];
  antiAffinityGroup: string | null;
  spreadLabel: string | null;
  command: string;
  runtimeName: string;
  state: string;
  observed: string;
  createdAt: Date;
  updatedAt: Date;
}

/** A container to place; its address is allocated as it is placed. */
export type ContainerToPlace = Omit<ContainerRecord, 'network' | 'vlan' | 'cidr' | 'address' | 'addressHost' | 'state' | 'observed' | 'createdAt' | 'updatedAt'>;

/**
 * {@link placeContainers} found too few free addresses for one statement in these networks (by
 * id): their lowest free blocks are held by other allocations or too full. Nothing was written;
 * the caller places the containers again with {@link placeContainersInTransaction}.
 */
export class AddressesShortError extends RetryTransactionError {
  constructor(readonly networkIds: string[]) {
    super(`too few free addresses for one statement in network(s) ${networkIds.join(', ')}`);
  }
}

/**
 * Places containers in one statement, outside any transaction: allocates their addresses on the
 * allocator's one-statement path, inserts them, bumps their hosts' desired generations, records
 * a `container.placed` event for each with one outbox row, and checks `fence`. All of it or
 * nothing: {@link FencedError} when the lease no longer holds, {@link AddressesShortError} when a
 * network's addresses fell short of that path. One round trip where a transaction takes four.
 */
export async function placeContainers(db: Kysely<Database>, containers: readonly ContainerToPlace[], fence: Fence): Promise<ContainerRecord[]> {
  if (containers.length === 0) return [];
  // rn: the container's place among its network's, matched with the rn-th address allocated there.
  const taken = new Map<string, number>();
  const rows = containers.map((c) => {
    const rn = (taken.get(c.networkId) ?? 0) + 1;
    taken.set(c.networkId, rn);
    return { rn, ...columnsOf(c) };
  });
  return recordPlacement(
    db,
    sql`r AS MATERIALIZED (
      SELECT * FROM jsonb_to_recordset(${JSON.stringify(rows)}::text::jsonb) AS r(rn bigint, ${containerColumnTypes})
    ),
    want AS MATERIALIZED (SELECT network_id, count(*)::int AS count FROM r GROUP BY network_id),
    ${fastAllocationCtes('container', null)},
    c AS (
      INSERT INTO containers (${containerColumns})
      SELECT ${containerValues(sql`p.host`, sql`host(n.cidr + p.host)`)}
      FROM r JOIN pick p ON p.network_id = r.network_id AND p.rn = r.rn JOIN networks n ON n.id = r.network_id
      LEFT JOIN bumped b ON b.name = r.host
      RETURNING *
    )`,
    containers,
    fence,
    { allocated: true },
  );
}

/**
 * Places containers in the caller's transaction with their addresses allocated on any of the
 * allocator's paths, and records them as {@link placeContainers} does: for the groups that one
 * statement cannot serve (a network too fragmented, its free blocks held) and for retries.
 */
export async function placeContainersInTransaction(trx: Kysely<Database>, containers: readonly ContainerToPlace[], fence: Fence): Promise<ContainerRecord[]> {
  if (containers.length === 0) return [];
  const byNetwork = new Map<string, ContainerToPlace[]>();
  for (const c of containers) {
    const placed = byNetwork.get(c.networkId) ?? [];
    placed.push(c);
    byNetwork.set(c.networkId, placed);
  }
  const { rows: networks } = await sql<{ id: string; tenant: string; name: string }>`
    SELECT id, tenant, name FROM networks WHERE id = ANY(${sql.val([...byNetwork.keys()])}::uuid[])`.execute(trx);
  if (networks.length < byNetwork.size) throw new NotFoundError('network', 'a network of these containers no longer exists');
  const allocator = new Allocator(trx);
  const rows: object[] = [];
  for (const network of networks) {
    const placed = byNetwork.get(network.id)!;
    const allocations = await allocator.allocateAddresses(network.tenant, network.name, placed.length, { owner: 'container' });
    placed.forEach((c, i) => rows.push({ address: allocations[i]!.address, ...columnsOf(c) }));
  }
  return recordPlacement(
    trx,
    sql`c AS (
      INSERT INTO containers (${containerColumns})
      SELECT ${containerValues(sql`r.address::inet - n.cidr`, sql`r.address`)}
      FROM jsonb_to_recordset(${JSON.stringify(rows)}::text::jsonb) AS r(address text, ${containerColumnTypes})
      JOIN networks n ON n.id = r.network_id LEFT JOIN bumped b ON b.name = r.host
      RETURNING *
    )`,
    containers,
    fence,
    { allocated: false },
  );
}

const containerColumns = sql.raw(
  'id, tenant, name, network_id, address_host, address, host, template, cpu_millis, memory_bytes, constraints, anti_affinity_group, spread_label, command, runtime_name, generation',
);

/**
 * The values of {@link containerColumns} from rows `r` of {@link columnsOf}, with the address's
 * offset in its subnet and the address as given (each path derives one from the other in SQL),
 * and the generation its host was just bumped to (`b`, a row of `bumped`; a host that does not
 * exist has none, and the insert fails, on the NOT NULL of `generation`, rather than lose the row).
 */
function containerValues(addressHost: RawBuilder<unknown>, address: RawBuilder<unknown>): RawBuilder<unknown> {
  return sql`r.id, r.tenant, r.name, r.network_id, ${addressHost}, ${address}, r.host, r.template, r.cpu_millis, r.memory_bytes,
    r.constraints, r.anti_affinity_group, r.spread_label, r.command, r.runtime_name, b.desired_generation`;
}

/** The fields of {@link columnsOf}, typed for jsonb_to_recordset. */
const containerColumnTypes = sql.raw(
  'id uuid, tenant text, name text, network_id uuid, host text, template text, cpu_millis integer, memory_bytes bigint, constraints text[], anti_affinity_group text, spread_label text, command text, runtime_name text',
);

function columnsOf(c: ContainerToPlace) {
  return {
    id: c.id,
    tenant: c.tenant,
    name: c.name,
    network_id: c.networkId,
    host: c.host,
    template: c.template,
    cpu_millis: c.cpuMillis,
    memory_bytes: c.memoryBytes,
    constraints: c.constraints,
    anti_affinity_group: c.antiAffinityGroup,
    spread_label: c.spreadLabel,
    command: c.command,
    runtime_name: c.runtimeName,
  };
}

/** SQLSTATEs raised through fjord_check (migration 0005) by {@link recordPlacement} and {@link recordObserved}. */
const FENCED = 'FJ001';
const SHORT = 'FJ002';

/**
 * Runs `inserting` (CTEs ending in `c`, the inserted containers, which may read `bumped`) with
 * what every placement records: its hosts' generation bumps, a `container.placed` event per
 * container with one outbox row, and the lease check. A failed check raises an error, so the
 * statement writes nothing.
 */
async function recordPlacement(
  db: Kysely<Database>,
  inserting: RawBuilder<unknown>,
  containers: readonly ContainerToPlace[],
  fence: Fence,
  { allocated }: { allocated: boolean },
): Promise<ContainerRecord[]> {
  const hosts = [...new Set(containers.map((c) => c.host))];
  const events = sql`SELECT 'container.placed', tenant, tenant || '/' || name, host, 'on ' || host || ' at ' || address FROM c`;
  const addressesChecked = allocated
    ? sql`fjord_check(NOT EXISTS (SELECT 1 FROM short), ${SHORT}, (SELECT string_agg(network_id::text, ',') FROM short))`
    : sql`true`;
  try {
    // `checked` is the outer side of the join so that it is evaluated even should `c` be empty.
    // It reads `ev` so that the lease is checked after every lock the statement waits for (the
    // hosts' rows, the events' ordering lock), as `checkLease` is last in a transaction: a check
    // before those waits would let the lease run out during them.
    const { rows } = await sql<Row>`
      WITH ${bumpGenerationsCte(hosts)},
      ${inserting},
      ${recordChangesCte(events, hosts, { lockAfter: 'bumped' })},
      ${fenceCte(fence)},
      checked AS MATERIALIZED (
        SELECT fjord_check(EXISTS (SELECT 1 FROM fence), ${FENCED}, 'the lease is gone') AND ${addressesChecked} AS ok
        FROM (SELECT count(*) FROM ev) AS after_locks
      )
      SELECT c.*, n.name AS network, n.vlan, n.cidr::text AS cidr
      FROM checked LEFT JOIN (c JOIN networks n ON n.id = c.network_id) ON true WHERE checked.ok`.execute(db);
    return rows.map(toRecord);
  } catch (err) {
    if (sqlState(err) === FENCED) throw new FencedError(fence.lease);
    if (sqlState(err) === SHORT) throw new AddressesShortError((err as Error).message.split(','));
    throw err;
  }
}

function selectContainers(db: Kysely<Database>) {
  return db
    .selectFrom('containers as c')
    .innerJoin('networks as n', 'n.id', 'c.network_id')
    .select([
      'c.id',
      'c.tenant',
      'c.name',
      'c.network_id',
      'n.name as network',
      'n.vlan',
      sql<string>`n.cidr::text`.as('cidr'),
      'c.address',
      'c.address_host',
      'c.host',
      'c.template',
      'c.cpu_millis',
      'c.memory_bytes',
      'c.constraints',
      'c.anti_affinity_group',
      'c.spread_label',
      'c.command',
      'c.runtime_name',
      'c.state',
      'c.observed',
      'c.created_at',
      'c.updated_at',
    ]);
}

type Row = Awaited<ReturnType<ReturnType<typeof selectContainers>['execute']>>[number];

function toRecord(r: Row): ContainerRecord {
  return {
    id: r.id,
    tenant: r.tenant,
    name: r.name,
    networkId: r.network_id,
    network: r.network,
    vlan: r.vlan,
    cidr: r.cidr,
    address: r.address,
    addressHost: r.address_host,
    host: r.host,
    template: r.template,
    cpuMillis: r.cpu_millis,
    memoryBytes: Number(r.memory_bytes),
    constraints: r.constraints,
    antiAffinityGroup: r.anti_affinity_group,
    spreadLabel: r.spread_label,
    command: r.command,
    runtimeName: r.runtime_name,
    state: r.state,
    observed: r.observed,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** Containers with these (tenant, name) keys that exist. */
export async function findContainers(db: Kysely<Database>, keys: readonly { tenant: string; name: string }[]): Promise<ContainerRecord[]> {
  if (keys.length === 0) return [];
  const rows = await selectContainers(db)
    .where(sql<boolean>`(c.tenant, c.name) IN (SELECT * FROM unnest(${sql.val(keys.map((k) => k.tenant))}::text[], ${sql.val(keys.map((k) => k.name))}::text[]))`)
    .execute();
  return rows.map(toRecord);
}

/** Filters for {@link listContainers}. */
export interface ContainerFilter {
  tenant?: string | undefined;
  host?: string | undefined;
  network?: string | undefined;
  limit?: number | undefined;
}

/** Containers matching the filter, by tenant and name. */
export async function listContainers(db: Kysely<Database>, filter: ContainerFilter = {}): Promise<ContainerRecord[]> {
  let query = selectContainers(db);
  if (filter.tenant) query = query.where('c.tenant', '=', filter.tenant);
  if (filter.host) query = query.where('c.host', '=', filter.host);
  if (filter.network) query = query.where('n.name', '=', filter.network);
  query = query.orderBy('c.tenant').orderBy('c.name');
  if (filter.limit) query = query.limit(filter.limit);
  return (await query.execute()).map(toRecord);
}

/** Deletes a container row (in the caller's transaction); returns what it was, or undefined. */
export async function deleteContainerRow(trx: Kysely<Database>, tenant: string, name: string): Promise<ContainerRecord | undefined> {
  const [existing] = await findContainers(trx, [{ tenant, name }]);
  if (!existing) return undefined;
  await trx.deleteFrom('containers').where('id', '=', existing.id).execute();
  return existing;
}

/** An observed state reported by a host's worker. */
export interface ObservedUpdate {
  host: string;
  runtimeName: string;
  state: 'RUNNING' | 'STOPPED' | 'FAILED';
  observed: string;
}

/**
 * Records what workers observed and, in the same statement, an event for each container whose
 * state or observation changed (`container.<state>`, queued for the relay in one outbox row): a
 * change is never recorded without its event. Only rows on the reporting host change (a container
 * moved away is not touched by its old host). Returns the containers that changed.
 *
 * Only the leader records (its host protocol hears the reports): the statement checks `fence`
 * after its locks, as the placement statement does, and throws {@link FencedError}, writing
 * nothing, when the lease is gone. A deposed leader's last reports could otherwise overwrite newer
 * ones that its successor recorded, until the worker's next whole report.
 */
export async function recordObserved(
  db: Kysely<Database>,
  updates: readonly ObservedUpdate[],
  fence: Fence,
): Promise<{ tenant: string; name: string; host: string; state: string }[]> {
  if (updates.length === 0) return [];
  try {
    // `checked` is the outer side of the join so that it is evaluated even should nothing change.
    const result = await sql<{ tenant: string | null; name: string; host: string; state: string }>`${planPerCall}
      WITH changed AS (
        UPDATE containers AS c SET state = v.state, observed = v.observed, updated_at = now()
        FROM unnest(${sql.val(updates.map((u) => u.host))}::text[], ${sql.val(updates.map((u) => u.runtimeName))}::text[],
                    ${sql.val(updates.map((u) => u.state))}::text[], ${sql.val(updates.map((u) => u.observed))}::text[])
             AS v(host, runtime_name, state, observed)
        WHERE c.runtime_name = v.runtime_name AND c.host = v.host AND (c.state <> v.state OR c.observed <> v.observed)
        RETURNING c.tenant, c.name, c.host, c.state
      ),
      ${recordChangesCte(sql`SELECT 'container.' || lower(state), tenant, tenant || '/' || name, host, lower(state) || ' on ' || host FROM changed`, [], { lockAfter: 'changed' })},
      ${fenceCte(fence)},
      checked AS MATERIALIZED (
        SELECT fjord_check(EXISTS (SELECT 1 FROM fence), ${FENCED}, 'the lease is gone') AS ok
        FROM (SELECT count(*) FROM ev) AS after_locks
      )
      SELECT changed.tenant, changed.name, changed.host, changed.state
      FROM checked LEFT JOIN changed ON true WHERE checked.ok`.execute(db);
    return result.rows.filter((r): r is { tenant: string; name: string; host: string; state: string } => r.tenant !== null);
  } catch (err) {
    if (sqlState(err) === FENCED) throw new FencedError(fence.lease);
    throw err;
  }
}

/** Anti-affinity membership: `tenant/group` → host of each member. */
export async function groupMembers(db: Kysely<Database>): Promise<Record<string, string[]>> {
  const rows = await db
    .selectFrom('containers')
    .select(['tenant', 'anti_affinity_group', 'host'])
    .where('anti_affinity_group', 'is not', null)
    .execute();
  const members: Record<string, string[]> = {};
  for (const r of rows) (members[`${r.tenant}/${r.anti_affinity_group}`] ??= []).push(r.host);
  return members;
}

/** The id, VLAN, subnet and physical network of each named network that exists (`tenant/name` → network). */
export async function findNetworks(
  db: Kysely<Database>,
  keys: readonly { tenant: string; name: string }[],
): Promise<Map<string, { id: string; tenant: string; name: string; vlan: number; cidr: string; physicalNetwork: string }>> {
  const found = new Map<string, { id: string; tenant: string; name: string; vlan: number; cidr: string; physicalNetwork: string }>();
  if (keys.length === 0) return found;
  const rows = await db
    .selectFrom('networks')
    .select(['id', 'tenant', 'name', 'vlan', sql<string>`cidr::text`.as('cidr'), 'physical_network'])
    .where(sql<boolean>`(tenant, name) IN (SELECT * FROM unnest(${sql.val(keys.map((k) => k.tenant))}::text[], ${sql.val(keys.map((k) => k.name))}::text[]))`)
    .execute();
  for (const r of rows) found.set(`${r.tenant}/${r.name}`, { id: r.id, tenant: r.tenant, name: r.name, vlan: r.vlan, cidr: r.cidr, physicalNetwork: r.physical_network });
  return found;
}
