/**
 * Desired-state deltas on real Postgres and NATS JetStream: each placed container carries the
 * generation its host was bumped to, and the outbox relay sends a host whose worker accepts deltas
 * its whole state first and then only what changed (containers added, runtime names removed),
 * while a host whose worker does not, or one in a new epoch, or one a new relay has not published
 * to, gets its whole state. Applied one after another, the messages give the whole state read.
 */
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { sql } from 'kysely';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode, deleteStreams, ensureStreams, HostVerb, subjects as buildSubjects } from '@fjord/bus';
import { workerV1 } from '@fjord/proto';
import {
  acquireOrRenewLease,
  Allocator,
  bumpGenerations,
  deleteContainerRow,
  placeContainers,
  placeContainersInTransaction,
  pruneRemovals,
  readDesiredStates,
  readOutbox,
  recordChanges,
  recordRemovals,
  registerHosts,
  type ContainerToPlace,
  type Fence,
} from '@fjord/store';
import { createTestDatabase, natsTestEnv, type TestDatabase } from '@fjord/testkit';
import { applyDelta, desiredFromWire, type HostDesiredState } from '@fjord/worker';
import { OutboxRelay } from '../../services/scheduler/src/relay.js';
import { containerToPlace, seedPhysicalNetwork } from '../support/placement-setup.js';

const nats = natsTestEnv();
const subjects = buildSubjects(nats.prefix);
const log = pino({ level: 'silent' });
let env: TestDatabase;
let nc: NatsConnection;
let fence: Fence;
let networkId: string;
const capacity = { cpuMillis: 8000, memoryBytes: 2 ** 33, slots: 100 };
/** Desired states published, by host, decoded. */
const received = new Map<string, workerV1.DesiredState[]>();

beforeAll(async () => {
  env = await createTestDatabase();
  nc = await connect({ servers: nats.url });
  await ensureStreams(nc, subjects);
  await seedPhysicalNetwork(env.db);
  networkId = (await new Allocator(env.db).createNetwork({ tenant: 'acme', name: 'delta', physicalNetwork: 'physnet1', cidr: '10.70.0.0/24' })).id;
  const lease = await acquireOrRenewLease(env.db, 'test-scheduler', 'me', 60_000);
  fence = { name: 'test-scheduler', lease: lease! };
  nc.subscribe(subjects.anyHost(HostVerb.Desired), {
    callback: (_err, msg) => {
      const state = decode(workerV1.DesiredState, 'DesiredState', msg.subject, msg.data);
      received.set(state.host, [...(received.get(state.host) ?? []), state]);
    },
  });
});

afterAll(async () => {
  for (const relay of relays) await relay.stop();
  await deleteStreams(nc, subjects);
  await nc.close();
  await env.drop();
});

/** Relays made by the tests, stopped at the end. */
const relays: OutboxRelay[] = [];

/** A relay as a new leader's, with an empty memory of what it published. */
function newRelay(): OutboxRelay {
  const relay = new OutboxRelay(env.db, nc, subjects, log, fence);
  relays.push(relay);
  return relay;
}

/** Registers a host (each test has its own); returns its epoch. */
async function register(name: string, acceptsDeltas: boolean): Promise<number> {
  return (await registerHosts(env.db, [{ name, labels: {}, physicalNetworks: ['physnet1'], capacity, acceptsDeltas }])).get(name)!.epoch;
}

function container(name: string, host: string): ContainerToPlace {
  return containerToPlace(name, networkId, host);
}

async function place(name: string, host: string): Promise<string> {
  const wanted = container(name, host);
  await placeContainers(env.db, [wanted], fence);
  return wanted.runtimeName;
}

/** Removes a container as the applier does: row, generation bump, removal and outbox row together. */
async function remove(name: string): Promise<void> {
  await env.db.transaction().execute(async (trx) => {
    const gone = (await deleteContainerRow(trx, 'acme', name))!;
    const generations = await bumpGenerations(trx, [gone.host]);
    await recordRemovals(trx, [{ host: gone.host, generation: generations.get(gone.host)!, runtimeName: gone.runtimeName }]);
    await recordChanges(trx, [], [gone.host]);
  });
}

/** Publishes everything in the outbox and waits until each host named has had `count` messages. */
async function relayed(relay: OutboxRelay, counts: Record<string, number>): Promise<void> {
  while ((await readOutbox(env.db, 1)).length > 0) await relay.relayBatch(100);
  for (let i = 0; i < 200 && Object.entries(counts).some(([h, n]) => (received.get(h)?.length ?? 0) < n); i++) await new Promise((r) => setTimeout(r, 10));
  for (const [h, n] of Object.entries(counts)) expect(received.get(h)?.length, `messages to ${h}`).toBe(n);
}

/** A worker's state after the published `message`, a delta, is applied to `state`. */
function applyPublished(state: HostDesiredState, message: workerV1.DesiredState): HostDesiredState {
  const update = desiredFromWire(message);
  if (!('baseGeneration' in update)) throw new Error(`expected a delta, got generation ${message.generation} whole`);
  return applyDelta(state, update);
}

const last = (host: string) => received.get(host)!.at(-1)!;
const names = (state: { containers: { runtimeName: string }[] }) => state.containers.map((c) => c.runtimeName).sort();

describe('desired-state deltas', () => {
  it('gives each placed container the generation its host was bumped to, on both placement paths', async () => {
    await register('hv-gen', true);
    await place('first', 'hv-gen');
    await env.db.transaction().execute((trx) => placeContainersInTransaction(trx, [container('second', 'hv-gen')], fence));
    const { rows } = await sql<{ name: string; generation: string; g: string }>`
      SELECT c.name, c.generation, h.desired_generation AS g FROM containers c JOIN hosts h ON h.name = c.host
      WHERE c.name IN ('first', 'second') ORDER BY c.name`.execute(env.db);
    const registered = 1;
    expect(rows.map((r) => [r.name, Number(r.generation)])).toEqual([
      ['first', registered + 1],
      ['second', registered + 2],
    ]);
    expect(Number(rows[1]!.g)).toBe(registered + 2);
  });

  it('sends whole states first, then only changes to a host that accepts them, and whole states to one that does not', async () => {
    await register('hv-new', true);
    await register('hv-old', false);
    const relay = newRelay();
    await place('one', 'hv-new');
    await place('two', 'hv-new');
    const oldOne = await place('old-one', 'hv-old');
    await relayed(relay, { 'hv-new': 1, 'hv-old': 1 });
    const whole = last('hv-new');
    expect(whole).toMatchObject({ delta: false, removed: [] });
    expect(whole.containers.map((c) => c.name).sort()).toEqual(['one', 'two']);
    let worker: HostDesiredState = desiredFromWire(whole);

    const third = await place('third', 'hv-new');
    const oldTwo = await place('old-two', 'hv-old');
    await relayed(relay, { 'hv-new': 2, 'hv-old': 2 });
    expect(last('hv-new')).toMatchObject({ delta: true, baseGeneration: whole.generation, generation: whole.generation + 1n, removed: [] });
    expect(names(last('hv-new'))).toEqual([third]);
    expect(last('hv-old')).toMatchObject({ delta: false });
    expect(names(last('hv-old'))).toEqual([oldOne, oldTwo].sort());
    worker = applyPublished(worker, last('hv-new'));

    const one = (await readDesiredStates(env.db, ['hv-new']))[0]!.containers.find((c) => c.name === 'one')!.runtimeName;
    await remove('one');
    await relayed(relay, { 'hv-new': 3 });
    expect(last('hv-new')).toMatchObject({ delta: true, containers: [], removed: [one] });
    worker = applyPublished(worker, last('hv-new'));
    // The removal is forgotten once published.
    const { rows: removals } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM removed_containers WHERE host = 'hv-new'`.execute(env.db);
    expect(removals[0]!.n).toBe(0);

    // What the worker built from the whole state and two deltas is the whole state read now.
    const now = (await readDesiredStates(env.db, ['hv-new']))[0]!;
    expect(worker.generation).toBe(BigInt(now.desiredGeneration));
    expect(names(worker)).toEqual(names(now));
    expect(names(worker)).toHaveLength(2);
  });

  it('forgets removals only while the lease holds', async () => {
    await register('hv-prune', true);
    await recordRemovals(env.db, [{ host: 'hv-prune', generation: 5, runtimeName: 'c-gone' }]);
    const stale = { ...fence, lease: { ...fence.lease, epoch: fence.lease.epoch + 1 } };
    expect(await pruneRemovals(env.db, [{ host: 'hv-prune', generation: 5 }], stale)).toBe(false);
    // A lease about to expire counts as gone (the 60 s lease is within this 2-minute margin).
    expect(await pruneRemovals(env.db, [{ host: 'hv-prune', generation: 5 }], { ...fence, marginMs: 120_000 })).toBe(false);
    const left = async () => (await sql<{ n: number }>`SELECT count(*)::int AS n FROM removed_containers WHERE host = 'hv-prune'`.execute(env.db)).rows[0]!.n;
    expect(await left()).toBe(1);
    expect(await pruneRemovals(env.db, [{ host: 'hv-prune', generation: 4 }], fence)).toBe(true);
    expect(await left()).toBe(1); // removed after the published generation: still needed
    expect(await pruneRemovals(env.db, [{ host: 'hv-prune', generation: 5 }], fence)).toBe(true);
    expect(await left()).toBe(0);
  });

  it('sends the whole state in a new epoch and from a relay that has not published to the host', async () => {
    await register('hv-epoch', true);
    await place('e1', 'hv-epoch');
    await relayed(newRelay(), { 'hv-epoch': 1 });
    expect(last('hv-epoch')).toMatchObject({ delta: false });

    // A relay of its own, as a new leader's: whole first, then deltas.
    const relay = newRelay();
    await place('e2', 'hv-epoch');
    await relayed(relay, { 'hv-epoch': 2 });
    expect(last('hv-epoch')).toMatchObject({ delta: false });
    expect(last('hv-epoch').containers.map((c) => c.name).sort()).toEqual(['e1', 'e2']);
    await place('e3', 'hv-epoch');
    await relayed(relay, { 'hv-epoch': 3 });
    expect(last('hv-epoch')).toMatchObject({ delta: true });

    const epoch = await register('hv-epoch', true);
    await recordChanges(env.db, [], ['hv-epoch']);
    await relayed(relay, { 'hv-epoch': 4 });
    expect(last('hv-epoch')).toMatchObject({ delta: false, epoch: BigInt(epoch) });
    expect(last('hv-epoch').containers.map((c) => c.name).sort()).toEqual(['e1', 'e2', 'e3']);
  });
});
