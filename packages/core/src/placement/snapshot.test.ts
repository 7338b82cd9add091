import { describe, expect, it } from 'vitest';
import { place } from './place.js';
import { applyPlan, buildPlacementSnapshot, releasePlacements, removeHosts, updateHosts, usageAt } from './snapshot.js';
import { mockHost, mockHosts, mockPlacementRequest } from './testing.js';

describe('buildPlacementSnapshot()', () => {
  it('sorts hosts by id and indexes their labels, networks and free resources', () => {
    const snapshot = buildPlacementSnapshot([
      mockHost({ id: 'b', labels: { rack: 'r2' }, physicalNetworks: ['p1', 'p2'], usedCpu: 1 }),
      mockHost({ id: 'a', labels: { rack: 'r1', zone: 'z' }, physicalNetworks: ['p1'] }),
    ]);
    expect(snapshot.hosts.map((h) => h.id)).toEqual(['a', 'b']);
    expect([...snapshot.freeCpuMillis]).toEqual([8000, 7000]);
    expect([...snapshot.attached.get('p2')!]).toEqual([0, 1]);
    const zone = snapshot.labels.get('zone')!;
    expect([...zone.valueIds]).toEqual([0, -1]);
    expect(zone.values).toEqual(['z']);
  });

  it('counts existing members of each anti-affinity group per host', () => {
    const snapshot = buildPlacementSnapshot(mockHosts(2), { db: ['host-0001', 'host-0001', 'host-0002'], empty: [] });
    expect([...snapshot.groups.get('db')!]).toEqual([
      ['host-0001', 2],
      ['host-0002', 1],
    ]);
    expect(snapshot.groups.has('empty')).toBe(false);
  });

  it('refuses two hosts with one id as a bug', () => {
    expect(() => buildPlacementSnapshot([mockHost({ id: 'a' }), mockHost({ id: 'a' })])).toThrow('duplicate host id a');
  });
});

describe('applyPlan()', () => {
  it('takes the plan’s resources and group membership without touching the old snapshot', () => {
    const before = buildPlacementSnapshot(mockHosts(2));
    const request = mockPlacementRequest({ cpuMillis: 1000, antiAffinityGroup: 'g' });
    const after = applyPlan(before, [{ request, hostId: 'host-0002' }]);
    expect(usageAt(after, 1)).toEqual({ cpuMillis: 1000, memoryBytes: request.memoryBytes, slots: 1 });
    expect(after.freeCpuMillis[1]).toBe(7000);
    expect(after.freeSlots[1]).toBe(99);
    expect(after.groups.get('g')?.get('host-0002')).toBe(1);
    expect(before.freeCpuMillis[1]).toBe(8000);
    expect(before.groups.has('g')).toBe(false);
    expect(usageAt(before, 1).cpuMillis).toBe(0);
    expect(after.hosts).toBe(before.hosts);
  });

  it('throws for a plan naming a host the snapshot does not have', () => {
    expect(() => applyPlan(buildPlacementSnapshot([]), [{ request: mockPlacementRequest(), hostId: 'x' }])).toThrow('host x is not in the snapshot');
  });
});

describe('releasePlacements()', () => {
  it('undoes applyPlan exactly', () => {
    const before = buildPlacementSnapshot(mockHosts(3), { g: ['host-0003'] });
    const plan = [
      { request: mockPlacementRequest({ antiAffinityGroup: 'g' }), hostId: 'host-0001' },
      { request: mockPlacementRequest({ name: 'c2', antiAffinityGroup: 'g' }), hostId: 'host-0002' },
    ];
    const after = releasePlacements(applyPlan(before, plan), plan);
    expect(after.hosts).toEqual(before.hosts);
    expect([...after.freeCpuMillis]).toEqual([...before.freeCpuMillis]);
    expect([...after.groups.get('g')!]).toEqual([['host-0003', 1]]);
  });
});

describe('updateHosts()', () => {
  it('changes a host’s state without re-indexing and keeps the old snapshot as it was', () => {
    const before = buildPlacementSnapshot(mockHosts(2));
    const after = updateHosts(before, [mockHost({ id: 'host-0001', state: 'CORDONED' })]);
    expect(after.labels).toBe(before.labels);
    expect([...after.ready]).toEqual([0, 1]);
    expect([...before.ready]).toEqual([1, 1]);
    expect(place(after, mockPlacementRequest(), 0, { scoring: 'binpack' })).toMatchObject({ ok: true, plan: [{ hostId: 'host-0002' }] });
  });

  it('re-indexes when a host is new or its labels change, keeping group membership', () => {
    const before = buildPlacementSnapshot(mockHosts(1), { g: ['host-0001'] });
    const after = updateHosts(before, [mockHost({ id: 'host-0000', labels: { zone: 'z' } }), mockHost({ id: 'host-0001', labels: { zone: 'y' } })]);
    expect(after.hosts.map((h) => h.id)).toEqual(['host-0000', 'host-0001']);
    expect(after.labels.get('zone')!.values).toEqual(['z', 'y']);
    expect(after.groups.get('g')?.get('host-0001')).toBe(1);
  });

  it('keeps the usage plans left on hosts it does not change when it re-indexes', () => {
    const request = mockPlacementRequest({ cpuMillis: 1500 });
    const before = applyPlan(buildPlacementSnapshot(mockHosts(2)), [{ request, hostId: 'host-0002' }]);
    const after = updateHosts(before, [mockHost({ id: 'host-0001', labels: { zone: 'y' } })]);
    expect(usageAt(after, after.positionById.get('host-0002')!)).toEqual({ cpuMillis: 1500, memoryBytes: request.memoryBytes, slots: 1 });
  });
});

describe('removeHosts()', () => {
  it('drops the hosts from every index', () => {
    const after = removeHosts(buildPlacementSnapshot(mockHosts(3)), ['host-0002']);
    expect(after.hosts.map((h) => h.id)).toEqual(['host-0001', 'host-0003']);
    expect(after.positionById.get('host-0003')).toBe(1);
    expect(after.freeCpuMillis).toHaveLength(2);
  });

  it('keeps the usage plans left on the hosts that stay', () => {
    const before = applyPlan(buildPlacementSnapshot(mockHosts(3)), [{ request: mockPlacementRequest({ cpuMillis: 1500 }), hostId: 'host-0003' }]);
    const after = removeHosts(before, ['host-0002']);
    expect(usageAt(after, 1).cpuMillis).toBe(1500);
    expect(after.freeCpuMillis[1]).toBe(before.freeCpuMillis[2]);
  });
});
