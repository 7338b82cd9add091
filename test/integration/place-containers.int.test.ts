/**
 * `placeContainers`, the applier's one-statement commit, on real Postgres: addresses, containers,
 * generation bumps, events, outbox row and lease check all land together, or, when the lease is
 * gone or a network's lowest free blocks fall short, nothing of them does. Also the read of a
 * host's whole desired state (`readDesiredStates`) of what was placed.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  acquireOrRenewLease,
  AddressesShortError,
  Allocator,
  createDb,
  FencedError,
  placeContainers,
  readDesiredStates,
  readOutbox,
  recordChanges,
  registerHosts,
  type ContainerToPlace,
  type Fence,
} from '@fjord/store';
import { createTestDatabase, type TestDatabase } from '@fjord/testkit';
import { commitsWithin, holdTransaction } from '../support/held-transaction.js';
import { containerToPlace, seedPhysicalNetwork } from '../support/placement-setup.js';

let env: TestDatabase;
let fence: Fence;
const networkIds = new Map<string, string>();

beforeAll(async () => {
  env = await createTestDatabase();
  await seedPhysicalNetwork(env.db);
  const allocator = new Allocator(env.db);
  for (const [name, cidr] of [['blue', '10.61.0.0/24'], ['green', '10.62.0.0/24'], ['held', '10.63.0.0/24'], ['read', '10.64.0.0/24'], ['plan', '10.65.0.0/24'], ['lock', '10.66.0.0/24']] as const) {
    await allocator.createNetwork({ tenant: 'acme', name, physicalNetwork: 'physnet1', cidr });
  }
  const { rows } = await sql<{ id: string; name: string }>`SELECT id, name FROM networks WHERE tenant = 'acme'`.execute(env.db);
  for (const r of rows) networkIds.set(r.name, r.id);
  const capacity = { cpuMillis: 8000, memoryBytes: 2 ** 33, slots: 100 };
  await registerHosts(env.db, ['hv1', 'hv2'].map((name) => ({ name, labels: {}, physicalNetworks: ['physnet1'], capacity })));
  const lease = await acquireOrRenewLease(env.db, 'test-scheduler', 'me', 60_000);
  fence = { name: 'test-scheduler', lease: lease! };
});

afterAll(async () => {
  await env.drop();
});

function container(name: string, network: string, host: string): ContainerToPlace {
  return containerToPlace(name, networkIds.get(network)!, host);
}

/** What a failed placement could have left behind. */
async function footprint() {
  const count = async (table: 'containers' | 'addresses' | 'events' | 'outbox') =>
    (await sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql.table(table)}`.execute(env.db)).rows[0]!.n;
  const { rows: generations } = await sql<{ name: string; g: string }>`SELECT name, desired_generation AS g FROM hosts ORDER BY name`.execute(env.db);
  return { containers: await count('containers'), addresses: await count('addresses'), events: await count('events'), outbox: await count('outbox'), generations };
}

describe('placeContainers', () => {
  it('allocates each network its lowest free addresses and records the whole change', async () => {
    const before = await footprint();
    const placed = await placeContainers(
      env.db,
      [container('a1', 'blue', 'hv1'), container('b1', 'green', 'hv2'), container('a2', 'blue', 'hv2'), container('a3', 'blue', 'hv1')],
      fence,
    );
    const byName = new Map(placed.map((c) => [c.name, c]));
    expect([...byName.keys()].sort()).toEqual(['a1', 'a2', 'a3', 'b1']);
    // In the order given within each network, from the first assignable address (.1 is the gateway).
    expect(['a1', 'a2', 'a3', 'b1'].map((n) => byName.get(n)!.address)).toEqual(['10.61.0.2', '10.61.0.3', '10.61.0.4', '10.62.0.2']);
    expect(byName.get('a2')).toMatchObject({ network: 'blue', cidr: '10.61.0.0/24', addressHost: 3, host: 'hv2', state: 'PENDING' });
    const { rows: owned } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM addresses WHERE owner = 'container' AND network_id IN (${networkIds.get('blue')!}, ${networkIds.get('green')!})`.execute(env.db);
    expect(owned[0]!.n).toBe(4);
    const after = await footprint();
    const generation = (of: typeof before, host: string) => Number(of.generations.find((h) => h.name === host)!.g);
    expect(['hv1', 'hv2'].map((h) => generation(after, h) - generation(before, h))).toEqual([1, 1]);
    const { rows: events } = await sql<{ subject: string; message: string }>`SELECT subject, message FROM events WHERE kind = 'container.placed' ORDER BY sequence`.execute(env.db);
    expect(events).toContainEqual({ subject: 'acme/b1', message: 'on hv2 at 10.62.0.2' });
    const outbox = await readOutbox(env.db, 10);
    expect(outbox.at(-1)!.hosts.sort()).toEqual(['hv1', 'hv2']);
    expect(outbox.at(-1)!.event_sequences).toHaveLength(4);
  });

  it('writes nothing when the lease is gone', async () => {
    const before = await footprint();
    const stale = { ...fence, lease: { ...fence.lease, epoch: fence.lease.epoch + 1 } };
    await expect(placeContainers(env.db, [container('late', 'blue', 'hv1')], stale)).rejects.toBeInstanceOf(FencedError);
    expect(await footprint()).toEqual(before);
  });

  it("checks the lease after waiting for its hosts' rows: a lease that ran short meanwhile writes nothing", async () => {
    // A lease of its own with 1.6 s left; the check wants 1 s more than the commit (the margin).
    const short = await acquireOrRenewLease(env.db, 'short-lease', 'me', 1600);
    const shortFence = { name: 'short-lease', lease: short! };
    const holder = await holdTransaction(env.db, (trx) => sql`SELECT 1 FROM hosts WHERE name = 'hv2' FOR UPDATE`.execute(trx));
    const before = await footprint();
    const placing = placeContainers(env.db, [container('waited', 'lock', 'hv2')], shortFence).catch((e: unknown) => e);
    await sleep(1000); // the placement waits for hv2's row while its lease runs down to 0.6 s
    holder.release();
    await holder.closed;
    expect(await placing).toBeInstanceOf(FencedError);
    expect(await footprint()).toEqual(before);
  });

  it('writes nothing when a network’s lowest free blocks are held, and names that network', async () => {
    const before = await footprint();
    const holder = await holdTransaction(env.db, (trx) => sql`SELECT 1 FROM address_blocks WHERE network_id = ${networkIds.get('held')!} FOR UPDATE`.execute(trx));
    const err = await placeContainers(env.db, [container('ok', 'blue', 'hv1'), container('stuck', 'held', 'hv2')], fence).catch((e: unknown) => e);
    holder.release();
    await holder.closed;
    expect(err).toBeInstanceOf(AddressesShortError);
    expect((err as AddressesShortError).networkIds).toEqual([networkIds.get('held')]);
    expect(await footprint()).toEqual(before);
  });

  it('is planned once per connection, not on every execution', async () => {
    // Postgres re-plans a prepared statement each time while it judges a generic plan dearer than
    // a custom one; a parameter where a constant belongs (the allocator's block size) made it so.
    const one = createDb(env.url, { max: 1 });
    try {
      for (let i = 0; i < 8; i++) await placeContainers(one.db, [container(`plan-${i}`, 'plan', 'hv1')], fence);
      const { rows } = await sql<{ generic: number; custom: number }>`
        SELECT generic_plans::int AS generic, custom_plans::int AS custom FROM pg_prepared_statements
        WHERE statement LIKE '%jsonb_to_recordset%'`.execute(one.db);
      expect(rows).toHaveLength(1);
      // The first five executions are always planned afresh (Postgres's rule); the rest reuse a plan.
      expect(rows[0]).toEqual({ generic: 3, custom: 5 });
    } finally {
      await one.close();
    }
  });

  it('fails on a name taken, writing nothing', async () => {
    await placeContainers(env.db, [container('taken', 'plan', 'hv2')], fence);
    const before = await footprint();
    await expect(placeContainers(env.db, [container('new', 'plan', 'hv1'), container('taken', 'plan', 'hv1')], fence)).rejects.toThrow(/containers_tenant_name_key/);
    expect(await footprint()).toEqual(before);
  });

  it("takes the event-order lock only after its hosts' row locks: waiting for a host, it holds up no other event writer", async () => {
    const holder = await holdTransaction(env.db, (trx) => sql`SELECT 1 FROM hosts WHERE name = 'hv1' FOR UPDATE`.execute(trx));
    const placing = placeContainers(env.db, [container('lock-order', 'lock', 'hv1')], fence);
    let otherWriter: Promise<void> | undefined;
    let other: string;
    try {
      await sleep(200); // the placement is now waiting for hv1's row
      otherWriter = recordChanges(env.db, [{ kind: 'test', subject: 'lock-order', message: 'another writer' }], []);
      other = await commitsWithin(otherWriter, 2000);
    } finally {
      holder.release(); // and let every statement finish, so that a failure leaves no connection busy
      await Promise.allSettled([holder.closed, placing, otherWriter]);
    }
    expect(other).toBe('committed');
    expect((await placing).map((c) => c.name)).toEqual(['lock-order']);
  });
});

describe('readDesiredStates', () => {
  it("reads each host's epoch, generation and every field of each container on it, and leaves out unknown hosts", async () => {
    const capacity = { cpuMillis: 8000, memoryBytes: 2 ** 33, slots: 100 };
    await registerHosts(env.db, ['hv-read', 'hv-empty'].map((name) => ({ name, labels: {}, physicalNetworks: ['physnet1'], capacity })));
    const wanted = { ...container('reader', 'read', 'hv-read'), template: 'alpine', cpuMillis: 250, memoryBytes: 2 ** 27, command: 'sleep 60' };
    const [placed] = await placeContainers(env.db, [wanted], fence);
    const { rows: hosts } = await sql<{ name: string; epoch: string; g: string }>`
      SELECT name, epoch, desired_generation AS g FROM hosts WHERE name IN ('hv-read', 'hv-empty') ORDER BY name`.execute(env.db);
    const { rows: networks } = await sql<{ vlan: number }>`SELECT vlan FROM networks WHERE id = ${networkIds.get('read')!}`.execute(env.db);
    const read = await readDesiredStates(env.db, ['hv-read', 'hv-empty', 'hv-unknown']);
    const host = (name: string) => hosts.find((h) => h.name === name)!;
    expect(read).toEqual([
      { name: 'hv-empty', epoch: Number(host('hv-empty').epoch), desiredGeneration: Number(host('hv-empty').g), base: null, containers: [], removed: [] },
      {
        name: 'hv-read',
        epoch: Number(host('hv-read').epoch),
        desiredGeneration: Number(host('hv-read').g),
        base: null,
        removed: [],
        containers: [
          {
            runtimeName: wanted.runtimeName,
            tenant: 'acme',
            name: 'reader',
            template: 'alpine',
            vlan: networks[0]!.vlan,
            address: placed!.address,
            cidr: '10.64.0.0/24',
            cpuMillis: 250,
            memoryBytes: 2 ** 27,
            command: 'sleep 60',
          },
        ],
      },
    ]);
  });
});
