/**
 * Set-up shared by the tests of placement: the physical network and subnet pool they place on,
 * a container to place directly through the store, and a scheduler replica in the test's own
 * process.
 */
import { randomUUID } from 'node:crypto';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { Kysely } from 'kysely';
import { pino } from 'pino';
import { deleteStreams, subjects as buildSubjects, type Subjects } from '@fjord/bus';
import { Scheduler, type SchedulerOptions } from '@fjord/scheduler';
import { syncPhysicalNetworks, syncSubnetPools, type ContainerToPlace, type Database } from '@fjord/store';
import { createTestDatabase, natsTestEnv, type TestDatabase } from '@fjord/testkit';

/** `physnet1` (VLANs 100-199) and the subnet pool `default` (10.96.0.0/16 in /24s). */
export async function seedPhysicalNetwork(db: Kysely<Database>): Promise<void> {
  await syncPhysicalNetworks(db, [{ name: 'physnet1', vlanRanges: '100-199', reservedVlans: [] }]);
  await syncSubnetPools(db, [{ name: 'default', cidr: '10.96.0.0/16', prefixLength: 24 }]);
}

/** A small busybox container of tenant `acme` to place with the store's `placeContainers`, with a fresh id. */
export function containerToPlace(name: string, networkId: string, host: string): ContainerToPlace {
  const id = randomUUID();
  return {
    id,
    tenant: 'acme',
    name,
    networkId,
    host,
    template: 'busybox',
    cpuMillis: 100,
    memoryBytes: 2 ** 26,
    constraints: [],
    antiAffinityGroup: null,
    spreadLabel: null,
    command: '',
    runtimeName: `c-${id.slice(0, 8)}`,
  };
}

/** A scheduler replica on a free port, logging nothing; `timing` overrides its lease and heartbeat timings. */
export function startScheduler(
  db: Kysely<Database>,
  nats: { url: string; prefix: string },
  timing: Partial<Pick<SchedulerOptions, 'leaseTtlMs' | 'leaseRenewMs' | 'heartbeatIntervalMs' | 'hostStaleAfterMs'>> = {},
): Promise<Scheduler> {
  return Scheduler.start({
    db,
    log: pino({ level: 'silent' }),
    grpcListen: '127.0.0.1:0',
    natsUrl: nats.url,
    subjectPrefix: nats.prefix,
    leaseTtlMs: 3000,
    leaseRenewMs: 500,
    heartbeatIntervalMs: 200,
    hostStaleAfterMs: 5000,
    ...timing,
  });
}

/**
 * Undoes what a scheduler test set up, in order: the scheduler, the test's NATS streams and
 * connection, its database. Each part only if it was set up (a failed `beforeAll` leaves some out).
 */
export async function stopSchedulerTest(parts: { scheduler?: Scheduler; nc?: NatsConnection; subjects: Subjects; env?: TestDatabase }): Promise<void> {
  await parts.scheduler?.stop();
  if (parts.nc) {
    await deleteStreams(parts.nc, parts.subjects);
    await parts.nc.close();
  }
  await parts.env?.drop();
}

/**
 * A scheduler replica (see {@link startScheduler}) on a database, seeded with
 * {@link seedPhysicalNetwork}, and a NATS prefix of its own, with a NATS connection for the test;
 * `stop` undoes it all ({@link stopSchedulerTest}), as does a failure half-way through.
 */
export async function startSchedulerTestBed(timing: Parameters<typeof startScheduler>[2] = {}) {
  const nats = natsTestEnv();
  const subjects = buildSubjects(nats.prefix);
  const parts: { scheduler?: Scheduler; nc?: NatsConnection; subjects: Subjects; env?: TestDatabase } = { subjects };
  try {
    const env = (parts.env = await createTestDatabase());
    await seedPhysicalNetwork(env.db);
    const nc = (parts.nc = await connect({ servers: nats.url }));
    const scheduler = (parts.scheduler = await startScheduler(env.db, nats, timing));
    return { nats, subjects, env, nc, scheduler, stop: () => stopSchedulerTest(parts) };
  } catch (err) {
    await stopSchedulerTest(parts);
    throw err;
  }
}
