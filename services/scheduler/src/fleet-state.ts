import type { Kysely } from 'kysely';
import { buildPlacementSnapshot, type Host, type PlacementSnapshot, type SnapshotHost } from '@fjord/core';
import { groupMembers, listHosts, type Database, type HostRecord } from '@fjord/store';

/** A stored host in the placement engine's terms. */
export function toCoreHost(h: HostRecord): Host {
  return {
    id: h.name,
    name: h.name,
    labels: h.labels,
    capacity: h.capacity,
    usage: h.usage,
    physicalNetworks: h.physicalNetworks,
    state: h.state,
    epoch: h.epoch,
    lastHeartbeatAt: h.lastHeartbeatAt?.getTime() ?? 0,
  };
}

/**
 * The leader's in-memory view of the fleet for placement. Loaded from Postgres when a replica
 * becomes leader; afterwards only the leader's applier changes it, right after each commit, so
 * it always equals what the database holds (the applier is the only writer).
 */
export class FleetState {
  private constructor(public snapshot: PlacementSnapshot) {}

  /** Loads hosts, their usage and anti-affinity membership. */
  static async load(db: Kysely<Database>): Promise<FleetState> {
    const [hosts, members] = await Promise.all([listHosts(db), groupMembers(db)]);
    return new FleetState(buildPlacementSnapshot(hosts.map(toCoreHost), members));
  }

  /** The host with this name, if known. */
  host(name: string): SnapshotHost | undefined {
    const position = this.snapshot.positionById.get(name);
    return position === undefined ? undefined : this.snapshot.hosts[position];
  }
}
