import type { Kysely } from 'kysely';
import { buildPlacementSnapshot, updateHosts, type Host, type PlacementSnapshot, type SnapshotHost } from '@fjord/core';
import { groupMembers, listHosts, type Database, type HostRecord, type StaleMark } from '@fjord/store';

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
    /** Hosts counted as heard from when the fleet was read (a new leader's grace), not heard from since. */
    private readonly unheard: Set<string>,
  ) {}

  /**
   * Loads hosts, their usage and anti-affinity membership. A host the last leader recorded as
   * stale stays stale until heard from; every other counts as heard from now: a new leader has not
   * had the time to hear anyone, and the stored times are up to 15 s old.
   */
  static async load(db: Kysely<Database>, staleAfterMs: number): Promise<FleetState> {
    const unheard = new Set<string>();
    return new FleetState(await read(db, undefined, unheard), staleAfterMs, unheard);
  }

  /** Reads the fleet again (after a commit whose outcome is unknown), keeping when each host was heard from. */
  async reload(db: Kysely<Database>): Promise<void> {
    this.snapshot = await read(db, this.snapshot, this.unheard);
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
    if (position === undefined) return;
    if (this.snapshot.lastHeartbeatAt[position]! < at) this.snapshot.lastHeartbeatAt[position] = at;
    if (this.unheard.size > 0) this.unheard.delete(name);
  }

  /** When a known host was last heard from; null when it has only been counted as heard (at load). */
  lastHeard(name: string): number | null | undefined {
    const position = this.snapshot.positionById.get(name);
    if (position === undefined) return undefined;
    return this.unheard.has(name) ? null : this.snapshot.lastHeartbeatAt[position]!;
  }

  /** A known host's stale mark at `now`, with when it was last heard from. */
  staleMark(name: string, now: number): StaleMark | undefined {
    const position = this.snapshot.positionById.get(name);
    if (position === undefined) return undefined;
    const at = this.snapshot.lastHeartbeatAt[position]!;
    return { name, heardAt: this.unheard.has(name) ? null : at, stale: this.tooLongAgo(at, now) };
  }

  /** The hosts not heard from for `staleAfterMs` at `now`: the ones placement skips. */
  staleHosts(now: number): Set<string> {
    const { hosts, lastHeartbeatAt } = this.snapshot;
    const stale = new Set<string>();
    for (let i = 0; i < hosts.length; i++) if (this.tooLongAgo(lastHeartbeatAt[i]!, now)) stale.add(hosts[i]!.name);
    return stale;
  }

  /** The rule placement applies too (its `maxHeartbeatAgeMs` is `staleAfterMs`). */
  private tooLongAgo(heardAt: number, now: number): boolean {
    return heardAt < now - this.staleAfterMs;
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

/**
 * Reads the fleet. A host keeps its heard time from `previous` if it is there; else it has the
 * stored one if it is recorded stale; else now, and it joins `unheard`.
 */
async function read(db: Kysely<Database>, previous: PlacementSnapshot | undefined, unheard: Set<string>): Promise<PlacementSnapshot> {
  const [hosts, members] = await Promise.all([listHosts(db), groupMembers(db)]);
  const now = Date.now();
  const heardAt = (h: HostRecord): number => {
    const position = previous?.positionById.get(h.name);
    if (position !== undefined) return previous!.lastHeartbeatAt[position]!;
    if (h.stale) return h.lastHeartbeatAt?.getTime() ?? 0;
    unheard.add(h.name);
    return now;
  };
  return buildPlacementSnapshot(
    hosts.map((h) => ({ ...toCoreHost(h), lastHeartbeatAt: heardAt(h) })),
    members,
  );
}
