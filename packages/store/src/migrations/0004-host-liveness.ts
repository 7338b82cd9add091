import { type Kysely, type Migration, sql } from 'kysely';

/**
 * A host's last heartbeat and last applied generation move to their own table. Writing them into
 * the host row (thousands of rows every two seconds) held row locks that a decision's generation
 * bump and its containers' foreign-key checks then waited behind, for up to seconds under load.
 * Nothing but the heartbeat flush and registration writes here. No foreign key: a liveness row
 * without a host is harmless, and a check would bring the waiting back.
 */
export const migration0004HostLiveness: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await sql`
      CREATE TABLE host_liveness (
        name text PRIMARY KEY,
        last_heartbeat_at timestamptz,
        applied_generation bigint NOT NULL DEFAULT 0
      );
      INSERT INTO host_liveness (name, last_heartbeat_at, applied_generation)
        SELECT name, last_heartbeat_at, applied_generation FROM hosts;
      ALTER TABLE hosts DROP COLUMN last_heartbeat_at, DROP COLUMN applied_generation;
    `.execute(db);
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await sql`
      ALTER TABLE hosts ADD COLUMN applied_generation bigint NOT NULL DEFAULT 0, ADD COLUMN last_heartbeat_at timestamptz;
      UPDATE hosts h SET applied_generation = l.applied_generation, last_heartbeat_at = l.last_heartbeat_at
        FROM host_liveness l WHERE l.name = h.name;
      DROP TABLE host_liveness;
    `.execute(db);
  },
};
