import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { currentLease } from '@fjord/store';
import { createTestDatabase, type TestDatabase } from '@fjord/testkit';
import { LeaderElection, SCHEDULER_LEASE } from '../../services/scheduler/src/leader.js';

let env: TestDatabase;

beforeAll(async () => {
  env = await createTestDatabase();
});

afterAll(async () => {
  await env?.drop();
});

describe('leader election', () => {
  it('neither leads nor keeps the lease when stopped while its first round is still acquiring it', async () => {
    const elected = vi.fn(async () => undefined);
    const deposed = vi.fn(async () => undefined);
    const election = new LeaderElection(env.db, { holder: 'replica-1', ttlMs: 60_000, renewMs: 30_000 }, { elected, deposed }, pino({ level: 'silent' }));
    election.start(); // its first round's query is on its way
    await election.stop();
    // Give a round that outlived stop() the time to finish what it would do.
    await new Promise((r) => setTimeout(r, 300));
    expect(elected).not.toHaveBeenCalled();
    expect(await currentLease(env.db, SCHEDULER_LEASE)).toBeUndefined();
  });
});
