import { Kysely } from 'kysely';
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

/**
 * kysely-postgres-js runs every query through postgres.js `unsafe()`, which does not prepare
 * statements, so Postgres would plan the allocator's multi-CTE statements (~1.5 ms) on every call.
 * This wrapper asks for named prepared statements instead (cached per connection by query text).
 * Parameterless queries still use the simple protocol, so multi-statement migrations keep working.
 */
function preparing(client: postgres.Sql) {
  return {
    end: () => client.end(),
    async reserve() {
      const reserved = await client.reserve();
      return {
        release: () => reserved.release(),
        unsafe: (query: string, parameters?: unknown[], options?: postgres.UnsafeQueryOptions) =>
          reserved.unsafe(query, parameters as postgres.ParameterOrJSON<never>[], { prepare: true, ...options }),
      };
    },
  };
}
