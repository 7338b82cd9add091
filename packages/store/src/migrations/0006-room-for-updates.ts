import { type Kysely, type Migration, sql } from 'kysely';

/**
 * Leaves room in each page of the tables updated all the time, so that an update that changes no
 * indexed column (a container's state, a host's generation or heartbeat) can stay on its page as a
 * heap-only tuple and write no index entry. Full pages made most of them ordinary updates: a
 * container going RUNNING wrote six index entries. Takes effect on pages written from now on.
 */
const fillfactors = { containers: 80, hosts: 50, host_liveness: 50 };
// Not address_blocks: its partial index on `bitmap <> -1` makes every bitmap update an ordinary one.

export const migration0006RoomForUpdates: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    for (const [table, fillfactor] of Object.entries(fillfactors)) {
      await sql`ALTER TABLE ${sql.table(table)} SET (fillfactor = ${sql.lit(fillfactor)})`.execute(db);
    }
  },
  async down(db: Kysely<unknown>): Promise<void> {
    for (const table of Object.keys(fillfactors)) await sql`ALTER TABLE ${sql.table(table)} RESET (fillfactor)`.execute(db);
  },
};
