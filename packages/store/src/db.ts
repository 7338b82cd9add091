import { Kysely, sql } from 'kysely';
import { PostgresJSDialect } from 'kysely-postgres-js';
import postgres from 'postgres';
import type { Database } from './schema.js';

/** Options for {@link createDb}. */
export interface CreateDbOptions {
  /** Maximum connections in the pool (default 10). */
  max?: number;
  /** `application_name` reported to Postgres (default `fjord`). */
  applicationName?: string;
}

/** An open database: the typed query builder and a way to close its pool. */
export interface Db {
  /** The kysely instance over a postgres.js pool. */
  db: Kysely<Database>;
  /** Closes every pooled connection; the instance is unusable afterwards. */
  close(): Promise<void>;
}

/** Opens a pooled connection to `url` (a `postgres://` URL). Connections are made lazily. */
export function createDb(url: string, options: CreateDbOptions = {}): Db {
  const client = postgres(url, {
    max: options.max ?? 10,
    onnotice: () => {},
    // No JIT: it compiles a statement whose estimate passes jit_above_cost on every execution (a sync
    // read of 500 hosts' containers spent 33 ms compiling to run for 30), and Fjord's statements are
    // short ones that an interpreter runs in milliseconds.
    connection: { application_name: options.applicationName ?? 'fjord', jit: 'off' },
  });
  const db = new Kysely<Database>({ dialect: new PostgresJSDialect({ postgres: () => preparing(client) }) });
  return { db, close: () => db.destroy() };
}

const PLAN_PER_CALL = '/* plan per call */';

/**
 * Put first in a statement that must be planned on every call. After five calls a prepared
 * statement may switch to a generic plan, costed with the table sizes of that moment, and keep it
 * until the table's next analyze. The relay's read of events by sequence, planned while the table
 * was nearly empty, kept scanning the whole table as it grew: 34 ms a call with 75,000 events, in
 * the benchmark's first minute (autovacuum's first analyze comes later). Planning such a simple
 * statement, and the extra round trip an unprepared statement with parameters costs (postgres.js
 * describes it first), cost far less than that; keep it for lookups by a list of keys in tables
 * that grow.
 */
export const planPerCall = sql.raw(`${PLAN_PER_CALL} `);

/**
 * kysely-postgres-js runs every query through postgres.js `unsafe()`, which does not prepare
 * statements, so Postgres would plan the allocator's multi-CTE statements (~1.5 ms) on every call.
 * This wrapper asks for named prepared statements instead (cached per connection by query text).
 * Parameterless queries still use the simple protocol, so multi-statement migrations keep working.
 * A statement starting with {@link planPerCall} goes unnamed, which Postgres plans with each
 * call's parameters.
 */
function preparing(client: postgres.Sql) {
  return {
    end: () => client.end(),
    async reserve() {
      const reserved = await client.reserve();
      return {
        release: () => reserved.release(),
        unsafe: (query: string, parameters?: unknown[], options?: postgres.UnsafeQueryOptions) =>
          reserved.unsafe(query, parameters as postgres.ParameterOrJSON<never>[], { prepare: !query.startsWith(PLAN_PER_CALL), ...options }),
      };
    },
  };
}
