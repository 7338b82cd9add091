import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../errors.js';
import { checkPlan, place } from './place.js';
import { applyPlan, buildPlacementSnapshot, usageAt } from './snapshot.js';
import { mockHost, mockHosts, mockPlacementRequest, PlacementHarness } from './testing.js';

const binpack = { scoring: 'binpack' } as const;
const spread = { scoring: 'spread' } as const;

function hostOf(result: ReturnType<typeof place>, index = 0): string {
  if (!result.ok) throw new Error(`expected a plan, got: ${result.reason.message}`);
  return result.plan[index]!.hostId;
}

describe('place()', () => {
  describe('filters', () => {
    it('places only on READY hosts and counts the others under state', () => {
      const snapshot = buildPlacementSnapshot([
        mockHost({ id: 'a', state: 'CORDONED' }),
        mockHost({ id: 'b', state: 'DRAINING' }),
        mockHost({ id: 'c', state: 'READY' }),
        mockHost({ id: 'd', state: 'DOWN' }),
      ]);
      expect(hostOf(place(snapshot, mockPlacementRequest(), 0, binpack))).toBe('c');
      const none = buildPlacementSnapshot([mockHost({ id: 'a', state: 'PATCHING' }), mockHost({ id: 'b', state: 'DOWN' })]);
      const result = place(none, mockPlacementRequest(), 0, binpack);
      expect(result).toMatchObject({ ok: false, reason: { code: 'no-feasible-host', rejected: { state: 2 }, hostsConsidered: 2 } });
    });

    it('rejects hosts short of cpu, memory or slots and says how many', () => {
      const snapshot = buildPlacementSnapshot([
        mockHost({ id: 'a', cpu: 1 }),
        mockHost({ id: 'b', memoryGi: 0.25 }),
        mockHost({ id: 'c', slots: 3, usedSlots: 3 }),
        mockHost({ id: 'd', cpu: 4, usedCpu: 3.5 }),
      ]);
      const result = place(snapshot, mockPlacementRequest({ cpuMillis: 1500, memoryBytes: 2 ** 30 }), 0, binpack);
      expect(result.ok).toBe(false);
      if (result.ok) return;
      expect(result.reason.rejected).toEqual({ cpu: 2, memory: 1, slots: 1 });
      expect(result.reason.message).toBe('place c1: no host fits (4 hosts: 1 without a free slot, 2 short of cpu, 1 short of memory)');
    });

    it('places a request that exactly fills the host', () => {
      const snapshot = buildPlacementSnapshot([mockHost({ id: 'a', cpu: 1, memoryGi: 1, slots: 1 })]);
      expect(hostOf(place(snapshot, mockPlacementRequest({ cpuMillis: 1000, memoryBytes: 2 ** 30 }), 0, binpack))).toBe('a');
    });

    it('needs the network’s physical network on the host', () => {
      const snapshot = buildPlacementSnapshot([
        mockHost({ id: 'a', physicalNetworks: ['physnet1'] }),
        mockHost({ id: 'b', physicalNetworks: ['physnet1', 'physnet2'] }),
      ]);
      expect(hostOf(place(snapshot, mockPlacementRequest({ physicalNetwork: 'physnet2' }), 0, binpack))).toBe('b');
      expect(place(snapshot, mockPlacementRequest({ physicalNetwork: 'physnet9' }), 0, binpack)).toMatchObject({
        ok: false,
        reason: { rejected: { 'physical-network': 2 } },
      });
    });

    it('honours label constraints with = and !=', () => {
      const snapshot = buildPlacementSnapshot([
        mockHost({ id: 'a', labels: { zone: 'a', rack: 'r1' } }),
        mockHost({ id: 'b', labels: { zone: 'a', rack: 'r2' } }),
        mockHost({ id: 'c', labels: { zone: 'b', rack: 'r3' } }),
        mockHost({ id: 'd', labels: {} }),
      ]);
      const zoneA = { label: 'zone', op: '=', value: 'a' } as const;
      const notR1 = { label: 'rack', op: '!=', value: 'r1' } as const;
      expect(hostOf(place(snapshot, mockPlacementRequest({ constraints: [zoneA, notR1] }), 0, binpack))).toBe('b');
      expect(hostOf(place(snapshot, mockPlacementRequest({ constraints: [{ label: 'zone', op: '=', value: 'b' }] }), 0, binpack))).toBe('c');
      const result = place(snapshot, mockPlacementRequest({ constraints: [{ label: 'zone', op: '=', value: 'z' }] }), 0, binpack);
      expect(result).toMatchObject({ ok: false, reason: { rejected: { constraint: 4 } } });
    });

    it('treats a missing label as failing = and passing !=', () => {
      const snapshot = buildPlacementSnapshot([mockHost({ id: 'a', labels: {} })]);
      expect(hostOf(place(snapshot, mockPlacementRequest({ constraints: [{ label: 'gpu', op: '!=', value: 'yes' }] }), 0, binpack))).toBe('a');
      expect(place(snapshot, mockPlacementRequest({ constraints: [{ label: 'gpu', op: '=', value: 'yes' }] }), 0, binpack).ok).toBe(false);
    });

    it('skips hosts with a stale heartbeat only when the policy asks', () => {
      const snapshot = buildPlacementSnapshot([mockHost({ id: 'a', lastHeartbeatAt: 1_000 }), mockHost({ id: 'b', lastHeartbeatAt: 9_000, usedCpu: 1 })]);
      expect(hostOf(place(snapshot, mockPlacementRequest(), 10_000, { scoring: 'spread', maxHeartbeatAgeMs: 5_000 }))).toBe('b');
      expect(hostOf(place(snapshot, mockPlacementRequest(), 10_000, spread))).toBe('a');
      expect(place(snapshot, mockPlacementRequest(), 20_000, { scoring: 'spread', maxHeartbeatAgeMs: 5_000 })).toMatchObject({
        ok: false,
        reason: { rejected: { heartbeat: 2 } },
      });
    });

    it('counts each rejected host once, under the first filter that rejects it', () => {
      const snapshot = buildPlacementSnapshot([mockHost({ id: 'a', state: 'DOWN', cpu: 0, physicalNetworks: [] })]);
      expect(place(snapshot, mockPlacementRequest(), 0, binpack)).toMatchObject({ ok: false, reason: { rejected: { state: 1 } } });
    });

    it('says so when the fleet is empty', () => {
      const result = place(buildPlacementSnapshot([]), mockPlacementRequest({ name: 'web' }), 0, binpack);
      expect(result).toMatchObject({ ok: false, reason: { message: 'place web: no host fits (the fleet has no hosts)', rejected: {} } });
    });
  });

  describe('anti-affinity', () => {
    it('never puts a member on a host that already holds one of its group', () => {
      const snapshot = buildPlacementSnapshot([mockHost({ id: 'a', usedCpu: 4 }), mockHost({ id: 'b' })], { db: ['a'] });
      expect(hostOf(place(snapshot, mockPlacementRequest({ antiAffinityGroup: 'db' }), 0, binpack))).toBe('b');
      const full = buildPlacementSnapshot([mockHost({ id: 'a' })], { db: ['a'] });
      expect(place(full, mockPlacementRequest({ antiAffinityGroup: 'db' }), 0, binpack)).toMatchObject({
        ok: false,
        reason: { rejected: { 'anti-affinity': 1 } },
      });
    });

    it('ignores members of other groups', () => {
      const snapshot = buildPlacementSnapshot([mockHost({ id: 'a' })], { web: ['a'] });
      expect(hostOf(place(snapshot, mockPlacementRequest({ antiAffinityGroup: 'db' }), 0, binpack))).toBe('a');
    });

    it('prefers a rack holding fewer members of the group over a better-scoring host', () => {
      const snapshot = buildPlacementSnapshot(
        [
          mockHost({ id: 'a', labels: { rack: 'r1' } }),
          mockHost({ id: 'b', labels: { rack: 'r1' }, usedCpu: 6 }),
          mockHost({ id: 'c', labels: { rack: 'r2' } }),
        ],
        { db: ['a'] },
      );
      const request = mockPlacementRequest({ antiAffinityGroup: 'db', spreadLabel: 'rack' });
      expect(hostOf(place(snapshot, request, 0, binpack))).toBe('c');
    });

    it('falls back to a rack that already holds a member when no other rack fits', () => {
      const snapshot = buildPlacementSnapshot(
        [mockHost({ id: 'a', labels: { rack: 'r1' } }), mockHost({ id: 'b', labels: { rack: 'r1' } }), mockHost({ id: 'c', labels: { rack: 'r2' }, cpu: 0 })],
        { db: ['a'] },
      );
      expect(hostOf(place(snapshot, mockPlacementRequest({ antiAffinityGroup: 'db', spreadLabel: 'rack' }), 0, binpack))).toBe('b');
    });

    it('puts the two halves of a pair in one batch on different hosts and racks', () => {
      const snapshot = buildPlacementSnapshot(
        mockHosts(4, (i) => ({ labels: { rack: i < 2 ? 'r1' : 'r2' }, usedCpu: i < 2 ? 4 : 0 })),
      );
      const pair = [mockPlacementRequest({ name: 'lb-a', antiAffinityGroup: 'lb', spreadLabel: 'rack' }), mockPlacementRequest({ name: 'lb-b', antiAffinityGroup: 'lb', spreadLabel: 'rack' })];
      const result = place(snapshot, pair, 0, binpack);
      expect(result.ok && result.plan.map((p) => p.hostId)).toEqual(['host-0001', 'host-0003']);
    });
  });

  describe('scoring', () => {
    const fleet = () =>
      buildPlacementSnapshot([mockHost({ id: 'empty' }), mockHost({ id: 'half', usedCpu: 4, usedMemoryGi: 16 }), mockHost({ id: 'most', usedCpu: 6, usedMemoryGi: 24 })]);

    it('packs onto the fullest host that fits under binpack', () => {
      expect(hostOf(place(fleet(), mockPlacementRequest(), 0, binpack))).toBe('most');
    });

    it('spreads onto the emptiest host under spread', () => {
      expect(hostOf(place(fleet(), mockPlacementRequest(), 0, spread))).toBe('empty');
    });

    it('breaks ties by the lowest host id, whatever order the hosts came in', () => {
      const hosts = [mockHost({ id: 'h3' }), mockHost({ id: 'h1' }), mockHost({ id: 'h2' })];
      expect(hostOf(place(buildPlacementSnapshot(hosts), mockPlacementRequest(), 0, binpack))).toBe('h1');
      expect(hostOf(place(buildPlacementSnapshot(hosts.reverse()), mockPlacementRequest(), 0, spread))).toBe('h1');
    });
  });

  describe('batches', () => {
    it('accounts for its own earlier choices and never overcommits a host', () => {
      const snapshot = buildPlacementSnapshot([mockHost({ id: 'a', cpu: 1 }), mockHost({ id: 'b', cpu: 1 })]);
      const requests = [1, 2, 3, 4].map((i) => mockPlacementRequest({ name: `c${i}`, cpuMillis: 500 }));
      const result = place(snapshot, requests, 0, binpack);
      expect(result.ok && result.plan.map((p) => p.hostId)).toEqual(['a', 'a', 'b', 'b']);
    });

    it('is all-or-nothing and names the request that did not fit', () => {
      const snapshot = buildPlacementSnapshot([mockHost({ id: 'a', cpu: 1 })]);
      const requests = [1, 2, 3].map((i) => mockPlacementRequest({ name: `c${i}`, cpuMillis: 500 }));
      const result = place(snapshot, requests, 0, binpack);
      expect(result).toMatchObject({ ok: false, reason: { requestIndex: 2, request: { name: 'c3' }, rejected: { cpu: 1 } } });
      if (!result.ok) expect(result.reason.message).toBe('place request 3 of 3 (c3): no host fits (1 host: 1 short of cpu)');
    });

    it('leaves the snapshot untouched', () => {
      const snapshot = buildPlacementSnapshot([mockHost({ id: 'a', cpu: 1 })], { g: ['x'] });
      const before = structuredClone({ free: [...snapshot.freeCpuMillis], groups: [...snapshot.groups].map(([k, v]) => [k, [...v]]) });
      place(snapshot, [mockPlacementRequest({ antiAffinityGroup: 'g' }), mockPlacementRequest({ name: 'c2' })], 0, binpack);
      expect({ free: [...snapshot.freeCpuMillis], groups: [...snapshot.groups].map(([k, v]) => [k, [...v]]) }).toEqual(before);
    });

    it('returns an empty plan for an empty batch', () => {
      expect(place(buildPlacementSnapshot([]), [], 0, binpack)).toEqual({ ok: true, plan: [] });
    });
  });

  it('refuses a request with negative or fractional resources as a bug at the edge', () => {
    const snapshot = buildPlacementSnapshot([mockHost()]);
    expect(() => place(snapshot, mockPlacementRequest({ cpuMillis: -1 }), 0, binpack)).toThrow(InvalidArgumentError);
    expect(() => place(snapshot, [mockPlacementRequest(), mockPlacementRequest({ memoryBytes: 1.5 })], 0, binpack)).toThrow(
      'requests[1].memoryBytes: must be a non-negative integer, got 1.5',
    );
  });
});

describe('checkPlan()', () => {
  it('accepts a plan that still fits', () => {
    const snapshot = buildPlacementSnapshot(mockHosts(3));
    const result = place(snapshot, [mockPlacementRequest(), mockPlacementRequest({ name: 'c2' })], 0, binpack);
    expect(result.ok && checkPlan(snapshot, result.plan, 0, binpack)).toEqual({ ok: true });
  });

  it('rejects a plan whose host filled up since it was made', () => {
    const snapshot = buildPlacementSnapshot([mockHost({ id: 'a', cpu: 1 })]);
    const first = place(snapshot, mockPlacementRequest({ cpuMillis: 800 }), 0, binpack);
    const second = place(snapshot, mockPlacementRequest({ name: 'c2', cpuMillis: 800 }), 0, binpack);
    if (!first.ok || !second.ok) throw new Error('both fit alone');
    const after = applyPlan(snapshot, first.plan);
    expect(checkPlan(after, second.plan, 0, binpack)).toEqual({ ok: false, index: 0, filter: 'cpu', message: 'check plan: c2 on host a: host is short of cpu' });
  });

  it('rejects a plan that breaks anti-affinity within itself or names an unknown host', () => {
    const snapshot = buildPlacementSnapshot([mockHost({ id: 'a' })]);
    const request = mockPlacementRequest({ antiAffinityGroup: 'g' });
    expect(checkPlan(snapshot, [{ request, hostId: 'a' }, { request, hostId: 'a' }], 0, binpack)).toMatchObject({ ok: false, index: 1, filter: 'anti-affinity' });
    expect(checkPlan(snapshot, [{ request, hostId: 'zz' }], 0, binpack)).toMatchObject({ ok: false, index: 0, filter: 'unknown-host' });
  });
});

describe('PlacementHarness', () => {
  it('records each committed plan and applies it to its snapshot', () => {
    const harness = new PlacementHarness([mockHost({ id: 'a', cpu: 1 })]);
    harness.place(mockPlacementRequest({ cpuMillis: 600 }));
    const second = harness.place(mockPlacementRequest({ name: 'c2', cpuMillis: 600 }));
    expect(second.ok).toBe(false);
    expect(harness.plans).toHaveLength(1);
    expect(harness.placements().map((p) => p.request.name)).toEqual(['c1']);
    expect(usageAt(harness.snapshot, 0).cpuMillis).toBe(600);
  });
});
