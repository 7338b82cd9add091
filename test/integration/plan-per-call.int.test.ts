/**
 * Statements marked `planPerCall` are planned with every call's parameters; the others are
 * prepared once per connection and, after five calls, keep a generic plan costed with the table
 * sizes of that moment. On real Postgres, through one pooled connection.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acquireOrRenewLease, eventsBySequence, listEvents, listHosts, recordChanges, recordObserved } from '@fjord/store';
import { createTestDatabase, type TestDatabase } from '@fjord/testkit';

let env: TestDatabase;

beforeAll(async () => {
  env = await createTestDatabase({ max: 1 });
});

afterAll(async () => {
  await env.drop();
});

/** Scans of the events table so far, by kind (this session's own counts flushed first). */
async function eventScans(): Promise<{ seq: number; idx: number }> {
  await sql`SELECT pg_stat_force_next_flush()`.execute(env.db);
  const { rows } = await sql<{ seq: string; idx: string | null }>`
    SELECT seq_scan AS seq, idx_scan AS idx FROM pg_stat_user_tables WHERE relname = 'events'`.execute(env.db);
  return { seq: Number(rows[0]!.seq), idx: Number(rows[0]!.idx ?? 0) };
}

describe('planPerCall', () => {
  it('keeps the relay’s read of events by sequence on the index after the table grew', async () => {
    const first = Array.from({ length: 40 }, (_, i) => String(i + 1));
    await recordChanges(env.db, first.map((i) => ({ kind: 'test', subject: `s${i}` })), []);
    // Enough calls on a nearly empty table for a prepared statement to settle on a generic plan: a
    // scan of the table, as the calls' own plans are when they ask for most of it.
    for (let i = 0; i < 8; i++) expect(await eventsBySequence(env.db, first)).toHaveLength(40);
    await sql`INSERT INTO events (kind, subject, message) SELECT 'test', 'g' || g, '' FROM generate_series(1, 30000) AS g`.execute(env.db);

    const before = await eventScans();
    const found = await eventsBySequence(env.db, ['3', '2000']);
    const after = await eventScans();
    expect(found.map((e) => e.sequence)).toEqual([3, 2000]);
    expect(after.seq - before.seq).toBe(0);
    expect(after.idx - before.idx).toBeGreaterThan(0);
  });

  it('leaves every marked statement unprepared and prepares the others', async () => {
    await eventsBySequence(env.db, ['1']);
    await listHosts(env.db, { names: ['hv1'] });
    const lease = (await acquireOrRenewLease(env.db, 'test', 'tester', 60_000))!;
    await recordObserved(env.db, [{ host: 'hv1', runtimeName: 'c1', state: 'RUNNING', observed: '' }], { name: 'test', lease });
    await listEvents(env.db, 0, undefined, 1);
    const { rows } = await sql<{ statement: string }>`SELECT statement FROM pg_prepared_statements`.execute(env.db);
    expect(rows.some((r) => r.statement.includes('from "events" where "sequence" >'))).toBe(true);
    for (const marked of ['sequence = ANY', 'FROM hosts h', 'WITH changed AS']) expect(rows.filter((r) => r.statement.includes(marked))).toEqual([]);
  });
});
