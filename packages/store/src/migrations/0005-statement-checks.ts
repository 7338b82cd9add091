import { type Kysely, type Migration, sql } from 'kysely';

/**
 * `fjord_check(ok, sqlstate, message)`: true, or an error with that SQLSTATE and message. A write
 * that must be all or nothing in one statement outside a transaction (a placement: its addresses,
 * containers, events and lease check) calls it on its own conditions, so that a failed condition
 * undoes the whole statement rather than leave the caller to roll back.
 */
export const migration0005StatementChecks: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await sql`
      CREATE FUNCTION fjord_check(ok boolean, state text, message text) RETURNS boolean
      LANGUAGE plpgsql VOLATILE AS $$
      BEGIN
        IF ok IS NOT TRUE THEN
          RAISE EXCEPTION USING ERRCODE = state, MESSAGE = message;
        END IF;
        RETURN true;
      END
      $$;
    `.execute(db);
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await sql`DROP FUNCTION fjord_check(boolean, text, text)`.execute(db);
  },
};
