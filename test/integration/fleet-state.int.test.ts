/**
 * When each host was last heard from lives in the leader's memory (Postgres has it only every
 * 15 s): loading the fleet counts every host as heard from now, and reading hosts back after a
 * commit, or the whole fleet after an unknown outcome, keeps the times heard since.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listHosts, registerHosts, touchHeartbeats } from '@fjord/store';
import { createTestDatabase, type TestDatabase } from '@fjord/testkit';
import { FleetState, toCoreHost } from '../../services/scheduler/src/fleet-state.js';
import { seedPhysicalNetwork } from '../support/placement-setup.js';

let env: TestDatabase;

beforeAll(async () => {
  env = await createTestDatabase();
  await seedPhysicalNetwork(env.db);
  const capacity = { cpuMillis: 8000, memoryBytes: 2 ** 33, slots: 10 };
  await registerHosts(env.db, ['hv1', 'hv2'].map((name) => ({ name, labels: {}, physicalNetworks: ['physnet1'], capacity })));
  // A stored heartbeat time, as the leader writes it for display: older than what it hears.
  await touchHeartbeats(env.db, ['hv1']);
});

afterAll(async () => {
  await env?.drop();
});

const heardAt = (state: FleetState, name: string): number => state.snapshot.lastHeartbeatAt[state.snapshot.positionById.get(name)!]!;

describe('FleetState: when hosts were last heard from', () => {
  it('counts every host as heard from when it is loaded, whatever the stored time', async () => {
    const before = Date.now();
    const state = await FleetState.load(env.db, 5000);
    expect(heardAt(state, 'hv1')).toBeGreaterThanOrEqual(before);
    expect(heardAt(state, 'hv2')).toBeGreaterThanOrEqual(before);
    expect(state.staleAfterMs).toBe(5000);
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
