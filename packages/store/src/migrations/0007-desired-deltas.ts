import { type Kysely, type Migration, sql } from 'kysely';

/**
 * What the relay needs to send a host only what changed in its desired state (a delta) rather
 * than every container on it:
 * - `containers.generation`: the host's desired generation that the container arrived with. Rows
 *   placed before this migration have 0; the relay's first message to each host is whole anyway.
 *   The host index becomes (host, generation), so "host h after generation g" is one range scan.
 * - `removed_containers`: a container removed from a host, under the generation that removed it,
 *   kept until the relay has published that generation.
 * - `hosts.accepts_deltas`: the host's worker said at registration that it applies deltas.
 */
export const migration0007DesiredDeltas: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await sql`
      ALTER TABLE containers ADD COLUMN generation bigint NOT NULL DEFAULT 0;
      CREATE INDEX containers_host_generation_idx ON containers (host, generation);
      DROP INDEX containers_host_idx;
      CREATE TABLE removed_containers (
        host text NOT NULL,
        generation bigint NOT NULL,
        runtime_name text NOT NULL,
        PRIMARY KEY (host, generation, runtime_name)
      );
      ALTER TABLE hosts ADD COLUMN accepts_deltas boolean NOT NULL DEFAULT false;
    `.execute(db);
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await sql`
      ALTER TABLE hosts DROP COLUMN accepts_deltas;
      DROP TABLE removed_containers;
      CREATE INDEX containers_host_idx ON containers (host);
      DROP INDEX containers_host_generation_idx;
      ALTER TABLE containers DROP COLUMN generation;
    `.execute(db);
  },
};
