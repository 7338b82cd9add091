/**
 * The outbox relay on real Postgres and NATS JetStream: one outbox row per committed change, its
 * events published in order, in runs of one tenant, with ids derived from their content, so that
 * publishing a change again (a relay that crashed between publish and delete) stores nothing twice.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { jetstreamManager } from '@nats-io/jetstream';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { sql } from 'kysely';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode, deleteStreams, ensureStreams, subjects as buildSubjects } from '@fjord/bus';
import { placementV1 } from '@fjord/proto';
import { acquireOrRenewLease, listEvents, readOutbox, recordChanges, type Fence } from '@fjord/store';
import { createTestDatabase, natsTestEnv, type TestDatabase } from '@fjord/testkit';
import { OutboxRelay } from '../../services/scheduler/src/relay.js';
import { commitsWithin, holdTransaction } from '../support/held-transaction.js';

const nats = natsTestEnv();
const subjects = buildSubjects(nats.prefix);
let env: TestDatabase;
let nc: NatsConnection;
let fence: Fence;

beforeAll(async () => {
  env = await createTestDatabase();
  nc = await connect({ servers: nats.url });
  await ensureStreams(nc, subjects);
  fence = { name: 'test-scheduler', lease: (await acquireOrRenewLease(env.db, 'test-scheduler', 'me', 60_000))! };
});

afterAll(async () => {
  await deleteStreams(nc, subjects);
  await nc.close();
  await env.drop();
});

async function storedEvents(): Promise<number> {
  const jsm = await jetstreamManager(nc);
  return (await jsm.streams.info(subjects.streams.events)).state.messages;
}

describe('outbox relay', () => {
  it('writes one outbox row per change and publishes its events once, in order, in runs of one tenant, also when published again', async () => {
    const received: placementV1.Event[][] = [];
    const sub = nc.subscribe(subjects.allEvents(), {
      callback: (_err, msg) => void received.push(decode(placementV1.EventBatch, 'EventBatch', msg.subject, msg.data).events),
    });
    const placed = (tenant: string, i: number) => ({ kind: 'container.placed', tenant, subject: `${tenant}/c${i}`, message: 'test' });
    // Tenants interleave within one change (a group commit placing for several of them).
    const events = [
      ...Array.from({ length: 600 }, (_, i) => placed('red', i)),
      ...Array.from({ length: 3 }, (_, i) => placed('blue', i)),
      ...Array.from({ length: 2 }, (_, i) => placed('red', 600 + i)),
    ];
    await env.db.transaction().execute((trx) => recordChanges(trx, events, []));
    const [row] = await readOutbox(env.db, 10);
    expect(row?.event_sequences).toHaveLength(605);

    const relay = new OutboxRelay(env.db, nc, subjects, pino({ level: 'silent' }), fence);
    expect(await relay.relayBatch(100)).toBe(1);
    expect(await readOutbox(env.db, 10)).toEqual([]);
    await nc.flush();
    // Runs of one tenant, 500 events at most, in sequence order: a watcher of every tenant drops
    // any sequence not above the last one it sent, so order is what keeps it from losing events.
    expect(received.map((batch) => [batch[0]?.tenant, batch.length])).toEqual([['red', 500], ['red', 100], ['blue', 3], ['red', 2]]);
    expect(received.every((batch) => batch.every((e) => e.tenant === batch[0]?.tenant))).toBe(true);
    const sequences = received.flat().map((e) => Number(e.sequence));
    expect(sequences).toEqual([...sequences].sort((a, b) => a - b));
    expect(new Set(sequences).size).toBe(605);
    expect(await storedEvents()).toBe(4);

    // The same change published again, as after a crash before the delete: JetStream keeps no repeat.
    await sql`INSERT INTO outbox (event_sequences) VALUES (${sql.val(row!.event_sequences)}::bigint[])`.execute(env.db);
    expect(await relay.relayBatch(100)).toBe(1);
    expect(await storedEvents()).toBe(4);
    sub.unsubscribe();
  });

  it('relays a commit after a quiet spell at once, and the commits of the next gap together', async () => {
    const batches: number[] = [];
    const sub = nc.subscribe(subjects.allEvents(), {
      callback: () => void batches.push(performance.now()),
    });
    const gapMs = 1000;
    const relay = new OutboxRelay(env.db, nc, subjects, pino({ level: 'silent' }), fence, 60_000, gapMs);
    const commit = (i: number) =>
      env.db.transaction().execute((trx) => recordChanges(trx, [{ kind: 'container.placed', tenant: 'gap', subject: `gap/c${i}`, message: 'test' }], []));
    try {
      await commit(0);
      const first = performance.now();
      relay.start();
      await expect.poll(() => batches.length, { timeout: 2000, interval: 5 }).toBe(1);
      expect(batches[0]! - first).toBeLessThan(gapMs / 2);
      // Two more commits, each kicking the relay, within the gap: one pass takes both, after it.
      await commit(1);
      relay.kick();
      await commit(2);
      relay.kick();
      await sleep(gapMs / 3);
      expect(await readOutbox(env.db, 10)).toHaveLength(2);
      await expect.poll(() => batches.length, { timeout: 2000, interval: 5 }).toBe(3);
      expect(batches[1]! - first).toBeGreaterThanOrEqual(gapMs - 5);
      expect(batches[2]! - batches[1]!).toBeLessThan(gapMs / 2);
      // The rows go once their messages are stored (the delete follows the publish).
      await expect.poll(() => readOutbox(env.db, 10), { timeout: 2000, interval: 10 }).toEqual([]);
    } finally {
      await relay.stop();
      sub.unsubscribe();
    }
  });

  it('commits event writers in the order of their sequence numbers, so that the relay never publishes a later event first', async () => {
    const event = (name: string) => ({ kind: 'container.placed', tenant: 'order', subject: `order/${name}`, message: 'test' });
    const visible = async () => (await listEvents(env.db, 0, 'order')).map((e) => e.subject);
    // Writer A (a transaction, as the applier's) records an event and does not commit yet.
    const a = await holdTransaction(env.db, (trx) => recordChanges(trx, [event('a')], []));
    // Writer B (one statement, as the host protocol's) must wait for A: had it committed first,
    // its event, numbered after A's, would be visible (and relayed) while A's is not.
    const b = recordChanges(env.db, [event('b')], ['hv-order']);
    let visibleWhileAOpen: string[];
    let hostsOnly: string;
    try {
      await sleep(300);
      visibleWhileAOpen = await visible();
      // A change without events has no sequence to order and does not wait.
      hostsOnly = await commitsWithin(recordChanges(env.db, [], ['hv-no-events']), 2000);
    } finally {
      a.release(); // even when a check fails: an open transaction would keep the database from being dropped
      await Promise.allSettled([a.closed, b]);
    }
    try {
      expect(visibleWhileAOpen).toEqual([]);
      expect(hostsOnly).toBe('committed');
      await Promise.all([a.closed, b]);
      const events = await listEvents(env.db, 0, 'order');
      expect(events.map((e) => e.subject)).toEqual(['order/a', 'order/b']);
      const rows = (await readOutbox(env.db, 10)).filter((r) => r.event_sequences.length > 0);
      expect(rows.map((r) => r.event_sequences.map(Number))).toEqual(events.map((e) => [e.sequence]));
    } finally {
      await sql`DELETE FROM outbox`.execute(env.db);
    }
  });
});
