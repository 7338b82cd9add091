import type { Kysely } from 'kysely';
import { buildPlacementSnapshot, updateHosts, type Host, type PlacementSnapshot, type SnapshotHost } from '@fjord/core';
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
 *
 * The exception is when each host was last heard from: that lives only here (Postgres gets it
 * every 15 s, for display), and placement skips a host not heard from in `staleAfterMs`.
 */
export class FleetState {
  private constructor(
    public snapshot: PlacementSnapshot,
    /** A host not heard from for this long is skipped by placement. */
    readonly staleAfterMs: number,
  ) {}

  /**
   * Loads hosts, their usage and anti-affinity membership. Every host counts as heard from now: a
   * new leader has not had the time to hear anyone, and the stored times are up to 15 s old.
   */
  static async load(db: Kysely<Database>, staleAfterMs: number): Promise<FleetState> {
    const now = Date.now();
    return new FleetState(await read(db, () => now), staleAfterMs);
  }

  /** Reads the fleet again (after a commit whose outcome is unknown), keeping when each host was heard from. */
  async reload(db: Kysely<Database>): Promise<void> {
    const previous = this.snapshot;
    const now = Date.now();
    this.snapshot = await read(db, (name) => {
      const position = previous.positionById.get(name);
      return position === undefined ? now : previous.lastHeartbeatAt[position]!;
    });
  }

  /** The host with this name, if known. */
  host(name: string): SnapshotHost | undefined {
    const position = this.snapshot.positionById.get(name);
    return position === undefined ? undefined : this.snapshot.hosts[position];
  }

  /**
   * Notes that a host was heard from (a heartbeat, a report, a registration). Written in place,
   * unlike every other change: the time only moves forward, and a decision in flight that sees
   * the newer one decides as rightly.
   */
  heard(name: string, at: number): void {
    const position = this.snapshot.positionById.get(name);
    if (position !== undefined && this.snapshot.lastHeartbeatAt[position]! < at) this.snapshot.lastHeartbeatAt[position] = at;
  }

  /**
   * Takes hosts as a commit left them. A host it knows keeps when it was last heard from here (the
   * stored time is older, and from the database's clock); a new one is heard from by its registration.
   */
  update(hosts: readonly Host[]): void {
    const { positionById, lastHeartbeatAt } = this.snapshot;
    const known = hosts.map((h) => {
      const position = positionById.get(h.id);
      return position === undefined ? h : { ...h, lastHeartbeatAt: lastHeartbeatAt[position]! };
    });
    this.snapshot = updateHosts(this.snapshot, known);
  }
}

async function read(db: Kysely<Database>, heardAt: (name: string) => number): Promise<PlacementSnapshot> {
  const [hosts, members] = await Promise.all([listHosts(db), groupMembers(db)]);
  return buildPlacementSnapshot(
    hosts.map((h) => ({ ...toCoreHost(h), lastHeartbeatAt: heardAt(h.name) })),
    members,
  );
}
