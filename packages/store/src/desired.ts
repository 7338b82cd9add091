/**
 * Hosts' desired states as the relay and the sync replies read them: whole, or only what changed
 * after a generation the host's worker was already sent (a delta, migration 0007).
 */
import { type Kysely, sql } from 'kysely';
import { fenceCte, type Fence } from './lease.js';
import type { Database } from './schema.js';

/** A container as a worker needs it in its host's desired state. */
export interface DesiredContainerRow {
  runtimeName: string;
  tenant: string;
  name: string;
  template: string;
  vlan: number;
  address: string;
  cidr: string;
  cpuMillis: number;
  memoryBytes: number;
  command: string;
}

/** The generation last published to a host, in the epoch it was published in. */
export interface PublishedGeneration {
  epoch: number;
  generation: number;
}

/** One host's desired state as read: whole (`base` null) or the changes after `base`. */
export interface HostDesiredRead {
  name: string;
  epoch: number;
  desiredGeneration: number;
  /** Null: `containers` is every container on the host. Else they are those added after `base`. */
  base: number | null;
  containers: DesiredContainerRow[];
  /** Runtime names removed after `base` (every removal still recorded when `base` is null). */
  removed: string[];
}

/**
 * Each named host that exists, with its containers (by runtime name), read in one statement and
 * so from one snapshot: a generation always comes with exactly its containers (else a message
 * published under a generation's id could lack one, and JetStream would later drop the right one
 * as a duplicate id).
 *
 * A host named in `published`, in the same epoch, whose worker accepts deltas, is read as a
 * delta: only the containers that arrived after the published generation and the runtime names
 * removed after it. Every other host is read whole.
 */
export async function readDesiredStates(
  db: Kysely<Database>,
  hosts: readonly string[],
  published: ReadonlyMap<string, PublishedGeneration> = new Map(),
): Promise<HostDesiredRead[]> {
  if (hosts.length === 0) return [];
  const epochs = hosts.map((h) => published.get(h)?.epoch ?? null);
  const since = hosts.map((h) => published.get(h)?.generation ?? null);
  // Columns come named as the result's fields; bigints arrive as text.
  type Row = Omit<DesiredContainerRow, 'runtimeName' | 'memoryBytes'> & {
    host: string;
    epoch: string;
    desiredGeneration: string;
    base: string | null;
    removed: string[] | null;
    runtimeName: string | null;
    memoryBytes: string;
  };
  const { rows } = await sql<Row>`
    WITH h AS MATERIALIZED (
      SELECT h.name, h.epoch, h.desired_generation, CASE WHEN h.accepts_deltas AND h.epoch = s.epoch THEN s.since END AS base
      FROM unnest(${sql.val([...hosts])}::text[], ${sql.val(epochs)}::bigint[], ${sql.val(since)}::bigint[]) AS s(name, epoch, since)
      JOIN hosts h ON h.name = s.name
    )
    SELECT h.name AS host, h.epoch, h.desired_generation AS "desiredGeneration", h.base,
           (SELECT array_agg(r.runtime_name) FROM removed_containers r WHERE r.host = h.name AND r.generation > coalesce(h.base, -1)) AS removed,
           c.runtime_name AS "runtimeName", c.tenant, c.name, c.template, n.vlan, c.address, n.cidr::text AS cidr,
           c.cpu_millis AS "cpuMillis", c.memory_bytes AS "memoryBytes", c.command
    FROM h
    -- Each host's containers through the (host, generation) index: a plain join was planned as a
    -- scan of every container (~10 ms on each relay pass at 35,000). OFFSET 0 keeps the planner
    -- from turning the LATERAL subquery back into that join.
    LEFT JOIN LATERAL (SELECT * FROM containers WHERE host = h.name AND generation > coalesce(h.base, -1) OFFSET 0) c ON true
    LEFT JOIN networks n ON n.id = c.network_id
    ORDER BY h.name, c.runtime_name`.execute(db);
  const byHost = new Map<string, HostDesiredRead>();
  for (const row of rows) {
    let host = byHost.get(row.host);
    if (!host) {
      host = {
        name: row.host,
        epoch: Number(row.epoch),
        desiredGeneration: Number(row.desiredGeneration),
        base: row.base === null ? null : Number(row.base),
        containers: [],
        removed: row.removed ?? [],
      };
      byHost.set(row.host, host);
    }
    if (row.runtimeName === null) continue; // no containers
    // Field by field: a spread followed by new fields takes V8's slow path (~3 µs a row here).
    host.containers.push({
      runtimeName: row.runtimeName,
      tenant: row.tenant,
      name: row.name,
      template: row.template,
      vlan: row.vlan,
      address: row.address,
      cidr: row.cidr,
      cpuMillis: row.cpuMillis,
      memoryBytes: Number(row.memoryBytes),
      command: row.command,
    });
  }
  return [...byHost.values()];
}

/** Records containers removed from their hosts under the generations that removed them (caller's transaction). */
export async function recordRemovals(trx: Kysely<Database>, removals: readonly { host: string; generation: number; runtimeName: string }[]): Promise<void> {
  if (removals.length === 0) return;
  await trx
    .insertInto('removed_containers')
    .values(removals.map((r) => ({ host: r.host, generation: r.generation, runtime_name: r.runtimeName })))
    .execute();
}

/**
 * Forgets the removals each host's published generation covers: no delta will be read from
 * before it by the relay of the lease `fence` names. Only while that lease holds: a deposed
 * leader's relay, still finishing a pass, must not delete removals that the new leader's deltas
 * (from generations it published itself) still need. Returns false when the lease is gone.
 */
export async function pruneRemovals(db: Kysely<Database>, published: readonly { host: string; generation: number }[], fence: Fence): Promise<boolean> {
  if (published.length === 0) return true;
  const { rows } = await sql<{ held: boolean }>`
    WITH ${fenceCte(fence)},
    pruned AS (
      DELETE FROM removed_containers r
      USING unnest(${sql.val(published.map((p) => p.host))}::text[], ${sql.val(published.map((p) => p.generation))}::bigint[]) AS p(host, generation)
      WHERE r.host = p.host AND r.generation <= p.generation AND EXISTS (SELECT 1 FROM fence)
    )
    SELECT EXISTS (SELECT 1 FROM fence) AS held`.execute(db);
  return rows[0]?.held === true;
}
