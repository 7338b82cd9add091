/**
 * The placement snapshot: an immutable, column-indexed view of the fleet that {@link place} reads
 * in one pass without allocating per host. The scheduler builds it once from the store, keeps it
 * in memory, and derives the next snapshot from the previous one with {@link applyPlan},
 * {@link releasePlacements} and {@link updateHosts} — each returns a new snapshot and leaves the
 * old one untouched, so a decision in flight always sees one consistent fleet. The one exception
 * is `lastHeartbeatAt`, which the scheduler moves forward in place as hosts are heard from.
 */
import type { Host, PlacementRequest, Resources } from '../domain.js';

/** One label key indexed over all hosts: each host's value interned to a small integer. */
export interface LabelColumn {
  /** Per host position: the id of the host's value (index into `values`), or -1 when absent. */
  readonly valueIds: Int32Array;
  /** Every distinct value of the label, indexed by id. */
  readonly values: readonly string[];
  /** Value → id. */
  readonly idByValue: ReadonlyMap<string, number>;
}

/**
 * The fleet as the placement engine sees it. Hosts are sorted by id; a host's position in
 * `hosts` is its index in every column. Treat every field as read-only.
 */
export interface PlacementSnapshot {
  /** The hosts without their usage: that lives in the free columns, which every plan changes ({@link usageAt}). */
  readonly hosts: readonly SnapshotHost[];
  /** Host id → position. */
  readonly positionById: ReadonlyMap<string, number>;
  /** 1 where the host is `READY`. */
  readonly ready: Uint8Array;
  readonly capacityCpuMillis: Float64Array;
  readonly capacityMemoryBytes: Float64Array;
  readonly freeCpuMillis: Float64Array;
  readonly freeMemoryBytes: Float64Array;
  readonly freeSlots: Float64Array;
  /**
   * When each host was last heard from, milliseconds since the Unix epoch: the only place a
   * snapshot holds it. Shared by the snapshots derived from one another, and moved forward in
   * place by the scheduler (see its FleetState).
   */
  readonly lastHeartbeatAt: Float64Array;
  /** Physical network name → 1 per host position attached to it. */
  readonly attached: ReadonlyMap<string, Uint8Array>;
  /** Label key → column. */
  readonly labels: ReadonlyMap<string, LabelColumn>;
  /** Anti-affinity group → host id → number of the group's members on that host. */
  readonly groups: ReadonlyMap<string, ReadonlyMap<string, number>>;
}

/**
 * A host as a snapshot holds it. Its usage is left out: a plan changes only the free columns, so
 * that deriving a snapshot costs no copy of the host list. So is its last heartbeat, which lives
 * only in its column (moved forward in place, it would go stale in a copy here).
 */
export type SnapshotHost = Omit<Host, 'usage' | 'lastHeartbeatAt'>;

/** One decision of a plan: the request and the host chosen for it. */
export interface Placement {
  readonly request: PlacementRequest;
  readonly hostId: string;
}

/**
 * Existing anti-affinity membership: group → the id of the host of each member already placed
 * (a host id appears once per member).
 */
export type GroupMembers = Readonly<Record<string, readonly string[]>>;

/** Builds a snapshot from hosts (any order) and the existing anti-affinity group membership. */
export function buildPlacementSnapshot(hosts: readonly Host[], groupMembers: GroupMembers = {}): PlacementSnapshot {
  const groups = new Map<string, Map<string, number>>();
  for (const [group, hostIds] of Object.entries(groupMembers)) {
    const members = new Map<string, number>();
    for (const hostId of hostIds) members.set(hostId, (members.get(hostId) ?? 0) + 1);
    if (members.size > 0) groups.set(group, members);
  }
  return index(hosts, groups);
}

function index(unsorted: readonly Host[], groups: ReadonlyMap<string, ReadonlyMap<string, number>>): PlacementSnapshot {
  const sorted = [...unsorted].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const n = sorted.length;
  const hosts: SnapshotHost[] = [];
  const positionById = new Map<string, number>();
  const ready = new Uint8Array(n);
  const capacityCpuMillis = new Float64Array(n);
  const capacityMemoryBytes = new Float64Array(n);
  const freeCpuMillis = new Float64Array(n);
  const freeMemoryBytes = new Float64Array(n);
  const freeSlots = new Float64Array(n);
  const lastHeartbeatAt = new Float64Array(n);
  const attached = new Map<string, Uint8Array>();
  const labelBuilders = new Map<string, { valueIds: Int32Array; values: string[]; idByValue: Map<string, number> }>();
  for (let i = 0; i < n; i++) {
    const host = sorted[i]!;
    hosts.push(toSnapshotHost(host));
    if (positionById.has(host.id)) throw new Error(`build placement snapshot: duplicate host id ${host.id}`);
    positionById.set(host.id, i);
    writeResources(host, i, { ready, capacityCpuMillis, capacityMemoryBytes, freeCpuMillis, freeMemoryBytes, freeSlots, lastHeartbeatAt });
    for (const network of host.physicalNetworks) {
      let column = attached.get(network);
      if (column === undefined) attached.set(network, (column = new Uint8Array(n)));
      column[i] = 1;
    }
    for (const [key, value] of Object.entries(host.labels)) {
      let column = labelBuilders.get(key);
      if (column === undefined) {
        column = { valueIds: new Int32Array(n).fill(-1), values: [], idByValue: new Map() };
        labelBuilders.set(key, column);
      }
      let id = column.idByValue.get(value);
      if (id === undefined) {
        id = column.values.length;
        column.values.push(value);
        column.idByValue.set(value, id);
      }
      column.valueIds[i] = id;
    }
  }
  return {
    hosts,
    positionById,
    ready,
    capacityCpuMillis,
    capacityMemoryBytes,
    freeCpuMillis,
    freeMemoryBytes,
    freeSlots,
    lastHeartbeatAt,
    attached,
    labels: labelBuilders,
    groups,
  };
}

interface ResourceColumns {
  ready: Uint8Array;
  capacityCpuMillis: Float64Array;
  capacityMemoryBytes: Float64Array;
  freeCpuMillis: Float64Array;
  freeMemoryBytes: Float64Array;
  freeSlots: Float64Array;
  lastHeartbeatAt: Float64Array;
}

function writeResources(host: Host, i: number, c: ResourceColumns): void {
  c.ready[i] = host.state === 'READY' ? 1 : 0;
  c.capacityCpuMillis[i] = host.capacity.cpuMillis;
  c.capacityMemoryBytes[i] = host.capacity.memoryBytes;
  c.freeCpuMillis[i] = host.capacity.cpuMillis - host.usage.cpuMillis;
  c.freeMemoryBytes[i] = host.capacity.memoryBytes - host.usage.memoryBytes;
  c.freeSlots[i] = host.capacity.slots - host.usage.slots;
  c.lastHeartbeatAt[i] = host.lastHeartbeatAt;
}

/**
 * The mutable part of a snapshot that a plan changes: free resources and group membership. The
 * batch in {@link place} and {@link applyPlan} both go through {@link takeFromWorkingSet}, so a
 * batch plan and the same requests placed one by one see exactly the same state.
 * @internal
 */
export interface WorkingSet {
  readonly freeCpuMillis: Float64Array;
  readonly freeMemoryBytes: Float64Array;
  readonly freeSlots: Float64Array;
  readonly groups: Map<string, ReadonlyMap<string, number>>;
  /** Groups already copied in this working set (safe to mutate). */
  readonly ownedGroups: Set<string>;
}

function toSnapshotHost({ usage: _usage, lastHeartbeatAt: _lastHeartbeatAt, ...host }: Host): SnapshotHost {
  return host;
}

/** What the containers on the host at `position` take, from its capacity and free columns. */
export function usageAt(snapshot: PlacementSnapshot, position: number): Resources {
  return {
    cpuMillis: snapshot.capacityCpuMillis[position]! - snapshot.freeCpuMillis[position]!,
    memoryBytes: snapshot.capacityMemoryBytes[position]! - snapshot.freeMemoryBytes[position]!,
    slots: snapshot.hosts[position]!.capacity.slots - snapshot.freeSlots[position]!,
  };
}

/** The whole host at `position`, usage included. */
export function hostAt(snapshot: PlacementSnapshot, position: number): Host {
  return { ...snapshot.hosts[position]!, usage: usageAt(snapshot, position), lastHeartbeatAt: snapshot.lastHeartbeatAt[position]! };
}

/** Copies the parts of a snapshot a plan may change. @internal */
export function workingSetOf(snapshot: PlacementSnapshot): WorkingSet {
  return {
    freeCpuMillis: snapshot.freeCpuMillis.slice(),
    freeMemoryBytes: snapshot.freeMemoryBytes.slice(),
    freeSlots: snapshot.freeSlots.slice(),
    groups: new Map(snapshot.groups),
    ownedGroups: new Set(),
  };
}

/** Takes (`sign` 1) or gives back (`sign` -1) one request's resources and group membership. @internal */
export function takeFromWorkingSet(work: WorkingSet, position: number, hostId: string, request: PlacementRequest, sign: 1 | -1): void {
  work.freeCpuMillis[position] = work.freeCpuMillis[position]! - sign * request.cpuMillis;
  work.freeMemoryBytes[position] = work.freeMemoryBytes[position]! - sign * request.memoryBytes;
  work.freeSlots[position] = work.freeSlots[position]! - sign;
  const group = request.antiAffinityGroup;
  if (group === undefined) return;
  let members = work.groups.get(group) as Map<string, number> | undefined;
  if (!work.ownedGroups.has(group)) {
    members = new Map(members);
    work.groups.set(group, members);
    work.ownedGroups.add(group);
  }
  const count = (members!.get(hostId) ?? 0) + sign;
  if (count > 0) members!.set(hostId, count);
  else members!.delete(hostId);
  if (members!.size === 0) {
    work.groups.delete(group);
    work.ownedGroups.delete(group); // a later take starts the group afresh
  }
}

/** Returns the snapshot after a committed plan: its hosts' free columns shrink and group membership grows. */
export function applyPlan(snapshot: PlacementSnapshot, plan: readonly Placement[]): PlacementSnapshot {
  return change(snapshot, plan, 1, 'apply plan');
}

/** Returns the snapshot after placed containers are gone (deleted or moved): the inverse of {@link applyPlan}. */
export function releasePlacements(snapshot: PlacementSnapshot, placements: readonly Placement[]): PlacementSnapshot {
  return change(snapshot, placements, -1, 'release placements');
}

function change(snapshot: PlacementSnapshot, placements: readonly Placement[], sign: 1 | -1, what: string): PlacementSnapshot {
  if (placements.length === 0) return snapshot;
  const work = workingSetOf(snapshot);
  for (const { request, hostId } of placements) takeFromWorkingSet(work, positionOf(snapshot, hostId, what), hostId, request, sign);
  return withWorkingSet(snapshot, work);
}

/** The snapshot whose free resources and groups are `work`'s (taken, not copied). @internal */
export function withWorkingSet(snapshot: PlacementSnapshot, work: WorkingSet): PlacementSnapshot {
  return {
    ...snapshot,
    freeCpuMillis: work.freeCpuMillis,
    freeMemoryBytes: work.freeMemoryBytes,
    freeSlots: work.freeSlots,
    groups: work.groups,
  };
}

function positionOf(snapshot: PlacementSnapshot, hostId: string, what: string): number {
  const position = snapshot.positionById.get(hostId);
  if (position === undefined) throw new Error(`${what}: host ${hostId} is not in the snapshot`);
  return position;
}

/**
 * Returns the snapshot with some hosts added or replaced (state, usage, heartbeat, labels...).
 * Changes to state, capacity, usage and heartbeat copy a few columns; a new host or a change of
 * labels or physical networks re-indexes the fleet (rare: registration).
 */
export function updateHosts(snapshot: PlacementSnapshot, changed: readonly Host[]): PlacementSnapshot {
  if (changed.length === 0) return snapshot;
  const reindex = changed.some((host) => {
    const position = snapshot.positionById.get(host.id);
    if (position === undefined) return true;
    const old = snapshot.hosts[position]!;
    return !sameLabels(old.labels, host.labels) || !sameList(old.physicalNetworks, host.physicalNetworks);
  });
  if (reindex) {
    const byId = new Map(snapshot.hosts.map((host, i) => [host.id, hostAt(snapshot, i)]));
    for (const host of changed) byId.set(host.id, host);
    return index([...byId.values()], snapshot.groups);
  }
  const hosts = [...snapshot.hosts];
  const columns: ResourceColumns = {
    ready: snapshot.ready.slice(),
    capacityCpuMillis: snapshot.capacityCpuMillis.slice(),
    capacityMemoryBytes: snapshot.capacityMemoryBytes.slice(),
    freeCpuMillis: snapshot.freeCpuMillis.slice(),
    freeMemoryBytes: snapshot.freeMemoryBytes.slice(),
    freeSlots: snapshot.freeSlots.slice(),
    lastHeartbeatAt: snapshot.lastHeartbeatAt.slice(),
  };
  for (const host of changed) {
    const position = snapshot.positionById.get(host.id)!;
    hosts[position] = toSnapshotHost(host);
    writeResources(host, position, columns);
  }
  return { ...snapshot, hosts, ...columns };
}

/** Returns the snapshot without the given hosts (deregistered); group membership on them is kept. */
export function removeHosts(snapshot: PlacementSnapshot, hostIds: readonly string[]): PlacementSnapshot {
  const gone = new Set(hostIds);
  if (!snapshot.hosts.some((host) => gone.has(host.id))) return snapshot;
  return index(
    snapshot.hosts.flatMap((host, i) => (gone.has(host.id) ? [] : [hostAt(snapshot, i)])),
    snapshot.groups,
  );
}

function sameLabels(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  return keys.every((key) => Object.prototype.hasOwnProperty.call(b, key) && a[key] === b[key]);
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((item, i) => item === b[i]);
}

/** The resources one placement request takes on its host. */
export function resourcesOf(request: PlacementRequest): Resources {
  return { cpuMillis: request.cpuMillis, memoryBytes: request.memoryBytes, slots: 1 };
}
