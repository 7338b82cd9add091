import type { ColumnType, Generated } from 'kysely';

type Timestamp = ColumnType<Date, Date | string | undefined, Date | string>;
/** bigint columns: postgres.js reads int8 as string; written as number, bigint or string. */
type Int8 = ColumnType<string, number | bigint | string | undefined, number | bigint | string>;

/** A registered hypervisor. */
export interface HostsTable {
  name: string;
  labels: ColumnType<Record<string, string>, string, string>;
  physical_networks: ColumnType<string[], string[], string[]>;
  cpu_millis: number;
  memory_bytes: Int8;
  slots: number;
  state: string;
  epoch: Int8;
  desired_generation: Int8;
  accepts_deltas: Generated<boolean>;
  registered_at: Timestamp;
  updated_at: Timestamp;
}

/** What a host's worker last said (migration 0004): kept apart from the host row it would lock. */
export interface HostLivenessTable {
  name: string;
  last_heartbeat_at: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  applied_generation: Int8;
  stale: Generated<boolean>;
}

/** A placed container. */
export interface ContainersTable {
  id: string;
  tenant: string;
  name: string;
  network_id: string;
  address_host: number;
  address: string;
  host: string;
  template: string;
  cpu_millis: number;
  memory_bytes: Int8;
  constraints: ColumnType<string[], string[] | undefined, string[]>;
  anti_affinity_group: string | null;
  spread_label: string | null;
  command: Generated<string>;
  runtime_name: string;
  /** The host's desired generation the container arrived with (migration 0007). */
  generation: Generated<Int8>;
  state: Generated<string>;
  observed: Generated<string>;
  created_at: Timestamp;
  updated_at: Timestamp;
}

/** The scheduler's leader lease (one row). */
export interface LeaderLeaseTable {
  name: string;
  holder: string;
  epoch: Int8;
  expires_at: Timestamp;
}

/** One event of the append-only log. */
export interface EventsTable {
  sequence: ColumnType<string, never, never>;
  kind: string;
  tenant: string | null;
  subject: string;
  host: string | null;
  message: Generated<string>;
  at: Timestamp;
}

/** A change the relay has yet to publish. */
/** One committed change for the relay (migration 0003): hosts to publish, events to publish. */
export interface OutboxTable {
  id: ColumnType<string, never, never>;
  hosts: ColumnType<string[], string[] | undefined, never>;
  event_sequences: ColumnType<string[], string[] | undefined, never>;
  created_at: Timestamp;
}

/** A container removed from a host, until the relay has published the generation that removed it (migration 0007). */
export interface RemovedContainersTable {
  host: string;
  generation: Int8;
  runtime_name: string;
}

/** The tables of migrations 0002–0007. */
export interface PlacementTables {
  hosts: HostsTable;
  containers: ContainersTable;
  leader_lease: LeaderLeaseTable;
  events: EventsTable;
  outbox: OutboxTable;
  host_liveness: HostLivenessTable;
  removed_containers: RemovedContainersTable;
}
