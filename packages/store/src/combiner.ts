/**
 * Group commit for single address allocations and pool-carved network creation. Concurrent `allocateAddress` calls on the same
 * network (through the same Kysely instance, outside any caller transaction) are coalesced: while a
 * statement is in flight, new requests queue, and the next statement allocates all of them at once
 * (one round trip, one commit). A lone request is not delayed: it is sent immediately.
 *
 * Correctness does not depend on this: each combined statement is the same locked-block + unique
 * insert as a single allocation, just for k addresses. A request the statement could not serve
 * (its blocks were locked or fragmented) falls back to the single-allocation path.
 *
 * Concurrent `createNetwork` calls that take any VLAN of one physical network and a subnet of one
 * pool are combined the same way: one statement locks k free VLANs and k free subnets
 * (`SKIP LOCKED`), inserts the k networks (`ON CONFLICT (tenant, name) DO NOTHING`), marks what
 * they took and inserts their address blocks. A request it did not serve (name taken, rows locked
 * or exhausted) goes through the single-create path, which finds out why.
 */
import type { Kysely } from 'kysely';
import { sql } from 'kysely';
import type { Database } from './schema.js';

/** Most requests one combined statement serves. */
const MAX_COMBINED = 256;
/** Combined statements in flight per network at once (their commits overlap in Postgres). */
const MAX_IN_FLIGHT = 2;

/** One combined request's outcome: the host offset and network cidr, or undefined when unserved. */
export interface CombinedResult {
  cidr: string;
  host: number;
  createdAt: Date;
}

interface Pending<Req, Res> {
  req: Req;
  resolve: (r: Res | undefined) => void;
  reject: (err: unknown) => void;
}

interface Queue<Req, Res> {
  waiting: Pending<Req, Res>[];
  inFlight: number;
}

type RunMany<Req, Res> = (db: Kysely<Database>, reqs: Req[]) => Promise<(Res | undefined)[]>;

const byDb = new WeakMap<Kysely<Database>, Map<string, Queue<unknown, unknown>>>();

/**
 * Queues `req` under `key` and serves it with `run` together with whatever else is queued under the
 * same key: at most {@link MAX_IN_FLIGHT} statements per key at once, each for up to
 * {@link MAX_COMBINED} requests. `run` must be one statement (so it commits or fails whole).
 */
function combine<Req, Res>(db: Kysely<Database>, key: string, req: Req, run: RunMany<Req, Res>): Promise<Res | undefined> {
  let queues = byDb.get(db);
  if (!queues) byDb.set(db, (queues = new Map()));
  let q = queues.get(key) as Queue<Req, Res> | undefined;
  if (!q) queues.set(key, (q = { waiting: [], inFlight: 0 }) as Queue<unknown, unknown>);
  const queue = q;
  const map = queues;
  return new Promise((resolve, reject) => {
    queue.waiting.push({ req, resolve, reject });
    if (queue.inFlight < MAX_IN_FLIGHT) void flush(db, map, key, queue, run);
  });
}

/**
 * Allocates one address of `tenant/network` for `owner`, combined with concurrent requests.
 * Resolves undefined when the combined statement could not serve it (caller falls back).
 */
export function combinedAllocate(db: Kysely<Database>, tenant: string, network: string, owner: string): Promise<CombinedResult | undefined> {
  return combine(db, `address ${tenant}/${network}`, owner, (d, owners) => allocateMany(d, tenant, network, owners));
}

async function flush<Req, Res>(db: Kysely<Database>, map: Map<string, Queue<unknown, unknown>>, key: string, q: Queue<Req, Res>, run: RunMany<Req, Res>): Promise<void> {
  q.inFlight++;
  try {
    while (q.waiting.length > 0) {
      const batch = q.waiting.splice(0, MAX_COMBINED);
      try {
        const results = await run(db, batch.map((p) => p.req));
        batch.forEach((p, i) => p.resolve(results[i]));
      } catch (err) {
        for (const p of batch) p.reject(err);
      }
    }
  } finally {
    q.inFlight--;
    if (q.inFlight === 0 && q.waiting.length === 0) map.delete(key);
  }
}

async function allocateMany(db: Kysely<Database>, tenant: string, network: string, owners: string[]): Promise<(CombinedResult | undefined)[]> {
  const k = owners.length;
  const blocks = Math.min(k, Math.ceil(k / 32) + 2);
  const { rows } = await sql<{ cidr: string; rn: number | null; host: number | null; created_at: Date | null }>`
    WITH net AS MATERIALIZED (SELECT id, cidr FROM networks WHERE tenant = ${tenant} AND name = ${network}),
    blk AS MATERIALIZED (
      SELECT network_id, block_start, bitmap FROM address_blocks
      WHERE network_id = (SELECT id FROM net) AND bitmap <> -1
      ORDER BY block_start LIMIT ${blocks}::int FOR UPDATE SKIP LOCKED
    ),
    free AS MATERIALIZED (
      SELECT blk.network_id, blk.block_start, g AS bit, row_number() OVER (ORDER BY blk.block_start, g) AS rn
      FROM blk, generate_series(0, 31) g WHERE (blk.bitmap >> g) & 1 = 0
    ),
    pick AS MATERIALIZED (
      SELECT f.network_id, f.block_start, f.bit, f.rn, o.owner
      FROM free f JOIN unnest(${owners}::text[]) WITH ORDINALITY AS o(owner, rn) ON o.rn = f.rn
    ),
    ins AS (
      INSERT INTO addresses (network_id, host, block_start, owner)
      SELECT network_id, block_start + bit, block_start, owner FROM pick
      RETURNING host, created_at
    ),
    upd AS (
      UPDATE address_blocks b SET bitmap = b.bitmap | m.mask
      FROM (SELECT network_id, block_start, bit_or(1 << bit) AS mask FROM pick GROUP BY network_id, block_start) m
      WHERE b.network_id = m.network_id AND b.block_start = m.block_start
    )
    SELECT net.cidr, p.rn::int AS rn, ins.host, ins.created_at
    FROM net LEFT JOIN (ins JOIN pick p ON ins.host = p.block_start + p.bit) ON true`.execute(db);
  const out: (CombinedResult | undefined)[] = new Array(k).fill(undefined);
  for (const r of rows) {
    if (r.rn !== null && r.host !== null) out[r.rn - 1] = { cidr: r.cidr, host: r.host, createdAt: r.created_at! };
  }
  if (rows.length === 0) throw new CombinedNetworkMissing();
  return out;
}

/** The network named by a combined request does not exist. */
export class CombinedNetworkMissing extends Error {
  override readonly name = 'CombinedNetworkMissing';
  constructor() {
    super('network does not exist');
  }
}

/** A network the combined create should insert; fields already validated. */
export interface CombinedCreate {
  id: string;
  tenant: string;
  name: string;
}

/** What the combined create inserted for one request. */
export interface CombinedCreated {
  vlan: number;
  cidr: string;
  capacity: number;
  createdAt: Date;
}

/**
 * Creates network `req` on `physnet` with the lowest free VLAN and a subnet of `pool` (of length
 * `prefixLength` when given), combined with concurrent requests for the same physnet and pool.
 * Resolves undefined when not served (the caller falls back to the single-create path).
 */
export function combinedCreate(
  db: Kysely<Database>,
  physnet: string,
  pool: string,
  prefixLength: number | undefined,
  req: CombinedCreate,
): Promise<CombinedCreated | undefined> {
  return combine(db, `create ${physnet} ${pool} ${prefixLength ?? ''}`, req, (d, reqs) => createMany(d, physnet, pool, prefixLength, reqs));
}

async function createMany(
  db: Kysely<Database>,
  physnet: string,
  pool: string,
  prefixLength: number | undefined,
  reqs: CombinedCreate[],
): Promise<(CombinedCreated | undefined)[]> {
  const k = reqs.length;
  const { rows } = await sql<{ id: string; vlan: number; cidr: string; capacity: number; created_at: Date }>`
    WITH vc AS MATERIALIZED (
      SELECT vlan, row_number() OVER (ORDER BY vlan) AS rn FROM (
        SELECT vlan FROM vlans WHERE physical_network = ${physnet} AND network_id IS NULL AND in_range
        ORDER BY vlan LIMIT ${k}::int FOR UPDATE SKIP LOCKED) x
    ),
    sc AS MATERIALIZED (
      SELECT cidr, row_number() OVER (ORDER BY cidr) AS rn FROM (
        SELECT cidr FROM pool_subnets WHERE subnet_pool = ${pool} AND network_id IS NULL AND in_range
        ${prefixLength === undefined ? sql`` : sql`AND masklen(cidr) = ${prefixLength}::int`}
        ORDER BY cidr LIMIT ${k}::int FOR UPDATE SKIP LOCKED) x
    ),
    n AS (
      INSERT INTO networks (id, tenant, name, physical_network, vlan, cidr, subnet_pool, capacity)
      SELECT r.id, r.tenant, r.name, ${physnet}, vc.vlan, sc.cidr, ${pool}, (1 << (32 - masklen(sc.cidr))) - 3
      FROM unnest(${reqs.map((r) => r.id)}::uuid[], ${reqs.map((r) => r.tenant)}::text[], ${reqs.map((r) => r.name)}::text[])
        WITH ORDINALITY AS r(id, tenant, name, rn)
      JOIN vc ON vc.rn = r.rn JOIN sc ON sc.rn = r.rn
      ORDER BY r.tenant, r.name -- one insert order for all statements, so two never wait on each other's names
      ON CONFLICT (tenant, name) DO NOTHING
      RETURNING id, vlan, cidr, capacity, created_at, (1 << (32 - masklen(cidr))) AS size
    ),
    v AS (UPDATE vlans SET network_id = n.id FROM n WHERE vlans.physical_network = ${physnet} AND vlans.vlan = n.vlan),
    s AS (UPDATE pool_subnets p SET network_id = n.id FROM n WHERE p.subnet_pool = ${pool} AND p.cidr = n.cidr),
    b AS (
      INSERT INTO address_blocks (network_id, block_start, bitmap)
      SELECT n.id, g,
        (CASE WHEN g = 0 THEN 3 ELSE 0 END)
        | (CASE WHEN g = (n.size - 1) / 32 * 32 THEN 1 << ((n.size - 1) % 32) ELSE 0 END)
        | (CASE WHEN n.size < 32 THEN ~((1 << n.size) - 1) ELSE 0 END)
      FROM n, generate_series(0, n.size - 1, 32) g
    )
    SELECT id, vlan, cidr, capacity, created_at FROM n`.execute(db);
  const byId = new Map(rows.map((r) => [r.id, r]));
  return reqs.map((req) => {
    const r = byId.get(req.id);
    return r && { vlan: r.vlan, cidr: r.cidr, capacity: r.capacity, createdAt: r.created_at };
  });
}
