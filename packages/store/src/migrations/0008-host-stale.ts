import { type Kysely, type Migration, sql } from 'kysely';

/**
 * `host_liveness.stale`: the leader has not heard from the host for its `hostStaleAfterMs`, and
 * placement skips it. Recorded when that changes, so that `ListHosts` on any replica shows which
 * hosts are skipped, and a new leader does not take a host known to be silent for a live one.
 */
export const migration0008HostStale: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await sql`ALTER TABLE host_liveness ADD COLUMN stale boolean NOT NULL DEFAULT false`.execute(db);
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await sql`ALTER TABLE host_liveness DROP COLUMN stale`.execute(db);
  },
};
