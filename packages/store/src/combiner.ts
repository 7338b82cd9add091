/**
 * Group commit for single address allocations. Concurrent `allocateAddress` calls on the same
 * network (through the same Kysely instance, outside any caller transaction) are coalesced: while a
 * statement is in flight, new requests queue, and the next statement allocates all of them at once
 * (one round trip, one commit). A lone request is not delayed: it is sent immediately.
 *
 * Correctness does not depend on this: each combined statement is the same locked-block + unique
 * insert as a single allocation, just for k addresses. A request the statement could not serve
 * (its blocks were locked or fragmented) falls back to the single-allocation path.
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

interface Pending {
  owner: string;
  resolve: (r: CombinedResult | undefined) => void;
  reject: (err: unknown) => void;
}

interface Queue {
  waiting: Pending[];
  inFlight: number;
}

const byDb = new WeakMap<Kysely<Database>, Map<string, Queue>>();

/**
 * Allocates one address of `tenant/network` for `owner`, combined with concurrent requests.
 * Resolves undefined when the combined statement could not serve it (caller falls back).
 */
export function combinedAllocate(db: Kysely<Database>, tenant: string, network: string, owner: string): Promise<CombinedResult | undefined> {
  let queues = byDb.get(db);
  if (!queues) byDb.set(db, (queues = new Map()));
  const key = `${tenant}/${network}`;
  let q = queues.get(key);
  if (!q) queues.set(key, (q = { waiting: [], inFlight: 0 }));
  const queue = q;
  const map = queues;
  return new Promise((resolve, reject) => {
    queue.waiting.push({ owner, resolve, reject });
    if (queue.inFlight < MAX_IN_FLIGHT) void flush(db, map, key, queue, tenant, network);
  });
}

async function flush(db: Kysely<Database>, map: Map<string, Queue>, key: string, q: Queue, tenant: string, network: string): Promise<void> {
  q.inFlight++;
  try {
    while (q.waiting.length > 0) {
      const batch = q.waiting.splice(0, MAX_COMBINED);
      try {
        const results = await allocateMany(db, tenant, network, batch.map((p) => p.owner));
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
