import { type Kysely, type RawBuilder, type Selectable, sql } from 'kysely';
import { planPerCall } from './db.js';
import type { Database } from './schema.js';

/** An event to record: what happened, to what, where. */
export interface NewEvent {
  kind: string;
  tenant?: string | undefined;
  subject: string;
  host?: string | undefined;
  message?: string;
}

/** A recorded event with its sequence number. */
export interface EventRecord {
  sequence: number;
  kind: string;
  tenant: string | null;
  subject: string;
  host: string | null;
  message: string;
  at: Date;
}

/**
 * Records events and queues them for the relay, in the caller's transaction, together with every
 * host whose desired state changed: one outbox row for the whole change.
 */
export async function recordChanges(trx: Kysely<Database>, events: readonly NewEvent[], changedHosts: readonly string[]): Promise<void> {
  if (events.length === 0 && changedHosts.length === 0) return;
  await sql`WITH ${recordChangesCte(eventRows(events), changedHosts)} SELECT 1`.execute(trx);
}

/**
 * Taken by a writer just before its events take their sequence numbers and held until it commits
 * (an advisory lock, transaction-scoped), so that event writers commit in the order of their
 * sequence numbers. Without it the applier and the host protocol could commit 101 before 100: the
 * relay would publish 101 first, and a watcher, which drops any sequence not above the last it
 * sent, would never send 100. It is the last lock a writer takes (its row locks come first), so
 * it cannot close a cycle with them.
 */
const EVENT_ORDER_LOCK = 0x666a6f7264; // 'fjord'

/**
 * The inserts of {@link recordChanges} as CTEs (`ev_rows`, `ev_order`, `ev`, `queued`), to be part
 * of a larger statement: `events` is a query of (kind, tenant, subject, host, message) rows, such
 * as {@link eventRows}. When there are events they take their sequence numbers under
 * {@link EVENT_ORDER_LOCK}, after the CTE named `lockAfter` (one that locks rows) has run. No outbox
 * row is queued when there is neither an event nor a changed host.
 */
export function recordChangesCte(events: RawBuilder<unknown>, changedHosts: readonly string[], { lockAfter }: { lockAfter?: string } = {}): RawBuilder<unknown> {
  const after = lockAfter === undefined ? sql`` : sql` AND (SELECT count(*) FROM ${sql.id(lockAfter)}) >= 0`;
  return sql`ev_rows AS MATERIALIZED (${events}),
    ev_order AS MATERIALIZED (
      SELECT pg_advisory_xact_lock(${sql.lit(EVENT_ORDER_LOCK)}) WHERE EXISTS (SELECT FROM ev_rows)${after}
    ),
    ev AS (
      INSERT INTO events (kind, tenant, subject, host, message)
      SELECT kind, tenant, subject, host, message FROM ev_rows AS e(kind, tenant, subject, host, message)
      WHERE EXISTS (SELECT FROM ev_order)
      RETURNING sequence
    ),
    queued AS (
      INSERT INTO outbox (hosts, event_sequences)
      SELECT ${sql.val([...changedHosts])}::text[], coalesce((SELECT array_agg(sequence ORDER BY sequence) FROM ev), '{}')
      WHERE EXISTS (SELECT 1 FROM ev) OR ${changedHosts.length > 0}::boolean
    )`;
}

/**
 * Events as a query for {@link recordChangesCte}. They travel as one JSON parameter, so the
 * statement's text is the same whatever the count.
 */
export function eventRows(events: readonly NewEvent[]): RawBuilder<unknown> {
  const rows = events.map((e) => ({ kind: e.kind, tenant: e.tenant ?? null, subject: e.subject, host: e.host ?? null, message: e.message ?? '' }));
  return sql`SELECT kind, tenant, subject, host, message
    FROM jsonb_to_recordset(${JSON.stringify(rows)}::text::jsonb) AS r(kind text, tenant text, subject text, host text, message text)`;
}

/** Events after `afterSequence` (oldest first), optionally of one tenant. */
export async function listEvents(db: Kysely<Database>, afterSequence: number, tenant?: string, limit = 1000): Promise<EventRecord[]> {
  let query = db.selectFrom('events').selectAll().where('sequence', '>', String(afterSequence));
  if (tenant) query = query.where('tenant', '=', tenant);
  const rows = await query.orderBy('sequence').limit(limit).execute();
  return rows.map(toEvent);
}

/** Events with these sequence numbers (for the relay), oldest first. */
export async function eventsBySequence(db: Kysely<Database>, sequences: readonly string[]): Promise<EventRecord[]> {
  if (sequences.length === 0) return [];
  const { rows } = await sql<Selectable<Database['events']>>`${planPerCall}
    SELECT * FROM events WHERE sequence = ANY(${sql.val([...sequences])}::bigint[]) ORDER BY sequence`.execute(db);
  return rows.map(toEvent);
}

/** The highest event sequence so far (0 when none). */
export async function lastEventSequence(db: Kysely<Database>): Promise<number> {
  const row = await db.selectFrom('events').select((eb) => eb.fn.max('sequence').as('max')).executeTakeFirst();
  return Number(row?.max ?? 0);
}

function toEvent(row: { sequence: string; kind: string; tenant: string | null; subject: string; host: string | null; message: string; at: Date }): EventRecord {
  return { ...row, sequence: Number(row.sequence) };
}

/** A batch of outbox rows, oldest first. */
export async function readOutbox(db: Kysely<Database>, limit: number) {
  return db.selectFrom('outbox').select(['id', 'hosts', 'event_sequences']).orderBy('id').limit(limit).execute();
}

/**
 * Removes outbox rows once published. The commit does not wait for its WAL to reach the disk (it
 * waited behind the placements' commits, and was the relay's longest step): should Postgres crash
 * before it does, the rows are published again, and JetStream drops the repeats by message id.
 */
export async function deleteOutbox(db: Kysely<Database>, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  await sql`
    WITH async AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true)),
    gone AS (DELETE FROM outbox WHERE id = ANY(${sql.val([...ids])}::bigint[]))
    SELECT * FROM async`.execute(db);
}
