import { connect, type NatsConnection } from '@nats-io/transport-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Scheduler } from '@fjord/scheduler';
import { subjects as buildSubjects } from '@fjord/bus';
import { listHosts } from '@fjord/store';
import { createTestDatabase, natsTestEnv, type TestDatabase } from '@fjord/testkit';
import { registerFakeHost } from '../support/fake-hosts.js';
import { seedPhysicalNetwork, startScheduler, stopSchedulerTest } from '../support/placement-setup.js';

const nats = natsTestEnv();
const subjects = buildSubjects(nats.prefix);
let env: TestDatabase;
let nc: NatsConnection;
let scheduler: Scheduler;

beforeAll(async () => {
  env = await createTestDatabase();
  await seedPhysicalNetwork(env.db);
  nc = await connect({ servers: nats.url });
  scheduler = await startScheduler(env.db, nats);
});

afterAll(() => stopSchedulerTest({ scheduler, nc, subjects, env }));

describe('host registration', () => {
  it('refuses a registration whose labels Postgres could not store, naming them, and registers the others sent with it', async () => {
    // Registrations that arrive together commit together: the bad one must not take the good one down.
    const [bad, good] = await Promise.allSettled([
      registerFakeHost(nc, subjects, 'hv-bad', { zone: 'a\0b' }, 3000),
      registerFakeHost(nc, subjects, 'hv-good', { zone: 'a' }, 3000),
    ]);
    expect(bad.status).toBe('rejected');
    expect(String((bad as PromiseRejectedResult).reason)).toMatch(/labels: "zone" holds a NUL character/);
    expect(good).toMatchObject({ status: 'fulfilled', value: 1 });
    expect((await listHosts(env.db, {})).map((h) => h.name)).toEqual(['hv-good']);
  });

  it('takes labels that constraints could not name: they are the host\'s data, not refused', async () => {
    await registerFakeHost(nc, subjects, 'hv-free', { 'rack name': 'row 3, left' }, 3000);
    expect((await listHosts(env.db, { name: 'hv-free' }))[0]?.labels).toEqual({ 'rack name': 'row 3, left' });
  });
});
