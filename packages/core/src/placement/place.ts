/**
 * The placement engine (STYLE.md item 1): a snapshot, requests and `now` in, a plan or the reason
 * there is none out. Filter → score → choose, in one pass over the hosts per request, with no
 * allocation per host. It never writes: the scheduler commits the plan (re-checked by the
 * applier, see {@link checkPlan}) and then takes the next snapshot from its `PlacementSequence`.
 */
import type { PlacementRequest } from '../domain.js';
import { InvalidArgumentError } from '../errors.js';
import { RankedHosts } from './ranked-hosts.js';
import { takeFromWorkingSet, withWorkingSet, workingSetOf, type Placement, type PlacementSnapshot, type WorkingSet } from './snapshot.js';

/** How feasible hosts are ranked: pack work onto the fullest hosts, or spread it over the emptiest. */
export const ScoringPolicy = {
  Binpack: 'binpack',
  Spread: 'spread',
} as const;
/** One of the values of {@link ScoringPolicy}. */
export type ScoringPolicy = (typeof ScoringPolicy)[keyof typeof ScoringPolicy];

/** Knobs of one placement decision. */
export interface PlacementPolicy {
  readonly scoring: ScoringPolicy;
  /** When set, hosts whose last heartbeat is older than this (relative to `now`) are skipped. */
  readonly maxHeartbeatAgeMs?: number;
}

/**
 * The filters, in the order they run; a rejected host is counted under the first that rejects it.
 */
export const PlacementFilter = {
  State: 'state',
  Heartbeat: 'heartbeat',
  PhysicalNetwork: 'physical-network',
  Constraint: 'constraint',
  Slots: 'slots',
  Cpu: 'cpu',
  Memory: 'memory',
  AntiAffinity: 'anti-affinity',
} as const;
/** One of the values of {@link PlacementFilter}. */
export type PlacementFilter = (typeof PlacementFilter)[keyof typeof PlacementFilter];

const filterOrder: readonly PlacementFilter[] = Object.values(PlacementFilter);
const STATE = 0;
const HEARTBEAT = 1;
const PHYSICAL_NETWORK = 2;
const CONSTRAINT = 3;
const SLOTS = 4;
const CPU = 5;
const MEMORY = 6;
const ANTI_AFFINITY = 7;

const filterWords: Readonly<Record<PlacementFilter, string>> = {
  state: 'not ready',
  heartbeat: 'with a stale heartbeat',
  'physical-network': 'not on the physical network',
  constraint: 'failing a label constraint',
  slots: 'without a free slot',
  cpu: 'short of cpu',
  memory: 'short of memory',
  'anti-affinity': 'already holding a member of the group',
};

/** Why a request cannot be placed. */
export interface PlacementFailure {
  readonly code: 'no-feasible-host';
  /** Index of the request that failed within the batch (0 for a single request). */
  readonly requestIndex: number;
  readonly request: PlacementRequest;
  /** Number of hosts in the snapshot. */
  readonly hostsConsidered: number;
  /** How many hosts each filter rejected; filters that rejected none are left out. */
  readonly rejected: Readonly<Partial<Record<PlacementFilter, number>>>;
  /** A lowercase, human sentence saying what failed and why. */
  readonly message: string;
}

/** The outcome of {@link place}: a plan for every request, or the failure of the first that did not fit. */
export type PlaceResult = { readonly ok: true; readonly plan: readonly Placement[] } | { readonly ok: false; readonly reason: PlacementFailure };

/**
 * Places one request, or a batch all-or-nothing. Requests of a batch are placed in order, each
 * seeing the resources and group members taken by the earlier ones, so a plan never overcommits a
 * host nor puts two members of an anti-affinity group on one host, and equals placing the requests
 * one by one with `applyPlan` in between. Ties go to the host with the lowest id, so the result
 * depends only on the snapshot's content, never on the order hosts were given in.
 *
 * Throws {@link InvalidArgumentError} only for a request the edge should have refused (negative or
 * non-integer resources).
 */
export function place(
  snapshot: PlacementSnapshot,
  requests: PlacementRequest | readonly PlacementRequest[],
  now: number,
  policy: PlacementPolicy,
): PlaceResult {
  const list: readonly PlacementRequest[] = isList(requests) ? requests : [requests];
  // A single request only reads the snapshot's columns; a batch takes from a copy of them.
  const work = list.length > 1 ? workingSetOf(snapshot) : readOnlyView(snapshot);
  return placeOn(snapshot, work, list, now, policy);
}

/**
 * Places requests one after another (each one or a batch, all or nothing) against one snapshot,
 * each seeing what those before it took: what {@link place} and {@link applyPlan} in turn give,
 * with one copy of the fleet's columns for the whole sequence instead of one per request (the
 * scheduler decides a group of hundreds of requests this way). The snapshot given is not changed.
 */
export class PlacementSequence {
  private work: WorkingSet;
  /** Whether {@link after} holds {@link work}'s columns, so that they must be copied before a change. */
  private workShared = false;
  private after: PlacementSnapshot | undefined;
  private readonly carried: Carried = {};

  constructor(private readonly base: PlacementSnapshot) {
    this.work = workingSetOf(base);
  }

  /** Places a request or a batch, as {@link place} would on {@link snapshot}; a plan is kept. */
  place(requests: PlacementRequest | readonly PlacementRequest[], now: number, policy: PlacementPolicy): PlaceResult {
    if (this.workShared) {
      this.work = workingSetOf(this.after!);
      this.workShared = false;
    }
    const result = placeOn(this.base, this.work, isList(requests) ? requests : [requests], now, policy, this.carried);
    if (result.ok) this.after = undefined;
    return result;
  }

  /**
   * The snapshot after every plan placed so far. It takes the sequence's columns rather than a
   * copy (the scheduler asks for one per commit); a later {@link place} copies them first.
   */
  snapshot(): PlacementSnapshot {
    if (!this.after) {
      this.after = withWorkingSet(this.base, this.work);
      this.workShared = true;
    }
    return this.after;
  }
}

/** Hosts ranked for one request shape, policy and time: valid while only the chosen hosts change. */
interface Ranking {
  hosts: RankedHosts;
  request: PlacementRequest;
  now: number;
  policy: PlacementPolicy;
}

/** What a {@link PlacementSequence} carries from one request to the next. */
interface Carried {
  ranking?: Ranking | undefined;
  previous?: PlacementRequest | undefined;
}

function rankingServes(ranking: Ranking | undefined, request: PlacementRequest, now: number, policy: PlacementPolicy): ranking is Ranking {
  return (
    ranking !== undefined &&
    ranking.now === now &&
    ranking.policy.scoring === policy.scoring &&
    ranking.policy.maxHeartbeatAgeMs === policy.maxHeartbeatAgeMs &&
    sameShape(ranking.request, request)
  );
}

/**
 * Places `list` all or nothing, taking from `work` as it goes. In a sequence (`carried` given),
 * a plan's takes stay in `work` and a failed batch's are given back; otherwise `work` may be
 * read-only and the last request takes nothing.
 *
 * Like requests following one another (a batch of like containers, or a sequence of like single
 * requests) take their hosts from one ranking instead of a scan of the fleet each: placing one
 * changes only the chosen host's fit and score, which is re-ranked.
 */
function placeOn(snapshot: PlacementSnapshot, work: WorkingSet, list: readonly PlacementRequest[], now: number, policy: PlacementPolicy, carried?: Carried): PlaceResult {
  list.forEach(validateRequest);
  const keep = carried !== undefined;
  const rejected = new Int32Array(filterOrder.length);
  const plan: Placement[] = [];
  let ranking = carried?.ranking;
  for (let r = 0; r < list.length; r++) {
    const request = list[r]!;
    const previous = r > 0 ? list[r - 1] : carried?.previous;
    const next = list[r + 1];
    rejected.fill(0);
    if (!rankingServes(ranking, request, now, policy)) ranking = undefined;
    if (ranking === undefined && ((next !== undefined && sameShape(request, next)) || (keep && previous !== undefined && sameShape(previous, request)))) {
      ranking = { hosts: rankHosts(snapshot, work, request, now, policy), request, now, policy };
    }
    let position = ranking === undefined ? -1 : ranking.hosts.top();
    // No ranked host left (or no ranking): the scan decides, and counts why none fits.
    if (position < 0) position = choose(snapshot, work, request, now, policy, rejected);
    if (position < 0) {
      if (keep) for (const p of plan) takeFromWorkingSet(work, snapshot.positionById.get(p.hostId)!, p.hostId, p.request, -1);
      if (carried) Object.assign(carried, { ranking: undefined, previous: request }); // giving back moved other hosts
      return { ok: false, reason: failure(snapshot, list, r, rejected) };
    }
    const hostId = snapshot.hosts[position]!.id;
    plan.push({ request, hostId });
    if (keep || next !== undefined) {
      takeFromWorkingSet(work, position, hostId, request, 1);
      if (ranking !== undefined && ranking.hosts.top() !== position) ranking = undefined; // the scan chose: start afresh
      if (ranking !== undefined) {
        const fits = work.freeSlots[position]! >= 1 && work.freeCpuMillis[position]! >= request.cpuMillis && work.freeMemoryBytes[position]! >= request.memoryBytes;
        ranking.hosts.rescoreTop(position, fits ? scoreOf(snapshot, work, position, request, policy.scoring === 'binpack') : undefined);
      }
    }
  }
  if (carried) Object.assign(carried, { ranking, previous: list.at(-1) });
  return { ok: true, plan };
}

function isList(requests: PlacementRequest | readonly PlacementRequest[]): requests is readonly PlacementRequest[] {
  return Array.isArray(requests);
}

function readOnlyView(snapshot: PlacementSnapshot): WorkingSet {
  return {
    freeCpuMillis: snapshot.freeCpuMillis,
    freeMemoryBytes: snapshot.freeMemoryBytes,
    freeSlots: snapshot.freeSlots,
    groups: snapshot.groups as Map<string, ReadonlyMap<string, number>>,
    ownedGroups: new Set(),
  };
}

function validateRequest(request: PlacementRequest, index: number): void {
  const where = `requests[${index}]`;
  if (!Number.isSafeInteger(request.cpuMillis) || request.cpuMillis < 0) {
    throw new InvalidArgumentError(`${where}.cpuMillis`, `must be a non-negative integer, got ${request.cpuMillis}`);
  }
  if (!Number.isSafeInteger(request.memoryBytes) || request.memoryBytes < 0) {
    throw new InvalidArgumentError(`${where}.memoryBytes`, `must be a non-negative integer, got ${request.memoryBytes}`);
  }
}

interface CompiledConstraint {
  readonly valueIds: Int32Array;
  readonly wanted: number;
  readonly equal: boolean;
}

/** Returns the compiled constraints, or undefined when an `=` constraint names a label no host has. */
function compileConstraints(snapshot: PlacementSnapshot, request: PlacementRequest): CompiledConstraint[] | undefined {
  const compiled: CompiledConstraint[] = [];
  for (const constraint of request.constraints) {
    const column = snapshot.labels.get(constraint.label);
    const equal = constraint.op === '=';
    if (column === undefined) {
      if (equal) return undefined;
      continue; // no host has the label, so every host passes `!=`
    }
    // -2 matches no host: `=` then rejects all, `!=` passes all.
    compiled.push({ valueIds: column.valueIds, wanted: column.idByValue.get(constraint.value) ?? -2, equal });
  }
  return compiled;
}

/** Filters and scores every host; returns the chosen position or -1, counting rejections. */
function choose(
  snapshot: PlacementSnapshot,
  work: WorkingSet,
  request: PlacementRequest,
  now: number,
  policy: PlacementPolicy,
  rejected: Int32Array,
  /** Called with every host that passes every filter, and its score. */
  feasible?: (position: number, score: number) => void,
): number {
  const n = snapshot.hosts.length;
  const { ready, lastHeartbeatAt, capacityCpuMillis, capacityMemoryBytes } = snapshot;
  const { freeCpuMillis, freeMemoryBytes, freeSlots } = work;
  const attached = snapshot.attached.get(request.physicalNetwork);
  const constraints = compileConstraints(snapshot, request);
  const constraintCount = constraints?.length ?? 0;
  const checkHeartbeat = policy.maxHeartbeatAgeMs !== undefined;
  const oldestHeartbeat = now - (policy.maxHeartbeatAgeMs ?? 0);
  const binpack = policy.scoring === 'binpack';
  const cpu = request.cpuMillis;
  const memory = request.memoryBytes;

  // Anti-affinity: mark hosts already holding a member, and count members per spread-label value
  // (the last bucket is for hosts without the label).
  let occupied: Uint8Array | undefined;
  let spreadIds: Int32Array | undefined;
  let spreadCounts: Int32Array | undefined;
  let missingBucket = 0;
  const members = request.antiAffinityGroup === undefined ? undefined : work.groups.get(request.antiAffinityGroup);
  if (members !== undefined && members.size > 0) {
    occupied = new Uint8Array(n);
    const column = request.spreadLabel === undefined ? undefined : snapshot.labels.get(request.spreadLabel);
    if (column !== undefined) {
      spreadIds = column.valueIds;
      missingBucket = column.values.length;
      spreadCounts = new Int32Array(missingBucket + 1);
    }
    for (const [hostId, count] of members) {
      const position = snapshot.positionById.get(hostId);
      if (position === undefined || count <= 0) continue;
      occupied[position] = 1;
      if (spreadIds !== undefined) {
        const id = spreadIds[position]!;
        spreadCounts![id < 0 ? missingBucket : id]! += count;
      }
    }
  }

  let best = -1;
  let bestSpread = Infinity;
  let bestScore = -Infinity;
  hosts: for (let i = 0; i < n; i++) {
    if (ready[i] === 0) {
      rejected[STATE]!++;
      continue;
    }
    if (checkHeartbeat && lastHeartbeatAt[i]! < oldestHeartbeat) {
      rejected[HEARTBEAT]!++;
      continue;
    }
    if (attached === undefined || attached[i] === 0) {
      rejected[PHYSICAL_NETWORK]!++;
      continue;
    }
    if (constraints === undefined) {
      rejected[CONSTRAINT]!++;
      continue;
    }
    for (let c = 0; c < constraintCount; c++) {
      const constraint = constraints[c]!;
      if ((constraint.valueIds[i] === constraint.wanted) !== constraint.equal) {
        rejected[CONSTRAINT]!++;
        continue hosts;
      }
    }
    const freeCpu = freeCpuMillis[i]!;
    const freeMemory = freeMemoryBytes[i]!;
    if (freeSlots[i]! < 1) {
      rejected[SLOTS]!++;
      continue;
    }
    if (freeCpu < cpu) {
      rejected[CPU]!++;
      continue;
    }
    if (freeMemory < memory) {
      rejected[MEMORY]!++;
      continue;
    }
    if (occupied !== undefined && occupied[i] === 1) {
      rejected[ANTI_AFFINITY]!++;
      continue;
    }
    let spread = 0;
    if (spreadCounts !== undefined) {
      const id = spreadIds![i]!;
      spread = spreadCounts[id < 0 ? missingBucket : id]!;
    }
    if (spread > bestSpread) continue;
    // Utilisation after placement, cpu plus memory, each in [0, 1] (as in `scoreOf`, kept inline here).
    const capacityCpu = capacityCpuMillis[i]!;
    const capacityMemory = capacityMemoryBytes[i]!;
    const used =
      (capacityCpu > 0 ? (capacityCpu - freeCpu + cpu) / capacityCpu : 1) +
      (capacityMemory > 0 ? (capacityMemory - freeMemory + memory) / capacityMemory : 1);
    const score = binpack ? used : -used;
    if (feasible !== undefined) feasible(i, score);
    if (spread < bestSpread || score > bestScore) {
      best = i;
      bestSpread = spread;
      bestScore = score;
    }
  }
  return best;
}

/**
 * Host `i`'s score for `request`: its utilisation after placement (cpu plus memory, each in
 * [0, 1]), or the negative of that when spreading. The scan in `choose` computes the same inline.
 */
function scoreOf(snapshot: PlacementSnapshot, work: WorkingSet, i: number, request: PlacementRequest, binpack: boolean): number {
  const capacityCpu = snapshot.capacityCpuMillis[i]!;
  const capacityMemory = snapshot.capacityMemoryBytes[i]!;
  const used =
    (capacityCpu > 0 ? (capacityCpu - work.freeCpuMillis[i]! + request.cpuMillis) / capacityCpu : 1) +
    (capacityMemory > 0 ? (capacityMemory - work.freeMemoryBytes[i]! + request.memoryBytes) / capacityMemory : 1);
  return binpack ? used : -used;
}

/**
 * The feasible hosts of `request`, ranked as `choose` ranks them. Only for a request without an
 * anti-affinity group: then placing one changes only the chosen host's fit and score.
 */
function rankHosts(snapshot: PlacementSnapshot, work: WorkingSet, request: PlacementRequest, now: number, policy: PlacementPolicy): RankedHosts {
  const ranked = new RankedHosts(snapshot.hosts.length);
  choose(snapshot, work, request, now, policy, new Int32Array(filterOrder.length), (position, score) => ranked.add(position, score));
  ranked.heapify();
  return ranked;
}

/** True when `b` asks for what `a` asks, without an anti-affinity group, so one ranking serves both. */
function sameShape(a: PlacementRequest, b: PlacementRequest): boolean {
  return (
    a.antiAffinityGroup === undefined &&
    b.antiAffinityGroup === undefined &&
    a.cpuMillis === b.cpuMillis &&
    a.memoryBytes === b.memoryBytes &&
    a.physicalNetwork === b.physicalNetwork &&
    a.constraints.length === b.constraints.length &&
    a.constraints.every((c, i) => c.label === b.constraints[i]!.label && c.op === b.constraints[i]!.op && c.value === b.constraints[i]!.value)
  );
}

function failure(snapshot: PlacementSnapshot, list: readonly PlacementRequest[], index: number, counts: Int32Array): PlacementFailure {
  const request = list[index]!;
  const rejected: Partial<Record<PlacementFilter, number>> = {};
  const parts: string[] = [];
  filterOrder.forEach((filter, f) => {
    const count = counts[f]!;
    if (count === 0) return;
    rejected[filter] = count;
    parts.push(`${count} ${filterWords[filter]}`);
  });
  const n = snapshot.hosts.length;
  const which = list.length > 1 ? `request ${index + 1} of ${list.length} (${request.name})` : request.name;
  const why = n === 0 ? 'the fleet has no hosts' : `${n} host${n === 1 ? '' : 's'}: ${parts.join(', ')}`;
  return {
    code: 'no-feasible-host',
    requestIndex: index,
    request,
    hostsConsidered: n,
    rejected,
    message: `place ${which}: no host fits (${why})`,
  };
}

/** The outcome of {@link checkPlan}: the plan still fits, or the first placement that no longer does and why. */
export type CheckPlanResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly index: number; readonly filter: PlacementFilter | 'unknown-host'; readonly message: string };

/**
 * Re-checks a plan against a (newer) snapshot, as the applier does before committing
 * (STYLE.md item 2): every placement must still pass every filter on its host, counting the
 * plan's own earlier placements. Scores are not re-checked: a plan that fits is accepted.
 */
export function checkPlan(snapshot: PlacementSnapshot, plan: readonly Placement[], now: number, policy: PlacementPolicy): CheckPlanResult {
  const work = plan.length > 1 ? workingSetOf(snapshot) : readOnlyView(snapshot);
  for (let p = 0; p < plan.length; p++) {
    const { request, hostId } = plan[p]!;
    const position = snapshot.positionById.get(hostId);
    if (position === undefined) {
      return { ok: false, index: p, filter: 'unknown-host', message: `check plan: ${request.name} on host ${hostId}: host is not in the fleet` };
    }
    const filter = firstRejection(snapshot, work, position, request, now, policy);
    if (filter !== undefined) {
      return { ok: false, index: p, filter, message: `check plan: ${request.name} on host ${hostId}: host is ${filterWords[filter]}` };
    }
    if (p < plan.length - 1) takeFromWorkingSet(work, position, hostId, request, 1);
  }
  return { ok: true };
}

/** The first filter that rejects one host for one request: the slow, obvious twin of the loop in `choose`. */
function firstRejection(
  snapshot: PlacementSnapshot,
  work: WorkingSet,
  i: number,
  request: PlacementRequest,
  now: number,
  policy: PlacementPolicy,
): PlacementFilter | undefined {
  const host = snapshot.hosts[i]!;
  if (host.state !== 'READY') return 'state';
  if (policy.maxHeartbeatAgeMs !== undefined && snapshot.lastHeartbeatAt[i]! < now - policy.maxHeartbeatAgeMs) return 'heartbeat';
  if (!host.physicalNetworks.includes(request.physicalNetwork)) return 'physical-network';
  for (const constraint of request.constraints) {
    const value = Object.prototype.hasOwnProperty.call(host.labels, constraint.label) ? host.labels[constraint.label] : undefined;
    if ((value === constraint.value) !== (constraint.op === '=')) return 'constraint';
  }
  if (work.freeSlots[i]! < 1) return 'slots';
  if (work.freeCpuMillis[i]! < request.cpuMillis) return 'cpu';
  if (work.freeMemoryBytes[i]! < request.memoryBytes) return 'memory';
  if (request.antiAffinityGroup !== undefined && (work.groups.get(request.antiAffinityGroup)?.get(host.id) ?? 0) > 0) return 'anti-affinity';
  return undefined;
}
