import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { UnavailableError } from '@fjord/core';
import { encode, HostVerb } from '@fjord/bus';
import { workerV1 } from '@fjord/proto';
import type { Scheduler } from '@fjord/scheduler';
import { pino } from 'pino';
import { Allocator, currentLease, FencedError, lastEventSequence, listEvents, listHosts, recordObserved } from '@fjord/store';
import type { TestDatabase } from '@fjord/testkit';
import { heartbeatFakeHosts, registerFakeHost } from '../support/fake-hosts.js';
import { startSchedulerTestBed } from '../support/placement-setup.js';
import { Applier } from '../../services/scheduler/src/applier.js';
import { FleetState } from '../../services/scheduler/src/fleet-state.js';

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

/**
 * A scheduler on a database and NATS prefix of its own, leading, with one registered host. Its
 * renewals are far apart: the lease changes hands unnoticed, and only a write's fence can tell.
 */
async function startLeader() {
  const bed = await startSchedulerTestBed({ leaseTtlMs: 60_000, leaseRenewMs: 30_000 });
  try {
    await new Allocator(bed.env.db).createNetwork({ tenant: 'acme', name: 'web', physicalNetwork: 'physnet1', cidr: '10.0.0.0/16' });
    const epoch = await registerFakeHost(bed.nc, bed.subjects, 'hv1');
    const stopHeartbeats = heartbeatFakeHosts(bed.nc, bed.subjects, [{ host: 'hv1', epoch }]);
    return {
      ...bed,
      epoch,
      stop: () => {
        stopHeartbeats();
        return bed.stop();
      },
    };
  } catch (err) {
    await bed.stop();
    throw err;
  }
}

let env: TestDatabase;
let scheduler: Scheduler;
let first: Awaited<ReturnType<typeof startLeader>> | undefined;

beforeAll(async () => {
  first = await startLeader();
  ({ env, scheduler } = first);
});

afterAll(() => first?.stop());

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

  // After the test above: its container `before`, and the lease another holder took.
  it("refuses a deposed leader's record of what a worker observed, writing neither the state nor its event", async () => {
    const [row] = await env.db.selectFrom('containers').select(['runtime_name', 'host', 'state']).where('name', '=', 'before').execute();
    const report = [{ host: row!.host, runtimeName: row!.runtime_name, state: 'FAILED' as const, observed: 'a stale report' }];
    const events = await lastEventSequence(env.db);
    const stale = { name: 'scheduler', lease: { holder: 'someone-before', epoch: 1 } };
    await expect(recordObserved(env.db, report, stale)).rejects.toBeInstanceOf(FencedError);
    expect(await env.db.selectFrom('containers').select('state').where('name', '=', 'before').executeTakeFirst()).toEqual({ state: row!.state });
    expect(await lastEventSequence(env.db)).toBe(events);
    // The holder of the lease records it, with its event.
    const current = { name: 'scheduler', lease: (await currentLease(env.db, 'scheduler'))! };
    expect(await recordObserved(env.db, report, current)).toEqual([{ tenant: 'acme', name: 'before', host: row!.host, state: 'FAILED' }]);
    expect((await listEvents(env.db, events)).map((e) => `${e.kind} ${e.subject}`)).toEqual(['container.failed acme/before']);
  });
});

describe("fencing a deposed leader's record of which hosts are stale", () => {
  // After the tests above: the lease another holder took.
  it('writes neither the mark nor its event, and steps down', async () => {
    const deposed = { holder: 'someone-before', epoch: 1 };
    const stepDowns: string[] = [];
    const applier = new Applier(env.db, deposed, await FleetState.load(env.db, 5000), () => undefined, pino({ level: 'silent' }), (reason) => void stepDowns.push(reason));
    try {
      const events = await lastEventSequence(env.db);
      await expect(applier.recordStaleMarks([{ name: 'hv1', heardAt: null, stale: true }])).rejects.toBeInstanceOf(UnavailableError);
      expect((await listHosts(env.db, { name: 'hv1' }))[0]?.stale).toBe(false);
      expect(await lastEventSequence(env.db)).toBe(events);
      expect(stepDowns).toEqual(['a write was fenced: the lease is gone']);
    } finally {
      await applier.stop();
    }
  });
});

describe("fencing the leader's record of what workers observe", () => {
  let second: Awaited<ReturnType<typeof startLeader>> | undefined;
  beforeAll(async () => void (second = await startLeader()));
  afterAll(() => second?.stop());

  const report = (runtimeName: string, state: string) =>
    second!.nc.publish(
      second!.subjects.host('hv1', HostVerb.Status),
      encode(workerV1.StatusReport, { host: 'hv1', epoch: BigInt(second!.epoch), appliedGeneration: 0n, containers: [{ runtimeName, state, message: '' }] }),
    );
  const stateOf = async () => (await second!.env.db.selectFrom('containers').select('state').where('name', '=', 'seen').executeTakeFirst())?.state;
  async function until(what: string, check: () => Promise<boolean> | boolean): Promise<void> {
    for (let i = 0; i < 100; i++) {
      if (await check()) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`timed out waiting until ${what}`);
  }

  it('steps down, writing nothing, when a report is to be recorded after the lease passed to another holder', async () => {
    const { scheduler: leader, env: env2 } = second!;
    await until('leading', () => leader.isLeader);
    const [placed] = await leader.writes.place([spec('seen')], 'spread');
    report(placed!.runtimeName, 'RUNNING');
    await until('the report recorded', async () => (await stateOf()) === 'RUNNING');
    const events = await lastEventSequence(env2.db);

    await sql`UPDATE leader_lease SET holder = 'someone-else', epoch = epoch + 1, expires_at = now() + interval '1 hour'`.execute(env2.db);
    report(placed!.runtimeName, 'FAILED');
    // Renewals are 30 s apart: only the report's own statement can find the lease gone this soon.
    await until('stepped down', () => !leader.isLeader);
    expect(await stateOf()).toBe('RUNNING');
    expect(await listEvents(env2.db, events)).toEqual([]);
  });
});
