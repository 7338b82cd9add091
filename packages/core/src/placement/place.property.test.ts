import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Host, HostState, LabelConstraint, PlacementRequest } from '../domain.js';
import { checkPlan, place, PlacementSequence, type PlacementPolicy } from './place.js';
import { applyPlan, buildPlacementSnapshot, type GroupMembers, type Placement, type PlacementSnapshot } from './snapshot.js';

const states: HostState[] = [...Array<HostState>(12).fill('READY'), 'CORDONED', 'DRAINING', 'PATCHING', 'DOWN'];
const groupNames = ['g1', 'g2', 'g3'];

const hostArb = (id: string): fc.Arbitrary<Host> =>
  fc
    .record({
      zone: fc.option(fc.constantFrom('a', 'b'), { nil: undefined }),
      rack: fc.option(fc.constantFrom('r1', 'r2', 'r3'), { nil: undefined }),
      cpu: fc.integer({ min: 0, max: 8 }).map((n) => n * 500),
      memory: fc.integer({ min: 0, max: 8 }).map((n) => n * 512),
      slots: fc.integer({ min: 0, max: 6 }),
      usedFraction: fc.constantFrom(0, 0, 0, 0.25, 0.5, 0.75, 1),
      physicalNetworks: fc.constantFrom(['p1'], ['p1'], ['p1'], ['p1'], ['p1', 'p2'], ['p1', 'p2'], ['p2'], []),
      state: fc.constantFrom(...states),
      lastHeartbeatAt: fc.integer({ min: 0, max: 100 }),
    })
    .map(({ zone, rack, cpu, memory, slots, usedFraction, physicalNetworks, state, lastHeartbeatAt }) => ({
      id,
      name: id,
      labels: { ...(zone === undefined ? {} : { zone }), ...(rack === undefined ? {} : { rack }) },
      capacity: { cpuMillis: cpu, memoryBytes: memory, slots },
      usage: { cpuMillis: Math.floor(cpu * usedFraction), memoryBytes: Math.floor(memory * usedFraction), slots: Math.floor(slots * usedFraction) },
      physicalNetworks,
      state,
      epoch: 1,
      lastHeartbeatAt,
    }));

const fleetArb: fc.Arbitrary<Host[]> = fc
  .uniqueArray(fc.constantFrom(...Array.from({ length: 16 }, (_, i) => `h${String(i).padStart(2, '0')}`)), { minLength: 3, maxLength: 12 })
  .chain((ids) => fc.tuple(...ids.map(hostArb)));

/** Existing members: at most one per host and group, as a correct store guarantees. */
const groupsArb = (hosts: readonly Host[]): fc.Arbitrary<GroupMembers> =>
  fc.record(Object.fromEntries(groupNames.map((g) => [g, fc.subarray(hosts.map((h) => h.id), { maxLength: 3 })]))) as fc.Arbitrary<GroupMembers>;

const constraintArb: fc.Arbitrary<LabelConstraint> = fc.oneof(
  fc.record({ label: fc.constant('zone'), op: fc.constantFrom('=' as const, '!=' as const), value: fc.constantFrom('a', 'b', 'c') }),
  fc.record({ label: fc.constant('rack'), op: fc.constantFrom('=' as const, '!=' as const), value: fc.constantFrom('r1', 'r2') }),
  fc.record({ label: fc.constant('gpu'), op: fc.constantFrom('=' as const, '!=' as const), value: fc.constant('yes') }),
);

const requestArb: fc.Arbitrary<PlacementRequest> = fc
  .record({
    name: fc.constantFrom('c1', 'c2', 'c3'),
    physicalNetwork: fc.constantFrom('p1', 'p1', 'p1', 'p1', 'p1', 'p2', 'p3'),
    cpuMillis: fc.integer({ min: 0, max: 4 }).map((n) => n * 250),
    memoryBytes: fc.integer({ min: 0, max: 4 }).map((n) => n * 256),
    constraints: fc.oneof({ arbitrary: fc.constant([]), weight: 3 }, { arbitrary: fc.array(constraintArb, { minLength: 1, maxLength: 2 }), weight: 1 }),
    group: fc.option(fc.constantFrom(...groupNames), { nil: undefined, freq: 3 }),
    spreadByRack: fc.boolean(),
  })
  .map(({ group, spreadByRack, ...rest }) => ({
    tenant: 't',
    network: 'n',
    ...rest,
    ...(group === undefined ? {} : { antiAffinityGroup: group, ...(spreadByRack ? { spreadLabel: 'rack' } : {}) }),
  }));

const policyArb: fc.Arbitrary<PlacementPolicy> = fc.record({
  scoring: fc.constantFrom('binpack' as const, 'spread' as const),
  maxHeartbeatAgeMs: fc.option(fc.integer({ min: 50, max: 200 }), { nil: undefined, freq: 2 }),
});

interface Case {
  hosts: Host[];
  groups: GroupMembers;
  requests: PlacementRequest[];
  policy: PlacementPolicy;
  now: number;
}

const caseArb: fc.Arbitrary<Case> = fleetArb.chain((hosts) =>
  fc.record({
    hosts: fc.constant(hosts),
    groups: groupsArb(hosts),
    requests: fc.array(requestArb, { minLength: 1, maxLength: 8 }),
    policy: policyArb,
    now: fc.integer({ min: 0, max: 150 }),
  }),
);

const runs = { numRuns: 500 };

function hostIds(plan: readonly Placement[]): string[] {
  return plan.map((p) => p.hostId);
}

describe('place() properties', () => {
  it('never overcommits a host: usage plus the plan stays within capacity', () => {
    fc.assert(
      fc.property(caseArb, ({ hosts, groups, requests, policy, now }) => {
        const result = place(buildPlacementSnapshot(hosts, groups), requests, now, policy);
        if (!result.ok) return;
        for (const host of hosts) {
          const mine = result.plan.filter((p) => p.hostId === host.id);
          const cpu = mine.reduce((sum, p) => sum + p.request.cpuMillis, host.usage.cpuMillis);
          const memory = mine.reduce((sum, p) => sum + p.request.memoryBytes, host.usage.memoryBytes);
          expect(cpu).toBeLessThanOrEqual(host.capacity.cpuMillis);
          expect(memory).toBeLessThanOrEqual(host.capacity.memoryBytes);
          expect(host.usage.slots + mine.length).toBeLessThanOrEqual(host.capacity.slots);
          if (mine.length > 0) expect(host.state).toBe('READY');
        }
      }),
      runs,
    );
  });

  it('never puts two members of an anti-affinity group on one host', () => {
    fc.assert(
      fc.property(caseArb, ({ hosts, groups, requests, policy, now }) => {
        const result = place(buildPlacementSnapshot(hosts, groups), requests, now, policy);
        if (!result.ok) return;
        const seen = new Set(Object.entries(groups).flatMap(([g, ids]) => ids.map((id) => `${g}/${id}`)));
        for (const { request, hostId } of result.plan) {
          if (request.antiAffinityGroup === undefined) continue;
          const key = `${request.antiAffinityGroup}/${hostId}`;
          expect(seen.has(key)).toBe(false);
          seen.add(key);
        }
      }),
      runs,
    );
  });

  it('only places where every filter passes, and fails only when no host passes them all', () => {
    fc.assert(
      fc.property(caseArb, ({ hosts, groups, requests, policy, now }) => {
        const snapshot = buildPlacementSnapshot(hosts, groups);
        const result = place(snapshot, requests, now, policy);
        if (result.ok) {
          expect(checkPlan(snapshot, result.plan, now, policy)).toEqual({ ok: true });
          return;
        }
        const { requestIndex, rejected } = result.reason;
        const before = place(snapshot, requests.slice(0, requestIndex), now, policy);
        if (!before.ok) throw new Error('a prefix of a batch must fit when the batch failed later');
        for (const host of hosts) {
          const attempt = [...before.plan, { request: requests[requestIndex]!, hostId: host.id }];
          expect(checkPlan(snapshot, attempt, now, policy).ok).toBe(false);
        }
        expect(Object.values(rejected).reduce((a, b) => a + b, 0)).toBe(hosts.length);
      }),
      runs,
    );
  });

  it('is deterministic and independent of the order hosts are given in', () => {
    fc.assert(
      fc.property(
        caseArb.chain((c) => fc.tuple(fc.constant(c), fc.shuffledSubarray(c.hosts, { minLength: c.hosts.length, maxLength: c.hosts.length }))),
        ([{ hosts, groups, requests, policy, now }, shuffled]) => {
          const first = place(buildPlacementSnapshot(hosts, groups), requests, now, policy);
          const again = place(buildPlacementSnapshot(hosts, groups), requests, now, policy);
          const reordered = place(buildPlacementSnapshot(shuffled, groups), requests, now, policy);
          expect(again).toEqual(first);
          expect(reordered).toEqual(first);
        },
      ),
      runs,
    );
  });

  it('places a batch exactly as it would place the requests one by one with applyPlan in between', () => {
    fc.assert(
      fc.property(caseArb, ({ hosts, groups, requests, policy, now }) => {
        let snapshot: PlacementSnapshot = buildPlacementSnapshot(hosts, groups);
        const batch = place(snapshot, requests, now, policy);
        const sequential: Placement[] = [];
        let failedAt = -1;
        for (let i = 0; i < requests.length; i++) {
          const one = place(snapshot, requests[i]!, now, policy);
          if (!one.ok) {
            failedAt = i;
            break;
          }
          sequential.push(...one.plan);
          snapshot = applyPlan(snapshot, one.plan);
        }
        if (batch.ok) {
          expect(failedAt).toBe(-1);
          expect(hostIds(batch.plan)).toEqual(hostIds(sequential));
        } else {
          expect(batch.reason.requestIndex).toBe(failedAt);
        }
      }),
      runs,
    );
  });

  it('places a batch of like requests (runs of one shape) exactly as one by one with applyPlan in between', () => {
    // Like requests take their hosts from one ranking instead of a scan each; mixed with others.
    const likeBatchArb = fc.tuple(caseArb, fc.array(fc.tuple(fc.nat(7), fc.integer({ min: 1, max: 12 })), { minLength: 1, maxLength: 3 }));
    fc.assert(
      fc.property(likeBatchArb, ([{ hosts, groups, requests, policy, now }, runsOf]) => {
        const batch = runsOf.flatMap(([which, count]) => {
          const { antiAffinityGroup: _group, spreadLabel: _spread, ...shape } = requests[which % requests.length]!;
          return Array.from({ length: count }, (_, i) => ({ ...shape, name: `${shape.name}-${which}-${i}` }));
        });
        let snapshot: PlacementSnapshot = buildPlacementSnapshot(hosts, groups);
        const result = place(snapshot, batch, now, policy);
        const sequential: Placement[] = [];
        let failedAt = -1;
        for (let i = 0; i < batch.length; i++) {
          const one = place(snapshot, batch[i]!, now, policy);
          if (!one.ok) {
            failedAt = i;
            if (!result.ok) expect(result.reason.rejected).toEqual(one.reason.rejected);
            break;
          }
          sequential.push(...one.plan);
          snapshot = applyPlan(snapshot, one.plan);
        }
        if (result.ok) {
          expect(failedAt).toBe(-1);
          expect(hostIds(result.plan)).toEqual(hostIds(sequential));
        } else {
          expect(result.reason.requestIndex).toBe(failedAt);
        }
      }),
      runs,
    );
  });

  it('places a sequence of requests exactly as place and applyPlan in turn do, leaving the snapshot given and those it gave alone', () => {
    fc.assert(
      fc.property(caseArb, fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 4 }), ({ hosts, groups, requests, policy, now }, sizes) => {
        // The requests cut into jobs of 1-3 (a job is a single request or an all-or-nothing batch).
        const jobs: PlacementRequest[][] = [];
        for (let i = 0, j = 0; i < requests.length; j++) {
          jobs.push(requests.slice(i, i + sizes[j % sizes.length]!));
          i += sizes[j % sizes.length]!;
        }
        const base = buildPlacementSnapshot(hosts, groups);
        const before = structuredClone(base);
        const sequence = new PlacementSequence(base);
        let snapshot = base;
        // A snapshot the sequence gave shares its columns until the next place: that must copy them.
        const given: [PlacementSnapshot, PlacementSnapshot][] = [];
        for (const job of jobs) {
          const expected = place(snapshot, job.length === 1 ? job[0]! : job, now, policy);
          expect(sequence.place(job.length === 1 ? job[0]! : job, now, policy)).toEqual(expected);
          if (expected.ok) snapshot = applyPlan(snapshot, expected.plan);
          const after = sequence.snapshot();
          expect(after).toEqual(snapshot);
          given.push([after, structuredClone(after)]);
        }
        for (const [after, copy] of given) expect(after).toEqual(copy);
        expect(base).toEqual(before);
      }),
      runs,
    );
  });

  it('places a sequence of like requests, single and batched, exactly as place and applyPlan in turn do', () => {
    // Like requests in a sequence share one ranking across jobs; other shapes and failures break it.
    const jobsArb = fc.tuple(caseArb, fc.array(fc.tuple(fc.nat(7), fc.integer({ min: 1, max: 3 }), fc.boolean()), { minLength: 1, maxLength: 12 }));
    fc.assert(
      fc.property(jobsArb, ([{ hosts, groups, requests, policy, now }, picks]) => {
        const jobs = picks.map(([which, count, dropGroup], j) => {
          const { antiAffinityGroup, spreadLabel, ...shape } = requests[which % requests.length]!;
          const like = dropGroup ? shape : { ...shape, ...(antiAffinityGroup === undefined ? {} : { antiAffinityGroup }), ...(spreadLabel === undefined ? {} : { spreadLabel }) };
          return Array.from({ length: count }, (_, i) => ({ ...like, name: `${like.name}-${j}-${i}` }));
        });
        const sequence = new PlacementSequence(buildPlacementSnapshot(hosts, groups));
        let snapshot = buildPlacementSnapshot(hosts, groups);
        for (const job of jobs) {
          const expected = place(snapshot, job.length === 1 ? job[0]! : job, now, policy);
          expect(sequence.place(job.length === 1 ? job[0]! : job, now, policy)).toEqual(expected);
          if (expected.ok) snapshot = applyPlan(snapshot, expected.plan);
        }
        expect(sequence.snapshot()).toEqual(snapshot);
      }),
      runs,
    );
  });

  it('spreads a group over racks: the chosen rack holds the fewest members among hosts that fit', () => {
    fc.assert(
      fc.property(caseArb, ({ hosts, groups, requests, policy, now }) => {
        const request = { ...requests[0]!, antiAffinityGroup: 'g1', spreadLabel: 'rack' };
        const snapshot = buildPlacementSnapshot(hosts, groups);
        const result = place(snapshot, request, now, policy);
        if (!result.ok) return;
        const rackOf = (id: string) => hosts.find((h) => h.id === id)!.labels['rack'];
        const membersIn = (rack: string | undefined) => (groups['g1'] ?? []).filter((id) => rackOf(id) === rack).length;
        const chosen = membersIn(rackOf(result.plan[0]!.hostId));
        for (const host of hosts) {
          if (checkPlan(snapshot, [{ request, hostId: host.id }], now, policy).ok) expect(chosen).toBeLessThanOrEqual(membersIn(host.labels['rack']));
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('chooses what a brute-force ranking of the feasible hosts chooses', () => {
    fc.assert(
      fc.property(caseArb, fc.boolean(), ({ hosts, groups, requests, policy, now }, spreadOverRacks) => {
        const request = spreadOverRacks ? { ...requests[0]!, antiAffinityGroup: 'g1', spreadLabel: 'rack' } : requests[0]!;
        const snapshot = buildPlacementSnapshot(hosts, groups);
        const members = request.antiAffinityGroup === undefined ? [] : (groups[request.antiAffinityGroup] ?? []);
        const spreadOf = (host: Host) =>
          request.spreadLabel === undefined || members.length === 0
            ? 0
            : members.filter((id) => hosts.find((h) => h.id === id)!.labels[request.spreadLabel!] === host.labels[request.spreadLabel!]).length;
        const utilisation = (host: Host) =>
          (host.capacity.cpuMillis > 0 ? (host.usage.cpuMillis + request.cpuMillis) / host.capacity.cpuMillis : 1) +
          (host.capacity.memoryBytes > 0 ? (host.usage.memoryBytes + request.memoryBytes) / host.capacity.memoryBytes : 1);
        const ranked = hosts
          .filter((host) => checkPlan(snapshot, [{ request, hostId: host.id }], now, policy).ok)
          .map((host) => ({ id: host.id, spread: spreadOf(host), score: policy.scoring === 'binpack' ? -utilisation(host) : utilisation(host) }))
          .sort((a, b) => a.spread - b.spread || a.score - b.score || (a.id < b.id ? -1 : 1));
        const result = place(snapshot, request, now, policy);
        expect(result.ok ? result.plan[0]!.hostId : undefined).toBe(ranked[0]?.id);
      }),
      { numRuns: 1000 },
    );
  });
});
