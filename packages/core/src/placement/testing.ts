/**
 * Builders with valid defaults and an in-memory harness that records plans (STYLE.md item 19),
 * for tests and benchmarks of the placement engine. Pure like the rest of the core.
 */
import type { Host, HostState, LabelConstraint, PlacementRequest } from '../domain.js';
import { place, type PlacementPolicy, type PlaceResult } from './place.js';
import { applyPlan, buildPlacementSnapshot, type GroupMembers, type Placement, type PlacementSnapshot } from './snapshot.js';

const GiB = 2 ** 30;

/** Options of {@link mockHost}: any host field, plus shorthands in cores and GiB. */
export interface MockHostOptions extends Partial<Omit<Host, 'capacity' | 'usage'>> {
  /** Capacity in cores (default 8). */
  readonly cpu?: number;
  /** Capacity in GiB (default 32). */
  readonly memoryGi?: number;
  /** Container slots (default 100). */
  readonly slots?: number;
  /** Cores already used (default 0). */
  readonly usedCpu?: number;
  /** GiB already used (default 0). */
  readonly usedMemoryGi?: number;
  /** Slots already used (default 0). */
  readonly usedSlots?: number;
}

/** Builds a `READY` host on `physnet1` with 8 cores, 32 GiB and 100 slots, nothing used: `mockHost({cpu: 4})`. */
export function mockHost(options: MockHostOptions = {}): Host {
  const { cpu = 8, memoryGi = 32, slots = 100, usedCpu = 0, usedMemoryGi = 0, usedSlots = 0, ...fields } = options;
  const id = fields.id ?? 'host-1';
  return {
    id,
    name: fields.name ?? id,
    labels: fields.labels ?? {},
    capacity: { cpuMillis: Math.round(cpu * 1000), memoryBytes: Math.round(memoryGi * GiB), slots },
    usage: { cpuMillis: Math.round(usedCpu * 1000), memoryBytes: Math.round(usedMemoryGi * GiB), slots: usedSlots },
    physicalNetworks: fields.physicalNetworks ?? ['physnet1'],
    state: fields.state ?? ('READY' satisfies HostState),
    epoch: fields.epoch ?? 1,
    lastHeartbeatAt: fields.lastHeartbeatAt ?? 0,
  };
}

/** Builds `count` hosts `host-0001`, `host-0002`… with `options(i)` applied to each (i from 0). */
export function mockHosts(count: number, options: (i: number) => MockHostOptions = () => ({})): Host[] {
  const width = Math.max(4, String(count).length);
  return Array.from({ length: count }, (_, i) => {
    const id = `host-${String(i + 1).padStart(width, '0')}`;
    return mockHost({ id, ...options(i) });
  });
}

/** Builds a request for 500m cpu and 256 MiB on `physnet1` with no constraints: `mockPlacementRequest({name: 'db'})`. */
export function mockPlacementRequest(fields: Partial<PlacementRequest> = {}): PlacementRequest {
  return {
    name: 'c1',
    tenant: 'tenant-a',
    network: 'net-a',
    physicalNetwork: 'physnet1',
    cpuMillis: 500,
    memoryBytes: 256 * 2 ** 20,
    constraints: [] as LabelConstraint[],
    ...fields,
  };
}

/**
 * An in-memory scheduler loop for tests: places against its snapshot, applies every successful
 * plan, and records each plan in order.
 */
export class PlacementHarness {
  /** Every plan committed so far, oldest first. */
  readonly plans: (readonly Placement[])[] = [];
  /** Every result returned, failures included. */
  readonly results: PlaceResult[] = [];
  snapshot: PlacementSnapshot;

  constructor(
    hosts: readonly Host[],
    readonly policy: PlacementPolicy = { scoring: 'binpack' },
    groupMembers: GroupMembers = {},
    /** The `now` passed to every decision. */
    public now = 0,
  ) {
    this.snapshot = buildPlacementSnapshot(hosts, groupMembers);
  }

  /** Places the request(s) and, when they fit, commits the plan to the harness's snapshot. */
  place(requests: PlacementRequest | readonly PlacementRequest[]): PlaceResult {
    const result = place(this.snapshot, requests, this.now, this.policy);
    this.results.push(result);
    if (result.ok) {
      this.snapshot = applyPlan(this.snapshot, result.plan);
      this.plans.push(result.plan);
    }
    return result;
  }

  /** Every placement committed so far, in order. */
  placements(): Placement[] {
    return this.plans.flat();
  }
}
