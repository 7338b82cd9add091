import { type Kysely, type Migration, sql } from 'kysely';

/**
 * Hosts, placed containers, the leader lease, the event log and the outbox. The database enforces
 * what must never happen: a container on two hosts (one row, one host), an address held by two
 * containers (unique + foreign key into the allocator's addresses), two members of an
 * anti-affinity group on one host (unique index).
 */
export const migration0002Placement: Migration = {
  async up(db: Kysely<unknown>): Promise<void> {
    await sql`
      CREATE TABLE hosts (
        name text PRIMARY KEY,
        labels jsonb NOT NULL DEFAULT '{}',
        physical_networks text[] NOT NULL DEFAULT '{}',
        cpu_millis integer NOT NULL CHECK (cpu_millis >= 0),
        memory_bytes bigint NOT NULL CHECK (memory_bytes >= 0),
        slots integer NOT NULL CHECK (slots >= 0),
        state text NOT NULL CHECK (state IN ('READY', 'CORDONED', 'DRAINING', 'PATCHING', 'DOWN')),
        epoch bigint NOT NULL DEFAULT 1,
        desired_generation bigint NOT NULL DEFAULT 0,
        applied_generation bigint NOT NULL DEFAULT 0,
        last_heartbeat_at timestamptz,
        registered_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now()
      );

      CREATE TABLE containers (
        id uuid PRIMARY KEY,
        tenant text NOT NULL,
        name text NOT NULL,
        network_id uuid NOT NULL REFERENCES networks (id),
        address_host integer NOT NULL,
        address text NOT NULL,
        host text NOT NULL REFERENCES hosts (name),
        template text NOT NULL,
        cpu_millis integer NOT NULL CHECK (cpu_millis >= 0),
        memory_bytes bigint NOT NULL CHECK (memory_bytes >= 0),
        constraints text[] NOT NULL DEFAULT '{}',
        anti_affinity_group text,
        spread_label text,
        command text NOT NULL DEFAULT '',
        runtime_name text NOT NULL,
        state text NOT NULL DEFAULT 'PENDING' CHECK (state IN ('PENDING', 'RUNNING', 'STOPPED', 'FAILED')),
        observed text NOT NULL DEFAULT '',
        created_at timestamptz NOT NULL DEFAULT now(),
        updated_at timestamptz NOT NULL DEFAULT now(),
        CONSTRAINT containers_tenant_name_key UNIQUE (tenant, name),
        CONSTRAINT containers_address_key UNIQUE (network_id, address_host),
        CONSTRAINT containers_runtime_name_key UNIQUE (runtime_name),
        FOREIGN KEY (network_id, address_host) REFERENCES addresses (network_id, host)
      );
      CREATE INDEX containers_host_idx ON containers (host);
      CREATE UNIQUE INDEX containers_group_host_key ON containers (tenant, anti_affinity_group, host)
        WHERE anti_affinity_group IS NOT NULL;

      -- Who leads, and the fencing token: every write of the leader checks holder and epoch.
      CREATE TABLE leader_lease (
        name text PRIMARY KEY,
        holder text NOT NULL,
        epoch bigint NOT NULL,
        expires_at timestamptz NOT NULL
      );

      -- Append-only record of every decision and observation, streamed to watchers.
      CREATE TABLE events (
        sequence bigserial PRIMARY KEY,
        kind text NOT NULL,
        tenant text,
        subject text NOT NULL,
        host text,
        message text NOT NULL DEFAULT '',
        at timestamptz NOT NULL DEFAULT now()
      );

      -- Written in the same transaction as a decision; the relay publishes and deletes it.
      -- kind 'desired': publish host's desired state; kind 'event': publish event row event_sequence.
      CREATE TABLE outbox (
        id bigserial PRIMARY KEY,
        kind text NOT NULL CHECK (kind IN ('desired', 'event')),
        host text,
        event_sequence bigint,
        created_at timestamptz NOT NULL DEFAULT now()
      );
    `.execute(db);
  },
  async down(db: Kysely<unknown>): Promise<void> {
    await sql`DROP TABLE outbox, events, leader_lease, containers, hosts;`.execute(db);
  },
};
