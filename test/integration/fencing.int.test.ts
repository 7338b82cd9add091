import { connect, type NatsConnection } from '@nats-io/transport-node';
import { sql } from 'kysely';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnavailableError } from '@fjord/core';
import { deleteStreams, subjects as buildSubjects } from '@fjord/bus';
import { Scheduler } from '@fjord/scheduler';
import { Allocator, currentLease, syncPhysicalNetworks, syncSubnetPools } from '@fjord/store';
import { createTestDatabase, natsTestEnv, type TestDatabase } from '@fjord/testkit';
import { registerFakeHost } from '../support/fake-hosts.js';

const nats = natsTestEnv();
const subjects = buildSubjects(nats.prefix);
let env: TestDatabase;
let nc: NatsConnection;
let scheduler: Scheduler;

const spec = (name: string) => ({
  tenant: 'acme',
  name,
  network: 'web',
  template: '',
  cpuMillis: 10,
  memoryBytes: 2 ** 20,
  constraintTexts: [],
  constraints: [],
  antiAffinityGroup: undefined,
  spreadLabel: undefined,
  command: '',
});

beforeAll(async () => {
  env = await createTestDatabase();
  await syncPhysicalNetworks(env.db, [{ name: 'physnet1', vlanRanges: '100-199', reservedVlans: [] }]);
  await syncSubnetPools(env.db, [{ name: 'default', cidr: '10.96.0.0/16', prefixLength: 24 }]);
  await new Allocator(env.db).createNetwork({ tenant: 'acme', name: 'web', physicalNetwork: 'physnet1', cidr: '10.0.0.0/16' });
  nc = await connect({ servers: nats.url });
  scheduler = await Scheduler.start({
    db: env.db,
    log: pino({ level: 'silent' }),
    grpcListen: '127.0.0.1:0',
    natsUrl: nats.url,
    subjectPrefix: nats.prefix,
    // Renewals far apart: the lease changes hands unnoticed, and only the commit's fence can tell.
    leaseTtlMs: 60_000,
    leaseRenewMs: 30_000,
    heartbeatIntervalMs: 200,
  });
  await registerFakeHost(nc, subjects, 'hv1');
});

afterAll(async () => {
  await scheduler?.stop();
  if (nc) {
    await deleteStreams(nc, subjects);
    await nc.close();
  }
  await env?.drop();
});

describe('fencing', () => {
  it('refuses a placement committed after the lease passed to another holder, writes nothing of it, and steps down', async () => {
    const leading = async () => {
      for (let i = 0; i < 100 && !scheduler.isLeader; i++) await new Promise((r) => setTimeout(r, 50));
      return scheduler.isLeader;
    };
    expect(await leading()).toBe(true);
    await scheduler.writes.place([spec('before')], 'spread');
    // Another replica takes the lease (as after an expiry this one did not notice in time, a pause).
    await sql`UPDATE leader_lease SET holder = 'someone-else', epoch = epoch + 1, expires_at = now() + interval '1 hour'`.execute(env.db);
    // The commit's fence refuses the write and this replica steps down; the write router then
    // looks for a leader until its deadline (15 s) and answers UNAVAILABLE: the client retries.
    const err = await scheduler.writes.place([spec('after')], 'spread').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect(scheduler.isLeader).toBe(false);
    const rows = await env.db.selectFrom('containers').select('name').execute();
    expect(rows.map((r) => r.name)).toEqual(['before']);
    expect((await currentLease(env.db, 'scheduler'))?.holder).toBe('someone-else');
  });
});
