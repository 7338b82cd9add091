/**
 * When each host was last heard from lives in the leader's memory (Postgres has it only every
 * 15 s): loading the fleet counts every host as heard from now, except one recorded stale, and
 * reading hosts back after a commit, or the whole fleet after an unknown outcome, keeps the times
 * heard since.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHosts, recordHeartbeatTimes, recordStaleMarks, registerHosts } from '@fjord/store';
import { createTestDatabase, type TestDatabase } from '@fjord/testkit';
import { FleetState, toCoreHost } from '../../services/scheduler/src/fleet-state.js';
import { seedPhysicalNetwork } from '../support/placement-setup.js';

let env: TestDatabase;
const SILENT_SINCE = Date.parse('2026-01-01T00:00:00Z');

beforeAll(async () => {
  env = await createTestDatabase();
  await seedPhysicalNetwork(env.db);
  const capacity = { cpuMillis: 8000, memoryBytes: 2 ** 33, slots: 10 };
  // Registration records each host as heard from then: older than what the leader hears later.
  await registerHosts(env.db, ['hv1', 'hv2', 'hv9'].map((name) => ({ name, labels: {}, physicalNetworks: ['physnet1'], capacity })));
  // hv9's worker fell silent long ago, under the last leader, which recorded it stale.
  await env.db.updateTable('host_liveness').set({ last_heartbeat_at: new Date(SILENT_SINCE), stale: true }).where('name', '=', 'hv9').execute();
});

afterAll(async () => {
  await env?.drop();
});

const heardAt = (state: FleetState, name: string): number => state.snapshot.lastHeartbeatAt[state.snapshot.positionById.get(name)!]!;

describe('FleetState: when hosts were last heard from', () => {
  it('counts every host as heard from when it is loaded, whatever the stored time, except one recorded stale', async () => {
    const before = Date.now();
    const state = await FleetState.load(env.db, 5000);
    expect(heardAt(state, 'hv1')).toBeGreaterThanOrEqual(before);
    expect(heardAt(state, 'hv2')).toBeGreaterThanOrEqual(before);
    expect(heardAt(state, 'hv9')).toBe(SILENT_SINCE);
    expect(state.staleAfterMs).toBe(5000);
    // Only counted as heard: nothing to record as its time, yet. Stale: recorded with its own.
    const now = Date.now();
    expect(state.staleMark('hv1', now)).toEqual({ name: 'hv1', heardAt: null, stale: false });
    expect(state.staleMark('hv9', now)).toEqual({ name: 'hv9', heardAt: SILENT_SINCE, stale: true });
    expect([...state.staleHosts(now)]).toEqual(['hv9']);
    // Five seconds on, a host not heard from since the load is stale too; one heard is not.
    state.heard('hv2', now);
    expect(state.staleMark('hv2', now + 5001)).toEqual({ name: 'hv2', heardAt: now, stale: true });
    state.heard('hv2', now + 5000);
    expect([...state.staleHosts(now + 5001)].sort()).toEqual(['hv1', 'hv9']);
  });

  it('moves a time only forward', async () => {
    const state = await FleetState.load(env.db, 5000);
    const loaded = heardAt(state, 'hv1');
    state.heard('hv1', loaded + 1000);
    state.heard('hv1', loaded + 500);
    expect(heardAt(state, 'hv1')).toBe(loaded + 1000);
    state.heard('hv-unknown', loaded); // a host it does not know changes nothing
    expect(state.host('hv-unknown')).toBeUndefined();
  });

  it('keeps the times heard when hosts are read back after a commit, and when the whole fleet is read again', async () => {
    const state = await FleetState.load(env.db, 5000);
    const later = Date.now() + 60_000;
    state.heard('hv1', later);
    const stored = (await listHosts(env.db, { names: ['hv1'] })).map(toCoreHost);
    expect(stored[0]!.lastHeartbeatAt).toBeLessThan(later);
    state.update(stored.map((h) => ({ ...h, state: 'CORDONED' as const })));
    expect(state.host('hv1')?.state).toBe('CORDONED');
    expect(heardAt(state, 'hv1')).toBe(later);
    await state.reload(env.db);
    expect(heardAt(state, 'hv1')).toBe(later);
    expect(heardAt(state, 'hv2')).toBeLessThan(later);
  });

  it('keeps the times heard when a new host makes it index the fleet anew', async () => {
    const state = await FleetState.load(env.db, 5000);
    const later = Date.now() + 60_000;
    state.heard('hv2', later);
    const newcomer = { ...toCoreHost((await listHosts(env.db, { names: ['hv1'] }))[0]!), id: 'hv0', name: 'hv0', labels: { rack: 'new' } };
    state.update([newcomer]);
    expect(state.snapshot.positionById.get('hv2')).toBe(2); // hv0 sorts first: every position moved
    expect(heardAt(state, 'hv2')).toBe(later);
    expect(state.host('hv0')?.labels).toEqual({ rack: 'new' });
  });
});

describe('recording when hosts were heard from', () => {
  it('never moves a stored time back: a null time, or an older one, keeps it', async () => {
    const stored = async () => (await listHosts(env.db, { names: ['hv-times'] }))[0]!;
    await registerHosts(env.db, [{ name: 'hv-times', labels: {}, physicalNetworks: ['physnet1'], capacity: { cpuMillis: 1000, memoryBytes: 2 ** 30, slots: 1 } }]);
    const t = Date.now() + 60_000; // later than the registration's time
    await recordHeartbeatTimes(env.db, new Map([['hv-times', t]]));
    await recordStaleMarks(env.db, [{ name: 'hv-times', heardAt: null, stale: true }]);
    expect(await stored()).toMatchObject({ lastHeartbeatAt: new Date(t), stale: true });
    await recordHeartbeatTimes(env.db, new Map([['hv-times', t - 30_000]])); // a time alone leaves the mark
    expect(await stored()).toMatchObject({ lastHeartbeatAt: new Date(t), stale: true });
    await recordStaleMarks(env.db, [{ name: 'hv-times', heardAt: t - 30_000, stale: false }]);
    expect(await stored()).toMatchObject({ lastHeartbeatAt: new Date(t), stale: false });
  });
});
