import { type Kysely, type RawBuilder, sql } from 'kysely';
import { LEASE_WRITE_MARGIN_MS } from '@fjord/config';
import { FailedPreconditionError } from '@fjord/core';
import type { Database } from './schema.js';

/** A lease held: who holds it and the epoch (fencing token) it was granted with. */
export interface Lease {
  holder: string;
  epoch: number;
}

/** A write attempted with a lease that is no longer current. */
export class FencedError extends FailedPreconditionError {
  override readonly name = 'FencedError';
  constructor(readonly lease: Lease) {
    super(`not the leader: lease epoch ${lease.epoch} of ${lease.holder} is no longer current`);
  }
}

/**
 * Takes the lease `name` when it is free or expired (bumping the epoch), or renews it when `holder`
 * already has it. Returns the lease held, or undefined when someone else holds it. All times come
 * from the database's clock, so replicas never compare their own clocks.
 */
export async function acquireOrRenewLease(db: Kysely<Database>, name: string, holder: string, ttlMs: number): Promise<Lease | undefined> {
  const row = await sql<{ epoch: string; holder: string }>`
    INSERT INTO leader_lease (name, holder, epoch, expires_at)
    VALUES (${name}, ${holder}, 1, now() + ${ttlMs} * interval '1 millisecond')
    ON CONFLICT (name) DO UPDATE
      SET holder = EXCLUDED.holder,
          epoch = CASE WHEN leader_lease.holder = EXCLUDED.holder AND leader_lease.expires_at > now()
                       THEN leader_lease.epoch ELSE leader_lease.epoch + 1 END,
          expires_at = EXCLUDED.expires_at
      WHERE leader_lease.holder = EXCLUDED.holder OR leader_lease.expires_at <= now()
    RETURNING epoch, holder
  `.execute(db);
  const lease = row.rows[0];
  return lease ? { holder: lease.holder, epoch: Number(lease.epoch) } : undefined;
}

/** Gives the lease up (on clean shutdown) so another replica takes over without waiting for expiry. */
export async function releaseLease(db: Kysely<Database>, name: string, lease: Lease): Promise<void> {
  await sql`UPDATE leader_lease SET expires_at = now() WHERE name = ${name} AND holder = ${lease.holder} AND epoch = ${lease.epoch}`.execute(db);
}

/**
 * Fences a write: called last in the writer's transaction, checks that the lease is still `lease`
 * and will stay valid for at least `marginMs` more (by the database's clock at this instant). A
 * takeover needs the lease to expire first, so the commit that follows within the margin cannot
 * overlap a new leader. Takes no lock, so lease renewals never wait behind a long write.
 */
export async function checkLease(trx: Kysely<Database>, name: string, lease: Lease, marginMs = LEASE_WRITE_MARGIN_MS): Promise<void> {
  const row = await sql<{ epoch: string }>`WITH ${fenceCte({ name, lease, marginMs })} SELECT epoch FROM fence`.execute(trx);
  if (row.rows.length === 0) throw new FencedError(lease);
}

/** A lease for a write to check in its own last statement rather than in one more (see {@link fenceCte}). */
export interface Fence {
  name: string;
  lease: Lease;
  marginMs?: number;
}

/**
 * {@link checkLease}'s query as a CTE named `fence` (one row while the lease holds), for a
 * writer's last statement: the statement then reports whether the lease held, and the writer
 * throws {@link FencedError} (rolling back) when it did not. One round trip fewer.
 */
export function fenceCte({ name, lease, marginMs = LEASE_WRITE_MARGIN_MS }: Fence): RawBuilder<unknown> {
  return sql`fence AS (
    SELECT epoch FROM leader_lease
    WHERE name = ${name} AND holder = ${lease.holder} AND epoch = ${lease.epoch}
      AND expires_at > clock_timestamp() + ${marginMs} * interval '1 millisecond'
  )`;
}

/** The current lease holder, if any holds an unexpired lease. */
export async function currentLease(db: Kysely<Database>, name: string): Promise<Lease | undefined> {
  const row = await sql<{ epoch: string; holder: string }>`
    SELECT holder, epoch FROM leader_lease WHERE name = ${name} AND expires_at > now()
  `.execute(db);
  const lease = row.rows[0];
  return lease ? { holder: lease.holder, epoch: Number(lease.epoch) } : undefined;
}
