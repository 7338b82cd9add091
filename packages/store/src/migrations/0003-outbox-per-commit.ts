import { type Kysely, type Migration, sql } from 'kysely';

/**
 * One outbox row per committed change instead of one per host and one per event: a group commit
 * of 2,000 placements wrote 4,000 outbox rows, and the relay then made one JetStream publish per
 * event. A row now names every host whose desired state changed and every event the change
 * recorded; the relay publishes the events of a row in a few messages. Rows waiting in the old
 * form are carried over.
 */
export const migration0003OutboxPerCommit: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await sql`
      ALTER TABLE outbox
        ADD COLUMN hosts text[] NOT NULL DEFAULT '{}',
        ADD COLUMN event_sequences bigint[] NOT NULL DEFAULT '{}';
      UPDATE outbox SET hosts = ARRAY[host] WHERE kind = 'desired' AND host IS NOT NULL;
      UPDATE outbox SET event_sequences = ARRAY[event_sequence] WHERE kind = 'event' AND event_sequence IS NOT NULL;
      ALTER TABLE outbox DROP COLUMN kind, DROP COLUMN host, DROP COLUMN event_sequence;
    `.execute(db);
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await sql`
      ALTER TABLE outbox
        ADD COLUMN kind text NOT NULL DEFAULT 'desired' CHECK (kind IN ('desired', 'event')),
        ADD COLUMN host text,
        ADD COLUMN event_sequence bigint;
      INSERT INTO outbox (kind, host) SELECT 'desired', unnest(hosts) FROM outbox WHERE hosts <> '{}';
      INSERT INTO outbox (kind, event_sequence) SELECT 'event', unnest(event_sequences) FROM outbox WHERE event_sequences <> '{}';
      DELETE FROM outbox WHERE host IS NULL AND event_sequence IS NULL;
      ALTER TABLE outbox DROP COLUMN hosts, DROP COLUMN event_sequences;
    `.execute(db);
  },
};
