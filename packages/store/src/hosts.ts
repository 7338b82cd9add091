import { type Kysely, type RawBuilder, sql } from 'kysely';
import type { HostState, Resources } from '@fjord/core';
import { planPerCall } from './db.js';
import type { Database } from './schema.js';

/** A host as stored, with its usage summed from its containers. */
export interface HostRecord {
  name: string;
  labels: Record<string, string>;
  physicalNetworks: string[];
  capacity: Resources;
  usage: Resources;
  state: HostState;
  epoch: number;
  desiredGeneration: number;
  appliedGeneration: number;
  /**
   * When the leader last heard from the host: at most 15 s old while it is heard; once it is stale,
   * its last heartbeat, or for a host silent since a leader took over, the last time stored before.
   */
  lastHeartbeatAt: Date | null;
  /** The leader has not heard from it for its `hostStaleAfterMs`: placement skips it. */
  stale: boolean;
}

/** What a worker says about its host when it registers. */
export interface HostRegistration {
  name: string;
  labels: Record<string, string>;
  physicalNetworks: string[];
  capacity: Resources;
  /** Its worker applies desired-state deltas (default false: it is sent whole states). */
  acceptsDeltas?: boolean;
}

/**
 * Registers hosts or new incarnations of them, in one statement: a new host starts READY at
 * epoch 1; a known one gets epoch + 1 (fencing whatever the old incarnation still sends), its new
 * labels and capacity, and leaves DOWN for READY while keeping CORDONED/DRAINING/PATCHING. Bumps
 * the desired generation so the worker is sent its state under the new epoch. Names must be unique.
 */
export async function registerHosts(
  trx: Kysely<Database>,
  regs: readonly HostRegistration[],
): Promise<Map<string, { epoch: number; generation: number; isNew: boolean }>> {
  if (regs.length === 0) return new Map();
  const { rows } = await sql<{ name: string; epoch: string; desired_generation: string; inserted: boolean }>`
    INSERT INTO hosts (name, labels, physical_networks, cpu_millis, memory_bytes, slots, state, epoch, desired_generation, accepts_deltas)
    SELECT r.name, r.labels::jsonb, ARRAY(SELECT jsonb_array_elements_text(r.physnets::jsonb)), r.cpu, r.memory, r.slots, 'READY', 1, 1, r.deltas::boolean
    FROM unnest(${sql.val(regs.map((r) => r.name))}::text[], ${sql.val(regs.map((r) => JSON.stringify(r.labels)))}::text[],
                ${sql.val(regs.map((r) => JSON.stringify(r.physicalNetworks)))}::text[], ${sql.val(regs.map((r) => r.capacity.cpuMillis))}::int[],
                ${sql.val(regs.map((r) => r.capacity.memoryBytes))}::bigint[], ${sql.val(regs.map((r) => r.capacity.slots))}::int[],
                ${sql.val(regs.map((r) => String(r.acceptsDeltas ?? false)))}::text[]) -- as text: postgres.js did not send a boolean array as boolean[]
         AS r(name, labels, physnets, cpu, memory, slots, deltas)
    ON CONFLICT (name) DO UPDATE SET
      labels = EXCLUDED.labels,
      accepts_deltas = EXCLUDED.accepts_deltas,
      physical_networks = EXCLUDED.physical_networks,
      cpu_millis = EXCLUDED.cpu_millis,
      memory_bytes = EXCLUDED.memory_bytes,
      slots = EXCLUDED.slots,
      state = CASE WHEN hosts.state = 'DOWN' THEN 'READY' ELSE hosts.state END,
      epoch = hosts.epoch + 1,
      desired_generation = hosts.desired_generation + 1,
      updated_at = now()
    RETURNING name, epoch, desired_generation, (xmax = 0) AS inserted
  `.execute(trx);
  const now = Date.now();
  await recordStaleMarks(trx, regs.map((r) => ({ name: r.name, heardAt: now, stale: false })));
  return new Map(rows.map((r) => [r.name, { epoch: Number(r.epoch), generation: Number(r.desired_generation), isNew: r.inserted }]));
}

/** Bumps the desired generation of each host (its desired state changed); returns host → generation. */
export async function bumpGenerations(trx: Kysely<Database>, hosts: readonly string[]): Promise<Map<string, number>> {
  if (hosts.length === 0) return new Map();
  const { rows } = await sql<{ name: string; desired_generation: string }>`
    WITH ${bumpGenerationsCte(hosts)} SELECT name, desired_generation FROM bumped`.execute(trx);
  return new Map(rows.map((r) => [r.name, Number(r.desired_generation)]));
}

/**
 * The epoch and desired generation of each named host that exists (host → both): what a sync
 * compares with the worker's, without reading the containers as `readDesiredStates` does.
 */
export async function hostGenerations(db: Kysely<Database>, hosts: readonly string[]): Promise<Map<string, { epoch: number; generation: number }>> {
  if (hosts.length === 0) return new Map();
  const { rows } = await sql<{ name: string; epoch: string; desired_generation: string }>`
    SELECT name, epoch, desired_generation FROM hosts WHERE name = ANY(${sql.val([...hosts])}::text[])`.execute(db);
  return new Map(rows.map((r) => [r.name, { epoch: Number(r.epoch), generation: Number(r.desired_generation) }]));
}

/** The update of {@link bumpGenerations} as a CTE named `bumped`, to be part of a larger statement. */
export function bumpGenerationsCte(hosts: readonly string[]): RawBuilder<unknown> {
  // Rows are locked in name order, as every multi-host update does, so two never deadlock. NO KEY
  // UPDATE (the name, a key, stays): inserting a container checks its foreign key with a KEY SHARE
  // lock on the host row, which a FOR UPDATE lock would make wait.
  return sql`bumped AS (
    UPDATE hosts SET desired_generation = desired_generation + 1, updated_at = now()
    WHERE name IN (SELECT name FROM hosts WHERE name = ANY(${sql.val([...hosts])}::text[]) ORDER BY name FOR NO KEY UPDATE)
    RETURNING name, desired_generation
  )`;
}

/** Sets a host's scheduling state; returns the state it had, or undefined when there is no such host. */
export async function setHostState(trx: Kysely<Database>, name: string, state: HostState): Promise<HostState | undefined> {
  const { rows } = await sql<{ previous: HostState }>`
    UPDATE hosts h SET state = ${state}, updated_at = now()
    FROM (SELECT name, state FROM hosts WHERE name = ${name} FOR NO KEY UPDATE) AS old
    WHERE h.name = old.name
    RETURNING old.state AS previous`.execute(trx);
  return rows[0]?.previous;
}

/**
 * Records when these hosts were last heard from, in milliseconds since the Unix epoch. A time never
 * moves back (a deposed leader's late write keeps the stored one). Rows are written in name order,
 * as in every multi-row write here, so that two writers never deadlock.
 */
export async function recordHeartbeatTimes(db: Kysely<Database>, times: ReadonlyMap<string, number>): Promise<void> {
  if (times.size === 0) return;
  await sql`
    INSERT INTO host_liveness (name, last_heartbeat_at)
    SELECT name, to_timestamp(heard_ms / 1000.0)
    FROM unnest(${sql.val([...times.keys()])}::text[], ${sql.val([...times.values()])}::float8[]) AS v(name, heard_ms)
    ORDER BY name
    ON CONFLICT (name) DO UPDATE SET last_heartbeat_at = greatest(EXCLUDED.last_heartbeat_at, host_liveness.last_heartbeat_at)
  `.execute(db);
}

/** Whether placement skips a host (`stale`), and when it was last heard from (null: not since this leader took over). */
export interface StaleMark {
  name: string;
  heardAt: number | null;
  stale: boolean;
}

/**
 * Records stale marks (distinct names), each with its last-heard time: a null or older time keeps
 * the stored one. In name order, like every multi-row write here. (A boolean array parameter does
 * not reach Postgres as one through postgres.js: the marks go as 0 and 1.)
 */
export async function recordStaleMarks(db: Kysely<Database>, marks: readonly StaleMark[]): Promise<void> {
  if (marks.length === 0) return;
  await sql`
    INSERT INTO host_liveness (name, last_heartbeat_at, stale)
    SELECT name, to_timestamp(heard_ms / 1000.0), stale = 1
    FROM unnest(${sql.val(marks.map((m) => m.name))}::text[], ${sql.val(marks.map((m) => m.heardAt))}::float8[], ${sql.val(marks.map((m) => (m.stale ? 1 : 0)))}::int[])
      AS v(name, heard_ms, stale)
    ORDER BY name
    ON CONFLICT (name) DO UPDATE SET
      last_heartbeat_at = greatest(EXCLUDED.last_heartbeat_at, host_liveness.last_heartbeat_at),
      stale = EXCLUDED.stale
  `.execute(db);
}

/** The hosts recorded as stale. */
export async function staleHosts(db: Kysely<Database>): Promise<Set<string>> {
  const rows = await db.selectFrom('host_liveness').select('name').where('stale', '=', true).execute();
  return new Set(rows.map((r) => r.name));
}

/** Records the generation each host's worker last applied (never moving it backwards). */
export async function recordAppliedGenerations(db: Kysely<Database>, applied: ReadonlyMap<string, number>): Promise<void> {
  if (applied.size === 0) return;
  await sql`
    INSERT INTO host_liveness (name, applied_generation)
    SELECT * FROM unnest(${sql.val([...applied.keys()])}::text[], ${sql.val([...applied.values()])}::bigint[]) AS v(name, generation) ORDER BY name
    ON CONFLICT (name) DO UPDATE SET applied_generation = GREATEST(host_liveness.applied_generation, EXCLUDED.applied_generation)
  `.execute(db);
}

/** Every host (or one), with usage summed from its containers, sorted by name. */
export async function listHosts(db: Kysely<Database>, filter: { name?: string; names?: readonly string[]; state?: string } = {}): Promise<HostRecord[]> {
  const where = [sql`true`];
  if (filter.name !== undefined) where.push(sql`h.name = ${filter.name}`);
  if (filter.names !== undefined) where.push(sql`h.name = ANY(${sql.val([...filter.names])}::text[])`);
  if (filter.state !== undefined) where.push(sql`h.state = ${filter.state}`);
  const { rows } = await sql<{
    name: string;
    labels: Record<string, string>;
    physical_networks: string[];
    cpu_millis: number;
    memory_bytes: string;
    slots: number;
    state: string;
    epoch: string;
    desired_generation: string;
    applied_generation: string;
    last_heartbeat_at: Date | null;
    stale: boolean;
    used_cpu: string | null;
    used_memory: string | null;
    used_slots: string | null;
  }>`${planPerCall}
    SELECT h.*, coalesce(l.applied_generation, 0) AS applied_generation, l.last_heartbeat_at, coalesce(l.stale, false) AS stale, u.used_cpu, u.used_memory, u.used_slots
    FROM hosts h
    LEFT JOIN host_liveness l ON l.name = h.name
    LEFT JOIN (
      SELECT host, sum(cpu_millis) AS used_cpu, sum(memory_bytes) AS used_memory, count(*) AS used_slots
      FROM containers
      WHERE ${filter.names !== undefined ? sql`host = ANY(${sql.val([...filter.names])}::text[])` : filter.name !== undefined ? sql`host = ${filter.name}` : sql`true`}
      GROUP BY host
    ) u ON u.host = h.name
    WHERE ${sql.join(where, sql` AND `)}
    ORDER BY h.name
  `.execute(db);
  return rows.map((r) => ({
    name: r.name,
    labels: r.labels,
    physicalNetworks: r.physical_networks,
    capacity: { cpuMillis: r.cpu_millis, memoryBytes: Number(r.memory_bytes), slots: r.slots },
    usage: { cpuMillis: Number(r.used_cpu ?? 0), memoryBytes: Number(r.used_memory ?? 0), slots: Number(r.used_slots ?? 0) },
    state: r.state as HostState,
    epoch: Number(r.epoch),
    desiredGeneration: Number(r.desired_generation),
    appliedGeneration: Number(r.applied_generation),
    lastHeartbeatAt: r.last_heartbeat_at,
    stale: r.stale,
  }));
}
